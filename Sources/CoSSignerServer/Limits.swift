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
enum BodyReader {
    /// Collects the body: at most `limit` bytes, all arrived within `timeout`.
    /// - Throws: ``Problem`` 413 or 408.
    static func collect(_ request: Request, limit: Int, timeout: Duration) async throws(Problem) -> [UInt8] {
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            throw Problem.tooLarge(limit: limit)
        }
        let body = request.body
        let outcome: Outcome
        do {
            outcome = try await withThrowingTaskGroup(of: Outcome.self) { group in
                group.addTask {
                    do {
                        return .body(try await body.collect(upTo: limit))
                    } catch is NIOTooManyBytesError {
                        return .tooLarge
                    }
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return .timedOut
                }
                let first = try await group.next() ?? .timedOut
                group.cancelAll()
                return first
            }
        } catch {
            // The connection failed while the body was arriving (or the task was cancelled: shutdown).
            throw Problem.malformed("the request body could not be read: \(error)")
        }
        switch outcome {
        case .body(var buffer): return buffer.readBytes(length: buffer.readableBytes) ?? []
        case .tooLarge: throw Problem.tooLarge(limit: limit)
        case .timedOut: throw Problem.timeout(timeout)
        }
    }

    private enum Outcome: Sendable {
        case body(ByteBuffer)
        case tooLarge
        case timedOut
    }
}
