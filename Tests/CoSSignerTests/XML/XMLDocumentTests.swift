import CoSSignerTestSupport
import Foundation
import Testing
@testable import CoSSigner
@testable import CoSSignerTesting

/// Tree access, compaction and the canonical forms of particular constructs.
@Suite struct XMLDocumentTests {
    func canonical(_ source: String) throws -> String {
        xmlString(try XMLDocument(parsing: xmlBytes(source)).inclusiveCanonicalForm())
    }

    @Test func compactionDropsOnlyWhitespaceBetweenElements() throws {
        let document = try XMLDocument(parsing: xmlBytes("<a>\n  <b>x</b>\r\n\t<c> </c>\n  <d>\n</d> <e><f/> tail </e>\n</a>"))
        document.removeWhitespaceBetweenElements()
        #expect(xmlString(try document.inclusiveCanonicalForm())
                == "<a><b>x</b><c> </c><d>\n</d><e><f></f> tail </e></a>")
    }

    @Test func compactionKeepsCDATAAndDropsWhitespaceAroundComments() throws {
        let document = try XMLDocument(parsing: xmlBytes("<a>\n <!-- c -->\n <b/>\n <![CDATA[ ]]>\n<?p d?>\n</a>"))
        document.removeWhitespaceBetweenElements()
        #expect(xmlString(try document.inclusiveCanonicalForm()) == "<a><b></b> <?p d?></a>")
    }

    @Test func commentsAreDroppedAndProcessingInstructionsKept() throws {
        #expect(try canonical("<?xml version=\"1.0\"?>\n<!-- top -->\n<?top a?>\n<r><!-- in --><?in  b  c ?>x</r>\n<?after?>\n<!-- end -->")
                == "<?top a?>\n<r><?in b  c ?>x</r>\n<?after?>")
    }

    @Test func cdataBecomesEscapedText() throws {
        #expect(try canonical("<r><![CDATA[<a> & ]]]]><![CDATA[> \"q\"]]></r>") == "<r>&lt;a&gt; &amp; ]]&gt; \"q\"</r>")
        let document = try XMLDocument(parsing: xmlBytes("<r>t<![CDATA[<c>]]>u</r>"))
        #expect(document.root.textContent == "t<c>u")
        guard case .cdata("<c>") = document.root.children[1] else {
            Issue.record("expected a CDATA node, got \(document.root.children)")
            return
        }
    }

    @Test func lineEndingsAreNormalised() throws {
        #expect(try canonical("<r a=\"1\r\n2\">x\r\ny\rz</r>") == "<r a=\"1 2\">x\ny\nz</r>")
        #expect(try canonical("<r>x&#13;&#10;y</r>") == "<r>x&#xD;\ny</r>")
    }

    @Test func predefinedEntitiesRoundTrip() throws {
        #expect(try canonical("<r a=\"&lt;&gt;&amp;&quot;&apos;\">&lt;&gt;&amp;&quot;&apos;&#65;&#x42;</r>")
                == "<r a=\"&lt;>&amp;&quot;'\">&lt;&gt;&amp;\"'AB</r>")
        let document = try XMLDocument(parsing: xmlBytes("<r a=\"&lt;\">&lt;x&gt;</r>"))
        #expect(document.root.textContent == "<x>")
        #expect(document.root.attribute("a") == "<")
    }

    @Test func inclusiveKeepsUnusedNamespacesAndExclusiveDropsThem() throws {
        let document = try XMLDocument(parsing: xmlBytes(
            "<p:r xmlns:p=\"urn:p\" xmlns:u=\"urn:u\" xmlns=\"urn:d\"><p:c><d/></p:c><x:s xmlns:x=\"urn:x\"/></p:r>"))
        let child = document.root.elementChildren[0]
        #expect(xmlString(try document.inclusiveCanonicalForm())
                == "<p:r xmlns=\"urn:d\" xmlns:p=\"urn:p\" xmlns:u=\"urn:u\"><p:c><d></d></p:c><x:s xmlns:x=\"urn:x\"></x:s></p:r>")
        #expect(xmlString(try document.exclusiveCanonicalForm(of: child))
                == "<p:c xmlns:p=\"urn:p\"><d xmlns=\"urn:d\"></d></p:c>")
        // Excluding a subtree leaves its siblings and the ancestors' namespaces.
        #expect(xmlString(try document.inclusiveCanonicalForm(excluding: child))
                == "<p:r xmlns=\"urn:d\" xmlns:p=\"urn:p\" xmlns:u=\"urn:u\"><x:s xmlns:x=\"urn:x\"></x:s></p:r>")
    }

    @Test func treeAccess() throws {
        let source = """
            <?xml version="1.0" encoding="UTF-8"?>
            <sr:Request xmlns:sr="urn:sr" xmlns="urn:default" xmlns:xsi="urn:xsi" schemaVersion="5.4" xsi:type="T">
              <sr:Header>head<!--c--><?pi data?>er</sr:Header>
              <Body/>
            </sr:Request>
            """
        let document = try XMLDocument(parsing: xmlBytes(source), source: "t.xml")
        let root = document.root
        #expect(root.localName == "Request")
        #expect(root.prefix == "sr")
        #expect(root.namespaceURI == "urn:sr")
        #expect(root.line == 2)
        #expect(root.parent == nil)
        #expect(root.attributes == [
            XMLAttribute(localName: "schemaVersion", namespaceURI: nil, value: "5.4"),
            XMLAttribute(localName: "type", namespaceURI: "urn:xsi", value: "T"),
        ])
        #expect(root.attribute("schemaVersion") == "5.4")
        #expect(root.attribute("schemaVersion", namespaceURI: "urn:sr") == nil)
        #expect(root.attribute("type") == nil)
        #expect(root.attribute("type", namespaceURI: "urn:xsi") == "T")
        let declarations = root.namespaceDeclarations
        #expect(declarations.map(\.prefix) == ["sr", nil, "xsi"])
        #expect(declarations.map(\.uri) == ["urn:sr", "urn:default", "urn:xsi"])

        let children = root.elementChildren
        #expect(children.map(\.localName) == ["Header", "Body"])
        #expect(children[1].namespaceURI == "urn:default")
        #expect(children[1].prefix == nil)
        #expect(children[1].line == 4)
        #expect(children[0].textContent == "header")
        #expect(try #require(children[0].parent).isSameNode(as: root))
        #expect(!children[0].isSameNode(as: children[1]))
        #expect(root.children.count == 5)  // text, Header, text, Body, text
        let kinds = children[0].children.map { node -> String in
            switch node {
            case .text(let t): "text(\(t))"
            case .comment(let c): "comment(\(c))"
            case .processingInstruction(let target, let data): "pi(\(target),\(data))"
            case .element: "element"
            case .cdata: "cdata"
            case .other: "other"
            }
        }
        #expect(kinds == ["text(head)", "comment(c)", "pi(pi,data)", "text(er)"])

        #expect(document.elements(namespaceURI: "urn:default", localName: "Body").count == 1)
        #expect(document.elements(namespaceURI: "urn:sr", localName: "Body").isEmpty)
        #expect(document.elements(namespaceURI: "urn:sr", localName: "Request").count == 1)
    }

    @Test func elementsAreInDocumentOrder() throws {
        let document = try XMLDocument(parsing: xmlBytes(
            "<n:x xmlns:n=\"urn:n\" id=\"0\"><a><n:x id=\"1\"><n:x id=\"2\"/></n:x></a><n:x id=\"3\"/><b><c/></b></n:x>"))
        #expect(document.elements(namespaceURI: "urn:n", localName: "x").map { $0.attribute("id") } == ["0", "1", "2", "3"])
    }

    @Test func removeUnlinksTheSubtree() throws {
        let document = try XMLDocument(parsing: xmlBytes("<r><a><b/></a><c/></r>"))
        document.remove(document.root.elementChildren[0])
        #expect(xmlString(try document.inclusiveCanonicalForm()) == "<r><c></c></r>")
    }

    @Test func elementViewsKeepTheDocumentAlive() throws {
        func makeElement() throws -> XMLElement {
            try XMLDocument(parsing: xmlBytes("<r><child>kept</child></r>")).root.elementChildren[0]
        }
        let element = try makeElement()
        #expect(element.textContent == "kept")
        #expect(element.parent?.localName == "r")
    }

    @Test func errorDescription() {
        #expect(XMLError(kind: .malformed, message: "m", line: 3, column: 4, source: "f.xml").description == "f.xml:3:4: m")
        #expect(XMLError(kind: .malformed, message: "m", line: 3).description == "3: m")
        #expect(XMLError(kind: .tooLarge, message: "m").description == "m")
        #expect(XMLError(kind: .tooLarge, message: "m", source: "f").description == "f: m")
        #expect(XMLError(kind: .notUTF8, message: "m").failureClass == .input)
        #expect(XMLParseLimits.default == XMLParseLimits(maxDocumentBytes: 16 << 20, maxDepth: 64))
    }

    @Test func lineNumbersBeyond65535() throws {
        let source = String(repeating: "\n", count: 70_000) + "<r>\n<a/></r>"
        let document = try XMLDocument(parsing: xmlBytes(source))
        #expect(document.root.elementChildren[0].line == 70_002)
        let error = #expect(throws: XMLError.self) {
            try XMLDocument(parsing: xmlBytes(String(repeating: "\n", count: 70_000) + "<r><a></r>"))
        }
        #expect(error?.line == 70_001)
    }
}

/// Many documents parsed and canonicalised on many threads at once.
@Suite struct XMLConcurrencyTests {
    @Test func concurrentParseAndCanonicalise() async throws {
        let name = XMLTestData.templates623[0]
        let bytes = try XMLTestData.template(name)
        let expected = try #require(try XMLTestData.compactKAT().cases.first { $0.file.hasSuffix("/" + name) }).digestValue
        let digests = try await withThrowingTaskGroup(of: [String].self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var results: [String] = []
                    for _ in 0..<50 {
                        let document = try XMLDocument(parsing: bytes)
                        document.remove(try xmlSignatureElement(of: document))
                        document.removeWhitespaceBetweenElements()
                        results.append(xmlTestDigest(try document.inclusiveCanonicalForm()))
                        // A hostile document in between must not disturb the others' error state.
                        #expect(throws: XMLError.self) { try XMLDocument(parsing: xmlBytes("<a>\n<b></a>")) }
                    }
                    return results
                }
            }
            var all: [String] = []
            for try await part in group { all += part }
            return all
        }
        #expect(digests.count == 400)
        #expect(Set(digests) == [expected])
    }
}
