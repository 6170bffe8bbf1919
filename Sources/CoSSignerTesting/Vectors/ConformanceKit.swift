import CoSSigner
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One file of the conformance kit.
package struct KitFile: Sendable, Equatable {
    /// Path relative to the kit directory, `/`-separated.
    package let path: String
    package let bytes: [UInt8]
}

/// What ``ConformanceKit/make(directory:)`` did.
public struct KitWriteReport: Sendable, Equatable {
    /// Files written because they were missing or different.
    public var written: [String] = []
    /// Files already present with the same bytes (left untouched).
    public var unchanged: [String] = []
    /// Cases in the manifest.
    public var caseCount = 0
}

/// The conformance kit for supplier adapters (`TestVectors/`): its description in code, the maker
/// (``make(directory:)``), the runner that checks this implementation (``run(directory:)``) and the
/// checker that runs another implementation's signer and verifier over it (``KitChecker``).
///
/// Everything is derived from a seeded test PKI and fixed times, so making the kit twice gives
/// byte-identical files, and the kit never depends on the wall clock.
public enum ConformanceKit {
    /// The manifest's file name.
    public static let manifestName = "manifest.json"
    /// The JSON Schema's file name.
    public static let schemaName = "manifest.schema.json"
    /// The seed of the kit's test PKI.
    public static let pkiSeed = "cossigner-conformance-kit-v1"
    /// The number of test parties.
    public static let pkiParties = 3
    /// Where the test PKI sits in the kit.
    public static let pkiDirectory = "pki"

    /// Where `vectors make` reads the DCC Boxed material (templates and test keys under `vectors/dccboxed/`)
    /// that the explain and responses cases are built from: `$COSSIGNER_SHARED`, else `../shared`.
    public static var defaultSharedDirectory: String {
        ProcessInfo.processInfo.environment["COSSIGNER_SHARED"] ?? "../shared"
    }

    /// Every file of the kit, in a fixed order (the manifest, its schema and the README included).
    /// - Parameter shared: the folder holding `vectors/dccboxed/` (DCC Boxed templates and test keys).
    /// - Throws: ``KitError`` if the kit cannot be built (a bug, a broken OpenSSL, or the DCC Boxed material
    ///   missing).
    package static func files(shared: String = defaultSharedDirectory) throws(KitError) -> [KitFile] {
        do {
            var maker = try KitMaker(shared: shared)
            return try maker.build()
        } catch let error as KitError {
            throw error
        } catch {
            throw KitError(path: "(kit maker)", reason: "\(error)", failureClass: .input)
        }
    }

    /// Writes the kit into `directory` (created if missing). Files whose bytes are already right
    /// are not touched; files of other names are left alone.
    /// - Throws: ``KitError``.
    @discardableResult
    public static func make(directory: String, shared: String = defaultSharedDirectory) throws(KitError) -> KitWriteReport {
        let all = try files(shared: shared)
        var report = KitWriteReport()
        try makeDirectory(directory)
        for file in all {
            if file.path == manifestName, let manifest = try? KitManifest.load(directoryBytes: file.bytes) {
                report.caseCount = manifest.cases.count
            }
            let path = directory + "/" + file.path
            var components = file.path.split(separator: "/").dropLast()
            var prefix = directory
            while let first = components.first {
                prefix += "/" + first
                try makeDirectory(prefix)
                components = components.dropFirst()
            }
            if let existing = try? Files.read(path, maxBytes: 64 << 20), existing == file.bytes {
                report.unchanged.append(file.path)
                continue
            }
            do {
                try Files.writeAtomically(file.bytes, to: path, mode: 0o644)
            } catch {
                throw KitError(path: path, reason: error.reason)
            }
            report.written.append(file.path)
        }
        return report
    }

    private static func makeDirectory(_ path: String) throws(KitError) {
        if mkdir(path, 0o755) == 0 { return }
        let code = errno
        if code == EEXIST, Files.isDirectory(path) { return }
        throw KitError(path: path, reason: "cannot create the directory: \(String(cString: strerror(code)))")
    }

    /// Whether `path` is a kit directory (holds a `manifest.json`).
    public static func isKit(_ path: String) -> Bool {
        Files.isDirectory(path) && access(path + "/" + manifestName, R_OK) == 0
    }
}

extension KitManifest {
    /// Decodes manifest bytes (used when counting cases of a freshly built kit).
    static func load(directoryBytes bytes: [UInt8]) throws -> KitManifest {
        try JSONDecoder().decode(KitManifest.self, from: Data(bytes))
    }
}
