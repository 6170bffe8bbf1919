import Foundation

/// Where "now" comes from. A signer reads it once per request it handles (the future-dating check, the
/// registration date, certificate validity, the counter store's time floor), never once for its lifetime, so a
/// long-lived signer refuses a future-dated request as soon as its ExecutionDateTime has passed.
public protocol SigningClock: Sendable {
    /// The current instant.
    func now() -> Date
}

/// The system's clock.
public struct SystemClock: SigningClock {
    /// The system's clock.
    public init() {}
    /// The system's current time.
    public func now() -> Date { Date() }
}

/// A clock that always reads the same instant: for tests, reproducible runs, and checking a request as of a
/// given time.
public struct FixedClock: SigningClock {
    /// The instant the clock reads.
    public let date: Date
    /// A clock that always reads `date`.
    public init(_ date: Date) { self.date = date }
    /// ``date``, always.
    public func now() -> Date { date }
}
