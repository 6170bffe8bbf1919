import CoSSigner
internal import COpenSSL

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why the test PKI could not be made or written.
public struct TestPKIError: ClassifiedError, Equatable {
    public enum Kind: String, Sendable {
        /// A parameter is out of range (party count, name).
        case invalidOptions = "invalid test PKI options"
        /// The output directory is not empty and overwriting was not asked for.
        case directoryNotEmpty = "output directory not empty"
        /// A file or directory could not be created or written.
        case io = "cannot write the test PKI"
        /// Key generation, signing or a self-check failed (a bug, or a broken OpenSSL).
        case internalFailure = "test PKI generation failed"
        /// The keys could not be put into a PKCS#11 token (`testpki --pkcs11`): SoftHSM2's tool or module is
        /// missing, or the tool failed.
        case tokenUnavailable = "cannot put the keys into a PKCS#11 token"
    }

    public let kind: Kind
    /// The file or directory concerned, if any.
    public let path: String?
    public let reason: String

    public init(kind: Kind, path: String? = nil, reason: String) {
        self.kind = kind
        self.path = path
        self.reason = reason
    }

    /// ``Kind/invalidOptions`` and ``Kind/directoryNotEmpty`` are usage errors; ``Kind/io`` is an
    /// input (file system) failure; ``Kind/internalFailure`` and ``Kind/tokenUnavailable`` key or certificate
    /// failures.
    package var failureClass: FailureClass {
        switch kind {
        case .invalidOptions, .directoryNotEmpty: .usage
        case .io: .input
        case .internalFailure, .tokenUnavailable: .keyOrCertificate
        }
    }

    /// Equality compares only ``kind``.
    public static func == (lhs: TestPKIError, rhs: TestPKIError) -> Bool { lhs.kind == rhs.kind }

    public var description: String {
        (path.map { "\($0): " } ?? "") + "\(kind.rawValue): \(reason)"
    }
}

/// A key with its certificate, and the file name stem both are written under (`keys/<stem>.pem`,
/// `keys/<stem>.key.pem`).
public struct TestPKICredential: Sendable {
    /// File name stem, e.g. `ts1-xml-sign`.
    public let stem: String
    package let key: SigningKey
    public let certificate: Certificate

    /// `keys/<stem>.pem`, relative to the output directory.
    public var certificatePath: String { "keys/\(stem).pem" }
    /// `keys/<stem>.key.pem`, relative to the output directory.
    public var keyPath: String { "keys/\(stem).key.pem" }
}

/// One test Supplier Party: identifiers, its SMKI-shaped certificates and two sample 6.23 requests.
public struct TestPKIParty: Sendable {
    /// Registry id, `ts<i>`.
    public let id: String
    /// Display name, `Test Supplier <i>`.
    public let name: String
    /// Two MPIDs (electricity-like `…E` and gas-like `…G`), to exercise multi-MPID parties.
    public let mpids: [String]
    /// The party's User ID (Business Originator), also the Entity Identifier of all its certificates.
    public let userID: EUI64
    /// The meter the sample requests target.
    public let businessTarget: EUI64
    /// The sample requests' ImportMPxN: a 13-digit MPAN core with a valid check digit.
    public let importMPxN: String
    /// OU 87 (XmlSign), keyUsage digitalSignature: signs the party's DUIS requests.
    public let xmlSigning: TestPKICredential
    /// OU 02 (Supplier), keyUsage digitalSignature.
    public let digitalSigning: TestPKICredential
    /// OU 02, keyUsage keyAgreement.
    public let keyAgreement: TestPKICredential
    /// OU 02, keyUsage keyAgreement (prepayment top-up).
    public let keyAgreementTopUp: TestPKICredential
    /// Unsigned immediate request (counter 1000).
    public let immediateRequest: ServiceRequest623
    /// Unsigned future-dated request (counter 1001, ``TestPKI/futureExecutionDateTime``).
    public let futureDatedRequest: ServiceRequest623

    /// All four credentials, XML signing first.
    public var credentials: [TestPKICredential] { [xmlSigning, digitalSigning, keyAgreement, keyAgreementTopUp] }

    /// `requests/<id>-immediate.xml`.
    public var immediateRequestPath: String { "requests/\(id)-immediate.xml" }
    /// `requests/<id>-future-dated.xml`.
    public var futureDatedRequestPath: String { "requests/\(id)-future-dated.xml" }
}

/// One file of the generated test PKI.
package struct TestPKIFile: Sendable, Hashable {
    /// Path relative to the output directory, `/`-separated.
    package let path: String
    package internal(set) var bytes: [UInt8]
    /// Private keys: written with mode 0600 (others 0644).
    package let isSecret: Bool
}

/// A self-contained test PKI in the shape of the SMKI Organisation PKI, for people without DCC
/// Boxed keys. NOT FOR PRODUCTION.
///
/// - A root CA (`OU=00, CN=<name> ROOT`, self-signed, CA:TRUE, keyCertSign+cRLSign) and an issuing
///   CA (`OU=07, CN=<name> ISSUING`, CA:TRUE pathlen 0, keyCertSign+cRLSign).
/// - For each party i (1 ... 99): id `ts<i>`, name `Test Supplier <i>`, MPIDs `TS<i>E`/`TS<i>G`
///   (`T<ii>E`/`T<ii>G` from 10 on, keeping MPIDs 4 characters), User ID
///   `90-B3-D5-1F-3F-<i in hex>-00-00` (the test range `90-B3-D5-1F-3F-xx-00-00`, next to but
///   apart from DCC Boxed's `90-B3-D5-1F-30-…`), and four certificates with that EUI-64 as
///   x500UniqueIdentifier: XmlSign (OU 87, digitalSignature), digital signing (OU 02, CN
///   `TESTSUPPLIER<i>`, digitalSignature), key agreement and key agreement top-up (OU 02,
///   keyAgreement).
/// - Every certificate: v3, 16-byte positive serial, ecdsa-with-SHA256, P-256, critical keyUsage,
///   critical certificatePolicies ``policyOID``, 8-byte SKI and (except the root) AKI keyid,
///   valid 2025-01-01T00:00:00Z to 2124-12-31T23:59:59Z.
///
/// With a seed everything is deterministic: each key's scalar is
/// `SHA-256("CoSSigner test PKI v1" 00 seed 00 label 00 n)` for the first n = 0, 1, … that lies in
/// [1, n-1] (labels: `root`, `issuing-ca`, `ts1-xml-sign`, …), each serial is the first 16 bytes of
/// `SHA-256("CoSSigner test PKI v1 serial" 00 seed 00 label)` with the first byte forced into
/// 0x40 ... 0x7F, and certificate signatures use RFC 6979 nonces. Without a seed keys and serials
/// are random.
public struct TestPKI: Sendable {
    /// The certificatePolicies OID of the ZAZ1 test PKI, used on every certificate.
    public static let policyOID = "1.2.826.0.1.8641679.1.2.1.4"
    /// Parties supported.
    public static let partyCountRange: ClosedRange<Int> = 1...99
    /// The default CA name prefix.
    public static let defaultName = "COSSIGNER TEST"
    /// The ExecutionDateTime of the future-dated sample requests (far ahead, so checks against the
    /// clock keep passing).
    public static let futureExecutionDateTime = "2099-12-31T00:00:00Z"
    /// The effective-from date of every registration.csv row.
    public static let registrationEffectiveFrom = "2020-01-01"

    /// The CA name prefix.
    public let name: String
    /// The seed, if the PKI is deterministic.
    public let seed: String?
    public let root: TestPKICredential
    public let issuingCA: TestPKICredential
    public let parties: [TestPKIParty]
    /// The root's and the issuing CA's subject names (DER), to issue more certificates under them.
    let rootName: [UInt8]
    let issuingName: [UInt8]

    /// Generates the PKI.
    /// - Parameters:
    ///   - partyCount: 1 ... 99 parties (default 2).
    ///   - seed: makes every key, serial and signature, and so every file, deterministic.
    ///   - name: CA name prefix: PrintableString characters, 1 ... 40 of them.
    /// - Throws: ``TestPKIError``.
    public init(partyCount: Int = 2, seed: String? = nil, name: String = TestPKI.defaultName) throws(TestPKIError) {
        guard Self.partyCountRange.contains(partyCount) else {
            throw TestPKIError(kind: .invalidOptions, reason: "the number of parties must be 1 ... 99, got \(partyCount)")
        }
        let printable = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?")
        guard (1...40).contains(name.count), name.allSatisfy({ printable.contains($0) }) else {
            throw TestPKIError(kind: .invalidOptions,
                               reason: "the CA name must be 1 ... 40 PrintableString characters (A-Z a-z 0-9 space '()+,-./:=?), got '\(name)'")
        }
        self.name = name
        self.seed = seed
        var source = KeySource(seed: seed)

        let notBefore = DER.time(year: 2025, month: 1, day: 1)
        let notAfter = DER.time(year: 2124, month: 12, day: 31, hour: 23, minute: 59, second: 59)

        let rootKey = try source.key("root")
        let rootName = TestCertificateBuilder.caName(role: "00", commonName: "\(name) ROOT")
        let rootCertificate = try TestCertificateBuilder(
            kind: .root, serial: source.serial("root"), issuerName: rootName, subjectName: rootName,
            subjectKey: rootKey.publicKey, authorityKeyIdentifier: [], keyUsage: [.keyCertSign, .cRLSign],
            policyOID: Self.policyOID, notBefore: notBefore, notAfter: notAfter
        ).build(signedBy: rootKey)
        root = TestPKICredential(stem: "root-ca", key: rootKey, certificate: rootCertificate)
        self.rootName = rootName

        let issuingKey = try source.key("issuing-ca")
        let issuingName = TestCertificateBuilder.caName(role: "07", commonName: "\(name) ISSUING")
        let issuingCertificate = try TestCertificateBuilder(
            kind: .issuingCA, serial: source.serial("issuing-ca"), issuerName: rootName, subjectName: issuingName,
            subjectKey: issuingKey.publicKey,
            authorityKeyIdentifier: TestCertificateBuilder.keyIdentifier(rootKey.publicKey),
            keyUsage: [.keyCertSign, .cRLSign], policyOID: Self.policyOID, notBefore: notBefore, notAfter: notAfter
        ).build(signedBy: rootKey)
        issuingCA = TestPKICredential(stem: "issuing-ca", key: issuingKey, certificate: issuingCertificate)
        self.issuingName = issuingName
        let issuingKeyIdentifier = try TestCertificateBuilder.keyIdentifier(issuingKey.publicKey)

        var parties: [TestPKIParty] = []
        for index in 1...partyCount {
            let id = "ts\(index)"
            let userID = EUI64(0x90B3_D51F_3F00_0000 | UInt64(index) << 16)
            func credential(_ suffix: String, role: String, commonName: String?, usage: KeyUsage)
                throws(TestPKIError) -> TestPKICredential
            {
                let stem = "\(id)-\(suffix)"
                let key = try source.key(stem)
                let certificate = try TestCertificateBuilder(
                    kind: .endEntity, serial: source.serial(stem), issuerName: issuingName,
                    subjectName: TestCertificateBuilder.entityName(commonName: commonName, role: role, entity: userID),
                    subjectKey: key.publicKey, authorityKeyIdentifier: issuingKeyIdentifier, keyUsage: usage,
                    policyOID: Self.policyOID, notBefore: notBefore, notAfter: notAfter
                ).build(signedBy: issuingKey)
                return TestPKICredential(stem: stem, key: key, certificate: certificate)
            }
            let xmlSigning = try credential("xml-sign", role: "87", commonName: nil, usage: .digitalSignature)
            let digitalSigning = try credential("ds", role: "02", commonName: "TESTSUPPLIER\(index)", usage: .digitalSignature)
            let keyAgreement = try credential("ka", role: "02", commonName: nil, usage: .keyAgreement)
            let keyAgreementTopUp = try credential("ka-topup", role: "02", commonName: nil, usage: .keyAgreement)

            let mpidStem = index < 10 ? "TS\(index)" : "T\(index)"
            let target = EUI64(0x00DB_1234_5678_00A0 | UInt64(0x90 + index - 1) << 8)
            let mpxn = Self.mpanCore(prefix: "1312345678" + (index < 10 ? "0\(index)" : "\(index)"))
            let requests: (ServiceRequest623, ServiceRequest623)
            do {
                let certificates = try SupplierReplacementCertificates(
                    digitalSigningCertificate: digitalSigning.certificate.derBytes,
                    keyAgreementCertificate: keyAgreement.certificate.derBytes,
                    keyAgreementTopUpCertificate: keyAgreementTopUp.certificate.derBytes)
                func request(counter: UInt64, execution: ExecutionDateTime?) throws -> ServiceRequest623 {
                    try ServiceRequest623(
                        requestID: RequestID(businessOriginator: userID, businessTarget: target, counter: counter),
                        body: UpdateSecurityCredentialsCoS(
                            executionDateTime: execution, supplierFloorSeqNumber: 0,
                            supplierPrepaymentTopUpFloorSeqNumber: 0, supplierReplacementCertificates: certificates,
                            certificationPathCertificates: [issuingCertificate.derBytes],
                            applyTimeBasedCPVChecks: true, importMPxN: mpxn))
                }
                requests = (
                    try request(counter: 1000, execution: nil),
                    try request(counter: 1001, execution: ExecutionDateTime(parsing: Self.futureExecutionDateTime))
                )
                try requests.0.validateCertificates()
                try requests.1.validateCertificates()
            } catch {
                throw TestPKIError(kind: .internalFailure, reason: "a sample request for \(id) is not valid: \(error)")
            }
            parties.append(TestPKIParty(
                id: id, name: "Test Supplier \(index)", mpids: ["\(mpidStem)E", "\(mpidStem)G"], userID: userID,
                businessTarget: target, importMPxN: mpxn, xmlSigning: xmlSigning, digitalSigning: digitalSigning,
                keyAgreement: keyAgreement, keyAgreementTopUp: keyAgreementTopUp,
                immediateRequest: requests.0, futureDatedRequest: requests.1))
        }
        self.parties = parties
    }

    /// A certificate issued by this PKI's issuing CA (or, for `kind` `.issuingCA`, by its root) that departs from
    /// the SMKI/GBCS profile as `deviations` say: for test vectors of certificates a meter refuses. Deterministic:
    /// the key and serial derive from `stem` (and the PKI's seed).
    func issue(_ stem: String, kind: TestCertificateBuilder.Kind = .endEntity, role: String, commonName: String? = nil,
               entity: EUI64, usage: KeyUsage, deviations: TestCertificateBuilder.Deviations = .init(), serial: [UInt8]? = nil,
               notBefore: [UInt8] = DER.time(year: 2025, month: 1, day: 1),
               notAfter: [UInt8] = DER.time(year: 2124, month: 12, day: 31, hour: 23, minute: 59, second: 59)) throws(TestPKIError) -> TestPKICredential {
        var source = KeySource(seed: "\(seed ?? "random") deviation")
        let key = try source.key(stem)
        let issuer = kind == .issuingCA ? root : issuingCA
        var builder = TestCertificateBuilder(
            kind: kind, serial: serial ?? source.serial(stem), issuerName: kind == .issuingCA ? rootName : issuingName,
            subjectName: kind == .endEntity
                ? TestCertificateBuilder.entityName(commonName: commonName, role: role, entity: entity)
                : TestCertificateBuilder.caName(role: role, commonName: commonName ?? stem.uppercased()),
            subjectKey: key.publicKey, authorityKeyIdentifier: try TestCertificateBuilder.keyIdentifier(issuer.key.publicKey),
            keyUsage: usage, policyOID: Self.policyOID, notBefore: notBefore, notAfter: notAfter)
        builder.deviations = deviations
        return TestPKICredential(stem: stem, key: key, certificate: try builder.build(signedBy: issuer.key))
    }

    /// A 13-digit MPAN core: the 12 digits of `prefix` and their check digit (weights
    /// 3 5 7 13 17 19 23 29 31 37 41 43, sum mod 11 mod 10).
    static func mpanCore(prefix: String) -> String {
        let weights = [3, 5, 7, 13, 17, 19, 23, 29, 31, 37, 41, 43]
        let digits = prefix.compactMap { $0.wholeNumberValue }
        let sum = zip(digits, weights).reduce(0) { $0 + $1.0 * $1.1 }
        return prefix + String(sum % 11 % 10)
    }

    // MARK: - Files

    /// `parties.toml`: the party registry, paths relative to the registry file.
    public var partiesTOML: String {
        var text = "# CoSSigner test PKI — NOT FOR PRODUCTION\n"
        for (index, party) in parties.enumerated() {
            if index > 0 { text += "\n" }
            text += "[[party]]\n"
            text += "id = \"\(party.id)\"\n"
            text += "name = \"\(party.name)\"\n"
            text += "mpids = [" + party.mpids.map { "\"\($0)\"" }.joined(separator: ", ") + "]\n"
            text += "user_ids = [\"\(party.userID)\"]\n"
            text += "signing_key = \"\(party.xmlSigning.keyPath)\"\n"
            text += "signing_certificate = \"\(party.xmlSigning.certificatePath)\"\n"
        }
        return text
    }

    /// `registration.csv`: each party's sample MPxN registered to its first MPID from 2020-01-01.
    public var registrationCSV: String {
        var text = "mpxn,mpid,effective_from\n"
        for party in parties {
            text += "\(party.importMPxN),\(party.mpids[0]),\(Self.registrationEffectiveFrom)\n"
        }
        return text
    }

    private var readme: String {
        var text = """
            CoSSigner test PKI — NOT FOR PRODUCTION

            Generated by `cos-signer testpki`\(seed.map { " with --seed \"\($0)\"" } ?? "") for tests and demonstrations.
            Anyone who has the seed can recreate every private key.

            keys/root-ca.pem          root CA (OU=00)          keys/root-ca.key.pem
            keys/issuing-ca.pem       issuing CA (OU=07)       keys/issuing-ca.key.pem

            """
        for party in parties {
            text += "\(party.id) \(party.name), User ID \(party.userID), MPIDs \(party.mpids.joined(separator: " ")), MPxN \(party.importMPxN)\n"
            text += "  \(party.xmlSigning.certificatePath) (OU 87, signs DUIS XML), \(party.digitalSigning.certificatePath), "
            text += "\(party.keyAgreement.certificatePath), \(party.keyAgreementTopUp.certificatePath) (OU 02)\n"
            text += "  \(party.immediateRequestPath), \(party.futureDatedRequestPath) (unsigned 6.23)\n"
        }
        text += """

            Sign and verify a sample request:
              cos-signer sign --key \(parties[0].xmlSigning.keyPath) --cert \(parties[0].xmlSigning.certificatePath) \(parties[0].immediateRequestPath) -o signed.xml
              cos-signer verify --cert \(parties[0].xmlSigning.certificatePath) signed.xml
            Check a certificate chain:
              openssl verify -CAfile keys/root-ca.pem -untrusted keys/issuing-ca.pem \(parties[0].xmlSigning.certificatePath)

            """
        return text
    }

    /// Every file of the PKI, in a fixed order.
    /// - Throws: ``TestPKIError`` if a key cannot be encoded.
    package func files() throws(TestPKIError) -> [TestPKIFile] {
        var files: [TestPKIFile] = []
        for credential in [root, issuingCA] + parties.flatMap(\.credentials) {
            files.append(TestPKIFile(path: credential.certificatePath, bytes: Array(credential.certificate.pem().utf8), isSecret: false))
            let pem: String
            do {
                pem = try credential.key.pkcs8PEM()
            } catch {
                throw TestPKIError(kind: .internalFailure, path: credential.keyPath, reason: "cannot encode the key: \(error)")
            }
            files.append(TestPKIFile(path: credential.keyPath, bytes: Array(pem.utf8), isSecret: true))
        }
        for party in parties {
            files.append(TestPKIFile(path: party.immediateRequestPath, bytes: party.immediateRequest.xmlBytes(), isSecret: false))
            files.append(TestPKIFile(path: party.futureDatedRequestPath, bytes: party.futureDatedRequest.xmlBytes(), isSecret: false))
        }
        files.append(TestPKIFile(path: "parties.toml", bytes: Array(partiesTOML.utf8), isSecret: false))
        files.append(TestPKIFile(path: "registration.csv", bytes: Array(registrationCSV.utf8), isSecret: false))
        files.append(TestPKIFile(path: "README.txt", bytes: Array(readme.utf8), isSecret: false))
        return files
    }

    /// Writes every file under `directory` (created if missing; `keys/` is mode 0700, private keys
    /// 0600), each atomically. Files already there with other names are left alone.
    /// - Parameter force: write into a directory that is not empty (replacing our files).
    /// - Returns: the paths written.
    /// - Throws: ``TestPKIError`` (``TestPKIError/Kind/directoryNotEmpty`` without `force`).
    @discardableResult
    public func write(to directory: String, force: Bool = false) throws(TestPKIError) -> [String] {
        if let entries = Self.directoryEntries(directory) {
            if !entries.isEmpty, !force {
                throw TestPKIError(kind: .directoryNotEmpty, path: directory,
                                   reason: "holds \(entries.count) entr\(entries.count == 1 ? "y" : "ies"); use --force to write into it anyway")
            }
        } else {
            try Self.makeDirectory(directory, mode: 0o755)
        }
        try Self.makeDirectory(directory + "/keys", mode: 0o700)
        try Self.makeDirectory(directory + "/requests", mode: 0o755)
        var all = try files()
        // Private key bytes are overwritten once written (or on failure).
        defer { for index in all.indices where all[index].isSecret { zeroize(&all[index].bytes) } }
        var written: [String] = []
        for index in all.indices {
            let path = directory + "/" + all[index].path
            do {
                try Files.writeAtomically(all[index].bytes, to: path, mode: all[index].isSecret ? 0o600 : 0o644)
            } catch {
                throw TestPKIError(kind: .io, path: path, reason: error.reason)
            }
            written.append(path)
        }
        return written
    }

    /// The names in `path`, or nil if it does not exist.
    private static func directoryEntries(_ path: String) -> [String]? {
        guard let dir = opendir(path) else { return nil }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    private static func makeDirectory(_ path: String, mode: mode_t) throws(TestPKIError) {
        if mkdir(path, mode) == 0 { return }
        let code = errno
        var info = stat()
        if code == EEXIST, stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR { return }
        throw TestPKIError(kind: .io, path: path, reason: "cannot create the directory: \(String(cString: strerror(code)))")
    }
}

/// Overwrites a byte array in place (best effort: copies Swift made earlier are out of reach).
func zeroize(_ bytes: inout [UInt8]) {
    bytes.withUnsafeMutableBytes { raw in
        if let base = raw.baseAddress { cos_openssl_cleanse(base, raw.count) }
    }
}

/// Keys and serials: derived from the seed, or random.
struct KeySource {
    let seed: [UInt8]?
    private var random = SystemRandomNumberGenerator()

    init(seed: String?) {
        self.seed = seed.map { Array($0.utf8) }
    }

    mutating func key(_ label: String) throws(TestPKIError) -> SigningKey {
        guard let seed else {
            do {
                return try SigningKey.generate()
            } catch {
                throw TestPKIError(kind: .internalFailure, reason: "key generation failed: \(error)")
            }
        }
        for counter in 0...UInt8.max {
            var input = Array("CoSSigner test PKI v1".utf8) + [0] + seed + [0] + Array(label.utf8) + [0, counter]
            var scalar = SHA256.hash(input)
            zeroize(&input)
            defer { zeroize(&scalar) }
            guard P256Curve.isValidScalar(scalar) else { continue }
            do {
                return try SigningKey(rawScalar: scalar)
            } catch {
                throw TestPKIError(kind: .internalFailure, reason: "key derivation failed for \(label): \(error)")
            }
        }
        throw TestPKIError(kind: .internalFailure, reason: "no valid scalar derived for \(label)")
    }

    mutating func serial(_ label: String) -> [UInt8] {
        var bytes: [UInt8]
        if let seed {
            bytes = Array(SHA256.hash(Array("CoSSigner test PKI v1 serial".utf8) + [0] + seed + [0] + Array(label.utf8)).prefix(16))
        } else {
            bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &random) }
        }
        bytes[0] = 0x40 | (bytes[0] & 0x3F)
        return bytes
    }
}
