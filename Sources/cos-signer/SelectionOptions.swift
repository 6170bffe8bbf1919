import ArgumentParser
import CoSSigner
import CoSSignerTesting
import Foundation
#if canImport(Glibc)
import Glibc
#endif
#if canImport(CoSSignerPostgres)
import CoSSignerPostgres
#endif

/// Options selecting the signing key from a parties registry.
struct PartySelectionOptions: ParsableArguments {
    @Option(name: .customLong("parties"), help: ArgumentHelp("Parties registry (TOML): select each request's key from its Supplier Party.", valueName: "FILE"))
    var registry: String?

    @Option(help: ArgumentHelp("Select the Supplier Party by this MPID (else by the request's Business Originator).", valueName: "MPID"))
    var mpid: String?

    @Option(help: ArgumentHelp("Registration data (CSV: mpxn,mpid,effective_from): the party must be the one registered for the request's ImportMPxN.", valueName: "FILE"))
    var registration: String?

    @Option(help: ArgumentHelp("The date the registration is taken at (YYYY-MM-DD; default: the GB settlement day, Europe/London, of each request's ExecutionDateTime, or of now for an immediate request).", valueName: "DATE"))
    var at: String?

    func validate() throws {
        if at != nil && registration == nil { throw ValidationError("--at needs --registration") }
    }

    /// Loads the registry (each key decrypted, or found in its token, once) and makes the selecting key source.
    /// - Parameters:
    ///   - pkcs11Module: `--pkcs11-module`: the module of the registry's token keys, instead of its `pkcs11_module`.
    ///   - deterministic: `--deterministic`: a registry with a token key is refused when it is loaded (exit 3, each
    ///     token credential named), before any module is loaded, PIN read or document signed.
    func makeKeySource(_ registryPath: String, keyFilePolicy: KeyFilePolicy, pkcs11Module: String?, deterministic: Bool) throws -> SigningKeySource {
        let registry = try PartyRegistry(
            contentsOfFile: registryPath,
            loader: .files(keyFilePolicy: keyFilePolicy, pkcs11Module: pkcs11Module, deterministic: deterministic))
        let registrationData = try registration.map { try RegistrationData(reading: $0) }
        let selectedMPID = try mpid.map { try MPID(parsing: $0) }
        // Without --at, each request is looked up on the settlement day it executes (read per request).
        let date = try at.map { try CalendarDate(parsing: $0) }
        return .selected(KeySelector(registry: registry, registrationData: registrationData), mpid: selectedMPID, registrationDate: date)
    }
}

/// How RequestID counters are set when signing.
struct CounterOptions: ParsableArguments {
    enum Mode: String, ExpressibleByArgument, CaseIterable {
        case preserve, time, store
    }

    @Option(help: ArgumentHelp("RequestID counter: preserve (sign what the adapter built), time (milliseconds since the epoch, strictly increasing in this process) or store (a durable per-originator store, --counter-store).", valueName: "MODE"))
    var counter: Mode = .preserve

    @Option(help: ArgumentHelp("The durable counter store for --counter store: a file (created if missing; file-locked, fsynced) or a PostgreSQL database shared by several processes and hosts, postgresql://USER@HOST:PORT/DATABASE[?sslmode=require|verify-full&sslrootcert=CA.pem] (password from PGPASSWORD or --counter-store-password-file, never in the URL). Counters never repeat and stay above the current time in milliseconds.", valueName: "FILE|URL"))
    var counterStore: String?

    @Option(help: ArgumentHelp("The database password for a postgresql:// counter store: the first line of this file (readable by its owner only). Default: the PGPASSWORD environment variable, if set.", valueName: "FILE"))
    var counterStorePasswordFile: String?

    @Option(help: ArgumentHelp("Counters reserved from the store at a time by this process (default: 100 for a batch from a file store, else 1). Above 1, a database store's counters are unique and increasing per process, but no longer ordered across processes.", valueName: "N"))
    var counterBlock: UInt64?

    func validate() throws {
        if counter == .store && counterStore == nil { throw ValidationError("--counter store needs --counter-store FILE or URL") }
        if counter != .store && counterStore != nil { throw ValidationError("--counter-store is only used with --counter store") }
        if counterStorePasswordFile != nil && !(counterStore.map(Self.isDatabaseURL) ?? false) {
            throw ValidationError("--counter-store-password-file is only used with a postgresql:// --counter-store")
        }
        if counterBlock != nil && counter != .store { throw ValidationError("--counter-block is only used with --counter store") }
        if let counterBlock, counterBlock < 1 { throw ValidationError("--counter-block must be at least 1") }
    }

    static func isDatabaseURL(_ text: String) -> Bool {
        text.hasPrefix("postgresql://") || text.hasPrefix("postgres://")
    }

    /// The counter assigner. Store counters never go below the current time in milliseconds (so a store started
    /// after `--counter time` was used never goes back), and are reserved in blocks for batches from a file store
    /// (one per document for a single input, so a one-off run uses up one counter; one per document from a database,
    /// so that counters stay ordered across the processes that share it, unless --counter-block says otherwise).
    func makeAssigner(batch: Bool) throws -> CounterAssigner? {
        switch counter {
        case .preserve: return nil
        case .time: return CounterAssigner(policy: .time)
        case .store:
            guard let counterStore else { return nil }
            if Self.isDatabaseURL(counterStore) {
                return CounterAssigner(policy: .backend(try makeDatabaseStore(counterStore)), blockSize: counterBlock ?? 1,
                                       floor: currentTimeMilliseconds())
            }
            return CounterAssigner(policy: .store(path: counterStore), blockSize: counterBlock ?? (batch ? 100 : 1),
                                   floor: currentTimeMilliseconds())
        }
    }

    /// The database store named by `url`, with its password from --counter-store-password-file or PGPASSWORD.
    private func makeDatabaseStore(_ url: String) throws -> any CounterStoreBackend {
        #if canImport(CoSSignerPostgres)
        return try PostgresCounterStore.open(url: url, passwordFile: counterStorePasswordFile)
        #else
        throw ValidationError("this build of cos-signer has no PostgreSQL counter store (built with COSSIGNER_CORE_ONLY=1)")
        #endif
    }
}
