/// A Market Participant Identifier: the 4-character code a market participant uses for one
/// instance of one role (here: a supplier brand or licence). Upper-case letters and digits only.
///
/// One Supplier Party may hold several MPIDs; see ``PartyRegistry``.
public struct MPID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The four characters, as written.
    public let value: String

    /// The number of characters of every MPID.
    public static let length = 4

    /// Parses an MPID: exactly four characters, each `A`–`Z` or `0`–`9` (lower case is refused,
    /// not folded, so that a registry and a command line always spell an MPID the same way).
    /// - Throws: ``MPIDParseError`` naming the text and why.
    public init(parsing text: some StringProtocol) throws(MPIDParseError) {
        let scalars = Array(text.unicodeScalars)
        guard scalars.count == Self.length else {
            throw MPIDParseError(text: String(text), reason: "must be \(Self.length) characters, got \(scalars.count)")
        }
        for (index, scalar) in scalars.enumerated() {
            switch scalar {
            case "A"..."Z", "0"..."9":
                continue
            case "a"..."z":
                throw MPIDParseError(text: String(text), reason: "character \(index + 1) is lower case; MPIDs are written in upper case")
            default:
                throw MPIDParseError(text: String(text), reason: "character \(index + 1) is not an upper-case letter or a digit")
            }
        }
        value = String(text)
    }

    public var description: String { value }

    public static func < (lhs: MPID, rhs: MPID) -> Bool { lhs.value < rhs.value }
}

/// Why a text is not an ``MPID``.
public struct MPIDParseError: ClassifiedError, Equatable {
    /// The text that was given.
    public let text: String
    /// Why it was refused.
    public let reason: String
    package var failureClass: FailureClass { .input }
    public var description: String { "'\(text)' is not an MPID: \(reason)" }
}
