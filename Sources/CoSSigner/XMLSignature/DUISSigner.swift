/// How a document is signed.
package struct SigningOptions: Sendable, Equatable {
    /// Keep the input's whitespace between elements instead of emitting the compact form
    /// (DCC's own tool only accepts compact documents, so this is off by default).
    package var keepWhitespace: Bool
    /// Sign deterministically (RFC 6979) instead of with a random nonce.
    package var deterministic: Bool
    /// Bounds applied when parsing the input.
    package var limits: XMLParseLimits

    package init(keepWhitespace: Bool = false, deterministic: Bool = false, limits: XMLParseLimits = .default) {
        self.keepWhitespace = keepWhitespace
        self.deterministic = deterministic
        self.limits = limits
    }
}

/// A signed document and the values that went into its signature.
package struct SignedDocument: Sendable {
    /// The signed document: the canonical form of the input with `ds:Signature` as the root's last child.
    package let bytes: [UInt8]
    /// The base64 DigestValue (SHA-256 of the inclusive canonical form of the document without the Signature).
    package let digestValue: String
    /// The base64 SignatureValue (raw `r||s`).
    package let signatureValue: String
}

/// Signs DUIS documents with one key and its certificate, following ``DUISSignatureProfile``.
///
/// One signer may be shared by many threads.
package final class DUISSigner: Sendable {
    /// The signing key: a file key or a PKCS#11 token key.
    package let key: AnySigningKey
    /// The certificate named in KeyInfo.
    package let certificate: Certificate
    /// The X509IssuerName and X509SerialNumber texts of KeyInfo (escaped issuer name, decimal serial).
    private let issuerNameText: [UInt8]
    private let serialNumberText: [UInt8]

    /// Makes a signer with a file key. The key must be the certificate's key.
    /// - Throws: ``SigningRefused`` (key or certificate class) when they do not match.
    package convenience init(key: SigningKey, certificate: Certificate) throws {
        try self.init(key: AnySigningKey(key), certificate: certificate)
    }

    /// Makes a signer with a key of either kind (a token key: ``PKCS11SigningKey/load(uri:modulePath:pin:certificate:pinFilePolicy:)``).
    /// The key must be the certificate's key. A token key refuses ``SigningOptions/deterministic``
    /// (``PKCS11Error/Code/deterministicUnsupported``).
    /// - Throws: ``SigningRefused`` (key or certificate class) when they do not match.
    package init(key: AnySigningKey, certificate: Certificate) throws {
        guard certificate.isP256 else {
            throw SigningRefused("the signing certificate \(certificate.serialNumber) does not hold a P-256 key", failureClass: .keyOrCertificate)
        }
        guard certificate.matches(key) else {
            throw SigningRefused(
                "the private key does not belong to the signing certificate (serial \(certificate.serialNumber), issuer \(certificate.issuer.rfc2253))",
                failureClass: .keyOrCertificate)
        }
        self.key = key
        self.certificate = certificate
        issuerNameText = Array(XMLText.escape(certificate.issuer.rfc2253).utf8)
        serialNumberText = Array(certificate.serialNumberDecimal.utf8)
    }

    /// Signs a document given as bytes.
    ///
    /// Any `ds:Signature` that is a child of the root (a template's placeholder) is removed first; a
    /// `ds:Signature` anywhere else is refused. Unless ``SigningOptions/keepWhitespace`` is set, whitespace
    /// between elements is dropped. The output is the inclusive canonical form of the document (exactly the
    /// digested octets) with the new `ds:Signature` inserted as the root's last child.
    /// - Throws: ``XMLError`` for unreadable XML, ``SigningRefused`` for documents that cannot be signed,
    ///   ``CryptoError`` if signing fails.
    package func sign(_ bytes: [UInt8], options: SigningOptions = SigningOptions(), source: String? = nil) throws -> SignedDocument {
        if let signed = try fastSign(bytes, options: options) { return signed }
        let document = try XMLDocument(parsing: bytes, limits: options.limits, source: source)
        return try sign(document, options: options, source: source)
    }

    /// The single-pass canonicalizer's path: hashes and copies the canonical octets straight from its buffer.
    /// `nil` when it does not handle the document.
    private func fastSign(_ bytes: [UInt8], options: SigningOptions) throws -> SignedDocument? {
        try bytes.withUnsafeBytes { raw throws -> SignedDocument? in
            try FastCanonicalizer.withScanner(raw, mode: .signing(compact: !options.keepWhitespace), limits: options.limits) {
                scanner throws -> SignedDocument in
                try finish(canonical: scanner.canonical, rootQualifiedName: scanner.rootQualifiedName, options: options)
            }
        }
    }

    /// Signs `document`, which was parsed from `bytes` and not changed since: the single-pass canonicalizer
    /// reads the bytes when it handles them (the same octets as the libxml2 path, without its tree walks);
    /// otherwise the document is signed as ``sign(_:options:source:)-(XMLDocument,_,_)`` does.
    func sign(_ document: XMLDocument, parsedFrom bytes: [UInt8], options: SigningOptions, source: String?) throws -> SignedDocument {
        if let signed = try fastSign(bytes, options: options) { return signed }
        return try sign(document, options: options, source: source)
    }

    /// Signs a parsed document (which this call modifies: old signatures removed, whitespace compacted).
    package func sign(_ document: XMLDocument, options: SigningOptions = SigningOptions(), source: String? = nil) throws -> SignedDocument {
        let root = document.root
        let signatures = document.elements(namespaceURI: DUISSignatureProfile.namespace, localName: "Signature")
        // Check them all before removing any: removing one frees the subtree of a nested one.
        for signature in signatures {
            guard let parent = signature.parent, parent.isSameNode(as: root) else {
                throw SigningRefused("a ds:Signature at line \(signature.line) is not a child of the root element; only a root-level placeholder is replaced", source: source)
            }
        }
        for signature in signatures { document.remove(signature) }
        if !options.keepWhitespace {
            document.removeWhitespaceBetweenElements()
        }
        let canonical = try document.inclusiveCanonicalForm()
        let qualifiedName = root.prefix.map { "\($0):\(root.localName)" } ?? root.localName
        let closingTag = Array("</\(qualifiedName)>".utf8)
        guard canonical.count >= closingTag.count, canonical.suffix(closingTag.count).elementsEqual(closingTag) else {
            throw SigningRefused("content after the root element (a processing instruction) is not accepted", source: source)
        }
        return try finish(canonical: canonical, rootQualifiedName: Array(qualifiedName.utf8), options: options)
    }

    /// Digest, SignedInfo, ECDSA and the output: `canonical` ends with the root's end tag.
    func finish(canonical: [UInt8], rootQualifiedName: [UInt8], options: SigningOptions) throws -> SignedDocument {
        try canonical.withUnsafeBufferPointer { canonical in
            try rootQualifiedName.withUnsafeBufferPointer { name in
                try finish(canonical: canonical, rootQualifiedName: name, options: options)
            }
        }
    }

    /// ``finish(canonical:rootQualifiedName:options:)`` over buffers (the single-pass canonicalizer's own).
    ///
    /// The canonical SignedInfo (``DUISSignatureProfile/canonicalSignedInfo(digestValue:)``) is hashed in its
    /// three parts, and the output is written into one allocation, piece by piece.
    func finish(
        canonical: UnsafeBufferPointer<UInt8>, rootQualifiedName: UnsafeBufferPointer<UInt8>, options: SigningOptions
    ) throws -> SignedDocument {
        let closingTagCount = rootQualifiedName.count + 3
        let digest = SHA256.hash(UnsafeRawBufferPointer(canonical))
        var digestValue = Base64.encode(digest)
        let signedInfoDigest = digestValue.withUTF8 { value in
            DUISSignatureProfile.signedInfoHead.withUnsafeBytes { head in
                DUISSignatureProfile.signedInfoTail.withUnsafeBytes { tail in
                    SHA256.hash(head, UnsafeRawBufferPointer(value), tail)
                }
            }
        }
        let signature = options.deterministic
            ? try key.deterministicSignature(forDigest: signedInfoDigest)
            : try key.signature(forDigest: signedInfoDigest)
        let signatureValue = Base64.encode(signature.rawRepresentation)

        let contentCount = max(0, canonical.count - closingTagCount)
        let digestText = Array(digestValue.utf8)
        let signatureText = Array(signatureValue.utf8)
        // The Signature element is ``DUISSignatureLayout``: its fixed parts around the four values.
        let values = [digestText, signatureText, issuerNameText, serialNumberText]
        let total = canonical.count + DUISSignatureLayout.fixedByteCount + values.reduce(0) { $0 + $1.count }
        let out = [UInt8](unsafeUninitializedCapacity: total) { buffer, initialized in
            var offset = 0
            func put(_ part: UnsafeBufferPointer<UInt8>) {
                guard let source = part.baseAddress, part.count > 0, let target = buffer.baseAddress else { return }
                (target + offset).initialize(from: source, count: part.count)
                offset += part.count
            }
            func put(_ part: [UInt8]) { part.withUnsafeBufferPointer { put($0) } }
            put(UnsafeBufferPointer(rebasing: canonical[..<contentCount]))
            for (part, value) in zip(DUISSignatureLayout.parts, values) {
                put(part)
                put(value)
            }
            put(DUISSignatureLayout.afterSerialNumber)
            put(DUISSignatureLayout.signatureEnd)
            put(UnsafeBufferPointer(rebasing: canonical[contentCount...]))
            initialized = offset
        }
        return SignedDocument(bytes: out, digestValue: digestValue, signatureValue: signatureValue)
    }
}

/// Escaping of character data for XML text content.
package enum XMLText {
    static package func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for ch in text.unicodeScalars {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\r": out += "&#xD;"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }
}
