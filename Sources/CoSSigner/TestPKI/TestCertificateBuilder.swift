internal import COpenSSL

/// Builds SMKI-shaped X.509 v3 certificates for the test PKI, as DER written here (so the bytes
/// are fully determined by the inputs) and signed with RFC 6979 deterministic ECDSA.
///
/// The layout follows the DCC Boxed ZAZ1 certificates (domain notes §3): CA names are
/// `OU=<role>, CN=<name>` as PrintableString; end-entity names are `[CN], OU, x500UniqueIdentifier`
/// with UTF8String text and the EUI-64 as a 64-bit BIT STRING; extensions in the same order as the
/// ZAZ1 certificates; 8-byte key identifiers by RFC 5280 §4.2.1.2 method 2.
struct TestCertificateBuilder {
    enum OID {
        static let ecdsaWithSHA256 = "1.2.840.10045.4.3.2"
        static let commonName = "2.5.4.3"
        static let organizationalUnit = "2.5.4.11"
        static let x500UniqueIdentifier = "2.5.4.45"
        static let basicConstraints = "2.5.29.19"
        static let keyUsage = "2.5.29.15"
        static let subjectKeyIdentifier = "2.5.29.14"
        static let authorityKeyIdentifier = "2.5.29.35"
        static let certificatePolicies = "2.5.29.32"
    }

    /// What kind of certificate: it decides basicConstraints, AKI and the extension order.
    enum Kind {
        /// Self-signed root: basicConstraints CA:TRUE, no AKI.
        case root
        /// Issuing CA: basicConstraints CA:TRUE, pathLenConstraint 0.
        case issuingCA
        /// SMKI Organisation Certificate.
        case endEntity
    }

    var kind: Kind
    /// 16 bytes, first byte 0x40 ... 0x7F (positive, exactly 16 content bytes).
    var serial: [UInt8]
    /// The issuer Name (DER); for a root, equal to `subjectName`.
    var issuerName: [UInt8]
    var subjectName: [UInt8]
    var subjectKey: PublicKey
    /// The issuer's subject key identifier (ignored for a root).
    var authorityKeyIdentifier: [UInt8]
    var keyUsage: KeyUsage
    var policyOID: String
    var notBefore: [UInt8]
    var notAfter: [UInt8]

    /// The subject key identifier: 0100 followed by the low 60 bits of SHA-1 of the
    /// subjectPublicKey bits (RFC 5280 §4.2.1.2 method 2), 8 bytes.
    static func keyIdentifier(_ key: PublicKey) throws(TestPKIError) -> [UInt8] {
        let point = key.uncompressedPoint
        var digest = [UInt8](repeating: 0, count: 64)
        var length: UInt32 = 0
        let ok = point.withUnsafeBytes { raw in
            EVP_Digest(raw.baseAddress, raw.count, &digest, &length, EVP_sha1(), nil)
        }
        ERR_clear_error()
        guard ok == 1, length == 20 else {
            throw TestPKIError(kind: .internalFailure, reason: "SHA-1 is not available for the key identifier")
        }
        var identifier = Array(digest[12..<20])
        identifier[0] = 0x40 | (identifier[0] & 0x0F)
        return identifier
    }

    /// `OU=<role>, CN=<name>` with PrintableString values (CA certificates).
    static func caName(role: String, commonName: String) -> [UInt8] {
        DER.sequence([
            DER.set([DER.sequence([DER.oid(OID.organizationalUnit), DER.printableString(role)])]),
            DER.set([DER.sequence([DER.oid(OID.commonName), DER.printableString(commonName)])]),
        ])
    }

    /// `[CN=<name>,] OU=<role>, x500UniqueIdentifier=<EUI-64 as 64-bit BIT STRING>` (end entities).
    static func entityName(commonName: String?, role: String, entity: EUI64) -> [UInt8] {
        var rdns: [[UInt8]] = []
        if let commonName {
            rdns.append(DER.set([DER.sequence([DER.oid(OID.commonName), DER.utf8String(commonName)])]))
        }
        rdns.append(DER.set([DER.sequence([DER.oid(OID.organizationalUnit), DER.utf8String(role)])]))
        rdns.append(DER.set([DER.sequence([DER.oid(OID.x500UniqueIdentifier), DER.bitString(entity.octets)])]))
        return DER.sequence(rdns)
    }

    /// The keyUsage BIT STRING in DER (named bits, trailing zero bits removed).
    static func keyUsageBits(_ usage: KeyUsage) -> [UInt8] {
        let highest: Int = (0..<9).last(where: { usage.rawValue & (1 << $0) != 0 }) ?? 0
        var bytes = [UInt8](repeating: 0, count: highest / 8 + 1)
        for bit in 0..<9 where usage.rawValue & (1 << bit) != 0 {
            bytes[bit / 8] |= 0x80 >> UInt8(bit % 8)
        }
        return DER.bitString(bytes, unusedBits: UInt8(7 - highest % 8))
    }

    private static func extensionDER(_ oid: String, critical: Bool, _ value: [UInt8]) -> [UInt8] {
        DER.sequence([DER.oid(oid)] + (critical ? [DER.boolean(true)] : []) + [DER.octetString(value)])
    }

    /// Builds and signs the certificate with `issuerKey`.
    func build(signedBy issuerKey: SigningKey) throws(TestPKIError) -> Certificate {
        let ski = try Self.keyIdentifier(subjectKey)
        let keyUsageExtension = Self.extensionDER(OID.keyUsage, critical: true, Self.keyUsageBits(keyUsage))
        let skiExtension = Self.extensionDER(OID.subjectKeyIdentifier, critical: false, DER.octetString(ski))
        let akiExtension = Self.extensionDER(
            OID.authorityKeyIdentifier, critical: false,
            DER.sequence([DER.implicitPrimitive(0, authorityKeyIdentifier)]))
        let policiesExtension = Self.extensionDER(
            OID.certificatePolicies, critical: true, DER.sequence([DER.sequence([DER.oid(policyOID)])]))
        let extensions: [[UInt8]]
        switch kind {
        case .root:
            let bc = Self.extensionDER(OID.basicConstraints, critical: true, DER.sequence([DER.boolean(true)]))
            extensions = [keyUsageExtension, bc, policiesExtension, skiExtension]
        case .issuingCA:
            let bc = Self.extensionDER(
                OID.basicConstraints, critical: true, DER.sequence([DER.boolean(true), DER.integer(0)]))
            extensions = [keyUsageExtension, bc, policiesExtension, skiExtension, akiExtension]
        case .endEntity:
            extensions = [keyUsageExtension, skiExtension, policiesExtension, akiExtension]
        }
        let algorithm = DER.sequence([DER.oid(OID.ecdsaWithSHA256)])
        let tbs = DER.sequence([
            DER.explicit(0, DER.integer(2)),
            DER.unsignedInteger(serial),
            algorithm,
            issuerName,
            DER.sequence([notBefore, notAfter]),
            subjectName,
            subjectKey.spkiDER,
            DER.explicit(3, DER.sequence(extensions)),
        ])
        let signature: ECDSASignature
        do {
            signature = try issuerKey.deterministicSignature(for: tbs)
        } catch {
            throw TestPKIError(kind: .internalFailure, reason: "signing a certificate failed: \(error)")
        }
        let der = DER.sequence([tbs, algorithm, DER.bitString(signature.derRepresentation)])
        do {
            return try Certificate(encoded: der, source: "test PKI")
        } catch {
            throw TestPKIError(kind: .internalFailure, reason: "a generated certificate does not parse: \(error)")
        }
    }
}
