/// The class of a failure. Every error the library throws belongs to exactly one class,
/// and each class has one exit code in the `cos-signer` command line.
package enum FailureClass: Int32, Sendable, CaseIterable, CustomStringConvertible {
    /// The command line itself was wrong.
    case usage = 1
    /// An input could not be read, was malformed, or is not acceptable.
    case input = 2
    /// A key or certificate is missing or unusable.
    case keyOrCertificate = 3
    /// Key selection refused to choose a Supplier Party.
    case selectionRefused = 4
    /// A signature is invalid.
    case signatureInvalid = 10

    /// The process exit code of this class.
    package var exitCode: Int32 { rawValue }

    package var description: String {
        switch self {
        case .usage: "usage"
        case .input: "input"
        case .keyOrCertificate: "key or certificate"
        case .selectionRefused: "key selection refused"
        case .signatureInvalid: "signature invalid"
        }
    }
}

/// An error that knows its ``FailureClass``.
package protocol ClassifiedError: Error, CustomStringConvertible {
    /// How this failure is classified (and so which exit code it maps to).
    var failureClass: FailureClass { get }
}
