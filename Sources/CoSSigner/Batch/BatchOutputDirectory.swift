import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The output directory of a batch: writes each output so that it appears complete or not at all, and flushes
/// the outputs to disk in the background while the batch runs, then once more at the end.
///
/// Writing: on Linux each output is written to an unnamed temporary file (`O_TMPFILE`, created in the hidden
/// folder ``BatchSigningJob/partialFolderName``) and linked into place under its name only when it is complete
/// (`linkat`). Where that is not supported, or when an output replaces an existing file, it is written to a
/// named temporary file in the hidden folder and renamed into place. Either way a name in the output directory
/// only ever refers to a complete file, even if the process is killed at any point. An existing name is replaced
/// only if it is a regular file: a symbolic link, device, FIFO, socket or directory there is refused (exit 2).
///
/// The hidden folder is made with `mkdirat` in the output directory's descriptor and opened with `O_NOFOLLOW`:
/// a symbolic link (or anything but a directory) in its place is refused, so no file is ever created outside the
/// output directory. Every later step works through the two descriptors (`openat`, `linkat`, `renameat`), never
/// by path again. The folder is removed when it is empty at the end of a run (``finish()``), and when this object
/// is released (a run that failed before it finished).
///
/// Flushing: ``finish()`` returns only once every output is on disk (`syncfs` of the output directory's file
/// system, then `fsync` of the directory; `sync` where `syncfs` does not exist), and throws if the system
/// reports a write-back error. Most of that work is started earlier by a background thread (one `syncfs` at a
/// time once 4 MiB more are written), so it overlaps with signing.
package final class BatchOutputDirectory: @unchecked Sendable {
    /// The output directory.
    package let path: String
    /// The hidden folder for partial outputs inside it.
    package let partialPath: String

    private enum LinkMode {
        /// `linkat(fd, "", …, AT_EMPTY_PATH)`.
        case emptyPath
        /// `linkat(AT_FDCWD, "/proc/self/fd/N", …, AT_SYMLINK_FOLLOW)`.
        case procSelf
        /// No `O_TMPFILE`: named temporary file and rename.
        case rename
    }

    private let linkMode: LinkMode
    /// Whether the umask takes bits off 0644, so that the mode must be set explicitly (outputs are always 0644,
    /// as before).
    private let needsChmod: Bool
    private let flusher: BackgroundFlusher
    /// The output directory, opened once (owned by `flusher`, which closes it).
    private let directoryFD: Int32
    /// The hidden folder, opened once with O_NOFOLLOW; closed in `deinit`.
    private let partialFD: Int32
    private let cleanup = NSLock()
    private var removedPartialFolder = false  // guarded by `cleanup`

    /// The mode of every output file.
    package static let outputMode: mode_t = 0o644

    /// Opens `path` (an existing directory) for outputs: creates the hidden folder for partial outputs.
    /// - Throws: ``FileError`` (exit 2) if the directory cannot be opened, or the folder cannot be created or is
    ///   not a directory of its own (a symbolic link there is refused).
    package init(path: String) throws(FileError) {
        self.path = path
        partialPath = Self.join(path, BatchSigningJob.partialFolderName)
        let directoryFD = try Files.openDirectory(path)
        let name = BatchSigningJob.partialFolderName
        if mkdirat(directoryFD, name, 0o700) != 0 && errno != EEXIST {
            let reason = errnoText()
            close(directoryFD)
            throw FileError(path: partialPath, reason: "cannot create the folder for partial outputs: \(reason)")
        }
        let partialFD = openat(directoryFD, name, O_RDONLY | O_CLOEXEC | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK)
        guard partialFD >= 0 else {
            let reason = errno == ELOOP || errno == ENOTDIR
                ? "is not a directory of its own (a symbolic link or a file); refusing to write outside the output directory: remove it"
                : "cannot open the folder for partial outputs: \(errnoText())"
            close(directoryFD)
            throw FileError(path: partialPath, reason: reason)
        }
        self.directoryFD = directoryFD
        self.partialFD = partialFD
        (linkMode, needsChmod) = Self.probeLinkMode(partialFD)
        flusher = BackgroundFlusher(directoryFD: directoryFD)
    }

    deinit {
        flusher.stop()
        removePartialFolderIfEmpty()
        close(partialFD)
    }

    /// The path an output named `name` gets.
    package func outputPath(_ name: String) -> String { Self.join(path, name) }

    private static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// Writes `bytes` as the output `name` (a file name, no `/`): complete or not at all. An existing `name` is
    /// replaced only if it is a regular file. Thread-safe.
    package func write(_ bytes: [UInt8], name: String) throws(FileError) {
        let target = outputPath(name)
        #if os(Linux)
        if linkMode != .rename {
            let fd = openat(partialFD, ".", Self.oTmpFile | O_WRONLY | O_CLOEXEC, Self.outputMode)
            if fd >= 0 {
                var closed = false
                defer { if !closed { close(fd) } }
                try Files.writeAll(fd: fd, bytes, path: target)
                if needsChmod { fchmod(fd, Self.outputMode) }
                if link(fd, to: name, in: directoryFD) == 0 {
                    closed = true
                    guard close(fd) == 0 else {
                        let reason = errnoText()
                        unlinkat(directoryFD, name, 0)
                        throw FileError(path: target, reason: "close failed: \(reason)")
                    }
                    flusher.noteWritten(bytes.count)
                    return
                }
                guard errno == EEXIST else {
                    throw FileError(path: target, reason: "cannot link the output into place: \(errnoText())")
                }
                // Replacing an existing file (only a regular one): give the complete file a temporary name, then
                // rename it over.
                try checkReplaceable(name, target: target)
                let temporary = try linkUnderTemporaryName(fd, name: name, target: target)
                closed = true
                guard close(fd) == 0 else {
                    let reason = errnoText()
                    unlinkat(partialFD, temporary, 0)
                    throw FileError(path: target, reason: "close failed: \(reason)")
                }
                try renameIntoPlace(temporary, name, target: target)
                flusher.noteWritten(bytes.count)
                return
            }
        }
        #endif
        try writeNamed(bytes, name: name, target: target)
        flusher.noteWritten(bytes.count)
    }

    /// Flushes every output to disk and removes the hidden folder if it is empty.
    /// - Throws: ``FileError`` if the system reports that some output could not be written to disk.
    package func finish() throws(FileError) {
        let failure = flusher.finish()
        removePartialFolderIfEmpty()
        if let failure {
            throw FileError(path: path, reason: "cannot flush the outputs to disk: \(String(cString: strerror(failure)))")
        }
    }

    /// Removes the hidden folder (through the output directory's descriptor) if it is empty; once.
    private func removePartialFolderIfEmpty() {
        cleanup.lock()
        defer { cleanup.unlock() }
        guard !removedPartialFolder else { return }
        removedPartialFolder = true
        unlinkat(directoryFD, BatchSigningJob.partialFolderName, AT_REMOVEDIR)
    }

    /// Refuses to replace `name` unless it is a regular file (not followed through a symbolic link).
    private func checkReplaceable(_ name: String, target: String) throws(FileError) {
        var info = stat()
        guard fstatat(directoryFD, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno == ENOENT { return }
            throw FileError(path: target, reason: "cannot examine the existing output: \(errnoText())")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw Files.notAnOutputTarget(target, mode: info.st_mode) }
    }

    /// Where `O_TMPFILE` is not available: a named temporary file in the hidden folder, renamed into place.
    private func writeNamed(_ bytes: [UInt8], name: String, target: String) throws(FileError) {
        try checkReplaceable(name, target: target)
        var generator = SystemRandomNumberGenerator()
        var fd: Int32 = -1
        var temporary = ""
        for _ in 0..<100 {
            temporary = ".\(name).\(String(generator.next() as UInt64, radix: 36))"
            fd = openat(partialFD, temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, Self.outputMode)
            if fd >= 0 || errno != EEXIST { break }
        }
        guard fd >= 0 else {
            throw FileError(path: target, reason: "cannot create a temporary file in \(partialPath): \(errnoText())")
        }
        do {
            try Files.writeAll(fd: fd, bytes, path: target)
        } catch {
            close(fd)
            unlinkat(partialFD, temporary, 0)
            throw error
        }
        fchmod(fd, Self.outputMode)
        guard close(fd) == 0 else {
            let reason = errnoText()
            unlinkat(partialFD, temporary, 0)
            throw FileError(path: target, reason: "close failed: \(reason)")
        }
        try checkReplaceable(name, target: target)
        try renameIntoPlace(temporary, name, target: target)
    }

    private func renameIntoPlace(_ temporary: String, _ name: String, target: String) throws(FileError) {
        guard renameat(partialFD, temporary, directoryFD, name) == 0 else {
            let reason = errnoText()
            unlinkat(partialFD, temporary, 0)
            throw FileError(path: target, reason: "cannot rename the temporary file into place: \(reason)")
        }
    }

    #if os(Linux)
    /// `O_TMPFILE` (`__O_TMPFILE | O_DIRECTORY`; `__O_TMPFILE` is 020000000 on every Linux architecture Swift
    /// supports), which Glibc does not export to Swift.
    private static let oTmpFile: Int32 = 0o20000000 | O_DIRECTORY
    private static let atEmptyPath: Int32 = 0x1000

    private func link(_ fd: Int32, to name: String, in directory: Int32) -> Int32 {
        switch linkMode {
        case .emptyPath: linkat(fd, "", directory, name, Self.atEmptyPath)
        case .procSelf: linkat(AT_FDCWD, "/proc/self/fd/\(fd)", directory, name, AT_SYMLINK_FOLLOW)
        case .rename: -1
        }
    }

    /// Links the unnamed file `fd` under a new temporary name in the hidden folder; returns that name.
    private func linkUnderTemporaryName(_ fd: Int32, name: String, target: String) throws(FileError) -> String {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<100 {
            let temporary = ".\(name).\(String(generator.next() as UInt64, radix: 36))"
            if link(fd, to: temporary, in: partialFD) == 0 { return temporary }
            if errno != EEXIST { break }
        }
        throw FileError(path: target, reason: "cannot create a temporary file in \(partialPath): \(errnoText())")
    }

    /// Finds how an unnamed temporary file can be linked into `folder`: `AT_EMPTY_PATH` (allowed to the file's
    /// opener since Linux 6.10, and to privileged processes before), else `/proc/self/fd`, else not at all; and
    /// whether the umask takes bits off the outputs' mode (read from the probe file's mode: reading the umask
    /// itself means setting it, which would race with other threads creating files).
    private static func probeLinkMode(_ folder: Int32) -> (LinkMode, needsChmod: Bool) {
        let fd = openat(folder, ".", oTmpFile | O_WRONLY | O_CLOEXEC, outputMode)
        guard fd >= 0 else { return (.rename, true) }
        defer { close(fd) }
        var info = stat()
        let needsChmod = fstat(fd, &info) != 0 || info.st_mode & 0o7777 != outputMode
        let probe = ".link-probe-\(getpid())"
        unlinkat(folder, probe, 0)
        if linkat(fd, "", folder, probe, atEmptyPath) == 0 {
            unlinkat(folder, probe, 0)
            return (.emptyPath, needsChmod)
        }
        if linkat(AT_FDCWD, "/proc/self/fd/\(fd)", folder, probe, AT_SYMLINK_FOLLOW) == 0 {
            unlinkat(folder, probe, 0)
            return (.procSelf, needsChmod)
        }
        return (.rename, true)
    }
    #else
    private static func probeLinkMode(_ folder: Int32) -> (LinkMode, needsChmod: Bool) { (.rename, true) }
    #endif
}

/// Flushes a file system to disk in the background: once `threshold` bytes have been written since the last
/// flush, one thread calls `syncfs`, one flush at a time; ``finish()`` stops it and flushes once more.
private final class BackgroundFlusher: @unchecked Sendable {
    private let directoryFD: Int32
    private let threshold: Int
    private let condition = NSCondition()
    // Guarded by `condition`:
    private var pendingBytes = 0
    private var started = false
    private var stopping = false
    private var stopped = false
    private var failure: Int32?

    init(directoryFD: Int32, threshold: Int = 4 << 20) {
        self.directoryFD = directoryFD
        self.threshold = threshold
    }

    /// Counts `count` bytes written; starts the thread the first time the threshold is reached.
    func noteWritten(_ count: Int) {
        condition.lock()
        pendingBytes += count
        guard pendingBytes >= threshold, !stopping else {
            condition.unlock()
            return
        }
        if !started {
            started = true
            let thread = Thread { [self] in loop() }
            thread.stackSize = 1 << 20
            thread.start()
        }
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        condition.lock()
        while true {
            while !stopping && pendingBytes < threshold { condition.wait() }
            if stopping { break }
            pendingBytes = 0
            condition.unlock()
            let result = Self.flush(directoryFD)
            condition.lock()
            if result != 0, failure == nil { failure = result }
        }
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    /// Stops the thread (waiting for a flush in progress), flushes once more and closes the directory.
    /// - Returns: the `errno` of the first failed flush, if any.
    func finish() -> Int32? {
        stop()
        var result = Self.flush(directoryFD)
        if result == 0 && fsync(directoryFD) != 0 { result = errno }
        condition.lock()
        defer { condition.unlock() }
        if result != 0, failure == nil { failure = result }
        return failure
    }

    /// Stops the thread, if it runs, and waits for it; closes the directory once.
    func stop() {
        condition.lock()
        defer { condition.unlock() }
        guard !stopping else { return }
        stopping = true
        condition.broadcast()
        while started && !stopped { condition.wait() }
    }

    deinit {
        close(directoryFD)
    }

    /// Flushes the file system holding `fd`; returns 0 or an `errno`.
    private static func flush(_ fd: Int32) -> Int32 {
        #if os(Linux)
        if let syncfs {
            return syncfs(fd) == 0 ? 0 : errno
        }
        #endif
        sync()
        return 0
    }

    #if os(Linux)
    /// `syncfs(2)`, which Glibc declares only under `_GNU_SOURCE` and so does not export to Swift.
    private static let syncfs: (@convention(c) (Int32) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "syncfs") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int32) -> Int32).self)
    }()
    #endif
}
