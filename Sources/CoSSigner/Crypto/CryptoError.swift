internal import COpenSSL

/// A failure in the cryptographic layer: a key, certificate, signature encoding, serial number
/// or distinguished name that could not be used.
///
/// Equality compares only ``code`` (as swift-certificates' `CertificateError` does), so a test
/// can write `#expect(throws: CryptoError(code: .wrongPassphrase))` whatever the reason text.
package struct CryptoError: ClassifiedError, Equatable {
    /// What kind of failure this is. A struct wrapping a private enum so codes can be added
    /// without breaking clients that switch over them.
    package struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Backing: String, Hashable, Sendable {
            case unreadableFile = "unreadable file"
            case invalidKey = "invalid key"
            case keyMismatch = "key does not match the certificate"
            case unsupportedKey = "unsupported key"
            case passphraseRequired = "passphrase required"
            case wrongPassphrase = "wrong passphrase"
            case invalidCertificate = "invalid certificate"
            case unsupportedCertificate = "unsupported certificate"
            case invalidSignatureEncoding = "invalid signature encoding"
            case invalidDigest = "invalid digest"
            case invalidSerialNumber = "invalid serial number"
            case invalidDistinguishedName = "invalid distinguished name"
            case signingFailed = "signing failed"
            case internalError = "internal OpenSSL error"
        }

        fileprivate let backing: Backing
        fileprivate init(_ backing: Backing) { self.backing = backing }

        /// A key or certificate file could not be read.
        package static let unreadableFile = Code(.unreadableFile)
        /// Bytes that should be a private or public key are not one.
        package static let invalidKey = Code(.invalidKey)
        /// A private key that is not the key of the certificate it was given with.
        package static let keyMismatch = Code(.keyMismatch)
        /// A well-formed key that is not a P-256 key (another curve or algorithm).
        package static let unsupportedKey = Code(.unsupportedKey)
        /// The private key is encrypted and no passphrase was given.
        package static let passphraseRequired = Code(.passphraseRequired)
        /// The private key is encrypted and the passphrase did not decrypt it.
        package static let wrongPassphrase = Code(.wrongPassphrase)
        /// Bytes that should be an X.509 certificate are not one.
        package static let invalidCertificate = Code(.invalidCertificate)
        /// A well-formed certificate whose key is not P-256.
        package static let unsupportedCertificate = Code(.unsupportedCertificate)
        /// An ECDSA signature that is not exactly 64 bytes r||s, not strict DER, or has r or s
        /// outside [1, n-1].
        package static let invalidSignatureEncoding = Code(.invalidSignatureEncoding)
        /// A digest of the wrong length was given to a SHA-256 signing call.
        package static let invalidDigest = Code(.invalidDigest)
        /// A certificate serial number text that is not a decimal number.
        package static let invalidSerialNumber = Code(.invalidSerialNumber)
        /// A distinguished-name text that is not RFC 2253 / RFC 4514 syntax.
        package static let invalidDistinguishedName = Code(.invalidDistinguishedName)
        /// OpenSSL refused to produce a signature.
        package static let signingFailed = Code(.signingFailed)
        /// OpenSSL failed where it should not (allocation, missing algorithm).
        package static let internalError = Code(.internalError)

        package var description: String { backing.rawValue }
    }

    /// What kind of failure this is.
    package let code: Code
    /// Why it failed, in words.
    package let reason: String
    /// The file path or field the failure is about, if any.
    package let context: String?
    /// The OpenSSL error queue at the time of failure (drained, so it cannot leak into later calls).
    package let openSSLErrors: [String]

    /// Makes an error. `openSSLErrors` is normally filled by the factory methods, which drain the queue.
    package init(code: Code, reason: String = "", context: String? = nil, openSSLErrors: [String] = []) {
        self.code = code
        self.reason = reason
        self.context = context
        self.openSSLErrors = openSSLErrors
    }

    package var failureClass: FailureClass {
        switch code.backing {
        case .invalidSignatureEncoding, .invalidDigest, .invalidSerialNumber, .invalidDistinguishedName:
            .input
        case .unreadableFile, .invalidKey, .keyMismatch, .unsupportedKey, .passphraseRequired, .wrongPassphrase,
            .invalidCertificate, .unsupportedCertificate, .signingFailed, .internalError:
            .keyOrCertificate
        }
    }

    package var description: String {
        var text = code.description
        if let context { text += " (\(context))" }
        if !reason.isEmpty { text += ": \(reason)" }
        if !openSSLErrors.isEmpty { text += " [OpenSSL: \(openSSLErrors.joined(separator: "; "))]" }
        return text
    }

    package static func == (lhs: CryptoError, rhs: CryptoError) -> Bool { lhs.code == rhs.code }

    /// An error carrying the drained OpenSSL error queue of this thread.
    @inline(never)
    static func openSSL(_ code: Code, _ reason: String, context: String? = nil) -> CryptoError {
        CryptoError(code: code, reason: reason, context: context, openSSLErrors: OpenSSLErrorQueue.drain())
    }

    /// An error raised by our own checks; any stale OpenSSL errors are discarded, not attached.
    @inline(never)
    static func plain(_ code: Code, _ reason: String, context: String? = nil) -> CryptoError {
        OpenSSLErrorQueue.clear()
        return CryptoError(code: code, reason: reason, context: context)
    }
}

/// The thread-local OpenSSL error queue.
enum OpenSSLErrorQueue {
    /// Removes every queued error and returns their texts, oldest first.
    static func drain() -> [String] {
        var errors: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            let text = String(cCharBuffer: buffer)
            if !errors.contains(text) { errors.append(text) }  // OpenSSL often repeats itself
            if errors.count >= 16 {  // bound the text; drop the rest
                ERR_clear_error()
                break
            }
        }
        return errors
    }

    /// Discards every queued error.
    static func clear() { ERR_clear_error() }
}

extension String {
    /// The text of a NUL-terminated C buffer (up to the first NUL, or all of it), as UTF-8.
    init(cCharBuffer buffer: [CChar]) {
        self.init(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
