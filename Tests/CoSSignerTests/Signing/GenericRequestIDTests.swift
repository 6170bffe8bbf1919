import CoSSignerTestSupport
import Foundation
import Testing
@testable import CoSSigner
@testable import CoSSignerTesting

/// The RequestID a verify result reports, read from the signed content's bytes when the header starts in the plain
/// shape (``ServiceRequest623FastReader/headerRequestID(canonical:)``), against the tree reading
/// (``RequestSigner/genericRequestID(_:)``): over the kit, the templates and mutated documents, the same RequestID
/// or none, and the bytes are read for the plain documents.
@Suite struct GenericRequestIDTests {
    /// The tree reading alone, as verify did before.
    static func treeRequestID(_ canonical: [UInt8]) -> RequestID? {
        guard let document = try? XMLDocument(parsing: canonical) else { return nil }
        return try? RequestSigner.genericRequestID(document)
    }

    /// The inclusive canonical form of `bytes` (what a verified document's signed content is), if it parses.
    static func canonical(_ bytes: [UInt8]) -> [UInt8]? {
        try? XMLDocument(parsing: bytes).inclusiveCanonicalForm()
    }

    /// Compares both readings of one canonical form; returns whether the bytes were read without a tree.
    @discardableResult
    static func expectSame(_ canonical: [UInt8], _ name: String) -> Bool {
        let fast = canonical.withUnsafeBufferPointer { ServiceRequest623FastReader.headerRequestID(canonical: $0) }
        let tree = treeRequestID(canonical)
        let combined = RequestSigner.genericRequestID(canonical: canonical, source: name)
        #expect(combined == tree, "\(name): \(String(describing: combined)) vs \(String(describing: tree))\n\(String(decoding: canonical, as: UTF8.self))")
        if let fast { #expect(fast == tree, "\(name): the byte reading gives \(fast), the tree \(String(describing: tree))") }
        return fast != nil
    }

    @Test func kitAndTemplatesReadTheSameRequestID() throws {
        var read = 0
        var compared = 0
        for (name, bytes) in try FastSigningPathTests.corpus() {
            guard let canonical = Self.canonical(bytes) else { continue }
            compared += 1
            if Self.expectSame(canonical, name) { read += 1 }
        }
        #expect(compared >= 40)
        #expect(read >= 13, "the plain requests are read from their bytes")
    }

    @Test func headersOfEveryShapeReadTheSameRequestID() throws {
        let id = "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1006"
        let duis = DUISNamespace.serviceUserGateway
        func document(root: String = "sr:Request", declarations: String = "xmlns:sr=\"\(duis)\"", header: String) -> [UInt8] {
            Array("<\(root) \(declarations)>\(header)<sr:Body/></\(root)>".utf8)
        }
        let plain = "<sr:Header><sr:RequestID>\(id)</sr:RequestID><sr:CommandVariant>1</sr:CommandVariant></sr:Header>"
        let cases: [(String, [UInt8])] = [
            ("plain", document(header: plain)),
            ("default namespace", Array("<Request xmlns=\"\(duis)\"><Header><RequestID>\(id)</RequestID></Header></Request>".utf8)),
            ("another prefix", Array("<a:Request xmlns:a=\"\(duis)\"><a:Header><a:RequestID>\(id)</a:RequestID></a:Header></a:Request>".utf8)),
            ("two prefixes", document(declarations: "xmlns:a=\"\(duis)\" xmlns:sr=\"\(duis)\"", header: "<a:Header><sr:RequestID>\(id)</sr:RequestID></a:Header>")),
            ("root in another namespace", document(root: "x:Request", declarations: "xmlns:x=\"urn:x\" xmlns:sr=\"\(duis)\"", header: plain)),
            ("header in another namespace", document(declarations: "xmlns:sr=\"\(duis)\" xmlns:x=\"urn:x\"", header: "<x:Header><sr:RequestID>\(id)</sr:RequestID></x:Header>")),
            ("header redeclares the prefix", document(header: "<sr:Header xmlns:sr=\"urn:other\"><sr:RequestID>\(id)</sr:RequestID></sr:Header>")),
            ("requestID redeclares the prefix", document(header: "<sr:Header><sr:RequestID xmlns:sr=\"urn:other\">\(id)</sr:RequestID></sr:Header>")),
            ("header not first", document(header: "<sr:Other/>\(plain)")),
            ("foreign element first", document(declarations: "xmlns:sr=\"\(duis)\" xmlns:x=\"urn:x\"", header: "<x:Header/>\(plain)")),
            ("requestID not first", document(header: "<sr:Header><sr:CommandVariant>1</sr:CommandVariant><sr:RequestID>\(id)</sr:RequestID></sr:Header>")),
            ("attribute on header", document(header: "<sr:Header a=\"1\"><sr:RequestID>\(id)</sr:RequestID></sr:Header>")),
            ("attribute on requestID", document(header: "<sr:Header><sr:RequestID a=\"1\">\(id)</sr:RequestID></sr:Header>")),
            ("element in requestID", document(header: "<sr:Header><sr:RequestID>\(id)<sr:X/></sr:RequestID></sr:Header>")),
            ("comment in requestID", document(header: "<sr:Header><sr:RequestID>90-B3-D5-1F-30-01-00-00:<!-- c -->00-DB-12-34-56-78-90-A0:1006</sr:RequestID></sr:Header>")),
            ("character reference", document(header: "<sr:Header><sr:RequestID>&#x39;0-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1006</sr:RequestID></sr:Header>")),
            ("CDATA", document(header: "<sr:Header><sr:RequestID><![CDATA[\(id)]]></sr:RequestID></sr:Header>")),
            ("white space around", document(header: "\n  <sr:Header>\n    <sr:RequestID>\(id)</sr:RequestID>\n  </sr:Header>\n")),
            ("white space in the value", document(header: "<sr:Header><sr:RequestID> \(id)</sr:RequestID></sr:Header>")),
            ("invalid value", document(header: "<sr:Header><sr:RequestID>90-B3-D5-1F-30-01-00-00:1006</sr:RequestID></sr:Header>")),
            ("empty value", document(header: "<sr:Header><sr:RequestID></sr:RequestID></sr:Header>")),
            ("text before the header", document(header: "x\(plain)")),
            ("no header", document(header: "")),
            ("empty header", document(header: "<sr:Header/>")),
            ("processing instruction first", document(header: "<?pi x?>\(plain)")),
        ]
        var read: [String] = []
        for (name, bytes) in cases {
            let canonical = try #require(Self.canonical(bytes), "\(name) does not parse")
            if Self.expectSame(canonical, name) { read.append(name) }
        }
        // These are read from the bytes; everything else went to the tree (and got the same answer).
        #expect(Set(read) == ["plain", "default namespace", "another prefix", "two prefixes", "white space around",
                              "comment in requestID", "character reference", "CDATA"], "\(read)")
    }

    @Test func mutatedDocumentsReadTheSameRequestID() throws {
        var random = SeededGenerator(seed: 0x1D5)
        let snippets = ["<!-- c -->", "<![CDATA[x]]>", " ", "\n", "x", "&#x20;", "&amp;", "<?pi x?>", "<sr:Extra/>",
                        "<sr:Header/>", "<sr:RequestID>90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:7</sr:RequestID>",
                        "<x:Y xmlns:x=\"urn:x\"/>", "<Header/>"]
        let attributes = [" a=\"1\"", " xmlns:q=\"urn:q\"", " xmlns:sr=\"urn:other\"", " xmlns=\"urn:d\"",
                          " xmlns:sr=\"http://www.dccinterface.co.uk/ServiceUserGateway\""]
        var compared = 0
        var read = 0
        for (name, base) in try FastSigningPathTests.corpus() {
            let u = base
            let tagEnds = u.indices.filter { u[$0] == UInt8(ascii: ">") }.map { $0 + 1 }.prefix(12)
            let startTags = u.indices.filter { u[$0] == UInt8(ascii: "<") && $0 + 1 < u.count && u[$0 + 1] != UInt8(ascii: "/") && u[$0 + 1] != UInt8(ascii: "?") && u[$0 + 1] != UInt8(ascii: "!") }.prefix(6)
            guard !tagEnds.isEmpty, !startTags.isEmpty else { continue }
            var variants: [[UInt8]] = []
            for _ in 0..<12 {
                // Near the start of the document, where the header is.
                let at = tagEnds[tagEnds.startIndex + random.next(tagEnds.count)]
                variants.append(Array(u[..<at]) + Array(snippets[random.next(snippets.count)].utf8) + Array(u[at...]))
            }
            for _ in 0..<6 {
                let start = startTags[startTags.startIndex + random.next(startTags.count)]
                guard let close = FastSigningPathTests.firstIndex(of: Array(">".utf8), in: u, from: start) else { continue }
                let insertAt = u[close - 1] == UInt8(ascii: "/") ? close - 1 : close
                variants.append(Array(u[..<insertAt]) + Array(attributes[random.next(attributes.count)].utf8) + Array(u[insertAt...]))
            }
            for variant in variants {
                guard let canonical = Self.canonical(variant) else { continue }
                compared += 1
                if Self.expectSame(canonical, name) { read += 1 }
            }
        }
        #expect(compared >= 400)
        #expect(read > 0)
    }
}
