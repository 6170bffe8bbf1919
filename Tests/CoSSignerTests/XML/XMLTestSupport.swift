import CoSSignerTestSupport
import Foundation
import Testing
internal import CLibXML2
@testable import CoSSigner
@testable import CoSSignerTesting

/// Shared data for the XML tests, in `shared/` beside the repository.
enum XMLTestData {
    /// `…/shared` (``TestPaths``).
    static var sharedRoot: URL { TestPaths.shared }

    static let dsig = "http://www.w3.org/2000/09/xmldsig#"

    /// The bytes of a file under `shared/`; records a failure (and throws) if it is missing.
    static func bytes(_ relativePath: String) throws -> [UInt8] {
        let url = sharedRoot.appendingPathComponent(relativePath)
        guard FileManager.default.fileExists(atPath: url.path) else {
            Issue.record("shared test data missing: \(url.path) (expected the repository's sibling folder 'shared')")
            throw MissingData(path: url.path)
        }
        return [UInt8](try Data(contentsOf: url))
    }

    static func template(_ name: String) throws -> [UInt8] {
        try bytes("vectors/dccboxed/templates/" + name)
    }

    static let templates623 = [
        "CS02bSupplierByTransCoS_6.23_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML",
        "CS02bSupplierByTransCoS_6.23_FUTURE_DATED_SUCCESS_REQUEST_DUIS.XML",
        "CS02bSupplierByTransCoS_6.23_CANCELLATION_SUCCESS_REQUEST_DUIS.XML",
    ]

    struct MissingData: Error { let path: String }

    struct CompactKAT: Decodable {
        struct Case: Decodable { let file: String; let digestValue: String }
        struct Kept: Decodable { let file: String; let digestValue: String }
        let cases: [Case]
        let whitespaceKept: Kept
        let signedInfoCanonicalForm: String
    }

    struct ReferenceKAT: Decodable {
        struct Case: Decodable {
            let file: String
            let placeholderSignatureRemoved: Bool
            let canonicalReferenceOctets: String
            let digestValueBase64: String
            let wrongDigestIfExclusiveC14nUsedBase64: String
            let canonicalSignedInfo: String
            let canonicalSignedInfoSha256Hex: String
        }
        let cases: [Case]
    }

    static func compactKAT() throws -> CompactKAT {
        try JSONDecoder().decode(CompactKAT.self, from: Data(bytes("vectors/dccboxed/compact-digest-kat.json")))
    }

    static func referenceKAT() throws -> ReferenceKAT {
        try JSONDecoder().decode(ReferenceKAT.self, from: Data(bytes("vectors/dccboxed/reference-digest-kat.json")))
    }

    /// The case's file relative to `shared/` (the KAT files name it as `vectors/…`).
    static func caseBytes(_ file: String) throws -> [UInt8] { try bytes(file) }
}

/// base64(SHA-256(bytes)), the XMLDSig DigestValue.
func xmlTestDigest(_ bytes: [UInt8]) -> String { Base64.encode(SHA256.hash(bytes)) }

func xmlBytes(_ s: String) -> [UInt8] { Array(s.utf8) }

func xmlString(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

/// The one ds:Signature element of a document.
func xmlSignatureElement(of document: XMLDocument) throws -> XMLElement {
    let found = document.elements(namespaceURI: XMLTestData.dsig, localName: "Signature")
    try #require(found.count == 1, "expected exactly one ds:Signature, found \(found.count)")
    return found[0]
}

/// Runs `body` on the calling thread with libxml2's generic (stderr-printing) error channel
/// replaced by a counter, and returns how many messages would have been printed.
func countingLibxmlStderrMessages(_ body: () -> Void) -> Int {
    var counter: Int32 = 0
    withUnsafeMutablePointer(to: &counter) { p in
        let saved = cos_xml_begin_counting_generic_errors(p)
        body()
        cos_xml_end_counting_generic_errors(saved)
    }
    return Int(counter)
}
