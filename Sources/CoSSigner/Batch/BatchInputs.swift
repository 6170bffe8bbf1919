import Foundation

/// One input of a batch.
public struct BatchInput: Sendable, Equatable {
    /// The path to read, or `-` for standard input.
    public let path: String
    /// The file name an output of this input gets in an output directory.
    public let fileName: String

    /// Its name in messages and reports.
    public var displayName: String { path == "-" ? "standard input" : path }
}

/// The inputs of a batch, handed out one at a time to any number of workers.
///
/// Directories are read lazily (not recursively; hidden files, whose names start with `.`, are skipped), so
/// memory stays flat however many files there are.
public final class BatchInputs: @unchecked Sendable {
    private let lock = NSLock()
    private var pending: [String]  // remaining command-line paths, reversed; guarded by `lock`
    private var directory: (path: String, handle: OpaquePointer)?  // guarded by `lock`

    /// The paths as given: files, directories, or `-` for standard input (at most once).
    public let paths: [String]

    /// Makes the inputs of a batch.
    /// - Throws: ``FileError`` for a path that does not exist or `-` given twice.
    public init(paths: [String]) throws(FileError) {
        if paths.filter({ $0 == "-" }).count > 1 {
            throw FileError(path: "-", reason: "standard input can be given only once")
        }
        for path in paths where path != "-" {
            var info = stat()
            guard stat(path, &info) == 0 else {
                throw FileError(path: path, reason: "cannot read: \(String(cString: strerror(errno)))")
            }
        }
        self.paths = paths
        pending = paths.reversed()
    }

    deinit {
        if let directory { closedir(directory.handle) }
    }

    /// The next input, or `nil` when there are no more. Thread-safe.
    public func next() -> BatchInput? {
        lock.lock()
        defer { lock.unlock() }
        while true {
            if let current = directory {
                if let name = Self.nextRegularFile(current.handle, in: current.path) {
                    let joined = current.path.hasSuffix("/") ? current.path + name : current.path + "/" + name
                    return BatchInput(path: joined, fileName: name)
                }
                closedir(current.handle)
                directory = nil
            }
            guard let path = pending.popLast() else { return nil }
            if path != "-", Files.isDirectory(path) {
                if let handle = opendir(path) { directory = (path, handle) }
                continue
            }
            let name = path == "-" ? "stdin.xml" : (path.split(separator: "/").last.map(String.init) ?? path)
            return BatchInput(path: path, fileName: name)
        }
    }

    /// How many inputs there are (directories are listed once to count them), for progress reporting.
    public static func count(paths: [String]) -> Int {
        var total = 0
        for path in paths {
            guard path != "-", Files.isDirectory(path), let handle = opendir(path) else {
                total += 1
                continue
            }
            while nextRegularFile(handle, in: path) != nil { total += 1 }
            closedir(handle)
        }
        return total
    }

    private static func nextRegularFile(_ handle: OpaquePointer, in directory: String) -> String? {
        // The name is read in place, up to its NUL: an entry returned by readdir is only d_reclen bytes long,
        // which can be shorter than MemoryLayout<dirent>.size, so copying `entry.pointee.d_name` (256 bytes)
        // read past the end of glibc's buffer for the last entries (found by the AddressSanitizer run).
        guard let nameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name) else { return nil }
        while let entry = readdir(handle) {
            let name = String(cString: (UnsafeRawPointer(entry) + nameOffset).assumingMemoryBound(to: CChar.self))
            if name.hasPrefix(".") { continue }
            let type = entry.pointee.d_type
            if type == UInt8(DT_REG) { return name }
            if type == UInt8(DT_UNKNOWN) || type == UInt8(DT_LNK) {
                var info = stat()
                if stat(directory + "/" + name, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG { return name }
            }
        }
        return nil
    }
}
