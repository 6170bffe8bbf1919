import CoSSignerTestSupport
import Foundation
import Testing
@testable import CoSSigner
@testable import CoSSignerTesting

@Suite struct RequestIDTests {
    @Test func parsesBothHexCasesAndPrintsOneCanonicalForm() throws {
        let upper = try RequestID(parsing: "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1006")
        let lower = try RequestID(parsing: "90-b3-d5-1f-30-01-00-00:00-db-12-34-56-78-90-a0:1006")
        #expect(upper == lower)
        #expect(lower.description == "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1006")
        #expect(upper.businessOriginator == (try EUI64(parsing: "90-B3-D5-1F-30-01-00-00")))
        #expect(upper.businessTarget == (try EUI64(parsing: "00-DB-12-34-56-78-90-A0")))
        #expect(upper.counter == 1006)
    }

    @Test func acceptsTheCounterBounds() throws {
        #expect(try RequestID(parsing: "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1").counter == 1)
        let top = try RequestID(parsing: "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:18446744073709551615")
        #expect(top.counter == UInt64.max)
        #expect(top.description.hasSuffix(":18446744073709551615"))
    }

    @Test(arguments: [
        ("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:0", DUISRequestError.Rule.range),
        ("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:18446744073709551616", .range),
        ("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:99999999999999999999999", .range),
        ("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:01006", .lexicalForm),
        ("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:+1006", .lexicalForm),
        ("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:-1", .lexicalForm),
        ("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0: 1006", .lexicalForm),
        ("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:", .lexicalForm),
        ("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0", .lexicalForm),
        ("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1:2", .lexicalForm),
        ("90B3D51F30010000:00-DB-12-34-56-78-90-A0:1006", .lexicalForm),
        ("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-AG:1006", .lexicalForm),
        (" 90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1006", .lexicalForm),
        ("", .lexicalForm),
    ])
    func refusesAnythingElseWithTheReason(_ text: String, _ rule: DUISRequestError.Rule) {
        do {
            _ = try RequestID(parsing: text)
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.rule == rule, "\(error)")
            #expect(error.failureClass == .input)
            #expect(error.field == "RequestID")
            #expect(!error.reason.isEmpty)
        }
    }

    @Test func counterZeroIsRefusedFromValuesToo() throws {
        let a = try EUI64(parsing: "90-B3-D5-1F-30-01-00-00")
        #expect(throws: DUISRequestError.self) { try RequestID(businessOriginator: a, businessTarget: a, counter: 0) }
        let id = try RequestID(businessOriginator: a, businessTarget: a, counter: 7)
        #expect(try id.withCounter(8).counter == 8)
        #expect(throws: DUISRequestError.self) { try id.withCounter(0) }
    }

    @Test func reasonsSayWhatIsWrong() {
        do {
            _ = try RequestID(parsing: "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:01006")
        } catch {
            #expect(error.reason.contains("leading zeros"))
        }
        do {
            _ = try RequestID(parsing: "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:18446744073709551616")
        } catch {
            #expect(error.reason.contains("18446744073709551615"))
        }
        do {
            _ = try RequestID(parsing: "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-AG:1006")
        } catch {
            #expect(error.reason.contains("Business Target"))
        }
    }
}

@Suite struct ExecutionDateTimeTests {
    @Test func keepsTheLexicalValueAndParsesTheInstant() throws {
        let value = try ExecutionDateTime(parsing: "2030-01-02T00:00:00.00Z")
        #expect(value.lexicalValue == "2030-01-02T00:00:00.00Z")
        #expect(value.date == Date(timeIntervalSince1970: 1_893_542_400))
        let offset = try ExecutionDateTime(parsing: "2030-01-02T01:30:00+01:30")
        #expect(offset.date == value.date)
        let far = try ExecutionDateTime(parsing: "3000-12-31T00:00:00.00Z")
        #expect(far.date == Date(timeIntervalSince1970: 32_535_129_600))
        let fraction = try ExecutionDateTime(parsing: "2024-02-29T23:59:59.5-00:00")
        #expect(fraction.date == Date(timeIntervalSince1970: 1_709_251_199.5))
    }

    @Test func writesInstantsInUTC() throws {
        let value = try ExecutionDateTime(Date(timeIntervalSince1970: 1_893_542_400.75))
        #expect(value.lexicalValue == "2030-01-02T00:00:00Z")
        #expect(try ExecutionDateTime(Date(timeIntervalSince1970: -1)).lexicalValue == "1969-12-31T23:59:59Z")
    }

    @Test(arguments: [
        "2030-01-02T00:00:00", "2030-01-02 00:00:00Z", "2030-1-02T00:00:00Z", "2030-02-30T00:00:00Z",
        "2031-02-29T00:00:00Z", "2030-13-01T00:00:00Z", "2030-01-02T24:00:00Z", "2030-01-02T00:60:00Z",
        "2030-01-02T00:00:60Z", "2030-01-02T00:00:00.Z", "2030-01-02T00:00:00+15:00", "2030-01-02T00:00:00+0100",
        "0000-01-01T00:00:00Z", "12030-01-02T00:00:00Z", "-2030-01-02T00:00:00Z", " 2030-01-02T00:00:00Z",
        "2030-01-02T00:00:00Zx", "",
    ])
    func refusesOtherForms(_ text: String) {
        #expect(throws: DUISRequestError.self) { try ExecutionDateTime(parsing: text) }
    }

    @Test func futureDating() throws {
        let value = try ExecutionDateTime(parsing: "2030-01-02T00:00:00.00Z")
        #expect(value.isFutureDated(relativeTo: Date(timeIntervalSince1970: 1_700_000_000)))
        #expect(!value.isFutureDated(relativeTo: value.date))
    }
}
