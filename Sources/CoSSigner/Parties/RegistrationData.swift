import Foundation

/// A Gregorian calendar date, `YYYY-MM-DD`, without a time of day or time zone.
package struct CalendarDate: Hashable, Comparable, Sendable, CustomStringConvertible {
    package let year: Int
    package let month: Int
    package let day: Int

    /// Makes a date from its parts.
    /// - Throws: ``CalendarDateError`` for a month or day that does not exist, or a year outside 1...9999.
    package init(year: Int, month: Int, day: Int) throws(CalendarDateError) {
        let text = "\(year)-\(month)-\(day)"
        guard (1...9999).contains(year) else { throw CalendarDateError(text: text, reason: "the year must be 1 to 9999") }
        guard (1...12).contains(month) else { throw CalendarDateError(text: text, reason: "the month must be 1 to 12") }
        guard (1...Self.daysIn(month: month, year: year)).contains(day) else {
            throw CalendarDateError(text: text, reason: "day \(day) does not exist in that month")
        }
        self.year = year
        self.month = month
        self.day = day
    }

    /// Parses ISO 8601 `YYYY-MM-DD` (exactly that form).
    package init(parsing text: some StringProtocol) throws(CalendarDateError) {
        let bytes = Array(text.utf8)
        guard bytes.count == 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-") else {
            throw CalendarDateError(text: String(text), reason: "must be YYYY-MM-DD")
        }
        func number(_ range: Range<Int>) throws(CalendarDateError) -> Int {
            var value = 0
            for byte in bytes[range] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else {
                    throw CalendarDateError(text: String(text), reason: "must be YYYY-MM-DD")
                }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            return value
        }
        do throws(CalendarDateError) {
            try self.init(year: number(0..<4), month: number(5..<7), day: number(8..<10))
        } catch {
            throw CalendarDateError(text: String(text), reason: error.reason)
        }
    }

    /// The UTC calendar date of an instant.
    package init(_ date: Date) {
        let days = Int((date.timeIntervalSince1970 / 86_400).rounded(.down))
        // Civil-from-days (H. Hinnant), proleptic Gregorian.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        day = doy - (153 * mp + 2) / 5 + 1
        month = mp < 10 ? mp + 3 : mp - 9
        year = yoe + era * 400 + (month <= 2 ? 1 : 0)
    }

    /// Today's date in UTC.
    package static func today() -> CalendarDate { CalendarDate(Date()) }

    /// The GB settlement day of an instant: its calendar date in UK local time (Europe/London: GMT in winter, BST,
    /// GMT+1, in summer). 00:30 BST on 1 July (23:30Z on 30 June) is 1 July. Registration data is read on this
    /// date (domain notes §4).
    package static func settlementDay(of instant: Date) -> CalendarDate {
        CalendarDate(instant.addingTimeInterval(TimeInterval(ukOffsetSeconds(at: instant))))
    }

    /// The zone of GB settlement days, from the system's time zone data.
    private static let london = TimeZone(identifier: "Europe/London")

    /// UK local time's offset from UTC at `instant`, in seconds: from the time zone data, or, where the system has
    /// none, the statutory rule in force since 1998 (BST from 01:00 GMT on the last Sunday of March to 01:00 GMT
    /// on the last Sunday of October; `CalendarDateTests` compares the two).
    static func ukOffsetSeconds(at instant: Date) -> Int {
        if let london { return london.secondsFromGMT(for: instant) }
        return statutoryUKOffsetSeconds(at: instant)
    }

    /// The Summer Time rule alone (see ``ukOffsetSeconds(at:)``).
    static func statutoryUKOffsetSeconds(at instant: Date) -> Int {
        let year = CalendarDate(instant).year
        /// 01:00 UTC on the last Sunday of `month` (31 days in March and October) as seconds since 1970.
        func lastSundayOneAM(month: Int) -> Double {
            guard let last = try? CalendarDate(year: year, month: month, day: 31) else { return 0 }
            let days = last.daysSince1970
            let weekday = ((days % 7) + 11) % 7  // 0 = Sunday; 1970-01-01 was a Thursday
            return Double(days - weekday) * 86_400 + 3_600
        }
        let seconds = instant.timeIntervalSince1970
        return seconds >= lastSundayOneAM(month: 3) && seconds < lastSundayOneAM(month: 10) ? 3_600 : 0
    }

    /// Days since 1970-01-01 (negative before).
    var daysSince1970: Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    package var description: String {
        func pad(_ value: Int, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))"
    }

    package static func < (lhs: CalendarDate, rhs: CalendarDate) -> Bool {
        (lhs.year, lhs.month, lhs.day) < (rhs.year, rhs.month, rhs.day)
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}

/// Why a text is not a ``CalendarDate``.
package struct CalendarDateError: ClassifiedError, Equatable {
    /// The text that was given.
    package let text: String
    /// Why it was refused.
    package let reason: String
    package var failureClass: FailureClass { .input }
    package var description: String { "'\(text)' is not a date: \(reason)" }
}

/// One row of registration data: from `effectiveFrom` on, the meter point `mpxn` is registered to `mpid`.
package struct RegistrationRecord: Hashable, Sendable, CustomStringConvertible {
    /// The MPAN core or MPRN (1 to 13 digits).
    package let mpxn: String
    /// The registered supplier's MPID.
    package let mpid: MPID
    /// The first day the registration applies.
    package let effectiveFrom: CalendarDate
    /// The 1-based line of the row in its file.
    package let line: Int

    package init(mpxn: String, mpid: MPID, effectiveFrom: CalendarDate, line: Int) {
        self.mpxn = mpxn
        self.mpid = mpid
        self.effectiveFrom = effectiveFrom
        self.line = line
    }

    package var description: String { "\(mpxn) → \(mpid) from \(effectiveFrom)" }
}

/// Registration data: which MPID each meter point (MPxN) is registered to, and from when.
///
/// The file is CSV with the header `mpxn,mpid,effective_from` and one row per registration, dates
/// as `YYYY-MM-DD`. Blank lines are ignored; values may be surrounded by blanks or double quotes.
/// The MPID registered at a date is the one of the row with the latest `effective_from` on or before
/// that date. Two rows for the same MPxN and `effective_from` (equal or conflicting) and malformed
/// rows refuse the whole file.
public struct RegistrationData: Sendable {
    /// The file (or name) the data came from.
    public let source: String
    private let byMPxN: [String: [RegistrationRecord]]

    /// The largest file read, in bytes.
    public static let maximumFileBytes = 64 << 20
    /// The header line.
    public static let header = ["mpxn", "mpid", "effective_from"]

    /// Reads and checks a registration data file (CSV: `mpxn,mpid,effective_from`, one row per registration).
    /// - Throws: ``CoSSignerError`` (``CoSSignerError/Kind/input``) naming the file and every line that is wrong.
    public init(contentsOfFile path: String) throws(CoSSignerError) {
        do {
            try self.init(reading: path)
        } catch {
            throw CoSSignerError(error, source: path)
        }
    }

    /// Reads and checks a registration data file.
    /// - Throws: ``RegistrationDataError`` naming the file and every bad line.
    package init(reading path: String) throws(RegistrationDataError) {
        let bytes: [UInt8]
        do {
            bytes = try Files.read(path, maxBytes: Self.maximumFileBytes)
        } catch {
            throw RegistrationDataError(source: path, problems: [.init(line: nil, reason: error.reason)], failureClass: .input)
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw RegistrationDataError(source: path, problems: [.init(line: nil, reason: "not UTF-8 text")])
        }
        try self.init(csv: text, source: path)
    }

    /// Reads and checks registration data given as CSV text.
    /// - Throws: ``RegistrationDataError`` naming `source` and every bad line.
    package init(csv text: String, source: String) throws(RegistrationDataError) {
        var problems = [RegistrationDataError.Problem]()
        var records = [RegistrationRecord]()
        var sawHeader = false
        var lineNumber = 0
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            lineNumber += 1
            var line = Substring(rawLine)
            if line.hasSuffix("\r") { line = line.dropLast() }
            if lineNumber == 1, line.hasPrefix("\u{FEFF}") { line = line.dropFirst() }
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map(Self.unquote)
            if !sawHeader {
                sawHeader = true
                if fields.map({ $0.lowercased() }) != Self.header {
                    problems.append(.init(line: lineNumber, reason: "the header must be \(Self.header.joined(separator: ","))"))
                    break
                }
                continue
            }
            guard fields.count == 3 else {
                problems.append(.init(line: lineNumber, reason: "expected 3 fields (mpxn,mpid,effective_from), got \(fields.count)"))
                continue
            }
            var rowProblems = [String]()
            let mpxn = fields[0]
            if !(1...13).contains(mpxn.count) || !mpxn.unicodeScalars.allSatisfy({ ("0"..."9").contains($0) }) {
                rowProblems.append("mpxn (field 1) must be 1 to 13 digits")
            }
            var mpid: MPID?
            do throws(MPIDParseError) {
                mpid = try MPID(parsing: fields[1])
            } catch {
                rowProblems.append("mpid (field 2) is not an MPID (4 upper-case letters or digits)")
            }
            var date: CalendarDate?
            do throws(CalendarDateError) {
                date = try CalendarDate(parsing: fields[2])
            } catch {
                rowProblems.append("effective_from (field 3) is not a date (YYYY-MM-DD)")
            }
            if let mpid, let date, rowProblems.isEmpty {
                records.append(RegistrationRecord(mpxn: mpxn, mpid: mpid, effectiveFrom: date, line: lineNumber))
            } else {
                problems.append(.init(line: lineNumber, reason: rowProblems.joined(separator: "; ")))
            }
        }
        if !sawHeader {
            problems.append(.init(line: nil, reason: "empty: the header \(Self.header.joined(separator: ",")) is missing"))
        }
        var byMPxN = [String: [RegistrationRecord]]()
        for record in records { byMPxN[record.mpxn, default: []].append(record) }
        for (key, rows) in byMPxN {
            let sorted = rows.sorted { ($0.effectiveFrom, $0.line) < ($1.effectiveFrom, $1.line) }
            for (previous, row) in zip(sorted, sorted.dropFirst()) where previous.effectiveFrom == row.effectiveFrom {
                let reason = previous.mpid == row.mpid
                    ? "duplicate row: line \(previous.line) registers the same MPxN to the same MPID from the same date"
                    : "conflicting rows: line \(previous.line) registers the same MPxN from the same date to another MPID"
                problems.append(.init(line: row.line, reason: reason))
            }
            byMPxN[key] = sorted
        }
        guard problems.isEmpty else {
            throw RegistrationDataError(source: source, problems: problems.sorted { ($0.line ?? 0) < ($1.line ?? 0) })
        }
        self.source = source
        self.byMPxN = byMPxN
    }

    /// The registration of `mpxn` in force on `date`: the row with the latest `effective_from` on or
    /// before `date`, or nil if there is none.
    package func registration(of mpxn: String, at date: CalendarDate) -> RegistrationRecord? {
        byMPxN[mpxn]?.last { $0.effectiveFrom <= date }
    }

    /// The number of rows.
    public var count: Int { byMPxN.values.reduce(0) { $0 + $1.count } }

    private static func unquote(_ field: Substring) -> String {
        var value = field.drop { $0 == " " || $0 == "\t" }
        while let last = value.last, last == " " || last == "\t" { value = value.dropLast() }
        if value.count >= 2, value.first == "\"", value.last == "\"" { value = value.dropFirst().dropLast() }
        return String(value)
    }
}

/// Registration data that was refused. Lists every bad line, by its number and what is wrong with it; never the
/// content of a line (a path given by mistake, a key or a passphrase file, must not be printed).
///
/// Its class is ``FailureClass/selectionRefused`` (exit 4) for content that cannot be used to select a
/// party (malformed, duplicate or conflicting rows), ``FailureClass/input`` (exit 2) for a file that
/// cannot be read.
package struct RegistrationDataError: ClassifiedError, Equatable {
    /// One bad line (or the file as a whole when `line` is nil).
    package struct Problem: Sendable, Equatable, CustomStringConvertible {
        package let line: Int?
        package let reason: String
        package init(line: Int?, reason: String) {
            self.line = line
            self.reason = reason
        }
        package var description: String { line.map { "line \($0): \(reason)" } ?? reason }
    }

    /// The file.
    package let source: String
    /// Every problem, by line.
    package let problems: [Problem]
    package let failureClass: FailureClass

    package init(source: String, problems: [Problem], failureClass: FailureClass = .selectionRefused) {
        self.source = source
        self.problems = problems
        self.failureClass = failureClass
    }

    /// At most this many problems are listed; the others are counted in one line.
    package static let maximumListed = 20

    /// The problems as lines for people: the first ``maximumListed``, then `… and N more problems`.
    package var renderedProblems: [String] {
        var lines = problems.prefix(Self.maximumListed).map(\.description)
        if problems.count > Self.maximumListed {
            let more = problems.count - Self.maximumListed
            lines.append("… and \(more) more problem\(more == 1 ? "" : "s")")
        }
        return lines
    }

    package var description: String {
        renderedProblems.map { "registration data \(source): \($0)" }.joined(separator: "\n")
    }
}
