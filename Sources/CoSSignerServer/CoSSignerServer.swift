import CoSSigner
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import UnixSignals

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The request context: the connection, so that a request's client certificate can be read.
public struct ServerRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = CoreRequestContextStorage(source: source)
        channel = source.channel
    }
}

/// Passes every request to the ``SigningService``.
struct ServiceResponder: HTTPResponder {
    typealias Context = ServerRequestContext
    let service: SigningService

    func respond(to request: Request, context: ServerRequestContext) async throws -> Response {
        await service.respond(to: request, channel: context.channel)
    }
}

/// `cos-signer-server`: loads the registry, listens, serves until SIGTERM (or SIGINT), reloads on SIGHUP.
public enum CoSSignerServer {
    /// Runs the server to its end.
    /// - Parameters:
    ///   - configuration: the checked command line.
    ///   - counters: the counter policy's store (nil: from `configuration`, the file store or `time`).
    ///   - onListening: called with the address bound (the port chosen when 0 was given).
    /// - Throws: ``ServerStartError`` when it cannot start; returns after a graceful shutdown.
    public static func run(_ configuration: ServerConfiguration, counters: ServerCounters? = nil,
                           onListening: @escaping @Sendable (ListenAddress, Bool) -> Void = { _, _ in }) async throws {
        LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: configuration.logLevel) }
        let logger = {
            var logger = Logger(label: "cos-signer-server")
            logger.logLevel = configuration.logLevel
            return logger
        }()
        if let problem = configuration.startProblem() { throw ServerStartError(problem) }

        let counters = try counters ?? ServerCounters(configuration: configuration)
        let state = try SigningState(configuration: configuration, counters: counters)
        let generation = state.generation
        logger.info("registry loaded", metadata: [
            "parties": .stringConvertible(generation.registry.parties.count),
            "clients": .stringConvertible(generation.clients?.clients.count ?? 0),
            "counters": .string(configuration.counterStorePath == nil ? "time" : configuration.usesDatabaseCounterStore ? "database" : "store"),
        ])
        if configuration.tls != nil && configuration.clientsPath == nil {
            logger.warning("no --clients file: every client certificate issued by the --client-ca may sign for every party")
        }
        if configuration.tls == nil {
            logger.warning("plain HTTP on loopback, without client certificates: for development only")
        }
        if let why = counters.unavailability() {
            logger.warning("the counter store is not usable yet: /readyz answers 503 until it is", metadata: ["reason": .string(why)])
        }

        let metrics = ServerMetrics()
        let service = SigningService(state: state, metrics: metrics, logger: logger)
        // Idle keep-alive connections are closed after a while (and slow bodies are cut by the request timeout).
        let maxBodyBytes = configuration.maxBodyBytes
        let http1Configuration = HTTP1Channel.Configuration(
            additionalChannelHandlers: [ExpectContinueHandler(maxBodyBytes: maxBodyBytes)],
            idleTimeout: .seconds(Int64(max(60, configuration.requestTimeout.components.seconds * 2))))
        let tlsConfiguration = try configuration.tls.map { files throws(ServerStartError) in try Self.tlsConfiguration(files) }
        // HTTP/1 (in TLS off loopback), each connection handled on its own event loop (EventLoopPinnedChannel).
        let server = HTTPServerBuilder { responder in
            let http1 = HTTP1Channel(responder: responder, configuration: http1Configuration)
            guard let tlsConfiguration else { return EventLoopPinnedChannel(http1) }
            return EventLoopPinnedChannel(try TLSChannel(http1, tlsConfiguration: tlsConfiguration))
        }
        let scheme = configuration.tls == nil ? "http" : "https"
        let listen = configuration.listen
        let app = Application(
            responder: ServiceResponder(service: service),
            server: server,
            configuration: ApplicationConfiguration(address: .hostname(listen.host, port: listen.port), serverName: nil),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? listen.port
                let bound = ListenAddress(host: listen.host, port: port)
                logger.info("listening", metadata: ["address": .string("\(scheme)://\(bound)")])
                onListening(bound, configuration.tls != nil)
            },
            logger: logger
        )
        let reloader = RegistryReloader(state: state, metrics: metrics, logger: logger)
        var groupConfiguration = ServiceGroupConfiguration(
            services: [
                .init(service: app),
                // Ends at shutdown; that must not end the group before the server has finished its requests.
                .init(service: reloader, successTerminationBehavior: .ignore),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        groupConfiguration.maximumGracefulShutdownDuration = configuration.shutdownTimeout
        let group = ServiceGroup(configuration: groupConfiguration)
        // Times out request bodies that do not arrive; runs until every request has been answered.
        let bodies = service.bodies
        let watchdog = Task { await bodies.watch() }
        defer { JSONLogHandler.flush() }
        let failure: (any Error)?
        do {
            try await group.run()
            failure = nil
        } catch {
            failure = error
        }
        watchdog.cancel()
        await watchdog.value
        // The group has ended every service, so no request is in flight. Token keys: their module's clean-up is done
        // here, on this thread, whether the server stops cleanly or on an error, not left to the last holder's
        // thread racing `exit`.
        let finalized = PKCS11Modules.finalizeBeforeExit()
        if let failure {
            logger.error("stopped on an error", metadata: [
                "error": .string("\(failure)"),
                "pkcs11ModulesFinalized": .stringConvertible(finalized),
            ])
            throw ServerStartError("the server stopped: \(failure)", exitCode: 1)
        }
        // Every request has been answered: the counters they carry were reserved durably before.
        await counters.shutdown()
        logger.info("stopped: every request in flight was answered; counters flushed", metadata: [
            "pkcs11ModulesFinalized": .stringConvertible(finalized),
        ])
    }

    /// The server's TLS: its certificate chain and key, client certificates required and verified against the
    /// client CA (a handshake without one, or with one from another CA, fails).
    static func tlsConfiguration(_ files: ServerConfiguration.TLSFiles) throws(ServerStartError) -> TLSConfiguration {
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        let clientCAs: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(files.certificateChain)
        } catch {
            throw ServerStartError("--tls-cert \(files.certificateChain): cannot read the certificate chain (PEM): \(error)", exitCode: 3)
        }
        do {
            try KeyFilePolicy.strict.check(files.privateKey)
        } catch {
            throw ServerStartError("--tls-key \(files.privateKey): \(error)", exitCode: 3)
        }
        do {
            key = try NIOSSLPrivateKey(file: files.privateKey, format: .pem)
        } catch {
            throw ServerStartError("--tls-key \(files.privateKey): cannot read the private key (PEM): \(error)", exitCode: 3)
        }
        do {
            clientCAs = try NIOSSLCertificate.fromPEMFile(files.clientCA)
        } catch {
            throw ServerStartError("--client-ca \(files.clientCA): cannot read the client CA certificates (PEM): \(error)", exitCode: 3)
        }
        guard !chain.isEmpty else { throw ServerStartError("--tls-cert \(files.certificateChain): no certificate in the file", exitCode: 3) }
        guard !clientCAs.isEmpty else { throw ServerStartError("--client-ca \(files.clientCA): no certificate in the file", exitCode: 3) }
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        tls.trustRoots = .certificates(clientCAs)
        // Client certificates required: SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT.
        tls.certificateVerification = .noHostnameVerification
        tls.minimumTLSVersion = .tlsv12
        return tls
    }
}

/// Reloads the registry, registration data and clients file on each SIGHUP: whole or nothing.
struct RegistryReloader: Service {
    let state: SigningState
    let metrics: ServerMetrics
    let logger: Logger

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        for await _ in signals.cancelOnGracefulShutdown() {
            do {
                let generation = try state.reload()
                metrics.reload(loaded: true, generation: generation.number)
                logger.info("registry reloaded (SIGHUP)", metadata: [
                    "generation": .stringConvertible(generation.number),
                    "parties": .stringConvertible(generation.registry.parties.count),
                ])
            } catch {
                metrics.reload(loaded: false, generation: state.generation.number)
                logger.error("registry reload refused (SIGHUP): the registry in use is kept", metadata: [
                    "generation": .stringConvertible(state.generation.number),
                    "error": .string(error.description),
                ])
            }
        }
    }
}
