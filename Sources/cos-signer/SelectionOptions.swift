import ArgumentParser
import CoSSigner

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
        let registrationData = try registration.map { try RegistrationData(contentsOfFile: $0) }
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

    @Option(help: ArgumentHelp("The durable counter store for --counter store (created if missing; file-locked, fsynced, never repeats; counters stay above the current time in milliseconds).", valueName: "FILE"))
    var counterStore: String?

    func validate() throws {
        if counter == .store && counterStore == nil { throw ValidationError("--counter store needs --counter-store FILE") }
        if counter != .store && counterStore != nil { throw ValidationError("--counter-store is only used with --counter store") }
    }

    /// The counter assigner. Store counters never go below the current time in milliseconds (so a store started
    /// after `--counter time` was used never goes back), and are reserved in blocks for batches (one per document
    /// for a single input, so a one-off run uses up one counter).
    func makeAssigner(batch: Bool) throws -> CounterAssigner? {
        switch counter {
        case .preserve: nil
        case .time: CounterAssigner(policy: .time)
        case .store: counterStore.map {
            CounterAssigner(policy: .store(path: $0), blockSize: batch ? 100 : 1, floor: currentTimeMilliseconds())
        }
        }
    }
}
