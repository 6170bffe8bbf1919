import Foundation

/// The `ExecutionDateTime` of a future-dated request: an `xs:dateTime` kept exactly as written
/// (so a parsed request is written back byte for byte) together with the instant it denotes.
///
/// Accepted form: `YYYY-MM-DDThh:mm:ss[.fraction](Z|+hh:mm|-hh:mm)` with a four-digit year
/// 0001–9999. A time zone is required: without one an `xs:dateTime` names no single instant, and
/// "in the future" could not be decided.
public struct ExecutionDateTime: Hashable, Sendable, CustomStringConvertible {
    /// The value exactly as written (e.g. `2030-01-02T00:00:00.00Z`).
    public let lexicalValue: String
    /// The instant it denotes.
    public let date: Date

    /// Parses an `xs:dateTime` with a time zone.
    /// - Throws: ``DUISRequestError`` (``DUISRequestError/Rule/lexicalForm`` or ``DUISRequestError/Rule/range``)
    ///   with field `ExecutionDateTime`.
    public init(parsing text: String) throws(DUISRequestError) {
        lexicalValue = text
        date = try Self.parse(Array(text.utf8), text: text)
    }

    /// Makes the value for an instant, written in UTC with whole seconds (`2030-01-02T00:00:00Z`);
    /// fractions of a second are truncated.
    /// - Throws: ``DUISRequestError`` if the instant is outside the years 0001–9999.
    public init(_ date: Date) throws(DUISRequestError) {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        var days = seconds / 86400
        var secondOfDay = seconds % 86400
        if secondOfDay < 0 {
            secondOfDay += 86400
            days -= 1
        }
        let (y, m, d) = Self.civil(fromDays: days)
        guard (1...9999).contains(y) else {
            throw DUISRequestError(field: "ExecutionDateTime", rule: .range,
                                   reason: "the year \(y) is outside 0001-9999")
        }
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let year = String(repeating: "0", count: 4 - String(y).count) + String(y)
        let text = "\(year)-\(two(m))-\(two(d))T\(two(secondOfDay / 3600)):\(two(secondOfDay / 60 % 60)):\(two(secondOfDay % 60))Z"
        try self.init(parsing: text)
    }

    public var description: String { lexicalValue }

    /// Whether the instant is strictly after `now`.
    public func isFutureDated(relativeTo now: Date) -> Bool { date > now }

    // MARK: - Parsing

    private static func parse(_ b: [UInt8], text: String) throws(DUISRequestError) -> Date {
        func fail(_ reason: String) -> DUISRequestError {
            DUISRequestError(field: "ExecutionDateTime", rule: .lexicalForm,
                             reason: "'\(text)' is not an xs:dateTime with a time zone (YYYY-MM-DDThh:mm:ss[.s](Z|±hh:mm)): \(reason)")
        }
        func digits(_ at: Int, _ count: Int) -> Int64? {
            guard at + count <= b.count else { return nil }
            var v: Int64 = 0
            for c in b[at..<(at + count)] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) else { return nil }
                v = v * 10 + Int64(c - UInt8(ascii: "0"))
            }
            return v
        }
        func expect(_ at: Int, _ c: Character) -> Bool { at < b.count && b[at] == c.asciiValue }

        guard let year = digits(0, 4), expect(4, "-"), let month = digits(5, 2), expect(7, "-"),
              let day = digits(8, 2), expect(10, "T"), let hour = digits(11, 2), expect(13, ":"),
              let minute = digits(14, 2), expect(16, ":"), let second = digits(17, 2) else {
            throw fail(b.count > 4 && digits(0, 5) != nil ? "only four-digit years are accepted" : "wrong layout")
        }
        var i = 19
        var fraction = 0.0
        if expect(i, ".") {
            i += 1
            var scale = 0.1
            let start = i
            while i < b.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b[i]) {
                fraction += Double(b[i] - UInt8(ascii: "0")) * scale
                scale /= 10
                i += 1
            }
            guard i > start else { throw fail("a '.' must be followed by digits") }
        }
        var offsetSeconds: Int64 = 0
        if expect(i, "Z") {
            i += 1
        } else if expect(i, "+") || expect(i, "-") {
            let sign: Int64 = expect(i, "-") ? -1 : 1
            guard let oh = digits(i + 1, 2), expect(i + 3, ":"), let om = digits(i + 4, 2) else {
                throw fail("the time zone must be Z or ±hh:mm")
            }
            guard om <= 59, oh * 60 + om <= 14 * 60 else {
                throw fail("the time zone offset must be at most ±14:00")
            }
            offsetSeconds = sign * (oh * 3600 + om * 60)
            i += 6
        } else if i == b.count {
            throw fail("a time zone (Z or ±hh:mm) is required")
        } else {
            throw fail("unexpected text after the seconds")
        }
        guard i == b.count else { throw fail("unexpected text after the time zone") }

        guard year >= 1 else { throw fail("the year 0000 does not exist") }
        guard (1...12).contains(month) else { throw fail("month \(month) is not 01-12") }
        guard day >= 1, day <= daysIn(month: month, year: year) else {
            throw fail("day \(day) does not exist in \(year)-\(month < 10 ? "0" : "")\(month)")
        }
        guard hour <= 23 else { throw fail("hour \(hour) is not 00-23") }
        guard minute <= 59 else { throw fail("minute \(minute) is not 00-59") }
        guard second <= 59 else { throw fail("second \(second) is not 00-59") }

        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = days * 86400 + hour * 3600 + minute * 60 + second - offsetSeconds
        return Date(timeIntervalSince1970: Double(seconds) + fraction)
    }

    private static func isLeap(_ y: Int64) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }

    private static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
    private static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    /// The proleptic Gregorian date of a day count since 1970-01-01.
    private static func civil(fromDays z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}
