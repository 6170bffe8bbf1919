import ArgumentParser
import CoSSigner
import CoSSignerTesting

/// `cos-signer vectors ...`: known-answer tests of the crypto core, and the DUIS 6.23 conformance kit.
struct VectorsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vectors",
        abstract: "Run test vectors: Wycheproof / RFC 6979 files and the 6.23 conformance kit (TestVectors/).",
        discussion: """
            Examples:
              cos-signer vectors verify TestVectors/
              cos-signer vectors verify ../shared/vectors/rfc6979-p256.json
              cos-signer vectors make TestVectors/
              cos-signer vectors check TestVectors/ \\
                --signed-by 'Scripts/xmlsec1-adapter sign {key} {cert} {in} {out} {mode}' \\
                --verified-by 'Scripts/xmlsec1-adapter verify {cert} {in}'
            """,
        subcommands: [Verify.self, Make.self, Check.self]
    )

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Run the conformance kit, or Wycheproof / RFC 6979 vector files, against this implementation.",
            discussion: """
                Each PATH is a conformance kit directory (one holding manifest.json, e.g. TestVectors/) or a \
                vector file recognised by its content: a Wycheproof ECDSA verification file (schema \
                ecdsa_verify_schema_v1 with DER signatures, or ecdsa_p1363_verify_schema_v1 with r||s signatures), or \
                the project's RFC 6979 file (verification plus exact reproduction of the deterministic signatures). \
                Groups for curves or hashes other than P-256 with SHA-256 count as failures, not skips.

                A kit is run case by case: signing (exact bytes, DigestValue, SignatureValue), verification (valid, or \
                invalid with the reason class), key selection (party or refusal) and request validation (field and rule).

                Prints one line per failing case, then "N passed, N failed".
                Exit status: 0 when every case passed; 10 when any case failed; \
                2 when a file or kit could not be read or was not recognised.

                Examples:
                  cos-signer vectors verify TestVectors/
                  cos-signer vectors verify \\
                    ../shared/vectors/wycheproof/ecdsa_secp256r1_sha256_p1363_test.json \\
                    ../shared/vectors/wycheproof/ecdsa_secp256r1_sha256_test.json \\
                    ../shared/vectors/rfc6979-p256.json
                """
        )

        @Argument(help: ArgumentHelp("Kit directories or vector files (JSON).", valueName: "path"))
        var files: [String]

        func validate() throws {
            if files.isEmpty { throw ValidationError("Give at least one kit directory or vector file.") }
        }

        func run() throws {
            var total = VectorRunReport()
            var unreadable = false
            for file in files {
                do {
                    if Files.isDirectory(file) {
                        total.merge(try ConformanceKit.run(directory: file).vectorReport)
                    } else {
                        total.merge(try CryptoVectors.run(file: file))
                    }
                } catch {
                    unreadable = true
                    Terminal.error("\(error)")
                }
            }
            for line in total.failures { Terminal.out(line) }
            Terminal.out("\(total.passed) passed, \(total.failed) failed")
            if unreadable { throw CommandFailure(exitCode: ExitStatus.input) }
            if total.failed > 0 { throw CommandFailure(exitCode: ExitStatus.signatureInvalid) }
        }
    }

    struct Make: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "make",
            abstract: "Write the 6.23 conformance kit (manifest, schema, README, test PKI, inputs, expected outputs).",
            discussion: """
                The kit is generated from its description in code, with a seeded test PKI, RFC 6979 signatures and \
                fixed times: running this twice gives byte-identical files, and running it over an up-to-date kit \
                changes nothing (files whose bytes are already right are not rewritten). DIR is created if missing; \
                files of other names in it are left alone. The keys are public test keys: NOT FOR PRODUCTION. The \
                explain and responses cases are built from the DCC Boxed templates and test keys in \
                SHARED/vectors/dccboxed (--shared, default $COSSIGNER_SHARED or ../shared); only their certificates \
                and the derived documents go into the kit.

                Examples:
                  cos-signer vectors make TestVectors/
                  cos-signer vectors make /tmp/kit && diff -r /tmp/kit TestVectors/
                """
        )

        @Argument(help: ArgumentHelp("Output directory.", valueName: "DIR"))
        var directory: String

        @Option(help: ArgumentHelp("The folder holding vectors/dccboxed/ (DCC Boxed templates and test keys; default $COSSIGNER_SHARED or ../shared).", valueName: "SHARED"))
        var shared: String?

        func run() throws {
            let report = try ConformanceKit.make(directory: directory, shared: shared ?? ConformanceKit.defaultSharedDirectory)
            Terminal.out("\(directory): \(report.caseCount) cases, \(report.written.count + report.unchanged.count) files (\(report.written.count) written, \(report.unchanged.count) unchanged)")
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check",
            abstract: "Run another implementation's signer and verifier over the conformance kit, per case.",
            discussion: """
                TEMPLATE is a command line run with /bin/sh -c. Placeholders are replaced by single-quoted absolute \
                paths: {in} (request to sign / document to verify), {out} (file the signer writes), {key} (PKCS#8 PEM \
                private key), {cert} (certificate), {mode} (compact or keep-whitespace), {at} (verification time, \
                RFC 3339; cases with a time are skipped when the verifier template lacks {at}).

                Signing cases: the signer's output must verify under the DUIS profile with the case's certificate \
                and carry the expected DigestValue; with --deterministic-signer it must also equal the expected bytes. \
                Verification cases: the verifier must exit 0 for valid documents and non-zero for invalid ones. \
                Key selection and request validation cases are adapter API checks and are skipped.

                Prints "pass ID", "FAIL ID: why" or "skip ID: why" per case, then the number skipped, then \
                "N passed, N failed". Exit status: 0 when nothing failed, 10 when a case failed, 2 when the kit \
                cannot be read, 1 for usage errors.

                Examples:
                  cos-signer vectors check TestVectors/ \\
                    --signed-by 'Scripts/xmlsec1-adapter sign {key} {cert} {in} {out} {mode}' \\
                    --verified-by 'Scripts/xmlsec1-adapter verify {cert} {in}'
                  cos-signer vectors check TestVectors/ --deterministic-signer \\
                    --signed-by 'my-signer --key {key} --cert {cert} --{mode} {in} > {out}'
                """
        )

        @Argument(help: ArgumentHelp("The kit directory.", valueName: "DIR"))
        var directory: String

        @Option(name: .customLong("signed-by"), help: ArgumentHelp("Signer command template.", valueName: "TEMPLATE"))
        var signedBy: String?

        @Option(name: .customLong("verified-by"), help: ArgumentHelp("Verifier command template (exit 0 = valid).", valueName: "TEMPLATE"))
        var verifiedBy: String?

        @Flag(help: "The signer is deterministic (RFC 6979): require the exact expected bytes.")
        var deterministicSigner = false

        @Option(help: ArgumentHelp("Seconds one command may run.", valueName: "S"))
        var timeout: Double = 60

        func validate() throws {
            if signedBy == nil && verifiedBy == nil { throw ValidationError("give --signed-by TEMPLATE, --verified-by TEMPLATE or both") }
            if timeout <= 0 { throw ValidationError("--timeout must be positive") }
        }

        func run() throws {
            let report = try KitChecker.run(
                directory: directory,
                options: KitCheckOptions(signedBy: signedBy, verifiedBy: verifiedBy, deterministicSigner: deterministicSigner, timeout: timeout))
            for result in report.results {
                switch result.status {
                case .pass: Terminal.out("pass \(result.id)")
                case .fail: Terminal.out("FAIL \(result.id): \(result.detail)")
                case .skip: Terminal.out("skip \(result.id): \(result.detail)")
                }
            }
            Terminal.out("\(report.skipped) skipped")
            Terminal.out("\(report.passed) passed, \(report.failed) failed")
            if report.failed > 0 { throw CommandFailure(exitCode: ExitStatus.signatureInvalid) }
        }
    }
}
