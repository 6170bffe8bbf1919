import CoSSigner
import CoSSignerTesting
import CoSSignerTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A test PKI, requests to sign, and the arguments of `cos-signer sign` with a database counter store.
struct SigningWork {
    let directory: URL
    /// One request file per document (empty when the caller makes its own folders).
    private(set) var inputs: [String] = []
    let parties: Int

    init(parties: Int, documents: Int) throws {
        self.parties = parties
        directory = try TestPaths.temporaryDirectory()
        let made = try CLI.run(["testpki", directory.appendingPathComponent("pki").path, "--parties", "\(parties)", "--seed", "postgres"])
        guard made.status == 0 else { throw PostgresTestCluster.ClusterUnavailable(reason: "testpki: \(made.stderr)") }
        if documents > 0 { inputs = try makeFolder("inputs", documents: documents) }
    }

    func path(_ relative: String) -> String { directory.appendingPathComponent(relative).path }

    /// A folder of `documents` immediate requests, party after party in turn; returns the files.
    @discardableResult
    func makeFolder(_ name: String, documents: Int) throws -> [String] {
        let folder = directory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let requests = try (1...parties).map { try Data(contentsOf: directory.appendingPathComponent("pki/requests/ts\($0)-immediate.xml")) }
        return try (0..<documents).map { index in
            let file = folder.appendingPathComponent(String(format: "r%05d.xml", index))
            try requests[index % parties].write(to: file)
            return file.path
        }
    }

    func signArguments(store: String, passwordFile: String? = nil) -> [String] {
        ["sign", "--parties", path("pki/parties.toml"), "--counter", "store", "--counter-store", store]
            + (passwordFile.map { ["--counter-store-password-file", $0] } ?? [])
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }
}

/// One line of a `--report` file.
struct ReportLine: Decodable {
    let input: String
    let result: String
    let requestID: String?
    let reason: String?
}

/// `cos-signer sign` processes running at once against one database.
@Suite(.serialized) struct ConcurrentSigningTests {
    /// Starts `cos-signer` with `arguments` (not waiting).
    static func launch(_ arguments: [String]) throws -> BackgroundProcess {
        try TestProcess.start(CLI.executable, arguments)
    }

    static func report(_ path: String) throws -> [ReportLine] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return try String(decoding: data, as: UTF8.self).split(separator: "\n").map { try JSONDecoder().decode(ReportLine.self, from: Data($0.utf8)) }
    }

    /// The database's allocation log, in allocation order.
    static func log(_ url: String) throws -> [(originator: String, counter: UInt64)] {
        try PostgresTestCluster.sql(url, "SELECT originator || ' ' || first FROM cos_signer_counter_log ORDER BY id").compactMap { line in
            let parts = line.split(separator: " ")
            guard parts.count == 2, let counter = UInt64(parts[1]) else { return nil }
            return (String(parts[0]), counter)
        }
    }

    /// Every RequestID of the signed outputs in `folders`.
    static func signedRequestIDs(_ folders: [String]) throws -> [RequestID] {
        var ids = [RequestID]()
        for folder in folders {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] where name.hasSuffix(".xml") {
                let text = try String(contentsOfFile: "\(folder)/\(name)", encoding: .utf8)
                guard let start = text.range(of: "<sr:RequestID>"), let end = text.range(of: "</sr:RequestID>", range: start.upperBound..<text.endIndex) else {
                    Issue.record("\(folder)/\(name) has no RequestID")
                    continue
                }
                ids.append(try RequestID(parsing: String(text[start.upperBound..<end.lowerBound])))
            }
        }
        return ids
    }

    /// Counters of one originator, in allocation order, are strictly increasing; no counter is handed out twice.
    static func expectOneSequencePerOriginator(_ log: [(originator: String, counter: UInt64)], sourceLocation: SourceLocation = #_sourceLocation) {
        var last = [String: UInt64]()
        var decreasing = 0
        for entry in log {
            if let previous = last[entry.originator], entry.counter <= previous { decreasing += 1 }
            last[entry.originator] = entry.counter
        }
        #expect(decreasing == 0, "counters not strictly increasing in allocation order: \(decreasing)", sourceLocation: sourceLocation)
        #expect(Set(log.map { "\($0.originator):\($0.counter)" }).count == log.count, "a counter was handed out twice", sourceLocation: sourceLocation)
    }

    enum Fault { case none, restartDatabase, killOneProcess }

    /// Four processes, `perProcess` documents each, five originators; with the fault injected mid-run.
    static func run(perProcess: Int, fault: Fault) throws {
        let url = try PostgresTestCluster.database("four")
        let work = try SigningWork(parties: 5, documents: 0)
        defer { work.remove() }
        var processes = [BackgroundProcess]()
        var outputs = [String](), reports = [String]()
        for k in 0..<4 {
            try work.makeFolder("in\(k)", documents: perProcess)
            let out = work.path("out\(k)")
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            outputs.append(out)
            reports.append(work.path("report\(k).jsonl"))
            processes.append(try launch(work.signArguments(store: url)
                + ["--jobs", "2", "--quiet", "--output-dir", out, "--report", reports[k], work.path("in\(k)")]))
        }
        // Let the processes get going, then break something.
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, ((try? log(url).count) ?? 0) < perProcess / 2 {
            Thread.sleep(forTimeInterval: 0.05)
        }
        switch fault {
        case .none: break
        case .restartDatabase: try PostgresTestCluster.restart()
        case .killOneProcess: processes[3].kill(SIGKILL)
        }
        let statuses = processes.map { $0.finish().status }

        let allocated = try log(url)
        expectOneSequencePerOriginator(allocated)
        let signed = try signedRequestIDs(outputs)
        // Every signed request's counter was allocated (and so logged), and no two signed requests share one.
        let logged = Set(allocated.map { "\($0.originator):\($0.counter)" })
        let signedKeys = signed.map { "\($0.businessOriginator):\($0.counter)" }
        #expect(Set(signedKeys).count == signedKeys.count, "two signed requests carry the same RequestID")
        #expect(Set(signedKeys).isSubset(of: logged), "a signed counter is missing from the allocation log")
        #expect(Set(signed.map(\.businessOriginator)).count == 5)

        switch fault {
        case .none:
            #expect(statuses.allSatisfy { $0 == 0 }, "\(statuses)")
            #expect(signed.count == 4 * perProcess)
            #expect(allocated.count == 4 * perProcess)
        case .restartDatabase:
            // Every input is accounted for: signed, or reported as failed with the reason; failures are exit 3.
            var failed = 0
            for (k, report) in reports.enumerated() {
                let lines = try Self.report(report)
                #expect(lines.count == perProcess, "process \(k) reported \(lines.count) of \(perProcess) inputs")
                let failures = lines.filter { $0.result != "signed" }
                failed += failures.count
                #expect(failures.allSatisfy { ($0.reason ?? "").contains("counter store unavailable") }, "\(failures.prefix(3).map { $0.reason ?? "" })")
                #expect(statuses[k] == (failures.isEmpty ? 0 : 3))
            }
            #expect(signed.count + failed == 4 * perProcess)
            // Signing went on after the restart: more was allocated than before it.
            #expect(allocated.count > perProcess / 2)
        case .killOneProcess:
            #expect(statuses[3] == 128 + SIGKILL, "killed by SIGKILL: \(statuses[3])")
            #expect(statuses.prefix(3).allSatisfy { $0 == 0 })
            #expect(signed.count >= 3 * perProcess)
        }
    }

    @Test(.postgresCluster(.shared)) func fourProcessesShareOneSequenceForTwentyThousandRequests() throws {
        try Self.run(perProcess: 5_000, fault: .none)
    }

    // The fault runs sign 6,000 requests each: enough for the fault to strike mid-run with every process signing.
    @Test(.postgresCluster(.exclusive)) func aDatabaseRestartMidRunNeverRepeatsACounterAndEveryFailureIsReported() throws {
        try Self.run(perProcess: 1_500, fault: .restartDatabase)
    }

    @Test(.postgresCluster(.shared)) func aProcessKilledMidRunNeverCausesARepeat() throws {
        try Self.run(perProcess: 1_500, fault: .killOneProcess)
    }
}
