#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file (or standard input) that could not be read or written.
public struct FileError: ClassifiedError, Equatable {
    /// The path, or `-` for standard input/output.
    public let path: String
    /// Why, in words.
    public let reason: String
    /// The class of the failure (input by default).
    public var failureClass: FailureClass

    public init(path: String, reason: String, failureClass: FailureClass = .input) {
        self.path = path
        self.reason = reason
        self.failureClass = failureClass
    }

    public var description: String { "\(path == "-" ? "standard input" : path): \(reason)" }
}

/// Bounded reading and atomic writing of files.
public enum Files {
    /// Reads a whole file, or standard input when `path` is `-`, refusing anything larger than
    /// `maxBytes` without reading it all.
    public static func read(_ path: String, maxBytes: Int) throws(FileError) -> [UInt8] {
        let fd: Int32 = path == "-" ? 0 : open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError(path: path, reason: "cannot open: \(errnoText())") }
        defer { if path != "-" { close(fd) } }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw FileError(path: path, reason: "cannot stat: \(errnoText())") }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            throw FileError(path: path, reason: "is a directory")
        }
        if (info.st_mode & S_IFMT) == S_IFREG, Int(info.st_size) > maxBytes {
            throw FileError(path: path, reason: "is \(info.st_size) bytes; the limit is \(maxBytes) bytes")
        }
        let chunk = 64 * 1024
        // A regular file is read into a buffer of its size (plus one byte, to see it grow); anything else
        // (a pipe, standard input) in chunks. Zero-filling with `repeating:` is a memset, even in debug builds.
        let isRegular = (info.st_mode & S_IFMT) == S_IFREG
        var buffer = [UInt8](repeating: 0, count: isRegular ? min(Int(info.st_size), maxBytes) + 1 : chunk)
        var total = 0
        while true {
            if buffer.count == total { buffer += [UInt8](repeating: 0, count: chunk) }
            let wanted = buffer.count - total
            let n = buffer.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return Glibc.read(fd, base + total, raw.count - total)
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError(path: path, reason: "read failed: \(errnoText())")
            }
            if n == 0 { break }
            total += n
            if total > maxBytes {
                throw FileError(path: path, reason: "is larger than the limit of \(maxBytes) bytes")
            }
            // A regular file returns fewer bytes than asked only at its end (the buffer has one byte more than
            // the file's size), so the usual extra read that returns 0 is not needed.
            if isRegular && n < wanted { break }
        }
        buffer.removeSubrange(total...)
        return buffer
    }

    /// Writes `bytes` to `path` atomically: a temporary file in the same directory is written and renamed over
    /// `path`, so `path` is either absent/old or complete, even if the process is killed. With `durable` (the
    /// default) the file is flushed to disk (fsync) before the rename, so this also holds after a power loss;
    /// batches pass `false` and flush their output directory at the end (``BatchOutputDirectory/finish()``).
    /// `-` writes to standard output.
    ///
    /// `temporaryDirectory`, if given, holds the temporary file instead of `path`'s directory; it must be on the
    /// same file system (batches use a hidden folder inside the output directory, so the output directory itself
    /// only ever holds complete files).
    public static func writeAtomically(_ bytes: [UInt8], to path: String, mode: mode_t = 0o644, durable: Bool = true,
                                       temporaryDirectory: String? = nil) throws(FileError) {
        if path == "-" {
            try writeAll(fd: 1, bytes, path: path)
            return
        }
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
        close(fd)
        guard rename(temporary, path) == 0 else {
            throw FileError(path: path, reason: "cannot rename the temporary file into place: \(errnoText())")
        }
        renamed = true
    }


    /// Whether `path` is a directory.
    public static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// The canonical absolute path (symbolic links resolved), or `nil` if it does not exist.
    public static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(decoding: UnsafeRawBufferPointer(start: resolved, count: strlen(resolved)), as: UTF8.self)
    }

    static func writeAll(fd: Int32, _ bytes: [UInt8], path: String) throws(FileError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return Glibc.write(fd, base + offset, bytes.count - offset)
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError(path: path, reason: "write failed: \(errnoText())")
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

func errnoText() -> String {
    String(cString: strerror(errno))
}
