import CoSSignerTestSupport
import Testing
@testable import CoSSigner
@testable import CoSSignerTesting

@Suite struct EUI64Tests {
    @Test func parsesBothCasesAndPrintsUpper() throws {
        let a = try EUI64(parsing: "90-b3-d5-1f-30-01-00-00")
        let b = try EUI64(parsing: "90-B3-D5-1F-30-01-00-00")
        #expect(a == b)
        #expect(a.description == "90-B3-D5-1F-30-01-00-00")
        #expect(a.compactHex == "90B3D51F30010000")
        #expect(EUI64(octets: a.octets) == a)
    }

    @Test(arguments: ["", "90-B3-D5-1F-30-01-00", "90:B3:D5:1F:30:01:00:00", "90-B3-D5-1F-30-01-00-0G", "90B3D51F30010000"])
    func refusesMalformed(_ text: String) {
        #expect(throws: EUI64ParseError.self) { try EUI64(parsing: text) }
    }
}
