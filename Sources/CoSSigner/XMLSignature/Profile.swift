/// The DUIS XML Signature profile: the only algorithms CoSSigner signs with and accepts.
///
/// Enveloped signature, `ds:Signature` as the last child of the root; SignedInfo canonicalised with
/// exclusive C14N 1.0; one `Reference URI=""` whose only transform is the enveloped-signature transform,
/// so the referenced octets are the **inclusive** Canonical XML 1.0 of the document without its
/// Signature; SHA-256 digest; ECDSA P-256 with SHA-256, SignatureValue as raw `r||s`;
/// KeyInfo `X509Data/X509IssuerSerial`.
package enum DUISSignatureProfile {
    /// The XML Signature namespace.
    package static let namespace = "http://www.w3.org/2000/09/xmldsig#"
    /// CanonicalizationMethod of SignedInfo (exclusive C14N 1.0 without comments).
    package static let canonicalizationMethod = "http://www.w3.org/2001/10/xml-exc-c14n#"
    /// SignatureMethod (ECDSA with SHA-256).
    package static let signatureMethod = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
    /// The only Transform (enveloped signature).
    package static let envelopedSignatureTransform = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
    /// DigestMethod (SHA-256).
    package static let digestMethod = "http://www.w3.org/2001/04/xmlenc#sha256"

    /// The start tag of SignedInfo in its exclusive canonical form (namespace declared on it), then its children
    /// up to the DigestValue text: ``canonicalSignedInfo(digestValue:)`` is this, the DigestValue, ``signedInfoTail``.
    static let signedInfoHead = Array(
        (#"<ds:SignedInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#">"# + signedInfoBodyHead).utf8)
    /// The children of SignedInfo up to the DigestValue text, exactly as this profile writes them.
    static let signedInfoBodyHead =
        #"<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"></ds:CanonicalizationMethod>"#
        + #"<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"></ds:SignatureMethod>"#
        + #"<ds:Reference URI=""><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"></ds:Transform></ds:Transforms>"#
        + #"<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"></ds:DigestMethod><ds:DigestValue>"#
    /// What closes SignedInfo after the DigestValue text.
    static let signedInfoTailText = "</ds:DigestValue></ds:Reference></ds:SignedInfo>"
    static let signedInfoTail = Array(signedInfoTailText.utf8)

    /// The exclusive canonical form of the SignedInfo this profile signs, for a given DigestValue:
    /// exactly the octets ECDSA signs.
    package static func canonicalSignedInfo(digestValue base64: String) -> [UInt8] {
        signedInfoHead + Array(base64.utf8) + signedInfoTail
    }
}

/// The byte layout of the `ds:Signature` element this library writes, defined once: five fixed parts around
/// its four values (DigestValue, SignatureValue, X509IssuerName, X509SerialNumber), with nothing between
/// elements. ``DUISSigner`` writes it, ``DUISVerifier``'s template path recognises it, and the single-pass
/// canonicalizer skips over it; all three read these parts and nothing else, so the layout cannot drift
/// apart between them. Its SignedInfo, in exclusive canonical form, is
/// ``DUISSignatureProfile/canonicalSignedInfo(digestValue:)``.
enum DUISSignatureLayout {
    /// The Signature's start tag (declaring `ds`), SignedInfo's start tag and its children up to the DigestValue text.
    static let beforeDigestValue = Array(
        (#"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>"# + DUISSignatureProfile.signedInfoBodyHead).utf8)
    /// After the DigestValue text, up to the SignatureValue text.
    static let afterDigestValue = Array((DUISSignatureProfile.signedInfoTailText + "<ds:SignatureValue>").utf8)
    /// After the SignatureValue text, up to the X509IssuerName text.
    static let afterSignatureValue = Array(
        "</ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509IssuerSerial><ds:X509IssuerName>".utf8)
    /// After the X509IssuerName text, up to the X509SerialNumber text.
    static let afterIssuerName = Array("</ds:X509IssuerName><ds:X509SerialNumber>".utf8)
    /// After the X509SerialNumber text, up to the Signature's end tag (excluded).
    static let afterSerialNumber = Array("</ds:X509SerialNumber></ds:X509IssuerSerial></ds:X509Data></ds:KeyInfo>".utf8)
    /// The Signature's end tag.
    static let signatureEnd = Array("</ds:Signature>".utf8)

    /// The fixed parts in order: the first four each precede one value; the last precedes ``signatureEnd``.
    static let parts: [[UInt8]] = [beforeDigestValue, afterDigestValue, afterSignatureValue, afterIssuerName, afterSerialNumber]

    /// The number of bytes of the fixed parts (values excluded).
    static let fixedByteCount = parts.reduce(signatureEnd.count) { $0 + $1.count }

    /// The whole element for the given value texts (already escaped for XML text).
    static func element(digestValue: [UInt8], signatureValue: [UInt8], issuerName: [UInt8], serialNumber: [UInt8]) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(fixedByteCount + digestValue.count + signatureValue.count + issuerName.count + serialNumber.count)
        for (part, value) in zip(parts, [digestValue, signatureValue, issuerName, serialNumber]) {
            out += part
            out += value
        }
        out += afterSerialNumber
        out += signatureEnd
        return out
    }
}
