import CoSSigner
import CoSSignerTesting
import CoSSignerPostgres
import CoSSignerTestSupport
import Foundation
import Testing

/// RequestID counters in PostgreSQL against a real private cluster: one atomic statement per block, strictly
/// increasing per originator across processes, never repeated, above the time floor; failures reported, never a
/// repeat, reconnection by itself.
@Suite(.serialized) struct PostgresCounterStoreTests {
    static func store(_ url: String, password: String? = nil) throws -> PostgresCounterStore {
        try PostgresCounterStore(location: try PostgresCounterStore.Location(url: url), password: password)
    }

    static let alice = try! EUI64(parsing: "90-B3-D5-1F-3F-01-00-00")
    static let bob = try! EUI64(parsing: "90-B3-D5-1F-3F-02-00-00")

    @Test(.postgresCluster(.shared)) func blocksAreStrictlyIncreasingAboveTheFloorAndLogged() throws {
        let url = try PostgresTestCluster.database("blocks")
        let store = try Self.store(url)
        #expect(store.description == url)
        #expect(try store.reserve(originator: Self.alice, count: 1, floor: 1) == 1...1)
        #expect(try store.reserve(originator: Self.alice, count: 3, floor: 1) == 2...4)
        // The floor moves the sequence up, never down.
        #expect(try store.reserve(originator: Self.alice, count: 1, floor: 1_000) == 1_000...1_000)
        #expect(try store.reserve(originator: Self.alice, count: 2, floor: 10) == 1_001...1_002)
        // Per originator.
        #expect(try store.reserve(originator: Self.bob, count: 1, floor: 5) == 5...5)
        // One row per originator, a schema version row, and the log of every block in allocation order.
        #expect(try PostgresTestCluster.sql(url, "SELECT originator || ' ' || next FROM cos_signer_counters ORDER BY originator")
                    == ["90-B3-D5-1F-3F-01-00-00 1003", "90-B3-D5-1F-3F-02-00-00 6"])
        #expect(try PostgresTestCluster.sql(url, "SELECT version FROM cos_signer_schema") == ["1"])
        let log = try store.allocationLog()
        #expect(log.map { "\($0.originator) \($0.first)-\($0.last)" } == [
            "90-B3-D5-1F-3F-01-00-00 1-1", "90-B3-D5-1F-3F-01-00-00 2-4", "90-B3-D5-1F-3F-01-00-00 1000-1000",
            "90-B3-D5-1F-3F-01-00-00 1001-1002", "90-B3-D5-1F-3F-02-00-00 5-5",
        ])
        // A second store (another process) continues the same sequence and does not recreate the tables.
        let other = try Self.store(url)
        #expect(try other.reserve(originator: Self.alice, count: 1, floor: 1) == 1_003...1_003)
        // Near 2^64: the last counter, then exhausted (the row's CHECK refuses passing 2^64).
        #expect(try store.reserve(originator: Self.bob, count: 1, floor: UInt64.max) == UInt64.max...UInt64.max)
        let exhausted = try #require(#expect(throws: CounterStoreError.self) { try store.reserve(originator: Self.bob, count: 1, floor: 1) })
        #expect(exhausted.kind == .exhausted)
    }

    @Test(.postgresCluster(.shared)) func aSchemaOfAnotherVersionIsRefusedNotOverwritten() throws {
        let url = try PostgresTestCluster.database("schema")
        _ = try PostgresTestCluster.sql(url, "CREATE TABLE cos_signer_schema (version integer NOT NULL); INSERT INTO cos_signer_schema VALUES (2)")
        let error = try #require(#expect(throws: CounterStoreError.self) { try Self.store(url).reserve(originator: Self.alice, count: 1, floor: 1) })
        #expect(error.kind == .corrupt && error.reason.contains("version 2"), "\(error)")
        #expect(try PostgresTestCluster.sql(url, "SELECT version FROM cos_signer_schema") == ["2"])
    }

    @Test func urlsAreCheckedAndNeverCarryAPassword() throws {
        let good = try PostgresCounterStore.Location(url: "postgresql://signer@db.example:6543/counters?sslmode=verify-full&sslrootcert=/etc/ca.pem")
        #expect(good.host == "db.example" && good.port == 6543 && good.user == "signer" && good.database == "counters")
        #expect(good.tls == .verifyFull && good.rootCertificatePath == "/etc/ca.pem")
        #expect(good.description == "postgresql://signer@db.example:6543/counters?sslmode=verify-full")
        #expect(try PostgresCounterStore.Location(url: "postgres://u@h/d").port == 5432)
        let refused: [(String, String)] = [
            ("postgresql://signer:s3cret@h/d", "the URL holds a password"),
            ("postgresql://h/d", "names no user"),
            ("postgresql://u@h/", "names no database"),
            ("postgresql://u@h/d?sslmode=maybe", "sslmode must be"),
            ("postgresql://u@h/d?sslmode=verify-full", "needs sslrootcert"),
            ("postgresql://u@h/d?password=x", "unknown URL parameter 'password'"),
            ("mysql://u@h/d", "not a postgresql://"),
        ]
        for (url, reason) in refused {
            let error = try #require(#expect(throws: CounterStoreError.self) { try PostgresCounterStore.Location(url: url) })
            #expect(error.reason.contains(reason), "\(url): \(error)")
            #expect(!error.description.contains("s3cret"))
        }
    }

    @Test(.postgresCluster(.shared)) func passwordsComeFromTheEnvironmentOrAPrivateFileNeverTheCommandLine() throws {
        let url = try PostgresTestCluster.database("password")
        let name = url.split(separator: "/").last.map(String.init) ?? ""
        let passwordURL = "postgresql://cossigner_password@127.0.0.1:\(PostgresTestCluster.port)/\(name)"
        let secret = "cos-signer test password"
        let work = try SigningWork(parties: 1, documents: 1)
        defer { work.remove() }
        let base = work.signArguments(store: passwordURL) + ["-o", work.path("out.xml"), work.inputs[0]]
        // PGPASSWORD.
        let env = try CLI.run(base, environment: ["PGPASSWORD": secret])
        #expect(env.status == 0, "\(env.stderr)")
        // A password file, owner-only; readable by others is refused like a key file.
        let file = work.path("pg.pass")
        try Data((secret + "\n").utf8).write(to: URL(fileURLWithPath: file))
        chmod(file, 0o600)
        let fromFile = try CLI.run(work.signArguments(store: passwordURL, passwordFile: file) + ["-o", work.path("out2.xml"), work.inputs[0]],
                                   environment: ["PGPASSWORD": ""])
        #expect(fromFile.status == 0, "\(fromFile.stderr)")
        chmod(file, 0o644)
        let open = try CLI.run(work.signArguments(store: passwordURL, passwordFile: file) + [work.inputs[0]])
        #expect(open.status == 3 && open.stderr.contains("password file") && open.stderr.contains("chmod 600"), "\(open.stderr)")
        // A wrong password: counter store unavailable (exit 3), nothing signed, no password printed.
        let wrong = try CLI.run(base.dropLast(3) + ["-o", work.path("wrong.xml"), work.inputs[0]], environment: ["PGPASSWORD": "not it"])
        #expect(wrong.status == 3 && wrong.stderr.contains("counter store unavailable"), "\(wrong.stderr)")
        #expect(!wrong.stderr.contains("not it") && !FileManager.default.fileExists(atPath: work.path("wrong.xml")))
        // In the URL: refused before anything runs.
        let inURL = try CLI.run(work.signArguments(store: "postgresql://cossigner_password:\(secret.replacingOccurrences(of: " ", with: "%20"))@127.0.0.1:\(PostgresTestCluster.port)/\(name)")
                                + [work.inputs[0]])
        #expect(inURL.status != 0 && inURL.stderr.contains("the URL holds a password") && !inURL.stderr.contains("test%20password"), "\(inURL.stderr)")
    }

    @Test(.postgresCluster(.shared)) func tlsToTheDatabaseWhenAsked() throws {
        let url = try PostgresTestCluster.database("tls")
        let ca = "\(PostgresTestCluster.directory)/tls/ca.pem"
        #expect(try Self.store(url + "?sslmode=require").reserve(originator: Self.alice, count: 1, floor: 1) == 1...1)
        #expect(try Self.store(url + "?sslmode=verify-full&sslrootcert=\(ca)").reserve(originator: Self.alice, count: 1, floor: 1) == 2...2)
        // Another CA: the server's certificate does not verify, nothing is allocated.
        let otherCA = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: otherCA) }
        let otherPath = otherCA.appendingPathComponent("ca.pem").path
        let made = try TestProcess.run("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                                                   "-subj", "/CN=other", "-keyout", otherCA.appendingPathComponent("ca.key").path, "-out", otherPath])
        try #require(made.status == 0)
        let error = try #require(#expect(throws: CounterStoreError.self) {
            try Self.store(url + "?sslmode=verify-full&sslrootcert=\(otherPath)").reserve(originator: Self.alice, count: 1, floor: 1)
        })
        #expect(error.kind == .unavailable)
        #expect(try Self.store(url).reserve(originator: Self.alice, count: 1, floor: 1) == 3...3)
    }

    @Test(.postgresCluster(.exclusive)) func anUnreachableDatabaseSignsNothingAndTheStoreReconnectsWhenItReturns() throws {
        let work = try SigningWork(parties: 1, documents: 1)
        defer { work.remove() }
        // Nothing listens on this port.
        let down = "postgresql://postgres@127.0.0.1:1/none"
        let r = try CLI.run(work.signArguments(store: down) + ["-o", work.path("out.xml"), work.inputs[0]])
        #expect(r.status == 3, "\(r.stderr)")
        #expect(r.stderr.contains("counter store unavailable") && r.stderr.contains("postgresql://postgres@127.0.0.1:1/none"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: work.path("out.xml")))
        // The library: the one error type says unavailable.
        let registry = try PartyRegistry(contentsOfFile: work.path("pki/parties.toml"), loader: .files)
        let signer = try SupplierSigner(registry: registry, counters: .backend(try Self.store(down)))
        let error = try #require(#expect(throws: CoSSignerError.self) { try signer.sign(xml: try Data(contentsOf: URL(fileURLWithPath: work.inputs[0])).map { $0 }) })
        #expect(error.kind == .unavailable, "\(error)")
        // One store across a restart of the database: the next call after the outage reconnects by itself.
        let url = try PostgresTestCluster.database("reconnect")
        let store = try Self.store(url)
        let before = try store.reserve(originator: Self.alice, count: 1, floor: 1)
        try PostgresTestCluster.restart()
        var after: ClosedRange<UInt64>?
        for _ in 0..<50 where after == nil {
            after = try? store.reserve(originator: Self.alice, count: 1, floor: 1)
            if after == nil { Thread.sleep(forTimeInterval: 0.1) }
        }
        let next = try #require(after)
        #expect(next.lowerBound > before.upperBound)
        #expect(store.connectionsOpened >= 2)
    }
}
