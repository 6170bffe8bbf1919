internal import CPKCS11
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A PKCS#11 module (a shared library such as SoftHSM2's `libsofthsm2.so`), loaded with `dlopen` and initialised
/// for threads (`C_Initialize` with `CKF_OS_LOCKING_OK`); owns the handle: `C_Finalize` and `dlclose` in `deinit`.
/// The library itself stays mapped (`RTLD_NODELETE`): a module such as SoftHSM2 links OpenSSL, which this process
/// uses too, and unloading it left OpenSSL's exit-time clean-up with state the module had set up on the threads that
/// signed (the server crashed at exit, `free(): corrupted unsorted chunks`, after concurrent token signing).
///
/// A module is initialised once per process, so there is one instance per module file (by real path), shared
/// by every token and key that uses it while any holds it. Immutable after construction but for `finalized`, which
/// is only touched under the instances' lock; the module itself serialises what needs it (OS locking), hence
/// `@unchecked Sendable`.
final class PKCS11Module: @unchecked Sendable {
    /// The module's real path (symbolic links resolved).
    let path: String
    /// The functions used here, from the module's `C_GetFunctionList` (all present, checked at load).
    let functions: PKCS11Functions
    private let handle: UnsafeMutableRawPointer
    /// False when the module was already initialised by someone else in this process (then they finalise it).
    private let finalizesOnRelease: Bool

    private static let instances = SharedInstances<String, PKCS11Module>()

    /// Modules this process holds now.
    static var liveCount: Int { instances.liveCount }

    private init(path: String, functions: PKCS11Functions, handle: UnsafeMutableRawPointer, finalizesOnRelease: Bool) {
        self.path = path
        self.functions = functions
        self.handle = handle
        self.finalizesOnRelease = finalizesOnRelease
    }

    /// Set (under the instances' lock) once ``finalizeBeforeExit()`` has finalised the module.
    private var finalized = false

    deinit {
        let functions = functions, handle = handle, finalizes = finalizesOnRelease
        Self.instances.retire(path, identity: ObjectIdentifier(self)) {
            if finalizes && !finalized { _ = functions.finalize(nil) }
            dlclose(handle)
        }
    }

    /// Whether ``finalizeBeforeExit()`` has finalised this module (then its sessions are gone: nothing to close).
    var isFinalized: Bool { Self.instances.locked { finalized } }

    /// Finalises (`C_Finalize`) every module this process initialised and still holds, now, on this thread; for the
    /// end of a process, once nothing signs any more. A module's own clean-up must run before the process's
    /// exit-time destructors (the module's and OpenSSL's, which it links): the last reference to a key may
    /// otherwise be dropped on another thread while `exit` runs them, and SoftHSM2 then corrupts the heap.
    /// Keys still held afterwards fail with a ``PKCS11Error`` instead of signing; a later ``load(path:uri:)``
    /// initialises the module again.
    /// - Returns: the modules finalised.
    @discardableResult
    static func finalizeBeforeExit() -> Int {
        let count = instances.retireAll { module in
            guard module.finalizesOnRelease, !module.finalized else { return false }
            _ = module.functions.finalize(nil)
            module.finalized = true
            return true
        }
        PKCS11Token.forgetTokensOfFinalizedModules()
        return count
    }

    /// The module at `path`, loaded and initialised (or the instance this process already has).
    /// - Parameter uri: the key's URI, for messages.
    /// - Throws: ``PKCS11Error``: ``PKCS11Error/Code/moduleNotFound`` when there is no file there,
    ///   ``PKCS11Error/Code/notAModule`` when it cannot be loaded or has no complete `C_GetFunctionList`,
    ///   ``PKCS11Error/Code/moduleFailed`` when `C_Initialize` fails.
    static func load(path: String, uri: String) throws(PKCS11Error) -> PKCS11Module {
        var info = stat()
        guard !path.isEmpty, stat(path, &info) == 0 else {
            throw PKCS11Error(
                code: .moduleNotFound,
                reason: "no PKCS#11 module at \(path.isEmpty ? "''" : path)\(path.isEmpty ? "" : ": \(String(cString: strerror(errno)))")",
                uri: uri)
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw PKCS11Error(code: .notAModule, reason: "\(path) is not a regular file", uri: uri)
        }
        guard let resolved = realpath(path, nil) else {
            throw PKCS11Error(code: .moduleNotFound, reason: "cannot resolve \(path): \(String(cString: strerror(errno)))", uri: uri)
        }
        let real = String(cString: resolved)
        free(resolved)
        return try instances.instance(for: real) { () throws(PKCS11Error) -> PKCS11Module in
            try open(real, shown: path, uri: uri)
        }
    }

    private static func open(_ real: String, shown: String, uri: String) throws(PKCS11Error) -> PKCS11Module {
        _ = dlerror()
        guard let handle = dlopen(real, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE) else {
            let why = dlerror().map { String(cString: $0) } ?? "dlopen failed"
            throw PKCS11Error(code: .notAModule, reason: "\(shown) cannot be loaded as a shared library (\(why))", uri: uri)
        }
        var keep = false
        defer { if !keep { dlclose(handle) } }
        guard let symbol = dlsym(handle, "C_GetFunctionList") else {
            throw PKCS11Error(code: .notAModule, reason: "\(shown) has no C_GetFunctionList: it is not a PKCS#11 module", uri: uri)
        }
        var list: CK_FUNCTION_LIST_PTR? = nil
        let rv = cos_p11_get_function_list(symbol, &list)
        guard rv == CKR_OK, let list else {
            throw PKCS11Error(code: .notAModule, reason: "\(shown): C_GetFunctionList failed", uri: uri, returnValue: UInt(rv))
        }
        guard list.pointee.version.major >= 2 else {
            throw PKCS11Error(
                code: .notAModule,
                reason: "\(shown) implements Cryptoki \(list.pointee.version.major).\(list.pointee.version.minor); 2.x is needed",
                uri: uri)
        }
        guard let functions = PKCS11Functions(list.pointee) else {
            throw PKCS11Error(code: .notAModule, reason: "\(shown) lacks functions a signing key needs (its function list is incomplete)", uri: uri)
        }
        var arguments = CK_C_INITIALIZE_ARGS()
        arguments.flags = CK_FLAGS(CKF_OS_LOCKING_OK)
        let initialized = withUnsafeMutablePointer(to: &arguments) { functions.initialize(UnsafeMutableRawPointer($0)) }
        switch initialized {
        case CK_RV(CKR_OK):
            keep = true
            return PKCS11Module(path: real, functions: functions, handle: handle, finalizesOnRelease: true)
        case CK_RV(CKR_CRYPTOKI_ALREADY_INITIALIZED):
            keep = true
            return PKCS11Module(path: real, functions: functions, handle: handle, finalizesOnRelease: false)
        case CK_RV(CKR_CANT_LOCK):
            throw PKCS11Error(
                code: .moduleFailed, reason: "\(shown) cannot use the operating system's locks (needed to sign from several threads)",
                uri: uri, returnValue: UInt(initialized))
        default:
            throw PKCS11Error(code: .moduleFailed, reason: "C_Initialize of \(shown) failed", uri: uri, returnValue: UInt(initialized))
        }
    }
}

/// The PKCS#11 modules of this process, for whoever ends it (the server, once it has answered every request).
package enum PKCS11Modules {
    /// Finalises every module this process initialised and still holds, on this thread: see
    /// ``PKCS11Module/finalizeBeforeExit()``. Token keys still held fail afterwards instead of signing.
    /// - Returns: the modules finalised (0 when every key was released already, which finalised its module).
    @discardableResult
    package static func finalizeBeforeExit() -> Int { PKCS11Module.finalizeBeforeExit() }
}

/// The functions of a module's `CK_FUNCTION_LIST` that a signing key uses, every one present.
struct PKCS11Functions {
    let initialize: CK_C_Initialize
    let finalize: CK_C_Finalize
    let getInfo: CK_C_GetInfo
    let getSlotList: CK_C_GetSlotList
    let getSlotInfo: CK_C_GetSlotInfo
    let getTokenInfo: CK_C_GetTokenInfo
    let getMechanismList: CK_C_GetMechanismList
    let getMechanismInfo: CK_C_GetMechanismInfo
    let openSession: CK_C_OpenSession
    let closeSession: CK_C_CloseSession
    let closeAllSessions: CK_C_CloseAllSessions
    let getSessionInfo: CK_C_GetSessionInfo
    let login: CK_C_Login
    let findObjectsInit: CK_C_FindObjectsInit
    let findObjects: CK_C_FindObjects
    let findObjectsFinal: CK_C_FindObjectsFinal
    let getAttributeValue: CK_C_GetAttributeValue
    let signInit: CK_C_SignInit
    let sign: CK_C_Sign

    /// Nil when any is missing.
    init?(_ list: CK_FUNCTION_LIST) {
        guard let initialize = list.C_Initialize, let finalize = list.C_Finalize, let getInfo = list.C_GetInfo,
            let getSlotList = list.C_GetSlotList, let getSlotInfo = list.C_GetSlotInfo,
            let getTokenInfo = list.C_GetTokenInfo, let getMechanismList = list.C_GetMechanismList,
            let getMechanismInfo = list.C_GetMechanismInfo, let openSession = list.C_OpenSession,
            let closeSession = list.C_CloseSession, let closeAllSessions = list.C_CloseAllSessions,
            let getSessionInfo = list.C_GetSessionInfo, let login = list.C_Login,
            let findObjectsInit = list.C_FindObjectsInit, let findObjects = list.C_FindObjects,
            let findObjectsFinal = list.C_FindObjectsFinal, let getAttributeValue = list.C_GetAttributeValue,
            let signInit = list.C_SignInit, let sign = list.C_Sign
        else { return nil }
        self.initialize = initialize
        self.finalize = finalize
        self.getInfo = getInfo
        self.getSlotList = getSlotList
        self.getSlotInfo = getSlotInfo
        self.getTokenInfo = getTokenInfo
        self.getMechanismList = getMechanismList
        self.getMechanismInfo = getMechanismInfo
        self.openSession = openSession
        self.closeSession = closeSession
        self.closeAllSessions = closeAllSessions
        self.getSessionInfo = getSessionInfo
        self.login = login
        self.findObjectsInit = findObjectsInit
        self.findObjects = findObjects
        self.findObjectsFinal = findObjectsFinal
        self.getAttributeValue = getAttributeValue
        self.signInit = signInit
        self.sign = sign
    }
}

/// Instances shared by key while anyone holds them (held weakly here), so that a module is initialised, and a
/// token logged in, once per process. An instance's `deinit` calls ``retire(_:identity:release:)``, which
/// releases its C resources under the same lock as ``instance(for:make:)`` creates a new one: a new instance
/// for a key is never made while the previous one is still being released.
final class SharedInstances<Key: Hashable & Sendable, Value: AnyObject>: @unchecked Sendable {
    // @unchecked Sendable: `entries` is only touched with `condition` locked.
    private final class Entry {
        weak var value: Value?
        let identity: ObjectIdentifier
        init(_ value: Value) {
            self.value = value
            identity = ObjectIdentifier(value)
        }
    }

    private let condition = NSCondition()
    private var entries: [Key: Entry] = [:]

    /// The live instance for `key`, else a new one from `make` (run under the lock: it must not release an
    /// instance of this cache, so it does all its fallible work before it constructs the instance).
    func instance<E: Error>(for key: Key, make: () throws(E) -> Value) throws(E) -> Value {
        condition.lock()
        defer { condition.unlock() }
        while let entry = entries[key] {
            if let value = entry.value { return value }
            condition.wait()  // its last holder let go and its deinit is releasing it
        }
        let value = try make()
        entries[key] = Entry(value)
        return value
    }

    /// From an instance's `deinit`: runs `release` under the lock, then forgets the instance.
    func retire(_ key: Key, identity: ObjectIdentifier, release: () -> Void) {
        condition.lock()
        defer { condition.unlock() }
        release()
        if entries[key]?.identity == identity { entries[key] = nil }
        condition.broadcast()
    }

    /// Runs `body` under the lock (for state an instance keeps under it).
    func locked<R>(_ body: () -> R) -> R {
        condition.lock()
        defer { condition.unlock() }
        return body()
    }

    /// Runs `retire` under the lock on every live instance; those it retires (returns true for) are forgotten, so
    /// that the next ``instance(for:make:)`` makes a new one. The instances are released after the lock.
    /// - Returns: how many were retired.
    func retireAll(_ retire: (Value) -> Bool) -> Int {
        var held: [Value] = []
        defer { held.removeAll() }  // their deinit takes the lock: released only after it is let go
        condition.lock()
        defer { condition.unlock() }
        var count = 0
        for (key, entry) in entries {
            guard let value = entry.value else { continue }
            held.append(value)
            if retire(value) {
                entries[key] = nil
                count += 1
            }
        }
        condition.broadcast()
        return count
    }

    /// The live instances (for tests).
    var liveCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return entries.values.filter { $0.value != nil }.count
    }
}
