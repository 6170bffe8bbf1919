import ArgumentParser
import CoSSignerServer
import Foundation
import Logging

/// `cos-signer-server`: the signing service that adapters in any language call.
@main
@available(macOS 13, *)
struct CosSignerServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cos-signer-server",
        abstract: "Sign and verify DUIS 6.23 requests over HTTP: the DCC-tool-compatible API and /v1.",
        discussion: """
            Routes (described in openapi.yaml, served at /openapi.yaml):
              POST /sign, POST /verify                      the DCC Boxed signing tool's API (JSON, base64 messages)
              POST /v1/sign?mpid=TS1E                       XML in, signed XML out (CoS-Request-ID, CoS-Party, ...)
              POST /v1/requests/6.23                        the fields of 'cos-signer build' as JSON: built, checked, signed
              POST /v1/verify                               signed XML in, a JSON verdict out
              GET  /v1/parties                              parties, MPIDs, User IDs, certificate serials (no key material)
              GET  /healthz, /readyz, /metrics, /openapi.yaml

            Off loopback, TLS with client certificates is required (--tls-cert, --tls-key, --client-ca); --clients \
            maps client certificate subjects to the parties they may sign for. On 127.0.0.1, ::1 or localhost, plain \
            HTTP is allowed for development. With port 0 a free port is chosen; the server prints \
            'listening on http://HOST:PORT' on standard output once it accepts connections.

            Counters: a request signed with preserveCounter false (the DCC tool's default) gets its RequestID counter \
            from --counter-store: a FILE (durable, never repeats; one host), or a PostgreSQL database shared by \
            several replicas, postgresql://USER@HOST:PORT/DATABASE[?sslmode=require|verify-full&sslrootcert=CA.pem] \
            (password from PGPASSWORD or --counter-store-password-file, never in the URL; each counter from one \
            atomic statement, so strictly increasing per Business Originator across every replica with the default \
            --counter-block 1). Without --counter-store, counters are the time in milliseconds (strictly increasing \
            in this process, not durable). A database that cannot be reached: requests that need a counter get 503 \
            (nothing is signed), /readyz answers 503, and the server reconnects by itself when it returns.

            Token keys: a registry credential's signing_key may be a PKCS#11 URI (pkcs11:…); the module is the \
            registry's pkcs11_module, or --pkcs11-module, which wins. PINs come from each credential's pin_env or \
            pin_file, never the command line, and are never logged. SIGHUP finds the token keys again.

            Signals: SIGHUP reloads --parties, --registration and --clients (whole or nothing: a file that does not \
            load keeps the ones in use, and is logged); SIGTERM or SIGINT stops accepting connections, finishes the \
            requests in flight and exits 0. Logs are JSON lines on standard error.

            Examples:
              cos-signer testpki demo --seed demo
              cos-signer-server --parties demo/parties.toml --counter-store demo/counters.txt --listen 127.0.0.1:8080
              PGPASSWORD=… cos-signer-server --parties parties.toml --counter-store postgresql://signer@db:5432/counters \\
                --listen 127.0.0.1:8081
              cos-signer-server --parties parties.toml --counter-store /var/lib/cos-signer/counters.txt \\
                --listen 0.0.0.0:8443 --tls-cert server.pem --tls-key server.key.pem --client-ca adapters-ca.pem \\
                --clients clients.toml
            """
    )

    @Option(help: ArgumentHelp("Parties registry (TOML): each request's key is its Business Originator's credential.", valueName: "FILE"))
    var parties: String

    @Option(help: ArgumentHelp("Registration data (CSV: mpxn,mpid,effective_from): the party must be the one registered for the request's ImportMPxN.", valueName: "FILE"))
    var registration: String?

    @Option(help: ArgumentHelp("The durable RequestID counter store: a file (created if missing; file-locked, fsynced, never repeats) or a PostgreSQL database shared by replicas, postgresql://USER@HOST:PORT/DATABASE[?sslmode=require|verify-full&sslrootcert=CA.pem] (password from PGPASSWORD or --counter-store-password-file, never in the URL). Without it, counters are the time in milliseconds.", valueName: "FILE|URL"))
    var counterStore: String?

    @Option(help: ArgumentHelp("The database password for a postgresql:// counter store: the first line of this file (readable by its owner only). Default: the PGPASSWORD environment variable, if set.", valueName: "FILE"))
    var counterStorePasswordFile: String?

    @Option(help: ArgumentHelp("Counters reserved from the store at a time (default: 100 from a file, 1 from a database). Gaps after a restart, never repeats; above 1, a database's counters are unique and increasing per replica but no longer ordered across replicas.", valueName: "N"))
    var counterBlock: UInt64?

    @Option(name: .customLong("pkcs11-module"), help: ArgumentHelp("PKCS#11 module for the registry's token keys (signing_key = \"pkcs11:…\"); wins over its pkcs11_module, e.g. /usr/lib/softhsm/libsofthsm2.so.", valueName: "PATH"))
    var pkcs11Module: String?

    @Option(help: ArgumentHelp("Where to listen: HOST:PORT or [IPv6]:PORT; port 0 picks a free port.", valueName: "HOST:PORT"))
    var listen: String = "127.0.0.1:8080"

    @Option(help: ArgumentHelp("TLS: the server's certificate chain (PEM).", valueName: "FILE"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("TLS: the server's private key (PEM; mode 0600 or stricter).", valueName: "FILE"))
    var tlsKey: String?

    @Option(help: ArgumentHelp("TLS: the CA certificate(s) (PEM) that issue client certificates; a client without one is refused.", valueName: "FILE"))
    var clientCa: String?

    @Option(help: ArgumentHelp("Which client certificate subject may sign for which parties (TOML: [[client]] subject = \"CN=adapter-1,O=Supplier\", parties = [\"ts1\"]).", valueName: "FILE"))
    var clients: String?

    @Option(help: ArgumentHelp("The largest request body accepted (413 above).", valueName: "BYTES"))
    var maxBodyBytes: Int = 1 << 20

    @Option(help: ArgumentHelp("Seconds a request body may take to arrive (408 after).", valueName: "SECONDS"))
    var requestTimeout: Double = 30

    @Option(help: ArgumentHelp("The most signing and verifying requests at once (503 above).", valueName: "N"))
    var maxConcurrent: Int = 64

    @Option(help: ArgumentHelp("Seconds a graceful shutdown may take before requests still running are cancelled.", valueName: "SECONDS"))
    var shutdownTimeout: Double = 60

    @Option(help: ArgumentHelp("Log level: trace, debug, info, notice, warning, error, critical.", valueName: "LEVEL"))
    var logLevel: String = "info"

    func validate() throws {
        let tls = [tlsCert, tlsKey, clientCa].compactMap { $0 }.count
        if tls != 0 && tls != 3 { throw ValidationError("give --tls-cert, --tls-key and --client-ca together") }
        if Logger.Level(rawValue: logLevel) == nil { throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical") }
        if !(requestTimeout > 0) { throw ValidationError("--request-timeout must be more than 0") }
        if !(shutdownTimeout > 0) { throw ValidationError("--shutdown-timeout must be more than 0") }
        if let counterBlock, counterBlock < 1 { throw ValidationError("--counter-block must be at least 1") }
        if counterStorePasswordFile != nil && !(counterStore.map { $0.hasPrefix("postgresql://") || $0.hasPrefix("postgres://") } ?? false) {
            throw ValidationError("--counter-store-password-file is only used with a postgresql:// --counter-store")
        }
        if counterBlock != nil && counterStore == nil { throw ValidationError("--counter-block is only used with --counter-store") }
    }

    func run() async throws {
        do {
            var configuration = ServerConfiguration(partiesPath: parties, listen: try ListenAddress(parsing: listen))
            configuration.registrationPath = registration
            configuration.counterStorePath = counterStore
            configuration.counterStorePasswordFile = counterStorePasswordFile
            // Without --counter-block: one counter per statement from a database, so that counters stay ordered
            // across replicas; 100 from a file.
            configuration.counterBlockSize = counterBlock
            configuration.pkcs11Module = pkcs11Module
            if let tlsCert, let tlsKey, let clientCa {
                configuration.tls = .init(certificateChain: tlsCert, privateKey: tlsKey, clientCA: clientCa)
            }
            configuration.clientsPath = clients
            configuration.maxBodyBytes = maxBodyBytes
            configuration.requestTimeout = .milliseconds(Int64(requestTimeout * 1000))
            configuration.shutdownTimeout = .milliseconds(Int64(shutdownTimeout * 1000))
            configuration.maxConcurrentRequests = maxConcurrent
            configuration.logLevel = Logger.Level(rawValue: logLevel) ?? .info
            try await CoSSignerServer.run(configuration) { address, tls in
                // The one line on standard output: scripts and tests wait for it (and read the port from it).
                FileHandle.standardOutput.write(Data("listening on \(tls ? "https" : "http")://\(address)\n".utf8))
            }
        } catch let error as ServerStartError {
            JSONLogHandler.flush()
            FileHandle.standardError.write(Data("cos-signer-server: error: \(error.message)\n".utf8))
            throw ExitCode(error.exitCode)
        }
    }
}
