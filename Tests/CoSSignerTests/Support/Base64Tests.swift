import Testing
@testable import CoSSigner

@Suite struct Base64Tests {
    @Test func skipsXMLWhitespaceOnly() throws {
        #expect(try Base64.decode("ZGVm\r\nYXVs dA==\t") == Array("default".utf8))
        #expect(throws: Base64Error.self) { try Base64.decode("ZGVm*YXVsdA==") }
        #expect(throws: Base64Error.self) { try Base64.decode("ZGVmYXVsdA=") }
        #expect(throws: Base64Error.self) { try Base64.decode("ZG=mYXVsdA==") }
    }

    @Test func roundTrips() throws {
        let bytes: [UInt8] = (0..<100).map { UInt8($0 * 7 & 0xFF) }
        #expect(try Base64.decode(Base64.encode(bytes)) == bytes)
    }
}
