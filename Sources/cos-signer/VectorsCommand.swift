import ArgumentParser
import CoSSigner

/// `cos-signer vectors ...`: known-answer tests of the ECDSA P-256 code.
struct VectorsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vectors",
        abstract: "Run cryptographic known-answer test vectors.",
        subcommands: [Verify.self]
    )

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Check ECDSA P-256 against Wycheproof and RFC 6979 vector files.",
            discussion: """
                Each FILE is recognised by its content: a Wycheproof ECDSA verification file \
                (schema ecdsa_verify_schema_v1 with DER signatures, or ecdsa_p1363_verify_schema_v1 \
                with r||s signatures), or the project's RFC 6979 file (verification plus exact \
                reproduction of the deterministic signatures). Groups for curves or hashes other \
                than P-256 with SHA-256 count as failures, not skips.

                Prints one line per failing case, then "N passed, N failed".
                Exit status: 0 when every case passed; 10 when any case failed; \
                2 when a file could not be read or was not recognised.

                Example:
                  cos-signer vectors verify \\
                    ../shared/vectors/wycheproof/ecdsa_secp256r1_sha256_p1363_test.json \\
                    ../shared/vectors/wycheproof/ecdsa_secp256r1_sha256_test.json \\
                    ../shared/vectors/rfc6979-p256.json
                """
        )

        @Argument(help: ArgumentHelp("Vector files (JSON).", valueName: "file"))
        var files: [String]

        func validate() throws {
            if files.isEmpty { throw ValidationError("Give at least one vector file.") }
        }

        func run() throws {
            var total = VectorRunReport()
            var unreadable = false
            for file in files {
                do {
                    total.merge(try CryptoVectors.run(file: file))
                } catch {
                    unreadable = true
                    Terminal.error("\(error)")
                }
            }
            for line in total.failures { Terminal.out(line) }
            Terminal.out("\(total.passed) passed, \(total.failed) failed")
            if unreadable { throw CommandFailure(exitCode: FailureClass.input.exitCode) }
            if total.failed > 0 { throw CommandFailure(exitCode: FailureClass.signatureInvalid.exitCode) }
        }
    }
}
