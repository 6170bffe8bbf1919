import Foundation

/// The input bytes a batch may hold at once, shared by all its workers: memory is bounded by the bytes in flight,
/// not only by the number of inputs (sixteen 16 MiB inputs with `--jobs 16` no longer hold sixteen documents and
/// their canonical forms, trees and outputs at once).
///
/// A worker reserves an input's size (``acquire(_:)``, from its `fstat`, before reading it) and gives it back once
/// the input's output is written. A worker that holds nothing waits until its input fits; one that already holds
/// inputs never waits (``tryAcquire(_:)``): it processes what it holds first, so workers cannot wait for each other.
/// An input larger than the whole budget is admitted alone. Batches of ordinary documents (a few kilobytes each)
/// never come near the budget, so they never wait.
package final class BatchMemoryBudget: @unchecked Sendable {
    /// The default budget: 32 MiB of input in flight (two documents of the largest default size, 16 MiB).
    package static let defaultBytes = 32 << 20

    /// The bytes that may be held at once.
    package let capacity: Int
    private let condition = NSCondition()
    private var held = 0  // guarded by `condition`
    private var peak = 0  // guarded by `condition`

    package init(bytes: Int = BatchMemoryBudget.defaultBytes) {
        capacity = max(1, bytes)
    }

    /// The most bytes held at once so far (for tests and measurements).
    package var peakBytes: Int {
        condition.lock()
        defer { condition.unlock() }
        return peak
    }

    /// Reserves `bytes` (at most the whole capacity), waiting until they fit. Call only while holding nothing.
    /// - Returns: the amount reserved, to give back with ``release(_:)``.
    package func acquire(_ bytes: Int) -> Int {
        let amount = min(max(0, bytes), capacity)
        condition.lock()
        defer { condition.unlock() }
        while held + amount > capacity { condition.wait() }
        held += amount
        peak = max(peak, held)
        return amount
    }

    /// Reserves `bytes` if they fit now; never waits.
    /// - Returns: the amount reserved, or `nil` if it does not fit.
    package func tryAcquire(_ bytes: Int) -> Int? {
        let amount = min(max(0, bytes), capacity)
        condition.lock()
        defer { condition.unlock() }
        guard held + amount <= capacity else { return nil }
        held += amount
        peak = max(peak, held)
        return amount
    }

    /// Gives back what ``acquire(_:)`` or ``tryAcquire(_:)`` reserved.
    package func release(_ amount: Int) {
        guard amount > 0 else { return }
        condition.lock()
        held -= amount
        condition.broadcast()
        condition.unlock()
    }
}
