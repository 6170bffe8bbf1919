/// The DUIS XML Signature profile: the only algorithms CoSSigner signs with and accepts.
///
/// Enveloped signature, `ds:Signature` as the last child of the root; SignedInfo canonicalised with
/// exclusive C14N 1.0; one `Reference URI=""` whose only transform is the enveloped-signature transform,
/// so the referenced octets are the **inclusive** Canonical XML 1.0 of the document without its
/// Signature; SHA-256 digest; ECDSA P-256 with SHA-256, SignatureValue as raw `r||s`;
/// KeyInfo `X509Data/X509IssuerSerial`.
public enum DUISSignatureProfile {
    /// The XML Signature namespace.
    public static let namespace = "http://www.w3.org/2000/09/xmldsig#"
    /// CanonicalizationMethod of SignedInfo (exclusive C14N 1.0 without comments).
    public static let canonicalizationMethod = "http://www.w3.org/2001/10/xml-exc-c14n#"
    /// SignatureMethod (ECDSA with SHA-256).
    public static let signatureMethod = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
    /// The only Transform (enveloped signature).
    public static let envelopedSignatureTransform = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
    /// DigestMethod (SHA-256).
    public static let digestMethod = "http://www.w3.org/2001/04/xmlenc#sha256"

    static let signedInfoHead = Array(
        (#"<ds:SignedInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#">"#
            + signedInfoBodyHead).utf8)
    static let signedInfoBodyHead =
        #"<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"></ds:CanonicalizationMethod>"#
        + #"<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"></ds:SignatureMethod>"#
        + #"<ds:Reference URI=""><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"></ds:Transform></ds:Transforms>"#
        + #"<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"></ds:DigestMethod><ds:DigestValue>"#
    static let signedInfoTail = Array(#"</ds:DigestValue></ds:Reference></ds:SignedInfo>"#.utf8)

    /// The exclusive canonical form of the SignedInfo this profile signs, for a given DigestValue:
    /// exactly the octets ECDSA signs.
    public static func canonicalSignedInfo(digestValue base64: String) -> [UInt8] {
        signedInfoHead + Array(base64.utf8) + signedInfoTail
    }
}
