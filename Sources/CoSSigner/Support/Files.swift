#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file (or standard input or output) that could not be read or written.
package struct FileError: ClassifiedError, Equatable {
    /// The path, or `-` for standard input/output.
    package let path: String
    /// Why, in words.
    package let reason: String
    /// The class of the failure (input by default).
    package var failureClass: FailureClass
    /// Whether `-` means standard output (a write) rather than standard input.
    package var isOutput: Bool

    package init(path: String, reason: String, failureClass: FailureClass = .input, isOutput: Bool = false) {
        self.path = path
        self.reason = reason
        self.failureClass = failureClass
        self.isOutput = isOutput
    }

    /// The path as messages name it: `standard input` or `standard output` for `-`.
    package var displayPath: String { path == "-" ? (isOutput ? "standard output" : "standard input") : path }

    package var description: String { "\(displayPath): \(reason)" }
}

/// The identity of a file: its device and inode, as `stat` gives them. Two paths name the same file exactly when
/// their identities are equal (whatever links, `..` or symbolic links lead to it).
package struct FileIdentity: Hashable, Sendable {
    package let device: UInt64
    package let inode: UInt64

    init(_ info: stat) {
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }

    init(device: UInt64, inode: UInt64) {
        self.device = device
        self.inode = inode
    }
}

/// Reading and writing the files a user names, in one place, with the same rules everywhere:
///
/// - **Reading** (inputs, `--key`, `--cert`, `--parties`, `--passphrase-file`, `--registration`, `--counter-store`,
///   `--schema`, the files of `--cert-dir`): the path is opened with `O_NONBLOCK` (so a FIFO with no writer, or a
///   device, cannot block the open), then `fstat`ed, and refused unless it is a regular file
///   (``openRegularFile(_:failureClass:)``); a directory is opened only where a directory is expected
///   (``openDirectory(_:failureClass:)``). Reads are bounded.
/// - **Writing** (`-o`, `--signed-content`, `--report`, outputs in `--output-dir`): a path is written only if it
///   does not exist or is a regular file; anything else (a device, a FIFO, a socket, a directory, a symbolic link)
///   is refused with exit code 2 before anything is written (``checkOutputTarget(_:)``). `-` is standard output.
///   Every write, flush and close is checked; a failure names the path and the system's reason.
package enum Files {
    /// Reads a whole file, or standard input when `path` is `-`, refusing anything larger than
    /// `maxBytes` without reading it all, and anything that is not a regular file (see ``openRegularFile(_:failureClass:)``).
    package static func read(_ path: String, maxBytes: Int) throws(FileError) -> [UInt8] {
        // `admit` always admits, so the result is never nil.
        try read(path, maxBytes: maxBytes, failureClass: .input, admit: { _ in true }) ?? []
    }

    /// Reads a whole regular file (or standard input for `-`), as ``read(_:maxBytes:)``, with `failureClass`
    /// for its errors. Before any byte is read, `admit` is given the file's size (0 for standard input) and may
    /// refuse it: the result is then `nil` and the file is closed unread (batches use it to bound the bytes in
    /// flight, ``BatchMemoryBudget``).
    package static func read(_ path: String, maxBytes: Int, failureClass: FailureClass,
                     admit: (Int) -> Bool) throws(FileError) -> [UInt8]? {
        let fd: Int32
        var info = stat()
        if path == "-" {
            fd = 0
            guard fstat(fd, &info) == 0 else {
                throw FileError(path: path, reason: "cannot stat: \(errnoText())", failureClass: failureClass)
            }
        } else {
            // The hot path of a batch: one open, one fstat, the reads and one close. O_NONBLOCK is left set on a
            // regular file: it changes nothing for one (reads of regular files never return EAGAIN on Linux but
            // under a mandatory lock, which the loop below still handles by clearing the flag), and clearing it
            // would cost a system call per document.
            fd = try openChecked(path, failureClass: failureClass, clearNonBlocking: false, info: &info) ?? -1
        }
        defer { if path != "-" { close(fd) } }
        return try readAll(fd, info: info, path: path, maxBytes: maxBytes, failureClass: failureClass, admit: admit)
    }

    /// Reads a regular file as ``readRegularFile(_:maxBytes:failureClass:)`` does, but never through a symbolic link
    /// (`O_NOFOLLOW`: a link is refused), and returns `nil` when there is no such file (the counter store).
    static func readRegularFileIfPresent(_ path: String, maxBytes: Int, failureClass: FailureClass) throws(FileError) -> [UInt8]? {
        var info = stat()
        guard let fd = try openChecked(path, failureClass: failureClass, clearNonBlocking: true, followSymbolicLinks: false,
                                       missingIsNil: true, info: &info) else { return nil }
        defer { close(fd) }
        return try readAll(fd, info: info, path: path, maxBytes: maxBytes, failureClass: failureClass, admit: { _ in true })
    }

    /// Reads all of `fd` (of status `info`), bounded by `maxBytes`, after `admit` accepted its size.
    private static func readAll(_ fd: Int32, info: stat, path: String, maxBytes: Int, failureClass: FailureClass,
                                admit: (Int) -> Bool) throws(FileError) -> [UInt8]? {
        let isRegular = (info.st_mode & S_IFMT) == S_IFREG
        if isRegular, Int(info.st_size) > maxBytes {
            throw FileError(path: path, reason: "is \(info.st_size) bytes; the limit is \(maxBytes) bytes", failureClass: failureClass)
        }
        if !admit(isRegular ? Int(info.st_size) : 0) { return nil }
        let chunk = 64 * 1024
        // A regular file is read into a buffer of its size (plus one byte, to see it grow); anything else
        // (standard input) in chunks. Zero-filling with `repeating:` is a memset, even in debug builds.
        var buffer = [UInt8](repeating: 0, count: isRegular ? min(Int(info.st_size), maxBytes) + 1 : chunk)
        var total = 0
        while true {
            if buffer.count == total { buffer += [UInt8](repeating: 0, count: chunk) }
            let wanted = buffer.count - total
            let n = buffer.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return Platform.read(fd, base + total, raw.count - total)
            }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN && path != "-" && fcntl(fd, F_SETFL, O_RDONLY) == 0 { continue }
                throw FileError(path: path, reason: "read failed: \(errnoText())", failureClass: failureClass)
            }
            if n == 0 { break }
            total += n
            if total > maxBytes {
                throw FileError(path: path, reason: "is larger than the limit of \(maxBytes) bytes", failureClass: failureClass)
            }
            // A regular file returns fewer bytes than asked only at its end (the buffer has one byte more than
            // the file's size), so the usual extra read that returns 0 is not needed.
            if isRegular && n < wanted { break }
        }
        buffer.removeSubrange(total...)
        return buffer
    }

    /// Opens a file the user named, for reading: without blocking (`O_NONBLOCK`, so a FIFO or a device cannot
    /// hang the open), then refused unless `fstat` says it is a regular file; `O_NONBLOCK` is then cleared.
    /// Symbolic links are followed (the user named the path).
    /// - Returns: the descriptor (the caller closes it) and the file's status.
    /// - Throws: ``FileError`` with `failureClass`, naming the path and what it is ("is a FIFO (named pipe), not a
    ///   regular file", "is a directory", ...) or the system's reason.
    package static func openRegularFile(_ path: String, failureClass: FailureClass = .input) throws(FileError) -> (fd: Int32, info: stat) {
        var info = stat()
        let fd = try openChecked(path, failureClass: failureClass, clearNonBlocking: true, info: &info) ?? -1
        return (fd, info)
    }

    /// Reads a whole regular file of at most `maxBytes` through ``openRegularFile(_:failureClass:)``.
    package static func readRegularFile(_ path: String, maxBytes: Int, failureClass: FailureClass = .input) throws(FileError) -> [UInt8] {
        try read(path, maxBytes: maxBytes, failureClass: failureClass, admit: { _ in true }) ?? []
    }

    /// The one opener of files to read: `O_NONBLOCK`, `fstat`, regular files only. Returns `nil` only for a missing
    /// file when `missingIsNil`.
    private static func openChecked(_ path: String, failureClass: FailureClass, clearNonBlocking: Bool,
                                    followSymbolicLinks: Bool = true, missingIsNil: Bool = false,
                                    info: inout stat) throws(FileError) -> Int32? {
        var fd: Int32
        let flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | (followSymbolicLinks ? 0 : O_NOFOLLOW)
        repeat {
            fd = open(path, flags)
        } while fd < 0 && errno == EINTR
        guard fd >= 0 else {
            if errno == ENOENT && missingIsNil { return nil }
            if errno == ELOOP && !followSymbolicLinks {
                throw FileError(path: path, reason: "is a symbolic link, not a regular file", failureClass: failureClass)
            }
            throw FileError(path: path, reason: "cannot open: \(errnoText())", failureClass: failureClass)
        }
        guard fstat(fd, &info) == 0 else {
            let reason = errnoText()
            close(fd)
            throw FileError(path: path, reason: "cannot stat: \(reason)", failureClass: failureClass)
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw FileError(path: path, reason: notRegularReason(info.st_mode), failureClass: failureClass)
        }
        if clearNonBlocking && fcntl(fd, F_SETFL, O_RDONLY) != 0 {
            let reason = errnoText()
            close(fd)
            throw FileError(path: path, reason: "cannot clear O_NONBLOCK: \(reason)", failureClass: failureClass)
        }
        return fd
    }

    /// Opens a directory the user named (symbolic links followed): `O_DIRECTORY | O_NONBLOCK`, so anything that
    /// is not a directory is refused without blocking.
    /// - Returns: the descriptor (the caller closes it, or hands it to `fdopendir`).
    package static func openDirectory(_ path: String, failureClass: FailureClass = .input) throws(FileError) -> Int32 {
        var fd: Int32
        repeat {
            fd = open(path, O_RDONLY | O_CLOEXEC | O_DIRECTORY | O_NONBLOCK | O_NOCTTY)
        } while fd < 0 && errno == EINTR
        guard fd >= 0 else {
            if errno == ENOTDIR {
                var info = stat()
                let what = stat(path, &info) == 0 ? kindName(info.st_mode) : "not a directory"
                throw FileError(path: path, reason: "is \(what), not a directory", failureClass: failureClass)
            }
            throw FileError(path: path, reason: "cannot open the directory: \(errnoText())", failureClass: failureClass)
        }
        return fd
    }

    /// "is a FIFO (named pipe), not a regular file", "is a directory", ...
    static func notRegularReason(_ mode: mode_t) -> String {
        (mode & S_IFMT) == S_IFDIR ? "is a directory" : "is \(kindName(mode)), not a regular file"
    }

    /// What a file of this mode is, with its article: "a FIFO (named pipe)", "a character device", ...
    static func kindName(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFREG: "a regular file"
        case S_IFDIR: "a directory"
        case S_IFIFO: "a FIFO (named pipe)"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFSOCK: "a socket"
        case S_IFLNK: "a symbolic link"
        default: "a special file"
        }
    }

    /// The identity of the file at `path` (symbolic links followed), or `nil` if it cannot be examined.
    package static func identity(of path: String) -> FileIdentity? {
        var info = stat()
        return stat(path, &info) == 0 ? FileIdentity(info) : nil
    }

    /// Whether `a` and `b` name the same file: the same device and inode when both exist (links, `..` and
    /// symbolic links followed), else the same real directory and name.
    package static func sameFile(_ a: String, _ b: String) -> Bool {
        guard a != "-", b != "-" else { return false }
        if let first = identity(of: a), let second = identity(of: b) { return first == second }
        func normalized(_ path: String) -> String {
            let (directory, name) = split(path)
            return (realPath(directory) ?? directory) + "/" + name
        }
        return normalized(a) == normalized(b)
    }

    /// Checks that an output may be written at `path`: it does not exist, or it is a regular file (not followed
    /// through a symbolic link). `-` (standard output) always may.
    /// - Throws: ``FileError`` (input class, exit 2) naming what `path` is: "is a character device, not a regular
    ///   file; outputs are written only to regular files or new names".
    package static func checkOutputTarget(_ path: String) throws(FileError) {
        guard path != "-" else { return }
        var info = stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT { return }
            throw FileError(path: path, reason: "cannot examine the output path: \(errnoText())")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw notAnOutputTarget(path, mode: info.st_mode) }
    }

    /// The refusal of an existing output path that is not a regular file.
    static func notAnOutputTarget(_ path: String, mode: mode_t) -> FileError {
        FileError(path: path, reason: "is \(kindName(mode)), not a regular file; outputs are written only to regular files or new names")
    }

    /// Writes `bytes` to `path` atomically: a temporary file in the same directory is written and renamed over
    /// `path`, so `path` is either absent/old or complete, even if the process is killed. With `durable` (the
    /// default) the file is flushed to disk (fsync) before the rename, so this also holds after a power loss;
    /// batches pass `false` and flush their output directory at the end (``BatchOutputDirectory/finish()``).
    /// `-` writes to standard output. An existing `path` is replaced only if it is a regular file
    /// (``checkOutputTarget(_:)``).
    ///
    /// `temporaryDirectory`, if given, holds the temporary file instead of `path`'s directory; it must be on the
    /// same file system.
    package static func writeAtomically(_ bytes: [UInt8], to path: String, mode: mode_t = 0o644, durable: Bool = true,
                                       temporaryDirectory: String? = nil) throws(FileError) {
        if path == "-" {
            try writeAll(fd: 1, bytes, path: path)
            return
        }
        try checkOutputTarget(path)
        let (pathDirectory, name) = split(path)
        let directory = temporaryDirectory ?? pathDirectory
        var template = Array("\(directory)/.\(name).XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { buffer -> Int32 in
            guard let base = buffer.baseAddress else { return -1 }
            return mkstemp(base)
        }
        guard fd >= 0 else {
            throw FileError(path: path, reason: "cannot create a temporary file in \(directory): \(errnoText())")
        }
        let temporary = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var renamed = false
        defer {
            if !renamed { unlink(temporary) }
        }
        do {
            try writeAll(fd: fd, bytes, path: path)
        } catch {
            close(fd)
            throw error
        }
        fchmod(fd, mode)
        guard !durable || fsync(fd) == 0 else {
            let reason = errnoText()
            close(fd)
            throw FileError(path: path, reason: "fsync failed: \(reason)")
        }
        guard close(fd) == 0 else {
            throw FileError(path: path, reason: "close failed: \(errnoText())")
        }
        // Checked again just before the rename, which would replace whatever is there.
        try checkOutputTarget(path)
        guard rename(temporary, path) == 0 else {
            throw FileError(path: path, reason: "cannot rename the temporary file into place: \(errnoText())")
        }
        renamed = true
    }

    /// Creates (or truncates) the regular file `path` for writing a stream (a report): refused, before anything is
    /// truncated, if it exists and is not a regular file (``checkOutputTarget(_:)``; a symbolic link is not
    /// followed), and opened without blocking.
    /// - Returns: the descriptor (the caller closes it and checks the close) and the file's identity.
    package static func createOutputFile(_ path: String, mode: mode_t = 0o644) throws(FileError) -> (fd: Int32, identity: FileIdentity) {
        try checkOutputTarget(path)
        var fd: Int32
        repeat {
            fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, mode)
        } while fd < 0 && errno == EINTR
        guard fd >= 0 else {
            if errno == ELOOP {
                throw FileError(path: path, reason: "is a symbolic link, not a regular file; outputs are written only to regular files or new names")
            }
            throw FileError(path: path, reason: "cannot create: \(errnoText())")
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let reason = errnoText()
            close(fd)
            throw FileError(path: path, reason: "cannot stat: \(reason)")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw notAnOutputTarget(path, mode: info.st_mode)
        }
        guard fcntl(fd, F_SETFL, O_WRONLY) == 0, ftruncate(fd, 0) == 0 else {
            let reason = errnoText()
            close(fd)
            throw FileError(path: path, reason: "cannot truncate: \(reason)")
        }
        return (fd, FileIdentity(info))
    }

    /// Whether `path` is a directory.
    package static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// The canonical absolute path (symbolic links resolved), or `nil` if it does not exist.
    package static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(decoding: UnsafeRawBufferPointer(start: resolved, count: strlen(resolved)), as: UTF8.self)
    }

    /// Writes all of `bytes` to `fd`; a failure names `path` (`-` as standard output).
    package static func writeAll(fd: Int32, _ bytes: [UInt8], path: String) throws(FileError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return Platform.write(fd, base + offset, raw.count - offset)
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError(path: path, reason: "write failed: \(errnoText())", isOutput: true)
            }
            if n == 0 {
                throw FileError(path: path, reason: "write failed: nothing was written", isOutput: true)
            }
            offset += n
        }
    }

    static func split(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let directory = String(path[..<slash])
        return (directory.isEmpty ? "/" : directory, String(path[path.index(after: slash)...]))
    }
}

/// A buffered stream to a file descriptor whose every write, flush and close is checked: standard output, or a
/// report file. The first failure is kept (``failure``), and nothing more is written after it; ``finish()``
/// flushes, closes (unless it is a standard stream) and returns the failure, so a run can fail with the path and
/// the system's reason instead of losing output silently.
package final class CheckedOutputStream: @unchecked Sendable {
    /// The path (`-` for standard output).
    package let path: String
    private let fd: Int32
    private let ownsDescriptor: Bool
    private let flushEveryLine: Bool
    private var buffer: [UInt8] = []
    private var closed = false
    /// The file's device and inode (`nil` for standard output).
    package let identity: FileIdentity?
    /// The first write, flush or close that failed.
    package private(set) var failure: FileError?

    /// How many bytes are kept before they are written.
    static let bufferBytes = 64 * 1024

    /// Standard output; flushed at every line when it is a terminal.
    package static func standardOutput() -> CheckedOutputStream {
        CheckedOutputStream(fd: 1, path: "-", identity: nil, ownsDescriptor: false, flushEveryLine: isatty(1) == 1)
    }

    /// A new or truncated regular file (``Files/createOutputFile(_:mode:)``).
    package convenience init(creating path: String) throws(FileError) {
        let created = try Files.createOutputFile(path)
        self.init(fd: created.fd, path: path, identity: created.identity, ownsDescriptor: true, flushEveryLine: false)
    }

    private init(fd: Int32, path: String, identity: FileIdentity?, ownsDescriptor: Bool, flushEveryLine: Bool) {
        self.fd = fd
        self.identity = identity
        self.path = path
        self.ownsDescriptor = ownsDescriptor
        self.flushEveryLine = flushEveryLine
        buffer.reserveCapacity(Self.bufferBytes)
    }

    deinit {
        if ownsDescriptor && !closed { close(fd) }
    }

    /// Appends `line` and a line feed. Not thread-safe: callers serialise.
    package func writeLine(_ line: String) {
        guard failure == nil, !closed else { return }
        buffer.append(contentsOf: line.utf8)
        buffer.append(0x0A)
        if flushEveryLine || buffer.count >= Self.bufferBytes { flush() }
    }

    /// Writes what is buffered. A failure is kept in ``failure``.
    package func flush() {
        guard failure == nil, !buffer.isEmpty else { return }
        do {
            try Files.writeAll(fd: fd, buffer, path: path)
        } catch {
            failure = error
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes, closes the file (not standard output) and returns the first failure, if any.
    @discardableResult
    package func finish() -> FileError? {
        flush()
        if ownsDescriptor && !closed {
            closed = true
            if close(fd) != 0, failure == nil {
                failure = FileError(path: path, reason: "close failed: \(errnoText())", isOutput: true)
            }
        }
        return failure
    }
}

func errnoText() -> String {
    String(cString: strerror(errno))
}
