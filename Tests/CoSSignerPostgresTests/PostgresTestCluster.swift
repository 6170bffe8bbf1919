import CoSSigner
import CoSSignerTesting
import CoSSignerTestSupport
import Foundation
import Testing

/// The private PostgreSQL cluster of the tests (`Scripts/postgres-cluster`): started once per test process (and
/// by `.ci/run` before the tests), one database per test. If it cannot start, every test that needs it fails.
enum PostgresTestCluster {
    static let script = TestPaths.repository("Scripts/postgres-cluster")

    /// Starts the cluster (idempotent).
    static func start() throws {
        let result = try TestProcess.run(script, ["start"])
        guard result.status == 0 else {
            Issue.record("the private PostgreSQL cluster did not start: \(result.stderr)")
            throw ClusterUnavailable(reason: result.stderr)
        }
    }

    /// A new, empty database; its superuser URL.
    static func database(_ prefix: String) throws -> String {
        try start()
        let name = "\(prefix)_\(UUID().uuidString.prefix(8).lowercased())"
        let result = try TestProcess.run(script, ["createdb", name])
        guard result.status == 0, let url = result.stdout.split(separator: "\n").last.map(String.init) else {
            Issue.record("cannot create database \(name): \(result.stderr)")
            throw ClusterUnavailable(reason: result.stderr)
        }
        return url
    }

    /// Restarts the cluster (fast shutdown: every committed transaction is kept).
    static func restart() throws {
        let result = try TestProcess.run(script, ["restart"])
        guard result.status == 0 else { throw ClusterUnavailable(reason: result.stderr) }
    }

    /// Runs SQL as the superuser in `database`; returns the rows (unaligned, `|`-separated).
    static func sql(_ database: String, _ statement: String) throws -> [String] {
        let name = database.split(separator: "/").last.map(String.init) ?? database
        let result = try TestProcess.run("psql", ["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", port, "-U", "postgres",
                                                  "-d", name, "-c", statement])
        guard result.status == 0 else { throw ClusterUnavailable(reason: result.stderr) }
        return result.stdout.split(separator: "\n").map(String.init)
    }

    static var port: String { ProcessInfo.processInfo.environment["COSSIGNER_PG_PORT"] ?? "55432" }
    /// The cluster's folder (its TLS CA is `tls/ca.pem`).
    static var directory: String { ProcessInfo.processInfo.environment["COSSIGNER_PG_DIR"] ?? "/dev/shm/cossigner-pg" }

    struct ClusterUnavailable: Error, CustomStringConvertible {
        let reason: String
        var description: String { "the private PostgreSQL cluster is not available: \(reason)" }
    }
}

/// The built `cos-signer`.
enum CLI {
    static let executable = TestPaths.product("cos-signer")

    @discardableResult
    static func run(_ arguments: [String], environment: [String: String]? = nil) throws -> ProcessResult {
        try TestProcess.run(executable, arguments, environment: environment)
    }
}
