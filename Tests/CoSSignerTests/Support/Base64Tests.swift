import CoSSignerTestSupport
import Foundation
import Testing
@testable import CoSSigner
@testable import CoSSignerTesting

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

    /// The table decoder accepts and refuses exactly what the earlier decoder (filter, checks, then Foundation)
    /// did, with the same bytes; the encoder matches Foundation. Over generated texts biased towards the edges:
    /// padding in every place, whitespace, illegal bytes, every length.
    @Test func tableDecoderMatchesTheFoundationReference() throws {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var accepted = 0
        for round in 0..<20_000 {
            var text = [UInt8]()
            let length = next(24)
            for _ in 0..<length {
                switch next(40) {
                case 0: text.append(UInt8(ascii: "="))
                case 1: text.append([0x0D, 0x0A, 0x20, 0x09][next(4)])
                case 2 where round % 5 == 0: text.append(UInt8(next(256)))
                default: text.append(alphabet[next(64)])
                }
            }
            if next(3) == 0 { text += Array(repeating: UInt8(ascii: "="), count: 1 + next(2)) }
            let expected = Self.referenceDecode(text)
            let actual: Result<[UInt8], Base64Error> = Result { () throws(Base64Error) -> [UInt8] in try Base64.decode(bytes: text[...]) }
            switch (expected, actual) {
            case (.success(let e), .success(let a)):
                #expect(e == a, "\(String(decoding: text, as: UTF8.self))")
                accepted += 1
            case (.failure(let e), .failure(let a)):
                #expect(e.reason == a.reason, "\(String(decoding: text, as: UTF8.self))")
            default:
                Issue.record("decoders disagree on \(text): reference \(expected), table \(actual)")
            }
            let bytes = (0..<next(40)).map { _ in UInt8(next(256)) }
            #expect(Base64.encode(bytes) == Data(bytes).base64EncodedString())
        }
        #expect(accepted > 1000)
    }

    /// The decoder as it was before the table decoder (whitespace filtered, checks, Foundation).
    static func referenceDecode(_ utf8: [UInt8]) -> Result<[UInt8], Base64Error> {
        var clean = [UInt8]()
        for (offset, c) in utf8.enumerated() {
            switch c {
            case 0x0D, 0x0A, 0x20, 0x09: continue
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "+"), UInt8(ascii: "/"), UInt8(ascii: "="):
                clean.append(c)
            default:
                return .failure(Base64Error(reason: "illegal character (byte 0x\(String(format: "%02X", c))) at offset \(offset)"))
            }
        }
        guard clean.count % 4 == 0 else {
            return .failure(Base64Error(reason: "length \(clean.count) (whitespace removed) is not a multiple of 4"))
        }
        if let firstPad = clean.firstIndex(of: UInt8(ascii: "=")), firstPad < clean.count - 2
            || clean[firstPad...].contains(where: { $0 != UInt8(ascii: "=") }) {
            return .failure(Base64Error(reason: "padding '=' inside the value"))
        }
        guard let data = Data(base64Encoded: Data(clean)) else { return .failure(Base64Error(reason: "not valid base64")) }
        return .success([UInt8](data))
    }
}
