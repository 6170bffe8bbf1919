import CoSSigner
import CoSSignerTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `cos-signer-server --counter-store postgresql://…` against the private PostgreSQL cluster (Scripts/postgres-cluster):
/// counters from the database, its password from a private file or PGPASSWORD, 503 and not ready while the database
/// is down, reconnection by itself; and several replicas sharing one sequence (ServerReplicaTests).
@Suite(.serialized) struct ServerPostgresTests {
    /// The counters the database handed out, in allocation order (its log table).
    static func allocationLog(_ url: String) throws -> [(originator: String, counter: UInt64)] {
        try PostgresTestCluster.sql(url, "SELECT originator || ' ' || first FROM cos_signer_counter_log ORDER BY id").compactMap { line in
            let parts = line.split(separator: " ")
            guard parts.count == 2, let counter = UInt64(parts[1]) else { return nil }
            return (String(parts[0]), counter)
        }
    }

    /// The URL of database `url` for the password-authenticated role.
    static func passwordURL(_ url: String) -> String {
        "postgresql://cossigner_password@127.0.0.1:\(PostgresTestCluster.port)/\(url.split(separator: "/").last ?? "")"
    }

    static let secret = "cos-signer test password"

    @Test(.postgresCluster(.exclusive)) func countersComeFromTheDatabaseAndWhileItIsDownRequestsGet503UntilItReturns() throws {
        let url = try PostgresTestCluster.database("server")
        let workspace = try Workspace()
        try workspace.makeTestPKI()
        let server = try ServerProcess(["--parties", workspace.path("pki/parties.toml"), "--counter-store", url, "--listen", "127.0.0.1:0"],
                                       in: workspace)
        let ready = try http("GET", server.url + "/readyz")
        #expect(ready.status == 200, "\(ready.text)")
        #expect((ready.json["counterStore"] as? [String: Any])?["policy"] as? String == "backend")
        #expect(server.log.contains(#""counters":"database""#))

        let request = try workspace.read("pki/requests/ts1-immediate.xml")
        let dccBody = Array(#"{"message":"\#(Data(request).base64EncodedString())"}"#.utf8)
        let first = try http("POST", server.url + "/v1/sign", body: request, contentType: "application/xml")
        #expect(first.status == 200, "\(first.text)")
        let c1 = try #require(requestCounter(first.body))
        #expect(first.headers["cos-request-id"]?.hasSuffix(":\(c1)") == true)
        let dcc = try http("POST", server.url + "/sign", body: dccBody)
        #expect(dcc.status == 200, "\(dcc.text)")
        let c2 = try #require(requestCounter(try dcc.message()))
        #expect(c2 > c1 && c1 > 1_700_000_000_000)
        // One statement per request (the default --counter-block from a database is 1): the log has both, in order.
        #expect(try Self.allocationLog(url).map(\.counter) == [c1, c2])

        // The database goes away: every request that needs a counter fails (503, nothing signed), and the server is
        // not ready; a request that keeps its counter needs no store.
        try PostgresTestCluster.stop()
        var restarted = false
        defer { if !restarted { try? PostgresTestCluster.start() } }
        let down = try http("POST", server.url + "/v1/sign", body: request, contentType: "application/xml")
        V1APITests.expectProblem(down, 503, kind: "unavailable")
        #expect(down.headers["retry-after"] == "1")
        #expect((down.json["detail"] as? String ?? "").contains("counter store unavailable"), "\(down.text)")
        #expect(!down.text.contains("<sr:"), "a failure answer carries no document")
        let dccDown = try http("POST", server.url + "/sign", body: dccBody)
        #expect(dccDown.status == 503 && dccDown.json["errorCode"] as? String == "unavailable", "\(dccDown.text)")
        let notReady = try http("GET", server.url + "/readyz")
        #expect(notReady.status == 503 && notReady.json["ready"] as? Bool == false, "\(notReady.text)")
        let store = try #require(notReady.json["counterStore"] as? [String: Any])
        #expect(store["usable"] as? Bool == false && !(store["reason"] as? String ?? "").isEmpty)
        #expect(try http("POST", server.url + "/v1/sign?preserveCounter=true", body: request, contentType: "application/xml").status == 200)
        #expect(try http("GET", server.url + "/healthz").status == 200)

        // It returns: the server reconnects by itself, is ready again and counts on from where the database was.
        try PostgresTestCluster.start()
        restarted = true
        try waitFor { try http("GET", server.url + "/readyz").status == 200 }
        let again = try http("POST", server.url + "/v1/sign", body: request, contentType: "application/xml")
        #expect(again.status == 200, "\(again.text)")
        let c3 = try #require(requestCounter(again.body))
        #expect(c3 > c2)
        #expect(try Self.allocationLog(url).map(\.counter) == [c1, c2, c3], "nothing was allocated while the database was down")
        #expect(server.process.isRunning)
        server.stop()
        #expect(server.waitForExit() == 0)
    }

    @Test(.postgresCluster(.shared)) func thePasswordComesFromAPrivateFileOrPGPASSWORDAndIsNeverShown() throws {
        let url = try PostgresTestCluster.database("serverpw")
        let passwordURL = Self.passwordURL(url)
        let workspace = try Workspace()
        try workspace.makeTestPKI()
        let request = try workspace.read("pki/requests/ts1-immediate.xml")
        let base = ["--parties", workspace.path("pki/parties.toml"), "--counter-store", passwordURL, "--listen", "127.0.0.1:0"]

        // A private password file.
        let file = workspace.path("pg.pass")
        try Array((Self.secret + "\n").utf8).write(to: file)
        chmod(file, 0o600)
        let fromFile = try ServerProcess(base + ["--counter-store-password-file", file], in: workspace, name: "file", environment: ["PGPASSWORD": ""])
        #expect(try http("GET", fromFile.url + "/readyz").status == 200)
        #expect(try http("POST", fromFile.url + "/v1/sign", body: request, contentType: "application/xml").status == 200)
        fromFile.stop()

        // PGPASSWORD.
        let fromEnvironment = try ServerProcess(base, in: workspace, name: "env", environment: ["PGPASSWORD": Self.secret])
        #expect(try http("POST", fromEnvironment.url + "/v1/sign", body: request, contentType: "application/xml").status == 200)
        fromEnvironment.stop()
        #expect(try Self.allocationLog(url).count == 2)

        // A password file others may read: refused at start like a key file (exit 3), naming the file.
        chmod(file, 0o644)
        let open = try TestProcess.run(Binaries.server, base + ["--counter-store-password-file", file])
        #expect(open.status == 3 && open.stderr.contains("password file") && open.stderr.contains("chmod 600"), "\(open.stderr)")
        #expect(!open.stderr.contains(Self.secret))

        // A wrong password: the server runs, not ready; requests that need a counter get 503; the password is never
        // in a log or an answer.
        let wrongPassword = "not the password 7f3e"
        let wrong = try ServerProcess(base, in: workspace, name: "wrong", environment: ["PGPASSWORD": wrongPassword])
        let notReady = try http("GET", wrong.url + "/readyz")
        #expect(notReady.status == 503, "\(notReady.text)")
        let refused = try http("POST", wrong.url + "/v1/sign", body: request, contentType: "application/xml")
        V1APITests.expectProblem(refused, 503, kind: "unavailable")
        wrong.stop()
        for text in [wrong.log, notReady.text, refused.text, (try? String(contentsOfFile: wrong.stdoutPath, encoding: .utf8)) ?? ""] {
            #expect(!text.contains(wrongPassword) && !text.contains(Self.secret))
        }
        #expect(try Self.allocationLog(url).count == 2)

        // A password in the URL: refused before anything runs, the password not repeated.
        let inURL = try TestProcess.run(Binaries.server, ["--parties", workspace.path("pki/parties.toml"), "--listen", "127.0.0.1:0", "--counter-store",
                                              passwordURL.replacingOccurrences(of: "cossigner_password@", with: "cossigner_password:hunter2x@")])
        #expect(inURL.status == 1 && inURL.stderr.contains("the URL holds a password") && !inURL.stderr.contains("hunter2x"), "\(inURL.stderr)")
        // A password file with a counter file: a usage error.
        let misused = try TestProcess.run(Binaries.server, ["--parties", workspace.path("pki/parties.toml"), "--listen", "127.0.0.1:0",
                                                "--counter-store", workspace.path("counters.txt"), "--counter-store-password-file", file])
        #expect(misused.status != 0 && misused.stderr.contains("only used with a postgresql://"), "\(misused.stderr)")
    }
}

/// Four `cos-signer-server` replicas against one PostgreSQL database, five originators, requests through all of them
/// at once (issue 19): distinct counters, strictly increasing per originator in allocation order; with a replica
/// killed (`kill -9`) or the database restarted mid-run, zero repeats and every failure reported to its client.
@Suite(.serialized) struct ServerReplicaTests {
    enum Fault { case none, killReplica, restartDatabase }

    struct Outcome {
        /// The test's folder (the response bodies are in it): kept until the outcome is checked.
        let workspace: Workspace
        var transfers: [[CurlBatch.Transfer]]
        var log: [(originator: String, counter: UInt64)]
        var finishedAtFault: Int
    }

    /// Runs `total` requests through 4 replicas (a quarter each, 8 connections per replica), the fault injected once
    /// `faultAt` of them have been answered; checks what every run must give, returns the rest to check.
    static func run(total: Int, fault: Fault, faultAt: Double = 0.3, rate: String? = nil) throws -> Outcome {
        let url = try PostgresTestCluster.database("replicas")
        let workspace = try Workspace()
        try workspace.makeTestPKI(parties: 5, seed: "replicas")
        let requests = (1...5).map { workspace.path("pki/requests/ts\($0)-immediate.xml") }
        var replicas = [ServerProcess]()
        for k in 0..<4 {
            replicas.append(try ServerProcess(["--parties", workspace.path("pki/parties.toml"), "--counter-store", url,
                                               "--listen", "127.0.0.1:0", "--log-level", "warning"], in: workspace, name: "replica\(k)"))
        }
        defer { for replica in replicas { replica.stop() } }
        // Each replica gets a quarter of the requests, every originator in turn.
        var batches = [CurlBatch]()
        for (k, replica) in replicas.enumerated() {
            let mine = (0..<(total / 4)).map { requests[($0 * 4 + k) % 5] }
            batches.append(try CurlBatch(url: replica.url + "/v1/sign", requests: mine, parallel: 8, rate: rate,
                                         directory: workspace.path("load\(k)")))
        }
        var finishedAtFault = 0
        if fault != .none {
            let deadline = Date().addingTimeInterval(120)
            while Date() < deadline, batches.reduce(0, { $0 + $1.finished }) < Int(Double(total) * faultAt) { usleep(20_000) }
            finishedAtFault = batches.reduce(0) { $0 + $1.finished }
            switch fault {
            case .none: break
            case .killReplica: replicas[3].signal(SIGKILL)
            case .restartDatabase: try PostgresTestCluster.restart()
            }
        }
        let transfers = batches.map { $0.wait() }
        let log = try ServerPostgresTests.allocationLog(url)
        // Every replica still running is ready (after a restart of the database: reconnected by itself).
        for replica in replicas where replica.process.isRunning {
            try waitFor { try http("GET", replica.url + "/readyz").status == 200 }
        }

        // The database's log: one sequence per originator, strictly increasing in allocation order, nothing twice.
        var last = [String: UInt64]()
        var decreasing = 0
        for entry in log {
            if let previous = last[entry.originator], entry.counter <= previous { decreasing += 1 }
            last[entry.originator] = entry.counter
        }
        #expect(decreasing == 0, "counters not strictly increasing per originator in allocation order: \(decreasing)")
        #expect(Set(log.map { "\($0.originator):\($0.counter)" }).count == log.count, "a counter was allocated twice")
        #expect(last.count == 5, "five originators")

        // Every complete 200 carries a signed request whose counter the database allocated, and no two carry the same.
        let logged = Set(log.map { "\($0.originator):\($0.counter)" })
        var signed = [String]()
        var unreadable = 0
        for transfer in transfers.joined() where transfer.succeeded {
            let body = transfer.body.utf8String
            guard let start = body.range(of: "<sr:RequestID>"), let end = body.range(of: "</sr:RequestID>", range: start.upperBound..<body.endIndex),
                let id = try? RequestID(parsing: String(body[start.upperBound..<end.lowerBound]))
            else {
                unreadable += 1
                continue
            }
            signed.append("\(id.businessOriginator):\(id.counter)")
        }
        #expect(unreadable == 0, "a 200 without a signed request")
        #expect(Set(signed).count == signed.count, "two 200 answers carry the same RequestID: \(signed.count - Set(signed).count) repeats")
        #expect(Set(signed).isSubset(of: logged), "a signed counter is missing from the database's allocation log")
        // Every request got an answer or an error of its own: none is lost.
        #expect(transfers.map(\.count) == Array(repeating: total / 4, count: 4))
        return Outcome(workspace: workspace, transfers: transfers, log: log, finishedAtFault: finishedAtFault)
    }

    @Test(.postgresCluster(.shared)) func fourReplicasShareOneSequenceForTwentyThousandRequests() throws {
        let started = Date()
        let outcome = try Self.run(total: 20_000, fault: .none)
        let all = outcome.transfers.joined()
        let failures = all.filter { !$0.succeeded }
        #expect(failures.count == 0, "\(failures.count) failed, e.g. \(failures.prefix(3).map { "\($0.status)/\($0.curlExit): \($0.body.utf8String.prefix(200))" })")
        #expect(all.filter(\.succeeded).count == 20_000)
        #expect(outcome.log.count == 20_000, "one allocation per signed request (--counter-block 1)")
        print("fourReplicasShareOneSequenceForTwentyThousandRequests: 20,000 requests in \(Int(Date().timeIntervalSince(started))) s")
    }

    @Test(.postgresCluster(.shared)) func aReplicaKilledMidRunNeverCausesARepeatAndItsClientsSeeTheFailure() throws {
        let outcome = try Self.run(total: 20_000, fault: .killReplica)
        // The three others answered every request with a signed one.
        for k in 0..<3 {
            let failures = outcome.transfers[k].filter { !$0.succeeded }
            #expect(failures.count == 0, "replica \(k): \(failures.count) failed")
        }
        // The killed one's clients: answers before the kill, then connection errors (never an answer cut short
        // taken for a success).
        let killed = outcome.transfers[3]
        let failed = killed.filter { !$0.succeeded }
        #expect(failed.count > 0)
        #expect(failed.allSatisfy { $0.curlExit != 0 && $0.status == 0 }, "\(failed.count) failed, e.g. \(failed.prefix(3).map { "\($0.status)/\($0.curlExit)" })")
        #expect(killed.filter(\.succeeded).count > 0)
    }

    @Test(.postgresCluster(.exclusive)) func aDatabaseRestartMidRunNeverCausesARepeatAndEveryFailureIsA503() throws {
        // Started at a bounded rate, so that the run goes on well past the restart.
        let outcome = try Self.run(total: 20_000, fault: .restartDatabase, faultAt: 0.25, rate: "300/s")
        let all = Array(outcome.transfers.joined())
        let failures = all.filter { !$0.succeeded }
        // Every failure is the server's own answer: 503, counter store unavailable (problem+json), nothing signed.
        let other = failures.filter { f in
            f.status != 503 || f.curlExit != 0
                || ((try? JSONSerialization.jsonObject(with: Data(f.body))) as? [String: Any])?["kind"] as? String != "unavailable"
        }
        #expect(other.count == 0, "\(other.count) other failures, e.g. \(other.prefix(3).map { "\($0.status)/\($0.curlExit): \($0.body.utf8String.prefix(200))" })")
        // Signing went on after the restart, without a step by anyone: more was signed than before it.
        let succeeded = all.filter(\.succeeded).count
        #expect(succeeded > outcome.finishedAtFault + 1_000, "\(succeeded) signed, \(outcome.finishedAtFault) answered before the restart")
        print("aDatabaseRestartMidRun: \(succeeded) signed, \(failures.count) answered 503 around the restart")
    }
}
