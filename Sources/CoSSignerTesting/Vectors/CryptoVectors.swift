import CoSSigner
import Foundation

/// The outcome of running one vector file.
public struct VectorRunReport: Sendable {
    /// Cases whose result was as expected.
    public var passed: Int
    /// Cases whose result was not as expected, or that could not be run.
    public var failed: Int
    /// One line per failed case: file, tcId, comment, expected vs got.
    public var failures: [String]

    public init(passed: Int = 0, failed: Int = 0, failures: [String] = []) {
        self.passed = passed
        self.failed = failed
        self.failures = failures
    }

    /// Adds another report's counts and lines.
    public mutating func merge(_ other: VectorRunReport) {
        passed += other.passed
        failed += other.failed
        failures += other.failures
    }

    mutating func pass() { passed += 1 }

    mutating func fail(_ line: String) {
        failed += 1
        failures.append(line)
    }
}

/// Why a vector file could not be run at all.
package struct VectorFileError: ClassifiedError, Equatable {
    /// The file.
    package let path: String
    /// Why.
    package let reason: String
    package var failureClass: FailureClass { .input }
    package var description: String { "\(path): \(reason)" }
}

/// Known-answer tests for the ECDSA P-256 code, run from JSON files.
///
/// Recognised by content:
/// - Wycheproof `ecdsa_p1363_verify_schema_v1.json` (r||s signatures) and
///   `ecdsa_verify_schema_v1.json` (DER signatures). Groups for secp256r1 with SHA-256 are run;
///   any other curve or hash counts as a failed case ("unsupported"), never silently skipped.
///   "acceptable" cases pass either way.
/// - The RFC 6979 file of this project (`rfc6979-p256.json`): every case's signature is verified
///   with its hash (r||s and DER), its digest checked, and the deterministic signer must
///   reproduce k, r and s exactly (with HMAC over the case's hash, as RFC 6979 §3.2 specifies).
public enum CryptoVectors {
    /// Runs every case in the file.
    /// - Throws: ``VectorFileError`` if the file is unreadable, not JSON, or of no known kind.
    public static func run(file path: String) throws -> VectorRunReport {
        let data: Data
        do {
            data = Data(try Files.read(path, maxBytes: 256 << 20))
        } catch {
            throw VectorFileError(path: path, reason: error.reason)
        }
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw VectorFileError(path: path, reason: "not JSON: \(error.localizedDescription)")
        }
        guard let root = json as? [String: Any] else {
            throw VectorFileError(path: path, reason: "not a JSON object")
        }
        let name = URL(fileURLWithPath: path).lastPathComponent
        if let schema = root["schema"] as? String {
            switch schema {
            case "ecdsa_p1363_verify_schema_v1.json", "ecdsa_p1363_verify_schema.json":
                return try WycheproofRunner(file: name, path: path, encoding: .p1363).run(root)
            case "ecdsa_verify_schema_v1.json", "ecdsa_verify_schema.json":
                return try WycheproofRunner(file: name, path: path, encoding: .der).run(root)
            default:
                throw VectorFileError(path: path, reason: "unsupported Wycheproof schema '\(schema)'")
            }
        }
        if let key = root["privateKey"] as? [String: Any], key["x"] is String, root["tests"] is [Any] {
            return try RFC6979Runner(file: name, path: path).run(root)
        }
        throw VectorFileError(
            path: path, reason: "not a recognised vector file (Wycheproof ECDSA verify, P1363 verify, or RFC 6979)")
    }
}

// MARK: - Wycheproof

private struct WycheproofRunner {
    enum Encoding { case p1363, der }

    let file: String
    let path: String
    let encoding: Encoding

    func run(_ root: [String: Any]) throws -> VectorRunReport {
        guard let groups = root["testGroups"] as? [[String: Any]] else {
            throw VectorFileError(path: path, reason: "no testGroups array")
        }
        var report = VectorRunReport()
        var total = 0
        for (groupIndex, group) in groups.enumerated() {
            let tests = group["tests"] as? [[String: Any]] ?? []
            total += tests.count
            let curve = (group["publicKey"] as? [String: Any])?["curve"] as? String ?? "unknown curve"
            let sha = group["sha"] as? String ?? "unknown hash"
            let label = "\(file): group \(groupIndex + 1)"
            // Every case of a group we cannot run is counted as failed, with the reason.
            var groupProblem: String? = nil
            var key: PublicKey? = nil
            if curve != "secp256r1" || HashAlgorithm(name: sha) != .sha256 {
                groupProblem = "unsupported: curve \(curve) with \(sha) (only secp256r1 with SHA-256 is supported)"
            } else {
                do {
                    key = try loadKey(group)
                } catch {
                    groupProblem = "public key rejected: \(error)"
                }
            }
            for test in tests {
                let tcId = test["tcId"] as? Int ?? -1
                let comment = test["comment"] as? String ?? ""
                let expected = test["result"] as? String ?? "?"
                let prefix = "\(label) tcId \(tcId) (\(comment.isEmpty ? "no comment" : comment))"
                if let groupProblem {
                    report.fail("\(prefix): expected \(expected), got \(groupProblem)")
                    continue
                }
                guard let key, let message = (test["msg"] as? String).flatMap(bytesFromHex),
                    let signatureBytes = (test["sig"] as? String).flatMap(bytesFromHex)
                else {
                    report.fail("\(prefix): expected \(expected), got malformed test case (msg/sig not hex)")
                    continue
                }
                let valid = verify(key: key, message: message, signature: signatureBytes)
                switch (expected, valid) {
                case ("valid", true), ("invalid", false), ("acceptable", _):
                    report.pass()
                case ("valid", false), ("invalid", true):
                    report.fail("\(prefix): expected \(expected), got \(valid ? "valid" : "invalid")")
                default:
                    report.fail("\(prefix): unknown expected result '\(expected)'")
                }
            }
        }
        if let declared = root["numberOfTests"] as? Int, declared != total {
            report.fail("\(file): numberOfTests says \(declared) but the file has \(total) tests")
        }
        return report
    }

    private func loadKey(_ group: [String: Any]) throws -> PublicKey {
        let point = ((group["publicKey"] as? [String: Any])?["uncompressed"] as? String).flatMap(bytesFromHex)
        if let der = (group["publicKeyDer"] as? String).flatMap(bytesFromHex) {
            let key = try PublicKey(encoded: der, source: "publicKeyDer")
            if let point, point != key.uncompressedPoint {
                throw VectorFileError(path: path, reason: "publicKeyDer and publicKey.uncompressed disagree")
            }
            return key
        }
        if let point { return try PublicKey(uncompressedPoint: point) }
        throw VectorFileError(path: path, reason: "group has neither publicKeyDer nor publicKey.uncompressed")
    }

    /// Decoding failures count as "invalid", as Wycheproof specifies.
    private func verify(key: PublicKey, message: [UInt8], signature: [UInt8]) -> Bool {
        let parsed: ECDSASignature
        do {
            switch encoding {
            case .p1363: parsed = try ECDSASignature(rawRepresentation: signature)
            case .der: parsed = try ECDSASignature(derRepresentation: signature)
            }
        } catch {
            return false
        }
        return key.isValidSignature(parsed, for: message)
    }
}

// MARK: - RFC 6979

private struct RFC6979Runner {
    let file: String
    let path: String

    func run(_ root: [String: Any]) throws -> VectorRunReport {
        guard let tests = root["tests"] as? [[String: Any]] else {
            throw VectorFileError(path: path, reason: "no tests array")
        }
        var report = VectorRunReport()
        // The key, loaded three ways that must agree; a problem fails every case.
        var setupProblem: String? = nil
        var signingKey: SigningKey? = nil
        var publicKey: PublicKey? = nil
        if let curve = root["curve"] as? String, curve != "secp256r1" {
            setupProblem = "unsupported curve \(curve)"
        } else {
            do {
                (signingKey, publicKey) = try loadKeys(root)
            } catch {
                setupProblem = "\(error)"
            }
        }
        for test in tests {
            let tcId = test["tcId"] as? Int ?? -1
            let hashName = test["hash"] as? String ?? "?"
            let message =
                (test["messageHex"] as? String).flatMap(bytesFromHex)
                ?? (test["message"] as? String).map { Array($0.utf8) }
            let prefix = "\(file): tcId \(tcId) (\(hashName), \"\(test["message"] as? String ?? "?")\")"
            let expected = test["result"] as? String ?? "valid"
            if let setupProblem {
                report.fail("\(prefix): expected \(expected), got key setup failure: \(setupProblem)")
                continue
            }
            guard let signingKey, let publicKey, let message else {
                report.fail("\(prefix): malformed test case (no message)")
                continue
            }
            guard let hash = HashAlgorithm(name: hashName) else {
                report.fail("\(prefix): expected \(expected), got unsupported hash \(hashName)")
                continue
            }
            let problems = check(
                test, message: message, hash: hash, expected: expected,
                signingKey: signingKey, publicKey: publicKey)
            if problems.isEmpty {
                report.pass()
            } else {
                report.fail("\(prefix): " + problems.joined(separator: "; "))
            }
        }
        return report
    }

    private func loadKeys(_ root: [String: Any]) throws -> (SigningKey, PublicKey) {
        guard let x = ((root["privateKey"] as? [String: Any])?["x"] as? String).flatMap(bytesFromHex) else {
            throw VectorFileError(path: path, reason: "privateKey.x is not hex")
        }
        let fromScalar = try SigningKey(rawScalar: x)
        let signingKey: SigningKey
        if let pem = root["privateKeyPkcs8Pem"] as? String {
            signingKey = try SigningKey(encoded: Array(pem.utf8), source: "privateKeyPkcs8Pem")
            guard signingKey.publicKey == fromScalar.publicKey else {
                throw VectorFileError(path: path, reason: "privateKeyPkcs8Pem is not the key privateKey.x")
            }
        } else {
            signingKey = fromScalar
        }
        let publicInfo = root["publicKey"] as? [String: Any] ?? [:]
        var publicKey = signingKey.publicKey
        if let der = (publicInfo["spkiDer"] as? String).flatMap(bytesFromHex) {
            publicKey = try PublicKey(encoded: der, source: "publicKey.spkiDer")
        }
        for candidate in [
            try (publicInfo["spkiPem"] as? String).map {
                try PublicKey(encoded: Array($0.utf8), source: "publicKey.spkiPem")
            },
            try (publicInfo["uncompressed"] as? String).flatMap(bytesFromHex).map {
                try PublicKey(uncompressedPoint: $0)
            },
        ] {
            if let candidate, candidate != publicKey {
                throw VectorFileError(path: path, reason: "the file's public key forms disagree")
            }
        }
        guard publicKey == signingKey.publicKey else {
            throw VectorFileError(path: path, reason: "publicKey is not the public key of privateKey.x")
        }
        return (signingKey, publicKey)
    }

    /// Every check of one case; empty when it passes.
    private func check(
        _ test: [String: Any], message: [UInt8], hash: HashAlgorithm, expected: String,
        signingKey: SigningKey, publicKey: PublicKey
    ) -> [String] {
        var problems: [String] = []
        let digest: [UInt8]
        do {
            digest = try hash.hash(message)
        } catch {
            return ["cannot hash: \(error)"]
        }
        if let listed = (test["digest"] as? String).flatMap(bytesFromHex), listed != digest {
            problems.append("digest: expected \(hexString(listed)), got \(hexString(digest))")
        }
        // Verification of the listed signature, both encodings.
        let raw =
            (test["signatureP1363"] as? String).flatMap(bytesFromHex)
            ?? ((test["r"] as? String).flatMap(bytesFromHex) ?? [])
            + ((test["s"] as? String).flatMap(bytesFromHex) ?? [])
        let wantValid = expected != "invalid"
        var listedSignature: ECDSASignature? = nil
        do {
            let signature = try ECDSASignature(rawRepresentation: raw)
            listedSignature = signature
            let valid = publicKey.isValidSignature(signature, for: message, hash: hash)
            if expected != "acceptable", valid != wantValid {
                problems.append("r||s: expected \(expected), got \(valid ? "valid" : "invalid")")
            }
            if let der = (test["signatureDer"] as? String).flatMap(bytesFromHex) {
                if der != signature.derRepresentation {
                    problems.append("signatureDer is not the DER form of signatureP1363")
                }
                let fromDER = try? ECDSASignature(derRepresentation: der)
                let derValid = fromDER.map { publicKey.isValidSignature($0, for: message, hash: hash) } ?? false
                if expected != "acceptable", derValid != wantValid {
                    problems.append("DER: expected \(expected), got \(derValid ? "valid" : "invalid")")
                }
            }
            if let highS = test["highS"] as? Bool, highS != signature.isHighS {
                problems.append("highS: file says \(highS), computed \(signature.isHighS)")
            }
        } catch {
            if wantValid, expected != "acceptable" { problems.append("r||s: expected \(expected), got \(error)") }
        }
        // Deterministic signing must reproduce k, r and s.
        guard wantValid, let listedSignature else { return problems }
        do {
            if let k = (test["k"] as? String).flatMap(bytesFromHex) {
                let computed = try signingKey.rfc6979Nonce(digest: digest, hash: hash)
                if computed != k { problems.append("k: expected \(hexString(k)), got \(hexString(computed))") }
            }
            let produced =
                hash == .sha256
                ? try signingKey.deterministicSignature(for: message)
                : try signingKey.deterministicSignature(digest: digest, hash: hash)
            if produced != listedSignature {
                problems.append(
                    "deterministic signature: expected \(hexString(listedSignature.rawRepresentation)), "
                        + "got \(hexString(produced.rawRepresentation))")
            }
        } catch {
            problems.append("deterministic signing failed: \(error)")
        }
        return problems
    }
}
