import CoSSignerTestSupport
import Foundation
import Testing

@testable import CoSSigner
@testable import CoSSignerTesting

@Suite struct CryptoSignatureTests {
    static let order = hexBytes("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551")
    static let rfcScalar = hexBytes("c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721")

    static func dccKey() throws -> SigningKey {
        try SigningKey(
            contentsOfFile: try CryptoFixtures.path("\(CryptoFixtures.keys)/xml-sign-90B3D51F30010000-ds.key"))
    }

    @Test func signVerifyRoundTrip() throws {
        let key = try Self.dccKey()
        let message = Array("<ds:SignedInfo>canonical</ds:SignedInfo>".utf8)
        for signature in [try key.signature(for: message), try key.deterministicSignature(for: message)] {
            #expect(signature.rawRepresentation.count == 64)
            #expect(key.publicKey.isValidSignature(signature, for: message))
            #expect(key.publicKey.isValidSignature(signature, forDigest: SHA256.hash(message)))
            #expect(!key.publicKey.isValidSignature(signature, for: message + [0x20]))
            #expect(!key.publicKey.isValidSignature(signature, forDigest: Array(SHA256.hash(message).prefix(31))))
            let other = try SigningKey.generate()
            #expect(!other.publicKey.isValidSignature(signature, for: message))
            // Both encodings round-trip.
            #expect(try ECDSASignature(rawRepresentation: signature.rawRepresentation) == signature)
            #expect(try ECDSASignature(derRepresentation: signature.derRepresentation) == signature)
        }
        let digest = SHA256.hash(message)
        #expect(key.publicKey.isValidSignature(try key.signature(forDigest: digest), for: message))
        #expect(key.publicKey.isValidSignature(try key.deterministicSignature(forDigest: digest), for: message))
        // Random nonces differ; deterministic ones repeat.
        #expect(try key.signature(for: message) != key.signature(for: message))
        #expect(try key.deterministicSignature(for: message) == key.deterministicSignature(for: message))
        #expect(try key.deterministicSignature(for: message) == key.deterministicSignature(forDigest: digest))
    }

    @Test func digestLengthIsChecked() throws {
        let key = try Self.dccKey()
        #expect(throws: CryptoError(code: .invalidDigest)) {
            try key.signature(forDigest: [UInt8](repeating: 1, count: 31))
        }
        #expect(throws: CryptoError(code: .invalidDigest)) {
            try key.deterministicSignature(forDigest: [UInt8](repeating: 1, count: 33))
        }
    }

    @Test func deterministicSignatureReproducesRFC6979() throws {
        let key = try SigningKey(rawScalar: Self.rfcScalar)
        // RFC 6979 A.2.5, P-256 with SHA-256.
        let cases: [(String, String, String, String)] = [
            (
                "sample", "a6e3c57dd01abe90086538398355dd4c3b17aa873382b0f24d6129493d8aad60",
                "efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716",
                "f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8"
            ),
            (
                "test", "d16b6ae827f17175e040871a1c7ec3500192c4c92677336ec2537acaee0008e0",
                "f1abb023518351cd71d881567b1ea663ed3efcf6c5132b354f28d3b0b7d38367",
                "019f4113742a2b14bd25926b49c649155f267e60d3814b4c0cc84250e46f0083"
            ),
        ]
        for (message, k, r, s) in cases {
            let bytes = Array(message.utf8)
            #expect(hexString(try key.rfc6979Nonce(digest: SHA256.hash(bytes), hash: .sha256)) == k)
            let first = try key.deterministicSignature(for: bytes)
            let second = try key.deterministicSignature(for: bytes)
            #expect(first == second)
            #expect(hexString(first.rawRepresentation) == r + s, "\(message)")
            #expect(key.publicKey.isValidSignature(first, for: bytes))
        }
        // "sample" has high S (verifiers must accept it; nothing normalises it).
        #expect(try key.deterministicSignature(for: Array("sample".utf8)).isHighS)
        #expect(try !key.deterministicSignature(for: Array("test".utf8)).isHighS)
    }

    @Test func rawRepresentationIsStrict() throws {
        let key = try Self.dccKey()
        let good = try key.signature(for: [1, 2, 3]).rawRepresentation
        for count in [0, 32, 63, 65, 72] {
            let bytes = count <= 64 ? Array(good.prefix(count)) : good + [UInt8](repeating: 0, count: count - 64)
            #expect(throws: CryptoError(code: .invalidSignatureEncoding), "\(count) bytes") {
                try ECDSASignature(rawRepresentation: bytes)
            }
        }
        let zero = [UInt8](repeating: 0, count: 32)
        let one = [UInt8](repeating: 0, count: 31) + [1]
        var nMinusOne = Self.order
        nMinusOne[31] -= 1
        #expect(throws: CryptoError(code: .invalidSignatureEncoding)) {
            try ECDSASignature(rawRepresentation: zero + one)
        }
        #expect(throws: CryptoError(code: .invalidSignatureEncoding)) {
            try ECDSASignature(rawRepresentation: one + zero)
        }
        #expect(throws: CryptoError(code: .invalidSignatureEncoding)) {
            try ECDSASignature(rawRepresentation: one + Self.order)
        }
        #expect(throws: CryptoError(code: .invalidSignatureEncoding)) {
            try ECDSASignature(rawRepresentation: Self.order + one)
        }
        #expect(throws: CryptoError(code: .invalidSignatureEncoding)) {
            try ECDSASignature(rawRepresentation: [UInt8](repeating: 0xFF, count: 64))
        }
        let edge = try ECDSASignature(rawRepresentation: one + nMinusOne)
        #expect(edge.isHighS)
        #expect(edge.derRepresentation == [0x30, 0x26, 0x02, 0x01, 0x01, 0x02, 0x21, 0x00] + nMinusOne)
        do {
            _ = try ECDSASignature(rawRepresentation: Array(good.prefix(63)))
        } catch {
            #expect(error.failureClass == .input)
            #expect(error.reason.contains("64"))
        }
    }

    @Test func derRepresentationIsStrict() throws {
        let one: [UInt8] = [0x02, 0x01, 0x01]
        let two: [UInt8] = [0x02, 0x01, 0x02]
        let valid = [0x30, 0x06] + one + two
        #expect(
            try ECDSASignature(derRepresentation: valid).rawRepresentation
                == [UInt8](repeating: 0, count: 31) + [1] + [UInt8](repeating: 0, count: 31) + [2])
        let rejected: [(String, [UInt8])] = [
            ("empty", []),
            ("trailing byte", valid + [0x00]),
            ("long-form sequence length", [0x30, 0x81, 0x06] + one + two),
            ("non-minimal integer", [0x30, 0x07, 0x02, 0x02, 0x00, 0x01] + two),
            ("negative integer", [0x30, 0x06, 0x02, 0x01, 0x81] + two),
            ("r = 0", [0x30, 0x06, 0x02, 0x01, 0x00] + two),
            ("s = n", [0x30, 0x27] + one + [0x02, 0x21, 0x00] + Self.order),
            ("wrong outer tag", [0x31, 0x06] + one + two),
            ("wrong integer tag", [0x30, 0x06, 0x03, 0x01, 0x01] + two),
            ("indefinite length", [0x30, 0x80] + one + two + [0x00, 0x00]),
            ("short sequence length", [0x30, 0x05] + one + two),
            ("third integer", [0x30, 0x09] + one + two + one),
            ("only one integer", [0x30, 0x03] + one),
            ("empty integer", [0x30, 0x05, 0x02, 0x00] + two),
            ("long-form integer length", [0x30, 0x07, 0x02, 0x81, 0x01, 0x01] + two),
            ("33-byte magnitude", [0x30, 0x28] + one + [0x02, 0x22, 0x00, 0x01] + [UInt8](repeating: 0, count: 32)),
        ]
        for (name, bytes) in rejected {
            #expect(throws: CryptoError(code: .invalidSignatureEncoding), "\(name)") {
                try ECDSASignature(derRepresentation: bytes)
            }
        }
    }

    @Test func oneKeySignsConcurrentlyFromManyTasks() async throws {
        let key = try Self.dccKey()
        let publicKey = key.publicKey
        let failures = try await withThrowingTaskGroup(of: Int.self) { group in
            for task in 0..<8 {
                group.addTask {
                    var bad = 0
                    for index in 0..<200 {
                        let message = Array("task \(task) message \(index)".utf8)
                        let signature =
                            index % 4 == 0
                            ? try key.deterministicSignature(for: message)
                            : try key.signature(for: message)
                        if !publicKey.isValidSignature(signature, for: message) { bad += 1 }
                    }
                    return bad
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(failures == 0)
    }

    @Test func errorsDescribeThemselvesAndLeaveNoOpenSSLErrors() throws {
        let error = CryptoError(
            code: .invalidKey, reason: "bad bytes", context: "/tmp/k.pem", openSSLErrors: ["error:1:decoder routines"])
        #expect(error.description.contains("invalid key"))
        #expect(error.description.contains("bad bytes"))
        #expect(error.description.contains("/tmp/k.pem"))
        #expect(error.description.contains("decoder routines"))
        #expect(error == CryptoError(code: .invalidKey))
        #expect(error != CryptoError(code: .invalidCertificate))
        #expect(CryptoError(code: .invalidSignatureEncoding).failureClass == .input)
        #expect(CryptoError(code: .unsupportedKey).failureClass == .keyOrCertificate)
        // A failed parse drains the queue into the error, leaving nothing behind on this thread.
        do {
            _ = try SigningKey(encoded: [0x30, 0x82, 0x01])
        } catch {
            #expect(error.code == .invalidKey)
        }
        #expect(OpenSSLErrorQueue.drain().isEmpty)
    }
}
