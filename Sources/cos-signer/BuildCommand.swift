import ArgumentParser
import CoSSigner
import CoSSignerTesting
import Foundation

struct BuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Build a 6.23 Update Security Credentials (CoS) request from values, and optionally sign it.",
        discussion: """
            Certificates are read in PEM or DER. The request is checked like any 6.23 before it is written \
            (CommandVariant 1-3, ranges, certificate rules, chain to a path certificate). Given --key and \
            --cert (the XML signing key and certificate), the request is signed in the same step; --key may be a \
            PKCS#11 URI (pkcs11:…, with --pkcs11-module and --pin-env or --pin-file), as for sign.

            Examples:
              cos-signer build --originator 90-B3-D5-1F-30-01-00-00 --target 00-DB-12-34-56-78-90-A0 \\
                --counter 1006 --floor 0 --topup-floor 0 --signing-cert ds.pem --key-agreement-cert ka.pem \\
                --topup-cert ka-topup.pem --path-cert issuing-ca.pem --mpxn 1312345678333 -o request.xml
              cos-signer build ... --key xml-sign.key.pem --cert xml-sign.pem -o signed.xml
              cos-signer build ... --key 'pkcs11:token=cos;object=ts1-xml-sign' --pkcs11-module /usr/lib/softhsm/libsofthsm2.so \\
                --pin-env COS_PIN --cert xml-sign.pem -o signed.xml
            """
    )

    @Option(help: ArgumentHelp("Business Originator: the sending User ID (EUI-64).", valueName: "EUI"))
    var originator: String

    @Option(help: ArgumentHelp("Business Target: the meter's device ID (EUI-64).", valueName: "EUI"))
    var target: String

    @Option(help: ArgumentHelp("Originator counter, 1 to 2^64-1.", valueName: "N"))
    var counter: String

    @Option(help: ArgumentHelp("CommandVariant: 1, 2 or 3.", valueName: "CV"))
    var commandVariant: UInt8 = 1

    @Option(help: ArgumentHelp("SupplierFloorSeqNumber, 0 to 2^63-1.", valueName: "N"))
    var floor: String

    @Option(help: ArgumentHelp("SupplierPrepaymentTopUpFloorSeqNumber, 0 to 2^63-1.", valueName: "N"))
    var topupFloor: String?

    @Option(help: ArgumentHelp("Replacement DigitalSigningCertificate (OU 02, digitalSignature).", valueName: "FILE"))
    var signingCert: String

    @Option(help: ArgumentHelp("Replacement KeyAgreementCertificate (OU 02, keyAgreement).", valueName: "FILE"))
    var keyAgreementCert: String?

    @Option(help: ArgumentHelp("Replacement KeyAgreementTopUpCertificate (OU 02, keyAgreement).", valueName: "FILE"))
    var topupCert: String?

    @Option(help: ArgumentHelp("A CertificationPathCertificates certificate (give 1 to 3 times).", valueName: "FILE"))
    var pathCert: [String] = []

    @Option(help: ArgumentHelp("ApplyTimeBasedCPVChecks: true or false.", valueName: "BOOL"))
    var applyCpvChecks: Bool = true

    @Option(help: ArgumentHelp("ImportMPxN: the import MPAN or MPRN (1 to 13 characters).", valueName: "MPXN"))
    var mpxn: String

    @Option(help: ArgumentHelp("ExecutionDateTime (ISO 8601 with time zone) for a future-dated request.", valueName: "TIME"))
    var executeAt: String?

    @OptionGroup var key: KeyOptions

    @Flag(help: "When signing: sign deterministically (RFC 6979).")
    var deterministic = false

    @Option(name: .shortAndLong, help: ArgumentHelp("Output file ('-' for standard output).", valueName: "OUT"))
    var output: String = "-"

    @OptionGroup var validation: ValidationOptions

    func validate() throws {
        if (key.keyPath == nil) != (key.certificatePath == nil) {
            throw ValidationError("to sign, give both --key and --cert; to only build, give neither")
        }
        if key.keyPath == nil, key.pkcs11Module != nil {
            throw ValidationError("--pkcs11-module goes with --key pkcs11:…")
        }
    }

    func run() throws {
        // An output that cannot be written is refused before anything is done (exit 2).
        try Files.checkOutputTarget(output)
        let request = try makeRequest()
        var options = try validation.makeOptions()
        try request.validate(options)
        guard key.keyPath != nil else {
            try Files.writeAtomically(request.xmlBytes(), to: output)
            return
        }
        options.schema = nil  // already applied above
        let signer = RequestSigner(signer: try key.makeSigner(deterministic: deterministic), options: RequestSigningOptions(
            signing: SigningOptions(deterministic: deterministic), validation: options))
        let signed = try signer.sign(request.xmlBytes(), source: "built request")
        try Files.writeAtomically(signed.document.bytes, to: output)
    }

    /// The request from the options, by the library's one "6.23 from fields" function (the server's
    /// `POST /v1/requests/6.23` calls the same); certificate files are read here, so a file error names the file.
    func makeRequest() throws -> ServiceRequest623 {
        func der(_ path: String) throws -> [UInt8] { try Certificate(contentsOfFile: path).derBytes }
        let fields = ServiceRequest623Fields(
            originator: originator, target: target, counter: counter, commandVariant: Int(commandVariant), floor: floor,
            topupFloor: topupFloor, signingCert: try der(signingCert), keyAgreementCert: try keyAgreementCert.map(der),
            topupCert: try topupCert.map(der), pathCert: try pathCert.map(der), applyCpvChecks: applyCpvChecks,
            mpxn: mpxn, executeAt: executeAt)
        return try ServiceRequest623(fields: fields, naming: .commandLine)
    }
}

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Print a 6.23 request, or the header of a DCC response, acknowledgement or alert, in human form or as JSON.",
        discussion: """
            A request is parsed strictly; a malformed one is refused with exit code 2 and the field at fault. \
            A carried certificate that cannot be decoded is shown as unreadable and the exit code is 2. \
            For a DCC message (sr:Response) the header is printed so that an adapter can match it to the request it \
            sent: kind (response, acknowledgement, deviceAlert, dccAlert), RequestID, ResponseID, ResponseCode, \
            ResponseDateTime, ServiceReference and variant, alert code, schemaVersion and whether it is signed. \
            The signature, if any, is not checked here: use 'cos-signer verify'.

            Examples:
              cos-signer inspect request.xml
              cos-signer inspect --json signed.xml
              cos-signer inspect --json response.xml
            """
    )

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @Option(help: ArgumentHelp("Largest input accepted, in bytes.", valueName: "BYTES"))
    var maxInputBytes: Int = XMLParseLimits.default.maxDocumentBytes

    @Argument(help: ArgumentHelp("The request or DCC message ('-' for standard input).", valueName: "INPUT"))
    var input: String

    func run() throws {
        let bytes = try Files.read(input, maxBytes: maxInputBytes)
        let source = input == "-" ? "standard input" : input
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let document: XMLDocument
        do throws(XMLError) {
            document = try XMLDocument(parsing: bytes, source: source)
        } catch {
            // As ServiceRequest623(parsing:) reports it.
            throw DUISRequestError(field: "", rule: .wellFormedXML, reason: error.message, line: error.line, source: source)
        }
        let root = document.root
        if root.namespaceURI == DUISNamespace.serviceUserGateway, root.localName == "Response" {
            let header = try DUISResponseHeader(document, source: source)
            Terminal.out(json ? String(decoding: try encoder.encode(header), as: UTF8.self) : header.humanReadable)
            return
        }
        let request = try ServiceRequest623(document: document, source: source)
        let summary = RequestSummary(request)
        if json {
            Terminal.out(String(decoding: try encoder.encode(summary), as: UTF8.self))
        } else {
            Terminal.out(summary.humanReadable)
        }
        // The summary is printed (it shows what could be read); a certificate that cannot be decoded still makes
        // the request unusable: exit 2.
        let unreadable = summary.certificates.filter { $0.error != nil }
        for certificate in unreadable {
            Terminal.error("\(source): the \(certificate.element) cannot be decoded: \(certificate.error ?? "")")
        }
        if !unreadable.isEmpty { throw CommandFailure(exitCode: ExitStatus.input) }
    }
}
