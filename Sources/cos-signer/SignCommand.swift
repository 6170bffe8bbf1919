import ArgumentParser
import CoSSigner
import CoSSignerTesting

struct SignCommand: ParsableCommand {
    static let configuration: CommandConfiguration = {
        var configuration = CommandConfiguration(
            commandName: "sign",
            abstract: "Sign DUIS requests with an enveloped XML signature (ECDSA P-256, SHA-256).",
            discussion: """
                A document that claims to be a 6.23 (Update Security Credentials (CoS)) is parsed into the typed model \
                and must pass its checks (header, body order and ranges, replacement and certification path \
                certificates); other DUIS requests get only the generic XML checks. With --schema, the DUIS XSD is \
                applied as well.

                The key is given explicitly (--key/--cert) or selected from a parties registry (--parties): by --mpid, \
                else by the request's Business Originator, optionally by the meter's registration (--registration, \
                --at); the request's originator and its replacement certificates must belong to the same Supplier \
                Party, or signing is refused (exit 4).

                The output is compact (no whitespace between elements), as DCC's own tool produces and accepts, \
                unless --keep-whitespace is given. Any ds:Signature placeholder at the end of the request is replaced. \
                Each output is written to a temporary file and renamed, so an output file is always complete; nothing \
                is written for an input that fails, and a failing input never stops the others. An output replaces \
                only a regular file (a device, FIFO or symbolic link at -o is refused, exit 2); two inputs with the \
                same file name in one --output-dir run are an error for the second; an output path that is also an \
                input is refused. A run that finds no document fails (exit 2) unless --allow-empty is given.

                A key in a PKCS#11 token (an HSM, SoftHSM2) is given by its RFC 7512 URI: --key pkcs11:token=…;object=…, \
                with --pkcs11-module and the token's user PIN from --pin-env or --pin-file (never on the command line, \
                never in the URI). The key never leaves the token: each signature is made inside it (CKM_ECDSA), from \
                a pool of sessions so that --jobs N signs in parallel. The token's public key must be the \
                certificate's. --deterministic is refused for such a key (exit 3): RFC 6979 needs the private scalar.

                A parties registry may hold token keys too: a credential's signing_key = "pkcs11:…" with the \
                registry's top-level pkcs11_module and the credential's pin_env or pin_file. --pkcs11-module, when \
                given with --parties, wins over the registry's pkcs11_module. With --deterministic, a registry that \
                has any token key is refused when it is loaded (exit 3, each token credential named), before \
                anything is signed.

                Examples:
                  cos-signer sign --key xml-sign.key.pem --cert xml-sign.pem -o signed.xml request.xml
                  PASS=secret cos-signer sign --key enc.key.pem --passphrase-env PASS --cert xml-sign.pem - < request.xml
                  cos-signer sign --key 'pkcs11:token=cos;object=ts1-xml-sign;type=private' \\
                    --pkcs11-module /usr/lib/softhsm/libsofthsm2.so --pin-file token.pin --cert xml-sign.pem \\
                    -o signed.xml request.xml
                  cos-signer sign --parties parties.toml --mpid TS1E --counter store --counter-store counters.txt \\
                    --output-dir signed/ --report report.jsonl requests/
                  SOFTHSM2_CONF=pki/softhsm/softhsm2.conf cos-signer sign --parties pki/parties-pkcs11.toml \\
                    --jobs 2 --output-dir signed/ requests/
                """
        )
        // `sign` is also parsed on its own (CosSigner.parseSignDirectly, the one-document fast path). Naming its
        // parent here tells swift-argument-parser that, parsed alone, it is not a root command of its own, so it
        // skips its check for a completion-script request (parsing the arguments twice more, about an eighth of a
        // one-document run); such requests fail the direct parse and are answered from the root as before. Only a
        // root command reads this field, so help, usage and completion scripts are unchanged.
        configuration._superCommandName = CosSigner.configuration.commandName
        return configuration
    }()

    @OptionGroup var key: KeyOptions
    @OptionGroup var parties: PartySelectionOptions
    @OptionGroup var counters: CounterOptions
    @OptionGroup var batch: BatchOptions
    @OptionGroup var validation: ValidationOptions

    @Flag(help: "Keep the input's whitespace between elements instead of writing the compact form.")
    var keepWhitespace = false

    @Flag(help: "Sign deterministically (RFC 6979): the same input and key always give the same bytes.")
    var deterministic = false

    @Option(name: .shortAndLong, help: ArgumentHelp("Output file for a single input ('-' for standard output, the default).", valueName: "OUT"))
    var output: String?

    @Option(help: ArgumentHelp("Directory for the signed documents (same file names as the inputs).", valueName: "DIR"))
    var outputDir: String?

    @Argument(help: ArgumentHelp("Requests to sign: files, directories, or '-' for standard input.", valueName: "INPUT"))
    var inputs: [String]

    func validate() throws {
        if inputs.isEmpty { throw ValidationError("give at least one INPUT") }
        if output != nil && outputDir != nil { throw ValidationError("give -o FILE or --output-dir DIR, not both") }
        let single = inputs.count == 1 && (inputs[0] == "-" || !Files.isDirectory(inputs[0]))
        if outputDir == nil && !single { throw ValidationError("several inputs (or a directory) need --output-dir DIR") }
        if let outputDir {
            guard Files.isDirectory(outputDir) else { throw ValidationError("--output-dir \(outputDir) is not a directory") }
        }
        // Inputs that are outputs (an input directory or file in --output-dir, -o or --report naming an input) are
        // refused with the inputs' check (BatchInputs), before anything is written.
        try Self.refuseSameOutputs([("-o", output), ("--report", batch.report)])
        if parties.registry != nil && (key.keyPath != nil || key.certificatePath != nil) {
            throw ValidationError("give --key/--cert or --parties, not both")
        }
        if parties.registry == nil && key.keyPath == nil && key.pkcs11Module != nil {
            throw ValidationError("--pkcs11-module goes with --key pkcs11:… or --parties")
        }
        if parties.registry == nil && (key.keyPath == nil || key.certificatePath == nil) {
            throw ValidationError("give --key KEY --cert CERT, or --parties FILE")
        }
        if parties.registry == nil && (parties.mpid != nil || parties.registration != nil) {
            throw ValidationError("--mpid and --registration need --parties")
        }
        if keepWhitespace && counters.counter != .preserve {
            throw ValidationError("--keep-whitespace keeps the input as it is, so it cannot be combined with --counter \(counters.counter.rawValue)")
        }
    }

    /// Refuses two output options (`-o`, `--report`, `--signed-content`) that name the same file (compared by
    /// device and inode when it exists).
    static func refuseSameOutputs(_ outputs: [(option: String, path: String?)]) throws {
        let named = outputs.compactMap { output in output.path.map { (output.option, $0) } }.filter { $0.1 != "-" }
        for (index, (option, path)) in named.enumerated() {
            for (otherOption, other) in named[(index + 1)...] where Files.sameFile(path, other) {
                throw ValidationError("\(option) and \(otherOption) name the same file (\(path)); give two different paths")
            }
        }
    }

    func run() throws {
        // An output that cannot be written is refused before anything is done (exit 2).
        if let output, output != "-" { try Files.checkOutputTarget(output) }
        let logger = batch.makeLogger("cos-signer.sign")
        let keys: SigningKeySource
        if let registryPath = parties.registry {
            keys = try parties.makeKeySource(registryPath, keyFilePolicy: key.keyFilePolicy, pkcs11Module: key.pkcs11Module,
                                             deterministic: deterministic)
        } else {
            keys = .fixed(try key.makeSigner(deterministic: deterministic))
        }
        let options = RequestSigningOptions(
            signing: SigningOptions(keepWhitespace: keepWhitespace, deterministic: deterministic, limits: batch.limits),
            validation: try validation.makeOptions())
        let single = inputs.count == 1 && outputDir == nil
        let signer = RequestSigner(keys: keys, options: options, counters: try counters.makeAssigner(batch: !single))
        let destination: BatchDestination = outputDir.map { .directory($0) } ?? (output.map { $0 == "-" ? .standardOutput : .file($0) } ?? .standardOutput)
        var driver = BatchDriver(options: batch, inputs: inputs, logger: logger, successWord: "signed", failureWord: "failed", printResults: false)
        driver.outputDirectory = outputDir
        driver.outputFiles = output.map { [("-o", $0)] } ?? []
        // The inputs checked and the report created before the output directory is touched.
        let prepared = try driver.prepare()
        let job = try BatchSigningJob(signer: signer, destination: destination, maxInputBytes: batch.maxInputBytes)
        let summary = driver.run(prepared, groupSize: BatchSigningJob.groupSize, work: job.process)
        // Outputs in a directory are flushed to disk before the run can end successfully.
        let flushFailure = job.finish()
        // A single document written to standard output needs no summary line.
        if single {
            var exitCode = summary.exitCode
            if let reportFailure = prepared.report?.close() {  // reported by the writer
                exitCode = max(exitCode, ExitStatus.of(reportFailure))
            }
            if let flushFailure {
                Terminal.error(flushFailure.description)
                exitCode = max(exitCode, ExitStatus.of(flushFailure))
            }
            if exitCode != 0 { throw CommandFailure(exitCode: exitCode) }
        } else {
            try driver.finish(summary, prepared, toStandardOutput: false, failure: flushFailure)
        }
    }
}
