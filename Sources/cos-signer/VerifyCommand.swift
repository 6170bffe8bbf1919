import ArgumentParser
import CoSSigner

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify the XML signature of DUIS documents strictly against the DUIS profile.",
        discussion: """
            The certificate is found among those given by the X509IssuerSerial in KeyInfo (issuer compared \
            as a distinguished name, serial as a number). One line per input; the exit code is 0 when every \
            input is valid, 10 when a signature is invalid, 2 when an input is unreadable or malformed.

            Examples:
              cos-signer verify --cert xml-sign.pem signed.xml
              cos-signer verify --cert-dir certs/ a.xml b.xml
            """
    )

    @Option(name: .customLong("cert"), help: ArgumentHelp("A certificate that may have signed (repeatable).", valueName: "CERT"))
    var certificatePaths: [String] = []

    @Option(name: .customLong("cert-dir"), help: ArgumentHelp("A directory of certificates (*.pem, *.crt, *.cer, *.der; private keys are skipped).", valueName: "DIR"))
    var certificateDirectory: String?

    @Option(help: ArgumentHelp("Write the verified signed content (the document without its Signature, canonical form) here; one input only.", valueName: "FILE"))
    var signedContent: String?

    @Option(help: ArgumentHelp("Largest input accepted, in bytes.", valueName: "BYTES"))
    var maxInputBytes: Int = XMLParseLimits.default.maxDocumentBytes

    @Argument(help: ArgumentHelp("Documents to verify ('-' for standard input).", valueName: "INPUT"))
    var inputs: [String]

    func validate() throws {
        if certificatePaths.isEmpty && certificateDirectory == nil {
            throw ValidationError("give --cert CERT (one or more) or --cert-dir DIR")
        }
        if inputs.isEmpty { throw ValidationError("give at least one INPUT") }
        if signedContent != nil && inputs.count != 1 {
            throw ValidationError("--signed-content needs exactly one INPUT")
        }
    }

    func run() throws {
        var certificates = try certificatePaths.map { try Certificate(contentsOfFile: $0) }
        if let certificateDirectory {
            certificates += try CertificateDirectory.load(certificateDirectory)
        }
        var limits = XMLParseLimits.default
        limits.maxDocumentBytes = maxInputBytes
        let verifier = DUISVerifier(certificates: certificates, limits: limits)
        var worst: Int32 = 0
        var valid = 0
        for input in inputs {
            let name = input == "-" ? "standard input" : input
            do {
                let bytes = try Files.read(input, maxBytes: maxInputBytes)
                let verified = try verifier.verify(bytes, source: name)
                if let signedContent {
                    try Files.writeAtomically(verified.signedContent, to: signedContent)
                }
                valid += 1
                Terminal.out("\(name): valid (certificate serial \(verified.certificate.serialNumber.decimal), issuer \(verified.certificate.issuer.rfc2253))")
            } catch let invalid as SignatureInvalid {
                Terminal.out("\(name): invalid (\(invalid.part.rawValue)): \(invalid.reason)")
                worst = max(worst, invalid.failureClass.exitCode)
            } catch let error as ClassifiedError {
                Terminal.out("\(name): error: \(error.description)")
                worst = max(worst, error.failureClass.exitCode)
            }
        }
        if inputs.count > 1 {
            Terminal.out("valid \(valid), invalid \(inputs.count - valid)")
        }
        if worst != 0 { throw CommandFailure(exitCode: worst) }
    }
}
