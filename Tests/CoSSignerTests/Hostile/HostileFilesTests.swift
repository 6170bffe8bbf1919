import CoSSignerTestSupport
import CoSSigner
import CoSSignerTesting
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Issue 17, "Nothing lost, nothing repeated, nothing leaked": one regression test per finding of the adversarial
/// review (items 1–10, 12 and 13), each run against the built CLI as the reviewer ran it. Each failed on the code
/// before the fix (8bed0ff). docs/hardening.md lists the guarantees and names these tests.
@Suite(.serialized) struct HostileFilesTests {
    static let key = HostileKeys.key
    static let cert = HostileKeys.cert
    static let template = HostileKeys.template

    /// A FIFO (named pipe) at `path`.
    @discardableResult
    static func fifo(_ path: String) throws -> String {
        try #require(mkfifo(path, 0o600) == 0, "mkfifo \(path): \(String(cString: strerror(errno)))")
        return path
    }

    /// What `path` is, without following a symbolic link.
    static func fileType(_ path: String) -> mode_t {
        var info = stat()
        return lstat(path, &info) == 0 ? info.st_mode & S_IFMT : 0
    }

    /// The template signed (deterministically) into `path`.
    @discardableResult
    static func signedTemplate(_ path: String) throws -> [UInt8] {
        let sign = try HostileCLI.run(["sign", "--key", key, "--cert", cert, "--deterministic", "-o", path, template])
        try #require(sign.status == 0, "\(sign)")
        return try Files.read(path, maxBytes: 1 << 20)
    }

    static func bytes(_ path: String) -> [UInt8]? { try? Files.read(path, maxBytes: 64 << 20) }

    // MARK: - 1. Outputs only to regular files or new names

    @Test func item1OutputsReplaceOnlyRegularFilesOrNewNames() throws {
        let workspace = try HostileWorkspace()
        defer { workspace.remove() }
        let signed = workspace.path("signed.xml")
        try Self.signedTemplate(signed)
        // -o and --signed-content at a FIFO, a symbolic link and a directory: refused with exit 2, left as they are.
        let fifo = try Self.fifo(workspace.path("pipe.xml"))
        let target = try workspace.write("target.xml", Array("keep me".utf8))
        let link = workspace.path("link.xml")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        let directory = workspace.path("dir.xml")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        for (path, what) in [(fifo, "FIFO"), (link, "symbolic link"), (directory, "directory")] {
            let before = workspace.contents()
            let sign = try HostileCLI.run(["sign", "--key", Self.key, "--cert", Self.cert, "-o", path, Self.template])
            #expect(sign.status == 2, "\(what): \(sign)")
            #expect(sign.stderr.contains(path) && sign.stderr.contains(what), "\(what): \(sign)")
            let verify = try HostileCLI.run(["verify", "--cert", Self.cert, "--signed-content", path, signed])
            #expect(verify.status == 2, "\(what): \(verify)")
            #expect(verify.stderr.contains(what), "\(what): \(verify)")
            #expect(workspace.contents() == before, "\(what): files were written: \(workspace.contents().subtracting(before))")
        }
        #expect(Self.fileType(fifo) == S_IFIFO, "the FIFO was replaced")
        #expect(Self.fileType(link) == S_IFLNK, "the symbolic link was replaced")
        #expect(Self.bytes(target) == Array("keep me".utf8), "the link's target was changed")
        #expect(Self.fileType(directory) == S_IFDIR)
        // In an output directory: an existing name that is a FIFO is refused for that input alone.
        let inputs = workspace.path("in")
        try FileManager.default.createDirectory(atPath: inputs, withIntermediateDirectories: false)
        try FileManager.default.copyItem(atPath: Self.template, toPath: "\(inputs)/a.xml")
        try FileManager.default.copyItem(atPath: Self.template, toPath: "\(inputs)/b.xml")
        let out = workspace.path("out")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false)
        try Self.fifo("\(out)/a.xml")
        let batch = try HostileCLI.run(["sign", "--key", Self.key, "--cert", Self.cert, "--output-dir", out, inputs])
        #expect(batch.status == 2, "\(batch)")
        #expect(batch.stderr.contains("a.xml") && batch.stderr.contains("FIFO") && batch.stderr.contains("signed 1, failed 1"), "\(batch)")
        #expect(Self.fileType("\(out)/a.xml") == S_IFIFO)
        #expect(Self.fileType("\(out)/b.xml") == S_IFREG)
        // '-' is still standard output.
        let piped = try HostileCLI.run(["sign", "--key", Self.key, "--cert", Self.cert, "-o", "-", Self.template])
        #expect(piped.status == 0 && piped.stdout.contains("<ds:SignatureValue>"), "\(piped)")
    }

    // MARK: - 2. Every write, flush and close checked

    @Test func item2WriteFailuresFailTheRunNamingThePathAndTheReason() throws {
        let workspace = try HostileWorkspace()
        defer { workspace.remove() }
        let signed = workspace.path("signed.xml")
        try Self.signedTemplate(signed)
        // Standard output on a full device (ENOSPC): verify, inspect and sign fail with exit 2.
        for arguments in [["verify", "--cert", Self.cert, signed], ["inspect", Self.template],
                          ["sign", "--key", Self.key, "--cert", Self.cert, Self.template]] {
            let run = try HostileCLI.run(arguments, stdoutFile: "/dev/full")
            #expect(run.status == 2, "\(arguments[0]): \(run)")
            #expect(run.stderr.contains("standard output") && run.stderr.contains("No space left on device"), "\(arguments[0]): \(run)")
            #expect(!run.stderr.contains("standard input"), "\(arguments[0]): \(run)")
        }
        // A report that cannot be written whole (the file size limit: EFBIG) fails the run, naming the report.
        let inputs = workspace.path("in")
        try FileManager.default.createDirectory(atPath: inputs, withIntermediateDirectories: false)
        for i in 0..<40 { try FileManager.default.copyItem(atPath: signed, toPath: "\(inputs)/s\(i).xml") }
        let report = workspace.path("report.jsonl")
        // SIGXFSZ ignored, so a write past `ulimit -f` (512-byte blocks) fails with EFBIG instead of killing.
        let limited = try TestProcess.run("/bin/sh", ["-c", "trap '' XFSZ; ulimit -f 4; exec \"$0\" \"$@\"", CLI.executable,
                                                 "verify", "--cert", Self.cert, "--report", report, inputs])
        #expect(limited.status == 2, "\(limited.stdout)\(limited.stderr)")
        #expect(limited.stderr.contains(report) && limited.stderr.contains("File too large"), "\(limited.stderr)")
        #expect(limited.stdout.contains("valid 40, invalid 0"), "\(limited.stdout)")
        // A report at a full device is refused before anything is done (it is not a regular file).
        let full = try HostileCLI.run(["verify", "--cert", Self.cert, "--report", "/dev/full", signed])
        #expect(full.status == 2 && full.stderr.contains("/dev/full"), "\(full)")
    }

    // MARK: - 3. Output names unique within a run

    @Test func item3TwoInputsWithTheSameNameNeverOverwriteEachOther() throws {
        let workspace = try HostileWorkspace()
        defer { workspace.remove() }
        let text = try Fixtures.template623(Fixtures.template623Names[0]).utf8String
        for (folder, counter) in [("dA", "1006"), ("dB", "1007")] {
            try FileManager.default.createDirectory(atPath: workspace.path(folder), withIntermediateDirectories: false)
            try workspace.write("\(folder)/r.xml", Array(text.replacingOccurrences(of: ":1006<", with: ":\(counter)<").utf8))
        }
        let out = workspace.path("out")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false)
        let report = workspace.path("report.jsonl")
        // As files and as directories, with two workers.
        for inputs in [[workspace.path("dA/r.xml"), workspace.path("dB/r.xml")], [workspace.path("dA"), workspace.path("dB")]] {
            let run = try HostileCLI.run(["sign", "--key", Self.key, "--cert", Self.cert, "--jobs", "2", "--output-dir", out,
                                          "--report", report] + inputs)
            #expect(run.status == 2, "\(run)")
            #expect(run.stderr.contains("dB/r.xml") && run.stderr.contains("same file name") && run.stderr.contains("signed 1, failed 1"), "\(run)")
            let output = Self.bytes("\(out)/r.xml")?.utf8String ?? ""
            #expect(output.contains(":1006</sr:RequestID>"), "the first input's output must be the one written")
            let lines = hostileText(report).split(separator: "\n")
            #expect(lines.count == 2 && lines.contains { $0.contains("dB/r.xml") && $0.contains("\"failed\"") }, "\(lines)")
        }
    }

    // MARK: - 4. A counter store through a symbolic link is the same store

    @Test func item4ACounterStoreReachedThroughALinkNeverRepeatsACounter() throws {
        let workspace = try HostileWorkspace()
        defer { workspace.remove() }
        let real = workspace.path("real.txt")
        let link = workspace.path("link.txt")
        let seed = try HostileCLI.run(["counter", "seed", "--store", real, "--originator", "90-B3-D5-1F-30-01-00-00", "--at-least", "99999999999999"])
        try #require(seed.status == 0, "\(seed)")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "real.txt")
        var requestIDs: [String] = []
        for (index, store) in [link, real, link].enumerated() {
            let out = workspace.path("signed-\(index).xml")
            let run = try HostileCLI.run(["sign", "--key", Self.key, "--cert", Self.cert, "--counter", "store", "--counter-store", store,
                                          "-o", out, Self.template])
            try #require(run.status == 0, "\(run)")
            let text = hostileText(out)
            let id = try #require(text.range(of: #"<sr:RequestID>[^<]*</sr:RequestID>"#, options: .regularExpression).map { String(text[$0]) })
            requestIDs.append(id)
        }
        #expect(Set(requestIDs).count == 3, "a RequestID was handed out twice: \(requestIDs)")
        #expect(requestIDs[0].contains(":99999999999999<"), "\(requestIDs)")
        #expect(Self.fileType(link) == S_IFLNK, "the link was replaced by a file")
        #expect(hostileText(real).contains("90-B3-D5-1F-30-01-00-00 100000000000002"), "\(hostileText(real))")
        // A link that leads nowhere is refused, not replaced.
        let dangling = workspace.path("dangling.txt")
        try FileManager.default.createSymbolicLink(atPath: dangling, withDestinationPath: "absent.txt")
        let refused = try HostileCLI.run(["counter", "reserve", "--store", dangling, "--originator", "90-B3-D5-1F-30-01-00-00"])
        #expect(refused.status == 2 && refused.stderr.contains("symbolic link"), "\(refused)")
        #expect(Self.fileType(dangling) == S_IFLNK && !FileManager.default.fileExists(atPath: workspace.path("absent.txt")))
    }

    // MARK: - 5. A FIFO never blocks

    @Test func item5AFIFOIsRefusedWithoutBlockingWhereverAFileIsNamed() throws {
        let workspace = try PartiesWorkspace()
        defer { workspace.remove() }
        let registry = try workspace.registry([.gts])
        let fifo = try Self.fifo(workspace.path("fifo"))
        let out = workspace.path("out.xml")
        let signed = workspace.path("signed.xml")
        try Self.signedTemplate(signed)
        let certDirectory = workspace.path("certs")
        try FileManager.default.createDirectory(atPath: certDirectory, withIntermediateDirectories: false)
        try Self.fifo("\(certDirectory)/a.pem")
        let sign = ["sign", "--key", Self.key, "--cert", Self.cert, "-o", out]
        let cases: [(String, [String])] = [
            ("sign INPUT", sign + [fifo]),
            ("verify INPUT", ["verify", "--cert", Self.cert, fifo]),
            ("inspect INPUT", ["inspect", fifo]),
            ("--key", ["sign", "--key", fifo, "--cert", Self.cert, "-o", out, Self.template]),
            ("--cert", ["verify", "--cert", fifo, signed]),
            ("--cert-dir entry", ["verify", "--cert-dir", certDirectory, signed]),
            ("--parties", ["sign", "--parties", fifo, "-o", out, Self.template]),
            ("--passphrase-file", ["sign", "--key", Self.key, "--passphrase-file", fifo, "--cert", Self.cert, "-o", out, Self.template]),
            ("--report", ["verify", "--cert", Self.cert, "--report", fifo, signed]),
            ("--registration", ["sign", "--parties", registry, "--registration", fifo, "-o", out, Self.template]),
            ("--counter-store", sign + ["--counter", "store", "--counter-store", fifo, Self.template]),
            ("--schema", sign + ["--schema", fifo, Self.template]),
        ]
        for (name, arguments) in cases {
            let run = try HostileCLI.run(arguments)
            #expect(run.status == 2 || run.status == 3, "\(name): \(run)")
            #expect(run.stderr.contains("FIFO") && run.stderr.contains("not a regular file"), "\(name): \(run)")
            #expect(run.wallSeconds < 10, "\(name): \(run)")
            #expect(!FileManager.default.fileExists(atPath: out), "\(name): an output was written")
        }
        #expect(Self.fileType(fifo) == S_IFIFO)
    }

    // MARK: - 6. Errors never echo a line of a file that is not the document

    @Test func item6ErrorsNameTheLineNeverItsContent() throws {
        let workspace = try PartiesWorkspace()
        defer { workspace.remove() }
        let registry = try workspace.registry([.gts])
        let passphrase = "Sup3r-secret-passphrase-4e1f"
        let passphraseFile = try workspace.write("pass.txt", passphrase + "\n")
        let keyFile = workspace.path("keys/\(PartiesEntry.gts.identity).key.pem")
        let keyLines = hostileText(keyFile).split(separator: "\n").filter { !$0.hasPrefix("-----") }.map(String.init)
        try #require(keyLines.count >= 2)
        let secretRow = "S3CRETROW,ZZZZ,1999-99-99"
        let csv = try workspace.write("rows.csv", "mpxn,mpid,effective_from\n" + secretRow + "\n")
        let secrets = [passphrase, "S3CRETROW", "ZZZZ", "1999-99-99"] + keyLines
        for file in [passphraseFile, keyFile, csv] {
            for arguments in [["sign", "--parties", registry, "--registration", file, "-o", workspace.path("out.xml"), Self.template],
                              ["parties", "select", registry, "--mpxn", "1312345678333", "--registration", file]] {
                let run = try HostileCLI.run(arguments)
                #expect(run.status == 4, "\(run)")
                #expect(run.stderr.contains(file) && run.stderr.contains("line "), "\(run)")
                HardenKeyFileTests.expectNoSecrets(run, secrets)
            }
        }
        // The counter store: the line and the field, never the value.
        for content in ["S3CRETVALUE 12\n", "90-B3-D5-1F-30-01-00-00 S3CRETVALUE\n", "90-B3-D5-1F-30-01-00-00 12\n90-B3-D5-1F-30-01-00-00 13\n"] {
            let store = try workspace.write("store.txt", content)
            let run = try HostileCLI.run(["counter", "reserve", "--store", store, "--originator", "90-B3-D5-1F-30-01-00-00"])
            #expect(run.status == 2 && run.stderr.contains("store.txt:"), "\(run)")
            HardenKeyFileTests.expectNoSecrets(run, ["S3CRETVALUE", "90-B3-D5-1F-30-01-00-00"])
        }
    }

    // MARK: - 7. Passphrase files follow the key-file rule

    @Test func item7APassphraseFileOthersMayReadIsRefusedLikeAKeyFile() throws {
        let workspace = try HostileWorkspace()
        defer { workspace.remove() }
        let encrypted = workspace.path("enc.key.pem")
        let passphrase = "Harden-passphrase-17"
        let made = try TestProcess.run("openssl", ["pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", Self.key, "-out", encrypted,
                                              "-passout", "env:HARDEN_PASS"], environment: ["HARDEN_PASS": passphrase])
        try #require(made.status == 0, "\(made.stderr)")
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: encrypted)
        let passphraseFile = try workspace.write("pass.txt", Array((passphrase + "\n").utf8))
        let out = workspace.path("signed.xml")
        let arguments = ["sign", "--key", encrypted, "--passphrase-file", passphraseFile, "--cert", Self.cert, "-o", out, Self.template]
        for mode in [0o644, 0o640, 0o604] {
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: passphraseFile)
            let refused = try HostileCLI.run(arguments)
            #expect(refused.status == 3, "\(refused)")
            #expect(refused.stderr.contains("passphrase file") && refused.stderr.contains("chmod 600 \(passphraseFile)")
                    && refused.stderr.contains("--allow-insecure-key-file") && refused.stderr.contains("0\(String(mode, radix: 8))"), "\(refused)")
            #expect(!refused.stderr.contains(passphrase))
            #expect(!FileManager.default.fileExists(atPath: out))
        }
        let allowed = try HostileCLI.run(["sign", "--allow-insecure-key-file"] + arguments.dropFirst())
        #expect(allowed.status == 0, "\(allowed)")
        try FileManager.default.removeItem(atPath: out)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: passphraseFile)
        let ownerOnly = try HostileCLI.run(arguments)
        #expect(ownerOnly.status == 0, "\(ownerOnly)")
    }

    // MARK: - 8. The staging folder

    @Test func item8TheStagingFolderIsNeverFollowedAndNeverLeftBehind() throws {
        let workspace = try HostileWorkspace()
        defer { workspace.remove() }
        let inputs = workspace.path("in")
        try FileManager.default.createDirectory(atPath: inputs, withIntermediateDirectories: false)
        try FileManager.default.copyItem(atPath: Self.template, toPath: "\(inputs)/a.xml")
        let out = workspace.path("out")
        let elsewhere = workspace.path("elsewhere")
        for folder in [out, elsewhere] { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false) }
        let staging = "\(out)/\(BatchSigningJob.partialFolderName)"
        try FileManager.default.createSymbolicLink(atPath: staging, withDestinationPath: elsewhere)
        // A symbolic link in its place: refused, nothing written anywhere.
        for arguments in [[inputs], ["\(inputs)/a.xml", "\(inputs)/a.xml"]] {
            let run = try HostileCLI.run(["sign", "--key", Self.key, "--cert", Self.cert, "--output-dir", out] + arguments)
            #expect(run.status == 2, "\(run)")
            #expect(run.stderr.contains(BatchSigningJob.partialFolderName), "\(run)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: elsewhere).isEmpty, "files were created outside the output directory")
            #expect(try FileManager.default.contentsOfDirectory(atPath: out) == [BatchSigningJob.partialFolderName])
        }
        #expect(Self.fileType(staging) == S_IFLNK)
        try FileManager.default.removeItem(atPath: staging)
        // Not left behind: not after a run that fails before signing, nor after one that succeeds.
        let failed = try HostileCLI.run(["sign", "--key", Self.key, "--cert", Self.cert, "--output-dir", out, "\(inputs)/a.xml", workspace.path("absent.xml")])
        #expect(failed.status == 2, "\(failed)")
        let left = try FileManager.default.contentsOfDirectory(atPath: out)
        #expect(left.isEmpty, "left behind: \(left)")
        let succeeded = try HostileCLI.run(["sign", "--key", Self.key, "--cert", Self.cert, "--output-dir", out, inputs])
        #expect(succeeded.status == 0, "\(succeeded)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: out) == ["a.xml"])
    }

    // MARK: - 9. An output never destroys an input

    @Test func item9AnOutputThatIsAnInputIsRefusedBeforeAnythingIsTruncated() throws {
        let workspace = try HostileWorkspace()
        defer { workspace.remove() }
        let signed = workspace.path("signed.xml")
        let original = try Self.signedTemplate(signed)
        let alias = workspace.path("alias.xml")
        try FileManager.default.linkItem(atPath: signed, toPath: alias)
        for arguments in [["verify", "--cert", Self.cert, "--report", signed, signed],
                          ["verify", "--cert", Self.cert, "--report", alias, signed],
                          ["verify", "--cert", Self.cert, "--signed-content", signed, signed],
                          ["sign", "--key", Self.key, "--cert", Self.cert, "-o", signed, signed],
                          ["sign", "--key", Self.key, "--cert", Self.cert, "--report", signed, "-o", workspace.path("o.xml"), signed]] {
            let run = try HostileCLI.run(arguments)
            #expect(run.status == 1, "\(arguments): \(run)")
            #expect(run.stderr.contains("would destroy the input"), "\(arguments): \(run)")
            #expect(Self.bytes(signed) == original, "\(arguments): the input was changed")
        }
        // A file inside --output-dir given as an input.
        let out = workspace.path("out")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false)
        try FileManager.default.copyItem(atPath: Self.template, toPath: "\(out)/a.xml")
        let unsigned = Self.bytes("\(out)/a.xml")
        let inside = try HostileCLI.run(["sign", "--key", Self.key, "--cert", Self.cert, "--output-dir", out, "\(out)/a.xml"])
        #expect(inside.status == 1 && inside.stderr.contains("inside --output-dir"), "\(inside)")
        #expect(Self.bytes("\(out)/a.xml") == unsigned, "the input was overwritten in place")
        // The run's own report inside an input directory is not taken for an input.
        let inputs = workspace.path("in")
        try FileManager.default.createDirectory(atPath: inputs, withIntermediateDirectories: false)
        for i in 0..<3 { try FileManager.default.copyItem(atPath: signed, toPath: "\(inputs)/s\(i).xml") }
        let report = "\(inputs)/report.jsonl"
        let verify = try HostileCLI.run(["verify", "--cert", Self.cert, "--report", report, inputs])
        #expect(verify.status == 0 && verify.stdout.contains("valid 3, invalid 0"), "\(verify)")
        #expect(hostileText(report).split(separator: "\n").count == 3)
    }

    // MARK: - 10. Verifying nothing is not a pass

    @Test func item10ARunThatProcessedNoDocumentFailsUnlessAllowed() throws {
        let workspace = try HostileWorkspace()
        defer { workspace.remove() }
        let empty = workspace.path("signed")
        try FileManager.default.createDirectory(atPath: "\(empty)/sub", withIntermediateDirectories: true)
        try workspace.write("signed/.hidden.xml", Array("<r/>".utf8))
        let out = workspace.path("out")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false)
        for command in [["verify", "--cert", Self.cert], ["sign", "--key", Self.key, "--cert", Self.cert, "--output-dir", out]] {
            let run = try HostileCLI.run(command + [empty])
            #expect(run.status == 2, "\(command[0]): \(run)")
            #expect(run.stderr.contains("no documents found in \(empty)"), "\(command[0]): \(run)")
            let allowed = try HostileCLI.run(command + ["--allow-empty", empty])
            #expect(allowed.status == 0, "\(command[0]) --allow-empty: \(allowed)")
            #expect((allowed.stdout + allowed.stderr).contains(command[0] == "verify" ? "valid 0, invalid 0" : "signed 0, failed 0"), "\(allowed)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).isEmpty)
    }

    // MARK: - 12. Memory bounded by the bytes in flight

    /// Sixteen 15 MiB documents verified by sixteen workers: the workers share a byte budget (32 MiB of input in
    /// flight), so the peak resident memory is that of two documents, not sixteen (about 1 GB before).
    @Test func item12MemoryIsBoundedByTheBytesInFlightNotTheWorkers() throws {
        let workspace = try HostileWorkspace()
        defer { workspace.remove() }
        // A generic DUIS request with 15 MiB of text. (`xml:lang` keeps it off the single-pass canonicalizer, whose
        // vector code is slow in a debug build; both paths hold the input, its canonical form and the output.)
        let head = #"<sr:Request xmlns:sr="http://www.dccinterface.co.uk/ServiceUserGateway" schemaVersion="5.4"><sr:Header xml:lang="en"><sr:RequestID>90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1006</sr:RequestID><sr:CommandVariant>1</sr:CommandVariant><sr:ServiceReference>1.1</sr:ServiceReference><sr:ServiceReferenceVariant>1.1.1</sr:ServiceReferenceVariant></sr:Header><sr:Body><sr:Text>"#
        let tail = "</sr:Text></sr:Body></sr:Request>"
        let unsigned = try workspace.write("unsigned.xml", Array(head.utf8) + [UInt8](repeating: UInt8(ascii: "a"), count: 15 << 20) + Array(tail.utf8))
        let inputs = workspace.path("in")
        try FileManager.default.createDirectory(atPath: inputs, withIntermediateDirectories: false)
        let first = "\(inputs)/doc00.xml"
        let sign = try HostileCLI.run(["sign", "--key", Self.key, "--cert", Self.cert, "-o", first, unsigned])
        try #require(sign.status == 0, "\(sign)")
        try FileManager.default.removeItem(atPath: unsigned)
        // Hard links: sixteen inputs, one file on disk.
        for i in 1..<16 { try FileManager.default.linkItem(atPath: first, toPath: String(format: "\(inputs)/doc%02d.xml", i)) }
        let verify = try HostileCLI.run(["verify", "--cert", Self.cert, "--jobs", "16", inputs])
        #expect(verify.status == 0 && verify.stdout.contains("valid 16, invalid 0"), "\(verify)")
        #expect(verify.maxRSSKiB < 400 * 1024 * HostileLimits.memoryFactor, "peak RSS \(verify.maxRSSKiB) KiB: more than the byte budget allows")
    }

    // MARK: - 13. Honest exit codes and bounded messages

    @Test func item13InspectFailsOnACertificateItCannotDecode() throws {
        let workspace = try HostileWorkspace()
        defer { workspace.remove() }
        let text = try Fixtures.template623(Fixtures.template623Names[0]).utf8String
        let broken = text.replacingOccurrences(of: #"<sr:DigitalSigningCertificate>[^<]*<"#, with: "<sr:DigitalSigningCertificate>AAECAwQFBgcI<",
                                               options: .regularExpression)
        #expect(broken != text)
        let input = try workspace.write("broken.xml", Array(broken.utf8))
        for arguments in [["inspect", input], ["inspect", "--json", input]] {
            let run = try HostileCLI.run(arguments)
            #expect(run.status == 2, "\(run)")
            #expect(run.stderr.contains("DigitalSigningCertificate") && run.stderr.contains("cannot be decoded"), "\(run)")
        }
        #expect(try HostileCLI.run(["inspect", Self.template]).status == 0)
    }

    @Test func item13ACertificateThatIsNotAFileSaysSo() throws {
        let workspace = try HostileWorkspace()
        defer { workspace.remove() }
        let signed = workspace.path("signed.xml")
        try Self.signedTemplate(signed)
        let fifo = try Self.fifo(workspace.path("cert.pem"))
        for (path, what) in [(fifo, "FIFO"), ("/dev/zero", "character device"), (workspace.directory.path, "directory")] {
            let run = try HostileCLI.run(["verify", "--cert", path, signed])
            #expect(run.status == 3, "\(what): \(run)")
            #expect(run.stderr.contains(path) && run.stderr.contains(what), "\(what): \(run)")
            #expect(!run.stderr.contains("permission"), "\(what): \(run)")
        }
    }

    @Test func item13AThirtyThousandPartyRegistryGivesAFewLinesNotOneHundredTwentyThousand() throws {
        let workspace = try HostileWorkspace()
        defer { workspace.remove() }
        // Each party lacks four required fields (name, mpids, user_ids, a credential): 120,000 problems.
        let registry = try workspace.write("parties.toml", Array((0..<30_000).map { "[[party]]\nid = \"p\($0)\"\n" }.joined().utf8))
        for arguments in [["parties", "check", registry], ["sign", "--parties", registry, "-o", workspace.path("out.xml"), Self.template]] {
            let run = try HostileCLI.run(arguments)
            #expect(run.status == 4, "\(run)")
            let lines = run.stderr.split(separator: "\n")
            #expect(lines.count <= PartyRegistryError.maximumListedPerKind * PartyRegistryProblem.Kind.allCases.count + 10, "\(lines.count) lines")
            #expect(run.stderr.contains("120000 problems") && run.stderr.contains("… and 119980 more 'missing field' problems"), "\(run)")
        }
    }

    @Test func item13ASchemaCannotReadFilesThroughEntities() throws {
        let workspace = try HostileWorkspace()
        defer { workspace.remove() }
        // The entity's text declares sr:Request: the document validates only if the entity was loaded.
        let declaration = try workspace.write("declaration.txt", Array(#"<xs:element xmlns:xs="http://www.w3.org/2001/XMLSchema" name="Request"><xs:complexType><xs:sequence><xs:any processContents="skip" minOccurs="0" maxOccurs="unbounded"/></xs:sequence><xs:anyAttribute processContents="skip"/></xs:complexType></xs:element>"#.utf8))
        let xsd = try workspace.write("evil.xsd", Array("""
            <?xml version="1.0"?>
            <!DOCTYPE xs:schema [<!ENTITY declaration SYSTEM "file://\(declaration)">]>
            <xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="http://www.dccinterface.co.uk/ServiceUserGateway" elementFormDefault="qualified">&declaration;</xs:schema>
            """.utf8))
        let out = workspace.path("signed.xml")
        let run = try HostileCLI.run(["sign", "--key", Self.key, "--cert", Self.cert, "--schema", xsd, "-o", out, Self.template])
        #expect(run.status == 2, "\(run)")
        #expect(run.stderr.contains("evil.xsd") && run.stderr.contains("entit"), "\(run)")
        #expect(!FileManager.default.fileExists(atPath: out))
        // The DUIS wrapper schema, which imports other local schemas, still compiles and validates.
        let wrapper = Fixtures.path("schema/duis-5.4/duis-5.4-xmllint-wrapper.xsd")
        let valid = try HostileCLI.run(["sign", "--key", Self.key, "--cert", Self.cert, "--schema", wrapper, "-o", out, Self.template])
        #expect(valid.status == 0, "\(valid)")
    }

    /// Five thousand Signatures: the refusal names the count and a few lines, not 5,000 line numbers.
    @Test func item13ManySignaturesAreCountedNotListed() throws {
        let workspace = try HostileWorkspace()
        defer { workspace.remove() }
        let signed = hostileText(try { () throws -> String in
            let path = workspace.path("signed.xml")
            try Self.signedTemplate(path)
            return path
        }())
        let start = try #require(signed.range(of: "<ds:Signature"))
        let end = try #require(signed.range(of: "</ds:Signature>"))
        let signature = String(signed[start.lowerBound..<end.upperBound])
        let many = String(signed[..<end.upperBound]) + String(repeating: signature, count: 4_999) + String(signed[end.upperBound...])
        let input = try workspace.write("many.xml", Array(many.utf8))
        let run = try HostileCLI.run(["verify", "--cert", Self.cert, input])
        #expect(run.status == 10, "\(run)")
        #expect(run.stdout.contains("5000 ds:Signature elements"), "\(run)")
        #expect(run.stdout.count < 1_000, "\(run.stdout.count) characters")
    }
}
