import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The private PostgreSQL cluster of the tests (`Scripts/postgres-cluster`): started once per test process (and
/// by `.ci/run` before the tests), one database per test. If it cannot start, every test that needs it fails.
///
/// Every test that uses the cluster says so with ``PostgresClusterUse`` (`.postgresCluster(.shared)`); a test that
/// stops or restarts it takes it `.exclusive`, so that no other test (of any suite or target, in this process or
/// another) sees its database vanish mid-test.
public enum PostgresTestCluster {
    public static let script = TestPaths.repository("Scripts/postgres-cluster")

    /// Starts the cluster (idempotent).
    public static func start() throws {
        let result = try TestProcess.run(script, ["start"])
        guard result.status == 0 else {
            Issue.record("the private PostgreSQL cluster did not start: \(result.stderr)")
            throw ClusterUnavailable(reason: result.stderr)
        }
    }

    /// A new, empty database; its superuser URL.
    public static func database(_ prefix: String) throws -> String {
        try start()
        let name = "\(prefix)_\(UUID().uuidString.prefix(8).lowercased())"
        let result = try TestProcess.run(script, ["createdb", name])
        guard result.status == 0, let url = result.stdout.split(separator: "\n").last.map(String.init) else {
            Issue.record("cannot create database \(name): \(result.stderr)")
            throw ClusterUnavailable(reason: result.stderr)
        }
        return url
    }

    /// Restarts the cluster (fast shutdown: every committed transaction is kept). Only under `.exclusive` use.
    public static func restart() throws {
        let result = try TestProcess.run(script, ["restart"])
        guard result.status == 0 else { throw ClusterUnavailable(reason: result.stderr) }
    }

    /// Stops the cluster (fast shutdown). Only under `.exclusive` use, and started again (``start()``) before the
    /// test ends.
    public static func stop() throws {
        let result = try TestProcess.run(script, ["stop"])
        guard result.status == 0 else { throw ClusterUnavailable(reason: result.stderr) }
    }

    /// Runs SQL as the superuser in `database`; returns the rows (unaligned, `|`-separated).
    public static func sql(_ database: String, _ statement: String) throws -> [String] {
        let name = database.split(separator: "/").last.map(String.init) ?? database
        let result = try TestProcess.run("psql", ["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", port, "-U", "postgres",
                                                  "-d", name, "-c", statement])
        guard result.status == 0 else { throw ClusterUnavailable(reason: result.stderr) }
        return result.stdout.split(separator: "\n").map(String.init)
    }

    public static var port: String { ProcessInfo.processInfo.environment["COSSIGNER_PG_PORT"] ?? "55432" }
    /// The cluster's folder (its TLS CA is `tls/ca.pem`).
    public static var directory: String { ProcessInfo.processInfo.environment["COSSIGNER_PG_DIR"] ?? "/dev/shm/cossigner-pg" }

    public struct ClusterUnavailable: Error, CustomStringConvertible {
        public let reason: String
        public init(reason: String) { self.reason = reason }
        public var description: String { "the private PostgreSQL cluster is not available: \(reason)" }
    }
}

/// A test's use of the shared cluster: `.shared` (it needs the cluster to stay up) or `.exclusive` (it stops or
/// restarts it). A lock file beside the cluster's folder (`flock`, so it holds across suites, targets and
/// processes): shared uses run together; an exclusive one runs alone. Waiting polls, so no thread is held.
public struct PostgresClusterUse: TestTrait, TestScoping {
    public enum Mode: Sendable { case shared, exclusive }
    public let mode: Mode

    public func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        let path = PostgresTestCluster.directory + ".tests.lock"
        let fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o666)
        guard fd >= 0 else {
            Issue.record("cannot open the cluster's test lock \(path): errno \(errno)")
            throw PostgresTestCluster.ClusterUnavailable(reason: "lock file \(path)")
        }
        defer { close(fd) }
        let operation = (mode == .shared ? LOCK_SH : LOCK_EX) | LOCK_NB
        while flock(fd, operation) != 0 {
            try await Task.sleep(for: .milliseconds(50))
        }
        defer { flock(fd, LOCK_UN) }
        try await function()
    }
}

extension Trait where Self == PostgresClusterUse {
    /// This test uses the private PostgreSQL cluster: `.shared` (needs it up) or `.exclusive` (stops or restarts it).
    public static func postgresCluster(_ mode: PostgresClusterUse.Mode) -> Self { PostgresClusterUse(mode: mode) }
}
