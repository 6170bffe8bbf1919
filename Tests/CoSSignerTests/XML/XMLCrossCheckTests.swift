import CoSSignerTestSupport
import Foundation
import Testing
@testable import CoSSigner
@testable import CoSSignerTesting

/// Our canonical forms against `xmllint --c14n` / `--exc-c14n` (libxml2-utils). xmllint keeps
/// comments, so the documents here have none.
@Suite struct XMLCrossCheckTests {
    static let documents: [String] = [
        #"<r xmlns="urn:d" xmlns:b="urn:b" xmlns:a="urn:a" b:y="2" a:x="1" z="3" c="&quot;&lt;&gt;&amp;&#9;&#10;&#13;"><a:k xmlns:a="urn:a">&lt;tag&gt; &amp; "q" 'a' &#13;</a:k><e/><e></e></r>"#,
        "<?pi before?>\n<r><?pi inside data?><![CDATA[<not> & markup]]>text\r\nnext</r>\n<?pi after?>",
        #"<r xml:lang="en" xml:space="preserve"><c xml:lang="fr"><d xmlns="">x</d></c><n:m xmlns:n="urn:n" xmlns:unused="urn:u"/></r>"#,
        "<r>\u{E9}\u{20AC}\u{1F600}&#x1F600;&#233;</r>",
    ]

    @Test(arguments: documents.indices)
    func inclusiveMatchesXmllint(_ index: Int) throws {
        let source = xmlBytes(Self.documents[index])
        let ours = try XMLDocument(parsing: source).inclusiveCanonicalForm()
        #expect(xmlString(ours) == xmlString(try xmllint(["--c14n"], source)))
    }

    @Test(arguments: documents.indices)
    func exclusiveOfRootMatchesXmllint(_ index: Int) throws {
        let source = xmlBytes(Self.documents[index])
        // xmllint's --exc-c14n covers the whole document; ours the root subtree, so drop the
        // top-level processing instructions first.
        guard !Self.documents[index].hasPrefix("<?pi") else { return }
        let document = try XMLDocument(parsing: source)
        #expect(xmlString(try document.exclusiveCanonicalForm(of: document.root)) == xmlString(try xmllint(["--exc-c14n"], source)))
    }

    /// Every template, with the comment inside its placeholder signature removed as text.
    @Test func templatesMatchXmllint() throws {
        let names = try FileManager.default.contentsOfDirectory(
            atPath: XMLTestData.sharedRoot.appendingPathComponent("vectors/dccboxed/templates").path)
        #expect(names.count >= 8)
        for name in names.sorted() {
            let source = xmlBytes(xmlString(try XMLTestData.template(name)).replacing(/<!--.*?-->/, with: ""))
            #expect(try XMLDocument(parsing: source).inclusiveCanonicalForm() == xmllint(["--c14n"], source), "\(name)")
        }
    }

    /// The compact form made by text (signature cut out, `>\s+<` → `><`), as the KAT describes,
    /// through xmllint, equals ours and digests to the known answer.
    @Test(arguments: XMLTestData.templates623)
    func compactFormMatchesXmllint(_ name: String) throws {
        let kat = try XMLTestData.compactKAT()
        let expected = try #require(kat.cases.first { $0.file.hasSuffix("/" + name) }).digestValue
        let original = xmlString(try XMLTestData.template(name))
        let compact = original
            .replacing(/<ds:Signature[ >].*<\/ds:Signature>/.dotMatchesNewlines(), with: "")
            .replacing(/>\s+</, with: "><")
        let theirs = try xmllint(["--c14n"], xmlBytes(compact))
        #expect(xmlTestDigest(theirs) == expected)

        let document = try XMLDocument(parsing: xmlBytes(original))
        document.remove(try xmlSignatureElement(of: document))
        document.removeWhitespaceBetweenElements()
        #expect(try document.inclusiveCanonicalForm() == theirs)
    }
}

/// Runs xmllint on `input` (through a temporary file) and returns its standard output.
/// Fails loudly, never skips, when xmllint is not installed.
func xmllint(_ arguments: [String], _ input: [UInt8]) throws -> [UInt8] {
    // A missing xmllint (apt-get install libxml2-utils) is a loud failure (TestProcess records it).
    let folder = try TestPaths.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: folder) }
    let file = folder.appendingPathComponent("input.xml")
    try Data(input).write(to: file)
    let result = try TestProcess.run("xmllint", arguments + ["--nonet", file.path])
    try #require(result.status == 0, "xmllint failed: \(result.stderr)")
    return result.output
}
