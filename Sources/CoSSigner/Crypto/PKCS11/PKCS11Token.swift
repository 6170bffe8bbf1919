internal import CPKCS11
import Foundation

/// One token (a slot of a module) as this process uses it: the user login and a pool of sessions, so that many
/// threads sign at once, each with a session of its own (a PKCS#11 session runs one operation at a time).
///
/// The login is made once, on the first session (`C_Login` as `CKU_USER`); a token's login state is shared by
/// all of an application's sessions, so later sessions are logged in already. Should every session be lost
/// (and the login with them), a new session logs in again with the PIN kept here in cleansed storage.
/// One instance per (module, slot) in the process, shared by every key on the token while any holds it; its
/// `deinit` closes the sessions (`C_CloseSession`). Its mutable state is guarded by `condition`, hence
/// `@unchecked Sendable`.
final class PKCS11Token: @unchecked Sendable {
    struct Identity: Hashable, Sendable {
        let module: String
        let slot: UInt
    }

    let module: PKCS11Module
    let slot: CK_SLOT_ID
    /// The token's label (blank padding removed), for messages.
    let label: String
    /// The PIN the login was made with (nil when the token needs no login).
    let pin: PKCS11PIN?
    private let loginRequired: Bool
    private let identity: Identity

    private let condition = NSCondition()
    /// Sessions not in use (guarded by `condition`).
    private var idle: [CK_SESSION_HANDLE]
    /// Sessions open, idle or in use (guarded by `condition`).
    private var openCount: Int
    /// The most sessions opened at once (lowered if the token answers `CKR_SESSION_COUNT`).
    private var maxSessions: Int
    /// Sessions closed because they failed or were lost (guarded by `condition`).
    private var discardedCount = 0

    private static let instances = SharedInstances<Identity, PKCS11Token>()

    /// Sessions opened at most, when the token gives no lower limit.
    static let defaultMaxSessions = 64

    private init(
        module: PKCS11Module, slot: CK_SLOT_ID, label: String, pin: PKCS11PIN?, loginRequired: Bool,
        firstSession: CK_SESSION_HANDLE, maxSessions: Int
    ) {
        self.module = module
        self.slot = slot
        self.label = label
        self.pin = pin
        self.loginRequired = loginRequired
        self.identity = Identity(module: module.path, slot: UInt(slot))
        self.idle = [firstSession]
        self.openCount = 1
        self.maxSessions = maxSessions
    }

    deinit {
        // No session is in use: every use holds the token. A finalised module closed them all already.
        let sessions = idle, close = module.functions.closeSession, module = module
        Self.instances.retire(identity, identity: ObjectIdentifier(self)) {
            guard !module.isFinalized else { return }
            for session in sessions { _ = close(session) }
        }
    }

    /// Forgets the tokens of modules ``PKCS11Module/finalizeBeforeExit()`` finalised (their sessions and login are
    /// gone), so that a key loaded later opens the token again.
    static func forgetTokensOfFinalizedModules() {
        _ = instances.retireAll { $0.module.isFinalized }
    }

    /// The token in `slot` of `module`, logged in with `pin` (or the instance this process already has, if
    /// it was logged in with the same PIN).
    /// - Throws: ``PKCS11Error``: ``PKCS11Error/Code/pinUnavailable`` (the token needs a PIN and none was
    ///   given), ``PKCS11Error/Code/pinIncorrect``, ``PKCS11Error/Code/pinLocked``,
    ///   ``PKCS11Error/Code/moduleFailed``.
    static func open(
        module: PKCS11Module, slot: CK_SLOT_ID, info: CK_TOKEN_INFO, pin: PKCS11PIN?, uri: String
    ) throws(PKCS11Error) -> PKCS11Token {
        let label = PKCS11Text.field(info.label)
        let loginRequired = info.flags & CK_FLAGS(CKF_LOGIN_REQUIRED) != 0
        if loginRequired, pin == nil {
            throw PKCS11Error(
                code: .pinUnavailable,
                reason: "token '\(label)' needs its user PIN: give it with --pin-env NAME or --pin-file FILE (pin_env/pin_file in a registry)",
                uri: uri)
        }
        if loginRequired, info.flags & CK_FLAGS(CKF_USER_PIN_LOCKED) != 0 {
            throw PKCS11Error(code: .pinLocked, reason: "the user PIN of token '\(label)' is locked", uri: uri)
        }
        let identity = Identity(module: module.path, slot: UInt(slot))
        let token = try instances.instance(for: identity) { () throws(PKCS11Error) -> PKCS11Token in
            let functions = module.functions
            var session = CK_SESSION_HANDLE(CK_INVALID_HANDLE)
            let opened = functions.openSession(slot, CK_FLAGS(CKF_SERIAL_SESSION), nil, nil, &session)
            guard opened == CKR_OK else {
                throw PKCS11Error(
                    code: .moduleFailed, reason: "cannot open a session with token '\(label)'", uri: uri,
                    returnValue: UInt(opened))
            }
            if loginRequired, let pin {
                do throws(PKCS11Error) {
                    try login(functions, session: session, pin: pin, label: label, uri: uri)
                } catch {
                    _ = functions.closeSession(session)
                    throw error
                }
            }
            var maxSessions = defaultMaxSessions
            let tokenMax = info.ulMaxSessionCount
            if tokenMax != CK_ULONG(CK_EFFECTIVELY_INFINITE), tokenMax != cos_p11_unavailable_information() {
                maxSessions = max(1, min(maxSessions, Int(clamping: tokenMax)))
            }
            return PKCS11Token(
                module: module, slot: slot, label: label, pin: loginRequired ? pin : nil,
                loginRequired: loginRequired, firstSession: session, maxSessions: maxSessions)
        }
        // This process already holds the token: its login is shared, so a key given another PIN must not ride on it.
        if loginRequired, let pin, let held = token.pin, !held.isSame(as: pin) {
            throw PKCS11Error(
                code: .pinIncorrect,
                reason: "the PIN differs from the one this process logged in to token '\(label)' with (a token has one user PIN)",
                uri: uri)
        }
        return token
    }

    /// `C_Login` as `CKU_USER`; already logged in is fine.
    private static func login(
        _ functions: PKCS11Functions, session: CK_SESSION_HANDLE, pin: PKCS11PIN, label: String, uri: String
    ) throws(PKCS11Error) {
        let rv = pin.secret.withUnsafeBytes { bytes in
            functions.login(
                session, CK_USER_TYPE(CKU_USER),
                UnsafeMutablePointer(mutating: bytes.baseAddress?.assumingMemoryBound(to: CK_UTF8CHAR.self)),
                CK_ULONG(bytes.count))
        }
        switch rv {
        case CK_RV(CKR_OK), CK_RV(CKR_USER_ALREADY_LOGGED_IN):
            return
        case CK_RV(CKR_PIN_INCORRECT), CK_RV(CKR_PIN_INVALID), CK_RV(CKR_PIN_LEN_RANGE):
            throw PKCS11Error(
                code: .pinIncorrect, reason: "token '\(label)' refused the user PIN", uri: uri, returnValue: UInt(rv))
        case CK_RV(CKR_PIN_LOCKED):
            throw PKCS11Error(
                code: .pinLocked, reason: "the user PIN of token '\(label)' is locked", uri: uri, returnValue: UInt(rv))
        case CK_RV(CKR_PIN_EXPIRED):
            throw PKCS11Error(
                code: .pinLocked, reason: "the user PIN of token '\(label)' has expired: set a new one first",
                uri: uri, returnValue: UInt(rv))
        case CK_RV(CKR_USER_PIN_NOT_INITIALIZED):
            throw PKCS11Error(
                code: .pinUnavailable, reason: "token '\(label)' has no user PIN set", uri: uri, returnValue: UInt(rv))
        default:
            throw PKCS11Error(
                code: .moduleFailed, reason: "C_Login to token '\(label)' failed", uri: uri, returnValue: UInt(rv))
        }
    }

    // MARK: The session pool

    /// Runs `body` with a session no other thread uses meanwhile. The session goes back to the pool afterwards,
    /// unless `body` failed with a lost session or (`discardOnFailure`) failed at all: then it is closed, as its
    /// state is unknown (an operation may still be active in it).
    func withSession<R>(
        uri: String, discardOnFailure: Bool, _ body: (CK_SESSION_HANDLE) throws(PKCS11Error) -> R
    ) throws(PKCS11Error) -> R {
        let session = try acquire(uri: uri)
        do throws(PKCS11Error) {
            let result = try body(session)
            release(session)
            return result
        } catch {
            if discardOnFailure || error.returnValue.map({ PKCS11Error.isSessionLost(CK_RV($0)) }) == true {
                discard(session)
            } else {
                release(session)
            }
            throw error
        }
    }

    /// Closes every idle session (after a session was lost, the others may be gone too).
    func discardIdleSessions() {
        condition.lock()
        let sessions = idle
        idle.removeAll()
        openCount -= sessions.count
        discardedCount += sessions.count
        condition.broadcast()
        condition.unlock()
        for session in sessions { _ = module.functions.closeSession(session) }
    }

    /// Sessions open now, idle or in use.
    var openSessionCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return openCount
    }

    /// Sessions closed so far because they failed or were lost.
    var discardedSessionCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return discardedCount
    }

    /// Tokens this process holds now.
    static var liveCount: Int { instances.liveCount }

    private func acquire(uri: String) throws(PKCS11Error) -> CK_SESSION_HANDLE {
        condition.lock()
        while true {
            if let session = idle.popLast() {
                condition.unlock()
                return session
            }
            if openCount < maxSessions {
                openCount += 1
                condition.unlock()
                let opened: CK_SESSION_HANDLE?
                do throws(PKCS11Error) {
                    opened = try openSession(uri: uri)
                } catch {
                    condition.lock()
                    openCount -= 1
                    condition.broadcast()
                    condition.unlock()
                    throw error
                }
                if let opened { return opened }
                // The token has no more sessions to give: wait for one of ours (there is at least one).
                condition.lock()
                openCount -= 1
                maxSessions = max(1, openCount)
                continue
            }
            condition.wait()
        }
    }

    /// A new session, logged in (the login is gone if every earlier session was lost). Nil when the token
    /// answers `CKR_SESSION_COUNT` while this pool has sessions open that it can wait for.
    private func openSession(uri: String) throws(PKCS11Error) -> CK_SESSION_HANDLE? {
        let functions = module.functions
        var session = CK_SESSION_HANDLE(CK_INVALID_HANDLE)
        let rv = functions.openSession(slot, CK_FLAGS(CKF_SERIAL_SESSION), nil, nil, &session)
        if rv == CKR_SESSION_COUNT, openSessionCount > 1 { return nil }
        guard rv == CKR_OK else {
            let lost = PKCS11Error.isSessionLost(rv)
            throw PKCS11Error(
                code: lost ? .sessionLost : .moduleFailed, reason: "cannot open a session with token '\(label)'",
                uri: uri, returnValue: UInt(rv))
        }
        if loginRequired, let pin {
            var info = CK_SESSION_INFO()
            let state = functions.getSessionInfo(session, &info)
            if state != CKR_OK || info.state == CK_STATE(CKS_RO_PUBLIC_SESSION)
                || info.state == CK_STATE(CKS_RW_PUBLIC_SESSION)
            {
                do throws(PKCS11Error) {
                    try Self.login(functions, session: session, pin: pin, label: label, uri: uri)
                } catch {
                    _ = functions.closeSession(session)
                    throw error
                }
            }
        }
        return session
    }

    private func release(_ session: CK_SESSION_HANDLE) {
        condition.lock()
        idle.append(session)
        condition.signal()
        condition.unlock()
    }

    private func discard(_ session: CK_SESSION_HANDLE) {
        _ = module.functions.closeSession(session)
        condition.lock()
        openCount -= 1
        discardedCount += 1
        condition.signal()
        condition.unlock()
    }

    /// `C_CloseAllSessions` on the token: every session of this process, and its login, are gone (as when a
    /// token is pulled and put back). For tests of the lost-session retry.
    func closeAllSessionsForTesting() {
        _ = module.functions.closeAllSessions(slot)
    }
}

/// Text fields of PKCS#11 structures: fixed-size, blank-padded, not NUL-terminated.
enum PKCS11Text {
    /// The field's text without its trailing blanks (or NULs), as UTF-8.
    static func field<T>(_ tuple: T) -> String {
        withUnsafeBytes(of: tuple) { raw in
            var end = raw.count
            while end > 0, raw[end - 1] == 0x20 || raw[end - 1] == 0 { end -= 1 }
            return String(decoding: raw[..<end], as: UTF8.self)
        }
    }
}
