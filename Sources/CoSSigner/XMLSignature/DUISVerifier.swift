/// Certificates a verifier may use, found by the `X509IssuerSerial` a signature names.
package struct CertificateSet: Sendable {
    /// The certificates, in the order given.
    package let certificates: [Certificate]

    /// Makes a set from certificates. Two different certificates with the same issuer and serial are never chosen
    /// between: a signature naming them finds no certificate (use ``init(checking:)`` to refuse such a set).
    package init(_ certificates: [Certificate]) { self.certificates = certificates }

    /// Makes a set from certificates, dropping exact copies, and refuses two different certificates with the same
    /// issuer (compared as a distinguished name) and serial (compared as a signed integer, so −n ≠ n): a signature's
    /// `X509IssuerSerial` could not tell them apart.
    /// - Throws: ``CryptoError`` (``CryptoError/Code/invalidCertificate``, key or certificate class) naming both.
    package init(checking certificates: [Certificate]) throws(CryptoError) {
        var unique = [Certificate]()
        for certificate in certificates {
            if let other = unique.first(where: { $0.isIdentified(byIssuer: certificate.issuer, serial: certificate.serialNumber) }) {
                if other == certificate { continue }
                throw CryptoError.plain(
                    .invalidCertificate,
                    "\(certificate.source ?? "a certificate") and \(other.source ?? "another certificate") are different certificates with the same issuer (\(certificate.issuer.rfc2253)) and serial (\(certificate.serialNumber)): a signature's X509IssuerSerial could not tell them apart",
                    context: certificate.source)
            }
            unique.append(certificate)
        }
        self.certificates = unique
    }

    /// The certificate with this issuer (compared as a distinguished name) and serial (compared as a signed
    /// integer); nil when none, or when two different certificates have them.
    package func certificate(issuer: DistinguishedName, serial: SerialNumber) -> Certificate? {
        var found: Certificate?
        for certificate in certificates where certificate.isIdentified(byIssuer: issuer, serial: serial) {
            if let found, found != certificate { return nil }
            found = certificate
        }
        return found
    }

    /// How many different certificates have this issuer and serial.
    func count(issuer: DistinguishedName, serial: SerialNumber) -> Int {
        var distinct = [Certificate]()
        for certificate in certificates where certificate.isIdentified(byIssuer: issuer, serial: serial) && !distinct.contains(certificate) {
            distinct.append(certificate)
        }
        return distinct.count
    }
}

/// A document whose signature verified.
package struct VerifiedDocument: Sendable {
    /// The signed content: the inclusive canonical form of the document without its Signature,
    /// exactly the octets the Reference digest covers. Read this, never the unverified input.
    package let signedContent: [UInt8]
    /// The certificate whose key verified the signature.
    package let certificate: Certificate
    /// The base64 DigestValue.
    package let digestValue: String
    /// What was accepted only because an option allowed it (a Java-length SignatureValue with
    /// ``DUISVerifier/acceptsJavaLengthSignatures``); empty for a signature exactly as the profile writes it.
    package internal(set) var warnings: [String] = []

    /// The RequestID in `sr:Header/sr:RequestID` of the signed content (requests and DCC responses alike), read
    /// from the verified bytes; `nil` when there is none or it is not valid.
    package var requestID: RequestID? { RequestSigner.genericRequestID(canonical: signedContent, source: nil) }
}

/// Verifies DUIS signatures strictly against ``DUISSignatureProfile``.
package struct DUISVerifier: Sendable {
    /// The certificates KeyInfo may name.
    package let certificates: CertificateSet
    /// Bounds applied when parsing.
    package var limits: XMLParseLimits
    /// When set, a ``SignatureInvalid`` thrown by ``verify(_:source:)-([UInt8],_)`` carries the
    /// ``SignatureInvalid/diagnoses`` of ``explain(_:source:)``. They are computed only after the document was
    /// found invalid: the valid path is the same with or without it. Off by default.
    package var explainsFailures = false
    /// Accept a SignatureValue of 65 or 66 bytes whose r and s are 33-byte integers with a leading zero (as some
    /// Java signers write them) as its 64-byte `r || s`; ``VerifiedDocument/warnings`` then says so. Off by
    /// default: the DUIS profile requires exactly 64 bytes. Only the full path reads such values.
    package var acceptsJavaLengthSignatures = false

    /// For each certificate: its KeyInfo text as this library writes it (escaped issuer name, decimal serial)
    /// and the certificate the full path would select for that issuer and serial (the first equivalent one).
    private let keyInfoTexts: [(issuer: [UInt8], serial: [UInt8], selected: Certificate)]

    /// Makes a verifier that accepts signatures by any of `certificates`.
    package init(certificates: [Certificate], limits: XMLParseLimits = .default) {
        let set = CertificateSet(certificates)
        self.certificates = set
        self.limits = limits
        keyInfoTexts = certificates.compactMap { certificate in
            guard let selected = set.certificate(issuer: certificate.issuer, serial: certificate.serialNumber) else { return nil }
            return (Array(XMLText.escape(certificate.issuer.rfc2253).utf8), Array(certificate.serialNumberDecimal.utf8), selected)
        }
    }

    /// Verifies a document given as bytes.
    /// - Returns: the verified document (signed content and certificate).
    /// - Throws: ``SignatureInvalid`` naming the part that failed (with ``SignatureInvalid/diagnoses`` when
    ///   ``explainsFailures`` is set); ``XMLError`` when the bytes are not acceptable XML; ``DUISRequestError``
    ///   (rule ``DUISRequestError/Rule/unexpectedNode``) for a comment or processing instruction inside the
    ///   root element, outside the Signature.
    package func verify(_ bytes: [UInt8], source: String? = nil) throws -> VerifiedDocument {
        if let verified = fastVerify(bytes) { return verified }
        let document = try XMLDocument(parsing: bytes, limits: limits, source: source)
        do {
            return try verify(document)
        } catch var invalid as SignatureInvalid {
            invalid.source = source
            if explainsFailures {
                invalid.diagnoses = SignatureDiagnostics.diagnose(bytes, failure: invalid, verifier: self)
            }
            throw invalid
        } catch var refused as DUISRequestError {
            refused.source = refused.source ?? source
            throw refused
        }
    }

    /// Why `bytes` does not verify, and what would fix it: the known diagnoses that apply, most likely first
    /// (see ``SignatureDiagnosis/Code``). Empty when the document verifies, when its failure is explained by
    /// the reason alone (no signature, an unsigned acknowledgement, a signature outside the profile, XML that
    /// cannot be read) or when no diagnosis applies. Runs the verification first, then, only for an invalid
    /// signature, the diagnoses.
    package func explain(_ bytes: [UInt8], source: String? = nil) -> [SignatureDiagnosis] {
        var plain = self
        plain.explainsFailures = false
        do {
            _ = try plain.verify(bytes, source: source)
            return []
        } catch let invalid as SignatureInvalid {
            return SignatureDiagnostics.diagnose(bytes, failure: invalid, verifier: plain)
        } catch {
            return []
        }
    }

    /// The exact octets the Reference digest of `bytes` covers, whether or not the signature verifies: the
    /// inclusive Canonical XML 1.0 (without comments) of the document without its `ds:Signature` (the root's last
    /// child element, or the only Signature). Compare them with another tool's to see why digests differ.
    /// - Throws: ``XMLError`` for unreadable XML; ``SignatureInvalid`` (``SignatureInvalid/Part/missing``) when
    ///   there is no Signature, (``SignatureInvalid/Part/profile``) when there are several and none is the
    ///   root's last child.
    package func preDigestOctets(_ bytes: [UInt8], source: String? = nil) throws -> [UInt8] {
        let document = try XMLDocument(parsing: bytes, limits: limits, source: source)
        let ds = DUISSignatureProfile.namespace
        let signatures = document.elements(namespaceURI: ds, localName: "Signature")
        let signature: XMLElement
        if let last = document.root.elementChildren.last, last.namespaceURI == ds, last.localName == "Signature" {
            signature = last
        } else if signatures.count == 1 {
            signature = signatures[0]
        } else {
            throw SignatureInvalid(signatures.isEmpty ? .missing : .profile,
                                   signatures.isEmpty ? "the document has no ds:Signature element: nothing is digested"
                                       : "the document has \(signatures.count) ds:Signature elements and none is the root's last child",
                                   source: source)
        }
        return try document.inclusiveCanonicalForm(excluding: signature)
    }

    /// The fast path: the single-pass canonicalizer reads the document (and checks that it has exactly one
    /// `ds:Signature`, the root's last child element), only the Signature is parsed into a tree (inside an
    /// element declaring the root's namespaces, so it is read in the same scope), and the same profile checks,
    /// digest comparison and ECDSA verification run. It only ever returns a success; on anything else it returns
    /// `nil` and the document goes through the full path, which gives the verdict and the exact error.
    func fastVerify(_ bytes: [UInt8]) -> VerifiedDocument? {
        // The template check reads the canonical octets in the scanner's buffer; the arrays of a full
        // result are only made when it does not apply.
        let outcome = bytes.withUnsafeBytes { raw in
            FastCanonicalizer.withScanner(raw, mode: .verifying, limits: limits) { scanner -> FastOutcome in
                // Comments and processing instructions inside the root are refused by the full path.
                guard !scanner.sawCommentOrPIInsideRoot, let range = scanner.signatureByteRange else { return .declined }
                // A DCC response must be signed with a DSP certificate: left to the full path's check.
                if Self.localNameIsResponse(scanner.rootQualifiedName) { return .declined }
                let signature = UnsafeBufferPointer(rebasing: raw.assumingMemoryBound(to: UInt8.self)[range])
                if let verified = templateVerify(canonical: scanner.canonical, signature: signature) {
                    return .verified(verified)
                }
                return .parse(scanner.result(), range)
            }
        }
        switch outcome {
        case .verified(let verified): return verified
        case .parse(let fast, let range): return treeVerify(fast, range: range, bytes: bytes)
        case .declined, nil: return nil
        }
    }

    /// Whether a qualified name's local part is `Response` (the root of DCC messages).
    static func localNameIsResponse(_ name: UnsafeBufferPointer<UInt8>) -> Bool {
        let local = responseLocalName
        guard name.count >= local.count else { return false }
        let start = name.count - local.count
        guard start == 0 || name[start - 1] == UInt8(ascii: ":") else { return false }
        for k in 0..<local.count where name[start + k] != local[k] { return false }
        return true
    }

    private static let responseLocalName = Array("Response".utf8)

    private enum FastOutcome {
        case verified(VerifiedDocument)
        case parse(FastCanonicalizer.Result, Range<Int>)
        case declined
    }

    /// The fast path's second way: only the Signature is parsed into a tree, inside an element declaring the
    /// root's namespaces.
    private func treeVerify(_ fast: FastCanonicalizer.Result, range: Range<Int>, bytes: [UInt8]) -> VerifiedDocument? {
        var wrapped = [UInt8]()
        wrapped.reserveCapacity(range.count + 256)
        wrapped.append(contentsOf: Self.wrapperOpen)
        for (prefix, uri) in fast.rootNamespaces {
            // Both were checked by the canonicalizer: an ASCII NCName and a URI without quotes or references.
            if prefix.isEmpty {
                wrapped.append(contentsOf: Self.defaultNamespaceOpen)
            } else {
                wrapped.append(contentsOf: Self.prefixedNamespaceOpen)
                wrapped.append(contentsOf: prefix)
                wrapped.append(contentsOf: Self.equalsQuote)
            }
            wrapped.append(contentsOf: uri)
            wrapped.append(UInt8(ascii: "\""))
        }
        wrapped.append(UInt8(ascii: ">"))
        wrapped.append(contentsOf: bytes[range])
        wrapped.append(contentsOf: Self.wrapperClose)
        guard let document = try? XMLDocument(parsing: wrapped, limits: limits) else { return nil }
        let children = document.root.elementChildren
        guard children.count == 1, let signature = children.first,
            signature.namespaceURI == DUISSignatureProfile.namespace, signature.localName == "Signature",
            let parts = try? SignatureParts(signature),
            let certificate = certificates.certificate(issuer: parts.issuer, serial: parts.serial),
            constantTimeEqual(SHA256.hash(fast.bytes), parts.digest),
            let signedInfo = try? document.exclusiveCanonicalForm(of: parts.signedInfo),
            let publicKey = try? certificate.publicKey(),
            publicKey.isValidSignature(parts.signatureValue, for: signedInfo)
        else { return nil }
        return VerifiedDocument(signedContent: fast.bytes, certificate: certificate, digestValue: Base64.encode(parts.digest))
    }

    /// The commonest case, a Signature exactly as ``DUISSigner`` writes it (``DUISSignatureLayout``, byte for
    /// byte apart from the values): then its exclusive canonical SignedInfo is ``DUISSignatureProfile/canonicalSignedInfo(digestValue:)``
    /// and every profile check holds by construction, so no tree is needed. The certificate must be named with
    /// exactly the issuer and serial text this library writes for it. `nil` for anything else.
    private func templateVerify(
        canonical: UnsafeBufferPointer<UInt8>, signature: UnsafeBufferPointer<UInt8>
    ) -> VerifiedDocument? {
        guard let base = signature.baseAddress else { return nil }
        let end = signature.count
        var cursor = 0
        /// True when the bytes at `start` are `text`.
        func matches(_ start: UnsafePointer<UInt8>, _ text: [UInt8]) -> Bool {
            text.withUnsafeBufferPointer { t in
                guard let tb = t.baseAddress else { return true }
                return memcmp(start, tb, t.count) == 0
            }
        }
        func take(_ literal: [UInt8]) -> Bool {
            guard end - cursor >= literal.count, matches(base + cursor, literal) else { return false }
            cursor += literal.count
            return true
        }
        /// Bytes up to the next `<` (the value of a text-only element).
        func value() -> UnsafeBufferPointer<UInt8> {
            let start = cursor
            while cursor < end, base[cursor] != UInt8(ascii: "<") { cursor += 1 }
            return UnsafeBufferPointer(rebasing: signature[start..<cursor])
        }
        func equal(_ text: [UInt8], _ slice: UnsafeBufferPointer<UInt8>) -> Bool {
            guard text.count == slice.count else { return false }
            guard let start = slice.baseAddress else { return true }
            return matches(start, text)
        }
        // ``DUISSignatureLayout``: its fixed parts around the four values.
        let layout = DUISSignatureLayout.self
        guard take(layout.beforeDigestValue) else { return nil }
        let digestText = value()
        guard digestText.count == 44, take(layout.afterDigestValue) else { return nil }
        let signatureText = value()
        guard signatureText.count == 88, take(layout.afterSignatureValue) else { return nil }
        let issuerText = value()
        guard take(layout.afterIssuerName) else { return nil }
        let serialText = value()
        guard take(layout.afterSerialNumber), take(layout.signatureEnd), cursor == end,
            issuerText.count <= SignatureParts.maxIssuerNameLength, serialText.count <= SignatureParts.maxSerialDigits
        else { return nil }
        guard let entry = keyInfoTexts.first(where: { equal($0.issuer, issuerText) && equal($0.serial, serialText) }) else {
            return nil
        }
        guard let digest = Self.decodeBase64(digestText, byteCount: SHA256.byteCount),
            let raw = Self.decodeBase64(signatureText, byteCount: 64),
            let signatureValue = try? ECDSASignature(rawRepresentation: raw),
            constantTimeEqual(SHA256.hash(UnsafeRawBufferPointer(canonical)), digest),
            let publicKey = try? entry.selected.publicKey()
        else { return nil }
        // The canonical SignedInfo is head + DigestValue text + tail: hashed in parts, never assembled.
        let signedInfoDigest = DUISSignatureProfile.signedInfoHead.withUnsafeBytes { head in
            DUISSignatureProfile.signedInfoTail.withUnsafeBytes { tail in
                SHA256.hash(head, UnsafeRawBufferPointer(digestText), tail)
            }
        }
        guard publicKey.verify(signatureValue, digest: signedInfoDigest) else { return nil }
        let digestValue = String(decoding: digestText, as: UTF8.self)
        return VerifiedDocument(signedContent: Array(canonical), certificate: entry.selected, digestValue: digestValue)
    }

    /// Base64 of exactly `byteCount` bytes in its one compact form: `(byteCount + 2) / 3 * 4` characters of the
    /// standard alphabet with the padding it needs and nothing else. Never accepts what ``Base64/decode(_:)``
    /// refuses (it also ignores the unused low bits before the padding); `nil` for anything else, which the
    /// full path then reads.
    static func decodeBase64(_ text: UnsafeBufferPointer<UInt8>, byteCount: Int) -> [UInt8]? {
        guard byteCount > 0, text.count == (byteCount + 2) / 3 * 4 else { return nil }
        return base64Values.withUnsafeBufferPointer { table -> [UInt8]? in
            let fullQuanta = byteCount / 3
            let rest = byteCount % 3
            var out = [UInt8](repeating: 0, count: byteCount)
            var bad: UInt32 = 0  // any 0xFF (not in the alphabet) sets bits above the low six
            var o = 0
            for q in 0..<fullQuanta {
                let k = 4 * q
                let a = UInt32(table[Int(text[k])]), b = UInt32(table[Int(text[k + 1])])
                let c = UInt32(table[Int(text[k + 2])]), d = UInt32(table[Int(text[k + 3])])
                bad |= a | b | c | d
                let v = a << 18 | b << 12 | c << 6 | d
                out[o] = UInt8(truncatingIfNeeded: v >> 16)
                out[o + 1] = UInt8(truncatingIfNeeded: v >> 8)
                out[o + 2] = UInt8(truncatingIfNeeded: v)
                o += 3
            }
            if rest > 0 {
                let k = 4 * fullQuanta
                let a = UInt32(table[Int(text[k])]), b = UInt32(table[Int(text[k + 1])])
                bad |= a | b
                var v = a << 18 | b << 12
                if rest == 2 {
                    let c = UInt32(table[Int(text[k + 2])])
                    bad |= c
                    guard text[k + 3] == UInt8(ascii: "=") else { return nil }
                    v |= c << 6
                    out[o + 1] = UInt8(truncatingIfNeeded: v >> 8)
                } else {
                    guard text[k + 2] == UInt8(ascii: "="), text[k + 3] == UInt8(ascii: "=") else { return nil }
                }
                out[o] = UInt8(truncatingIfNeeded: v >> 16)
            }
            return bad < 64 ? out : nil
        }
    }

    /// The value of each base64 alphabet character; 0xFF for every other byte (including `=`).
    private static let base64Values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (value, character) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() {
            table[Int(character)] = UInt8(value)
        }
        return table
    }()

    private static let wrapperOpen = Array("<cos-signer-scope".utf8)
    private static let wrapperClose = Array("</cos-signer-scope>".utf8)
    private static let defaultNamespaceOpen = Array(" xmlns=\"".utf8)
    private static let prefixedNamespaceOpen = Array(" xmlns:".utf8)
    private static let equalsQuote = Array("=\"".utf8)

    /// Verifies a parsed document.
    package func verify(_ document: XMLDocument) throws -> VerifiedDocument {
        let ns = DUISSignatureProfile.namespace
        let signatures = document.elements(namespaceURI: ns, localName: "Signature")
        guard let signature = signatures.first else {
            let kind = DUISMessageKind(document)
            if kind == .acknowledgement {
                throw SignatureInvalid(.unsigned, "\(Self.messageDescription(document, kind)) carries no ds:Signature: the DCC does not sign acknowledgements, so nothing vouches for its content")
            }
            if kind.isSignedByDCC {
                throw SignatureInvalid(.missing, "\(Self.messageDescription(document, kind)) has no ds:Signature element (the DCC signs responses and alerts)")
            }
            throw SignatureInvalid(.missing, "the document has no ds:Signature element")
        }
        guard signatures.count == 1 else {
            throw SignatureInvalid(.profile, "the document has \(signatures.count) ds:Signature elements (lines \(cappedList(signatures.map { String($0.line) }))); exactly one is allowed")
        }
        let root = document.root
        guard let parent = signature.parent, parent.isSameNode(as: root),
            let last = root.elementChildren.last, last.isSameNode(as: signature)
        else {
            throw SignatureInvalid(.profile, "ds:Signature (line \(signature.line)) is not the last child element of the root")
        }
        try Self.refuseCommentsAndProcessingInstructions(document, signature: signature)
        let parts = try SignatureParts(signature, acceptJavaLength: acceptsJavaLengthSignatures)

        // KeyInfo → certificate.
        guard let certificate = certificates.certificate(issuer: parts.issuer, serial: parts.serial) else {
            let count = certificates.count(issuer: parts.issuer, serial: parts.serial)
            if count > 1 {
                throw SignatureInvalid(.keyInfo, "\(count) different certificates given have issuer '\(parts.issuer.rfc2253)' and serial \(parts.serial.decimal): KeyInfo cannot tell them apart, so none is chosen")
            }
            throw SignatureInvalid(.keyInfo, "no certificate given for issuer '\(parts.issuer.rfc2253)' serial \(parts.serial.decimal)")
        }
        // DCC messages are signed with a DSP XML signing certificate.
        if root.namespaceURI == DUISNamespace.serviceUserGateway, root.localName == "Response",
            certificate.subjectOrganizationalUnit?.uppercased() != Self.dspXMLSigningRole {
            throw SignatureInvalid(.keyInfo, "KeyInfo names certificate serial \(certificate.serialNumberDecimal) (subject '\(certificate.subject.rfc2253)', OU \(certificate.subjectOrganizationalUnit ?? "none")), but a DCC response or alert is signed with a DSP XML signing certificate (OU \(Self.dspXMLSigningRole))")
        }

        // Reference: inclusive C14N 1.0 of the document without the Signature.
        let content = try document.inclusiveCanonicalForm(excluding: signature)
        let digest = SHA256.hash(content)
        guard constantTimeEqual(digest, parts.digest) else {
            throw SignatureInvalid(.referenceDigest, "the document's digest \(Base64.encode(digest)) does not match DigestValue \(Base64.encode(parts.digest))")
        }

        // SignatureValue over the exclusive canonical SignedInfo.
        let signedInfo = try document.exclusiveCanonicalForm(of: parts.signedInfo)
        let publicKey: PublicKey
        do {
            publicKey = try certificate.publicKey()
        } catch {
            throw SignatureInvalid(.keyInfo, "the certificate named by KeyInfo has no usable P-256 key: \(error)")
        }
        guard publicKey.isValidSignature(parts.signatureValue, for: signedInfo) else {
            throw SignatureInvalid(.signatureValue, "the SignatureValue does not verify with the key of certificate serial \(certificate.serialNumberDecimal)")
        }
        var verified = VerifiedDocument(signedContent: content, certificate: certificate, digestValue: Base64.encode(parts.digest))
        if let length = parts.javaLength {
            verified.warnings.append("SignatureValue is \(length) bytes: r and s written as 33-byte integers with a leading zero (a Java signer's encoding); accepted as its 64-byte r||s only because Java-length signatures are accepted (--accept-java-length-signatures); the DUIS profile requires exactly 64 bytes")
        }
        return verified
    }

    /// The subject OU (remote party role) of the DSP's XML signing certificates, which sign DCC messages.
    package static let dspXMLSigningRole = "89"

    /// "DCC acknowledgement (ResponseCode E65, RequestID …)" for messages.
    static func messageDescription(_ document: XMLDocument, _ kind: DUISMessageKind) -> String {
        guard let header = try? DUISResponseHeader(document) else { return "the \(kind.noun)" }
        return "the \(kind.noun) (ResponseCode \(header.responseCode)\(header.requestID.map { ", RequestID \($0)" } ?? ""))"
    }

    /// Comments and processing instructions inside the root element (outside the Signature) are refused, as
    /// signing and `inspect` refuse them: a comment is not signed content (so it may be added after signing
    /// without breaking the signature), and a reader that takes an element's first text node would see
    /// `1312345678` in `<sr:ImportMPxN>1312345678<!---->333</sr:ImportMPxN>`, whose signed value is `1312345678333`.
    static func refuseCommentsAndProcessingInstructions(_ document: XMLDocument, signature: XMLElement) throws(DUISRequestError) {
        guard let (target, parent) = document.firstCommentOrProcessingInstruction(excluding: signature) else { return }
        var names: [String] = []
        var element: XMLElement? = parent
        let root = document.root
        while let current = element, !current.isSameNode(as: root) {
            names.append(current.namespaceURI == DUISNamespace.serviceUserGateway ? "sr:\(current.localName)"
                         : (current.prefix.map { "\($0):" } ?? "") + current.localName)
            element = current.parent
        }
        let field = names.isEmpty ? (root.namespaceURI == DUISNamespace.serviceUserGateway ? "sr:\(root.localName)" : root.localName)
            : names.reversed().joined(separator: "/")
        let what = target.map { "processing instruction <?\($0)?>" } ?? "a comment"
        throw DUISRequestError(
            field: field, rule: .unexpectedNode,
            reason: "\(what) inside a signed document's elements is not accepted (as when signing): a reader that takes the first text node would see part of a value; comments are not even signed content",
            line: parent.line)
    }
}

/// The pieces of a `ds:Signature` once its shape has been checked against the profile.
private struct SignatureParts {
    let signedInfo: XMLElement
    let digest: [UInt8]
    let signatureValue: ECDSASignature
    let issuer: DistinguishedName
    let serial: SerialNumber
    /// The length of a Java-length SignatureValue accepted as its 64-byte r||s (only with `acceptJavaLength`).
    var javaLength: Int?

    /// The longest X509SerialNumber accepted (a 160-bit serial has 49 decimal digits).
    static let maxSerialDigits = 64
    /// The longest X509IssuerName accepted.
    static let maxIssuerNameLength = 4096

    init(_ signature: XMLElement, acceptJavaLength: Bool = false) throws {
        try Self.expectNoAttributes(signature)
        let children = try Self.elementChildren(of: signature, expected: ["SignedInfo", "SignatureValue", "KeyInfo"])
        signedInfo = children[0]

        // SignedInfo.
        try Self.expectNoAttributes(signedInfo)
        let si = try Self.elementChildren(of: signedInfo, expected: ["CanonicalizationMethod", "SignatureMethod", "Reference"])
        try Self.expectAlgorithm(si[0], DUISSignatureProfile.canonicalizationMethod)
        try Self.expectAlgorithm(si[1], DUISSignatureProfile.signatureMethod)
        let reference = si[2]
        let referenceAttributes = reference.attributes
        guard referenceAttributes.count == 1, referenceAttributes[0].localName == "URI", referenceAttributes[0].namespaceURI == nil else {
            throw SignatureInvalid(.profile, "ds:Reference must carry exactly one attribute, URI=\"\" (found \(referenceAttributes.map(\.localName)))")
        }
        guard referenceAttributes[0].value.isEmpty else {
            throw SignatureInvalid(.profile, "ds:Reference URI must be \"\" (the whole document), found \"\(referenceAttributes[0].value)\"")
        }
        let ref = try Self.elementChildren(of: reference, expected: ["Transforms", "DigestMethod", "DigestValue"])
        try Self.expectNoAttributes(ref[0])
        let transforms = ref[0].elementChildren
        guard transforms.count == 1 else {
            throw SignatureInvalid(.profile, "exactly one ds:Transform (enveloped-signature) is allowed, found \(transforms.count)")
        }
        try Self.expectName(transforms[0], "Transform")
        try Self.expectAlgorithm(transforms[0], DUISSignatureProfile.envelopedSignatureTransform)
        _ = try Self.elementChildren(of: ref[0], expected: ["Transform"])
        try Self.expectAlgorithm(ref[1], DUISSignatureProfile.digestMethod)
        let digestValue = try Self.base64(ref[2], "DigestValue", part: .profile)
        guard digestValue.count == SHA256.byteCount else {
            throw SignatureInvalid(.profile, "DigestValue must be 32 bytes (SHA-256), found \(digestValue.count)")
        }
        digest = digestValue

        // SignatureValue: raw r||s, 64 bytes.
        try Self.expectNoAttributes(children[1])
        var raw = try Self.base64(children[1], "SignatureValue", part: .signatureValue)
        if acceptJavaLength, let fixed = JavaLengthSignature.normalize(raw) {
            javaLength = raw.count
            raw = fixed
        }
        guard raw.count == 64 else {
            throw SignatureInvalid(.signatureValue, "SignatureValue must be raw r||s of exactly 64 bytes, found \(raw.count) bytes\(raw.first == 0x30 ? " (it looks DER-encoded)" : "")")
        }
        do {
            signatureValue = try ECDSASignature(rawRepresentation: raw)
        } catch {
            throw SignatureInvalid(.signatureValue, "SignatureValue is not a valid P-256 signature: \(error)")
        }

        // KeyInfo/X509Data/X509IssuerSerial.
        let keyInfo = children[2]
        do {
            try Self.expectNoAttributes(keyInfo)
            let x509Data = try Self.elementChildren(of: keyInfo, expected: ["X509Data"])[0]
            try Self.expectNoAttributes(x509Data)
            let issuerSerial = try Self.elementChildren(of: x509Data, expected: ["X509IssuerSerial"])[0]
            try Self.expectNoAttributes(issuerSerial)
            let fields = try Self.elementChildren(of: issuerSerial, expected: ["X509IssuerName", "X509SerialNumber"])
            for field in fields {
                try Self.expectNoAttributes(field)
                _ = try Self.elementChildren(of: field, expected: [], allowText: true)
            }
            let issuerText = fields[0].textContent
            guard issuerText.utf8.count <= Self.maxIssuerNameLength else {
                throw SignatureInvalid(.keyInfo, "X509IssuerName is longer than \(Self.maxIssuerNameLength) characters")
            }
            do {
                issuer = try DistinguishedName(rfc2253: issuerText)
            } catch {
                throw SignatureInvalid(.keyInfo, "X509IssuerName '\(issuerText)' is not a distinguished name: \(error)")
            }
            let serialText = fields[1].textContent.trimmingXMLWhitespace()
            guard serialText.utf8.count <= Self.maxSerialDigits else {
                throw SignatureInvalid(.keyInfo, "X509SerialNumber has \(serialText.utf8.count) characters; at most \(Self.maxSerialDigits) digits are accepted")
            }
            do {
                serial = try SerialNumber(decimal: serialText)
            } catch {
                throw SignatureInvalid(.keyInfo, "X509SerialNumber '\(serialText)' is not a decimal integer")
            }
        } catch let invalid as SignatureInvalid where invalid.part == .profile {
            throw SignatureInvalid(.keyInfo, invalid.reason)
        }
    }

    static func expectName(_ element: XMLElement, _ localName: String) throws {
        guard element.namespaceURI == DUISSignatureProfile.namespace, element.localName == localName else {
            throw SignatureInvalid(.profile, "expected ds:\(localName) at line \(element.line), found \(element.prefix.map { "\($0):" } ?? "")\(element.localName)")
        }
    }

    static func expectNoAttributes(_ element: XMLElement) throws {
        let attributes = element.attributes
        guard attributes.isEmpty else {
            throw SignatureInvalid(.profile, "ds:\(element.localName) must carry no attributes, found \(attributes.map(\.localName).joined(separator: ", "))")
        }
    }

    /// The element children of `element`, which must be exactly `expected` (ds names, in order), with only
    /// whitespace text and comments between them.
    static func elementChildren(of element: XMLElement, expected: [String], allowText: Bool = false) throws -> [XMLElement] {
        var found = [XMLElement]()
        for child in element.children {
            switch child {
            case .element(let e): found.append(e)
            case .text(let t):
                guard allowText || t.isXMLWhitespace else {
                    throw SignatureInvalid(.profile, "ds:\(element.localName) contains text '\(t.prefix(40))'")
                }
            case .comment: continue
            case .cdata where allowText: continue
            case .cdata:
                throw SignatureInvalid(.profile, "ds:\(element.localName) contains a CDATA section")
            case .processingInstruction:
                throw SignatureInvalid(.profile, "ds:\(element.localName) contains a processing instruction")
            case .other:
                throw SignatureInvalid(.profile, "ds:\(element.localName) contains an unexpected node")
            }
        }
        guard found.count == expected.count else {
            throw SignatureInvalid(.profile, "ds:\(element.localName) must contain \(expected.isEmpty ? "no elements" : expected.map { "ds:\($0)" }.joined(separator: ", ")), found \(found.count) element(s): \(found.map(\.localName).joined(separator: ", "))")
        }
        for (e, name) in zip(found, expected) { try expectName(e, name) }
        return found
    }

    static func expectAlgorithm(_ element: XMLElement, _ algorithm: String) throws {
        let attributes = element.attributes
        guard attributes.count == 1, attributes[0].localName == "Algorithm", attributes[0].namespaceURI == nil else {
            throw SignatureInvalid(.profile, "ds:\(element.localName) must carry exactly one attribute, Algorithm")
        }
        guard attributes[0].value == algorithm else {
            throw SignatureInvalid(.profile, "ds:\(element.localName) Algorithm must be \(algorithm), found \(attributes[0].value)")
        }
        _ = try elementChildren(of: element, expected: [])
    }

    static func base64(_ element: XMLElement, _ name: String, part: SignatureInvalid.Part) throws -> [UInt8] {
        _ = try elementChildren(of: element, expected: [], allowText: true)
        do {
            return try Base64.decode(element.textContent)
        } catch {
            throw SignatureInvalid(part, "\(name) is not valid base64: \(error.reason)")
        }
    }
}

private func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var diff: UInt8 = 0
    for i in 0..<a.count { diff |= a[i] ^ b[i] }
    return diff == 0
}

extension StringProtocol {
    var isXMLWhitespace: Bool {
        utf8.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }
    }

    func trimmingXMLWhitespace() -> String {
        let u = Array(utf8)
        var start = 0
        var end = u.count
        func ws(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D }
        while start < end, ws(u[start]) { start += 1 }
        while end > start, ws(u[end - 1]) { end -= 1 }
        return String(decoding: u[start..<end], as: UTF8.self)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
