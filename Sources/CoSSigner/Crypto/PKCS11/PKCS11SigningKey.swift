internal import CPKCS11
import Foundation

/// An ECDSA P-256 private key that stays in a PKCS#11 token (an HSM, a smart card, SoftHSM2): it signs with
/// `CKM_ECDSA` over a SHA-256 digest inside the token, and is never read (`CKA_VALUE` is never asked for; such
/// keys are usually sensitive and not extractable).
///
/// Loaded from an RFC 7512 URI (``PKCS11URI``), a module path, a PIN source and the key's certificate:
/// the module is loaded and initialised for threads, the token is found and logged in once, the private key
/// object is found, and the key must be the certificate's (the token's public key, `CKA_EC_POINT`, equals the
/// certificate's, and a signature made at load verifies under the certificate's key), else it does not load.
///
/// Many threads may sign at once: each signature takes a session from the token's pool. A lost session
/// (`CKR_SESSION_HANDLE_INVALID`, `CKR_SESSION_CLOSED`, `CKR_DEVICE_REMOVED`, `CKR_TOKEN_NOT_PRESENT`) is retried
/// once with a new session (logging in again if the login went with it), then fails. Deterministic (RFC 6979)
/// signatures are refused: they need the private scalar.
package final class PKCS11SigningKey: @unchecked Sendable, CustomStringConvertible {
    // @unchecked Sendable: immutable after load except `object`, which `objectLock` guards; the token guards
    // its own pool.
    /// The URI the key was loaded from.
    package let uri: PKCS11URI
    /// The key's public key (the certificate's, which the token's was checked against).
    package let publicKey: PublicKey
    let token: PKCS11Token
    /// The attributes that found the key object (class, and label/id), to find it again after a lost session.
    private let search: PKCS11ObjectSearch
    private let objectLock = NSLock()
    private var object: CK_OBJECT_HANDLE

    private init(uri: PKCS11URI, publicKey: PublicKey, token: PKCS11Token, search: PKCS11ObjectSearch, object: CK_OBJECT_HANDLE) {
        self.uri = uri
        self.publicKey = publicKey
        self.token = token
        self.search = search
        self.object = object
    }

    /// Loads the private key named by a `pkcs11:` URI, checked against its certificate.
    ///
    /// This is the factory a caller with a key reference uses (the CLI's `--key pkcs11:…`; a parties registry's
    /// `signing_key = "pkcs11:…"` with its top-level `pkcs11_module` and the credential's `pin_env`/`pin_file`;
    /// see ``AnySigningKey/load(_:certificate:pkcs11Module:pin:passphrase:keyFilePolicy:)`` for both kinds).
    /// Keys on the same token in one process share its module, login and session pool.
    /// - Parameters:
    ///   - uri: the RFC 7512 URI (`pkcs11:token=cos;object=ts1-xml-sign;type=private`).
    ///   - modulePath: the PKCS#11 module; may be nil when the URI has `module-path`, and must name the same
    ///     file when both are given.
    ///   - pin: where the user PIN comes from (nil only for a token that needs no login).
    ///   - certificate: the key's certificate (P-256).
    ///   - pinFilePolicy: the permission rule for a PIN file (that of private key files;
    ///     ``KeyFilePolicy/allowInsecure`` is `--allow-insecure-key-file`).
    /// - Throws: ``PKCS11Error`` (exit code 3), naming the URI and never the PIN.
    package static func load(
        uri text: String, modulePath: String?, pin: PINSource?, certificate: Certificate,
        pinFilePolicy: KeyFilePolicy = .strict
    ) throws(PKCS11Error) -> PKCS11SigningKey {
        let uri = try PKCS11URI(parsing: text)
        let shown = uri.text
        let certificateKey: PublicKey
        do {
            certificateKey = try certificate.publicKey()
        } catch {
            throw PKCS11Error(
                code: .unsupportedKey, reason: "the certificate (serial \(certificate.serialNumber)) does not hold a P-256 key",
                uri: shown)
        }
        let path = try resolveModule(uri: uri, modulePath: modulePath)
        let pinValue = try pin?.load(policy: pinFilePolicy, uri: shown)
        let module = try PKCS11Module.load(path: path, uri: shown)
        let (slot, info) = try findToken(uri: uri, module: module)
        let token = try PKCS11Token.open(module: module, slot: slot, info: info, pin: pinValue, uri: shown)
        try requireECDSA(token: token, uri: shown)

        let search = PKCS11ObjectSearch(label: uri.object, id: uri.id)
        let (object, keyLabel, keyID) = try token.withSession(uri: shown, discardOnFailure: false) {
            session throws(PKCS11Error) in
            let objects = try search.find(CKO_PRIVATE_KEY, in: session, token: token, uri: shown, limit: 2)
            guard let object = objects.first else {
                throw PKCS11Error(
                    code: .objectNotFound,
                    reason: "token '\(token.label)' has no private key object with \(search.summary)", uri: shown)
            }
            guard objects.count == 1 else {
                throw PKCS11Error(
                    code: .objectAmbiguous,
                    reason: "token '\(token.label)' has several private keys with \(search.summary): add object= or id= to the URI",
                    uri: shown)
            }
            let attributes = PKCS11Attributes(session: session, object: object, functions: token.module.functions)
            guard attributes.unsignedLong(CKA_KEY_TYPE) == CK_ULONG(CKK_EC) else {
                throw PKCS11Error(code: .unsupportedKey, reason: "the key object is not an EC key", uri: shown)
            }
            if let parameters = attributes.bytes(CKA_EC_PARAMS), parameters != PKCS11SigningKey.p256Parameters {
                throw PKCS11Error(code: .unsupportedKey, reason: "the key is not on P-256 (prime256v1)", uri: shown)
            }
            if attributes.bool(CKA_SIGN) == false {
                throw PKCS11Error(code: .unsupportedKey, reason: "the key object may not sign (CKA_SIGN is false)", uri: shown)
            }
            return (object, attributes.bytes(CKA_LABEL), attributes.bytes(CKA_ID))
        }

        // The token's own public key, when it holds one beside the private key (the same CKA_ID, else label).
        let tokenPoint = try token.withSession(uri: shown, discardOnFailure: false) { session throws(PKCS11Error) -> [UInt8]? in
            let partner = keyID.map { $0.isEmpty ? nil : $0 } ?? nil
            let publicSearch = PKCS11ObjectSearch(label: partner == nil ? keyLabel.flatMap { String(validating: $0, as: UTF8.self) } : nil, id: partner)
            guard publicSearch.label != nil || publicSearch.id != nil else { return nil }
            let objects = try publicSearch.find(CKO_PUBLIC_KEY, in: session, token: token, uri: shown, limit: 2)
            guard objects.count == 1 else { return nil }
            let attributes = PKCS11Attributes(session: session, object: objects[0], functions: token.module.functions)
            return attributes.bytes(CKA_EC_POINT)
        }
        if let tokenPoint {
            guard let point = ecPoint(tokenPoint) else {
                throw PKCS11Error(
                    code: .unsupportedKey,
                    reason: "the token's public key (CKA_EC_POINT, \(tokenPoint.count) bytes) is not an uncompressed P-256 point",
                    uri: shown)
            }
            guard point == certificateKey.uncompressedPoint else {
                throw PKCS11Error(
                    code: .keyMismatch,
                    reason: "the token's public key is not the certificate's (serial \(certificate.serialNumber), issuer \(certificate.issuer.rfc2253))",
                    uri: shown)
            }
        }

        let key = PKCS11SigningKey(uri: uri, publicKey: certificateKey, token: token, search: search, object: object)
        // Proof that the private key is the certificate's, whether or not the token holds a public key object.
        let digest = SHA256.hash(Array("CoSSigner PKCS#11 key check".utf8))
        let proof = try key.signature(digest: digest)
        guard certificateKey.isValidSignature(proof, forDigest: digest) else {
            throw PKCS11Error(
                code: .keyMismatch,
                reason: "a signature by the token key does not verify under the certificate's key (serial \(certificate.serialNumber), issuer \(certificate.issuer.rfc2253))",
                uri: shown)
        }
        return key
    }

    // MARK: Signing

    /// Signs a SHA-256 digest (32 bytes) in the token (`CKM_ECDSA`; the token's nonce).
    /// - Throws: ``PKCS11Error`` (``PKCS11Error/Code/sessionLost`` after the one retry,
    ///   ``PKCS11Error/Code/signingFailed``), ``CryptoError`` for a digest that is not 32 bytes.
    package func signature(forDigest digest: [UInt8]) throws -> ECDSASignature {
        guard digest.count == SHA256.byteCount else {
            throw CryptoError(code: .invalidDigest, reason: "a SHA-256 digest is 32 bytes, got \(digest.count)")
        }
        return try signature(digest: digest)
    }

    private func signature(digest: [UInt8]) throws(PKCS11Error) -> ECDSASignature {
        let shown = uri.text
        objectLock.lock()
        let current = object
        objectLock.unlock()
        do throws(PKCS11Error) {
            return try token.withSession(uri: shown, discardOnFailure: true) { session throws(PKCS11Error) in
                try sign(digest, with: current, in: session)
            }
        } catch where error.returnValue.map({ PKCS11Error.isSessionLost(CK_RV($0)) }) == true {
            let first = error
            // One retry with a new session; the other idle sessions are likely gone too, and the object handle
            // may have changed if the token was put back.
            token.discardIdleSessions()
            do throws(PKCS11Error) {
                return try token.withSession(uri: shown, discardOnFailure: true) { session throws(PKCS11Error) in
                    let objects = try search.find(CKO_PRIVATE_KEY, in: session, token: token, uri: shown, limit: 2)
                    guard objects.count == 1 else {
                        throw PKCS11Error(
                            code: .objectNotFound,
                            reason: "after a lost session, the key object (\(search.summary)) is no longer on token '\(token.label)'",
                            uri: shown)
                    }
                    objectLock.lock()
                    object = objects[0]
                    objectLock.unlock()
                    return try sign(digest, with: objects[0], in: session)
                }
            } catch {
                if let rv = error.returnValue, PKCS11Error.isSessionLost(CK_RV(rv)) {
                    throw PKCS11Error(
                        code: .sessionLost,
                        reason: "the session with token '\(token.label)' was lost (\(PKCS11Error.name(ofReturnValue: first.returnValue ?? 0))), and again with a new session",
                        uri: shown, returnValue: rv)
                }
                throw error
            }
        }
    }

    /// `C_SignInit` + `C_Sign` with `CKM_ECDSA`: the result must be r‖s, 64 bytes, each in [1, n-1].
    private func sign(_ digest: [UInt8], with object: CK_OBJECT_HANDLE, in session: CK_SESSION_HANDLE) throws(PKCS11Error) -> ECDSASignature {
        let functions = token.module.functions
        var mechanism = CK_MECHANISM(mechanism: CK_MECHANISM_TYPE(CKM_ECDSA), pParameter: nil, ulParameterLen: 0)
        let initialized = functions.signInit(session, &mechanism, object)
        guard initialized == CKR_OK else {
            throw PKCS11Error(
                code: .signingFailed, reason: "C_SignInit (CKM_ECDSA) failed on token '\(token.label)'", uri: uri.text,
                returnValue: UInt(initialized))
        }
        // Room for any curve's r||s, so that a wrong key size is reported by its length, not as a short buffer.
        var output = [UInt8](repeating: 0, count: 160)
        var length = CK_ULONG(output.count)
        let rv = digest.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                functions.sign(
                    session, UnsafeMutablePointer(mutating: input.baseAddress), CK_ULONG(input.count), out.baseAddress, &length)
            }
        }
        guard rv == CKR_OK else {
            throw PKCS11Error(
                code: .signingFailed, reason: "C_Sign (CKM_ECDSA) failed on token '\(token.label)'", uri: uri.text,
                returnValue: UInt(rv))
        }
        guard length == 64 else {
            throw PKCS11Error(
                code: .signingFailed,
                reason: "the token returned a \(length)-byte signature, not the 64 bytes r||s of P-256", uri: uri.text)
        }
        let r = Array(output[0..<32])
        let s = Array(output[32..<64])
        guard P256Curve.isValidScalar(r), P256Curve.isValidScalar(s) else {
            throw PKCS11Error(code: .signingFailed, reason: "the token returned r or s outside [1, n-1]", uri: uri.text)
        }
        return ECDSASignature(validatedR: r, s: s)
    }

    package var description: String { "PKCS11SigningKey(\(uri.text), public \(hexString(publicKey.uncompressedPoint)))" }

    // MARK: Loading

    /// DER of the prime256v1 OID, as `CKA_EC_PARAMS` holds it.
    static let p256Parameters: [UInt8] = [0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07]

    /// 04‖X‖Y from `CKA_EC_POINT`: the DER OCTET STRING PKCS#11 specifies, or the raw point some tokens give.
    static func ecPoint(_ value: [UInt8]) -> [UInt8]? {
        if value.count == 65, value[0] == 0x04 { return value }
        if value.count == 67, value[0] == 0x04, value[1] == 0x41, value[2] == 0x04 { return Array(value[2...]) }
        return nil
    }

    private static func resolveModule(uri: PKCS11URI, modulePath: String?) throws(PKCS11Error) -> String {
        switch (modulePath, uri.modulePath) {
        case (nil, nil):
            throw PKCS11Error(
                code: .moduleNotFound,
                reason: "no PKCS#11 module given: use --pkcs11-module PATH (pkcs11_module in a registry) or module-path= in the URI",
                uri: uri.text)
        case (let given?, nil):
            return given
        case (nil, let inURI?):
            return inURI
        case (let given?, let inURI?):
            if given == inURI { return given }
            let a = realpath(given, nil), b = realpath(inURI, nil)
            defer {
                free(a)
                free(b)
            }
            if let a, let b, strcmp(a, b) == 0 { return given }
            throw PKCS11Error(
                code: .invalidURI, reason: "the URI's module-path (\(inURI)) is not the module given (\(given))", uri: uri.text)
        }
    }

    /// The one slot whose token matches the URI's token, slot and library attributes.
    private static func findToken(uri: PKCS11URI, module: PKCS11Module) throws(PKCS11Error) -> (CK_SLOT_ID, CK_TOKEN_INFO) {
        let functions = module.functions
        let shown = uri.text
        if uri.libraryManufacturer != nil || uri.libraryDescription != nil || uri.libraryVersion != nil {
            var info = CK_INFO()
            let rv = functions.getInfo(&info)
            guard rv == CKR_OK else {
                throw PKCS11Error(code: .moduleFailed, reason: "C_GetInfo failed", uri: shown, returnValue: UInt(rv))
            }
            let matches =
                uri.libraryManufacturer.map { $0 == PKCS11Text.field(info.manufacturerID) } ?? true
                && uri.libraryDescription.map { $0 == PKCS11Text.field(info.libraryDescription) } ?? true
                && uri.libraryVersion.map {
                    $0.major == info.libraryVersion.major && ($0.minor.map { $0 == info.libraryVersion.minor } ?? true)
                } ?? true
            guard matches else {
                throw PKCS11Error(
                    code: .tokenNotFound,
                    reason: "the module is '\(PKCS11Text.field(info.libraryDescription))' by '\(PKCS11Text.field(info.manufacturerID))' \(info.libraryVersion.major).\(info.libraryVersion.minor), not the library the URI names",
                    uri: shown)
            }
        }
        var count = CK_ULONG(0)
        var rv = functions.getSlotList(CK_BBOOL(CK_TRUE), nil, &count)
        guard rv == CKR_OK else {
            throw PKCS11Error(code: .moduleFailed, reason: "C_GetSlotList failed", uri: shown, returnValue: UInt(rv))
        }
        var slots = [CK_SLOT_ID](repeating: 0, count: Int(count))
        if count > 0 {
            rv = functions.getSlotList(CK_BBOOL(CK_TRUE), &slots, &count)
            guard rv == CKR_OK else {
                throw PKCS11Error(code: .moduleFailed, reason: "C_GetSlotList failed", uri: shown, returnValue: UInt(rv))
            }
            slots = Array(slots.prefix(Int(count)))
        }
        var found: [(CK_SLOT_ID, CK_TOKEN_INFO)] = []
        var present: [String] = []
        for slot in slots {
            if let wanted = uri.slotID, UInt(slot) != wanted { continue }
            if uri.slotDescription != nil || uri.slotManufacturer != nil {
                var slotInfo = CK_SLOT_INFO()
                guard functions.getSlotInfo(slot, &slotInfo) == CKR_OK else { continue }
                if let wanted = uri.slotDescription, wanted != PKCS11Text.field(slotInfo.slotDescription) { continue }
                if let wanted = uri.slotManufacturer, wanted != PKCS11Text.field(slotInfo.manufacturerID) { continue }
            }
            var info = CK_TOKEN_INFO()
            guard functions.getTokenInfo(slot, &info) == CKR_OK else { continue }
            guard info.flags & CK_FLAGS(CKF_TOKEN_INITIALIZED) != 0 else { continue }
            let label = PKCS11Text.field(info.label)
            present.append(label)
            if let wanted = uri.token, wanted.trimmingTrailingBlanks != label { continue }
            if let wanted = uri.manufacturer, wanted.trimmingTrailingBlanks != PKCS11Text.field(info.manufacturerID) { continue }
            if let wanted = uri.serial, wanted.trimmingTrailingBlanks != PKCS11Text.field(info.serialNumber) { continue }
            if let wanted = uri.model, wanted.trimmingTrailingBlanks != PKCS11Text.field(info.model) { continue }
            found.append((slot, info))
        }
        guard let first = found.first else {
            let tokens = present.isEmpty ? "no token is present" : "tokens present: " + present.map { "'\($0)'" }.joined(separator: ", ")
            throw PKCS11Error(code: .tokenNotFound, reason: "no token matches the URI (\(tokens))", uri: shown)
        }
        guard found.count == 1 else {
            throw PKCS11Error(
                code: .tokenAmbiguous,
                reason: "\(found.count) tokens match the URI (\(found.map { "'\(PKCS11Text.field($0.1.label))' in slot \($0.0)" }.joined(separator: ", "))): add serial= or slot-id=",
                uri: shown)
        }
        return first
    }

    /// The token offers CKM_ECDSA for signing.
    private static func requireECDSA(token: PKCS11Token, uri: String) throws(PKCS11Error) {
        let functions = token.module.functions
        var count = CK_ULONG(0)
        var rv = functions.getMechanismList(token.slot, nil, &count)
        var mechanisms = [CK_MECHANISM_TYPE](repeating: 0, count: Int(count))
        if rv == CKR_OK, count > 0 {
            rv = functions.getMechanismList(token.slot, &mechanisms, &count)
            mechanisms = Array(mechanisms.prefix(Int(count)))
        }
        guard rv == CKR_OK else {
            throw PKCS11Error(code: .moduleFailed, reason: "C_GetMechanismList failed", uri: uri, returnValue: UInt(rv))
        }
        guard mechanisms.contains(CK_MECHANISM_TYPE(CKM_ECDSA)) else {
            throw PKCS11Error(
                code: .mechanismUnsupported, reason: "token '\(token.label)' does not offer CKM_ECDSA (ECDSA over a digest)", uri: uri)
        }
        var info = CK_MECHANISM_INFO()
        if functions.getMechanismInfo(token.slot, CK_MECHANISM_TYPE(CKM_ECDSA), &info) == CKR_OK,
            info.flags & CK_FLAGS(CKF_SIGN) == 0
        {
            throw PKCS11Error(
                code: .mechanismUnsupported, reason: "token '\(token.label)' offers CKM_ECDSA, but not for signing", uri: uri)
        }
    }
}

/// A search for key objects by class and the URI's `object` (CKA_LABEL) and `id` (CKA_ID).
struct PKCS11ObjectSearch: Sendable {
    let label: String?
    let id: [UInt8]?

    /// The attributes searched, in words.
    var summary: String {
        var parts: [String] = []
        if let label { parts.append("label '\(label)'") }
        if let id { parts.append("id \(id.isEmpty ? "(empty)" : hexString(id))") }
        return parts.isEmpty ? "any label and id" : parts.joined(separator: " and ")
    }

    /// Up to `limit` handles of objects of `objectClass` matching the search.
    func find(
        _ objectClass: some BinaryInteger, in session: CK_SESSION_HANDLE, token: PKCS11Token, uri: String, limit: Int
    ) throws(PKCS11Error) -> [CK_OBJECT_HANDLE] {
        let functions = token.module.functions
        var classValue = CK_OBJECT_CLASS(objectClass)
        var labelBytes = label.map { Array($0.utf8) } ?? []
        var idBytes = id ?? []
        var found = [CK_OBJECT_HANDLE](repeating: 0, count: limit)
        var count = CK_ULONG(0)
        let rv: CK_RV = withUnsafeMutableBytes(of: &classValue) { classRaw in
            labelBytes.withUnsafeMutableBytes { labelRaw in
                idBytes.withUnsafeMutableBytes { idRaw in
                    var template = [
                        CK_ATTRIBUTE(type: CK_ATTRIBUTE_TYPE(CKA_CLASS), pValue: classRaw.baseAddress, ulValueLen: CK_ULONG(classRaw.count))
                    ]
                    if label != nil {
                        template.append(CK_ATTRIBUTE(type: CK_ATTRIBUTE_TYPE(CKA_LABEL), pValue: labelRaw.baseAddress, ulValueLen: CK_ULONG(labelRaw.count)))
                    }
                    if id != nil {
                        template.append(CK_ATTRIBUTE(type: CK_ATTRIBUTE_TYPE(CKA_ID), pValue: idRaw.baseAddress, ulValueLen: CK_ULONG(idRaw.count)))
                    }
                    let started = template.withUnsafeMutableBufferPointer {
                        functions.findObjectsInit(session, $0.baseAddress, CK_ULONG($0.count))
                    }
                    guard started == CKR_OK else { return started }
                    let searched = found.withUnsafeMutableBufferPointer {
                        functions.findObjects(session, $0.baseAddress, CK_ULONG(limit), &count)
                    }
                    let finished = functions.findObjectsFinal(session)
                    return searched != CKR_OK ? searched : finished
                }
            }
        }
        guard rv == CKR_OK else {
            throw PKCS11Error(
                code: PKCS11Error.isSessionLost(rv) ? .sessionLost : .moduleFailed,
                reason: "searching token '\(token.label)' for the key failed", uri: uri, returnValue: UInt(rv))
        }
        return Array(found.prefix(Int(count)))
    }
}

/// Reads non-sensitive attributes of one object (never `CKA_VALUE`).
struct PKCS11Attributes {
    let session: CK_SESSION_HANDLE
    let object: CK_OBJECT_HANDLE
    let functions: PKCS11Functions

    /// The attribute's bytes; nil when the object has none, it is sensitive, or the call fails.
    func bytes(_ type: some BinaryInteger) -> [UInt8]? {
        guard CK_ATTRIBUTE_TYPE(type) != CK_ATTRIBUTE_TYPE(CKA_VALUE) else { return nil }  // the key's value is never read
        var attribute = CK_ATTRIBUTE(type: CK_ATTRIBUTE_TYPE(type), pValue: nil, ulValueLen: 0)
        guard functions.getAttributeValue(session, object, &attribute, 1) == CKR_OK,
            attribute.ulValueLen != cos_p11_unavailable_information(), attribute.ulValueLen <= 4096
        else { return nil }
        var value = [UInt8](repeating: 0, count: Int(attribute.ulValueLen))
        let rv = value.withUnsafeMutableBytes { raw in
            attribute.pValue = raw.baseAddress
            return functions.getAttributeValue(session, object, &attribute, 1)
        }
        guard rv == CKR_OK, attribute.ulValueLen <= value.count else { return nil }
        return Array(value.prefix(Int(attribute.ulValueLen)))
    }

    func unsignedLong(_ type: some BinaryInteger) -> CK_ULONG? {
        guard let value = bytes(type), value.count == MemoryLayout<CK_ULONG>.size else { return nil }
        return value.withUnsafeBytes { $0.loadUnaligned(as: CK_ULONG.self) }
    }

    func bool(_ type: some BinaryInteger) -> Bool? {
        guard let value = bytes(type), value.count == 1 else { return nil }
        return value[0] != 0
    }
}

extension String {
    /// Without trailing blanks (PKCS#11 pads its text fields with them).
    fileprivate var trimmingTrailingBlanks: String {
        var end = utf8.endIndex
        while end > utf8.startIndex, utf8[utf8.index(before: end)] == 0x20 { end = utf8.index(before: end) }
        return String(self[..<end])
    }
}
