import Foundation

/// Why a signature that failed most likely failed, and what would fix it: one finding of
/// `cos-signer verify --explain`.
///
/// Diagnoses run only after a document was found invalid, never on the valid path. Each one reconstructs what
/// the signer or a later step probably did (a compact or indented form of the document, another
/// canonicalization, another SignatureValue encoding, another given certificate) and reports it only when that
/// reconstruction matches the signature's DigestValue or verifies its SignatureValue; the most likely come first.
public struct SignatureDiagnosis: Sendable, Equatable, Codable {
    /// The stable codes. Their raw values are part of the CLI's output (`verify --explain`, `--json`) and of the
    /// conformance kit: they never change meaning.
    public enum Code: String, Sendable, CaseIterable, Codable {
        /// The document was reformatted after signing: its compact form (whitespace-only text between elements
        /// removed, as DCC's tool signs and reads) verifies.
        case reformattedAfterSigning = "reformatted-after-signing"
        /// Other whitespace between elements changed: an indented layout of the document matches DigestValue.
        case whitespaceChanged = "whitespace-changed"
        /// DigestValue is the digest of the document's exclusive canonical form: the signer used exclusive
        /// C14N for the Reference, where the enveloped Reference needs inclusive C14N 1.0.
        case exclusiveC14NDigest = "exclusive-c14n-digest"
        /// DigestValue covers the document's comments: the signer canonicalized with comments.
        case commentsInDigest = "comments-in-digest"
        /// SignatureValue is DER `SEQUENCE { r, s }` instead of the raw 64-byte `r || s`.
        case derSignatureValue = "der-signature-value"
        /// SignatureValue is 65 or 66 bytes, r and s written as 33-byte integers with a leading zero (as some
        /// Java signers do); the fixed 64-byte `r || s` verifies.
        case javaLengthSignatureValue = "java-length-signature-value"
        /// KeyInfo names another certificate than the given one whose key verifies the signature.
        case wrongCertificate = "wrong-certificate"
        /// The signature verifies, but the certificate belongs to another entity than the request's Business
        /// Originator (a request is signed with its originator's own XML signing certificate).
        case originatorNotSigner = "originator-not-signer"
        /// The signature verifies, but the certificate is not valid at the verification time (`verify --at`, default
        /// now).
        case certificateExpired = "certificate-expired"
        /// None of the above: the signed content (or SignedInfo) was altered after signing.
        case contentChanged = "content-changed"
    }

    /// The code.
    public let code: Code
    /// What was found, in words (names the certificate, the form or the encoding concerned).
    public let detail: String
    /// A one-line fix.
    public let fix: String

    /// A diagnosis.
    public init(code: Code, detail: String, fix: String) {
        self.code = code
        self.detail = detail
        self.fix = fix
    }
}

/// The diagnosis engine: an ordered list of small functions, each looking at one known cause, run over a
/// ``SignatureDiagnosisContext`` that computes (and remembers) the reconstructions they share. Adding a diagnosis
/// is adding one function to ``ordered``, at the place its likelihood gives it.
enum SignatureDiagnostics {
    /// One diagnosis: the finding when its cause applies, else `nil`. It may read the findings of the diagnoses
    /// before it (``SignatureDiagnosisContext/found``).
    typealias Diagnosis = @Sendable (SignatureDiagnosisContext) -> SignatureDiagnosis?

    /// Every diagnosis of a signature that does not verify, most likely first. `originator-not-signer` and
    /// `certificate-expired` explain signatures that do verify but whose signer is not acceptable: ``RequestVerifier``
    /// gives them with its own failures.
    static let ordered: [Diagnosis] = [
        reformattedAfterSigning,
        whitespaceChanged,
        exclusiveC14NDigest,
        commentsInDigest,
        derSignatureValue,
        javaLengthSignatureValue,
        wrongCertificate,
        contentChanged,
    ]

    /// The parts of a failure the diagnoses explain (a missing signature, an unsigned acknowledgement or a
    /// profile violation is explained by its reason alone).
    static let explainedParts: Set<SignatureInvalid.Part> = [.keyInfo, .referenceDigest, .signatureValue]

    /// Runs every diagnosis over `bytes`, which `verifier` found invalid with `failure`.
    static func diagnose(_ bytes: [UInt8], failure: SignatureInvalid, verifier: DUISVerifier) -> [SignatureDiagnosis] {
        guard explainedParts.contains(failure.part),
            let context = SignatureDiagnosisContext(bytes, failure: failure, verifier: verifier)
        else { return [] }
        for diagnosis in ordered {
            if let found = diagnosis(context) { context.found.append(found) }
        }
        return context.found
    }

    // MARK: - The diagnoses

    static func reformattedAfterSigning(_ c: SignatureDiagnosisContext) -> SignatureDiagnosis? {
        let contentReformatted = !c.contentMatches(.asIs) && c.contentMatches(.compact)
        let signedInfoReformatted = c.contentMatches(.asIs) && c.signer?.layout == .compact
            && c.signedInfoOctets(.asIs) != c.signedInfoOctets(.compact)
        guard contentReformatted || signedInfoReformatted else { return nil }
        var detail = contentReformatted
            ? "the whitespace between elements differs from what was signed: with the whitespace-only text between elements removed (the compact form DCC's tool signs and reads) the document digests to DigestValue"
            : "ds:SignedInfo was reformatted after signing: its compact form is what was signed"
        detail += c.signerClause(prefix: "; that compact form verifies")
        return SignatureDiagnosis(code: .reformattedAfterSigning, detail: detail,
                                  fix: "send the signed document exactly as signed (compact, one line): never pretty-print or re-indent signed XML; re-sign after any change")
    }

    static func whitespaceChanged(_ c: SignatureDiagnosisContext) -> SignatureDiagnosis? {
        guard !c.has(.reformattedAfterSigning) else { return nil }
        for unit in SignatureDiagnosisContext.indentUnits {
            let layout = SignatureDiagnosisContext.Layout.indented(unit)
            let content = !c.contentMatches(.asIs) && c.contentMatches(layout)
            let signedInfo = c.contentMatches(.asIs) && c.signer?.layout == layout
            guard content || signedInfo else { continue }
            let what = content ? "the document" : "ds:SignedInfo"
            let detail = "the whitespace between elements changed after signing: \(what) was signed indented with \(SignatureDiagnosisContext.describe(unit: unit)) per level (that layout digests to DigestValue\(signedInfo ? " and verifies" : ""); the document as given does not)"
                + c.signerClause(prefix: "; with that layout the signature verifies")
            return SignatureDiagnosis(code: .whitespaceChanged, detail: detail,
                                      fix: "keep a signed document's bytes as they are, whitespace included (it is signed content); re-sign after reformatting")
        }
        return nil
    }

    static func exclusiveC14NDigest(_ c: SignatureDiagnosisContext) -> SignatureDiagnosis? {
        guard !c.contentMatches(.asIs) else { return nil }
        for layout in [SignatureDiagnosisContext.Layout.asIs, .compact]
        where c.contentMatches(layout, exclusive: true) && c.contentDigest(layout, exclusive: true) != c.contentDigest(layout) {
            let form = layout == .asIs ? "the document" : "the document's compact form"
            return SignatureDiagnosis(
                code: .exclusiveC14NDigest,
                detail: "DigestValue is the SHA-256 of the exclusive canonical form of \(form): the signer canonicalized the Reference with exclusive C14N (SignedInfo's CanonicalizationMethod), but a Reference URI=\"\" with only the enveloped-signature transform is digested as inclusive C14N 1.0, which keeps the root's namespace declarations (xmlns:ds, xmlns:xsi…)",
                fix: "fix the signer to digest the inclusive Canonical XML 1.0 (without comments) of the document without its Signature, as DCC's tool and xmlsec1 do, then re-sign")
        }
        return nil
    }

    static func commentsInDigest(_ c: SignatureDiagnosisContext) -> SignatureDiagnosis? {
        guard !c.contentMatches(.asIs) else { return nil }
        for layout in [SignatureDiagnosisContext.Layout.asIs, .compact]
        where c.contentMatches(layout, withComments: true) && c.contentDigest(layout, withComments: true) != c.contentDigest(layout) {
            return SignatureDiagnosis(
                code: .commentsInDigest,
                detail: "DigestValue covers the document's comments: the signer canonicalized \(layout == .asIs ? "it" : "its compact form") with comments, but the enveloped Reference is digested as Canonical XML without comments",
                fix: "fix the signer to digest Canonical XML without comments (or remove the comments before signing), then re-sign")
        }
        return nil
    }

    static func derSignatureValue(_ c: SignatureDiagnosisContext) -> SignatureDiagnosis? {
        guard let value = c.signatureValue, value.count != 64, (try? ECDSASignature(derRepresentation: value)) != nil else { return nil }
        let verifies = c.signer?.reading == .der
        return SignatureDiagnosis(
            code: .derSignatureValue,
            detail: "SignatureValue is a DER SEQUENCE { r, s } of \(value.count) bytes; the DUIS profile (XML-DSig ECDSA) requires the raw r||s, 64 bytes"
                + (verifies ? c.signerClause(prefix: "; as raw r||s it verifies") : "; even as raw r||s it does not verify with any given certificate"),
            fix: "encode SignatureValue as base64 of r||s, each left-padded to 32 bytes (Java: SHA256withECDSAinP1363Format; OpenSSL: ECDSA_SIG_get0, not the DER of EVP_DigestSign), then re-sign")
    }

    static func javaLengthSignatureValue(_ c: SignatureDiagnosisContext) -> SignatureDiagnosis? {
        guard let value = c.signatureValue, JavaLengthSignature.normalize(value) != nil else { return nil }
        let verifies = c.signer?.reading == .javaLength
        return SignatureDiagnosis(
            code: .javaLengthSignatureValue,
            detail: "SignatureValue is \(value.count) bytes: r and s written as 33-byte integers with a leading zero (as some Java signers do); the profile requires exactly 64 bytes"
                + (verifies ? c.signerClause(prefix: "; the fixed 64-byte r||s verifies") : "; even fixed to 64 bytes it does not verify with any given certificate"),
            fix: "write r and s as exactly 32 bytes each; to accept such messages from a Java signer meanwhile, verify with --accept-java-length-signatures")
    }

    static func wrongCertificate(_ c: SignatureDiagnosisContext) -> SignatureDiagnosis? {
        guard let signer = c.signer, signer.certificate != c.keyInfoCertificate else { return nil }
        let named: String
        if let issuer = c.issuerText, let serial = c.serialText {
            named = "KeyInfo names issuer '\(issuer)' serial '\(serial)'"
                + (c.keyInfoCertificate.map { ", the given certificate \(SignatureDiagnosisContext.name($0)), whose key does not verify the signature" }
                    ?? ", which is none of the given certificates")
        } else {
            named = "KeyInfo names no certificate (no X509IssuerSerial)"
        }
        let certificate = signer.certificate
        var detail = "\(named); the signature verifies with the given certificate \(SignatureDiagnosisContext.name(certificate)) (issuer '\(certificate.issuer.rfc2253)', serial \(certificate.serialNumber.decimal), hex \(certificate.serialNumber.hex))"
        let differences = c.keyInfoDifferences(from: certificate)
        if !differences.isEmpty { detail += "; KeyInfo differs from it: " + differences.joined(separator: "; ") }
        return SignatureDiagnosis(
            code: .wrongCertificate, detail: detail,
            fix: "write KeyInfo as that certificate's X509IssuerSerial: X509IssuerName '\(certificate.issuer.rfc2253)' (RFC 2253, as OpenSSL and Java print it) and X509SerialNumber \(certificate.serialNumber.decimal) (decimal), then re-sign; or give the verifier the certificate KeyInfo names")
    }

    static func contentChanged(_ c: SignatureDiagnosisContext) -> SignatureDiagnosis? {
        let contentExplained: [SignatureDiagnosis.Code] = [.reformattedAfterSigning, .whitespaceChanged, .exclusiveC14NDigest, .commentsInDigest]
        let signatureExplained: [SignatureDiagnosis.Code] = contentExplained + [.derSignatureValue, .javaLengthSignatureValue, .wrongCertificate]
        guard let digestValue = c.digestValue else { return nil }
        if !c.contentMatches(.asIs) {
            guard !contentExplained.contains(where: c.has) else { return nil }
            let actual = c.contentDigest(.asIs).map { "the document digests to \(Base64.encode($0))" } ?? "the document cannot be canonicalized"
            return SignatureDiagnosis(
                code: .contentChanged,
                detail: "the signed content was altered after signing: \(actual), DigestValue is \(Base64.encode(digestValue)), and no whitespace layout, canonicalization or encoding variant gives DigestValue"
                    + c.signerClause(prefix: "; the SignedInfo signature verifies", suffix: ", so DigestValue is what was signed and the content is what changed"),
                fix: "use the document exactly as its signer sent it (compare --dump-pre-digest with the signer's pre-digest bytes to find the change); re-sign if the change was intended")
        }
        guard c.failure.part == .signatureValue, c.signer == nil, !signatureExplained.contains(where: c.has) else { return nil }
        return SignatureDiagnosis(
            code: .contentChanged,
            detail: "the content matches DigestValue, but SignatureValue verifies over SignedInfo with no given certificate: SignedInfo or SignatureValue was altered after signing, or the document was signed with a key whose certificate was not given",
            fix: "obtain the document again from its signer, or give the certificate of the key that signed it")
    }
}

/// The reconstructions the diagnoses share, computed on demand and remembered: the document in several
/// whitespace layouts, its digests under several canonicalizations, the SignedInfo octets, the SignatureValue
/// read in several encodings, and the given certificate (if any) that verifies it.
///
/// Not `Sendable`: one context serves one ``SignatureDiagnostics/diagnose(_:failure:verifier:)`` call.
final class SignatureDiagnosisContext {
    /// A whitespace layout of the document.
    enum Layout: Hashable {
        /// As given.
        case asIs
        /// Whitespace-only text between elements removed.
        case compact
        /// Compact, then indented as `xmllint --format` does with this unit per level.
        case indented(String)
    }

    /// How a SignatureValue was read.
    enum Reading: Hashable {
        case raw, der, javaLength
    }

    /// The indentation units tried, most common first.
    static let indentUnits = ["  ", "    ", "\t", " ", "   "]

    let bytes: [UInt8]
    let failure: SignatureInvalid
    let verifier: DUISVerifier
    /// The findings so far, in order.
    var found: [SignatureDiagnosis] = []

    /// DigestValue, decoded (nil when absent or not base64).
    let digestValue: [UInt8]?
    /// SignatureValue, decoded (nil when absent or not base64).
    let signatureValue: [UInt8]?
    /// The X509IssuerName and X509SerialNumber texts of KeyInfo.
    let issuerText: String?
    let serialText: String?

    /// What each layout gives, computed once per layout from a tree that is then freed (so one tree at most is
    /// alive whatever the document's size).
    private var facts: [Layout: LayoutFacts?] = [:]
    private var signerSearched = false
    private var signerFound: (certificate: Certificate, reading: Reading, layout: Layout)?

    /// A canonicalization of the document without its Signature.
    private struct DigestMode: Hashable {
        let exclusive: Bool
        let withComments: Bool
        static let inclusive = DigestMode(exclusive: false, withComments: false)
        /// What faulty signers digest instead (tried on the document as given and compact only).
        static let others = [DigestMode(exclusive: true, withComments: false), DigestMode(exclusive: false, withComments: true)]
    }

    /// The digests of one layout's content, and its SignedInfo's exclusive canonical form.
    private struct LayoutFacts {
        var digests: [DigestMode: [UInt8]] = [:]
        var signedInfo: [UInt8]?
    }

    /// `nil` when the document cannot be parsed or has no Signature to explain.
    init?(_ bytes: [UInt8], failure: SignatureInvalid, verifier: DUISVerifier) {
        self.bytes = bytes
        self.failure = failure
        self.verifier = verifier
        guard let document = try? XMLDocument(parsing: bytes, limits: verifier.limits),
            let signature = Self.signature(in: document)
        else { return nil }
        let ds = DUISSignatureProfile.namespace
        func child(_ element: XMLElement?, _ name: String) -> XMLElement? {
            element?.elementChildren.first { $0.namespaceURI == ds && $0.localName == name }
        }
        let signedInfo = child(signature, "SignedInfo")
        digestValue = child(child(signedInfo, "Reference"), "DigestValue").flatMap { try? Base64.decode($0.textContent) }
        signatureValue = child(signature, "SignatureValue").flatMap { try? Base64.decode($0.textContent) }
        let issuerSerial = child(child(child(signature, "KeyInfo"), "X509Data"), "X509IssuerSerial")
        issuerText = child(issuerSerial, "X509IssuerName")?.textContent
        serialText = child(issuerSerial, "X509SerialNumber")?.textContent.trimmingXMLWhitespace()
        facts[.asIs] = Self.facts(of: document, layout: .asIs)
    }

    /// The Signature a verifier reads: the root's last child element when it is one, else the first anywhere.
    private static func signature(in document: XMLDocument) -> XMLElement? {
        let ds = DUISSignatureProfile.namespace
        if let last = document.root.elementChildren.last, last.namespaceURI == ds, last.localName == "Signature" { return last }
        return document.elements(namespaceURI: ds, localName: "Signature").first
    }

    /// The facts of `document`, already in `layout`.
    private static func facts(of document: XMLDocument, layout: Layout) -> LayoutFacts? {
        guard let signature = signature(in: document) else { return nil }
        var facts = LayoutFacts()
        var modes = [DigestMode.inclusive]
        if layout == .asIs || layout == .compact { modes += DigestMode.others }
        for mode in modes {
            if let octets = try? document.canonicalForm(excluding: signature, exclusive: mode.exclusive, withComments: mode.withComments) {
                facts.digests[mode] = SHA256.hash(octets)
            }
        }
        if let signedInfo = signature.elementChildren.first(where: { $0.namespaceURI == DUISSignatureProfile.namespace && $0.localName == "SignedInfo" }) {
            facts.signedInfo = try? document.exclusiveCanonicalForm(of: signedInfo)
        }
        return facts
    }

    func has(_ code: SignatureDiagnosis.Code) -> Bool { found.contains { $0.code == code } }

    private func facts(_ layout: Layout) -> LayoutFacts? {
        if let known = facts[layout] { return known }
        var made: LayoutFacts?
        if let document = try? XMLDocument(parsing: bytes, limits: verifier.limits) {
            document.removeWhitespaceBetweenElements()
            if case .indented(let unit) = layout { document.indentElementContent(unit: unit) }
            made = Self.facts(of: document, layout: layout)
        }
        facts[layout] = made
        return made
    }

    /// SHA-256 of the canonical form of `layout` without its Signature (exclusive or with comments: for the
    /// document as given and compact only).
    func contentDigest(_ layout: Layout, exclusive: Bool = false, withComments: Bool = false) -> [UInt8]? {
        facts(layout)?.digests[DigestMode(exclusive: exclusive, withComments: withComments)]
    }

    /// Whether that digest is DigestValue.
    func contentMatches(_ layout: Layout, exclusive: Bool = false, withComments: Bool = false) -> Bool {
        guard let digestValue, let digest = contentDigest(layout, exclusive: exclusive, withComments: withComments) else { return false }
        return digest == digestValue
    }

    /// The exclusive canonical SignedInfo of `layout` (the octets ECDSA signs).
    func signedInfoOctets(_ layout: Layout) -> [UInt8]? { facts(layout)?.signedInfo }

    /// The given certificate KeyInfo names (issuer as a distinguished name, decimal serial), if any.
    lazy var keyInfoCertificate: Certificate? = {
        guard let issuerText, let serialText,
            let issuer = try? DistinguishedName(rfc2253: issuerText),
            let serial = try? SerialNumber(decimal: serialText)
        else { return nil }
        return verifier.certificates.certificate(issuer: issuer, serial: serial)
    }()

    /// SignatureValue read as each encoding it may be in.
    private lazy var readings: [(Reading, ECDSASignature)] = {
        guard let value = signatureValue else { return [] }
        var readings: [(Reading, ECDSASignature)] = []
        if value.count == 64, let raw = try? ECDSASignature(rawRepresentation: value) { readings.append((.raw, raw)) }
        if value.count != 64, let der = try? ECDSASignature(derRepresentation: value) { readings.append((.der, der)) }
        if let fixed = JavaLengthSignature.normalize(value), let raw = try? ECDSASignature(rawRepresentation: fixed) {
            readings.append((.javaLength, raw))
        }
        return readings
    }()

    /// The given certificate whose key verifies SignatureValue (in some encoding) over SignedInfo (in some
    /// layout): KeyInfo's certificate first, then the others in the order given; SignedInfo as given first.
    var signer: (certificate: Certificate, reading: Reading, layout: Layout)? {
        if signerSearched { return signerFound }
        signerSearched = true
        let readings = self.readings
        guard !readings.isEmpty else { return nil }
        var layouts: [(Layout, [UInt8])] = []
        for layout in [Layout.asIs, .compact] + Self.indentUnits.map(Layout.indented) {
            guard let octets = signedInfoOctets(layout), !layouts.contains(where: { $0.1 == octets }) else { continue }
            layouts.append((layout, octets))
        }
        var candidates = verifier.certificates.certificates
        if let named = keyInfoCertificate, let index = candidates.firstIndex(of: named) {
            candidates.remove(at: index)
            candidates.insert(named, at: 0)
        }
        for certificate in candidates {
            guard let key = try? certificate.publicKey() else { continue }
            for (layout, octets) in layouts {
                for (reading, signature) in readings where key.isValidSignature(signature, for: octets) {
                    signerFound = (certificate, reading, layout)
                    return signerFound
                }
            }
        }
        return nil
    }

    /// "; <prefix> with certificate NAME<suffix>" when a given certificate verifies, else "".
    func signerClause(prefix: String, suffix: String = "") -> String {
        guard let signer else { return "" }
        return "\(prefix) with certificate \(Self.name(signer.certificate))\(suffix)"
    }

    /// How KeyInfo's X509IssuerSerial differs from `certificate`'s.
    func keyInfoDifferences(from certificate: Certificate) -> [String] {
        guard let issuerText, let serialText else { return [] }
        var differences: [String] = []
        if let issuer = try? DistinguishedName(rfc2253: issuerText) {
            if issuer == certificate.issuer {
                // The same name: spelling differences (spaces, case, attribute names) do not matter.
            } else if issuer.rdns.count > 1, DistinguishedName(rdns: issuer.rdns.reversed(), rfc2253: "") == certificate.issuer {
                differences.append("the issuer's RDNs are in reverse order ('\(issuerText)' instead of '\(certificate.issuer.rfc2253)': X509IssuerName is written most specific RDN first, as RFC 2253 says)")
            } else {
                differences.append("another issuer ('\(issuerText)' instead of '\(certificate.issuer.rfc2253)')")
            }
        } else {
            differences.append("the issuer '\(issuerText)' is not a distinguished name (expected '\(certificate.issuer.rfc2253)')")
        }
        let hex = Self.hexDigits(serialText)
        if let serial = try? SerialNumber(decimal: serialText), serial == certificate.serialNumber {
            // The same serial.
        } else if let hex, Self.stripLeadingZeros(hex) == Self.stripLeadingZeros(certificate.serialNumber.hex.uppercased()) {
            differences.append("the serial is written in hex ('\(serialText)'); X509SerialNumber is decimal: \(certificate.serialNumber.decimal)")
        } else if (try? SerialNumber(decimal: serialText)) == nil {
            differences.append("the serial '\(serialText)' is not a decimal integer (expected \(certificate.serialNumber.decimal))")
        } else {
            differences.append("another serial (\(serialText) instead of \(certificate.serialNumber.decimal))")
        }
        return differences
    }

    /// The hex digits of a serial written in hex (`0x…`, colons or spaces allowed), upper case; nil otherwise.
    private static func hexDigits(_ text: String) -> String? {
        var body = Substring(text)
        if body.hasPrefix("0x") || body.hasPrefix("0X") { body = body.dropFirst(2) }
        let digits = body.filter { $0 != ":" && $0 != " " }
        guard !digits.isEmpty, digits.allSatisfy(\.isHexDigit) else { return nil }
        return digits.uppercased()
    }

    private static func stripLeadingZeros(_ hex: String) -> Substring {
        let stripped = hex.drop { $0 == "0" }
        return stripped.isEmpty ? "0" : stripped
    }

    /// A certificate as messages name it: its file when known, with its subject.
    static func name(_ certificate: Certificate) -> String {
        if let source = certificate.source { return "\(source) (subject '\(certificate.subject.rfc2253)')" }
        return "with subject '\(certificate.subject.rfc2253)'"
    }

    static func describe(unit: String) -> String {
        switch unit {
        case "\t": "a tab"
        case " ": "1 space"
        default: "\(unit.count) spaces"
        }
    }
}

/// SignatureValues of 65 or 66 bytes whose r and s are written as 33-byte integers with a leading zero (a Java
/// signer's encoding of a value with the high bit set), and their 64-byte `r || s`.
enum JavaLengthSignature {
    /// The 64-byte `r || s` of a Java-length value, or `nil` when `value` is not one: 66 bytes whose two 33-byte
    /// halves each start with 0x00, or 65 bytes with one 33-byte half that starts with 0x00 followed by a byte
    /// with the high bit set (r first, then s).
    static func normalize(_ value: [UInt8]) -> [UInt8]? {
        switch value.count {
        case 66:
            guard value[0] == 0, value[33] == 0 else { return nil }
            return Array(value[1..<33] + value[34..<66])
        case 65:
            if value[0] == 0, value[1] >= 0x80 { return Array(value[1...]) }
            if value[32] == 0, value[33] >= 0x80 { return Array(value[0..<32] + value[33...]) }
            return nil
        default:
            return nil
        }
    }
}
