import CoSSigner
import Foundation
import Logging
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// swift-log's handler for the service: one JSON object per line on standard error,
/// `{"time":"…","level":"info","label":"…","message":"…", <metadata>}`.
///
/// What the service logs never holds a document's content, a key, a passphrase or a client's body: routes,
/// statuses, durations, RequestIDs, parties, User IDs, certificate serials, client certificate subjects, error kinds
/// and fields.
///
/// Lines below `warning` (one per request) are written by a background thread at most 20 ms later, so that a request
/// never waits for standard error; `warning` and above are written at once, after the lines before them.
/// ``JSONLogHandler/flush()`` writes what is pending (the server calls it when it stops).
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private let label: String

    public init(label: String, level: Logger.Level) {
        self.label = label
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var line = [UInt8]()
        line.reserveCapacity(384)
        line.append(contentsOf: #"{"time":""#.utf8)
        Self.appendTimestamp(to: &line)
        line.append(contentsOf: #"","level":""#.utf8)
        line.append(contentsOf: event.level.rawValue.utf8)
        line.append(contentsOf: #"","label":"#.utf8)
        JSONValue.writeString(label, to: &line)
        line.append(contentsOf: #","message":"#.utf8)
        JSONValue.writeString(event.message.description, to: &line)
        var all = metadata
        if let extra = event.metadata {
            if all.isEmpty { all = extra } else { all.merge(extra) { $1 } }
        }
        for key in all.keys.sorted() {
            guard let value = all[key] else { continue }
            line.append(UInt8(ascii: ","))
            JSONValue.writeString(key, to: &line)
            line.append(UInt8(ascii: ":"))
            Self.append(value, to: &line)
        }
        line.append(contentsOf: "}\n".utf8)
        LogSink.shared.write(line, now: event.level >= .warning)
    }

    /// Writes every line still pending.
    public static func flush() { LogSink.shared.flush() }

    private static func append(_ value: Logger.Metadata.Value, to line: inout [UInt8]) {
        switch value {
        case .string(let text): JSONValue.writeString(text, to: &line)
        case .stringConvertible(let value): JSONValue.writeString(value.description, to: &line)
        case .array(let values):
            line.append(UInt8(ascii: "["))
            for (index, value) in values.enumerated() {
                if index > 0 { line.append(UInt8(ascii: ",")) }
                append(value, to: &line)
            }
            line.append(UInt8(ascii: "]"))
        case .dictionary(let values):
            line.append(UInt8(ascii: "{"))
            for (index, key) in values.keys.sorted().enumerated() {
                if index > 0 { line.append(UInt8(ascii: ",")) }
                JSONValue.writeString(key, to: &line)
                line.append(UInt8(ascii: ":"))
                if let value = values[key] { append(value, to: &line) }
            }
            line.append(UInt8(ascii: "}"))
        }
    }

    /// UTC, milliseconds: `2026-01-02T03:04:05.678Z`.
    static func appendTimestamp(to line: inout [UInt8]) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = time_t(now.tv_sec)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func digits(_ value: Int, _ count: Int) {
            var divisor = 1
            for _ in 1..<count { divisor *= 10 }
            var rest = value
            while divisor > 0 {
                line.append(UInt8(ascii: "0") + UInt8(rest / divisor % 10))
                rest %= divisor
                divisor /= 10
            }
        }
        digits(Int(parts.tm_year) + 1900, 4); line.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mon) + 1, 2); line.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mday), 2); line.append(UInt8(ascii: "T"))
        digits(Int(parts.tm_hour), 2); line.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_min), 2); line.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_sec), 2); line.append(UInt8(ascii: "."))
        digits(Int(now.tv_nsec / 1_000_000), 3); line.append(UInt8(ascii: "Z"))
    }
}

/// Standard error, with lines gathered and written by one background thread.
final class LogSink: @unchecked Sendable {
    static let shared = LogSink()

    private let condition = NSCondition()
    private var pending = [UInt8]()  // guarded by `condition`
    /// Serialises the writes themselves (background and immediate), so lines never interleave.
    private let writing = NIOLock()

    private init() {
        let thread = Thread { [unowned self] in self.run() }
        thread.name = "cos-signer-server log"
        thread.start()
    }

    func write(_ line: [UInt8], now: Bool) {
        condition.lock()
        pending.append(contentsOf: line)
        let wake = pending.count > 1 << 16
        condition.unlock()
        if now {
            flush()
        } else if wake {
            condition.signal()
        }
    }

    func flush() {
        writing.withLock {
            condition.lock()
            let bytes = pending
            pending.removeAll(keepingCapacity: true)
            condition.unlock()
            Self.writeAll(bytes)
        }
    }

    private func run() {
        while true {
            condition.lock()
            if pending.isEmpty { _ = condition.wait(until: Date().addingTimeInterval(0.02)) }
            condition.unlock()
            flush()
        }
    }

    private static func writeAll(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { buffer in
            guard let base = buffer.baseAddress else { return }
            var offset = 0
            while offset < buffer.count {
                let n = Platform.write(2, base + offset, buffer.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }
                offset += n
            }
        }
    }
}
