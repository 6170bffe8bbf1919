import Foundation

/// One input of a batch.
package struct BatchInput: Sendable, Equatable {
    /// The path to read, or `-` for standard input.
    package let path: String
    /// The file name an output of this input gets in an output directory.
    package let fileName: String
    /// When the batch's outputs must have unique names (``BatchInputs/init(paths:uniqueFileNames:excluding:)``):
    /// the earlier input of this run that already has ``fileName``. Such an input is refused before anything is
    /// read or written for it, so that its output never replaces the other's.
    package internal(set) var sameNameAs: String?

    init(path: String, fileName: String, sameNameAs: String? = nil) {
        self.path = path
        self.fileName = fileName
        self.sameNameAs = sameNameAs
    }

    /// Its name in messages and reports.
    package var displayName: String { path == "-" ? "standard input" : path }
}

/// The inputs of a batch, handed out one at a time to any number of workers.
///
/// Directories are read lazily (not recursively; hidden files, whose names start with `.`, are skipped; so are
/// entries that are not regular files, and the files given to `excluding`, e.g. the run's own report), so memory
/// stays flat however many files there are. A path given on the command line must be a regular file or a
/// directory; anything else (a FIFO, a device, a socket) is refused before the batch starts.
package final class BatchInputs: @unchecked Sendable {
    private let lock = NSLock()
    private var pending: [String]  // remaining command-line paths, reversed; guarded by `lock`
    private var directory: (path: String, handle: OpaquePointer, device: UInt64)?  // guarded by `lock`
    /// The first input of each output file name, when names must be unique; guarded by `lock`.
    private var claimed: [String: String]?
    private var excluded: Set<FileIdentity>  // guarded by `lock`

    /// The paths as given: files, directories, or `-` for standard input (at most once).
    package let paths: [String]

    /// Makes the inputs of a batch.
    /// - Parameters:
    ///   - paths: files, directories, or `-` for standard input (at most once).
    ///   - uniqueFileNames: the outputs go to one directory under their inputs' file names (`sign --output-dir`):
    ///     an input whose file name an earlier input of the run already has gets ``BatchInput/sameNameAs``.
    ///   - excluding: files never handed out from a directory (the run's own outputs, such as its report; see
    ///     also ``exclude(_:)``).
    ///   - outputDirectory: the directory outputs are written to under their inputs' names: an input directory
    ///     that is it, or an input file inside it, is refused (its output would replace it).
    ///   - outputFiles: the run's other outputs (`-o`, `--report`, `--signed-content`), by option: an input file
    ///     that is one of them (the same device and inode) is refused before anything is written to it.
    /// - Throws: ``FileError`` for a path that does not exist, is neither a regular file nor a directory, or `-`
    ///   given twice (exit 2); for an input that is an output (usage class, exit 1).
    package init(paths: [String], uniqueFileNames: Bool = false, excluding: Set<FileIdentity> = [],
                outputDirectory: String? = nil, outputFiles: [(option: String, path: String)] = []) throws(FileError) {
        if paths.filter({ $0 == "-" }).count > 1 {
            throw FileError(path: "-", reason: "standard input can be given only once")
        }
        // One stat per path (and one per distinct parent directory when there is an output directory).
        let outputs = outputFiles.compactMap { output in Files.identity(of: output.path).map { (output, $0) } }
        let outputDirectoryIdentity = outputDirectory.flatMap { Files.identity(of: $0) }
        var parents: [String: FileIdentity?] = [:]
        for path in paths where path != "-" {
            var info = stat()
            guard stat(path, &info) == 0 else {
                throw FileError(path: path, reason: "cannot read: \(String(cString: strerror(errno)))")
            }
            let type = info.st_mode & S_IFMT
            guard type == S_IFREG || type == S_IFDIR else {
                throw FileError(path: path, reason: Files.notRegularReason(info.st_mode))
            }
            let identity = FileIdentity(info)
            if type == S_IFDIR {
                if let outputDirectory, identity == outputDirectoryIdentity {
                    throw FileError(path: path, reason: "is the output directory \(outputDirectory): --output-dir must not be an input directory",
                                    failureClass: .usage)
                }
                continue
            }
            if let (output, _) = outputs.first(where: { $0.1 == identity }) {
                throw FileError(path: path, reason: "is also \(output.option) \(output.path): writing it would destroy the input; give another path",
                                failureClass: .usage)
            }
            if let outputDirectory, let outputDirectoryIdentity {
                let parent = Files.split(path).directory
                if parents[parent] == nil { parents[parent] = .some(Files.identity(of: parent)) }
                if parents[parent] == .some(outputDirectoryIdentity) {
                    throw FileError(path: path, reason: "is inside --output-dir \(outputDirectory): its output would replace it; sign it into another directory",
                                    failureClass: .usage)
                }
            }
        }
        self.paths = paths
        pending = paths.reversed()
        // One path cannot give two inputs the same name: a directory's names are distinct.
        claimed = uniqueFileNames && paths.count > 1 ? [:] : nil
        excluded = excluding
    }

    deinit {
        if let directory { closedir(directory.handle) }
    }

    /// Leaves `identity` out of the inputs listed from directories from now on (the run's report, created after
    /// the inputs were checked).
    package func exclude(_ identity: FileIdentity) {
        lock.lock()
        defer { lock.unlock() }
        excluded.insert(identity)
    }

    /// The next input, or `nil` when there are no more. Thread-safe; inputs are handed out in order, so "earlier"
    /// (``BatchInput/sameNameAs``) is the order of the command line and of each directory's listing.
    package func next() -> BatchInput? {
        lock.lock()
        defer { lock.unlock() }
        guard var input = nextUnclaimed() else { return nil }
        if claimed != nil {
            if let first = claimed?[input.fileName] {
                input.sameNameAs = first
            } else {
                claimed?[input.fileName] = input.displayName
            }
        }
        return input
    }

    private func nextUnclaimed() -> BatchInput? {
        while true {
            if let current = directory {
                if let name = Self.nextRegularFile(current.handle, in: current.path, device: current.device, excluding: excluded) {
                    let joined = current.path.hasSuffix("/") ? current.path + name : current.path + "/" + name
                    return BatchInput(path: joined, fileName: name)
                }
                closedir(current.handle)
                directory = nil
            }
            guard let path = pending.popLast() else { return nil }
            if path != "-", Files.isDirectory(path) {
                if let handle = opendir(path) {
                    directory = (path, handle, Files.identity(of: path)?.device ?? 0)
                }
                continue
            }
            let name = path == "-" ? "stdin.xml" : (path.split(separator: "/").last.map(String.init) ?? path)
            return BatchInput(path: path, fileName: name)
        }
    }

    /// How many inputs there are (directories are listed once to count them), for progress reporting.
    package static func count(paths: [String]) -> Int {
        var total = 0
        for path in paths {
            guard path != "-", Files.isDirectory(path), let handle = opendir(path) else {
                total += 1
                continue
            }
            while nextRegularFile(handle, in: path, device: 0, excluding: []) != nil { total += 1 }
            closedir(handle)
        }
        return total
    }

    private static func nextRegularFile(_ handle: OpaquePointer, in directory: String, device: UInt64,
                                        excluding excluded: Set<FileIdentity>) -> String? {
        // The name is read in place, up to its NUL: an entry returned by readdir is only d_reclen bytes long,
        // which can be shorter than MemoryLayout<dirent>.size, so copying `entry.pointee.d_name` (256 bytes)
        // read past the end of glibc's buffer for the last entries (found by the AddressSanitizer run).
        guard let nameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name) else { return nil }
        while let entry = readdir(handle) {
            let name = String(cString: (UnsafeRawPointer(entry) + nameOffset).assumingMemoryBound(to: CChar.self))
            if name.hasPrefix(".") { continue }
            let type = entry.pointee.d_type
            // The run's own outputs (its report) are skipped by inode, which readdir gives without a system call.
            if !excluded.isEmpty {
                let identity = FileIdentity(device: device, inode: UInt64(entry.pointee.d_ino))
                if excluded.contains(identity) { continue }
            }
            if type == UInt8(DT_REG) { return name }
            if type == UInt8(DT_UNKNOWN) || type == UInt8(DT_LNK) {
                var info = stat()
                if stat(directory + "/" + name, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG {
                    if excluded.contains(FileIdentity(info)) { continue }
                    return name
                }
            }
        }
        return nil
    }
}
