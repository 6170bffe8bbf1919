internal import CPKCS11

/// A PKCS#11 key that cannot be loaded or cannot sign: a bad URI, a module, token or object that is not
/// there, a PIN that is missing, wrong or locked, a mechanism the token lacks, a lost session, a key that does
/// not belong to its certificate.
///
/// Every such failure is of the key-or-certificate class (exit code 3). The message names the key's URI (as
/// given, without any query part when the URI could not be read) and never the PIN.
/// Equality compares only ``code``, as ``CryptoError`` does.
package struct PKCS11Error: ClassifiedError, Equatable {
    /// What kind of failure this is (a struct wrapping a private enum, so codes can be added).
    package struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Backing: String, Hashable, Sendable {
            case invalidURI = "invalid PKCS#11 URI"
            case moduleNotFound = "PKCS#11 module not found"
            case notAModule = "not a PKCS#11 module"
            case moduleFailed = "PKCS#11 module failed"
            case tokenNotFound = "token not found"
            case tokenAmbiguous = "token ambiguous"
            case objectNotFound = "key object not found"
            case objectAmbiguous = "key object ambiguous"
            case unsupportedKey = "unsupported token key"
            case keyMismatch = "token key does not match the certificate"
            case pinUnavailable = "PIN unavailable"
            case pinIncorrect = "wrong PIN"
            case pinLocked = "PIN locked"
            case mechanismUnsupported = "mechanism unsupported"
            case sessionLost = "token session lost"
            case signingFailed = "token signing failed"
            case deterministicUnsupported = "deterministic signing unsupported"
        }

        fileprivate let backing: Backing
        fileprivate init(_ backing: Backing) { self.backing = backing }

        /// The URI is not an RFC 7512 `pkcs11:` URI this tool accepts (syntax, unknown or repeated attribute,
        /// a PIN in the URI, an object type other than `private`).
        package static let invalidURI = Code(.invalidURI)
        /// No module was given, or there is no file at the module path.
        package static let moduleNotFound = Code(.moduleNotFound)
        /// The file cannot be loaded as a shared library or has no `C_GetFunctionList`.
        package static let notAModule = Code(.notAModule)
        /// The module failed a call that should succeed (`C_Initialize`, `C_GetSlotList`, `C_OpenSession`, …).
        package static let moduleFailed = Code(.moduleFailed)
        /// No token present matches the URI's token attributes.
        package static let tokenNotFound = Code(.tokenNotFound)
        /// More than one token matches the URI.
        package static let tokenAmbiguous = Code(.tokenAmbiguous)
        /// No private key object on the token matches the URI's `object`/`id`.
        package static let objectNotFound = Code(.objectNotFound)
        /// More than one private key object matches the URI.
        package static let objectAmbiguous = Code(.objectAmbiguous)
        /// The object is not an EC P-256 key that may sign (or the certificate is not P-256).
        package static let unsupportedKey = Code(.unsupportedKey)
        /// The token's public key (`CKA_EC_POINT`), or a signature made at load, does not match the certificate.
        package static let keyMismatch = Code(.keyMismatch)
        /// The PIN's environment variable or file is missing, unreadable, empty or too open, or the token needs a
        /// PIN and none was given.
        package static let pinUnavailable = Code(.pinUnavailable)
        /// `C_Login` answered `CKR_PIN_INCORRECT` (or the PIN differs from the one this process logged in with).
        package static let pinIncorrect = Code(.pinIncorrect)
        /// The user PIN is locked (`CKR_PIN_LOCKED`, `CKF_USER_PIN_LOCKED`) or expired.
        package static let pinLocked = Code(.pinLocked)
        /// The token does not offer `CKM_ECDSA` for signing.
        package static let mechanismUnsupported = Code(.mechanismUnsupported)
        /// The session was lost (`CKR_SESSION_HANDLE_INVALID`, `CKR_SESSION_CLOSED`, `CKR_DEVICE_REMOVED`,
        /// `CKR_TOKEN_NOT_PRESENT`), and again on the one retry with a new session.
        package static let sessionLost = Code(.sessionLost)
        /// `C_SignInit`/`C_Sign` failed otherwise, or returned a signature that is not 64 bytes r‖s in range.
        package static let signingFailed = Code(.signingFailed)
        /// RFC 6979 was asked of a token key: deterministic nonces need the private scalar, which a PKCS#11 key
        /// never reveals.
        package static let deterministicUnsupported = Code(.deterministicUnsupported)

        package var description: String { backing.rawValue }
    }

    /// What kind of failure this is.
    package let code: Code
    /// Why, in words (never the PIN).
    package let reason: String
    /// The key's URI (never with a PIN: a URI holding one is refused and shown without its query).
    package let uri: String?
    /// The PKCS#11 return value (`CK_RV`) that caused the failure, if any.
    package let returnValue: UInt?

    package init(code: Code, reason: String = "", uri: String? = nil, returnValue: UInt? = nil) {
        self.code = code
        self.reason = reason
        self.uri = uri
        self.returnValue = returnValue
    }

    package var failureClass: FailureClass { .keyOrCertificate }

    package var description: String {
        var text = code.description
        if let uri { text += " (\(uri))" }
        if !reason.isEmpty { text += ": \(reason)" }
        if let returnValue { text += " [\(PKCS11Error.name(ofReturnValue: returnValue))]" }
        return text
    }

    package static func == (lhs: PKCS11Error, rhs: PKCS11Error) -> Bool { lhs.code == rhs.code }

    /// The `CKR_…` name of a PKCS#11 return value (hex for the ones not listed).
    package static func name(ofReturnValue value: UInt) -> String {
        if let name = returnValueNames[value] { return name }
        return "CKR 0x" + String(value, radix: 16, uppercase: true)
    }

    private static let returnValueNames: [UInt: String] = [
        UInt(CKR_OK): "CKR_OK",
        UInt(CKR_CANCEL): "CKR_CANCEL",
        UInt(CKR_HOST_MEMORY): "CKR_HOST_MEMORY",
        UInt(CKR_SLOT_ID_INVALID): "CKR_SLOT_ID_INVALID",
        UInt(CKR_GENERAL_ERROR): "CKR_GENERAL_ERROR",
        UInt(CKR_FUNCTION_FAILED): "CKR_FUNCTION_FAILED",
        UInt(CKR_ARGUMENTS_BAD): "CKR_ARGUMENTS_BAD",
        UInt(CKR_CANT_LOCK): "CKR_CANT_LOCK",
        UInt(CKR_ATTRIBUTE_SENSITIVE): "CKR_ATTRIBUTE_SENSITIVE",
        UInt(CKR_ATTRIBUTE_TYPE_INVALID): "CKR_ATTRIBUTE_TYPE_INVALID",
        UInt(CKR_DATA_INVALID): "CKR_DATA_INVALID",
        UInt(CKR_DATA_LEN_RANGE): "CKR_DATA_LEN_RANGE",
        UInt(CKR_DEVICE_ERROR): "CKR_DEVICE_ERROR",
        UInt(CKR_DEVICE_MEMORY): "CKR_DEVICE_MEMORY",
        UInt(CKR_DEVICE_REMOVED): "CKR_DEVICE_REMOVED",
        UInt(CKR_FUNCTION_CANCELED): "CKR_FUNCTION_CANCELED",
        UInt(CKR_FUNCTION_NOT_SUPPORTED): "CKR_FUNCTION_NOT_SUPPORTED",
        UInt(CKR_KEY_HANDLE_INVALID): "CKR_KEY_HANDLE_INVALID",
        UInt(CKR_KEY_TYPE_INCONSISTENT): "CKR_KEY_TYPE_INCONSISTENT",
        UInt(CKR_KEY_FUNCTION_NOT_PERMITTED): "CKR_KEY_FUNCTION_NOT_PERMITTED",
        UInt(CKR_MECHANISM_INVALID): "CKR_MECHANISM_INVALID",
        UInt(CKR_MECHANISM_PARAM_INVALID): "CKR_MECHANISM_PARAM_INVALID",
        UInt(CKR_OBJECT_HANDLE_INVALID): "CKR_OBJECT_HANDLE_INVALID",
        UInt(CKR_OPERATION_ACTIVE): "CKR_OPERATION_ACTIVE",
        UInt(CKR_OPERATION_NOT_INITIALIZED): "CKR_OPERATION_NOT_INITIALIZED",
        UInt(CKR_PIN_INCORRECT): "CKR_PIN_INCORRECT",
        UInt(CKR_PIN_INVALID): "CKR_PIN_INVALID",
        UInt(CKR_PIN_LEN_RANGE): "CKR_PIN_LEN_RANGE",
        UInt(CKR_PIN_EXPIRED): "CKR_PIN_EXPIRED",
        UInt(CKR_PIN_LOCKED): "CKR_PIN_LOCKED",
        UInt(CKR_SESSION_CLOSED): "CKR_SESSION_CLOSED",
        UInt(CKR_SESSION_COUNT): "CKR_SESSION_COUNT",
        UInt(CKR_SESSION_HANDLE_INVALID): "CKR_SESSION_HANDLE_INVALID",
        UInt(CKR_TOKEN_NOT_PRESENT): "CKR_TOKEN_NOT_PRESENT",
        UInt(CKR_TOKEN_NOT_RECOGNIZED): "CKR_TOKEN_NOT_RECOGNIZED",
        UInt(CKR_USER_ALREADY_LOGGED_IN): "CKR_USER_ALREADY_LOGGED_IN",
        UInt(CKR_USER_NOT_LOGGED_IN): "CKR_USER_NOT_LOGGED_IN",
        UInt(CKR_USER_PIN_NOT_INITIALIZED): "CKR_USER_PIN_NOT_INITIALIZED",
        UInt(CKR_USER_TYPE_INVALID): "CKR_USER_TYPE_INVALID",
        UInt(CKR_BUFFER_TOO_SMALL): "CKR_BUFFER_TOO_SMALL",
        UInt(CKR_CRYPTOKI_NOT_INITIALIZED): "CKR_CRYPTOKI_NOT_INITIALIZED",
        UInt(CKR_CRYPTOKI_ALREADY_INITIALIZED): "CKR_CRYPTOKI_ALREADY_INITIALIZED",
    ]

    /// Return values that mean the session (or the token behind it) is gone: the one retry with a new session is
    /// made for these. `CKR_USER_NOT_LOGGED_IN` is one too: the login ends when a token's last session closes.
    static func isSessionLost(_ value: CK_RV) -> Bool {
        value == CKR_SESSION_HANDLE_INVALID || value == CKR_SESSION_CLOSED || value == CKR_DEVICE_REMOVED
            || value == CKR_TOKEN_NOT_PRESENT || value == CKR_USER_NOT_LOGGED_IN
    }
}
