import CoSSignerTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Batches: parallel signing, failures mixed in, kills, durable counters, progress.
@Suite(.serialized) struct CLIBatchTests {
    static let key = CLISignVerifyTests.key
    static let cert = CLISignVerifyTests.cert

    /// Writes `count` copies of the IMMEDIATE 6.23 template into a new directory; `broken` of them are malformed.
    static func makeInputs(_ count: Int, broken: Set<Int> = []) throws -> URL {
        let dir = try TestPaths.temporaryDirectory()
        let template = try Fixtures.template623(Fixtures.template623Names[0])
        let bad = Array("<sr:Request xmlns:sr=\"http://www.dccinterface.co.uk/ServiceUserGateway\"><unclosed>".utf8)
        for i in 0..<count {
            let data = Data(broken.contains(i) ? bad : template)
            try data.write(to: dir.appendingPathComponent(String(format: "req-%06d.xml", i)))
        }
        return dir
    }

    static func visibleFiles(_ dir: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { !$0.hasPrefix(".") }.sorted()
    }

    static func reportLines(_ path: String) throws -> [[String: Any]] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    @Test func signsTwoThousandWithTwoJobsAndEveryOutputVerifies() throws {
        let inputs = try Self.makeInputs(2000)
        let out = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: inputs); try? FileManager.default.removeItem(at: out) }
        let sign = try CLI.run(["sign", "--key", Self.key, "--cert", Self.cert, "--jobs", "2", "--output-dir", out.path, inputs.path])
        #expect(sign.status == 0, "\(sign.stderr)")
        #expect(sign.stderr.contains("signed 2000, failed 0"))
        #expect(try Self.visibleFiles(out).count == 2000)
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent(".cos-signer-partial").path))
        let verify = try CLI.run(["verify", "--cert", Self.cert, "--jobs", "2", out.path])
        #expect(verify.status == 0)
        #expect(verify.stdout.contains("valid 2000, invalid 0"))
    }

    @Test func brokenInputsAreReportedAndNeverStopTheOthers() throws {
        let broken: Set<Int> = Set((0..<10).map { $0 * 199 + 7 })
        let inputs = try Self.makeInputs(2000, broken: broken)
        let out = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: inputs); try? FileManager.default.removeItem(at: out) }
        let report = out.appendingPathComponent(".report.jsonl").path
        let sign = try CLI.run(["sign", "--key", Self.key, "--cert", Self.cert, "--jobs", "2", "--output-dir", out.path, "--report", report, inputs.path])
        #expect(sign.status == 2, "the largest failure exit code")
        #expect(sign.stderr.contains("signed 1990, failed 10"))
        let written = try Self.visibleFiles(out)
        #expect(written.count == 1990)
        for i in broken { #expect(!written.contains(String(format: "req-%06d.xml", i))) }
        let lines = try Self.reportLines(report)
        #expect(lines.count == 2000)
        let failed = lines.filter { $0["result"] as? String == "failed" }
        #expect(failed.count == 10)
        for line in failed {
            #expect((line["reason"] as? String)?.isEmpty == false)
            #expect(line["exitCode"] as? Int == 2)
        }
        let good = try #require(lines.first { $0["result"] as? String == "signed" })
        #expect(good["certificateSerial"] as? String == "27572613927499351639968579586655397031")
        #expect(good["requestID"] as? String == "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1006")
        let verify = try CLI.run(["verify", "--cert", Self.cert, out.path])
        #expect(verify.status == 0)
    }

    @Test func killedBatchLeavesOnlyCompleteFilesAndCountersNeverRepeat() throws {
        let inputs = try Self.makeInputs(20_000)
        let out = try TestPaths.temporaryDirectory()
        let work = try TestPaths.temporaryDirectory()
        defer { for d in [inputs, out, work] { try? FileManager.default.removeItem(at: d) } }
        let store = work.appendingPathComponent("counters.txt").path

        // 1. Start a 20,000-document batch with durable counters and SIGKILL it part-way.
        let first = work.appendingPathComponent("first.jsonl").path
        let process = try TestProcess.start(CLI.executable, [
            "sign", "--key", Self.key, "--cert", Self.cert, "--jobs", "2", "--counter", "store",
            "--counter-store", store, "--output-dir", out.path, "--report", first, inputs.path])
        let deadline = Date().addingTimeInterval(120)
        while (try Self.visibleFiles(out).count) < 500 && Date() < deadline && process.isRunning { usleep(20_000) }
        process.kill(SIGKILL)
        #expect(process.finish().status == 128 + SIGKILL, "killed by SIGKILL, not ended by itself")
        let present = try Self.visibleFiles(out)
        #expect(present.count >= 500 && present.count < 20_000, "killed part-way: \(present.count) files")
        // Every file present is complete and valid.
        let verify = try CLI.run(["verify", "--cert", Self.cert, "--jobs", "2", out.path])
        #expect(verify.status == 0, "\(verify.stdout.suffix(500))")
        #expect(verify.stdout.contains("valid \(present.count), invalid 0"))
        var counters = try Self.counters(inOutputs: out)

        // 2. Two processes at once for the same originator, from the same store.
        let outA = try TestPaths.temporaryDirectory(), outB = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: outA); try? FileManager.default.removeItem(at: outB) }
        let few = try Self.makeInputs(300)
        defer { try? FileManager.default.removeItem(at: few) }
        let runs = try [outA, outB].map { dir in
            try TestProcess.start(CLI.executable, ["sign", "--key", Self.key, "--cert", Self.cert, "--jobs", "2", "--counter", "store",
                                                   "--counter-store", store, "--output-dir", dir.path, few.path])
        }
        for p in runs { #expect(p.finish().status == 0) }
        let a = try Self.counters(inOutputs: outA), b = try Self.counters(inOutputs: outB)
        #expect(a.count == 300 && b.count == 300)
        let all = counters + a + b
        #expect(Set(all).count == all.count, "a counter was handed out twice")
        counters = all
        // The store's next value is above everything handed out.
        let storeText = try String(contentsOfFile: store, encoding: .utf8)
        #expect(storeText.contains("90-B3-D5-1F-30-01-00-00"))
    }

    /// The RequestID counters of every signed document in `dir`.
    static func counters(inOutputs dir: URL) throws -> [UInt64] {
        try visibleFiles(dir).map { name in
            let text = try String(contentsOfFile: dir.appendingPathComponent(name).path, encoding: .utf8)
            let range = try #require(text.range(of: #"<sr:RequestID>[^<]*</sr:RequestID>"#, options: .regularExpression))
            let id = text[range].dropFirst("<sr:RequestID>".count).dropLast("</sr:RequestID>".count)
            return try #require(UInt64(id.split(separator: ":").last ?? ""))
        }
    }

    @Test func progressBarOnlyOnATerminal() throws {
        let inputs = try Self.makeInputs(300)
        let out = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: inputs); try? FileManager.default.removeItem(at: out) }
        let command = [CLI.executable, "sign", "--key", Self.key, "--cert", Self.cert, "--output-dir", out.path, inputs.path]
            .map { "'\($0)'" }.joined(separator: " ")
        // `script` runs the command under a pseudo-terminal.
        let tty = try TestProcess.run("script", ["-qec", command, "/dev/null"])
        #expect(tty.status == 0, "\(tty.stdout)")
        #expect(tty.stdout.contains("ETA"), "no progress bar under a terminal: \(tty.stdout.prefix(300))")
        #expect(tty.stdout.contains("300/300"))
        let piped = try CLI.run(["sign", "--key", Self.key, "--cert", Self.cert, "--output-dir", out.path, inputs.path])
        #expect(piped.status == 0)
        #expect(!piped.stderr.contains("ETA"))
        #expect(piped.stderr.contains("signed 300, failed 0"))
        let quiet = try TestProcess.run("script", ["-qec", command + " --quiet", "/dev/null"])
        #expect(!quiet.stdout.contains("ETA"))
    }

    @Test func counterTimeIsStrictlyIncreasing() throws {
        let inputs = try Self.makeInputs(200)
        let out = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: inputs); try? FileManager.default.removeItem(at: out) }
        let before = UInt64(Date().timeIntervalSince1970 * 1000)
        let r = try CLI.run(["sign", "--key", Self.key, "--cert", Self.cert, "--counter", "time", "--output-dir", out.path, inputs.path])
        #expect(r.status == 0, "\(r.stderr)")
        let counters = try Self.counters(inOutputs: out)
        #expect(Set(counters).count == 200)
        #expect(counters.allSatisfy { $0 >= before })
    }

    @Test func usageErrors() throws {
        let inputs = try Self.makeInputs(2)
        defer { try? FileManager.default.removeItem(at: inputs) }
        // A directory without --output-dir, --output-dir equal to the input directory, bad counter combinations.
        #expect(try CLI.run(["sign", "--key", Self.key, "--cert", Self.cert, inputs.path]).status == 1)
        #expect(try CLI.run(["sign", "--key", Self.key, "--cert", Self.cert, "--output-dir", inputs.path, inputs.path]).status == 1)
        #expect(try CLI.run(["sign", "--key", Self.key, "--cert", Self.cert, "--counter", "store", "-"]).status == 1)
        #expect(try CLI.run(["sign", "--key", Self.key, "--cert", Self.cert, "--keep-whitespace", "--counter", "time", "-"]).status == 1)
        #expect(try CLI.run(["sign", "--key", Self.key, "--cert", Self.cert, "--jobs", "0", "-"]).status == 1)
    }
}
