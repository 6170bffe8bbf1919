import CoSSigner
import Foundation
import Logging

/// Everything `cos-signer-server` is started with (its command line, checked).
public struct ServerConfiguration: Sendable {
    /// The parties registry (TOML), reloaded on SIGHUP.
    public var partiesPath: String
    /// Registration data (CSV), reloaded with the registry.
    public var registrationPath: String?
    /// The durable counter store: a file, or a PostgreSQL database shared by replicas
    /// (`postgresql://USER@HOST:PORT/DATABASE[?sslmode=…]`); nil: `time` counters (strictly increasing in this
    /// process, not durable).
    public var counterStorePath: String?
    /// The database password for a `postgresql://` counter store: the first line of this file (owner-only); without
    /// it, `PGPASSWORD`.
    public var counterStorePasswordFile: String?
    /// Counters reserved from the store at a time; nil: 1 from a database (counters ordered across replicas), 100
    /// from a file.
    public var counterBlockSize: UInt64?
    /// Where to listen.
    public var listen: ListenAddress
    /// TLS: the server's certificate chain (PEM), its key (PEM) and the CA(s) that issue client certificates (PEM).
    public var tls: TLSFiles?
    /// Which client certificate subject may sign for which parties (TOML), reloaded with the registry.
    public var clientsPath: String?
    /// The largest request body accepted, in bytes (413 above).
    public var maxBodyBytes: Int = 1 << 20
    /// The time a request may take, from its head to its response (408 while its body is still arriving, 503 after).
    public var requestTimeout: Duration = .seconds(30)
    /// The most signing and verifying requests handled at once (503 above); operations routes are not counted.
    public var maxConcurrentRequests: Int = 64
    /// The time a graceful shutdown (SIGTERM) may take before requests still running are cancelled.
    public var shutdownTimeout: Duration = .seconds(60)
    /// The log level (logs are JSON lines on standard error).
    public var logLevel: Logger.Level = .info
    /// The PKCS#11 module of the registry's token keys (`signing_key = "pkcs11:…"`): wins over the registry's
    /// `pkcs11_module`, as `cos-signer --pkcs11-module` does.
    public var pkcs11Module: String?

    /// The three TLS files, given together.
    public struct TLSFiles: Sendable {
        public var certificateChain: String
        public var privateKey: String
        public var clientCA: String
        public init(certificateChain: String, privateKey: String, clientCA: String) {
            self.certificateChain = certificateChain
            self.privateKey = privateKey
            self.clientCA = clientCA
        }
    }

    public init(partiesPath: String, listen: ListenAddress) {
        self.partiesPath = partiesPath
        self.listen = listen
    }

    /// Whether the counter store is a PostgreSQL database (`postgresql://` or `postgres://`) rather than a file.
    public var usesDatabaseCounterStore: Bool {
        counterStorePath.map { $0.hasPrefix("postgresql://") || $0.hasPrefix("postgres://") } ?? false
    }

    /// The counters reserved at a time: ``counterBlockSize``, or its default for the kind of store.
    public var effectiveCounterBlockSize: UInt64 {
        counterBlockSize ?? (usesDatabaseCounterStore ? 1 : 100)
    }

    /// The counter policy requests signed with `preserveCounter: false` get: the durable file store when one is
    /// given, else `time`. (A database store is opened by ``ServerCounters/init(configuration:)``.)
    public var counterPolicy: CounterPolicy {
        counterStorePath.map { .store(path: $0) } ?? .time
    }

    /// Why the server may not start so, if it may not: off loopback, TLS with client certificates is required;
    /// a clients file needs TLS (it names client certificate subjects).
    public func startProblem() -> String? {
        if !listen.isLoopback && tls == nil {
            return "listening on \(listen) (not a loopback address) needs TLS with client certificates: give --tls-cert, --tls-key and --client-ca (plain HTTP is allowed on 127.0.0.1, ::1 and localhost only, for development)"
        }
        if clientsPath != nil && tls == nil {
            return "--clients maps client certificate subjects to parties, so it needs TLS with client certificates (--tls-cert, --tls-key, --client-ca)"
        }
        if counterStorePasswordFile != nil && !usesDatabaseCounterStore {
            return "--counter-store-password-file is only used with a postgresql:// --counter-store"
        }
        if let counterBlockSize, counterBlockSize < 1 { return "--counter-block must be at least 1" }
        if maxBodyBytes < 1 { return "--max-body-bytes must be at least 1" }
        if maxConcurrentRequests < 1 { return "--max-concurrent must be at least 1" }
        if requestTimeout <= .zero { return "--request-timeout must be more than 0" }
        return nil
    }
}

/// `HOST:PORT` (`[v6]:PORT` for an IPv6 address); port 0 picks a free port (the server prints the one it bound).
public struct ListenAddress: Sendable, CustomStringConvertible, Equatable {
    public let host: String
    public let port: Int

    /// Parses `HOST:PORT`.
    /// - Throws: a message when the text is not of that form.
    public init(parsing text: String) throws(ServerStartError) {
        var host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw ServerStartError("--listen \(text): give [IPv6]:PORT, e.g. [::1]:8080")
            }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                throw ServerStartError("--listen \(text): give HOST:PORT, e.g. 127.0.0.1:8080")
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") { throw ServerStartError("--listen \(text): write an IPv6 address in brackets, e.g. [::1]:8080") }
        }
        if host.isEmpty { host = "" }
        guard !host.isEmpty, let port = Int(portText), (0...65535).contains(port) else {
            throw ServerStartError("--listen \(text): give HOST:PORT with a port from 0 to 65535")
        }
        self.init(host: String(host), port: port)
    }

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Whether the host is a loopback address or name: 127.0.0.0/8, ::1, localhost.
    public var isLoopback: Bool {
        let h = host.lowercased()
        if h == "localhost" || h == "::1" || h == "0:0:0:0:0:0:0:1" { return true }
        let octets = h.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Why the server did not start (a configuration or file problem), with the exit code it gives.
public struct ServerStartError: Error, CustomStringConvertible, Sendable {
    public let message: String
    /// 1 usage or configuration, 2 input (a file unreadable or malformed), 3 key or certificate.
    public let exitCode: Int32

    public init(_ message: String, exitCode: Int32 = 1) {
        self.message = message
        self.exitCode = exitCode
    }

    public var description: String { message }
}
