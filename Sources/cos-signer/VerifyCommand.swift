import ArgumentParser
import CoSSigner
import CoSSignerTesting
import Foundation

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify the XML signature of DUIS documents strictly against the DUIS profile.",
        discussion: """
            The certificate is found among those given (--cert, --cert-dir, --dsp-cert, or the signing certificates \
            of a parties registry, --parties) by the X509IssuerSerial in KeyInfo (issuer compared as a distinguished \
            name, serial as a number); with --parties, only the registry's certificates are read, never its private \
            keys. A request (sr:Request) must be signed by its Business Originator's own XML signing certificate \
            (OU 87, its entity identifier the request's Business Originator); every signing certificate must be \
            valid at --at (default now). One line per input, then 'valid N, invalid N'. The exit code is 0 when \
            every input is valid, else the largest among the failures: 10 for an invalid signature, 2 for an \
            unreadable or malformed input (also for a comment or processing instruction inside the document's \
            elements, refused as when signing). A run that finds no document (e.g. a directory holding only \
            sub-directories) fails with exit code 2 unless --allow-empty is given: verifying nothing is not a pass.

            DCC messages (sr:Response: responses, acknowledgements, alerts) are verified like requests, but must be \
            signed with a DSP XML signing certificate (OU 89), given with --dsp-cert or found in --cert-dir. The DCC \
            does not sign acknowledgements: an unsigned one is reported 'unsigned' (exit 10) unless \
            --allow-unsigned-acknowledgements is given.

            --explain says, for each invalid signature, why it most likely failed and how to fix it, most likely \
            first, with stable codes: reformatted-after-signing, whitespace-changed, exclusive-c14n-digest, \
            comments-in-digest, der-signature-value, java-length-signature-value, wrong-certificate, \
            originator-not-signer, certificate-expired, content-changed. Diagnoses run only for invalid documents. \
            --json prints one JSON object per input instead of the lines: {"input": …, "valid": true|false, \
            "reason": null|…, "diagnoses": [{"code": …, "detail": …, "fix": …}]} (diagnoses always present, empty \
            for a valid input), plus "part", "certificateSerial", "party", "requestID", "unsigned" and "warnings" \
            when they apply; the summary line then goes to standard error.

            Examples:
              cos-signer verify --cert xml-sign.pem signed.xml
              cos-signer verify --cert-dir certs/ --jobs 2 --report report.jsonl signed/
              cos-signer verify --parties parties.toml --signed-content content.xml signed.xml
              cos-signer verify --cert xml-sign.pem --explain --dump-pre-digest pre-digest.xml signed.xml
              cos-signer verify --dsp-cert dsp-xml-sign.pem --allow-unsigned-acknowledgements --json responses/
              cos-signer verify --cert xml-sign.pem --at 2026-03-01T12:00:00Z signed.xml
            """
    )

    @Option(name: .customLong("cert"), help: ArgumentHelp("A certificate that may have signed (repeatable).", valueName: "CERT"))
    var certificatePaths: [String] = []

    @Option(name: .customLong("cert-dir"), help: ArgumentHelp("A directory of certificates (*.pem, *.crt, *.cer, *.der; private keys are skipped).", valueName: "DIR"))
    var certificateDirectory: String?

    @Option(name: .customLong("dsp-cert"), help: ArgumentHelp("A DSP XML signing certificate (OU 89) that signs DCC responses and alerts (repeatable).", valueName: "FILE"))
    var dspCertificatePaths: [String] = []

    @Option(name: .customLong("parties"), help: ArgumentHelp("A parties registry whose signing certificates may have signed (its private keys are not read).", valueName: "FILE"))
    var registryPath: String?

    /// Accepted for scripts written when `verify --parties` loaded the registry's private keys; it has no effect
    /// now that verifying reads none.
    @Flag(name: .customLong("allow-insecure-key-file"), help: ArgumentHelp(visibility: .hidden))
    var allowInsecureKeyFile = false

    @Option(help: ArgumentHelp("Write the verified signed content (the document without its Signature, canonical form) here; one input only.", valueName: "FILE"))
    var signedContent: String?

    @Flag(help: "For each invalid signature, say why it most likely failed and how to fix it (diagnosis codes, most likely first).")
    var explain = false

    @Flag(help: "Print one JSON object per input (input, valid, reason, diagnoses, …) instead of text lines.")
    var json = false

    @Option(name: .customLong("dump-pre-digest"), help: ArgumentHelp("Write the exact bytes the Reference digest covers (inclusive C14N of the document without its Signature), valid or not; one input only.", valueName: "FILE"))
    var dumpPreDigest: String?

    @Flag(name: .customLong("accept-java-length-signatures"), help: "Accept a SignatureValue of 65 or 66 bytes (r and s as 33-byte integers with a leading zero, as some Java signers write them), with a warning.")
    var acceptJavaLengthSignatures = false

    @Flag(name: .customLong("allow-unsigned-acknowledgements"), help: "Accept DCC acknowledgements without a signature (the DCC does not sign them) instead of reporting them 'unsigned'.")
    var allowUnsignedAcknowledgements = false

    @Option(help: ArgumentHelp("The time at which the signing certificate must be valid (ISO 8601 date or date-time, or 'now'; default now).", valueName: "TIME"))
    var at: String?

    @OptionGroup var batch: BatchOptions

    @Argument(help: ArgumentHelp("Documents to verify: files, directories, or '-' for standard input.", valueName: "INPUT"))
    var inputs: [String]

    func validate() throws {
        if let at { _ = try parseTime(at, option: "--at") }
        if certificatePaths.isEmpty && certificateDirectory == nil && registryPath == nil && dspCertificatePaths.isEmpty {
            throw ValidationError("give --cert CERT (one or more), --cert-dir DIR, --dsp-cert FILE or --parties FILE")
        }
        if inputs.isEmpty { throw ValidationError("give at least one INPUT") }
        if signedContent != nil && (inputs.count != 1 || Files.isDirectory(inputs[0])) {
            throw ValidationError("--signed-content needs exactly one INPUT file")
        }
        if dumpPreDigest != nil && (inputs.count != 1 || Files.isDirectory(inputs[0])) {
            throw ValidationError("--dump-pre-digest needs exactly one INPUT file")
        }
        try SignCommand.refuseSameOutputs([("--signed-content", signedContent), ("--dump-pre-digest", dumpPreDigest),
                                           ("--report", batch.report)])
    }

    func run() throws {
        // An output that cannot be written is refused before anything is done (exit 2).
        if let signedContent, signedContent != "-" { try Files.checkOutputTarget(signedContent) }
        var certificates = try certificatePaths.map { try Certificate(contentsOfFile: $0) }
        if let certificateDirectory {
            certificates += try CertificateDirectory.load(certificateDirectory)
        }
        for path in dspCertificatePaths {
            let certificate = try Certificate(contentsOfFile: path)
            guard certificate.subjectOrganizationalUnit?.uppercased() == DUISVerifier.dspXMLSigningRole else {
                throw CryptoError(code: .unsupportedCertificate,
                                  reason: "not a DSP XML signing certificate: its subject OU is \(certificate.subjectOrganizationalUnit ?? "absent"), DCC messages are signed with OU \(DUISVerifier.dspXMLSigningRole) certificates (give other certificates with --cert)",
                                  context: path)
            }
            certificates.append(certificate)
        }
        var parties: PartySigningCertificates?
        if let registryPath {
            let loaded = try PartySigningCertificates(contentsOfFile: registryPath)
            certificates += loaded.certificates.certificates
            parties = loaded
        }
        // Two different certificates with one issuer and serial are refused, never matched first-come.
        let checked = try CertificateSet(checking: certificates)
        var verifier = DUISVerifier(certificates: checked.certificates, limits: batch.limits)
        verifier.explainsFailures = explain || json
        verifier.acceptsJavaLengthSignatures = acceptJavaLengthSignatures
        let ledger = VerifyDetailLedger()
        let job = VerifyJob(verifier: RequestVerifier(verifier: verifier), at: try at.map { try parseTime($0, option: "--at") },
                            parties: parties, maxInputBytes: batch.maxInputBytes, signedContentPath: signedContent,
                            preDigestPath: dumpPreDigest, allowUnsignedAcknowledgements: allowUnsignedAcknowledgements, ledger: ledger)
        var driver = BatchDriver(options: batch, inputs: inputs, logger: batch.makeLogger("cos-signer.verify"),
                                 successWord: "valid", failureWord: "invalid", printResults: true)
        let json = self.json, explain = self.explain
        driver.printResult = { result in
            let details = ledger.take(result.input)
            Terminal.out(json ? VerifyOutput.jsonLine(result, details) : VerifyOutput.text(result, details, explain: explain))
        }
        driver.outputFiles = [("--signed-content", signedContent), ("--dump-pre-digest", dumpPreDigest)].compactMap { option, path in
            path.map { (option, $0) }
        }
        let prepared = try driver.prepare()
        let summary = driver.run(prepared, work: job.process)
        try driver.finish(summary, prepared, toStandardOutput: !json)
    }
}

/// What a verify result carries beside its ``BatchItemResult`` line.
struct VerifyDetails: Sendable {
    var diagnoses: [SignatureDiagnosis] = []
    var warnings: [String] = []
    /// An unsigned acknowledgement (reported "unsigned", or accepted with --allow-unsigned-acknowledgements).
    var unsigned = false
}

/// The details of results not yet printed, by input name (a name given twice is taken in order).
final class VerifyDetailLedger: @unchecked Sendable {
    private let lock = NSLock()
    private var pending: [String: [VerifyDetails]] = [:]  // guarded by `lock`

    func put(_ input: String, _ details: VerifyDetails) {
        lock.lock()
        defer { lock.unlock() }
        pending[input, default: []].append(details)
    }

    func take(_ input: String) -> VerifyDetails {
        lock.lock()
        defer { lock.unlock() }
        guard var queue = pending[input], !queue.isEmpty else { return VerifyDetails() }
        let first = queue.removeFirst()
        pending[input] = queue.isEmpty ? nil : queue
        return first
    }
}

/// Verifies one input: read (bounded) → optional pre-digest dump → ``DUISVerifier`` (with diagnoses when asked) →
/// optional signed content; unsigned acknowledgements are accepted only when allowed. Never throws: failures
/// become the result.
struct VerifyJob: Sendable {
    /// The signature, then the signer (a request's Business Originator's own XML signing certificate, valid at `at`).
    let verifier: RequestVerifier
    /// When the signing certificate must be valid (now when nil).
    let at: Date?
    let parties: PartySigningCertificates?
    let maxInputBytes: Int
    let signedContentPath: String?
    let preDigestPath: String?
    let allowUnsignedAcknowledgements: Bool
    let ledger: VerifyDetailLedger
    /// The input bytes all workers may hold at once.
    var memoryBudget = BatchMemoryBudget()

    func process(_ input: BatchInput) -> BatchItemResult {
        var details = VerifyDetails()
        let result = verify(input, &details)
        ledger.put(result.input, details)
        return result
    }

    private func verify(_ input: BatchInput, _ details: inout VerifyDetails) -> BatchItemResult {
        let name = input.displayName
        // The input's size is reserved in the budget before it is read, and given back once it is verified.
        var reserved = 0
        defer { memoryBudget.release(reserved) }
        do {
            let bytes = try Files.read(input.path, maxBytes: maxInputBytes, failureClass: .input) { size in
                reserved = memoryBudget.acquire(size)
                return true
            } ?? []
            if let preDigestPath {
                // Not computable (no Signature, unreadable XML): the verification below reports why.
                if let octets = try? verifier.verifier.preDigestOctets(bytes, source: name) {
                    try Files.writeAtomically(octets, to: preDigestPath)
                }
            }
            let verified = try verifier.verify(bytes, source: name, at: at)
            if let signedContentPath {
                try Files.writeAtomically(verified.signedContent, to: signedContentPath)
            }
            details.warnings = verified.document.warnings
            let certificate = verified.certificate
            return BatchItemResult(input: name, output: signedContentPath,
                                   party: parties?.partyID(issuer: certificate.issuer, serial: certificate.serialNumber),
                                   requestID: (verified.requestID ?? verified.document.requestID)?.description,
                                   certificateSerial: certificate.serialNumber.decimal,
                                   result: .valid)
        } catch let invalid as SignatureInvalid {
            if invalid.part == .unsigned {
                details.unsigned = true
                if allowUnsignedAcknowledgements {
                    return BatchItemResult(input: name, requestID: nil, result: .valid,
                                           reason: "\(invalid.reason); accepted (--allow-unsigned-acknowledgements)")
                }
            }
            details.diagnoses = invalid.diagnoses
            var result = BatchItemResult.failure(name, invalid, outcome: .invalid)
            result.reason = invalid.part == .unsigned
                ? "\(invalid.reason) (accept it with --allow-unsigned-acknowledgements)" : invalid.reason
            result.part = invalid.part.rawValue
            return result
        } catch {
            return .failure(name, error, outcome: .invalid)
        }
    }
}

/// The lines `verify` prints.
enum VerifyOutput {
    /// The text line(s) of one result: as before for valid and invalid inputs, then warnings and (with
    /// --explain) the diagnoses, each with its fix.
    static func text(_ result: BatchItemResult, _ details: VerifyDetails, explain: Bool) -> String {
        var lines: [String] = []
        if result.succeeded {
            if details.unsigned {
                lines.append("\(result.input): unsigned: \(result.reason ?? "")")
            } else {
                lines.append("\(result.input): valid (certificate serial \(result.certificateSerial ?? "-")\(result.party.map { ", party \($0)" } ?? ""))")
            }
        } else if details.unsigned {
            lines.append("\(result.input): unsigned: \(result.reason ?? "")")
        } else if let part = result.part {
            lines.append("\(result.input): invalid (\(part)): \(result.reason ?? "")")
        } else {
            lines.append("\(result.input): error: \(result.reason ?? "unknown")")
        }
        for warning in details.warnings { lines.append("  warning: \(warning)") }
        if explain {
            for diagnosis in details.diagnoses {
                lines.append("  \(diagnosis.code.rawValue): \(diagnosis.detail)")
                lines.append("    fix: \(diagnosis.fix)")
            }
            if !result.succeeded, details.diagnoses.isEmpty,
                let part = result.part, ["keyInfo", "referenceDigest", "signatureValue"].contains(part) {
                lines.append("  (no diagnosis applies beyond the reason above)")
            }
        }
        return lines.joined(separator: "\n")
    }

    /// One JSON object, keys in this order: `input`, `valid`, `reason` (null when valid), `diagnoses` (always an
    /// array of `{"code", "detail", "fix"}`), then those that apply: `part`, `exitCode`, `certificateSerial`,
    /// `party`, `requestID`, `unsigned`, `warnings`.
    static func jsonLine(_ result: BatchItemResult, _ details: VerifyDetails) -> String {
        var fields: [(String, String)] = [
            ("input", JSON.string(result.input)),
            ("valid", result.succeeded ? "true" : "false"),
            ("reason", (result.succeeded && !details.unsigned ? nil : result.reason).map(JSON.string) ?? "null"),
            ("diagnoses", "[" + details.diagnoses.map { diagnosis in
                JSON.object([("code", JSON.string(diagnosis.code.rawValue)), ("detail", JSON.string(diagnosis.detail)),
                             ("fix", JSON.string(diagnosis.fix))])
            }.joined(separator: ",") + "]"),
        ]
        if let part = result.part { fields.append(("part", JSON.string(part))) }
        if !result.succeeded { fields.append(("exitCode", String(result.exitCode))) }
        if let serial = result.certificateSerial { fields.append(("certificateSerial", JSON.string(serial))) }
        if let party = result.party { fields.append(("party", JSON.string(party))) }
        if let requestID = result.requestID { fields.append(("requestID", JSON.string(requestID))) }
        if details.unsigned { fields.append(("unsigned", "true")) }
        if !details.warnings.isEmpty { fields.append(("warnings", "[" + details.warnings.map(JSON.string).joined(separator: ",") + "]")) }
        return JSON.object(fields)
    }
}

/// Minimal JSON writing with a fixed key order (JSONEncoder does not keep one).
enum JSON {
    static func object(_ fields: [(String, String)]) -> String {
        "{" + fields.map { "\(string($0.0)):\($0.1)" }.joined(separator: ",") + "}"
    }

    /// A JSON string literal (RFC 8259 escaping; `/` and non-ASCII left as they are).
    static func string(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
