import CoSSignerTestSupport
import Foundation
import Testing
@testable import CoSSigner
@testable import CoSSignerTesting

/// Hostile inputs: each is refused with the right kind, quickly, and nothing is printed.
@Suite struct XMLHostileInputTests {
    /// Parses `bytes`, expecting a refusal of `kind` within a second with no libxml2 output.
    @discardableResult
    func expectRefused(_ bytes: [UInt8], _ kind: XMLError.Kind, limits: XMLParseLimits = .default,
                       sourceLocation: SourceLocation = #_sourceLocation) -> XMLError? {
        var caught: XMLError?
        var accepted = false
        let clock = ContinuousClock()
        var elapsed = Duration.zero
        let printed = countingLibxmlStderrMessages {
            elapsed = clock.measure {
                do throws(XMLError) {
                    _ = try XMLDocument(parsing: bytes, limits: limits, source: "hostile.xml")
                    accepted = true
                } catch {
                    caught = error
                }
            }
        }
        #expect(!accepted, "the document was accepted", sourceLocation: sourceLocation)
        #expect(caught?.kind == kind, "\(caught.map { "\($0.kind): \($0)" } ?? "no error")", sourceLocation: sourceLocation)
        #expect(caught?.failureClass == .input, sourceLocation: sourceLocation)
        #expect(caught?.source == "hostile.xml", sourceLocation: sourceLocation)
        #expect(elapsed < .seconds(1), "took \(elapsed)", sourceLocation: sourceLocation)
        #expect(printed == 0, "libxml2 printed \(printed) message(s)", sourceLocation: sourceLocation)
        return caught
    }

    @Test func doctypeWithInternalSubset() {
        let error = expectRefused(xmlBytes("<?xml version=\"1.0\"?>\n<!DOCTYPE r [\n<!ELEMENT r (#PCDATA)>\n]>\n<r/>"), .doctypeForbidden)
        #expect(error?.line == 2)
        #expect(error?.description.hasPrefix("hostile.xml:2:") == true)
    }

    @Test func doctypeWithoutSubset() {
        expectRefused(xmlBytes("<!DOCTYPE r><r/>"), .doctypeForbidden)
    }

    @Test func externalEntityFile() {
        expectRefused(xmlBytes("<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><r>&x;</r>"), .doctypeForbidden)
    }

    @Test func externalEntityNetwork() {
        expectRefused(xmlBytes("<!DOCTYPE r [<!ENTITY x SYSTEM \"http://example.invalid/x\">]><r>&x;</r>"), .doctypeForbidden)
    }

    @Test func externalParameterEntity() {
        expectRefused(xmlBytes("<!DOCTYPE r [<!ENTITY % p SYSTEM \"http://example.invalid/p.dtd\"> %p;]><r/>"), .doctypeForbidden)
    }

    @Test func externalDTD() {
        expectRefused(xmlBytes("<!DOCTYPE r SYSTEM \"http://example.invalid/x.dtd\"><r/>"), .doctypeForbidden)
        expectRefused(xmlBytes("<!DOCTYPE r PUBLIC \"-//X//Y//EN\" \"file:///etc/passwd\"><r/>"), .doctypeForbidden)
    }

    @Test func billionLaughs() {
        var doc = "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n"
        for i in 1...9 {
            let previous = i == 1 ? "lol" : "lol\(i - 1)"
            doc += " <!ENTITY lol\(i) \"" + String(repeating: "&\(previous);", count: 10) + "\">\n"
        }
        doc += "]>\n<lolz>&lol9;</lolz>\n"
        expectRefused(xmlBytes(doc), .doctypeForbidden)
    }

    /// A DOCTYPE without a name is a syntax error before the SAX hook can see it: still refused
    /// (and the entities in it are never declared, so never expanded).
    @Test func namelessDoctype() {
        expectRefused(xmlBytes("<!DOCTYPE [<!ENTITY x \"y\">]><r>&x;</r>"), .malformed)
    }

    @Test func undeclaredEntity() {
        expectRefused(xmlBytes("<r>&x;</r>"), .malformed)
    }

    @Test func sixtyFourMebibytes() {
        var bytes = [UInt8](repeating: UInt8(ascii: " "), count: 64 << 20)
        bytes.replaceSubrange(0..<3, with: xmlBytes("<r>"))
        bytes.replaceSubrange((bytes.count - 4)..., with: xmlBytes("</r>"))
        let error = expectRefused(bytes, .tooLarge)
        #expect(error?.line == nil)
        // The raw-buffer initialiser refuses it too.
        _ = bytes.withUnsafeBytes { raw in
            #expect(throws: XMLError.self) { try XMLDocument(parsing: raw) }
        }
    }

    /// libxml2 2.9's duplicate-attribute check is quadratic: 160,000 attributes take a minute.
    @Test func tooManyAttributes() throws {
        func tag(_ count: Int, _ attribute: (Int) -> String) -> [UInt8] {
            xmlBytes("<r" + (0..<count).map { " " + attribute($0) }.joined() + "/>")
        }
        let limit = XMLParseLimits.default.maxAttributesPerElement
        expectRefused(tag(160_000) { "a\($0)=\"\"" }, .tooLarge)
        expectRefused(tag(160_000) { "xmlns:p\($0)=\"urn:x\"" }, .tooLarge)
        expectRefused(tag(limit + 1) { "a\($0)='='" }, .tooLarge)
        // Exactly at the limit, with `=` and `>` inside values, comments, CDATA and PIs.
        let atLimit = tag(limit) { "a\($0)=\"x=y>z\"" }
        let document = try XMLDocument(parsing: atLimit)
        #expect(document.root.attributes.count == limit)
        let decoys = "<r>" + String(repeating: "<!-- a=b --><![CDATA[c=d]]><?p e=f?>", count: limit + 1) + "</r>"
        _ = try XMLDocument(parsing: xmlBytes(decoys))
        var limits = XMLParseLimits.default
        limits.maxAttributesPerElement = 2
        expectRefused(xmlBytes("<r><s a='1' b='2' c='3'/></r>"), .tooLarge, limits: limits)
    }

    @Test func veryDeepNesting() {
        let depth = 100_000
        let doc = String(repeating: "<a>", count: depth) + String(repeating: "</a>", count: depth)
        let error = expectRefused(xmlBytes(doc), .tooDeep)
        #expect(error?.line == 1)
        // With a limit above libxml2's own (256), libxml2's limit still applies.
        expectRefused(xmlBytes(doc), .tooDeep, limits: XMLParseLimits(maxDepth: 10_000))
    }

    @Test func nestingJustOverTheLimit() throws {
        func nested(_ depth: Int) -> [UInt8] {
            xmlBytes(String(repeating: "<a>", count: depth) + "x" + String(repeating: "</a>", count: depth))
        }
        let limit = XMLParseLimits.default.maxDepth
        _ = try XMLDocument(parsing: nested(limit))
        expectRefused(nested(limit + 1), .tooDeep)
        _ = try XMLDocument(parsing: nested(5), limits: XMLParseLimits(maxDepth: 5))
        expectRefused(nested(6), .tooDeep, limits: XMLParseLimits(maxDepth: 5))
        _ = try XMLDocument(parsing: nested(XMLParseLimits.libxml2MaxDepth), limits: XMLParseLimits(maxDepth: 1_000))
        expectRefused(nested(XMLParseLimits.libxml2MaxDepth + 1), .tooDeep, limits: XMLParseLimits(maxDepth: 1_000))
    }

    @Test func invalidUTF8() {
        let error = expectRefused(xmlBytes("<r>\nok\n") + [0xC3, 0x28] + xmlBytes("</r>"), .notUTF8)
        #expect(error?.line == 3)
        #expect(error?.column == 1)
        expectRefused(xmlBytes("<r>") + [0xED, 0xA0, 0x80] + xmlBytes("</r>"), .notUTF8)  // surrogate
        expectRefused(xmlBytes("<r>") + [0xC0, 0xAF] + xmlBytes("</r>"), .notUTF8)  // overlong
        expectRefused(xmlBytes("<r>") + [0xF4, 0x90, 0x80, 0x80] + xmlBytes("</r>"), .notUTF8)  // > U+10FFFF
        expectRefused(xmlBytes("<r>") + [0xE2, 0x82] + xmlBytes("</r>"), .notUTF8)  // truncated
        expectRefused(xmlBytes("<r>caf") + [0xE9] + xmlBytes("</r>"), .notUTF8)  // Latin-1
    }

    @Test func utf16WithBOM() {
        let body = Array("<?xml version=\"1.0\"?><r/>".utf16)
        expectRefused([0xFF, 0xFE] + body.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }, .notUTF8)
        expectRefused([0xFE, 0xFF] + body.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }, .notUTF8)
    }

    @Test func utf16WithoutBOM() {
        let body = Array("<?xml version=\"1.0\" encoding=\"UTF-16\"?><r/>".utf16)
        expectRefused(body.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }, .notUTF8)
        expectRefused(body.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }, .notUTF8)
    }

    @Test func otherDeclaredEncoding() {
        expectRefused(xmlBytes("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><r>caf\u{E9}</r>"), .notUTF8)
        expectRefused(xmlBytes("<?xml version='1.0' encoding = 'us-ascii' ?><r/>"), .notUTF8)
        expectRefused(xmlBytes("<?xml version=\"1.0\" encoding=\"UTF-16\"?><r/>"), .notUTF8)
    }

    @Test func utf8DeclarationsAndBOMAreAccepted() throws {
        _ = try XMLDocument(parsing: xmlBytes("<?xml version=\"1.0\" encoding=\"utf-8\"?><r/>"))
        _ = try XMLDocument(parsing: [0xEF, 0xBB, 0xBF] + xmlBytes("<?xml version=\"1.0\" encoding=\"UTF-8\"?><r/>"))
        _ = try XMLDocument(parsing: [0xEF, 0xBB, 0xBF] + xmlBytes("<r/>"))
        _ = try XMLDocument(parsing: xmlBytes("<?xml-stylesheet href=\"encoding='latin1'\"?><r/>"))
    }

    @Test func nulByte() {
        let error = expectRefused(xmlBytes("<r>a\nb") + [0] + xmlBytes("</r>"), .malformed)
        #expect(error?.line == 2)
        #expect(error?.column == 2)
        // After the root element: libxml2 2.9 alone would stop reading at the NUL and accept it.
        expectRefused(xmlBytes("<r/>") + [0] + xmlBytes("<junk>"), .malformed)
    }

    @Test func mismatchedTagReportsTheFirstError() {
        let error = expectRefused(xmlBytes("<a>\n<b></a>"), .malformed)
        #expect(error?.line == 2)
        #expect(error?.column != nil)
        #expect(error?.message.contains("mismatch") == true, "\(error?.message ?? "")")
    }

    @Test func truncatedDocument() throws {
        let template = try XMLTestData.template(XMLTestData.templates623[0])
        let error = expectRefused(Array(template.prefix(template.count / 2)), .malformed)
        #expect(error?.line != nil)
        expectRefused(xmlBytes("<r><a>text"), .malformed)
        expectRefused(xmlBytes("<r attr=\"x"), .malformed)
    }

    @Test func emptyInput() {
        expectRefused([], .malformed)
        expectRefused(xmlBytes("   \n"), .malformed)
        expectRefused(xmlBytes("<?xml version=\"1.0\"?>"), .malformed)
        _ = [UInt8]().withUnsafeBytes { raw in
            #expect(throws: XMLError.self) { try XMLDocument(parsing: raw) }
        }
    }

    @Test func otherMalformedInputs() {
        expectRefused(xmlBytes("<r/><r/>"), .malformed)
        expectRefused(xmlBytes("<r/>trailing"), .malformed)
        expectRefused(xmlBytes("<p:r/>"), .malformed)  // undeclared prefix: not namespace-well-formed
        expectRefused(xmlBytes("<r a=\"1\" a=\"2\"/>"), .malformed)
        expectRefused(xmlBytes("<r>\u{1}</r>"), .malformed)
        expectRefused(xmlBytes("<r xmlns:p=\"urn:x\" p:a=\"1\" xmlns:q=\"urn:x\" q:a=\"2\"/>"), .malformed)
    }

    @Test func xml11IsUnsupported() {
        expectRefused(xmlBytes("<?xml version=\"1.1\"?><r/>"), .unsupported)
    }

    @Test func relativeNamespaceURIIsRefusedByCanonicalisation() throws {
        let document = try XMLDocument(parsing: xmlBytes("<r xmlns=\"relative/uri\"><a/></r>"))
        var caught: XMLError?
        let printed = countingLibxmlStderrMessages {
            do throws(XMLError) { _ = try document.inclusiveCanonicalForm() } catch { caught = error }
        }
        #expect(caught?.kind == .unsupported)
        #expect(printed == 0)
    }
}
