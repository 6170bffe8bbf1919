import CoSSignerTestSupport
import Foundation
import Testing
@testable import CoSSigner
@testable import CoSSignerTesting

/// Test data for the DUIS room, in the `shared/` folder beside the repository (``TestPaths``).
enum DUISFixtures {
    static var shared: URL { TestPaths.shared }

    static let templatesFolder = shared.appendingPathComponent("vectors/dccboxed/templates")
    static let keysFolder = shared.appendingPathComponent("vectors/dccboxed/keys")
    static let wrapperXSD = shared.appendingPathComponent("schema/duis-5.4/duis-5.4-xmllint-wrapper.xsd").path
    static let signedWrapperXSD = shared.appendingPathComponent("schema/duis-5.4/duis-5.4-xmllint-wrapper-signed.xsd").path
    static let rawDUISXSD = shared.appendingPathComponent("schema/duis-5.4/DUIS Schema V5.4.xsd").path

    enum Template: String, CaseIterable, CustomTestStringConvertible {
        case immediate = "CS02bSupplierByTransCoS_6.23_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML"
        case futureDated = "CS02bSupplierByTransCoS_6.23_FUTURE_DATED_SUCCESS_REQUEST_DUIS.XML"
        case cancellation = "CS02bSupplierByTransCoS_6.23_CANCELLATION_SUCCESS_REQUEST_DUIS.XML"

        var path: String { DUISFixtures.templatesFolder.appendingPathComponent(rawValue).path }
        var testDescription: String { rawValue }
    }

    static func bytes(_ path: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    static func text(_ template: Template) throws -> String {
        String(decoding: try bytes(template.path), as: UTF8.self)
    }

    /// The template's compact form: the `ds:Signature` element and XML comments removed, then
    /// every white space between `>` and `<` removed (regex `>\s+<` → `><`).
    static func compactForm(_ text: String) -> String {
        var s = text
        if let start = s.range(of: "<ds:Signature"), let end = s.range(of: "</ds:Signature>") {
            s.removeSubrange(start.lowerBound..<end.upperBound)
        }
        s = s.replacing(/<!--[\s\S]*?-->/, with: "")
        return s.replacing(/>\s+</, with: "><")
    }

    static func parse(_ text: String, source: String? = nil) throws(DUISRequestError) -> ServiceRequest623 {
        try ServiceRequest623(parsing: Array(text.utf8), source: source)
    }

    static func request(_ template: Template) throws -> ServiceRequest623 {
        try ServiceRequest623(parsing: bytes(template.path), source: template.rawValue)
    }

    /// The text of the first `<sr:NAME>…</sr:NAME>` of the IMMEDIATE template.
    static func value(of name: String, in text: String) -> String? {
        guard let open = text.range(of: "<sr:\(name)>"), let close = text.range(of: "</sr:\(name)>", range: open.upperBound..<text.endIndex)
        else { return nil }
        return String(text[open.upperBound..<close.lowerBound])
    }

    /// A DER certificate from a PEM file.
    static func certificateDER(pemFile path: String) throws -> [UInt8] {
        try Certificate(contentsOfFile: path).derBytes
    }

    /// Expects `body` to throw a DUISRequestError of class `.input` whose field and message name
    /// `field`, with `rule` if given; returns it.
    @discardableResult
    static func expectRefusal(field: String, rule: DUISRequestError.Rule? = nil,
                              sourceLocation: SourceLocation = #_sourceLocation,
                              _ body: () throws -> Void) -> DUISRequestError? {
        do {
            try body()
            Issue.record("expected a refusal naming \(field), but nothing was thrown", sourceLocation: sourceLocation)
            return nil
        } catch let error as DUISRequestError {
            #expect(error.failureClass == .input, sourceLocation: sourceLocation)
            #expect(error.failureClass.exitCode == 2, sourceLocation: sourceLocation)
            #expect(error.field == field, "field: \(error)", sourceLocation: sourceLocation)
            if !field.isEmpty { #expect(error.description.contains(field), "message: \(error)", sourceLocation: sourceLocation) }
            if let rule { #expect(error.rule == rule, "rule: \(error)", sourceLocation: sourceLocation) }
            return error
        } catch {
            Issue.record("expected DUISRequestError, got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
            return nil
        }
    }

    /// Makes a self-signed certificate with the openssl CLI and returns its DER.
    /// - Parameters:
    ///   - curve: `prime256v1`, `secp384r1`, ...
    ///   - subject: an openssl `-subj` string.
    ///   - keyUsage: the keyUsage extension value.
    /// A self-signed certificate with the GBCS §12 extensions (critical keyUsage and certificatePolicies, an
    /// 8-octet SubjectKeyIdentifier; a self-signed certificate needs no AuthorityKeyIdentifier), so that the checks
    /// under test are the only ones it fails; `extensions` adds more lines to the extension section.
    static func selfSignedCertificate(curve: String, subject: String, keyUsage: String, extensions: [String] = []) throws -> [UInt8] {
        let folder = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let key = folder.appendingPathComponent("key.pem").path
        let cert = folder.appendingPathComponent("cert.der").path
        let config = folder.appendingPathComponent("openssl.cnf")
        try Data(([
            "[req]", "distinguished_name = dn", "x509_extensions = ext", "[dn]", "[ext]",
            "keyUsage = critical, \(keyUsage)",
            "certificatePolicies = critical, 1.2.826.0.1.8641679.1.2.1.4",
            "subjectKeyIdentifier = " + (0..<8).map { _ in String(format: "%02X", UInt8.random(in: 0...255)) }.joined(),
        ] + extensions).joined(separator: "\n").utf8).write(to: config)
        let generate = try TestProcess.run("openssl", ["ecparam", "-name", curve, "-genkey", "-noout", "-out", key])
        try #require(generate.status == 0, "openssl ecparam failed: \(generate.combined)")
        let request = try TestProcess.run("openssl", [
            "req", "-new", "-x509", "-config", config.path, "-key", key, "-sha256", "-days", "30", "-subj", subject,
            "-outform", "DER", "-out", cert,
        ])
        try #require(request.status == 0, "openssl req failed: \(request.combined)")
        return try bytes(cert)
    }

    /// Re-signs an existing certificate with a fresh key on `curve` (`openssl x509 -signkey`): the
    /// subject and extensions stay, the public key becomes the new key's and the certificate becomes
    /// self-signed (issuer = subject).
    static func resignedCertificate(_ pemPath: String, curve: String, digest: String = "-sha256") throws -> [UInt8] {
        let folder = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let key = folder.appendingPathComponent("key.pem").path
        let cert = folder.appendingPathComponent("cert.der").path
        let generate = try TestProcess.run("openssl", ["ecparam", "-name", curve, "-genkey", "-noout", "-out", key])
        try #require(generate.status == 0, "openssl ecparam failed: \(generate.combined)")
        let sign = try TestProcess.run("openssl", ["x509", "-in", pemPath, "-signkey", key, "-days", "30", digest,
                                       "-outform", "DER", "-out", cert])
        try #require(sign.status == 0, "openssl x509 -signkey failed: \(sign.combined)")
        return try bytes(cert)
    }

    static let templateCertificatesFolder = shared.appendingPathComponent("vectors/dccboxed/template-623-embedded-certs")
    static let templateDigitalSigningPEM = templateCertificatesFolder.appendingPathComponent("GITTESTSUPPLIER2-90B3D51F30030000-ds-2025.pem").path
}
