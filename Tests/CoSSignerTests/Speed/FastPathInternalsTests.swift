import CoSSignerTestSupport
import Foundation
import Testing

@testable import CoSSigner
@testable import CoSSignerTesting

/// The word-at-a-time and table shortcuts of the fast paths agree with the byte-by-byte rules they replace.
@Suite struct FastPathInternalsTests {
    /// A reproducible generator (SplitMix64).
    struct Mix {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        /// Bytes biased towards the ones the masks single out.
        mutating func byte() -> UInt8 {
            let interesting: [UInt8] = [
                0x00, 0x09, 0x0A, 0x0D, 0x1F, 0x20, 0x21, 0x22, 0x26, 0x27, 0x3B, 0x3C, 0x3D, 0x3E, 0x3F, 0x5C, 0x5D,
                0x5E, 0x7F, 0x80, 0xBF, 0xC2, 0xEE, 0xEF, 0xF0, 0xFF, UInt8(ascii: "A"), UInt8(ascii: "z"),
            ]
            let r = next()
            return r & 1 == 0 ? interesting[Int((r >> 8) % UInt64(interesting.count))] : UInt8(truncatingIfNeeded: r >> 16)
        }
    }

    /// The index of the lowest byte flagged in a mask from the SWAR helpers, 8 when none is.
    static func firstFlagged(_ mask: UInt64) -> Int { mask == 0 ? 8 : mask.trailingZeroBitCount >> 3 }

    static func word(_ bytes: [UInt8]) -> UInt64 {
        bytes.enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
    }

    @Test func plainTextMaskFindsTheFirstNonPlainByte() {
        var mix = Mix(state: 1)
        for _ in 0..<200_000 {
            let bytes = (0..<8).map { _ in mix.byte() }
            let expected = bytes.firstIndex { !FastC14NScanner.isPlainText($0) } ?? 8
            #expect(Self.firstFlagged(FastC14NScanner.nonPlainTextMask(Self.word(bytes))) == expected, "\(bytes)")
        }
        // Every single byte value in every position.
        for value in 0...255 {
            for position in 0..<8 {
                var bytes = [UInt8](repeating: UInt8(ascii: "A"), count: 8)
                bytes[position] = UInt8(value)
                let expected = FastC14NScanner.isPlainText(UInt8(value)) ? 8 : position
                #expect(Self.firstFlagged(FastC14NScanner.nonPlainTextMask(Self.word(bytes))) == expected)
            }
        }
    }

    @Test func sixteenByteTextTestAgreesWithTheByteRule() {
        func vector(_ bytes: [UInt8]) -> SIMD16<UInt8> {
            var v = SIMD16<UInt8>()
            for (k, b) in bytes.enumerated() { v[k] = b }
            return v
        }
        var mix = Mix(state: 3)
        for _ in 0..<200_000 {
            let bytes = (0..<16).map { _ in mix.byte() }
            #expect(FastC14NScanner.hasNonPlainText(vector(bytes)) == bytes.contains { !FastC14NScanner.isPlainText($0) },
                    "\(bytes)")
        }
        // Every single byte value in every lane.
        for value in 0...255 {
            for lane in 0..<16 {
                var bytes = [UInt8](repeating: UInt8(ascii: "A"), count: 16)
                bytes[lane] = UInt8(value)
                #expect(FastC14NScanner.hasNonPlainText(vector(bytes)) == !FastC14NScanner.isPlainText(UInt8(value)))
            }
        }
    }

    @Test func bytesMemoFindsOnlyTheExactBytesAndIsBounded() {
        let memo = BytesMemo<Int>(capacity: 64)
        var mix = Mix(state: 4)
        // Keys of every length up to 100 (the hash's 32-, 8- and 1-byte steps), each with one-byte variants.
        var keys: [[UInt8]] = []
        for length in 0...100 { keys.append((0..<length).map { _ in UInt8(truncatingIfNeeded: mix.next()) }) }
        for (index, key) in keys.prefix(60).enumerated() { memo.insert(index, for: key) }
        for (index, key) in keys.prefix(60).enumerated() {
            #expect(memo.value(for: key) == index)
            for position in key.indices {
                var other = key
                other[position] ^= 0x01
                #expect(memo.value(for: other) == nil, "length \(key.count), byte \(position)")
            }
            #expect(memo.value(for: key + [0]) == nil)
        }
        #expect(memo.value(for: keys[70]) == nil)
        memo.insert(99, for: keys[3])
        #expect(memo.value(for: keys[3]) == 99 && memo.count == 60)  // replaced, not added
        for key in keys[60..<65] { memo.insert(1, for: key) }  // the 65th entry empties it first
        #expect(memo.count == 1 && memo.value(for: keys[0]) == nil && memo.value(for: keys[64]) == 1)
        let none = BytesMemo<Int>(capacity: 0)
        none.insert(1, for: [1, 2, 3])
        #expect(none.value(for: [1, 2, 3]) == nil && none.count == 0)
    }

    @Test func eui64TextIsWrittenAsTheOctetsInHex() throws {
        var mix = Mix(state: 5)
        for value in [0, UInt64.max, 0x90B3_D51F_3001_0000] + (0..<2_000).map({ _ in mix.next() }) {
            let id = EUI64(value)
            let octets = id.octets.map { String(format: "%02X", $0) }
            #expect(id.description == octets.joined(separator: "-"))
            #expect(id.compactHex == octets.joined())
            #expect(try EUI64(parsing: id.description) == id)
        }
    }

    @Test func valueMaskFindsTheFirstByteThatNeedsALook() {
        // Attribute values: quotes, '<', '&', C0 controls and 0xEF need a look; everything else is skipped.
        func needsLook(_ c: UInt8) -> Bool {
            c < 0x20 || c == 0x22 || c == 0x27 || c == 0x3C || c == 0x26 || c == 0xEF
        }
        var mix = Mix(state: 2)
        for _ in 0..<200_000 {
            let bytes = (0..<8).map { _ in mix.byte() }
            let expected = bytes.firstIndex(where: needsLook) ?? 8
            #expect(Self.firstFlagged(FastC14NScanner.nonPlainValueMask(Self.word(bytes))) == expected, "\(bytes)")
        }
        for value in 0...255 {
            var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: 8)
            bytes[5] = UInt8(value)
            #expect(Self.firstFlagged(FastC14NScanner.nonPlainValueMask(Self.word(bytes))) == (needsLook(UInt8(value)) ? 5 : 8))
        }
    }

    @Test func nameCharacterBitmapMatchesTheRule() {
        for value in 0...255 {
            let c = UInt8(value)
            let expected = (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || c == 0x5F || (c >= 0x30 && c <= 0x39)
                || c == 0x2D || c == 0x2E
            #expect(FastC14NScanner.isNameChar(c) == expected, "byte \(value)")
        }
    }

    @Test func utf8CheckAgreesWithTheStandardLibrary() {
        var mix = Mix(state: 3)
        var samples: [[UInt8]] = [
            [], Array("plain ascii text that is longer than thirty-two bytes, to use the wide loop".utf8),
            Array("é ü € 😀 and more".utf8), [0xC0, 0x80], [0xE0, 0x80, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80],
            [0xEF, 0xBF, 0xBE], Array(repeating: 0x41, count: 40) + [0x00], Array(repeating: 0x41, count: 40) + [0xE2, 0x82],
        ]
        for _ in 0..<20_000 {
            let count = Int(mix.next() % 80)
            samples.append((0..<count).map { _ in mix.next() % 5 == 0 ? mix.byte() : UInt8(0x20 + mix.next() % 0x5F) })
        }
        for sample in samples {
            let expected = String(validating: sample, as: UTF8.self) != nil && !sample.contains(0)
            #expect(sample.withUnsafeBytes { XMLInputCheck.isUTF8WithoutNUL($0) } == expected, "\(sample)")
        }
    }

    @Test func attributeLimitIsTheInputCheck() throws {
        var limits = XMLParseLimits.default
        limits.maxAttributesPerElement = 3
        let atLimit = Array(#"<r xmlns="urn:a" a="1" b='>2'><c x="1"/></r>"#.utf8)
        let overLimit = Array(#"<r xmlns="urn:a" a="1" b="2"><c x="1" y="2" z="3" w="4"/></r>"#.utf8)
        #expect(FastCanonicalizer.canonicalize(atLimit, mode: .signing(compact: true), limits: limits) != nil)
        #expect(throws: Never.self) { try atLimit.withUnsafeBytes { try XMLInputCheck.check($0, limits: limits, source: nil) } }
        #expect(FastCanonicalizer.canonicalize(overLimit, mode: .signing(compact: true), limits: limits) == nil)
        #expect(throws: XMLError.self) { try overLimit.withUnsafeBytes { try XMLInputCheck.check($0, limits: limits, source: nil) } }
    }

    @Test func inputsTheInputCheckRefusesAreDeclined() {
        let refused: [[UInt8]] = [
            [0xEF, 0xBB, 0xBF] + Array("<r/>".utf8),  // BOM (the check allows it; the fast path leaves it to libxml2)
            [0xFE, 0xFF, 0x00, 0x3C],
            Array("<r>a\u{0}b</r>".utf8),
            Array(#"<?xml version="1.0" encoding="ISO-8859-1"?><r/>"#.utf8),
            Array("<r>".utf8) + [0xC3] + Array("</r>".utf8),
        ]
        for bytes in refused {
            #expect(FastCanonicalizer.canonicalize(bytes, mode: .signing(compact: true), limits: .default) == nil, "\(bytes)")
        }
    }

    @Test func templateBase64DecoderNeverAcceptsMoreThanBase64() throws {
        var mix = Mix(state: 4)
        for count in [32, 64] {
            for _ in 0..<2_000 {
                let bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: mix.next()) }
                let text = Array(Base64.encode(bytes).utf8)
                let decoded = text.withUnsafeBufferPointer { DUISVerifier.decodeBase64($0, byteCount: count) }
                #expect(decoded == bytes)
                // One character changed to anything: accepted only if Base64.decode gives the same.
                var changed = text
                changed[Int(mix.next() % UInt64(text.count))] = mix.byte()
                if let fast = changed.withUnsafeBufferPointer({ DUISVerifier.decodeBase64($0, byteCount: count) }) {
                    #expect(try Base64.decode(String(decoding: changed, as: UTF8.self)) == fast)
                }
            }
        }
        for text in ["", "AAAA", String(repeating: "A", count: 44), String(repeating: "A", count: 42) + "==",
                     String(repeating: "A", count: 42) + " =", String(repeating: "A", count: 43) + "\n"] {
            #expect(Array(text.utf8).withUnsafeBufferPointer { DUISVerifier.decodeBase64($0, byteCount: 32) } == nil, "\(text)")
        }
    }

    @Test func sha256PartsAndHMACMatchKnownAnswers() throws {
        // FIPS 180-2 "abc", hashed whole and in parts.
        let abc = SHA256.hash(Array("abc".utf8))
        #expect(hexString(abc) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let parts = Array("a".utf8).withUnsafeBytes { a in
            Array("b".utf8).withUnsafeBytes { b in Array("c".utf8).withUnsafeBytes { c in SHA256.hash(a, b, c) } }
        }
        #expect(parts == abc)
        #expect(hexString(SHA256.hash([UInt8]())) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        // RFC 4231 test case 2 (key "Jefe"), through both HMAC implementations.
        let key = Array("Jefe".utf8)
        let message = Array("what do ya want for nothing?".utf8)
        for hash in [HashAlgorithm.sha256, .sha384] {
            let hmac = try HMACContext(hash: hash)
            var out = [UInt8](repeating: 0, count: hash.byteCount)
            try key.withUnsafeBytes { k in
                try message.withUnsafeBytes { m in
                    try out.withUnsafeMutableBytes { o in
                        // Split the message across the parts.
                        try hmac.compute(key: k, UnsafeRawBufferPointer(rebasing: m[0..<4]),
                                         UnsafeRawBufferPointer(rebasing: m[4..<10]), UnsafeRawBufferPointer(rebasing: m[10...]),
                                         into: o.baseAddress!)
                    }
                }
            }
            let expected = hash == .sha256
                ? "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
                : "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649"
            #expect(hexString(out) == expected)
        }
    }

    /// The verifying scanner skips a Signature laid out as DUISSigner writes it; what it then still reads (the
    /// four text values) must be read as before: the differential comparison with libxml2 finds no difference,
    /// whatever those values hold.
    @Test func writtenSignatureLayoutIsSkippedWithoutChangingTheAnswer() throws {
        let signer = try FastPathSigningTests.signer()
        let signed = try signer.sign(try Fixtures.template623(Fixtures.template623Names[0])).bytes
        let text = String(decoding: signed, as: UTF8.self)
        let values = ["ds:DigestValue", "ds:SignatureValue", "ds:X509IssuerName", "ds:X509SerialNumber"]
        let replacements = [
            "", " ", "AAAA&amp;B", "A&bogus;B", "A\u{1}B", "A]]>B", "A]]B>", "A\r\nB\rC", "é€😀", "A\u{FFFE}B",
            "&#0;", "&#x41;&#65;", "A&lt;B&gt;", "A>B", "&#xD;", "a&", "&amp",
        ]
        var report = CanonicalizerDifferential.Report()
        CanonicalizerDifferential.compare(signed, name: "as signed", into: &report)
        for value in values {
            let open = "<\(value)>"
            let close = "</\(value)>"
            guard let start = text.range(of: open)?.upperBound, let end = text.range(of: close, range: start..<text.endIndex)?.lowerBound
            else {
                Issue.record("no \(value) in the signed document")
                continue
            }
            for replacement in replacements {
                let changed = text.replacingCharacters(in: start..<end, with: replacement)
                CanonicalizerDifferential.compare(Array(changed.utf8), name: "\(value) = \(replacement.debugDescription)", into: &report)
            }
        }
        #expect(report.differences.isEmpty, "\(report.differences.joined(separator: "\n"))")
        #expect(FastCanonicalizer.canonicalize(signed, mode: .verifying, limits: .default) != nil)
        // The depth limit still applies inside the skipped markup.
        for depth in 1...8 {
            var limits = XMLParseLimits.default
            limits.maxDepth = depth
            let fast = FastCanonicalizer.canonicalize(signed, mode: .verifying, limits: limits)
            let parsed = try? XMLDocument(parsing: signed, limits: limits)
            #expect((fast == nil) == (parsed == nil), "maxDepth \(depth)")
        }
    }

    @Test func verificationFromManyTasksWithOneKey() async throws {
        let key = try SigningKey.generate()
        let messages = (0..<16).map { Array("message \($0)".utf8) }
        let signatures = try messages.map { try key.signature(for: $0) }
        let publicKey = key.publicKey
        let results = try await withThrowingTaskGroup(of: Bool.self) { group in
            for task in 0..<8 {
                group.addTask {
                    var ok = true
                    for round in 0..<40 {
                        let index = (task + round) % messages.count
                        ok = ok && publicKey.isValidSignature(signatures[index], for: messages[index])
                        // A wrong message in between must not disturb the others.
                        ok = ok && !publicKey.isValidSignature(signatures[index], for: messages[(index + 1) % messages.count])
                        let deterministic = try key.deterministicSignature(for: messages[index])
                        ok = ok && publicKey.isValidSignature(deterministic, for: messages[index])
                    }
                    return ok
                }
            }
            var all: [Bool] = []
            for try await result in group { all.append(result) }
            return all
        }
        #expect(results == Array(repeating: true, count: 8))
    }
}
