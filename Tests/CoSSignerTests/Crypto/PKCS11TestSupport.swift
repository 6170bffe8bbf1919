import CoSSignerTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A SoftHSM2 token store of its own: a temporary folder with `tokens/` and a `softhsm2.conf` naming it, set up
/// with Debian's `softhsm2-util`. A missing `softhsm2-util` or module fails the test loudly (never a skip).
struct SoftHSM {
    static let module = "/usr/lib/softhsm/libsofthsm2.so"
    static let userPIN = "Pin-4711"
    static let soPIN = "So-Pin-0815"

    let directory: URL
    /// The `softhsm2.conf` path (`SOFTHSM2_CONF`).
    let configuration: String

    /// The environment a child process needs to see these tokens.
    var environment: [String: String] { ["SOFTHSM2_CONF": configuration] }

    /// A new store in a new temporary folder.
    init() throws {
        try self.init(directory: try TestPaths.temporaryDirectory())
    }

    init(directory: URL) throws {
        guard FileManager.default.fileExists(atPath: Self.module) else {
            Issue.record("the SoftHSM2 module \(Self.module) is missing (CI installs softhsm2 through .ci/run)")
            throw ToolMissing(tool: Self.module)
        }
        self.directory = directory
        configuration = directory.appendingPathComponent("softhsm2.conf").path
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("tokens"), withIntermediateDirectories: true)
        try writeConfiguration(mechanisms: "ALL")
    }

    /// Rewrites the configuration; `mechanisms` is SoftHSM's `slots.mechanisms` (ALL, or a list of CKM_ names).
    func writeConfiguration(mechanisms: String) throws {
        let text = """
            directories.tokendir = \(directory.appendingPathComponent("tokens").path)
            objectstore.backend = file
            log.level = ERROR
            slots.removable = false
            slots.mechanisms = \(mechanisms)
            library.reset_on_fork = false

            """
        try Data(text.utf8).write(to: URL(fileURLWithPath: configuration))
    }

    /// `softhsm2-util` with this store's configuration; a failure is a test failure with its output.
    @discardableResult
    func util(_ arguments: [String]) throws -> ProcessResult {
        let result = try TestProcess.run("softhsm2-util", arguments, environment: environment)
        if result.status != 0 {
            Issue.record("softhsm2-util \(arguments.first ?? "") failed (\(result.status)): \(result.stdout)\(result.stderr)")
            throw ToolMissing(tool: "softhsm2-util \(arguments.first ?? "")")
        }
        return result
    }

    /// Initialises a token in a free slot.
    func initToken(_ label: String, pin: String = SoftHSM.userPIN) throws {
        try util(["--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", Self.soPIN])
    }

    /// Imports a DCC Boxed private key (by name in shared/vectors/dccboxed/keys; PKCS#8 PEM), copied first to a
    /// 0600 temporary file, as the key pair `label`/`id` (hex).
    func importKey(_ name: String, token: String, label: String, id: String, pin: String = SoftHSM.userPIN) throws {
        let copy = directory.appendingPathComponent("import-\(UUID().uuidString).pk8.pem").path
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("\(Fixtures.keys)/\(name)")))
        guard FileManager.default.createFile(atPath: copy, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw FixtureMissing(path: copy)
        }
        defer { try? FileManager.default.removeItem(atPath: copy) }
        try util(["--import", copy, "--token", token, "--label", label, "--id", id, "--pin", pin, "--so-pin", Self.soPIN])
    }

    /// Deletes the public key object `id` (hex) from `token` with OpenSC's `pkcs11-tool`, leaving the private key
    /// alone on the token, as on HSMs that keep no public key object.
    func deletePublicKey(token: String, id: String, pin: String = SoftHSM.userPIN) throws {
        let result = try TestProcess.run(
            "pkcs11-tool",
            ["--module", Self.module, "--token-label", token, "--login", "--pin", pin, "--delete-object", "--type", "pubkey", "--id", id],
            environment: environment)
        if result.status != 0 {
            Issue.record("pkcs11-tool --delete-object failed (\(result.status)): \(result.stdout)\(result.stderr)")
            throw ToolMissing(tool: "pkcs11-tool")
        }
    }

    /// A PIN file (mode 0600 unless given) in this store's folder.
    func pinFile(_ pin: String = SoftHSM.userPIN, mode: Int = 0o600) throws -> String {
        let path = directory.appendingPathComponent("pin-\(UUID().uuidString)").path
        guard FileManager.default.createFile(atPath: path, contents: Data((pin + "\n").utf8), attributes: [.posixPermissions: mode]) else {
            throw FixtureMissing(path: path)
        }
        return path
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }
}

/// The token store the in-process tests share, set once per test process as its `SOFTHSM2_CONF` (a module reads
/// its configuration at `C_Initialize`, once per process; changing the environment while other tests' threads
/// run would race with them). Each in-process test makes its own token in it, with a label of its own.
enum SharedSoftHSM {
    private static let made: Result<SoftHSM, any Error> = Result {
        let store = try SoftHSM(directory: TestPaths.temporaryDirectory())
        setenv("SOFTHSM2_CONF", store.configuration, 1)
        return store
    }

    static func store() throws -> SoftHSM { try made.get() }

    /// A new token with a unique label holding the DCC Boxed key `keyName` as `label`/`id`.
    static func token(with keyName: String, label: String = "ts1-xml-sign", id: String = "0102") throws -> (store: SoftHSM, token: String) {
        let store = try store()
        let token = "t-" + UUID().uuidString.prefix(8).lowercased()
        try store.initToken(token)
        try store.importKey(keyName, token: token, label: label, id: id)
        return (store, token)
    }
}

/// A PKCS#11 module made for the tests that forwards every call to SoftHSM2 but can be told, through its
/// environment, to fail the way tokens do and SoftHSM2 does not: `COS_P11_FAULT_LOGIN=pin-locked` answers
/// `C_Login` with `CKR_PIN_LOCKED`; `COS_P11_FAULT_LOSE=N` (after `COS_P11_FAULT_LOSE_AFTER=K` good calls) makes
/// the next N `C_Sign` calls close their session in SoftHSM2 and answer `COS_P11_FAULT_RV` (a CKR_ value;
/// default `CKR_SESSION_HANDLE_INVALID`), as when a token is pulled out and its sessions and login are gone.
/// Compiled once per test process with `cc` (in the image; the Swift toolchain's clang does as well).
enum FaultModule {
    private static let built: Result<String, any Error> = Result {
        let directory = try TestPaths.temporaryDirectory()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let source = directory.appendingPathComponent("p11fault.c").path
        let library = directory.appendingPathComponent("libcosp11fault.so").path
        try Data(Self.source.utf8).write(to: URL(fileURLWithPath: source))
        let result = try TestProcess.run("cc", ["-shared", "-fPIC", "-O1", "-o", library, source, "-ldl"])
        guard result.status == 0 else {
            Issue.record("cannot compile the fault-injecting PKCS#11 module: \(result.stderr)")
            throw ToolMissing(tool: "cc")
        }
        return library
    }

    /// The module's path.
    static func path() throws -> String { try built.get() }

    static let source = #"""
        #include <dlfcn.h>
        #include <stdlib.h>
        #include <string.h>
        #include <p11-kit-1/p11-kit/pkcs11.h>

        static CK_FUNCTION_LIST_PTR real;
        static CK_FUNCTION_LIST proxy;
        static long sign_calls;

        static CK_RV fault_login(CK_SESSION_HANDLE s, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG length) {
            const char *mode = getenv("COS_P11_FAULT_LOGIN");
            if (mode && strcmp(mode, "pin-locked") == 0) return CKR_PIN_LOCKED;
            return real->C_Login(s, user, pin, length);
        }

        static CK_RV fault_sign(CK_SESSION_HANDLE s, CK_BYTE_PTR data, CK_ULONG length, CK_BYTE_PTR out, CK_ULONG_PTR outLength) {
            const char *lose = getenv("COS_P11_FAULT_LOSE");
            const char *after = getenv("COS_P11_FAULT_LOSE_AFTER");
            const char *rv = getenv("COS_P11_FAULT_RV");
            long n = __atomic_add_fetch(&sign_calls, 1, __ATOMIC_SEQ_CST);
            long first = after ? atol(after) : 0;
            if (lose && n > first && n <= first + atol(lose)) {
                real->C_CloseSession(s);
                return rv ? (CK_RV) strtoul(rv, NULL, 0) : CKR_SESSION_HANDLE_INVALID;
            }
            return real->C_Sign(s, data, length, out, outLength);
        }

        CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list) {
            if (!real) {
                void *handle = dlopen("/usr/lib/softhsm/libsofthsm2.so", RTLD_NOW | RTLD_LOCAL);
                if (!handle) return CKR_GENERAL_ERROR;
                CK_C_GetFunctionList get = (CK_C_GetFunctionList) dlsym(handle, "C_GetFunctionList");
                if (!get || get(&real) != CKR_OK) return CKR_GENERAL_ERROR;
                proxy = *real;
                proxy.C_Login = fault_login;
                proxy.C_Sign = fault_sign;
            }
            *list = &proxy;
            return CKR_OK;
        }
        """#
}
