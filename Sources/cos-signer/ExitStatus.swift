import CoSSigner

/// The CLI's exit codes, for every command (README "The CLI"). The library reports what went wrong as
/// ``CoSSignerError/Kind``; the numbers are the CLI's and live here.
enum ExitStatus {
    static let success: Int32 = 0
    /// The command line is wrong.
    static let usage: Int32 = 1
    /// An input is unreadable, malformed or not acceptable.
    static let input: Int32 = 2
    /// A key or certificate is missing or unusable (or a counter store cannot be reached).
    static let credentials: Int32 = 3
    /// Key selection refused.
    static let selectionRefused: Int32 = 4
    /// A signature is invalid.
    static let signatureInvalid: Int32 = 10

    /// The exit code of a kind of failure.
    static func of(_ kind: CoSSignerError.Kind) -> Int32 {
        switch kind {
        case .input: input
        case .credentials, .unavailable: credentials
        case .selectionRefused: selectionRefused
        case .signatureInvalid: signatureInvalid
        }
    }

    /// The exit code of a failure: a usage error is a usage error; anything else by its ``CoSSignerError`` kind.
    static func of(_ error: any Error) -> Int32 {
        if let classified = error as? any ClassifiedError, classified.failureClass == .usage { return usage }
        return of(CoSSignerError(error).kind)
    }
}
