import CoSSignerTestSupport
import Foundation
import Testing
@testable import CoSSigner
@testable import CoSSignerTesting

/// `cos-signer --version` prints the package version from its one place in the library, and `--help` shows it.
@Suite struct CLIVersionTests {
    @Test func versionPrintsThePackageVersion() throws {
        let r = try CLI.run(["--version"])
        #expect(r.status == 0)
        #expect(r.stdout == CoSSignerVersion.current + "\n")
        #expect(CoSSignerVersion.current.split(separator: ".").count == 3)
    }

    @Test func helpShowsTheVersionOption() throws {
        let r = try CLI.run(["--help"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("--version"))
    }

    @Test func oneInputIsSignedOnTheMainThreadAndABatchOnlyEndsWhenFlushed() throws {
        // One file input with the default --jobs: no worker thread is needed, and the output is complete.
        let dir = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("one.xml").path
        let sign = try CLI.run(["sign", "--key", CLISignVerifyTests.key, "--cert", CLISignVerifyTests.cert, "-o", out,
                                CLISignVerifyTests.template])
        #expect(sign.status == 0, "\(sign.stderr)")
        #expect(try CLI.run(["verify", "--cert", CLISignVerifyTests.cert, out]).status == 0)
        // Signed into an output directory that already holds an older output of the same name: replaced whole.
        let outputs = dir.appendingPathComponent("outputs")
        try FileManager.default.createDirectory(at: outputs, withIntermediateDirectories: true)
        let name = URL(fileURLWithPath: CLISignVerifyTests.template).lastPathComponent
        let stale = outputs.appendingPathComponent(name)
        try Data("stale".utf8).write(to: stale)
        let batch = try CLI.run(["sign", "--key", CLISignVerifyTests.key, "--cert", CLISignVerifyTests.cert,
                                 "--output-dir", outputs.path, CLISignVerifyTests.template])
        #expect(batch.status == 0, "\(batch.stderr)")
        #expect(batch.stderr.contains("signed 1, failed 0"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: outputs.path) == [name])
        #expect(try CLI.run(["verify", "--cert", CLISignVerifyTests.cert, stale.path]).status == 0)
    }
}
