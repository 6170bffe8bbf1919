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
/// only ever refers to a complete file, even if the process is killed at any point.
///
/// Flushing: ``finish()`` returns only once every output is on disk (`syncfs` of the output directory's file
/// system, then `fsync` of the directory; `sync` where `syncfs` does not exist), and throws if the system
/// reports a write-back error. Most of that work is started earlier by a background thread (one `syncfs` at a
/// time once 4 MiB more are written), so it overlaps with signing.
public final class BatchOutputDirectory: @unchecked Sendable {
    /// The output directory.
    public let path: String
    /// The hidden folder for partial outputs inside it.
    public let partialPath: String

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

    /// The mode of every output file.
    public static let outputMode: mode_t = 0o644

    /// Opens `path` (an existing directory) for outputs: creates the hidden folder for partial outputs.
    /// - Throws: ``FileError`` if the folder cannot be created or the directory cannot be opened.
    public init(path: String) throws(FileError) {
        let directory = path
        self.path = path
        partialPath = Self.join(path, BatchSigningJob.partialFolderName)
        if mkdir(partialPath, 0o700) != 0 && errno != EEXIST {
            throw FileError(path: partialPath, reason: "cannot create the folder for partial outputs: \(errnoText())")
        }
        let directoryFD = open(directory, O_RDONLY | O_CLOEXEC | O_DIRECTORY)
        guard directoryFD >= 0 else {
            throw FileError(path: directory, reason: "cannot open the output directory: \(errnoText())")
        }
        (linkMode, needsChmod) = Self.probeLinkMode(partialPath)
        flusher = BackgroundFlusher(directoryFD: directoryFD)
    }

    deinit {
        flusher.stop()
    }

    /// The path an output named `name` gets.
    public func outputPath(_ name: String) -> String { Self.join(path, name) }

    private static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// Writes `bytes` as the output `name` (a file name, no `/`): complete or not at all. Thread-safe.
    public func write(_ bytes: [UInt8], name: String) throws(FileError) {
        let target = outputPath(name)
        #if os(Linux)
        if linkMode != .rename {
            let fd = open(partialPath, Self.oTmpFile | O_WRONLY | O_CLOEXEC, Self.outputMode)
            if fd >= 0 {
                defer { close(fd) }
                try Files.writeAll(fd: fd, bytes, path: target)
                if needsChmod { fchmod(fd, Self.outputMode) }
                if link(fd, to: target) == 0 {
                    flusher.noteWritten(bytes.count)
                    return
                }
                guard errno == EEXIST else {
                    throw FileError(path: target, reason: "cannot link the output into place: \(errnoText())")
                }
                // Replacing an existing file: give the complete file a temporary name, then rename it over.
                let temporary = try linkUnderTemporaryName(fd, name: name, target: target)
                try renameIntoPlace(temporary, target)
                flusher.noteWritten(bytes.count)
                return
            }
        }
        #endif
        try Files.writeAtomically(bytes, to: target, mode: Self.outputMode, durable: false, temporaryDirectory: partialPath)
        flusher.noteWritten(bytes.count)
    }

    /// Flushes every output to disk and removes the hidden folder if it is empty.
    /// - Throws: ``FileError`` if the system reports that some output could not be written to disk.
    public func finish() throws(FileError) {
        let failure = flusher.finish()
        rmdir(partialPath)
        if let failure {
            throw FileError(path: path, reason: "cannot flush the outputs to disk: \(String(cString: strerror(failure)))")
        }
    }

    #if os(Linux)
    /// `O_TMPFILE` (`__O_TMPFILE | O_DIRECTORY`; `__O_TMPFILE` is 020000000 on every Linux architecture Swift
    /// supports), which Glibc does not export to Swift.
    private static let oTmpFile: Int32 = 0o20000000 | O_DIRECTORY
    private static let atEmptyPath: Int32 = 0x1000

    private func link(_ fd: Int32, to target: String) -> Int32 {
        switch linkMode {
        case .emptyPath: linkat(fd, "", AT_FDCWD, target, Self.atEmptyPath)
        case .procSelf: linkat(AT_FDCWD, "/proc/self/fd/\(fd)", AT_FDCWD, target, AT_SYMLINK_FOLLOW)
        case .rename: -1
        }
    }

    private func linkUnderTemporaryName(_ fd: Int32, name: String, target: String) throws(FileError) -> String {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<100 {
            let temporary = "\(partialPath)/.\(name).\(String(generator.next() as UInt64, radix: 36))"
            if link(fd, to: temporary) == 0 { return temporary }
            if errno != EEXIST { break }
        }
        throw FileError(path: target, reason: "cannot create a temporary file in \(partialPath): \(errnoText())")
    }

    private func renameIntoPlace(_ temporary: String, _ target: String) throws(FileError) {
        guard rename(temporary, target) == 0 else {
            let reason = errnoText()
            unlink(temporary)
            throw FileError(path: target, reason: "cannot rename the temporary file into place: \(reason)")
        }
    }

    /// Finds how an unnamed temporary file can be linked into `folder`: `AT_EMPTY_PATH` (allowed to the file's
    /// opener since Linux 6.10, and to privileged processes before), else `/proc/self/fd`, else not at all; and
    /// whether the umask takes bits off the outputs' mode (read from the probe file's mode: reading the umask
    /// itself means setting it, which would race with other threads creating files).
    private static func probeLinkMode(_ folder: String) -> (LinkMode, needsChmod: Bool) {
        let fd = open(folder, oTmpFile | O_WRONLY | O_CLOEXEC, outputMode)
        guard fd >= 0 else { return (.rename, true) }
        defer { close(fd) }
        var info = stat()
        let needsChmod = fstat(fd, &info) != 0 || info.st_mode & 0o7777 != outputMode
        let probe = "\(folder)/.link-probe-\(getpid())"
        unlink(probe)
        if linkat(fd, "", AT_FDCWD, probe, atEmptyPath) == 0 {
            unlink(probe)
            return (.emptyPath, needsChmod)
        }
        if linkat(AT_FDCWD, "/proc/self/fd/\(fd)", AT_FDCWD, probe, AT_SYMLINK_FOLLOW) == 0 {
            unlink(probe)
            return (.procSelf, needsChmod)
        }
        return (.rename, true)
    }
    #else
    private static func probeLinkMode(_ folder: String) -> (LinkMode, needsChmod: Bool) { (.rename, true) }
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
