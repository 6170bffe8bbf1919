/// A DUIS RequestID: `BusinessOriginatorID:BusinessTargetID:OriginatorCounter`.
///
/// The two IDs are EUI-64s written as eight hex octets separated by `-` (either hex case is read);
/// the counter is decimal without sign or leading zeros, 1 ... 2^64-1. The DUIS schema's
/// `RequestIDType` pattern also admits a counter of 0, but the DUGIS data types describe it as
/// greater than 0, so 0 is refused here.
///
/// ``description`` is the one canonical form: upper-case hex, `-` separated
/// (`90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1006`).
public struct RequestID: Hashable, Sendable, CustomStringConvertible {
    /// The User ID of the sender (the Business Originator).
    public let businessOriginator: EUI64
    /// The Device ID the request is about (the Business Target).
    public let businessTarget: EUI64
    /// The originator counter, 1 ... 2^64-1.
    public let counter: UInt64

    /// Makes a RequestID from its parts.
    /// - Throws: ``DUISRequestError`` (``DUISRequestError/Rule/range``) if `counter` is 0.
    public init(businessOriginator: EUI64, businessTarget: EUI64, counter: UInt64) throws(DUISRequestError) {
        guard counter >= 1 else {
            throw DUISRequestError(field: "RequestID", rule: .range,
                                   reason: "the originator counter must be 1 ... 18446744073709551615 (2^64-1), got 0")
        }
        self.businessOriginator = businessOriginator
        self.businessTarget = businessTarget
        self.counter = counter
    }

    /// Parses `ORIGINATOR:TARGET:COUNTER` strictly: no surrounding or inner whitespace, both IDs
    /// as dashed EUI-64s (either hex case), the counter as 1 ... 18446744073709551615 with no sign
    /// and no leading zeros.
    /// - Throws: ``DUISRequestError`` with field `RequestID` and the reason.
    public init(parsing text: some StringProtocol) throws(DUISRequestError) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3 else {
            throw DUISRequestError(
                field: "RequestID", rule: .lexicalForm,
                reason: "'\(text)' must be BusinessOriginatorID:BusinessTargetID:OriginatorCounter (3 parts separated by ':'), found \(parts.count) part\(parts.count == 1 ? "" : "s")")
        }
        let originator: EUI64
        let target: EUI64
        do throws(EUI64ParseError) {
            originator = try EUI64(parsing: parts[0])
        } catch {
            throw DUISRequestError(field: "RequestID", rule: .lexicalForm, reason: "Business Originator ID \(error.description)")
        }
        do throws(EUI64ParseError) {
            target = try EUI64(parsing: parts[1])
        } catch {
            throw DUISRequestError(field: "RequestID", rule: .lexicalForm, reason: "Business Target ID \(error.description)")
        }
        let counter = try DUISDecimal.parseUnsigned(parts[2], what: "the originator counter", field: "RequestID",
                                                    allowLeadingZeros: false, maximum: UInt64.max)
        try self.init(businessOriginator: originator, businessTarget: target, counter: counter)
    }

    /// ``init(parsing:)`` for UTF-8 bytes, without building strings: the same acceptance and the same value for
    /// every text ``init(parsing:)`` accepts; `nil` for every text it refuses (the caller then calls it for the
    /// error).
    static func parse(utf8 b: UnsafeBufferPointer<UInt8>) -> RequestID? {
        // 23 + 1 + 23 + 1 + 1...20 digits.
        guard b.count >= 49, b.count <= 68, b[23] == UInt8(ascii: ":"), b[47] == UInt8(ascii: ":") else { return nil }
        func eui64(at start: Int) -> EUI64? {
            var v: UInt64 = 0
            for k in 0..<23 {
                let c = b[start + k]
                if k % 3 == 2 {
                    guard c == UInt8(ascii: "-") else { return nil }
                    continue
                }
                guard let nibble = hexValue(c) else { return nil }
                v = v << 4 | UInt64(nibble)
            }
            return EUI64(v)
        }
        guard let originator = eui64(at: 0), let target = eui64(at: 24) else { return nil }
        let digits = 48..<b.count
        guard b[48] != UInt8(ascii: "0") else { return nil }  // a leading zero, or the counter 0
        var counter: UInt64 = 0
        for k in digits {
            let c = b[k]
            guard c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") else { return nil }
            let (times10, o1) = counter.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(c - UInt8(ascii: "0")))
            guard !o1, !o2 else { return nil }
            counter = sum
        }
        return try? RequestID(businessOriginator: originator, businessTarget: target, counter: counter)
    }

    /// `ORIGINATOR:TARGET:COUNTER` in upper-case hex with `-` separators, decimal counter.
    public var description: String {
        "\(businessOriginator.description):\(businessTarget.description):\(counter)"
    }

    /// The same RequestID with another counter.
    /// - Throws: ``DUISRequestError`` if `counter` is 0.
    public func withCounter(_ counter: UInt64) throws(DUISRequestError) -> RequestID {
        try RequestID(businessOriginator: businessOriginator, businessTarget: businessTarget, counter: counter)
    }
}

/// Decimal integer lexical forms used by DUIS (xs:nonNegativeInteger subsets), parsed without
/// overflow and without accepting signs or whitespace.
enum DUISDecimal {
    /// Parses ASCII digits only into a UInt64 no larger than `maximum`.
    /// - Parameters:
    ///   - allowLeadingZeros: xs:nonNegativeInteger allows `007`; the RequestID pattern does not.
    static func parseUnsigned(_ text: some StringProtocol, what: String, field: String,
                              allowLeadingZeros: Bool, maximum: UInt64) throws(DUISRequestError) -> UInt64 {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty else {
            throw DUISRequestError(field: field, rule: .lexicalForm, reason: "\(what) is empty")
        }
        if let first = bytes.first, first == UInt8(ascii: "+") || first == UInt8(ascii: "-") {
            throw DUISRequestError(field: field, rule: .lexicalForm,
                                   reason: "\(what) '\(text)' must be written with digits only (no sign)")
        }
        for (i, c) in bytes.enumerated() where !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) {
            let shown = c < 0x20 || c >= 0x7F ? "byte 0x\(hexByte(c))" : "'\(Character(Unicode.Scalar(c)))'"
            throw DUISRequestError(field: field, rule: .lexicalForm,
                                   reason: "\(what) '\(text)' has \(shown) at position \(i + 1); only the digits 0-9 are allowed")
        }
        if !allowLeadingZeros, bytes.count > 1, bytes[0] == UInt8(ascii: "0") {
            throw DUISRequestError(field: field, rule: .lexicalForm,
                                   reason: "\(what) '\(text)' must not have leading zeros")
        }
        var value: UInt64 = 0
        for c in bytes {
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(c - UInt8(ascii: "0")))
            guard !o1, !o2, sum <= maximum else {
                throw DUISRequestError(field: field, rule: .range,
                                       reason: "\(what) \(text) is larger than the maximum \(maximum)")
            }
            value = sum
        }
        return value
    }
}
