import CoSSignerTestSupport
import Foundation
import Testing
@testable import CoSSigner
@testable import CoSSignerTesting

/// The fast signing path (single-pass canonicalizer + ``ServiceRequest623FastReader``, no DOM) against the full
/// path (libxml2 tree + typed model): over the kit, the DCC Boxed 6.23 templates and thousands of mutated
/// documents, ``RequestSigner/sign(_:source:)`` (fast when it can) and the full path alone give the same outcome:
/// the same signed bytes and request, or the same error. And the fast path really is taken for plain requests.
@Suite struct FastSigningPathTests {
    static let repository = TestPaths.repository
    static let kit = repository.appendingPathComponent("TestVectors")

    /// Signs with the credential of each request's Business Originator: the kit's three test PKI parties and the
    /// DCC Boxed supplier (the templates' originator and replacement certificates' entity), so that every request
    /// of the corpus whose originator is known reaches the signing paths.
    static func signer() throws -> RequestSigner {
        let loader = PartyCredentialLoader.files(keyFilePolicy: .allowInsecure)
        let kitRegistry = try PartyRegistry(contentsOfFile: kit.appendingPathComponent("pki/parties.toml").path, loader: loader)
        let gts = PartyDeclaration(
            id: "gts", name: "GIT Test Supplier", mpids: [try MPID(parsing: "GTSE")],
            userIDs: [try EUI64(parsing: "90-B3-D5-1F-30-01-00-00"), try EUI64(parsing: "90-B3-D5-1F-30-03-00-00")],
            signingKeyPath: Fixtures.path("\(Fixtures.keys)/xml-sign-90B3D51F30010000-ds.key.pem"),
            signingCertificatePath: Fixtures.path("\(Fixtures.keys)/xml-sign-90B3D51F30010000-ds.pem"))
        let registry = try PartyRegistry(declarations: kitRegistry.parties.map(\.declaration) + [gts], loader: loader)
        var options = RequestSigningOptions()
        options.signing.deterministic = true  // byte-comparable outputs
        // 2026-01-01, inside the test PKI's validity; every request is handled at the same time.
        return RequestSigner(keys: .selected(KeySelector(registry: registry), mpid: nil, registrationDate: nil), options: options,
                             clock: FixedClock(Date(timeIntervalSince1970: 1_767_225_600)))
    }

    /// Every XML document of the kit and the three 6.23 templates.
    static func corpus() throws -> [(name: String, bytes: [UInt8])] {
        var documents: [(String, [UInt8])] = []
        for folder in ["signing", "validation", "keyselection", "verification"] {
            let url = kit.appendingPathComponent(folder)
            let names = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
            for name in names.sorted() where name.hasSuffix(".xml") {
                documents.append(("\(folder)/\(name)", [UInt8](try Data(contentsOf: url.appendingPathComponent(name)))))
            }
        }
        for name in Fixtures.template623Names {
            documents.append((name, try Fixtures.template623(name)))
        }
        return documents
    }

    /// Whether the fast path reads `bytes` (and so signs it without a tree).
    static func fastPathReads(_ bytes: [UInt8]) -> ServiceRequest623? {
        guard let fast = FastCanonicalizer.canonicalize(bytes, mode: .signing(compact: true), limits: .default),
            !fast.sawCommentOrCDATA, fast.placeholderCount <= 1, fast.placeholderIsLastRootChild
        else { return nil }
        return ServiceRequest623FastReader.read(canonical: fast.bytes)
    }

    /// Compares the two paths on one document; returns whether the combined call signed it.
    @discardableResult
    static func expectSameOutcome(_ signer: RequestSigner, _ bytes: [UInt8], _ name: String) -> Bool {
        let combined = Result { try signer.sign(bytes, source: "doc.xml") }
        let full = Result { try signer.fullSign(bytes, source: "doc.xml", call: RequestSigner.Call(now: signer.clock.now(), mpid: nil)) }
        switch (combined, full) {
        case (.success(let a), .success(let b)):
            #expect(a.document.bytes == b.document.bytes, "\(name): signed bytes differ")
            #expect(a.request == b.request && a.requestID == b.requestID, "\(name): request differs")
            return true
        case (.failure(let a), .failure(let b)):
            #expect(String(describing: a) == String(describing: b), "\(name): errors differ: \(a) vs \(b)")
            return false
        default:
            Issue.record("\(name): the paths disagree: combined \(combined), full \(full)\n\(String(decoding: bytes, as: UTF8.self))")
            return false
        }
    }

    @Test func plainRequestsTakeTheFastPathAndReadTheSameRequest() throws {
        var read = 0
        let certificates = BytesMemo<[UInt8]>(capacity: 1024)
        for (name, bytes) in try Self.corpus() {
            guard let fast = Self.fastPathReads(bytes) else { continue }
            read += 1
            let full = try ServiceRequest623(parsing: bytes)
            #expect(fast == full, "\(name)")
            // With the memo of decoded certificates shared across the corpus (as a signer shares it): the same
            // request, the second time from the memo.
            let canonical = try #require(FastCanonicalizer.canonicalize(bytes, mode: .signing(compact: true), limits: .default))
            #expect(ServiceRequest623FastReader.read(canonical: canonical.bytes, certificates: certificates) == full, "\(name)")
            #expect(ServiceRequest623FastReader.read(canonical: canonical.bytes, certificates: certificates) == full, "\(name)")
        }
        #expect(certificates.count > 0)
        // The kit's signing inputs and their signed forms (10) and the three templates at least.
        #expect(read >= 13)
    }

    @Test func kitAndTemplatesGiveTheSameOutcomeOnBothPaths() throws {
        let signer = try Self.signer()
        var signed = 0
        for (name, bytes) in try Self.corpus() where Self.expectSameOutcome(signer, bytes, name) { signed += 1 }
        #expect(signed >= 13)
    }

    /// Documents mutated around every kind of construct the fast reader must refuse or read alike.
    @Test func mutatedDocumentsGiveTheSameOutcomeOnBothPaths() throws {
        let signer = try Self.signer()
        var seen = Set<ServiceRequest623>()
        // One document per distinct request (a signed input and its unsigned form read the same).
        let bases = try Self.corpus().filter { document in
            guard let request = Self.fastPathReads(document.bytes) else { return false }
            return seen.insert(request).inserted
        }
        #expect(!bases.isEmpty)
        var random = SeededGenerator(seed: 0x623)
        let snippets = [
            "<!-- c -->", "<![CDATA[x]]>", "<![CDATA[ ]]>", " ", "\n  ", "\r\n", "x", "&#x20;", "&#13;", "&amp;", "&gt;",
            "<?pi x?>", "<sr:Extra/>", "<sr:Extra></sr:Extra>", "<sr:FirstInSequence>true</sr:FirstInSequence>",
            "<sr:PrecedingServiceRequestID>90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1000</sr:PrecedingServiceRequestID>",
            "<ds:Signature/>", "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"></ds:Signature>",
            "<x:Y xmlns:x=\"urn:x\"/>", "<sr:Certificate>AAAA</sr:Certificate>", "<Request/>",
            "<sr:KeyAgreementCertificate>MIIB</sr:KeyAgreementCertificate>", "<sr:ImportMPxN>1234567890</sr:ImportMPxN>",
        ]
        let values = ["", " 1", "1 ", "01", "4", "6.24", "true", "0", "&#x31;", "18446744073709551615", "x&amp;y", "2",
                      "&lt;", "AAAA", "MII=", " 6.23", "3", "1", "false", "9999999999"]
        let attributes = [" a=\"1\"", " xmlns:q=\"urn:q\"", " xml:lang=\"en\"", " xsi:nil=\"false\"",
                          " xmlns:sr=\"http://www.dccinterface.co.uk/ServiceUserGateway\"", " xmlns=\"urn:d\"",
                          " schemaVersion=\"5.4\"", " sr:schemaVersion=\"5.4\""]
        var compared = 0
        var signedCount = 0
        for (name, base) in bases {
            let text = String(decoding: base, as: UTF8.self)
            let u = Array(text.utf8)
            let tagEnds = u.indices.filter { u[$0] == UInt8(ascii: ">") }.map { $0 + 1 }
            let startTags = u.indices.filter { u[$0] == UInt8(ascii: "<") && $0 + 1 < u.count && u[$0 + 1] != UInt8(ascii: "/") && u[$0 + 1] != UInt8(ascii: "?") && u[$0 + 1] != UInt8(ascii: "!") }
            var variants: [[UInt8]] = []
            for _ in 0..<50 {
                let at = tagEnds[random.next(tagEnds.count)]
                variants.append(Array(u[..<at]) + Array(snippets[random.next(snippets.count)].utf8) + Array(u[at...]))
            }
            for _ in 0..<20 {
                // Replace a leaf's value (text between a start tag's '>' and the next '</').
                let at = tagEnds[random.next(tagEnds.count)]
                guard let end = Self.firstIndex(of: Array("<".utf8), in: u, from: at), end + 1 < u.count, u[end + 1] == UInt8(ascii: "/") else { continue }
                variants.append(Array(u[..<at]) + Array(values[random.next(values.count)].utf8) + Array(u[end...]))
            }
            for _ in 0..<15 {
                // An attribute or namespace declaration on a start tag.
                let start = startTags[random.next(startTags.count)]
                guard let close = Self.firstIndex(of: Array(">".utf8), in: u, from: start) else { continue }
                let insertAt = u[close - 1] == UInt8(ascii: "/") ? close - 1 : close
                variants.append(Array(u[..<insertAt]) + Array(attributes[random.next(attributes.count)].utf8) + Array(u[insertAt...]))
            }
            for _ in 0..<15 {
                // Delete or duplicate an element (from a start tag to the end of its first matching end tag).
                let start = startTags[random.next(startTags.count)]
                var k = start + 1
                while k < u.count, u[k] != UInt8(ascii: ">"), u[k] != UInt8(ascii: " "), u[k] != UInt8(ascii: "/") { k += 1 }
                let qname = Array(u[(start + 1)..<k])
                guard let endTag = Self.firstIndex(of: Array("</".utf8) + qname + Array(">".utf8), in: u, from: start) else { continue }
                let end = endTag + qname.count + 3
                if random.next(2) == 0 {
                    variants.append(Array(u[..<start]) + Array(u[end...]))
                } else {
                    variants.append(Array(u[..<end]) + Array(u[start..<end]) + Array(u[end...]))
                }
            }
            // The default namespace instead of the sr: prefix; the whole document indented.
            variants.append(Array(text.replacingOccurrences(of: "sr:", with: "").replacingOccurrences(of: "xmlns:sr=", with: "xmlns=").utf8))
            variants.append(Array(text.replacingOccurrences(of: "><", with: ">\n  <").utf8))
            for variant in variants {
                compared += 1
                if Self.expectSameOutcome(signer, variant, name) { signedCount += 1 }
            }
        }
        #expect(compared >= 400)
        #expect(signedCount > 0)
    }

    /// The byte-level RequestID parser accepts exactly what ``RequestID/init(parsing:)`` accepts, with the same value.
    @Test func byteLevelRequestIDParserMatchesTheStringParser() {
        var random = SeededGenerator(seed: 0x1D)
        let base = Array("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1006".utf8)
        let replacements = Array("0123456789abcdefABCDEFxX-: :\u{00E9}".utf8) + [0x00, 0xFF]
        var accepted = 0
        for round in 0..<20_000 {
            var text = base
            for _ in 0..<(1 + random.next(3)) {
                switch random.next(4) {
                case 0: text[random.next(text.count)] = replacements[random.next(replacements.count)]
                case 1: text.insert(replacements[random.next(replacements.count)], at: random.next(text.count + 1))
                case 2: if !text.isEmpty { text.remove(at: random.next(text.count)) }
                default: if round % 3 == 0 { text = Array(text.prefix(48)) + Array(String(UInt64.max - UInt64(random.next(20))).utf8) }
                }
            }
            let viaString = try? RequestID(parsing: String(decoding: text, as: UTF8.self))
            let viaBytes = text.withUnsafeBufferPointer { RequestID.parse(utf8: $0) }
            // Text that is not valid UTF-8 is never handed to the byte parser by the reader (the canonicalizer
            // checked the document), so only valid UTF-8 is compared.
            guard String(validating: text, as: UTF8.self) != nil else { continue }
            #expect(viaString == viaBytes, "\(String(decoding: text, as: UTF8.self))")
            if viaBytes != nil { accepted += 1 }
        }
        #expect(accepted > 100)
    }

    /// A typed request's written form is canonical once its XML declaration and final line feed are left out, so a
    /// typed request is signed as written, without a parse (``RequestSigner/sign(request:source:mpid:)``).
    @Test func theWrittenFormIsCanonical() throws {
        var requests = [ServiceRequest623]()
        for (_, bytes) in try Self.corpus() {
            if let request = try? ServiceRequest623(parsing: bytes) { requests.append(request) }
        }
        #expect(requests.count > 40)
        for request in requests {
            let canonical = FastCanonicalizer.canonicalize(request.xmlBytes(), mode: .signing(compact: true), limits: .default)?.bytes
            #expect(canonical == request.canonicalBytes())
            let document = try XMLDocument(parsing: request.xmlBytes())
            #expect(try document.inclusiveCanonicalForm(excluding: nil) == request.canonicalBytes())
        }
    }

    /// The certificate-check memo compares whole sets (a hash only finds candidates) and is bounded.
    @Test func certificateCheckMemoComparesWholeSetsAndIsBounded() {
        let memo = CertificateCheckMemo()
        let set = [UInt8](repeating: 7, count: 3000)
        var other = set
        other[2999] = 8
        memo.insert(set)
        #expect(memo.contains(set) && !memo.contains(other))
        for k in 0..<(CertificateCheckMemo.capacity + 5) {
            memo.insert(withUnsafeBytes(of: UInt64(k)) { Array($0) })
        }
        #expect(!memo.contains(set))  // cleared when it was full
        #expect(memo.contains(withUnsafeBytes(of: UInt64(CertificateCheckMemo.capacity + 4)) { Array($0) }))
    }

    /// The recent sets of the certificate-check memo are compared by place and bytes (the same arrays or equal
    /// contents), and only the last few are kept.
    @Test func certificateCheckMemoKnowsTheRecentSetsExactly() throws {
        let template = try ServiceRequest623(parsing: Fixtures.template623(Fixtures.template623Names[0]))
        func request(_ change: (inout [UInt8]) -> Void) throws -> ServiceRequest623 {
            var der = template.body.supplierReplacementCertificates.digitalSigningCertificate
            change(&der)
            let r = template.body.supplierReplacementCertificates
            let body = try UpdateSecurityCredentialsCoS(
                executionDateTime: template.body.executionDateTime, supplierFloorSeqNumber: template.body.supplierFloorSeqNumber,
                supplierPrepaymentTopUpFloorSeqNumber: template.body.supplierPrepaymentTopUpFloorSeqNumber,
                supplierReplacementCertificates: try SupplierReplacementCertificates(
                    digitalSigningCertificate: der, keyAgreementCertificate: r.keyAgreementCertificate,
                    keyAgreementTopUpCertificate: r.keyAgreementTopUpCertificate),
                certificationPathCertificates: template.body.certificationPathCertificates,
                applyTimeBasedCPVChecks: template.body.applyTimeBasedCPVChecks, importMPxN: template.body.importMPxN)
            return try ServiceRequest623(requestID: template.requestID, commandVariant: template.commandVariant,
                                         firstInSequence: template.firstInSequence,
                                         precedingServiceRequestID: template.precedingServiceRequestID, body: body,
                                         schemaVersion: template.schemaVersion)
        }
        let memo = CertificateCheckMemo()
        let windows = CertificateCheckMemo.Windows(all: Date(timeIntervalSince1970: 0)...Date(timeIntervalSince1970: 1))
        #expect(memo.recentlyPassed(template) == nil)
        memo.notePassed(template, windows: windows)
        #expect(memo.recentlyPassed(template) == windows)
        #expect(memo.recentlyPassed(try request { _ in }) != nil)  // the same arrays
        #expect(memo.recentlyPassed(try request { $0 = $0.map { $0 } }) != nil)  // equal bytes in a new array
        #expect(memo.recentlyPassed(try request { $0[$0.count - 1] ^= 1 }) == nil)
        #expect(memo.recentlyPassed(try request { $0.append(0) }) == nil)
        for k in 1...CertificateCheckMemo.recentCount { memo.notePassed(try request { $0[$0.count - 1] ^= UInt8(k) }, windows: windows) }
        #expect(memo.recentlyPassed(template) == nil)  // pushed out by newer sets
        #expect(memo.recentlyPassed(try request { $0[$0.count - 1] ^= 1 }) != nil)
    }

    static func firstIndex(of needle: [UInt8], in haystack: [UInt8], from: Int) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        var k = from
        while k + needle.count <= haystack.count {
            if haystack[k] == needle[0], haystack[k..<(k + needle.count)].elementsEqual(needle) { return k }
            k += 1
        }
        return nil
    }
}

/// A small deterministic generator (so a failure reproduces).
struct SeededGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next(_ bound: Int) -> Int {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Int((state >> 33) % UInt64(bound))
    }
}
