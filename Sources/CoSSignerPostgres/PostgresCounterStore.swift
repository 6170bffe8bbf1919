import CoSSigner
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO

/// RequestID counters in PostgreSQL, shared by every replica and process that uses the same database: each block of
/// counters comes from one atomic statement, so counters are strictly increasing per Business Originator in
/// allocation order across all of them, never repeated, and above the floor (the time of the request in
/// milliseconds) the caller gives.
///
/// ## Tables (created on first use)
/// ```sql
/// CREATE TABLE cos_signer_schema (version integer NOT NULL);          -- one row: 1
/// CREATE TABLE cos_signer_counters (                                   -- one row per Business Originator
///     originator text PRIMARY KEY CHECK (originator ~ '^[0-9A-F]{2}(-[0-9A-F]{2}){7}$'),
///     next numeric(20,0) NOT NULL CHECK (next >= 1 AND next <= 18446744073709551616));
/// CREATE TABLE cos_signer_counter_log (                                -- every block handed out, in order
///     id bigserial PRIMARY KEY, originator text NOT NULL, first numeric(20,0) NOT NULL,
///     last numeric(20,0) NOT NULL, allocated_at timestamptz NOT NULL DEFAULT now());
/// ```
/// `next` is the originator's next free counter (2^64 once every counter has been used). A block of `count` is
/// taken with `next = greatest(next, floor) + count … RETURNING`, in the same statement that logs it.
///
/// ## Failures
/// A database that cannot be reached, or that fails mid-statement, gives ``CounterStoreError/Kind/unavailable``
/// (`cos-signer` exit 3, "counter store unavailable"): nothing is signed. A statement whose answer was lost may
/// have committed, so a failure can leave a gap, never a repeat. The next call reconnects by itself.
public final class PostgresCounterStore: CounterStoreBackend, @unchecked Sendable {
    /// Where the database is, from a `postgresql://USER@HOST:PORT/DATABASE?sslmode=…` URL.
    public struct Location: Sendable, Equatable, CustomStringConvertible {
        /// How the connection is protected.
        public enum TLSMode: String, Sendable {
            /// No TLS (the default, for a database on the host or a private network).
            case disable
            /// TLS, without checking the server's certificate.
            case require
            /// TLS; the server's certificate must chain to `sslrootcert` and name the host (when the host is a
            /// name; for an address, the chain alone is verified).
            case verifyFull = "verify-full"
        }

        public var host: String
        public var port: Int
        public var user: String
        public var database: String
        public var tls: TLSMode
        /// The CA certificates (PEM) the server's certificate must chain to (`verify-full`).
        public var rootCertificatePath: String?

        /// Parses `postgresql://USER@HOST[:PORT]/DATABASE[?sslmode=disable|require|verify-full&sslrootcert=FILE]`
        /// (`postgres://` too). A password in the URL is refused: it would be on the command line.
        /// - Throws: ``CounterStoreError`` (``CounterStoreError/Kind/invalidRequest``) naming what is wrong.
        public init(url: String) throws(CounterStoreError) {
            func refuse(_ reason: String) -> CounterStoreError {
                CounterStoreError(kind: .invalidRequest, path: Self.redacted(url), reason: reason)
            }
            guard let components = URLComponents(string: url), let scheme = components.scheme,
                scheme == "postgresql" || scheme == "postgres"
            else { throw refuse("not a postgresql://USER@HOST:PORT/DATABASE URL") }
            guard components.password == nil else {
                throw refuse("the URL holds a password: give it in PGPASSWORD or a password file, never on the command line")
            }
            guard let user = components.user, !user.isEmpty else { throw refuse("the URL names no user (postgresql://USER@HOST/DATABASE)") }
            guard let host = components.host, !host.isEmpty else { throw refuse("the URL names no host") }
            let database = String(components.path.drop { $0 == "/" })
            guard !database.isEmpty, !database.contains("/") else { throw refuse("the URL names no database (postgresql://USER@HOST/DATABASE)") }
            self.user = user
            self.host = host
            self.port = components.port ?? 5432
            self.database = database
            var tls = TLSMode.disable
            var root: String?
            for item in components.queryItems ?? [] {
                switch item.name {
                case "sslmode":
                    guard let value = item.value, let mode = TLSMode(rawValue: value) else {
                        throw refuse("sslmode must be disable, require or verify-full, got '\(item.value ?? "")'")
                    }
                    tls = mode
                case "sslrootcert":
                    guard let value = item.value, !value.isEmpty else { throw refuse("sslrootcert needs a file") }
                    root = value
                default:
                    throw refuse("unknown URL parameter '\(item.name)' (known: sslmode, sslrootcert)")
                }
            }
            if tls == .verifyFull, root == nil { throw refuse("sslmode=verify-full needs sslrootcert=FILE (the CA certificates)") }
            self.tls = tls
            rootCertificatePath = root
        }

        /// `postgresql://USER@HOST:PORT/DATABASE` (with `?sslmode=…` when TLS is used): never a password.
        public var description: String {
            "postgresql://\(user)@\(host):\(port)/\(database)" + (tls == .disable ? "" : "?sslmode=\(tls.rawValue)")
        }

        /// The URL without anything after `://` up to `@` that could be a password, for messages about a URL
        /// that did not parse.
        static func redacted(_ url: String) -> String {
            guard let scheme = url.range(of: "://"), let at = url.range(of: "@", range: scheme.upperBound..<url.endIndex) else { return url }
            let credentials = url[scheme.upperBound..<at.lowerBound]
            guard let colon = credentials.firstIndex(of: ":") else { return url }
            return String(url[..<colon]) + ":***" + String(url[at.lowerBound...])
        }
    }

    /// Whether `text` names a database store (`postgresql://` or `postgres://`) rather than a counter file.
    public static func isURL(_ text: String) -> Bool {
        text.hasPrefix("postgresql://") || text.hasPrefix("postgres://")
    }

    /// The database.
    public let location: Location
    /// How long a connection attempt or a statement may take before the store is reported unavailable.
    public let timeout: TimeAmount

    private let password: String?
    private let group: MultiThreadedEventLoopGroup
    private let logger: Logger
    private let tlsContext: NIOSSLContext?
    private let lock = NSLock()
    /// The open connection (reopened after a failure) and whether the tables are known to exist; guarded by `lock`.
    private var connection: PostgresConnection?
    private var schemaReady = false
    private var connectionCount = 0

    /// The schema version this code writes and reads.
    public static let schemaVersion = 1
    /// The largest `next` (every counter up to 2^64-1 used).
    static let exhausted = "18446744073709551616"

    /// Makes a store; nothing is connected until the first counter is asked for.
    /// - Parameters:
    ///   - location: the database.
    ///   - password: the password (from `PGPASSWORD` or a file; never the command line), if the server asks.
    ///   - timeout: the most a connection or a statement may take.
    /// - Throws: ``CounterStoreError`` when the TLS set-up cannot be made (an unreadable `sslrootcert`).
    public init(location: Location, password: String?, timeout: TimeAmount = .seconds(10)) throws(CounterStoreError) {
        self.location = location
        self.password = password
        self.timeout = timeout
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var logger = Logger(label: "cos-signer.counters.postgresql")
        logger.logLevel = .critical
        self.logger = logger
        switch location.tls {
        case .disable:
            tlsContext = nil
        case .require, .verifyFull:
            var configuration = TLSConfiguration.makeClientConfiguration()
            if location.tls == .require {
                configuration.certificateVerification = .none
            } else if let root = location.rootCertificatePath {
                configuration.certificateVerification = .fullVerification
                configuration.trustRoots = .file(root)
            }
            do {
                tlsContext = try NIOSSLContext(configuration: configuration)
            } catch {
                try? group.syncShutdownGracefully()
                throw CounterStoreError(kind: .invalidRequest, path: location.description,
                                        reason: "cannot set up TLS to the database: \(error)")
            }
        }
    }

    deinit {
        if let connection { try? connection.close().wait() }
        try? group.syncShutdownGracefully()
    }

    public var description: String { location.description }

    /// How many connections the store has opened (one, plus one per reconnection): for tests.
    public var connectionsOpened: Int { lock.withLock { connectionCount } }

    // MARK: CounterStoreBackend

    public func reserve(originator: EUI64, count: UInt64, floor: UInt64) throws(CounterStoreError) -> ClosedRange<UInt64> {
        guard count >= 1 else {
            throw CounterStoreError(kind: .invalidRequest, path: location.description, reason: "the count must be at least 1")
        }
        let first: String = try withConnection { connection throws(CounterStoreError) in
            let query: PostgresQuery = """
                WITH a AS (
                    INSERT INTO cos_signer_counters AS c (originator, next)
                    VALUES (\(originator.description), greatest(\(String(floor))::numeric, 1) + \(String(count))::numeric)
                    ON CONFLICT (originator) DO UPDATE SET next = greatest(c.next, \(String(floor))::numeric) + \(String(count))::numeric
                    RETURNING c.next - \(String(count))::numeric AS first
                ), logged AS (
                    INSERT INTO cos_signer_counter_log (originator, first, last)
                    SELECT \(originator.description), first, first + \(String(count))::numeric - 1 FROM a
                )
                SELECT first::text FROM a
                """
            let rows = try run(query, on: connection, what: "reserving counters for \(originator)")
            guard let row = rows.first, let text = try? row.decode(String.self) else {
                throw unavailable("the database returned no counter for \(originator)")
            }
            return text
        }
        guard let start = UInt64(first) else {
            throw CounterStoreError(kind: .corrupt, path: location.description, reason: "the database returned '\(first)', not a counter")
        }
        let (end, overflow) = start.addingReportingOverflow(count - 1)
        guard !overflow else {
            throw CounterStoreError(kind: .exhausted, path: location.description,
                                    reason: "\(count) counters for \(originator) from \(start) would pass 18446744073709551615 (2^64-1)")
        }
        return start...end
    }

    public func checkAvailable() throws(CounterStoreError) {
        try withConnection { connection throws(CounterStoreError) in
            _ = try run("SELECT 1", on: connection, what: "checking the database")
        }
    }

    /// The blocks handed out, in allocation order (the log table): for tests and audits.
    public func allocationLog() throws(CounterStoreError) -> [(originator: String, first: String, last: String)] {
        try withConnection { connection throws(CounterStoreError) in
            let rows = try run("SELECT originator, first::text, last::text FROM cos_signer_counter_log ORDER BY id", on: connection,
                               what: "reading the allocation log")
            return rows.compactMap { row in
                guard let (originator, first, last) = try? row.decode((String, String, String).self) else { return nil }
                return (originator, first, last)
            }
        }
    }

    /// Closes the connection (the next call reconnects).
    public func disconnect() {
        lock.withLock {
            if let connection { try? connection.close().wait() }
            connection = nil
        }
    }

    // MARK: Connection

    /// Runs `body` on the open connection (opening it, and creating the tables, first if needed), one call at a
    /// time. A failure of the connection closes it, so that the next call reconnects.
    private func withConnection<R>(_ body: (PostgresConnection) throws(CounterStoreError) -> R) throws(CounterStoreError) -> R {
        lock.lock()
        defer { lock.unlock() }
        do {
            let connection = try openConnection()
            if !schemaReady {
                try createSchema(on: connection)
                schemaReady = true
            }
            return try body(connection)
        } catch {
            if error.kind == .unavailable {
                if let connection { _ = try? connection.close().wait() }
                connection = nil
                schemaReady = false
            }
            throw error
        }
    }

    private func openConnection() throws(CounterStoreError) -> PostgresConnection {
        if let connection, !connection.isClosed { return connection }
        connection = nil
        var configuration = PostgresConnection.Configuration(
            host: location.host, port: location.port, username: location.user, password: password, database: location.database,
            tls: tlsContext.map { .require($0) } ?? .disable)
        configuration.options.connectTimeout = timeout
        // The name the certificate must carry (SNI takes names, not addresses: for an IP address the chain is
        // verified against sslrootcert).
        if location.tls == .verifyFull, !Self.isIPAddress(location.host) { configuration.options.tlsServerName = location.host }
        connectionCount += 1
        let future = PostgresConnection.connect(on: group.next(), configuration: configuration, id: connectionCount, logger: logger)
        do {
            let opened = try future.wait()
            connection = opened
            return opened
        } catch {
            throw unavailable("cannot connect: \(Self.describe(error))")
        }
    }

    private func createSchema(on connection: PostgresConnection) throws(CounterStoreError) {
        // Serialized across processes by an advisory lock, so that two replicas starting together do not race on
        // CREATE TABLE.
        let statements: [PostgresQuery] = [
            "BEGIN",
            "SELECT pg_advisory_xact_lock(726110623)",
            "CREATE TABLE IF NOT EXISTS cos_signer_schema (version integer NOT NULL)",
            """
            CREATE TABLE IF NOT EXISTS cos_signer_counters (
                originator text PRIMARY KEY CHECK (originator ~ '^[0-9A-F]{2}(-[0-9A-F]{2}){7}$'),
                next numeric(20,0) NOT NULL CHECK (next >= 1 AND next <= 18446744073709551616))
            """,
            """
            CREATE TABLE IF NOT EXISTS cos_signer_counter_log (
                id bigserial PRIMARY KEY, originator text NOT NULL, first numeric(20,0) NOT NULL,
                last numeric(20,0) NOT NULL, allocated_at timestamptz NOT NULL DEFAULT now())
            """,
            "INSERT INTO cos_signer_schema (version) SELECT \(Self.schemaVersion) WHERE NOT EXISTS (SELECT 1 FROM cos_signer_schema)",
            "COMMIT",
        ]
        for statement in statements {
            do {
                _ = try run(statement, on: connection, what: "creating the counter tables")
            } catch {
                _ = try? run("ROLLBACK", on: connection, what: "rolling back")
                throw error
            }
        }
        let rows = try run("SELECT version FROM cos_signer_schema", on: connection, what: "reading the schema version")
        let versions = rows.compactMap { try? $0.decode(Int.self) }
        guard versions == [Self.schemaVersion] else {
            throw CounterStoreError(kind: .corrupt, path: location.description,
                                    reason: "the table cos_signer_schema says version \(versions.map(String.init).joined(separator: ", ")), this program reads version \(Self.schemaVersion) only")
        }
    }

    /// Runs one statement and waits for its rows, at most ``timeout``.
    private func run(_ query: PostgresQuery, on connection: PostgresConnection, what: String) throws(CounterStoreError) -> [PostgresRow] {
        let eventLoop = connection.eventLoop
        let promise = eventLoop.makePromise(of: PostgresQueryResult.self)
        connection.query(query, logger: logger).cascade(to: promise)
        let timer = eventLoop.scheduleTask(in: timeout) {
            promise.fail(ChannelError.connectTimeout(self.timeout))
        }
        do {
            let result = try promise.futureResult.wait()
            timer.cancel()
            return result.rows
        } catch let error as PSQLError where error.code == .server {
            timer.cancel()
            let state = error.serverInfo?[.sqlState] ?? ""
            let message = error.serverInfo?[.message] ?? "\(error)"
            if state == "23514" {  // check_violation: next would pass 2^64
                throw CounterStoreError(kind: .exhausted, path: location.description,
                                        reason: "\(what): the counters would pass 18446744073709551615 (2^64-1)")
            }
            // An error the server reports about the statement (a broken schema, no privileges): the connection
            // itself is fine, but nothing was allocated.
            throw CounterStoreError(kind: .unavailable, path: location.description, reason: "\(what): the database refused (\(state)): \(message)")
        } catch {
            timer.cancel()
            throw unavailable("\(what): \(Self.describe(error))")
        }
    }

    /// Whether `host` is an IPv4 or IPv6 address literal.
    static func isIPAddress(_ host: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")), &v6) == 1
    }

    private func unavailable(_ reason: String) -> CounterStoreError {
        CounterStoreError(kind: .unavailable, path: location.description, reason: reason)
    }

    /// An error of the driver in words (never a password: the driver's errors do not carry one).
    static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] { return message }
            return "\(error.code)"
        }
        return "\(error)"
    }
}

extension PostgresCounterStore {
    /// The store named by `url` (`postgresql://USER@HOST:PORT/DATABASE[?sslmode=…]`), with its password from
    /// `passwordFile` (the first line; the file must be readable by its owner only, as a key file) or, without one,
    /// from `PGPASSWORD` in `environment`: the sources `cos-signer --counter-store` and `cos-signer-server
    /// --counter-store` share. Nothing is connected yet.
    /// - Throws: ``CounterStoreError`` (``CounterStoreError/Kind/invalidRequest``) for a URL that is not
    ///   acceptable; the password file's permission or read error (both name the file, never its content).
    public static func open(url: String, passwordFile: String?,
                            environment: [String: String] = ProcessInfo.processInfo.environment) throws -> PostgresCounterStore {
        let location = try Location(url: url)
        let password = try password(file: passwordFile, environment: environment)
        return try PostgresCounterStore(location: location, password: password)
    }

    /// The database password: the first line of `file` (owner-only), else `PGPASSWORD`, else nil.
    static func password(file: String?, environment: [String: String]) throws -> String? {
        guard let path = file else { return environment["PGPASSWORD"] }
        try KeyFilePolicy.strict.check(path, kind: .passwordFile)
        var bytes = try Files.read(path, maxBytes: 4096)
        defer { bytes.withUnsafeMutableBytes { raw in if let base = raw.baseAddress { memset(base, 0, raw.count) } } }
        var end = bytes.firstIndex(of: 0x0A) ?? bytes.count
        if end > 0, bytes[end - 1] == 0x0D { end -= 1 }
        return String(decoding: bytes[..<end], as: UTF8.self)
    }
}
