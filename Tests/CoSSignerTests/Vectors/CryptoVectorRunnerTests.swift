import CoSSignerTestSupport
import Foundation
import Testing

@testable import CoSSigner
@testable import CoSSignerTesting

@Suite struct CryptoVectorRunnerTests {
    @Test(arguments: [
        ("vectors/wycheproof/ecdsa_secp256r1_sha256_p1363_test.json", 262),
        ("vectors/wycheproof/ecdsa_secp256r1_sha256_test.json", 484),
        ("vectors/rfc6979-p256.json", 8),
    ])
    func sharedVectorFilesPassCompletely(_ relative: String, _ count: Int) throws {
        let report = try CryptoVectors.run(file: try CryptoFixtures.path(relative))
        #expect(report.failed == 0, "\(report.failures.joined(separator: "\n"))")
        #expect(report.failures.isEmpty)
        #expect(report.passed == count)
    }

    /// Writes a modified copy of a shared vector file and runs it.
    private func runModified(_ relative: String, _ modify: (inout [String: Any]) -> Void) throws -> VectorRunReport {
        let data = try Data(contentsOf: URL(fileURLWithPath: try CryptoFixtures.path(relative)))
        guard var root = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw CryptoFixtures.Missing(description: "\(relative) is not a JSON object")
        }
        modify(&root)
        let temp = try TestPaths.temporaryDirectory()
        defer { CryptoFixtures.removeTemporary(temp) }
        let file = temp.appendingPathComponent("modified.json")
        try JSONSerialization.data(withJSONObject: root).write(to: file)
        return try CryptoVectors.run(file: file.path)
    }

    @Test func aWrongExpectationIsReportedAsAFailureLine() throws {
        let report = try runModified("vectors/wycheproof/ecdsa_secp256r1_sha256_p1363_test.json") { root in
            guard var groups = root["testGroups"] as? [[String: Any]],
                var tests = groups[0]["tests"] as? [[String: Any]]
            else { return }
            tests[0]["result"] = "invalid"  // tcId 1 is valid
            groups[0]["tests"] = tests
            root["testGroups"] = groups
        }
        #expect(report.failed == 1)
        #expect(report.passed == 261)
        let line = try #require(report.failures.first)
        #expect(line.contains("modified.json"))
        #expect(line.contains("tcId 1"))
        #expect(line.contains("signature malleability"))
        #expect(line.contains("expected invalid, got valid"))
    }

    @Test func otherCurvesAndHashesCountAsUnsupportedFailures() throws {
        let report = try runModified("vectors/wycheproof/ecdsa_secp256r1_sha256_test.json") { root in
            guard var groups = root["testGroups"] as? [[String: Any]],
                var key = groups[0]["publicKey"] as? [String: Any]
            else { return }
            key["curve"] = "secp384r1"
            groups[0]["publicKey"] = key
            groups[1]["sha"] = "SHA-512"
            root["testGroups"] = groups
        }
        let data = try Data(
            contentsOf: URL(
                fileURLWithPath: try CryptoFixtures.path("vectors/wycheproof/ecdsa_secp256r1_sha256_test.json")))
        let groups =
            (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["testGroups"] as? [[String: Any]] ?? []
        let affected = groups.prefix(2).map { ($0["tests"] as? [Any])?.count ?? 0 }.reduce(0, +)
        #expect(report.failed == affected)
        #expect(report.passed + report.failed == 484)
        #expect(report.failures.allSatisfy { $0.contains("unsupported") })
    }

    @Test func aWrongRFC6979SignatureFails() throws {
        let report = try runModified("vectors/rfc6979-p256.json") { root in
            guard var tests = root["tests"] as? [[String: Any]] else { return }
            tests[1]["s"] = "019f4113742a2b14bd25926b49c649155f267e60d3814b4c0cc84250e46f0084"
            tests[1]["signatureP1363"] =
                "f1abb023518351cd71d881567b1ea663ed3efcf6c5132b354f28d3b0b7d38367019f4113742a2b14bd25926b49c649155f267e60d3814b4c0cc84250e46f0084"
            tests[1].removeValue(forKey: "signatureDer")
            root["tests"] = tests
        }
        #expect(report.failed == 1)
        #expect(report.passed == 7)
        #expect(report.failures.first?.contains("tcId 2") == true)
    }

    @Test func unreadableAndUnrecognisedFilesThrow() throws {
        #expect(throws: VectorFileError.self) { try CryptoVectors.run(file: "/nonexistent/vectors.json") }
        let temp = try TestPaths.temporaryDirectory()
        defer { CryptoFixtures.removeTemporary(temp) }
        for (name, text) in [
            ("a.json", "[1, 2]"), ("b.json", #"{"schema": "rsa_pss_verify_schema.json"}"#), ("c.json", "{not json"),
        ] {
            let file = temp.appendingPathComponent(name)
            try Data(text.utf8).write(to: file)
            do {
                _ = try CryptoVectors.run(file: file.path)
                Issue.record("\(name) was accepted")
            } catch let error as VectorFileError {
                #expect(error.failureClass == .input)
                #expect(error.description.contains(name))
            }
        }
    }
}
