#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why the counter store could not hand out counters.
///
/// Every kind is failure class ``FailureClass/input``: the store is a file the tool reads and
/// writes like its other inputs, and a corrupt store is refused (never silently reset, which could
/// repeat counters) until a person repairs it.
public struct CounterStoreError: ClassifiedError, Equatable {
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

    public init(kind: Kind, path: String, line: Int? = nil, reason: String) {
        self.kind = kind
        self.path = path
        self.line = line
        self.reason = reason
    }

    /// ``FailureClass/input`` (exit 2), but a store that cannot be reached is ``FailureClass/keyOrCertificate``
    /// (exit 3, "counter store unavailable"): the request itself is fine.
    public var failureClass: FailureClass { kind == .unavailable ? .keyOrCertificate : .input }

    /// Equality compares only ``kind`` (as ``CryptoError`` compares only its code), so a test can
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
/// Use a local file system (`flock` over NFS is not reliable). Deleting the store resets it: seed
/// a new store above every counter used before (``raiseFloor(originator:to:)``).
public struct CounterStore: CounterStoreBackend, Hashable {
    /// The store file.
    public let path: String

    /// The value written for an originator whose last counter was 2^64-1.
    static let exhaustedText = "18446744073709551616"
    static let header = "# CoSSigner originator counter store v1: EUI64 next-free-counter"

    public init(path: String) {
        self.path = path
    }

    /// The lock file beside the store.
    public var lockPath: String { path + ".lock" }

    /// Reserves `count` consecutive counters for `originator`, durably, and returns them.
    /// - Parameters:
    ///   - originator: the Business Originator (User ID).
    ///   - count: how many counters (at least 1).
    ///   - floor: the block starts at this value or above (e.g. ``currentTimeMilliseconds()``).
    /// - Returns: the block; every counter in it is ≥ 1, ≥ `floor`, and greater than any counter
    ///   reserved before for `originator` from this store.
    /// - Throws: ``CounterStoreError``.
    public func reserve(originator: EUI64, count: UInt64, floor: UInt64 = 1) throws(CounterStoreError) -> ClosedRange<UInt64> {
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
    public func raiseFloor(originator: EUI64, to floor: UInt64) throws(CounterStoreError) -> UInt64? {
        try locked { (entries: inout [EUI64: UInt64?]) throws(CounterStoreError) -> UInt64? in
            let next: UInt64? = entries[originator] ?? 1
            guard let next else { return nil }
            let raised = Swift.max(next, floor, 1)
            entries[originator] = raised
            return raised
        }
    }

    /// Reads the store under its lock: it can be opened, locked and parsed.
    public func checkAvailable() throws(CounterStoreError) {
        _ = try snapshot()
    }

    public var description: String { path }

    /// The next counter of every originator in the store (nil = exhausted), read under the lock.
    public func snapshot() throws(CounterStoreError) -> [EUI64: UInt64?] {
        try locked { (entries: inout [EUI64: UInt64?]) throws(CounterStoreError) in entries }
    }

    // MARK: - Locked read-modify-write

    /// Runs `body` on the parsed store under the exclusive lock; writes the store back (durably)
    /// if `body` changed it; unlocks; returns `body`'s result.
    private func locked<R>(_ body: (inout [EUI64: UInt64?]) throws(CounterStoreError) -> R) throws(CounterStoreError) -> R {
        let lockFD = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lockFD >= 0 else { throw ioError("cannot open the lock file \(lockPath): \(errnoText())") }
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

    private func readEntries() throws(CounterStoreError) -> [EUI64: UInt64?] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return [:] }
            throw ioError("cannot open: \(errnoText())")
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        let limit = 64 * 1024 * 1024
        while true {
            let n = chunk.withUnsafeMutableBytes { raw in read(fd, raw.baseAddress, raw.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ioError("cannot read: \(errnoText())")
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
            guard bytes.count <= limit else { throw ioError("larger than \(limit) bytes; not a counter store") }
        }
        return try Self.parse(bytes, path: path)
    }

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
        // Split on LF bytes (a Swift Character would keep "\r\n" together).
        for (index, lineBytes) in bytes.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            let line = String(decoding: lineBytes.last == 0x0D ? lineBytes.dropLast() : lineBytes, as: UTF8.self)
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) || line.hasPrefix("#") { continue }
            func corrupt(_ reason: String) -> CounterStoreError {
                CounterStoreError(kind: .corrupt, path: path, line: number, reason: reason)
            }
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count == 2 else {
                throw corrupt("expected 'EUI64 next-free-counter' (2 fields), found \(fields.count) field\(fields.count == 1 ? "" : "s")")
            }
            let originator: EUI64
            do throws(EUI64ParseError) {
                originator = try EUI64(parsing: fields[0])
            } catch {
                throw corrupt(error.description)
            }
            let digits = fields[1]
            guard digits.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else {
                throw corrupt("the next counter '\(digits)' must be decimal digits")
            }
            let next: UInt64?
            if digits == Self.exhaustedText {
                next = nil
            } else if let value = UInt64(digits), value >= 1 {
                next = value
            } else {
                throw corrupt("the next counter '\(digits)' must be 1 ... 18446744073709551616 (2^64)")
            }
            guard entries[originator] == nil else { throw corrupt("\(originator) appears more than once") }
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

    /// Writes the store durably: `PATH.tmp` (we hold the lock, so the name is ours), fsync,
    /// rename over `PATH`, fsync the directory.
    private func write(_ entries: [EUI64: UInt64?]) throws(CounterStoreError) {
        let bytes = Self.render(entries)
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ioError("cannot create \(temporary): \(errnoText())") }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw in Glibc.write(fd, raw.baseAddress.map { $0 + offset }, raw.count - offset) }
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
        close(fd)
        guard rename(temporary, path) == 0 else {
            let reason = errnoText()
            unlink(temporary)
            throw ioError("cannot rename \(temporary) over the store: \(reason)")
        }
        let directory = Files.split(path).directory
        let dirFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dirFD >= 0 else { throw ioError("cannot open the directory \(directory) to fsync it: \(errnoText())") }
        defer { close(dirFD) }
        guard fsync(dirFD) == 0 else { throw ioError("fsync of the directory \(directory) failed: \(errnoText())") }
    }
}
