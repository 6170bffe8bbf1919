import ArgumentParser
import CoSSigner

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify the XML signature of DUIS documents strictly against the DUIS profile.",
        discussion: """
            The certificate is found among those given (--cert, --cert-dir, or the signing certificates of a \
            parties registry, --parties) by the X509IssuerSerial in KeyInfo (issuer compared as a distinguished \
            name, serial as a number); with --parties, only the registry's certificates are read, never its private \
            keys. One line per input, then 'valid N, invalid N'. The exit code is 0 when \
            every input is valid, else the largest among the failures: 10 for an invalid signature, 2 for an \
            unreadable or malformed input. A run that finds no document (e.g. a directory holding only \
            sub-directories) fails with exit code 2 unless --allow-empty is given: verifying nothing is not a pass.

            Examples:
              cos-signer verify --cert xml-sign.pem signed.xml
              cos-signer verify --cert-dir certs/ --jobs 2 --report report.jsonl signed/
              cos-signer verify --parties parties.toml --signed-content content.xml signed.xml
            """
    )

    @Option(name: .customLong("cert"), help: ArgumentHelp("A certificate that may have signed (repeatable).", valueName: "CERT"))
    var certificatePaths: [String] = []

    @Option(name: .customLong("cert-dir"), help: ArgumentHelp("A directory of certificates (*.pem, *.crt, *.cer, *.der; private keys are skipped).", valueName: "DIR"))
    var certificateDirectory: String?

    @Option(name: .customLong("parties"), help: ArgumentHelp("A parties registry whose signing certificates may have signed (its private keys are not read).", valueName: "FILE"))
    var registryPath: String?

    /// Accepted for scripts written when `verify --parties` loaded the registry's private keys; it has no effect
    /// now that verifying reads none.
    @Flag(name: .customLong("allow-insecure-key-file"), help: ArgumentHelp(visibility: .hidden))
    var allowInsecureKeyFile = false

    @Option(help: ArgumentHelp("Write the verified signed content (the document without its Signature, canonical form) here; one input only.", valueName: "FILE"))
    var signedContent: String?

    @OptionGroup var batch: BatchOptions

    @Argument(help: ArgumentHelp("Documents to verify: files, directories, or '-' for standard input.", valueName: "INPUT"))
    var inputs: [String]

    func validate() throws {
        if certificatePaths.isEmpty && certificateDirectory == nil && registryPath == nil {
            throw ValidationError("give --cert CERT (one or more), --cert-dir DIR or --parties FILE")
        }
        if inputs.isEmpty { throw ValidationError("give at least one INPUT") }
        if signedContent != nil && (inputs.count != 1 || Files.isDirectory(inputs[0])) {
            throw ValidationError("--signed-content needs exactly one INPUT file")
        }
        try SignCommand.refuseSameOutputs([("--signed-content", signedContent), ("--report", batch.report)])
    }

    func run() throws {
        // An output that cannot be written is refused before anything is done (exit 2).
        if let signedContent, signedContent != "-" { try Files.checkOutputTarget(signedContent) }
        var certificates = try certificatePaths.map { try Certificate(contentsOfFile: $0) }
        if let certificateDirectory {
            certificates += try CertificateDirectory.load(certificateDirectory)
        }
        var parties: PartySigningCertificates?
        if let registryPath {
            let loaded = try PartySigningCertificates(contentsOfFile: registryPath)
            certificates += loaded.certificates.certificates
            parties = loaded
        }
        let verifier = DUISVerifier(certificates: certificates, limits: batch.limits)
        let job = BatchVerificationJob(verifier: verifier, parties: parties, maxInputBytes: batch.maxInputBytes, signedContentPath: signedContent)
        var driver = BatchDriver(options: batch, inputs: inputs, logger: batch.makeLogger("cos-signer.verify"),
                                 successWord: "valid", failureWord: "invalid", printResults: true)
        driver.outputFiles = signedContent.map { [("--signed-content", $0)] } ?? []
        let prepared = try driver.prepare()
        let summary = driver.run(prepared, work: job.process)
        try driver.finish(summary, prepared, toStandardOutput: true)
    }
}
