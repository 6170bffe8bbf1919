import Hummingbird
import NIOConcurrencyHelpers
import NIOCore

/// At most `limit` requests at once: a request that finds them all taken is answered 503 at once, never queued.
final class ConcurrencyLimiter: Sendable {
    let limit: Int
    private let inUse = NIOLockedValueBox(0)

    init(limit: Int) { self.limit = limit }

    /// Takes a place if one is free.
    func tryAcquire() -> Bool {
        inUse.withLockedValue { count in
            guard count < limit else { return false }
            count += 1
            return true
        }
    }

    func release() { inUse.withLockedValue { $0 -= 1 } }
}

/// The request body, bounded in size (413) and in time (408).
///
/// The body is collected by a task of its own; one watchdog, ticking every 50 ms, cancels those whose deadline has
/// passed (a timer per request would cost more than the signature on a busy server).
final class BodyReader: Sendable {
    let limit: Int
    let timeout: Duration
    private let watched = NIOLockedValueBox<(next: Int, bodies: [Int: (deadline: ContinuousClock.Instant, task: Task<ByteBuffer, any Error>)])>((0, [:]))

    init(limit: Int, timeout: Duration) {
        self.limit = limit
        self.timeout = timeout
    }

    /// Collects the body: at most `limit` bytes, all arrived within `timeout`.
    /// - Throws: ``Problem`` 413, 408, or 400 when the connection fails while it arrives.
    /// - Parameter executor: where the collecting task runs (the connection's event loop: no thread switch).
    func collect(_ request: Request, on executor: (any TaskExecutor)?) async throws(Problem) -> [UInt8] {
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            throw Problem.tooLarge(limit: limit)
        }
        let body = request.body
        let limit = self.limit
        let task = Task(executorPreference: executor) { try await body.collect(upTo: limit) }
        let deadline = ContinuousClock.now + timeout
        let key = watched.withLockedValue { state in
            let key = state.next
            state.next &+= 1
            state.bodies[key] = (deadline, task)
            return key
        }
        let result = await task.result
        let timedOut = watched.withLockedValue { state in state.bodies.removeValue(forKey: key) == nil }
        // A collection cancelled may end with what had arrived: the deadline decides.
        if timedOut { throw Problem.timeout(timeout) }
        switch result {
        case .success(var buffer):
            return buffer.readBytes(length: buffer.readableBytes) ?? []
        case .failure(let error):
            if error is NIOTooManyBytesError { throw Problem.tooLarge(limit: limit) }
            throw Problem.malformed("the request body could not be read: \(error)")
        }
    }

    /// Cancels the collections past their deadline, every 50 ms, until cancelled itself.
    func watch() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(50))
            let now = ContinuousClock.now
            let late = watched.withLockedValue { state -> [Task<ByteBuffer, any Error>] in
                let keys = state.bodies.filter { $0.value.deadline <= now }.map(\.key)
                return keys.compactMap { state.bodies.removeValue(forKey: $0)?.task }
            }
            for task in late { task.cancel() }
        }
    }
}
