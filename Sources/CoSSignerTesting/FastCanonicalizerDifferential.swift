import CoSSigner
/// The proof obligation of ``FastCanonicalizer``: for any input, in each mode, it either declines (`nil`) or gives
/// exactly the octets of the libxml2 path. Used by the differential tests (`swift test`) and by
/// `cos-signer bench c14n-diff` (the full corpus in `Scripts/bench`). Not part of the product's API.
public enum CanonicalizerDifferential {
    /// The outcome of comparing a set of documents.
    public struct Report: Sendable {
        /// Documents compared.
        public var documents = 0
        /// Comparisons made (documents × modes).
        public var comparisons = 0
        /// Comparisons the fast path handled (the rest fell back to libxml2).
        public var fastHandled = 0
        /// Comparisons where libxml2 refused the document (the fast path must then decline too).
        public var referenceRefused = 0
        /// One line per difference (empty when the fast path is correct).
        public var differences: [String] = []

        public var summary: String {
            "c14n differential: \(documents) documents, \(comparisons) comparisons, \(fastHandled) on the fast path, "
                + "\(comparisons - fastHandled) fell back (\(referenceRefused) refused by libxml2), \(differences.count) differences"
        }
    }

    /// Compares `files` and `generated` documents from the corpus generator (seeded).
    public static func run(files: [(name: String, bytes: [UInt8])], generated: Int, seed: UInt64) -> Report {
        var report = Report()
        for file in files { compare(file.bytes, name: file.name, into: &report) }
        var generator = DifferentialCorpus(seed: seed)
        for index in 0..<generated {
            compare(generator.next(), name: "generated #\(index) (seed \(seed))", into: &report)
        }
        return report
    }

    /// Compares one document in the three modes (signing compact, signing keeping whitespace, verifying).
    public static func compare(_ bytes: [UInt8], name: String, into report: inout Report) {
        report.documents += 1
        for mode in ["sign-compact", "sign-keep", "verify"] {
            report.comparisons += 1
            let fast: FastCanonicalizer.Result?
            let reference: [UInt8]?
            switch mode {
            case "sign-compact":
                fast = FastCanonicalizer.canonicalize(bytes, mode: .signing(compact: true), limits: .default)
                reference = referenceSigning(bytes, compact: true)
            case "sign-keep":
                fast = FastCanonicalizer.canonicalize(bytes, mode: .signing(compact: false), limits: .default)
                reference = referenceSigning(bytes, compact: false)
            default:
                fast = FastCanonicalizer.canonicalize(bytes, mode: .verifying, limits: .default)
                reference = referenceVerifying(bytes)
            }
            if reference == nil { report.referenceRefused += 1 }
            guard let fast else { continue }
            report.fastHandled += 1
            guard let reference else {
                report.differences.append("\(name) [\(mode)]: the fast path accepted a document the libxml2 path refuses: \(excerpt(bytes))")
                continue
            }
            if fast.bytes != reference {
                report.differences.append("\(name) [\(mode)]: output differs at byte \(firstDifference(fast.bytes, reference)): fast \(excerpt(fast.bytes, around: firstDifference(fast.bytes, reference))) libxml2 \(excerpt(reference, around: firstDifference(fast.bytes, reference))); input \(excerpt(bytes))")
            } else if mode == "verify", let range = fast.signatureRange {
                // The Signature's bytes must be exactly one element, a `ds:Signature`.
                let slice = Array(bytes[range])
                if slice.first != UInt8(ascii: "<") || slice.last != UInt8(ascii: ">") {
                    report.differences.append("\(name) [verify]: the Signature range \(range) is not an element")
                }
            }
        }
    }

    /// The libxml2 path of the signer: parse, remove the root-level `ds:Signature` (refuse any other), compact,
    /// inclusive C14N, and the root's end tag last. `nil` when it refuses.
    static func referenceSigning(_ bytes: [UInt8], compact: Bool) -> [UInt8]? {
        guard let document = try? XMLDocument(parsing: bytes) else { return nil }
        let root = document.root
        let signatures = document.elements(namespaceURI: DUISSignatureProfile.namespace, localName: "Signature")
        for signature in signatures {
            guard let parent = signature.parent, parent.isSameNode(as: root) else { return nil }
        }
        for signature in signatures { document.remove(signature) }
        if compact { document.removeWhitespaceBetweenElements() }
        guard let canonical = try? document.inclusiveCanonicalForm() else { return nil }
        let qualifiedName = root.prefix.map { "\($0):\(root.localName)" } ?? root.localName
        guard canonical.suffix(qualifiedName.utf8.count + 3).elementsEqual(Array("</\(qualifiedName)>".utf8)) else { return nil }
        return canonical
    }

    /// The libxml2 path of the verifier: exactly one `ds:Signature`, the root's last child element; inclusive
    /// C14N without it. `nil` when the document does not have that shape.
    static func referenceVerifying(_ bytes: [UInt8]) -> [UInt8]? {
        guard let document = try? XMLDocument(parsing: bytes) else { return nil }
        let signatures = document.elements(namespaceURI: DUISSignatureProfile.namespace, localName: "Signature")
        guard signatures.count == 1, let signature = signatures.first else { return nil }
        let root = document.root
        guard let parent = signature.parent, parent.isSameNode(as: root),
            let last = root.elementChildren.last, last.isSameNode(as: signature)
        else { return nil }
        return try? document.inclusiveCanonicalForm(excluding: signature)
    }

    private static func firstDifference(_ a: [UInt8], _ b: [UInt8]) -> Int {
        var k = 0
        while k < a.count, k < b.count, a[k] == b[k] { k += 1 }
        return k
    }

    private static func excerpt(_ bytes: [UInt8], around center: Int? = nil) -> String {
        let start = max(0, (center ?? 0) - 40)
        let end = min(bytes.count, start + (center == nil ? 400 : 80))
        let text = String(decoding: bytes[start..<end], as: UTF8.self)
        var escaped = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": escaped += "\\n"
            case "\r": escaped += "\\r"
            case "\t": escaped += "\\t"
            default:
                if scalar.value < 0x20 { escaped += "\\u{\(String(scalar.value, radix: 16))}" } else { escaped.unicodeScalars.append(scalar) }
            }
        }
        return "'" + escaped + "'"
    }
}

/// Random XML documents that exercise the corners of Canonical XML: attribute orders, namespace declarations
/// and redeclarations, entities and character references in text and attributes, CDATA, comments, processing
/// instructions, CRLF, non-ASCII UTF-8, empty elements, whitespace between elements, `ds:Signature`
/// placeholders — and, for a share of them, small corruptions (the fast path must then decline or agree).
package struct DifferentialCorpus {
    private var state: UInt64
    /// Whether the document being made ends with a root-level ds:Signature (and has no other).
    private var signatureLast = false

    package init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }

    /// SplitMix64.
    private mutating func random() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    private mutating func below(_ n: Int) -> Int { Int(random() % UInt64(max(n, 1))) }
    private mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
    private mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }

    static let uris = [
        "http://www.dccinterface.co.uk/ServiceUserGateway", "http://www.w3.org/2000/09/xmldsig#",
        "http://www.w3.org/2001/XMLSchema-instance", "urn:example:a", "urn:example:b", "http://example.com/x?y=1;z#f",
        "relative/uri", "http://example.com/%41", "http://exämple.com/", "", "http://example.com:8080/a", "http://ex:/a",
        "http://a#b#c", "mailto:a@b", "x:", "http:///a", "urn:a?b",
    ]
    static let prefixes = ["sr", "ds", "xsi", "a", "b", "ns1", "Z"]
    static let names = ["Request", "Header", "Body", "RequestID", "a", "b", "Item", "x-y", "z.w", "_u", "Cert"]
    static let textPieces = [
        "hello", "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1000", " ", "  ", "\n", "\r\n", "\r", "\t",
        "&lt;", "&gt;", "&amp;", "&quot;", "&apos;", "&#13;", "&#xD;", "&#10;", "&#9;", "&#x20;", "&#233;", "&#x1F600;",
        "&#60;", "é", "漢字", "😀", ">", "]]", "]", "'", "\"", "MIIBkzCCATmgAwIBAgIQ", "=", "\u{7F}", "\u{85}", "a]]b",
    ]
    /// Pieces that make a document malformed (used rarely).
    static let badTextPieces = ["&#0;", "&bogus;", "]]>", "&#xD800;", "&#xFFFE;", "\u{1}", "&", "&#x110000;", "\u{FFFE}"]
    static let attributeValuePieces = [
        "v", "1.0", " ", "\t", "\n", "\r\n", "\r", "&lt;", "&gt;", "&amp;", "&quot;", "&apos;", "&#13;", "&#10;", "&#9;",
        "&#x20;", "é", "😀", ">", "'", "x y", "http://example.com/",
    ]

    /// The next document.
    package mutating func next() -> [UInt8] {
        var out = ""
        if chance(70) {
            out += pick([
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>", "<?xml version=\"1.0\"?>", "<?xml version='1.0' encoding='utf-8' standalone='yes'?>",
                "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>", "<?xml  version = \"1.0\"  encoding = \"UTF-8\"?>",
            ] + (chance(5) ? ["<?xml version=\"1.1\"?>", "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>", "<?xml version=\"1.0\"standalone='no'?>"] : []))
            if chance(50) { out += pick(["\n", "\r\n", ""]) }
        }
        if chance(20) { out += pick(["<!-- prolog -->", "<?pi data?>", "<?pi?>", "\n<!--a-->\n", "<?target  some  data ?>\n"]) }
        var scopes: [[String: String]] = [[:]]
        signatureLast = chance(45)
        element(&out, depth: 0, scopes: &scopes, isRoot: true)
        if chance(20) { out += pick(["\n", "<!-- epilog -->", "\n<!--x-->\n", "<?pi after?>", " "]) }
        var bytes = Array(out.utf8)
        if chance(15) { mutate(&bytes) }
        return bytes
    }

    private mutating func qualified(_ scopes: [[String: String]], prefixes available: [String]) -> String {
        let local = pick(Self.names)
        if !available.isEmpty, chance(70) { return pick(available) + ":" + local }
        if chance(1) { return pick(Self.prefixes) + ":" + local }  // maybe unbound
        return local
    }

    private mutating func element(_ out: inout String, depth: Int, scopes: inout [[String: String]], isRoot: Bool) {
        var declarations: [(String, String)] = []
        var scope = scopes.last ?? [:]
        let declarationCount = isRoot ? 1 + below(4) : (chance(25) ? 1 + below(2) : 0)
        for _ in 0..<declarationCount {
            let prefix = chance(25) ? "" : pick(Self.prefixes)
            var uri = chance(95) ? pick(Array(Self.uris.prefix(6))) : pick(Self.uris)
            if !prefix.isEmpty && uri.isEmpty { uri = Self.uris[0] }
            if declarations.contains(where: { $0.0 == prefix }) && !chance(5) { continue }
            declarations.append((prefix, uri))
            scope[prefix] = uri
        }
        let bound = scope.keys.filter { !$0.isEmpty && !(scope[$0] ?? "").isEmpty }.sorted()
        let isSignature = !isRoot && depth == 1 && !signatureLast && chance(12)
        let name: String
        if isSignature {
            if scope["ds"] != Self.uris[1] {
                declarations.append(("ds", Self.uris[1]))
                scope["ds"] = Self.uris[1]
            }
            name = "ds:Signature"
        } else if !isRoot && depth >= 2 && chance(2) {
            if scope["ds"] != Self.uris[1] {
                declarations.append(("ds", Self.uris[1]))
                scope["ds"] = Self.uris[1]
            }
            name = "ds:Signature"  // misplaced
        } else {
            name = qualified(scopes, prefixes: bound)
        }
        out += "<" + name
        var attributes: [String] = []
        for (prefix, uri) in declarations {
            attributes.append((prefix.isEmpty ? "xmlns" : "xmlns:" + prefix) + "=\"" + uri + "\"")
        }
        let attributeCount = chance(50) ? below(5) : 0
        var used: Set<String> = []
        for _ in 0..<attributeCount {
            var attributeName = pick(["id", "schemaVersion", "b", "a", "Z", "attr-x", "c.d"])
            let boundNow = scope.keys.filter { !$0.isEmpty && !(scope[$0] ?? "").isEmpty }.sorted()
            if !boundNow.isEmpty, chance(30) { attributeName = pick(boundNow) + ":" + attributeName }
            if chance(1) { attributeName = "xml:lang" }
            if used.contains(attributeName) && !chance(5) { continue }
            used.insert(attributeName)
            var value = ""
            for _ in 0..<below(4) { value += pick(Self.attributeValuePieces) }
            let quote = chance(80) ? "\"" : "'"
            if quote == "'" { value = value.replacingAll("'", with: "\"") } else { value = value.replacingAll("\"", with: "'") }
            attributes.append(attributeName + "=" + quote + value + quote)
        }
        // Random order of declarations and attributes.
        for k in stride(from: attributes.count - 1, to: 0, by: -1) { attributes.swapAt(k, below(k + 1)) }
        for attribute in attributes { out += pick([" ", "  ", "\n ", "\t", "\r\n"]) + attribute }
        if chance(10) { out += pick([" ", "\n"]) }
        scopes.append(scope)
        defer { scopes.removeLast() }
        let childCount = depth >= 5 ? 0 : (isRoot ? 1 + below(5) : below(4))
        if childCount == 0 && chance(50) {
            out += chance(80) ? "/>" : " />"
            return
        }
        out += ">"
        let pretty = chance(40)
        for child in 0..<childCount {
            if pretty { out += "\n" + String(repeating: " ", count: depth * 2 + 2) }
            switch below(10) {
            case 0, 1, 2, 3, 4:
                element(&out, depth: depth + 1, scopes: &scopes, isRoot: false)
            case 5, 6:
                for _ in 0..<(1 + below(4)) { out += chance(2) ? pick(Self.badTextPieces) : pick(Self.textPieces) }
            case 7:
                out += pick(["<!-- comment -->", "<!---->", "<!-- a - b -->", "<!-- -- -->", "<!--\r\n-->"])
            case 8:
                out += pick(["<![CDATA[ <&> ]]>", "<![CDATA[]]>", "<![CDATA[ ]]>", "<![CDATA[a]b]]c]]>", "<![CDATA[\r\nx\r]]>"])
            default:
                out += pick(["<?pi?>", "<?pi data?>", "<?pi  x\r\ny ?>", "<?xml-stylesheet href='a'?>", "<?pi2 a?b>c ?>"] + (chance(5) ? ["<?a:b c?>", "<?XML x?>", "<?xml x?>"] : []))
            }
            _ = child
        }
        if isRoot && signatureLast {
            if pretty { out += "\n  " }
            signatureLast = false
            let declare = scope["ds"] == Self.uris[1] && chance(50) ? "" : " xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\""
            out += pick([
                "<ds:Signature\(declare)><ds:SignedInfo><ds:Reference URI=\"\"/></ds:SignedInfo><ds:SignatureValue>AAAA\r\nBBBB</ds:SignatureValue></ds:Signature>",
                "<ds:Signature\(declare)/>",
                "<ds:Signature\(declare)>\n  <!-- placeholder -->\n  <ds:SignedInfo a='1'>&lt;<![CDATA[x]]></ds:SignedInfo>\n</ds:Signature >",
            ])
            if chance(10) { out += "<late/>" }
        }
        if pretty { out += "\n" + String(repeating: " ", count: depth * 2) }
        if chance(30) { out += pick(Self.textPieces) }
        out += "</" + name + (chance(5) ? " " : "") + ">"
    }

    private mutating func mutate(_ bytes: inout [UInt8]) {
        let specials: [UInt8] = Array("<>&\"'/=:;!?[]- \r\n\t#x".utf8) + [0x01, 0x0B, 0xC3, 0xEF, 0xBF]
        for _ in 0..<(1 + below(3)) {
            guard !bytes.isEmpty else { return }
            let at = below(bytes.count)
            switch below(4) {
            case 0: bytes.remove(at: at)
            case 1: bytes.insert(pick(specials), at: at)
            case 2: bytes[at] = pick(specials)
            default:
                let length = min(bytes.count - at, 1 + below(12))
                bytes.insert(contentsOf: Array(bytes[at..<(at + length)]), at: at)
            }
        }
    }
}

extension String {
    fileprivate func replacingAll(_ target: Character, with replacement: Character) -> String {
        String(map { $0 == target ? replacement : $0 })
    }
}
