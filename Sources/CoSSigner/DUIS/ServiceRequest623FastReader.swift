/// The fast way into a 6.23: read the typed request straight from the canonical form the single-pass
/// canonicalizer has already made for signing, with no DOM.
///
/// It accepts only the plain, valid shape: namespace declarations on the root only, the schema's elements in
/// order with no attributes (the root's `schemaVersion` aside), values as text, nothing else. Every value goes
/// through the same parsers and constructors as ``ServiceRequest623/init(document:source:)``. Anything else,
/// valid or not, gives `nil`, and the caller takes the full path, which gives the same request or the exact
/// error with its line. So it never accepts a document the full path refuses, and never reads one differently:
/// the differential tests check this over the kit, the shared templates and mutated documents.
///
/// The canonicalizer must have been run in signing mode on the whole document, and the caller must have
/// checked that the input held no comment or CDATA section (the canonical form keeps neither) and that a
/// dropped `ds:Signature` placeholder, if any, was a single one and the root's last child element.
struct ServiceRequest623FastReader {
    private let c: UnsafeBufferPointer<UInt8>
    /// Certificates already decoded, by their base64 text (see ``read(canonical:certificates:)``).
    private let certificates: BytesMemo<[UInt8]>?
    private var i = 0
    /// The root's namespace declarations: prefix (empty for the default) and URI, as canonical bytes.
    private var bindings: [Binding] = []
    /// The prefixes (empty for the default namespace) the root binds to the DUIS namespace.
    private var duisPrefixes: [Range<Int>] = []

    private init(_ c: UnsafeBufferPointer<UInt8>, certificates: BytesMemo<[UInt8]>?) {
        self.c = c
        self.certificates = certificates
    }

    /// The request in `canonical`, or `nil` when the fast reader does not take it.
    static func read(canonical: [UInt8], certificates: BytesMemo<[UInt8]>? = nil) -> ServiceRequest623? {
        canonical.withUnsafeBufferPointer { read(canonical: $0, certificates: certificates) }
    }

    /// The request in `canonical`, or `nil` when the fast reader does not take it.
    /// - Parameter certificates: where certificates already decoded are remembered by their exact base64 text
    ///   (a batch carries the same few certificates in every request of a party): a text found there is not
    ///   decoded again; a text that decodes is added. Only texts that decoded are remembered, and decoding the
    ///   same text always gives the same bytes, so the request read is the same with or without it.
    static func read(canonical: UnsafeBufferPointer<UInt8>, certificates: BytesMemo<[UInt8]>? = nil) -> ServiceRequest623? {
        var reader = ServiceRequest623FastReader(canonical, certificates: certificates)
        return reader.request()
    }

    /// The RequestID in `sr:Header/sr:RequestID` of any DUIS request in canonical form (a verified document's
    /// signed content), read without a DOM when the document starts in the plain shape: the root in the DUIS
    /// namespace with its declarations, its first child element `sr:Header` and the header's first child element
    /// `sr:RequestID` (neither with attributes) holding a valid RequestID. `nil` otherwise, and the caller reads it
    /// with the DOM (``RequestSigner/genericRequestID(_:)``), which finds the same element first whenever this
    /// reads one.
    static func headerRequestID(canonical: UnsafeBufferPointer<UInt8>) -> RequestID? {
        var reader = ServiceRequest623FastReader(canonical, certificates: nil)
        guard reader.rootStartTag() != nil, reader.open("Header") else { return nil }
        return reader.requestIDLeaf("RequestID")
    }

    /// ``headerRequestID(canonical:)`` of a document whose root is `sr:Request`; `nil` when the root is anything
    /// else or the header is not in the plain shape (the caller then reads the tree).
    static func requestRequestID(canonical: UnsafeBufferPointer<UInt8>) -> RequestID? {
        var reader = ServiceRequest623FastReader(canonical, certificates: nil)
        guard let root = reader.rootStartTag(), reader.equal(root.local, "Request"), reader.open("Header") else { return nil }
        return reader.requestIDLeaf("RequestID")
    }

    private static let duis = Array(DUISNamespace.serviceUserGateway.utf8)

    // MARK: The document

    private mutating func request() -> ServiceRequest623? {
        guard let root = rootStartTag(), equal(root.local, "Request"),
            root.attributes.count == 1, equal(root.attributes[0].name, "schemaVersion"),
            let schemaVersion = decoded(root.attributes[0].value, attribute: true)
        else { return nil }

        // Header.
        guard open("Header") else { return nil }
        guard let requestID = requestIDLeaf("RequestID") else { return nil }
        var firstInSequence: Bool?
        if peek("FirstInSequence") {
            guard let text = leaf("FirstInSequence"), let value = Self.boolean(text) else { return nil }
            firstInSequence = value
        }
        var preceding: RequestID?
        if peek("PrecedingServiceRequestID") {
            guard let value = requestIDLeaf("PrecedingServiceRequestID") else { return nil }
            preceding = value
        }
        guard let cvText = leaf("CommandVariant"),
            let cvNumber = try? DUISDecimal.parseUnsigned(cvText, what: "CommandVariant", field: DUISPath.commandVariant,
                                                          allowLeadingZeros: false, maximum: UInt64(UInt8.max)),
            let commandVariant = CommandVariant(rawValue: UInt8(cvNumber)),
            leaf("ServiceReference") == ServiceRequest623.serviceReference,
            leaf("ServiceReferenceVariant") == ServiceRequest623.serviceReference,
            close()
        else { return nil }

        // Body.
        guard open("Body"), open("UpdateSecurityCredentialsCoS") else { return nil }
        var executionDateTime: ExecutionDateTime?
        if peek("ExecutionDateTime") {
            guard let text = leaf("ExecutionDateTime"), let value = try? ExecutionDateTime(parsing: text) else { return nil }
            executionDateTime = value
        }
        guard let floor = floorNumber("SupplierFloorSeqNumber") else { return nil }
        var topUpFloor: UInt64?
        if peek("SupplierPrepaymentTopUpFloorSeqNumber") {
            guard let value = floorNumber("SupplierPrepaymentTopUpFloorSeqNumber") else { return nil }
            topUpFloor = value
        }

        guard open("SupplierReplacementCertificates"), let ds = certificate("DigitalSigningCertificate") else { return nil }
        var ka: [UInt8]?
        if peek("KeyAgreementCertificate") {
            guard let value = certificate("KeyAgreementCertificate") else { return nil }
            ka = value
        }
        var topUp: [UInt8]?
        if peek("KeyAgreementTopUpCertificate") {
            guard let value = certificate("KeyAgreementTopUpCertificate") else { return nil }
            topUp = value
        }
        guard close(), open("CertificationPathCertificates") else { return nil }
        var path: [[UInt8]] = []
        while peek("Certificate") {
            guard path.count < UpdateSecurityCredentialsCoS.certificationPathCertificateCount.upperBound,
                let der = certificate("Certificate")
            else { return nil }
            path.append(der)
        }
        guard !path.isEmpty, close(),
            let cpvText = leaf("ApplyTimeBasedCPVChecks"), let cpv = Self.boolean(cpvText),
            let mpxn = leaf("ImportMPxN"),
            close(),  // UpdateSecurityCredentialsCoS
            close(),  // Body
            close(),  // Request
            i == c.count
        else { return nil }

        guard let replacement = try? SupplierReplacementCertificates(
                digitalSigningCertificate: ds, keyAgreementCertificate: ka, keyAgreementTopUpCertificate: topUp),
            let body = try? UpdateSecurityCredentialsCoS(
                executionDateTime: executionDateTime, supplierFloorSeqNumber: floor,
                supplierPrepaymentTopUpFloorSeqNumber: topUpFloor, supplierReplacementCertificates: replacement,
                certificationPathCertificates: path, applyTimeBasedCPVChecks: cpv, importMPxN: mpxn)
        else { return nil }
        return try? ServiceRequest623(requestID: requestID, commandVariant: commandVariant, firstInSequence: firstInSequence,
                                      precedingServiceRequestID: preceding, body: body, schemaVersion: schemaVersion)
    }

    // MARK: Values

    private mutating func floorNumber(_ local: StaticString) -> UInt64? {
        guard let text = leaf(local) else { return nil }
        return try? DUISDecimal.parseUnsigned(text, what: "the floor sequence number", field: "", allowLeadingZeros: false,
                                              maximum: UpdateSecurityCredentialsCoS.maximumFloorSequenceNumber)
    }

    /// A certificate element's base64 text, decoded (never empty).
    private mutating func certificate(_ local: StaticString) -> [UInt8]? {
        guard startTagNamed(local) else { return nil }
        let start = i
        i = find(UInt8(ascii: "<"), from: i)
        let text = UnsafeBufferPointer(rebasing: c[start..<i])
        guard endTag(local) else { return nil }
        if let der = certificates?.value(for: UnsafeRawBufferPointer(text)) { return der }
        // Base64 text has no references; anything else is left to the full path.
        guard find(UInt8(ascii: "&"), from: start, to: start + text.count) == start + text.count,
            let der = try? Base64.decode(utf8: text), !der.isEmpty
        else { return nil }
        certificates?.insert(der, for: Array(text))
        return der
    }

    /// A RequestID element's value (the text has no references: a RequestID has no character that needs one).
    private mutating func requestIDLeaf(_ local: StaticString) -> RequestID? {
        guard skipWhitespace(), startTagNamed(local) else { return nil }
        let start = i
        i = find(UInt8(ascii: "<"), from: i)
        let text = start..<i
        guard endTag(local) else { return nil }
        return RequestID.parse(utf8: UnsafeBufferPointer(rebasing: c[text]))
    }

    /// `xs:boolean` as ``DUISStructure/boolean(_:path:line:)`` reads it.
    private static func boolean(_ text: String) -> Bool? {
        switch text {
        case "true", "1": return true
        case "false", "0": return false
        default: return nil
        }
    }

    // MARK: Elements

    /// Skips white space between elements (element-only content: compaction may have left it, or the
    /// document is signed with its white space kept). Any other text gives `false`.
    private mutating func skipWhitespace() -> Bool {
        while i < c.count {
            switch c[i] {
            case 0x20, 0x09, 0x0A: i += 1
            case UInt8(ascii: "<"): return true
            default: return false
            }
        }
        return true
    }

    /// Whether the next element is `sr:local` (white space skipped; nothing consumed otherwise).
    private mutating func peek(_ local: StaticString) -> Bool {
        guard skipWhitespace(), i + 1 < c.count, c[i + 1] != UInt8(ascii: "/") else { return false }
        let saved = i
        defer { i = saved }
        return startTagNamed(local)
    }

    /// Opens element-only `sr:local`.
    private mutating func open(_ local: StaticString) -> Bool {
        skipWhitespace() && startTagNamed(local)
    }

    /// Closes the innermost open element-only element (white space skipped).
    private mutating func close() -> Bool {
        guard skipWhitespace(), i + 1 < c.count, c[i] == UInt8(ascii: "<"), c[i + 1] == UInt8(ascii: "/") else { return false }
        let end = find(UInt8(ascii: ">"), from: i + 2)
        guard end < c.count else { return false }
        i = end + 1
        return true
    }

    /// A simple-content element `sr:local` holding only text: its decoded value.
    private mutating func leaf(_ local: StaticString) -> String? {
        guard skipWhitespace(), startTagNamed(local) else { return nil }
        let start = i
        i = find(UInt8(ascii: "<"), from: i)
        let text = start..<i
        guard endTag(local) else { return nil }
        return decoded(text, attribute: false)
    }

    /// `</…:local>` right here (the canonical form closes every element with the name it opened with, so only
    /// the local name needs checking).
    private mutating func endTag(_ local: StaticString) -> Bool {
        guard i + 1 < c.count, c[i] == UInt8(ascii: "<"), c[i + 1] == UInt8(ascii: "/") else { return false }
        let nameStart = i + 2
        let k = find(UInt8(ascii: ">"), from: nameStart)
        // The name's last `local.count` bytes are `local` (which has no colon), preceded by nothing or a colon.
        let localStart = k - local.utf8CodeUnitCount
        guard k < c.count, localStart >= nameStart, localStart == nameStart || c[localStart - 1] == UInt8(ascii: ":"),
            equal(localStart..<k, local)
        else { return false }
        i = k + 1
        return true
    }

    /// A start tag of `sr:local` with no attributes and no namespace declarations: `<`, a prefix the root binds
    /// to the DUIS namespace and `:` (or nothing, when that is the default namespace), `local`, `>`. Exactly the
    /// tags a general start-tag reader would take as `sr:local` without attributes, matched without scanning the
    /// name. (Namespace declarations are accepted on the root only: any attribute here gives `false`.)
    private mutating func startTagNamed(_ local: StaticString) -> Bool {
        guard i < c.count, c[i] == UInt8(ascii: "<") else { return false }
        let nameStart = i + 1
        for prefix in duisPrefixes {
            let localStart = prefix.isEmpty ? nameStart : nameStart + prefix.count + 1
            let end = localStart + local.utf8CodeUnitCount
            guard end < c.count, c[end] == UInt8(ascii: ">"), equal(localStart..<end, local) else { continue }
            if prefix.isEmpty
                || (c[localStart - 1] == UInt8(ascii: ":") && equalRanges(nameStart..<(localStart - 1), prefix))
            {
                i = end + 1
                return true
            }
        }
        return false
    }

    private struct Binding {
        var prefix: Range<Int>
        var uri: Range<Int>
    }

    private struct Attribute {
        var name: Range<Int>
        var value: Range<Int>
    }

    private struct Tag {
        var local: Range<Int>
        var attributes: [Attribute]
    }

    /// The root's start tag in canonical form (`<qname( xmlns…="…")*( name="…")*>`), whose element must be in
    /// the DUIS namespace. Its namespace declarations (the only ones accepted) are bound here.
    private mutating func rootStartTag() -> Tag? {
        guard i < c.count, c[i] == UInt8(ascii: "<") else { return nil }
        i += 1
        let nameStart = i
        var colon = -1
        while i < c.count {
            let b = c[i]
            // Letters and `_` (most of a name) need no other test: every byte tested below is below `A`.
            if b >= UInt8(ascii: "A") {
                i += 1
                continue
            }
            if b == UInt8(ascii: " ") || b == UInt8(ascii: ">") { break }
            if b == UInt8(ascii: "?") || b == UInt8(ascii: "!") || b == UInt8(ascii: "/") { return nil }
            if b == UInt8(ascii: ":") {
                guard colon < 0 else { return nil }
                colon = i
            }
            i += 1
        }
        guard i < c.count, i > nameStart else { return nil }
        let prefix = colon < 0 ? nameStart..<nameStart : nameStart..<colon
        let local = colon < 0 ? nameStart..<i : (colon + 1)..<i
        var tag = Tag(local: local, attributes: [])
        while i < c.count, c[i] == UInt8(ascii: " ") {
            i += 1
            let attributeStart = i
            while i < c.count, c[i] != UInt8(ascii: "=") { i += 1 }
            let name = attributeStart..<i
            guard i + 1 < c.count, c[i + 1] == UInt8(ascii: "\"") else { return nil }
            i += 2
            let valueStart = i
            i = find(UInt8(ascii: "\""), from: i)
            guard i < c.count else { return nil }
            let value = valueStart..<i
            i += 1
            if equal(name, "xmlns") {
                bindings.append(Binding(prefix: name.upperBound..<name.upperBound, uri: value))
            } else if name.count > 6, equal(name.lowerBound..<(name.lowerBound + 6), "xmlns:") {
                bindings.append(Binding(prefix: (name.lowerBound + 6)..<name.upperBound, uri: value))
            } else {
                tag.attributes.append(Attribute(name: name, value: value))
            }
        }
        guard i < c.count, c[i] == UInt8(ascii: ">") else { return nil }
        i += 1
        // Declarations are on the root only (and never twice for one prefix on one element), so a prefix is in
        // the DUIS namespace exactly when the root binds it to the DUIS URI.
        duisPrefixes = bindings.filter { equal($0.uri, Self.duis) }.map(\.prefix)
        // The element's namespace must be the DUIS one.
        guard duisPrefixes.contains(where: { equalRanges($0, prefix) }) else { return nil }
        return tag
    }

    // MARK: Bytes

    /// The index of the first `byte` in `from..<to` (`to` defaults to the end), or `to` when there is none.
    private func find(_ byte: UInt8, from: Int, to end: Int? = nil) -> Int {
        let end = end ?? c.count
        guard from < end, let base = c.baseAddress, let hit = memchr(base + from, Int32(byte), end - from) else { return end }
        return UnsafePointer(hit.assumingMemoryBound(to: UInt8.self)) - base
    }

    private func equal(_ range: Range<Int>, _ literal: StaticString) -> Bool {
        guard range.count == literal.utf8CodeUnitCount, range.upperBound <= c.count, let base = c.baseAddress else { return false }
        return memcmp(base + range.lowerBound, literal.utf8Start, range.count) == 0
    }

    private func equal(_ range: Range<Int>, _ bytes: [UInt8]) -> Bool {
        guard range.count == bytes.count, range.upperBound <= c.count, let base = c.baseAddress else { return false }
        return bytes.withUnsafeBufferPointer { other in
            guard let start = other.baseAddress else { return range.isEmpty }
            return memcmp(base + range.lowerBound, start, range.count) == 0
        }
    }

    private func equalRanges(_ a: Range<Int>, _ b: Range<Int>) -> Bool {
        guard a.count == b.count, a.upperBound <= c.count, b.upperBound <= c.count, let base = c.baseAddress else { return false }
        return a.isEmpty || memcmp(base + a.lowerBound, base + b.lowerBound, a.count) == 0
    }

    /// Canonical text or attribute value with its references decoded (`&amp; &lt; &gt; &quot; &#x9; &#xA;
    /// &#xD;`, the only ones C14N writes); `nil` for anything else.
    private func decoded(_ range: Range<Int>, attribute: Bool) -> String? {
        var k = range.lowerBound
        guard find(UInt8(ascii: "&"), from: range.lowerBound, to: range.upperBound) < range.upperBound else {
            return String(decoding: UnsafeBufferPointer(rebasing: c[range]), as: UTF8.self)
        }
        var bytes = [UInt8]()
        bytes.reserveCapacity(range.count)
        while k < range.upperBound {
            let b = c[k]
            guard b == UInt8(ascii: "&") else {
                bytes.append(b)
                k += 1
                continue
            }
            var end = k
            while end < range.upperBound, c[end] != UInt8(ascii: ";") { end += 1 }
            guard end < range.upperBound else { return nil }
            let reference = (k + 1)..<end
            if equal(reference, "amp") {
                bytes.append(UInt8(ascii: "&"))
            } else if equal(reference, "lt") {
                bytes.append(UInt8(ascii: "<"))
            } else if equal(reference, "gt") && !attribute {
                bytes.append(UInt8(ascii: ">"))
            } else if equal(reference, "quot") && attribute {
                bytes.append(UInt8(ascii: "\""))
            } else if equal(reference, "#xD") {
                bytes.append(0x0D)
            } else if equal(reference, "#x9") && attribute {
                bytes.append(0x09)
            } else if equal(reference, "#xA") && attribute {
                bytes.append(0x0A)
            } else {
                return nil
            }
            k = end + 1
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
