internal import COpenSSL
import Foundation

/// The X.509 key usage bits (RFC 5280 §4.2.1.3).
package struct KeyUsage: OptionSet, Sendable, Hashable, CustomStringConvertible {
    package let rawValue: UInt16
    package init(rawValue: UInt16) { self.rawValue = rawValue }

    package static let digitalSignature = KeyUsage(rawValue: 1 << 0)
    package static let nonRepudiation = KeyUsage(rawValue: 1 << 1)
    package static let keyEncipherment = KeyUsage(rawValue: 1 << 2)
    package static let dataEncipherment = KeyUsage(rawValue: 1 << 3)
    package static let keyAgreement = KeyUsage(rawValue: 1 << 4)
    package static let keyCertSign = KeyUsage(rawValue: 1 << 5)
    package static let cRLSign = KeyUsage(rawValue: 1 << 6)
    package static let encipherOnly = KeyUsage(rawValue: 1 << 7)
    package static let decipherOnly = KeyUsage(rawValue: 1 << 8)

    private static let names: [(KeyUsage, String)] = [
        (.digitalSignature, "digitalSignature"), (.nonRepudiation, "nonRepudiation"),
        (.keyEncipherment, "keyEncipherment"), (.dataEncipherment, "dataEncipherment"),
        (.keyAgreement, "keyAgreement"), (.keyCertSign, "keyCertSign"), (.cRLSign, "cRLSign"),
        (.encipherOnly, "encipherOnly"), (.decipherOnly, "decipherOnly"),
    ]

    package var description: String {
        "[" + Self.names.filter { contains($0.0) }.map(\.1).joined(separator: ", ") + "]"
    }

    /// From OpenSSL's `KU_*` bit mask.
    init(openSSLMask mask: UInt32) {
        let pairs: [(UInt32, KeyUsage)] = [
            (UInt32(KU_DIGITAL_SIGNATURE), .digitalSignature), (UInt32(KU_NON_REPUDIATION), .nonRepudiation),
            (UInt32(KU_KEY_ENCIPHERMENT), .keyEncipherment), (UInt32(KU_DATA_ENCIPHERMENT), .dataEncipherment),
            (UInt32(KU_KEY_AGREEMENT), .keyAgreement), (UInt32(KU_KEY_CERT_SIGN), .keyCertSign),
            (UInt32(KU_CRL_SIGN), .cRLSign), (UInt32(KU_ENCIPHER_ONLY), .encipherOnly),
            (UInt32(KU_DECIPHER_ONLY), .decipherOnly),
        ]
        var usage = KeyUsage()
        for (bit, flag) in pairs where mask & bit != 0 { usage.insert(flag) }
        self = usage
    }
}

/// Owns one `X509` and frees it in `deinit`. Only read after construction, which OpenSSL
/// allows from many threads, hence `@unchecked Sendable`.
final class X509Handle {
    let pointer: OpaquePointer  // X509 *
    /// Takes ownership of `pointer` (does not increment its reference count).
    init(takingOwnershipOf pointer: OpaquePointer) { self.pointer = pointer }
    deinit { X509_free(pointer) }
}

// Sound: see the type's documentation.
extension X509Handle: @unchecked Sendable {}

/// An X.509 certificate (an SMKI Organisation Certificate or a CA certificate).
///
/// Every field is read once at construction; the `X509` is afterwards only read (signature
/// checks), hence `@unchecked Sendable`. Equality and hashing use the DER bytes.
public final class Certificate: @unchecked Sendable, Hashable, CustomStringConvertible {
    private let handle: X509Handle

    /// The DER encoding.
    public let derBytes: [UInt8]
    /// The subject (SMKI: the User ID in `x500UniqueIdentifier`, the role in OU).
    public let subject: DistinguishedName
    /// The issuer (the SMKI Organisation CA), as `X509IssuerName` names it.
    public let issuer: DistinguishedName
    /// The serial number, as `X509SerialNumber` names it.
    public let serialNumber: SerialNumber
    /// ``serialNumber`` in decimal, as XMLDSig's `X509SerialNumber` and the reports print it (made once).
    package let serialNumberDecimal: String
    /// The start of the validity period.
    public let notBefore: Date
    /// The end of the validity period.
    public let notAfter: Date
    /// The key usage bits; nil when the extension is absent.
    package let keyUsage: KeyUsage?
    /// certificatePolicies OIDs, dotted; empty when the extension is absent.
    public let policies: [String]
    /// The signature algorithm OID ("1.2.840.10045.4.3.2" is ecdsa-with-SHA256).
    public let signatureAlgorithmOID: String
    /// The extensions GBCS §12 and the SMKI profile look at: presence, criticality and key identifiers.
    package let profile: CertificateProfileFields
    private let subjectKey: Result<PublicKey, CryptoError>
    /// Where the certificate came from (file or field), for messages.
    public let source: String?

    /// Reads a certificate: PEM (`-----BEGIN CERTIFICATE-----`), DER, or bare base64 of the DER
    /// (as DUIS carries certificates; white space is ignored). Of a PEM bundle the first
    /// certificate is taken.
    /// - Throws: ``CryptoError`` with code ``CryptoError/Code/invalidCertificate``.
    package init(encoded: [UInt8], source: String? = nil) throws(CryptoError) {
        OpenSSLErrorQueue.clear()
        let handle = try Self.parse(encoded, source: source)
        let x = handle.pointer
        self.handle = handle
        self.source = source

        var derPointer: UnsafeMutablePointer<UInt8>? = nil
        let derLength = i2d_X509(x, &derPointer)
        defer { cos_openssl_free(derPointer) }
        guard derLength > 0, let derPointer else {
            throw CryptoError.openSSL(.invalidCertificate, "cannot re-encode the certificate", context: source)
        }
        derBytes = Array(UnsafeBufferPointer(start: derPointer, count: Int(derLength)))

        guard let subjectName = X509_get_subject_name(x), let issuerName = X509_get_issuer_name(x),
            let subject = Self.distinguishedName(subjectName), let issuer = Self.distinguishedName(issuerName)
        else {
            throw CryptoError.openSSL(.invalidCertificate, "cannot read the subject or issuer name", context: source)
        }
        self.subject = subject
        self.issuer = issuer

        guard let serial = X509_get0_serialNumber(x) else {
            throw CryptoError.openSSL(.invalidCertificate, "no serial number", context: source)
        }
        // ASN1_INTEGER content is the magnitude; a negative serial (which RFC 5280 forbids) keeps its sign, so that
        // −n and n are different serials.
        serialNumber = SerialNumber(
            bytes: Array(
                UnsafeBufferPointer(start: ASN1_STRING_get0_data(serial), count: Int(ASN1_STRING_length(serial)))),
            negative: cos_x509_serial_is_negative(x) == 1)
        serialNumberDecimal = serialNumber.decimal

        guard let notBefore = Self.date(X509_get0_notBefore(x)), let notAfter = Self.date(X509_get0_notAfter(x)) else {
            throw CryptoError.openSSL(.invalidCertificate, "unreadable validity dates", context: source)
        }
        self.notBefore = notBefore
        self.notAfter = notAfter

        let flags = X509_get_extension_flags(x)
        guard flags & UInt32(EXFLAG_INVALID) == 0 else {
            throw CryptoError.openSSL(.invalidCertificate, "a certificate extension is malformed", context: source)
        }
        keyUsage = flags & UInt32(EXFLAG_KUSAGE) != 0 ? KeyUsage(openSSLMask: X509_get_key_usage(x)) : nil
        profile = CertificateProfileFields(x, flags: flags)

        var policyBuffer = [CChar](repeating: 0, count: 4096)
        let policyCount = cos_x509_policy_oids(x, &policyBuffer, Int32(policyBuffer.count))
        guard policyCount >= 0 else {
            throw CryptoError.openSSL(.invalidCertificate, "malformed certificatePolicies extension", context: source)
        }
        policies = policyCount == 0 ? [] : String(cCharBuffer: policyBuffer).split(separator: "\n").map(String.init)

        var signatureAlgorithm: UnsafePointer<X509_ALGOR>? = nil
        X509_get0_signature(nil, &signatureAlgorithm, x)
        var algorithmObject: OpaquePointer? = nil  // const ASN1_OBJECT *
        X509_ALGOR_get0(&algorithmObject, nil, nil, signatureAlgorithm)
        signatureAlgorithmOID = algorithmObject.map(objectIdentifierText) ?? ""

        if let pkey = X509_get0_pubkey(x), let key = EVPKey.sharing(pkey) {
            do {
                subjectKey = .success(try PublicKey(key: key, context: source))
            } catch {
                subjectKey = .failure(
                    CryptoError(code: .unsupportedCertificate, reason: error.reason, context: source, openSSLErrors: [])
                )
            }
        } else {
            subjectKey = .failure(
                CryptoError.openSSL(.unsupportedCertificate, "the subject public key cannot be read", context: source))
        }
        OpenSSLErrorQueue.clear()
    }

    /// The largest certificate file read, in bytes (a certificate is a few kilobytes).
    public static let maximumFileBytes = 1 << 20

    /// Reads a certificate from its encoding: PEM (`-----BEGIN CERTIFICATE-----`; of a bundle, the first), DER, or
    /// bare base64 of the DER as DUIS carries certificates.
    /// - Parameters:
    ///   - bytes: the encoded certificate.
    ///   - source: a name for messages (a file name).
    /// - Throws: ``CoSSignerError`` (``CoSSignerError/Kind/credentials``) saying why it cannot be read.
    public convenience init(bytes: [UInt8], source: String? = nil) throws(CoSSignerError) {
        do {
            try self.init(encoded: bytes, source: source)
        } catch {
            throw CoSSignerError(error, source: source)
        }
    }

    /// Reads a certificate file (PEM, DER or bare base64): a regular file of at most ``maximumFileBytes``.
    /// - Throws: ``CoSSignerError`` (``CoSSignerError/Kind/credentials``) naming the file and why.
    public convenience init(file path: String) throws(CoSSignerError) {
        do {
            try self.init(contentsOfFile: path)
        } catch {
            throw CoSSignerError(error, source: path)
        }
    }

    /// Reads a certificate file (PEM, DER or bare base64): a regular file of at most ``maximumFileBytes``,
    /// opened without blocking (``Files/openRegularFile(_:failureClass:)``).
    package convenience init(contentsOfFile path: String) throws(CryptoError) {
        let bytes: [UInt8]
        do {
            bytes = try Files.readRegularFile(path, maxBytes: Self.maximumFileBytes, failureClass: .keyOrCertificate)
        } catch {
            throw CryptoError.plain(.unreadableFile, error.reason, context: path)
        }
        try self.init(encoded: bytes, source: path)
    }

    private static func parse(_ encoded: [UInt8], source: String?) throws(CryptoError) -> X509Handle {
        guard !encoded.isEmpty else { throw CryptoError.plain(.invalidCertificate, "empty input", context: source) }
        if let label = encoded.withUnsafeBytes({
            PEMText.label(in: $0, preferring: ["CERTIFICATE", "X509 CERTIFICATE"])
        }) {
            guard label == "CERTIFICATE" || label == "X509 CERTIFICATE" else {
                throw CryptoError.plain(
                    .invalidCertificate, "this is a PEM \(label), not a CERTIFICATE", context: source)
            }
            let x = encoded.withUnsafeBytes { raw in
                withMemoryBIO(raw) { bio in PEM_read_bio_X509(bio, nil, PrivateKeyDecoder.passphraseCallback, nil) }
                    ?? nil
            }
            guard let x else {
                throw CryptoError.openSSL(.invalidCertificate, "cannot decode the PEM CERTIFICATE", context: source)
            }
            return X509Handle(takingOwnershipOf: x)
        }
        var der = encoded
        if encoded[0] != 0x30 {
            do {
                der = try Base64.decode(String(decoding: encoded, as: UTF8.self))
            } catch {
                throw CryptoError.plain(
                    .invalidCertificate, "neither PEM, DER nor base64 of DER (\(error.reason))", context: source)
            }
            guard !der.isEmpty else { throw CryptoError.plain(.invalidCertificate, "empty base64", context: source) }
        }
        let x = der.withUnsafeBufferPointer { buffer -> OpaquePointer? in
            guard let base = buffer.baseAddress else { return nil }
            var cursor: UnsafePointer<UInt8>? = base
            guard let x = d2i_X509(nil, &cursor, buffer.count) else { return nil }
            guard cursor == base + buffer.count else {  // trailing bytes: not one DER certificate
                X509_free(x)
                return nil
            }
            return x
        }
        guard let x else {
            throw CryptoError.openSSL(
                .invalidCertificate, "not a DER X.509 certificate (or trailing bytes after it)", context: source)
        }
        return X509Handle(takingOwnershipOf: x)
    }

    private static func date(_ time: UnsafePointer<ASN1_TIME>?) -> Date? {
        guard let time else { return nil }
        var parts = tm()
        guard ASN1_TIME_to_tm(time, &parts) == 1 else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(timegm(&parts)))
    }

    /// A name read from an `X509_NAME`, with OpenSSL's RFC 2253 text.
    static func distinguishedName(_ name: OpaquePointer) -> DistinguishedName? {
        var derOrder: [[DistinguishedName.Attribute]] = []
        var lastSet: Int32 = -1
        for index in 0..<X509_NAME_entry_count(name) {
            guard let entry = X509_NAME_get_entry(name, index), let object = X509_NAME_ENTRY_get_object(entry),
                let data = X509_NAME_ENTRY_get_data(entry)
            else { return nil }
            let value: DistinguishedName.Value
            switch ASN1_STRING_type(data) {
            case V_ASN1_UTF8STRING, V_ASN1_PRINTABLESTRING, V_ASN1_IA5STRING, V_ASN1_T61STRING, V_ASN1_BMPSTRING,
                V_ASN1_UNIVERSALSTRING, V_ASN1_VISIBLESTRING, V_ASN1_NUMERICSTRING:
                var utf8: UnsafeMutablePointer<UInt8>? = nil
                let length = ASN1_STRING_to_UTF8(&utf8, data)
                defer { cos_openssl_free(utf8) }
                guard length >= 0, let utf8 else { return nil }
                value = .text(String(decoding: UnsafeBufferPointer(start: utf8, count: Int(length)), as: UTF8.self))
            default:
                var der: UnsafeMutablePointer<UInt8>? = nil
                let length = cos_name_entry_value_der(entry, &der)
                defer { cos_openssl_free(der) }
                guard length > 0, let der else { return nil }
                value = .der(Array(UnsafeBufferPointer(start: der, count: Int(length))))
            }
            let attribute = DistinguishedName.Attribute(oid: objectIdentifierText(object), value: value)
            let set = X509_NAME_ENTRY_set(entry)
            if set == lastSet, !derOrder.isEmpty {
                derOrder[derOrder.count - 1].append(attribute)
            } else {
                derOrder.append([attribute])
            }
            lastSet = set
        }
        let text = writtenToBIO { bio in X509_NAME_print_ex(bio, name, 0, cos_xn_flag_rfc2253()) >= 0 } ?? ""
        OpenSSLErrorQueue.clear()
        return DistinguishedName(rdns: derOrder.reversed(), rfc2253: text)
    }

    // MARK: Fields

    /// True when the subject and issuer names are equal and the certificate's signature verifies under its own
    /// key (a self-signed root).
    public var isSelfSigned: Bool {
        subject == issuer && isIssued(by: self)
    }

    /// True when `date` is within [notBefore, notAfter].
    public func isValid(at date: Date) -> Bool { notBefore <= date && date <= notAfter }

    /// The subject's organizationalUnitName: the SMKI remote party role code, e.g. "02", "87".
    public var subjectOrganizationalUnit: String? {
        subject.textValues(forOID: AttributeTypes.organizationalUnit).first
    }

    /// The subject's commonName, if any (e.g. "GITTESTSUPPLIER2").
    public var subjectCommonName: String? {
        subject.textValues(forOID: AttributeTypes.commonName).first
    }

    /// The subject's x500UniqueIdentifier (2.5.4.45) as an EUI-64: a BIT STRING of exactly 64 bits
    /// (DER `03 09 00` + 8 octets). Nil if absent or of any other shape.
    public var entityIdentifier: EUI64? {
        guard let der = subject.derValues(forOID: AttributeTypes.x500UniqueIdentifier).first,
            der.count == 11, der[0] == 0x03, der[1] == 0x09, der[2] == 0x00
        else { return nil }
        return EUI64(octets: der[3...])
    }

    /// True when the subject key is an EC key on P-256.
    public var isP256: Bool {
        if case .success = subjectKey { return true }
        return false
    }

    /// The subject public key. Throws if it is not a P-256 key.
    package func publicKey() throws(CryptoError) -> PublicKey {
        try subjectKey.get()
    }

    /// True when this certificate's issuer name equals `issuer`'s subject name and its
    /// signature verifies under `issuer`'s public key. (Validity dates are not checked.)
    public func isIssued(by issuer: Certificate) -> Bool {
        defer { OpenSSLErrorQueue.clear() }
        guard let issuerName = X509_get_issuer_name(handle.pointer),
            let subjectName = X509_get_subject_name(issuer.handle.pointer),
            X509_NAME_cmp(issuerName, subjectName) == 0,
            let issuerKey = X509_get0_pubkey(issuer.handle.pointer)
        else { return false }
        return X509_verify(handle.pointer, issuerKey) == 1
    }

    /// True when this is the certificate an `X509IssuerSerial` names: this issuer (compared as a distinguished
    /// name) and serial (compared as a number).
    public func isIdentified(byIssuer issuer: DistinguishedName, serial: SerialNumber) -> Bool {
        serialNumber == serial && self.issuer == issuer
    }

    /// True when `key` is the private key of this certificate's subject public key.
    package func matches(_ key: SigningKey) -> Bool {
        guard case .success(let publicKey) = subjectKey else { return false }
        return publicKey == key.publicKey
    }

    /// PEM text (`-----BEGIN CERTIFICATE-----`, 64-column base64, trailing newline).
    public func pem() -> String {
        let base64 = Array(Base64.encode(derBytes).utf8)
        var lines: [String] = ["-----BEGIN CERTIFICATE-----"]
        var start = 0
        while start < base64.count {
            let end = Swift.min(start + 64, base64.count)
            lines.append(String(decoding: base64[start..<end], as: UTF8.self))
            start = end
        }
        lines.append("-----END CERTIFICATE-----")
        return lines.joined(separator: "\n") + "\n"
    }

    public var description: String {
        "Certificate(subject: \(subject), issuer: \(issuer), serial: \(serialNumber))"
    }

    public static func == (lhs: Certificate, rhs: Certificate) -> Bool { lhs.derBytes == rhs.derBytes }
    public func hash(into hasher: inout Hasher) { hasher.combine(derBytes) }
}

/// The extension fields of a certificate that the SMKI and GBCS profiles check (GBCS §12): which extensions are
/// present and critical, and the key identifiers.
package struct CertificateProfileFields: Sendable, Hashable {
    /// How an extension appears in a certificate.
    package enum Presence: Sendable, Hashable {
        case absent, nonCritical, critical
    }

    /// keyUsage (2.5.29.15).
    package let keyUsage: Presence
    /// certificatePolicies (2.5.29.32).
    package let certificatePolicies: Presence
    /// basicConstraints (2.5.29.19).
    package let basicConstraints: Presence
    /// True when basicConstraints says cA TRUE.
    package let isCA: Bool
    /// The subjectKeyIdentifier octets, nil when the extension is absent.
    package let subjectKeyIdentifier: [UInt8]?
    /// The authorityKeyIdentifier's keyIdentifier `[0]` octets, nil when absent.
    package let authorityKeyIdentifier: [UInt8]?
    /// True when the authorityKeyIdentifier also carries authorityCertIssuer or authorityCertSerialNumber.
    package let authorityKeyIdentifierHasIssuerAndSerial: Bool
    /// True when the subject public key is an uncompressed EC point (`04 || X || Y`, 65 octets).
    package let publicKeyIsUncompressedPoint: Bool

    init(_ x: OpaquePointer, flags: UInt32) {
        func presence(_ nid: Int32) -> Presence {
            switch cos_x509_extension_criticality(x, nid) {
            case 1: .critical
            case 0, -2: .nonCritical
            default: .absent
            }
        }
        keyUsage = presence(NID_key_usage)
        certificatePolicies = presence(NID_certificate_policies)
        basicConstraints = presence(NID_basic_constraints)
        isCA = flags & UInt32(EXFLAG_CA) != 0
        var pointer: UnsafePointer<UInt8>? = nil
        let skiLength = cos_x509_subject_key_id(x, &pointer)
        subjectKeyIdentifier = skiLength >= 0 ? Array(UnsafeBufferPointer(start: pointer, count: Int(skiLength))) : nil
        var other: Int32 = 0
        pointer = nil
        let akiLength = cos_x509_authority_key_id(x, &pointer, &other)
        authorityKeyIdentifier = akiLength >= 0 ? Array(UnsafeBufferPointer(start: pointer, count: Int(akiLength))) : nil
        authorityKeyIdentifierHasIssuerAndSerial = other != 0
        pointer = nil
        let bitsLength = cos_x509_public_key_bits(x, &pointer)
        publicKeyIsUncompressedPoint = bitsLength == 65 && pointer?.pointee == 0x04
    }
}

/// Dotted text of an ASN1_OBJECT.
func objectIdentifierText(_ object: OpaquePointer) -> String {
    var buffer = [CChar](repeating: 0, count: 128)
    let length = OBJ_obj2txt(&buffer, Int32(buffer.count), object, 1)
    guard length > 0, Int(length) < buffer.count else { return "" }
    return String(cCharBuffer: buffer)
}
