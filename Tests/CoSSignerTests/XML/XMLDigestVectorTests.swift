import CoSSignerTestSupport
import Foundation
import Testing
@testable import CoSSigner
@testable import CoSSignerTesting

/// The Reference digest and SignedInfo canonical form against the DCC Boxed known answers.
@Suite struct XMLDigestVectorTests {
    @Test(arguments: XMLTestData.templates623)
    func compactDigestAfterRemovingSignature(_ name: String) throws {
        let kat = try XMLTestData.compactKAT()
        let expected = try #require(kat.cases.first { $0.file.hasSuffix("/" + name) }).digestValue

        let document = try XMLDocument(parsing: XMLTestData.template(name), source: name)
        document.remove(try xmlSignatureElement(of: document))
        document.removeWhitespaceBetweenElements()
        #expect(xmlTestDigest(try document.inclusiveCanonicalForm()) == expected)
    }

    @Test(arguments: XMLTestData.templates623)
    func compactDigestExcludingSignature(_ name: String) throws {
        let kat = try XMLTestData.compactKAT()
        let expected = try #require(kat.cases.first { $0.file.hasSuffix("/" + name) }).digestValue

        let document = try XMLDocument(parsing: XMLTestData.template(name), source: name)
        document.removeWhitespaceBetweenElements()
        let signature = try xmlSignatureElement(of: document)
        #expect(xmlTestDigest(try document.inclusiveCanonicalForm(excluding: signature)) == expected)
        // The excluded subtree is still there and the document is unchanged by canonicalisation.
        #expect(document.elements(namespaceURI: XMLTestData.dsig, localName: "SignedInfo").count == 1)
        #expect(xmlTestDigest(try document.inclusiveCanonicalForm(excluding: signature)) == expected)
    }

    @Test func whitespaceKeptDigest() throws {
        let kat = try XMLTestData.compactKAT()
        let document = try XMLDocument(parsing: XMLTestData.caseBytes(kat.whitespaceKept.file))
        let signature = try xmlSignatureElement(of: document)
        #expect(xmlTestDigest(try document.inclusiveCanonicalForm(excluding: signature)) == kat.whitespaceKept.digestValue)
        document.remove(signature)
        #expect(xmlTestDigest(try document.inclusiveCanonicalForm()) == kat.whitespaceKept.digestValue)
    }

    @Test func referenceDigestKnownAnswers() throws {
        let kat = try XMLTestData.referenceKAT()
        #expect(kat.cases.count == 9)
        for vector in kat.cases {
            let document = try XMLDocument(parsing: XMLTestData.caseBytes(vector.file), source: vector.file)
            let octets: [UInt8]
            if vector.placeholderSignatureRemoved {
                let signature = try xmlSignatureElement(of: document)
                octets = try document.inclusiveCanonicalForm(excluding: signature)
                document.remove(signature)
                #expect(try document.inclusiveCanonicalForm() == octets, "\(vector.file): excluding vs removing")
            } else {
                #expect(document.elements(namespaceURI: XMLTestData.dsig, localName: "Signature").isEmpty)
                octets = try document.inclusiveCanonicalForm()
            }
            #expect(octets == xmlBytes(vector.canonicalReferenceOctets), "\(vector.file): canonical octets")
            #expect(xmlTestDigest(octets) == vector.digestValueBase64, "\(vector.file): digest")
            // Negative control: exclusive C14N of the root gives the known wrong digest.
            let exclusive = try document.exclusiveCanonicalForm(of: document.root)
            #expect(xmlTestDigest(exclusive) == vector.wrongDigestIfExclusiveC14nUsedBase64, "\(vector.file): exclusive control")

            // The canonical SignedInfo is a fixed point of exclusive C14N.
            let signedInfo = try XMLDocument(parsing: xmlBytes(vector.canonicalSignedInfo))
            let canonical = try signedInfo.exclusiveCanonicalForm(of: signedInfo.root)
            #expect(canonical == xmlBytes(vector.canonicalSignedInfo))
            #expect(SHA256.hash(canonical).map { String(format: "%02x", $0) }.joined() == vector.canonicalSignedInfoSha256Hex)
        }
    }

    /// Exclusive C14N of a compact ds:SignedInfo nested in a document with other namespaces:
    /// only the visibly used `ds` namespace is emitted, on SignedInfo itself.
    @Test(arguments: [false, true])
    func exclusiveSignedInfo(declaredOnSignedInfo: Bool) throws {
        let kat = try XMLTestData.compactKAT()
        let digest = kat.cases[0].digestValue
        let expected = kat.signedInfoCanonicalForm.replacingOccurrences(of: "DIGEST", with: digest)
        let declaration = " xmlns:ds=\"\(XMLTestData.dsig)\""
        var embedded = expected
        if !declaredOnSignedInfo {
            embedded = embedded.replacingOccurrences(of: "<ds:SignedInfo" + declaration + ">", with: "<ds:SignedInfo>")
            #expect(embedded != expected)
        }
        let document = """
            <?xml version="1.0" encoding="UTF-8"?>
            <sr:Request xmlns:ds="\(XMLTestData.dsig)" xmlns:sr="http://www.dccinterface.co.uk/ServiceUserGateway" \
            xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns="urn:example:default" xml:lang="en" schemaVersion="5.4">\
            <sr:Header><sr:RequestID>x</sr:RequestID></sr:Header>\
            <ds:Signature xmlns:ds="\(XMLTestData.dsig)" xmlns:extra="urn:example:extra">\(embedded)\
            <ds:SignatureValue>AAAA</ds:SignatureValue></ds:Signature></sr:Request>
            """
        let parsed = try XMLDocument(parsing: xmlBytes(document))
        let signedInfo = try #require(parsed.elements(namespaceURI: XMLTestData.dsig, localName: "SignedInfo").first)
        #expect(xmlString(try parsed.exclusiveCanonicalForm(of: signedInfo)) == expected)
    }
}
