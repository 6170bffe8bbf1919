import CoSSigner
import Foundation

/// Building blocks for the kit's forged and re-signed documents: raw `ds:Signature` elements with
/// any algorithms, transforms, references and KeyInfo, signed (RFC 6979) over exactly the
/// SignedInfo they carry, so a generic XML-DSig verifier finds them consistent while the DUIS
/// profile refuses them.
struct KitSignature {
    struct Reference {
        var uri = ""
        var transforms = [DUISSignatureProfile.envelopedSignatureTransform]
        var digestMethod = DUISSignatureProfile.digestMethod
        var digestValue: String
    }

    /// `ds:` (declared on the Signature element) or the default namespace when nil.
    var prefix: String? = "ds"
    var canonicalizationMethod = DUISSignatureProfile.canonicalizationMethod
    var signatureMethod = DUISSignatureProfile.signatureMethod
    var references: [Reference]
    /// The KeyInfo element as written (nil: no KeyInfo).
    var keyInfo: String?

    init(digestValue: String, keyInfo: String?) {
        references = [Reference(digestValue: digestValue)]
        self.keyInfo = keyInfo
    }

    private func name(_ local: String) -> String { prefix.map { "\($0):\(local)" } ?? local }

    private var namespaceDeclaration: String {
        prefix.map { " xmlns:\($0)=\"\(DUISSignatureProfile.namespace)\"" } ?? " xmlns=\"\(DUISSignatureProfile.namespace)\""
    }

    /// The children of SignedInfo, already in canonical form.
    var signedInfoContent: String {
        var text = "<\(name("CanonicalizationMethod")) Algorithm=\"\(canonicalizationMethod)\"></\(name("CanonicalizationMethod"))>"
        text += "<\(name("SignatureMethod")) Algorithm=\"\(signatureMethod)\"></\(name("SignatureMethod"))>"
        for reference in references {
            text += "<\(name("Reference")) URI=\"\(reference.uri)\"><\(name("Transforms"))>"
            for transform in reference.transforms {
                text += "<\(name("Transform")) Algorithm=\"\(transform)\"></\(name("Transform"))>"
            }
            text += "</\(name("Transforms"))><\(name("DigestMethod")) Algorithm=\"\(reference.digestMethod)\"></\(name("DigestMethod"))>"
            text += "<\(name("DigestValue"))>\(reference.digestValue)</\(name("DigestValue"))></\(name("Reference"))>"
        }
        return text
    }

    /// The exclusive canonical form of SignedInfo (what ECDSA signs).
    var canonicalSignedInfo: [UInt8] {
        Array("<\(name("SignedInfo"))\(namespaceDeclaration)>\(signedInfoContent)</\(name("SignedInfo"))>".utf8)
    }

    /// The Signature element with the given SignatureValue text.
    func element(signatureValue: String) -> String {
        "<\(name("Signature"))\(namespaceDeclaration)><\(name("SignedInfo"))>\(signedInfoContent)</\(name("SignedInfo"))>"
            + "<\(name("SignatureValue"))>\(signatureValue)</\(name("SignatureValue"))>\(keyInfo ?? "")</\(name("Signature"))>"
    }

    /// The deterministic ECDSA signature over ``canonicalSignedInfo``.
    func sign(with key: SigningKey) throws -> ECDSASignature {
        try key.deterministicSignature(for: canonicalSignedInfo)
    }

    /// The Signature element signed with `key`, its value encoded by `encode` (raw r||s by default).
    func signedElement(key: SigningKey, encode: (ECDSASignature) -> [UInt8] = { $0.rawRepresentation }) throws -> String {
        element(signatureValue: Base64.encode(encode(try sign(with: key))))
    }

    /// `ds:KeyInfo/ds:X509Data/ds:X509IssuerSerial` as the profile writes it.
    static func keyInfo(issuer: String, serial: String) -> String {
        "<ds:KeyInfo><ds:X509Data><ds:X509IssuerSerial><ds:X509IssuerName>\(XMLText.escape(issuer))</ds:X509IssuerName>"
            + "<ds:X509SerialNumber>\(serial)</ds:X509SerialNumber></ds:X509IssuerSerial></ds:X509Data></ds:KeyInfo>"
    }

    static func keyInfo(_ certificate: Certificate) -> String {
        keyInfo(issuer: certificate.issuer.rfc2253, serial: certificate.serialNumber.decimal)
    }
}

/// Text surgery on signed documents (all ASCII markup written by this library).
enum KitText {
    /// `text` with the first occurrence of `target` replaced; throws if it is absent.
    static func replacingFirst(_ target: String, with replacement: String, in text: String) throws -> String {
        guard let range = text.range(of: target) else {
            throw KitError(path: "(kit maker)", reason: "the text to replace was not found: \(target.prefix(80))", failureClass: .input)
        }
        return text.replacingCharacters(in: range, with: replacement)
    }

    /// The `ds:Signature` element of a document written by ``DUISSigner``, and the document without it.
    static func splitSignature(_ text: String) throws -> (signature: String, unsigned: String) {
        guard let start = text.range(of: "<ds:Signature "), let end = text.range(of: "</ds:Signature>") else {
            throw KitError(path: "(kit maker)", reason: "no ds:Signature in a signed document", failureClass: .input)
        }
        let signature = String(text[start.lowerBound..<end.upperBound])
        var unsigned = text
        unsigned.removeSubrange(start.lowerBound..<end.upperBound)
        return (signature, unsigned)
    }

    /// The text between `open` and `close` (first occurrence).
    static func between(_ open: String, _ close: String, in text: String) throws -> String {
        guard let a = text.range(of: open), let b = text.range(of: close, range: a.upperBound..<text.endIndex) else {
            throw KitError(path: "(kit maker)", reason: "\(open)…\(close) not found", failureClass: .input)
        }
        return String(text[a.upperBound..<b.lowerBound])
    }

    /// Indents a compact document written by ``ServiceRequest623/xmlBytes()`` (elements and leaf
    /// text only): two spaces per level, leaf elements on one line, LF line ends.
    static func indent(_ compact: String) -> String {
        var tokens: [Substring] = []
        var i = compact.startIndex
        while i < compact.endIndex {
            if compact[i] == "<" {
                let end = compact[i...].firstIndex(of: ">").map { compact.index(after: $0) } ?? compact.endIndex
                tokens.append(compact[i..<end])
                i = end
            } else {
                let end = compact[i...].firstIndex(of: "<") ?? compact.endIndex
                tokens.append(compact[i..<end])
                i = end
            }
        }
        var out = ""
        var depth = 0
        var k = 0
        func pad() -> String { String(repeating: "  ", count: depth) }
        while k < tokens.count {
            let t = tokens[k]
            if t.hasPrefix("<?") && depth == 0 {
                out += t + "\n"
            } else if t.hasPrefix("<!--") || t.hasPrefix("<?") {
                out += pad() + t + "\n"
            } else if t.hasPrefix("</") {
                depth -= 1
                out += pad() + t + "\n"
            } else if t.hasPrefix("<") {
                if k + 2 < tokens.count, !tokens[k + 1].hasPrefix("<"), tokens[k + 2].hasPrefix("</") {
                    out += pad() + t + tokens[k + 1] + tokens[k + 2] + "\n"
                    k += 3
                    continue
                }
                if k + 1 < tokens.count, tokens[k + 1].hasPrefix("</") {
                    out += pad() + t + tokens[k + 1] + "\n"
                    k += 2
                    continue
                }
                out += pad() + t + "\n"
                depth += 1
            } else if !t.allSatisfy({ $0 == "\n" || $0 == " " }) {
                out += pad() + t + "\n"
            }
            k += 1
        }
        return out
    }
}

/// P-256 group order arithmetic for the high-S / low-S cases.
enum KitP256 {
    /// n, big-endian.
    static let order: [UInt8] = [
        0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51,
    ]

    /// n - s for a 32-byte big-endian s (0 < s < n).
    static func negate(_ s: [UInt8]) -> [UInt8] {
        var result = [UInt8](repeating: 0, count: 32)
        var borrow = 0
        for i in stride(from: 31, through: 0, by: -1) {
            var d = Int(order[i]) - Int(s[i]) - borrow
            borrow = d < 0 ? 1 : 0
            if d < 0 { d += 256 }
            result[i] = UInt8(d)
        }
        return result
    }
}
