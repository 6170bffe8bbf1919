import Foundation

/// A durable store of originator counters (the counter file of ``CounterPolicy/store(path:)``, or a database
/// store such as `PostgresCounterStore` of the `CoSSignerPostgres` library): hands out blocks of counters,
/// strictly increasing per Business Originator, never twice.
public protocol CounterStoreBackend: Sendable, CustomStringConvertible {
    /// Reserves `count` consecutive counters for `originator`, durably, and returns them: every counter of the
    /// block is ≥ `floor`, ≥ 1, and greater than any counter the store handed out before for `originator`. A failure
    /// may leave a gap (counters reserved but never returned), never a repeat.
    /// - Throws: ``CounterStoreError`` (``CounterStoreError/Kind/unavailable`` when the store cannot be reached).
    func reserve(originator: EUI64, count: UInt64, floor: UInt64) throws(CounterStoreError) -> ClosedRange<UInt64>
    /// Whether the store can hand out counters now (a readiness check): reads it without reserving anything.
    /// - Throws: ``CounterStoreError``.
    func checkAvailable() throws(CounterStoreError)
}

/// How the originator counter of a RequestID (`BusinessOriginatorID:BusinessTargetID:Counter`) is
/// chosen when a request is signed.
///
/// The DUIS rule for the counter is not known exactly (unique, or strictly increasing, per
/// Business Originator: domain notes §1.2 and open question 1). Both ``time`` and ``store(path:)``
/// give counters that are strictly increasing per Business Originator and never repeat; only
/// ``store(path:)`` and ``backend(_:)`` keep that promise across processes, restarts and clock changes.
public enum CounterPolicy: Sendable, Hashable, CustomStringConvertible {
    /// Keep the counter the adapter put in the request.
    case preserve
    /// Milliseconds since 1970-01-01 UTC, the DCC Boxed convention (`System.currentTimeMillis()`),
    /// but always strictly greater than the last value this process issued (one process-wide counter).
    /// Not durable: a clock set back between two runs can repeat a value.
    case time
    /// The durable per-originator store at `path` (a text file, locked while in use and synced to disk before a
    /// counter is used).
    case store(path: String)
    /// Another durable store (a database shared by several replicas).
    case backend(any CounterStoreBackend)

    public var description: String {
        switch self {
        case .preserve: "preserve"
        case .time: "time"
        case .store(let path): "store(\(path))"
        case .backend(let store): "store(\(store))"
        }
    }

    /// Policies compare by kind and store (a backend by its description, which names it).
    public static func == (lhs: CounterPolicy, rhs: CounterPolicy) -> Bool {
        lhs.description == rhs.description
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(description) }
}

/// Milliseconds-since-epoch counters, strictly increasing within one process.
///
/// ``next()`` returns `max(now in ms, last + 1)`: when called faster than once per millisecond the
/// values run ahead of the clock and the clock catches up later. Thread-safe; use ``shared`` so
/// that every caller in a process draws from one sequence.
package final class TimeCounter {
    /// The process-wide sequence.
    package static let shared = TimeCounter()

    private let lock = NSLock()
    private var last: UInt64 = 0  // guarded by `lock`
    private let clock: @Sendable () -> UInt64

    /// A sequence reading the system clock.
    package convenience init() {
        self.init(clock: { currentTimeMilliseconds() })
    }

    /// A sequence reading `clock` (milliseconds); for tests that freeze or rewind time.
    package init(clock: @escaping @Sendable () -> UInt64) {
        self.clock = clock
    }

    /// The next counter: at least the current time in milliseconds and greater than every value
    /// returned before by this instance.
    /// - Throws: ``CounterStoreError`` (``CounterStoreError/Kind/exhausted``) once 2^64-1 was issued.
    package func next() throws(CounterStoreError) -> UInt64 {
        try reserve(count: 1).lowerBound
    }

    /// The next counter for a caller whose clock reads `now` milliseconds: at least `now` and greater than every
    /// value returned before by this instance.
    package func next(now: UInt64) throws(CounterStoreError) -> UInt64 {
        try reserve(count: 1, now: now).lowerBound
    }

    /// A block of `count` consecutive counters, all greater than any value issued before.
    /// - Throws: ``CounterStoreError`` if `count` is 0 or the block would pass 2^64-1.
    package func reserve(count: UInt64) throws(CounterStoreError) -> ClosedRange<UInt64> {
        try reserve(count: count, now: clock())
    }

    private func reserve(count: UInt64, now: UInt64) throws(CounterStoreError) -> ClosedRange<UInt64> {
        guard count >= 1 else {
            throw CounterStoreError(kind: .invalidRequest, path: "time", reason: "the count must be at least 1")
        }
        lock.lock()
        defer { lock.unlock() }
        guard last < UInt64.max else {
            throw CounterStoreError(kind: .exhausted, path: "time", reason: "the counter reached 18446744073709551615 (2^64-1)")
        }
        let start = Swift.max(Swift.max(now, 1), last + 1)
        let (end, overflow) = start.addingReportingOverflow(count - 1)
        guard !overflow else {
            throw CounterStoreError(kind: .exhausted, path: "time",
                                    reason: "\(count) counters from \(start) would pass 18446744073709551615 (2^64-1)")
        }
        last = end
        return start...end
    }
}

// Sound: the only mutable state, `last`, is read and written under `lock`; `clock` is @Sendable.
extension TimeCounter: @unchecked Sendable {}

/// The current time in milliseconds since 1970-01-01 UTC (0 if the clock is before 1970).
package func currentTimeMilliseconds() -> UInt64 {
    milliseconds(since1970: Date())
}

/// An instant in milliseconds since 1970-01-01 UTC (0 before 1970; saturating far in the future).
func milliseconds(since1970 date: Date) -> UInt64 {
    let milliseconds = date.timeIntervalSince1970 * 1000
    guard milliseconds > 0 else { return 0 }
    return milliseconds < 1.8e19 ? UInt64(milliseconds) : UInt64.max
}

/// Applies a ``CounterPolicy`` to RequestIDs: the piece the signing pipeline calls once per document.
///
/// With ``CounterPolicy/store(path:)`` counters are reserved from the store in blocks of
/// `blockSize` per Business Originator (one locked, fsynced store update per block, so batches are
/// fast) and handed out from memory; counters of a block that are never used are simply skipped
/// (gaps are allowed, repeats never). Store counters stay above the time of the request in milliseconds:
/// a block whose next counter has fallen below it is dropped and a new one reserved. Thread-safe.
package final class CounterAssigner {
    /// The policy applied.
    package let policy: CounterPolicy
    /// How many counters are reserved from the store at a time.
    package let blockSize: UInt64
    /// The lowest counter the store hands out (e.g. ``currentTimeMilliseconds()`` to stay above
    /// counters issued earlier by the DCC Boxed convention).
    package let floor: UInt64

    private let timeCounter: TimeCounter
    private let store: (any CounterStoreBackend)?
    private let lock = NSLock()
    private var blocks: [EUI64: ClosedRange<UInt64>] = [:]  // remaining reserved counters, guarded by `lock`

    /// - Parameters:
    ///   - policy: preserve, time or store.
    ///   - blockSize: counters reserved per store update (1 = one fsynced update per document).
    ///   - floor: lowest counter taken from the store (store policy only).
    ///   - timeCounter: the sequence for ``CounterPolicy/time`` (the process-wide one by default).
    package init(policy: CounterPolicy, blockSize: UInt64 = 100, floor: UInt64 = 1,
                timeCounter: TimeCounter = .shared) {
        self.policy = policy
        self.blockSize = Swift.max(blockSize, 1)
        self.floor = Swift.max(floor, 1)
        self.timeCounter = timeCounter
        switch policy {
        case .store(let path): store = CounterStore(path: path)
        case .backend(let backend): store = backend
        case .preserve, .time: store = nil
        }
    }

    /// The counter to use for a request whose RequestID is `requestID`, handled at `now` (the signer's clock;
    /// the system clock when nil): ``CounterPolicy/time`` gives at least `now` in milliseconds, and the store's
    /// counters stay above it.
    /// - Throws: ``CounterStoreError`` (store unreadable, corrupt or exhausted).
    package func counter(for requestID: RequestID, now: Date? = nil) throws(CounterStoreError) -> UInt64 {
        switch policy {
        case .preserve:
            return requestID.counter
        case .time:
            guard let now else { return try timeCounter.next() }
            return try timeCounter.next(now: milliseconds(since1970: now))
        case .store, .backend:
            guard let store else { return requestID.counter }
            let originator = requestID.businessOriginator
            let timeFloor = now.map { milliseconds(since1970: $0) } ?? 0
            lock.lock()
            defer { lock.unlock() }
            if let block = blocks[originator], block.lowerBound > timeFloor {
                let value = block.lowerBound
                blocks[originator] = value < block.upperBound ? (value + 1)...block.upperBound : nil
                return value
            }
            let wanted = Swift.max(floor, timeFloor == UInt64.max ? timeFloor : timeFloor + 1)
            let block = try store.reserve(originator: originator, count: blockSize, floor: wanted)
            let value = block.lowerBound
            blocks[originator] = value < block.upperBound ? (value + 1)...block.upperBound : nil
            return value
        }
    }

    /// Whether the policy's store (if any) can hand out counters now.
    /// - Throws: ``CounterStoreError``.
    package func checkAvailable() throws(CounterStoreError) {
        try store?.checkAvailable()
    }

    /// `requestID` with its counter replaced according to the policy, for a request handled at `now`.
    /// - Throws: ``CounterStoreError``.
    package func assign(to requestID: RequestID, now: Date? = nil) throws(CounterStoreError) -> RequestID {
        let value = try counter(for: requestID, now: now)
        guard value != requestID.counter else { return requestID }
        do {
            return try requestID.withCounter(value)
        } catch {
            // Unreachable: every policy yields counters >= 1.
            throw CounterStoreError(kind: .invalidRequest, path: policy.description, reason: error.description)
        }
    }
}

// Sound: the only mutable state, `blocks`, is read and written under `lock`; the rest is immutable
// and Sendable.
extension CounterAssigner: @unchecked Sendable {}
