#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why the counter store could not hand out counters.
///
/// Every kind but ``Kind/unavailable`` is an input failure (``CoSSignerError/Kind/input``, exit code 2): the
/// store is a file the tool reads and
/// writes like its other inputs, and a corrupt store is refused (never silently reset, which could
/// repeat counters) until a person repairs it.
public struct CounterStoreError: ClassifiedError, Equatable {
    /// What went wrong with the store.
    public enum Kind: String, Sendable {
        /// The store (or its lock file) could not be opened, locked, read or written.
        case io = "counter store unusable"
        /// The store file is not in the documented format.
        case corrupt = "counter store corrupt"
        /// The originator's counters would pass 2^64-1.
        case exhausted = "counters exhausted"
        /// The request itself was wrong (a count of 0).
        case invalidRequest = "invalid counter request"
        /// A shared store (a database) cannot be reached or did not answer; nothing was allocated.
        case unavailable = "counter store unavailable"
    }

    /// What kind of failure.
    public let kind: Kind
    /// The store file (or `time` for the time sequence).
    public let path: String
    /// The 1-based line of the store file, for ``Kind/corrupt``.
    public let line: Int?
    /// Why, in words.
    public let reason: String

    /// A counter store failure (for stores of one's own, ``CounterStoreBackend``).
    public init(kind: Kind, path: String, line: Int? = nil, reason: String) {
        self.kind = kind
        self.path = path
        self.line = line
        self.reason = reason
    }

    /// ``FailureClass/input`` (exit 2), but a store that cannot be reached is ``FailureClass/keyOrCertificate``
    /// (exit 3, "counter store unavailable"): the request itself is fine.
    package var failureClass: FailureClass { kind == .unavailable ? .keyOrCertificate : .input }

    /// Equality compares only ``kind``, so a test can
    /// write `#expect(throws: CounterStoreError(kind: .corrupt, path: "", reason: ""))`.
    public static func == (lhs: CounterStoreError, rhs: CounterStoreError) -> Bool { lhs.kind == rhs.kind }

    public var description: String {
        "\(path)\(line.map { ":\($0)" } ?? ""): \(kind.rawValue): \(reason)"
    }
}

/// A durable store of originator counters: for each Business Originator (EUI-64) the next counter
/// it may use. Counters handed out are strictly increasing per originator, across runs and across
/// concurrent processes, and are never handed out twice, even after `kill -9` or a power loss
/// (gaps are possible, repeats are not).
///
/// ## File format
/// UTF-8 text, one line per originator, sorted by EUI-64:
/// ```
/// # CoSSigner originator counter store v1: EUI64 next-free-counter
/// 90-B3-D5-1F-3F-01-00-00 1712345678901
/// ```
/// - `EUI64` is the dashed form (either hex case is read; upper case is written), then one or more
///   spaces or tabs, then `next-free-counter`: decimal digits, 1 ... 18446744073709551616 (2^64,
///   meaning "all counters used").
/// - Lines starting with `#` and blank lines are ignored; an originator may appear once.
/// - An originator that is absent starts at 1 (or at the floor given to ``reserve(originator:count:floor:)``).
/// Anything else is ``CounterStoreError/Kind/corrupt`` with the line number.
///
/// ## Protocol
/// 1. Open `PATH.lock` (created 0600 if missing, never deleted) and take an exclusive `flock`. The
///    lock is on a separate file because the store itself is replaced by rename; `flock` locks
///    exclude other processes and other descriptors of the same process alike.
/// 2. Read and parse the store (absent = empty).
/// 3. Reserve a block: `start = max(next, floor)`, `end = start + count - 1`.
/// 4. Write the new content to `PATH.tmp`, `fsync` it, `rename` it over `PATH`, `fsync` the directory.
/// 5. Unlock, and only then return the block.
/// A crash before step 4's rename leaves the old store (the block was never returned); after it,
/// the block is recorded as used whether or not it was ever returned.
///
/// The path is resolved once, when the store is made (`realpath`: symbolic links and `..` followed), and every
/// step works on the real file: the lock is `REAL.lock`, and the new content replaces `REAL`, never a symbolic
/// link to it. So a store reached through a link and through its real path is one store with one lock, and
/// the link stays a link. A path that is a symbolic link to nothing is refused; the store, its lock file and its
/// temporary file must be regular files (opened without blocking, never through a link).
///
/// Errors name the path and the line, never the content of a line (a store path pointed at a file that is not a
/// store must not print that file).
///
/// Use a local file system (`flock` over NFS is not reliable). Deleting the store resets it: seed
/// a new store above every counter used before (``raiseFloor(originator:to:)``).
package struct CounterStore: CounterStoreBackend, Hashable {
    /// The store file, as given (errors name it).
    package let path: String
    /// The real file the store is kept in: `path` resolved once, when the store was made.
    package let resolvedPath: String

    /// The value written for an originator whose last counter was 2^64-1.
    static let exhaustedText = "18446744073709551616"
    static let header = "# CoSSigner originator counter store v1: EUI64 next-free-counter"

    /// A store kept at `path`, resolved now to the real file (``resolvedPath``). A path that does not exist yet
    /// is resolved through its directory; a symbolic link that leads nowhere is kept as it is and refused when the
    /// store is used.
    package init(path: String) {
        self.path = path
        resolvedPath = Self.resolve(path)
    }

    /// The lock file beside the real store file.
    package var lockPath: String { resolvedPath + ".lock" }

    /// `path` with its symbolic links and `..` resolved: the real file, or for a file not created yet, the real
    /// directory joined to the name.
    static func resolve(_ path: String) -> String {
        if let real = Files.realPath(path) { return real }
        var info = stat()
        if lstat(path, &info) == 0 { return path }  // exists but does not resolve: a dangling link, refused later
        let (directory, name) = Files.split(path)
        guard let realDirectory = Files.realPath(directory) else { return path }
        return realDirectory == "/" ? "/" + name : realDirectory + "/" + name
    }

    /// Reserves `count` consecutive counters for `originator`, durably, and returns them.
    /// - Parameters:
    ///   - originator: the Business Originator (User ID).
    ///   - count: how many counters (at least 1).
    ///   - floor: the block starts at this value or above (e.g. ``currentTimeMilliseconds()``).
    /// - Returns: the block; every counter in it is ≥ 1, ≥ `floor`, and greater than any counter
    ///   reserved before for `originator` from this store.
    /// - Throws: ``CounterStoreError``.
    package func reserve(originator: EUI64, count: UInt64, floor: UInt64 = 1) throws(CounterStoreError) -> ClosedRange<UInt64> {
        guard count >= 1 else {
            throw CounterStoreError(kind: .invalidRequest, path: path, reason: "the count must be at least 1")
        }
        return try locked { (entries: inout [EUI64: UInt64?]) throws(CounterStoreError) -> ClosedRange<UInt64> in
            let next: UInt64? = entries[originator] ?? 1
            guard let next else {
                throw CounterStoreError(kind: .exhausted, path: path,
                                        reason: "every counter of \(originator) up to 18446744073709551615 (2^64-1) has been used")
            }
            let start = Swift.max(next, floor, 1)
            let (end, overflow) = start.addingReportingOverflow(count - 1)
            guard !overflow else {
                throw CounterStoreError(kind: .exhausted, path: path,
                                        reason: "\(count) counters for \(originator) from \(start) would pass 18446744073709551615 (2^64-1)")
            }
            let newNext: UInt64? = end == UInt64.max ? nil : end + 1
            entries[originator] = .some(newNext)
            return start...end
        }
    }

    /// Raises `originator`'s next counter to at least `floor` without reserving anything (to seed a
    /// store above counters used before, e.g. with ``currentTimeMilliseconds()``).
    /// - Returns: the originator's next counter afterwards (nil when exhausted).
    @discardableResult
    package func raiseFloor(originator: EUI64, to floor: UInt64) throws(CounterStoreError) -> UInt64? {
        try locked { (entries: inout [EUI64: UInt64?]) throws(CounterStoreError) -> UInt64? in
            let next: UInt64? = entries[originator] ?? 1
            guard let next else { return nil }
            let raised = Swift.max(next, floor, 1)
            entries[originator] = raised
            return raised
        }
    }

    /// Reads the store under its lock: it can be opened, locked and parsed.
    package func checkAvailable() throws(CounterStoreError) {
        _ = try snapshot()
    }

    package var description: String { path }

    /// The next counter of every originator in the store (nil = exhausted), read under the lock.
    package func snapshot() throws(CounterStoreError) -> [EUI64: UInt64?] {
        try locked { (entries: inout [EUI64: UInt64?]) throws(CounterStoreError) in entries }
    }

    // MARK: - Locked read-modify-write

    /// Runs `body` on the parsed store under the exclusive lock; writes the store back (durably)
    /// if `body` changed it; unlocks; returns `body`'s result.
    private func locked<R>(_ body: (inout [EUI64: UInt64?]) throws(CounterStoreError) -> R) throws(CounterStoreError) -> R {
        try checkResolved()
        let lockFD = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0o600)
        guard lockFD >= 0 else { throw ioError("cannot open the lock file \(lockPath): \(errnoText())") }
        var lockInfo = stat()
        guard fstat(lockFD, &lockInfo) == 0, (lockInfo.st_mode & S_IFMT) == S_IFREG else {
            close(lockFD)
            throw ioError("the lock file \(lockPath) is not a regular file")
        }
        defer { close(lockFD) }  // closing releases the flock
        while flock(lockFD, LOCK_EX) != 0 {
            if errno == EINTR { continue }
            throw ioError("cannot lock \(lockPath): \(errnoText())")
        }
        let original = try readEntries()
        var entries = original
        let result = try body(&entries)
        if entries != original { try write(entries) }
        return result
    }

    private func ioError(_ reason: String) -> CounterStoreError {
        CounterStoreError(kind: .io, path: path, reason: reason)
    }

    /// Refuses a store whose real path is (now) a symbolic link, or anything but a regular file.
    private func checkResolved() throws(CounterStoreError) {
        var info = stat()
        guard lstat(resolvedPath, &info) == 0 else {
            if errno == ENOENT { return }
            throw ioError("cannot examine \(resolvedPath): \(errnoText())")
        }
        switch info.st_mode & S_IFMT {
        case S_IFREG: return
        case S_IFLNK: throw ioError("is a symbolic link that leads to no file; give the store's real path")
        default: throw ioError("\(Files.notRegularReason(info.st_mode)); a counter store is a regular file")
        }
    }

    private func readEntries() throws(CounterStoreError) -> [EUI64: UInt64?] {
        // Opened without blocking and never through a link (the path was resolved once, at init); a store that is
        // not a regular file is refused. An absent store is empty.
        let bytes: [UInt8]
        do {
            guard let read = try Files.readRegularFileIfPresent(resolvedPath, maxBytes: Self.maximumFileBytes, failureClass: .input) else {
                return [:]
            }
            bytes = read
        } catch {
            throw ioError(error.reason.hasPrefix("is ") ? "\(error.reason); a counter store is a regular file" : error.reason)
        }
        return try Self.parse(bytes, path: path)
    }

    /// The largest store file read (a store holds one short line per originator).
    static let maximumFileBytes = 64 << 20

    /// Parses the store format (see the type's documentation).
    static func parse(_ bytes: [UInt8], path: String) throws(CounterStoreError) -> [EUI64: UInt64?] {
        let text = String(decoding: bytes, as: UTF8.self)
        guard !text.unicodeScalars.contains("\u{FFFD}") else {
            throw CounterStoreError(kind: .corrupt, path: path, reason: "not UTF-8 text")
        }
        if !bytes.isEmpty, bytes.last != UInt8(ascii: "\n") {
            // Every write ends with a newline; a missing one means the file was cut or edited by hand.
            throw CounterStoreError(kind: .corrupt, path: path, line: bytes.split(separator: 0x0A, omittingEmptySubsequences: false).count,
                                    reason: "the last line has no line feed (truncated file?)")
        }
        var entries: [EUI64: UInt64?] = [:]
        var firstLine: [EUI64: Int] = [:]
        // Split on LF bytes (a Swift Character would keep "\r\n" together).
        for (index, lineBytes) in bytes.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            let line = String(decoding: lineBytes.last == 0x0D ? lineBytes.dropLast() : lineBytes, as: UTF8.self)
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) || line.hasPrefix("#") { continue }
            func corrupt(_ reason: String) -> CounterStoreError {
                CounterStoreError(kind: .corrupt, path: path, line: number, reason: reason)
            }
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            // The messages name the line and the field, never their content: a path given by mistake (a key,
            // a passphrase file) must not be printed.
            guard fields.count == 2 else {
                throw corrupt("expected 'EUI64 next-free-counter' (2 fields), found \(fields.count) field\(fields.count == 1 ? "" : "s")")
            }
            let originator: EUI64
            do throws(EUI64ParseError) {
                originator = try EUI64(parsing: fields[0])
            } catch {
                throw corrupt("field 1 is not an EUI-64 (8 hex octets separated by '-')")
            }
            let digits = fields[1]
            guard digits.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else {
                throw corrupt("the next counter (field 2) must be decimal digits")
            }
            let next: UInt64?
            if digits == Self.exhaustedText {
                next = nil
            } else if let value = UInt64(digits), value >= 1 {
                next = value
            } else {
                throw corrupt("the next counter (field 2) must be 1 ... 18446744073709551616 (2^64)")
            }
            if let first = firstLine[originator] {
                throw corrupt("the originator appears more than once (first at line \(first))")
            }
            firstLine[originator] = number
            entries[originator] = next
        }
        return entries
    }

    /// The store text for `entries`.
    static func render(_ entries: [EUI64: UInt64?]) -> [UInt8] {
        var text = header + "\n"
        for (originator, next) in entries.sorted(by: { $0.key < $1.key }) {
            text += "\(originator) \(next.map(String.init) ?? exhaustedText)\n"
        }
        return Array(text.utf8)
    }

    /// Writes the store durably: `REAL.tmp` (we hold the lock, so the name is ours; a leftover is removed and
    /// the file created anew, never opened through a link), fsync, rename over the real file, fsync its directory.
    private func write(_ entries: [EUI64: UInt64?]) throws(CounterStoreError) {
        let bytes = Self.render(entries)
        let temporary = resolvedPath + ".tmp"
        if unlink(temporary) != 0 && errno != ENOENT {
            throw ioError("cannot remove the old \(temporary): \(errnoText())")
        }
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw ioError("cannot create \(temporary): \(errnoText())") }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw in Platform.write(fd, raw.baseAddress.map { $0 + offset }, raw.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                let reason = errnoText()
                close(fd)
                unlink(temporary)
                throw ioError("cannot write \(temporary): \(reason)")
            }
            offset += n
        }
        guard fsync(fd) == 0 else {
            let reason = errnoText()
            close(fd)
            unlink(temporary)
            throw ioError("fsync of \(temporary) failed: \(reason)")
        }
        guard close(fd) == 0 else {
            let reason = errnoText()
            unlink(temporary)
            throw ioError("close of \(temporary) failed: \(reason)")
        }
        guard rename(temporary, resolvedPath) == 0 else {
            let reason = errnoText()
            unlink(temporary)
            throw ioError("cannot rename \(temporary) over the store: \(reason)")
        }
        let directory = Files.split(resolvedPath).directory
        let dirFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dirFD >= 0 else { throw ioError("cannot open the directory \(directory) to fsync it: \(errnoText())") }
        defer { close(dirFD) }
        guard fsync(dirFD) == 0 else { throw ioError("fsync of the directory \(directory) failed: \(errnoText())") }
    }
}
