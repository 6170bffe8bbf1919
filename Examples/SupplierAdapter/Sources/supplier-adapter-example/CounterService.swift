import CoSSigner
import Foundation

/// A RequestID counter service of the adapter's own (a database or sequence service shared by its replicas), plugged
/// into a signer with `CounterPolicy.backend(_:)`. `PostgresCounterStore` of the `CoSSignerPostgres` library is the
/// one CoSSigner ships (`.backend(PostgresCounterStore(location:password:))`); this stand-in keeps its counters in
/// memory (not durable) and can be switched off, as when the service is down. It then throws `CounterStoreError`
/// of kind `.unavailable`, as every backend must when it cannot be reached, and the signer reports
/// `CoSSignerError.Kind.unavailable` without signing anything.
final class CounterService: CounterStoreBackend, @unchecked Sendable {
    private let lock = NSLock()
    private var nextFree: [EUI64: UInt64] = [:]  // guarded by `lock`
    private var reachable = true  // guarded by `lock`

    var description: String { "counter-service (example, in memory)" }

    /// Takes the service down or brings it back.
    func setReachable(_ value: Bool) {
        lock.lock()
        defer { lock.unlock() }
        reachable = value
    }

    func reserve(originator: EUI64, count: UInt64, floor: UInt64) throws(CounterStoreError) -> ClosedRange<UInt64> {
        lock.lock()
        defer { lock.unlock() }
        guard reachable else {
            throw CounterStoreError(kind: .unavailable, path: description, reason: "connection refused")
        }
        guard count >= 1 else {
            throw CounterStoreError(kind: .invalidRequest, path: description, reason: "the count must be at least 1")
        }
        let first = max(nextFree[originator] ?? 1, floor, 1)
        let (last, overflow) = first.addingReportingOverflow(count - 1)
        guard !overflow, last < UInt64.max else {
            throw CounterStoreError(kind: .exhausted, path: description, reason: "no more counters for \(originator)")
        }
        nextFree[originator] = last + 1
        return first...last
    }

    func checkAvailable() throws(CounterStoreError) {
        lock.lock()
        defer { lock.unlock() }
        guard reachable else {
            throw CounterStoreError(kind: .unavailable, path: description, reason: "connection refused")
        }
    }
}
