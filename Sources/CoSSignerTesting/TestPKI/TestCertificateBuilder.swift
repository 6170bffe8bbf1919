import CoSSigner
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
    /// Departures from the SMKI/GBCS profile, for test vectors of certificates a meter refuses; none by default.
    var deviations = Deviations()

    /// Ways a certificate can depart from the GBCS §12 profile (each defaults to the profile).
    struct Deviations {
        /// keyUsage: critical (default), not critical, or left out.
        var keyUsage: Presence = .critical
        /// certificatePolicies: critical (default), not critical, or left out.
        var certificatePolicies: Presence = .critical
        /// The SubjectKeyIdentifier's length (8 by default: RFC 5280 method 2); nil leaves it out.
        var subjectKeyIdentifierLength: Int? = 8
        /// Leave out the AuthorityKeyIdentifier (only a self-signed root may).
        var omitAuthorityKeyIdentifier = false
        /// Write the public key as a compressed point.
        var compressedPoint = false
        /// The signature algorithm named (ecdsa-with-SHA256 by default; the signature itself is always made
        /// with SHA-256, so another name also breaks the signature).
        var signatureAlgorithmOID = OID.ecdsaWithSHA256
        /// Leave out basicConstraints (a CA without it is not a CA).
        var omitBasicConstraints = false
        /// Encode the serial as the negative INTEGER −serial (two's complement, same length): RFC 5280 forbids
        /// it, OpenSSL parses it. The serial's first byte must be below 0x80.
        var negativeSerial = false

        enum Presence { case critical, nonCritical, absent }
    }

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

    /// −n in two's complement over the same number of bytes (n's first byte below 0x80, so the result's top bit
    /// is set and it is a minimal negative INTEGER unless n is tiny).
    static func negated(_ magnitude: [UInt8]) -> [UInt8] {
        var result = magnitude.map { ~$0 }
        var index = result.count - 1
        while index >= 0 {
            let (sum, overflow) = result[index].addingReportingOverflow(1)
            result[index] = sum
            if !overflow { break }
            index -= 1
        }
        return result
    }

    /// The SubjectPublicKeyInfo of a P-256 key with its point compressed (`02`/`03` || X).
    static func compressedSPKI(_ key: PublicKey) -> [UInt8] {
        let point = key.uncompressedPoint
        let prefix: UInt8 = point[64] & 1 == 0 ? 0x02 : 0x03
        return DER.sequence([
            DER.sequence([DER.oid("1.2.840.10045.2.1"), DER.oid("1.2.840.10045.3.1.7")]),
            DER.bitString([prefix] + point[1...32]),
        ])
    }

    /// Builds and signs the certificate with `issuerKey`.
    func build(signedBy issuerKey: SigningKey) throws(TestPKIError) -> Certificate {
        let d = deviations
        let fullSKI = try Self.keyIdentifier(subjectKey)
        func extensionIf(_ presence: Deviations.Presence, _ oid: String, _ value: [UInt8]) -> [UInt8]? {
            presence == .absent ? nil : Self.extensionDER(oid, critical: presence == .critical, value)
        }
        let keyUsageExtension = extensionIf(d.keyUsage, OID.keyUsage, Self.keyUsageBits(keyUsage))
        let skiExtension = d.subjectKeyIdentifierLength.map { length in
            let ski = length <= fullSKI.count ? Array(fullSKI.prefix(length)) : fullSKI + [UInt8](repeating: 0x5A, count: length - fullSKI.count)
            return Self.extensionDER(OID.subjectKeyIdentifier, critical: false, DER.octetString(ski))
        }
        let akiExtension = d.omitAuthorityKeyIdentifier ? nil : Self.extensionDER(
            OID.authorityKeyIdentifier, critical: false,
            DER.sequence([DER.implicitPrimitive(0, authorityKeyIdentifier)]))
        let policiesExtension = extensionIf(
            d.certificatePolicies, OID.certificatePolicies, DER.sequence([DER.sequence([DER.oid(policyOID)])]))
        let extensions: [[UInt8]]
        switch kind {
        case .root:
            let bc = d.omitBasicConstraints ? nil : Self.extensionDER(OID.basicConstraints, critical: true, DER.sequence([DER.boolean(true)]))
            extensions = [keyUsageExtension, bc, policiesExtension, skiExtension].compactMap { $0 }
        case .issuingCA:
            let bc = d.omitBasicConstraints ? nil : Self.extensionDER(
                OID.basicConstraints, critical: true, DER.sequence([DER.boolean(true), DER.integer(0)]))
            extensions = [keyUsageExtension, bc, policiesExtension, skiExtension, akiExtension].compactMap { $0 }
        case .endEntity:
            extensions = [keyUsageExtension, skiExtension, policiesExtension, akiExtension].compactMap { $0 }
        }
        let algorithm = DER.sequence([DER.oid(d.signatureAlgorithmOID)])
        let tbs = DER.sequence([
            DER.explicit(0, DER.integer(2)),
            d.negativeSerial ? DER.tlv(0x02, Self.negated(serial)) : DER.unsignedInteger(serial),
            algorithm,
            issuerName,
            DER.sequence([notBefore, notAfter]),
            subjectName,
            d.compressedPoint ? Self.compressedSPKI(subjectKey) : subjectKey.spkiDER,
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
