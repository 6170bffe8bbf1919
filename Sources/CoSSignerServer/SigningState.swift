import CoSSigner
import Foundation
import Logging
import NIOConcurrencyHelpers

/// What the server signs with: the registry, the signer made from it and the clients file, loaded together.
public struct SigningGeneration: Sendable {
    public let registry: PartyRegistry
    public let signer: SupplierSigner
    public let clients: ClientsFile?
    /// When it was loaded.
    public let loadedAt: Date
    /// 1 for the registry loaded at start, +1 at each successful reload.
    public let number: Int
    /// Whether a credential's key is in a PKCS#11 token: signing with it may wait on the token, so it runs off the
    /// event loops (see ``EventLoopExecutor``).
    let usesTokenKeys: Bool
}

/// The current ``SigningGeneration``, replaced whole on SIGHUP: a request takes the generation current when it starts
/// and keeps it to its end, so it is signed either with the old registry or with the new one, never a mix. A file
/// that does not load leaves the current generation as it is.
public final class SigningState: Sendable {
    private let current: NIOLockedValueBox<SigningGeneration>
    /// The configuration files are read from.
    public let configuration: ServerConfiguration
    /// The counters requests get.
    public let counters: ServerCounters

    /// Loads the registry, registration data and clients file.
    /// - Throws: ``ServerStartError`` naming the file and every problem.
    public init(configuration: ServerConfiguration, counters: ServerCounters) throws(ServerStartError) {
        self.configuration = configuration
        self.counters = counters
        current = NIOLockedValueBox(try Self.load(configuration, counters: counters, number: 1))
    }

    /// The generation to use for one request.
    public var generation: SigningGeneration { current.withLockedValue { $0 } }

    /// Loads the files again and, only if everything loads, makes that the current generation.
    /// - Returns: the new generation.
    /// - Throws: ``ServerStartError``; the current generation is kept.
    @discardableResult
    public func reload() throws(ServerStartError) -> SigningGeneration {
        let next = try Self.load(configuration, counters: counters, number: generation.number + 1)
        current.withLockedValue { $0 = next }
        return next
    }

    static func load(_ configuration: ServerConfiguration, counters: ServerCounters, number: Int) throws(ServerStartError) -> SigningGeneration {
        let registry: PartyRegistry
        do {
            // Token keys (signing_key = "pkcs11:…") are found in their token again at each load: --pkcs11-module wins
            // over the registry's pkcs11_module; each PIN is read from its pin_env/pin_file, never logged.
            registry = try PartyRegistry(contentsOfFile: configuration.partiesPath,
                                         loader: .files(keyFilePolicy: .strict, pkcs11Module: configuration.pkcs11Module))
        } catch {
            throw ServerStartError(error.description, exitCode: error.failureClass.exitCode)
        }
        var registrationData: RegistrationData?
        if let path = configuration.registrationPath {
            do {
                registrationData = try RegistrationData(reading: path)
            } catch {
                throw ServerStartError(error.description, exitCode: error.failureClass.exitCode)
            }
        }
        let clients = try configuration.clientsPath.map { (path) throws(ServerStartError) in
            try ClientsFile(contentsOfFile: path, registry: registry)
        }
        let signer: SupplierSigner
        do {
            signer = try SupplierSigner(registry: registry, registrationData: registrationData, counters: counters.policy,
                                        options: .init(maxDocumentBytes: configuration.maxBodyBytes,
                                                       counterBlockSize: configuration.effectiveCounterBlockSize))
        } catch {
            throw ServerStartError(error.description, exitCode: error.kind == .input ? 2 : 3)
        }
        return SigningGeneration(registry: registry, signer: signer, clients: clients, loadedAt: Date(), number: number,
                                 usesTokenKeys: registry.parties.contains { $0.credentials.contains { $0.declaration.isPKCS11Key } })
    }
}

/// The counters of requests signed with `preserveCounter: false`: a policy, a readiness check and a flush at
/// shutdown. The file store (`--counter-store FILE`) and `time` are built in; a store shared by several replicas
/// (PostgreSQL, issue 19) plugs in as a ``CounterStoreBackend`` through ``init(backend:)``.
public struct ServerCounters: Sendable {
    /// The policy every signer of the server applies.
    public let policy: CounterPolicy
    /// What to call at shutdown, after the last request (a database store closes its connections here).
    private let onShutdown: @Sendable () async -> Void

    /// `time` counters (no store).
    public static let time = ServerCounters(policy: .time, onShutdown: {})

    /// The durable file store at `path`.
    public static func file(_ path: String) -> ServerCounters {
        ServerCounters(policy: .store(path: path), onShutdown: {})
    }

    /// Another durable store (e.g. a database shared by replicas).
    public init(backend: any CounterStoreBackend, onShutdown: @escaping @Sendable () async -> Void = {}) {
        self.init(policy: .backend(backend), onShutdown: onShutdown)
    }

    private init(policy: CounterPolicy, onShutdown: @escaping @Sendable () async -> Void) {
        self.policy = policy
        self.onShutdown = onShutdown
    }

    /// Whether handing out a counter may wait on I/O (a durable store: a file or a database), so that signing with
    /// one, and asking the store whether it is usable, run off the event loops (see ``EventLoopExecutor``).
    var mayWait: Bool {
        switch policy {
        case .store, .backend: true
        case .time, .preserve: false
        }
    }

    /// Whether counters can be handed out now: the store can be opened, locked and read (nothing is reserved).
    /// - Returns: nil when usable, else why not.
    public func unavailability() -> String? {
        let store: (any CounterStoreBackend)?
        switch policy {
        case .store(let path): store = CounterStore(path: path)
        case .backend(let backend): store = backend
        case .time, .preserve: store = nil
        }
        do {
            try store?.checkAvailable()
            return nil
        } catch {
            return error.description
        }
    }

    /// At shutdown, after the last request: every counter a signed response carries was reserved durably before the
    /// response was sent (blocks are reserved in the store before they are handed out), so nothing remains to be
    /// written; counters reserved but unused are skipped after a restart (a gap, never a repeat). A store with
    /// connections closes them here.
    public func shutdown() async { await onShutdown() }
}
