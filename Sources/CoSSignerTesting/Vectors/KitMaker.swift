import CoSSigner
import Foundation

/// The description of the conformance kit, in code: builds every file and every case.
///
/// Inputs are built from a seeded ``TestPKI`` (3 parties) with fixed times, signed with RFC 6979
/// nonces, so the whole kit is a pure function of this code.
struct KitMaker {
    let pki: TestPKI
    let p1: TestPKIParty
    let p2: TestPKIParty
    let p3: TestPKIParty
    private(set) var files: [KitFile] = []
    private var paths = Set<String>()
    private(set) var cases: [KitCase] = []
    /// Where the DCC Boxed material (templates, keys) is read from (`shared/`), for the explain and responses cases.
    let shared: String
    /// Signed outputs of the signing cases, by case name, with the party that signed.
    private var signedOutputs: [(name: String, path: String, party: TestPKIParty, description: String)] = []

    /// Fixed times (the kit never reads the clock).
    static let validationNow = "2026-01-01T00:00:00Z"
    static let pastExecution = "2020-01-01T00:00:00Z"
    static let futureExecution = TestPKI.futureExecutionDateTime
    static let timeInsideValidity = "2030-01-01T00:00:00Z"
    static let timeAfterValidity = "2125-06-01T00:00:00Z"
    static let timeBeforeValidity = "2024-06-01T00:00:00Z"

    /// Exit codes of `cos-signer`.
    static let inputExit = Int(FailureClass.input.exitCode)
    static let selectionExit = Int(FailureClass.selectionRefused.exitCode)
    static let signatureExit = Int(FailureClass.signatureInvalid.exitCode)

    init(shared: String = ConformanceKit.defaultSharedDirectory) throws {
        self.shared = shared
        pki = try TestPKI(partyCount: ConformanceKit.pkiParties, seed: ConformanceKit.pkiSeed)
        p1 = pki.parties[0]
        p2 = pki.parties[1]
        p3 = pki.parties[2]
    }

    mutating func build() throws -> [KitFile] {
        for file in try pki.files() {
            try add("\(ConformanceKit.pkiDirectory)/\(file.path)", file.bytes)
        }
        try signingCases()
        try verificationCases()
        try keySelectionCases()
        try validationCases()
        try explainCases()
        try responseCases()
        let manifest = KitManifest(
            description: "Conformance kit for DUIS SRV 6.23 'Update Security Credentials (CoS)' signers, verifiers, key selectors and request validators (DUIS XML signature profile: enveloped, exclusive C14N SignedInfo, inclusive C14N 1.0 reference, ECDSA P-256 SHA-256 raw r||s, X509IssuerSerial).",
            generator: "cos-signer vectors make",
            pki: KitPKI(directory: ConformanceKit.pkiDirectory, seed: ConformanceKit.pkiSeed, parties: ConformanceKit.pkiParties,
                        command: "cos-signer testpki \(ConformanceKit.pkiDirectory) --parties \(ConformanceKit.pkiParties) --seed \(ConformanceKit.pkiSeed)"),
            reasonClasses: KitReasonClass.descriptions,
            cases: cases)
        try add(ConformanceKit.manifestName, try manifest.jsonBytes())
        try add(ConformanceKit.schemaName, Array(KitDocuments.manifestSchema.utf8))
        try add("README.md", Array(KitDocuments.readme(manifest: manifest).utf8))
        return files
    }

    // MARK: - Files and cases

    mutating func add(_ path: String, _ bytes: [UInt8]) throws {
        guard paths.insert(path).inserted else {
            throw KitError(path: path, reason: "the kit maker wrote this file twice", failureClass: .input)
        }
        files.append(KitFile(path: path, bytes: bytes))
    }

    mutating func add(_ path: String, _ text: String) throws { try add(path, Array(text.utf8)) }

    /// Writes a credential made for a case under `keyselection/keys/`.
    private mutating func addCredentialFiles(_ credential: TestPKICredential) throws {
        try add("keyselection/keys/\(credential.stem).pem", credential.certificate.pem())
        try add("keyselection/keys/\(credential.stem).key.pem", try credential.key.pkcs8PEM())
    }

    mutating func addCase(_ group: KitGroup, _ name: String, _ description: String, _ inputs: KitInputs, _ expected: KitExpected) {
        cases.append(KitCase(id: "\(group.rawValue)/\(name)", group: group, description: description, inputs: inputs, expected: expected))
    }

    private func keyPath(_ party: TestPKIParty) -> String { "\(ConformanceKit.pkiDirectory)/\(party.xmlSigning.keyPath)" }
    private func certificatePath(_ party: TestPKIParty) -> String { "\(ConformanceKit.pkiDirectory)/\(party.xmlSigning.certificatePath)" }
    private func requestPath(_ party: TestPKIParty, futureDated: Bool = false) -> String {
        "\(ConformanceKit.pkiDirectory)/\(futureDated ? party.futureDatedRequestPath : party.immediateRequestPath)"
    }

    private func signer(_ party: TestPKIParty) throws -> DUISSigner {
        try DUISSigner(key: party.xmlSigning.key, certificate: party.xmlSigning.certificate)
    }

    /// A 6.23 request of `party` (replacement certificates of `certificatesOf`, default the same party).
    private func request(_ party: TestPKIParty, counter: UInt64, cv: CommandVariant = .nonCriticalViaWAN,
                         execution: String? = nil, keyAgreement: Bool = true, topUpCertificate: Bool = true,
                         floor: UInt64 = 0, topUpFloor: UInt64? = 0, path: [[UInt8]]? = nil, cpv: Bool = true,
                         mpxn: String? = nil, certificatesOf: TestPKIParty? = nil, originator: EUI64? = nil,
                         digitalSigning: [UInt8]? = nil) throws -> ServiceRequest623 {
        let owner = certificatesOf ?? party
        let certificates = try SupplierReplacementCertificates(
            digitalSigningCertificate: digitalSigning ?? owner.digitalSigning.certificate.derBytes,
            keyAgreementCertificate: keyAgreement ? owner.keyAgreement.certificate.derBytes : nil,
            keyAgreementTopUpCertificate: topUpCertificate ? owner.keyAgreementTopUp.certificate.derBytes : nil)
        return try ServiceRequest623(
            requestID: RequestID(businessOriginator: originator ?? party.userID, businessTarget: party.businessTarget, counter: counter),
            commandVariant: cv,
            body: UpdateSecurityCredentialsCoS(
                executionDateTime: try execution.map { try ExecutionDateTime(parsing: $0) },
                supplierFloorSeqNumber: floor, supplierPrepaymentTopUpFloorSeqNumber: topUpFloor,
                supplierReplacementCertificates: certificates,
                certificationPathCertificates: path ?? [pki.issuingCA.certificate.derBytes],
                applyTimeBasedCPVChecks: cpv, importMPxN: mpxn ?? party.importMPxN))
    }

    private static func text(_ request: ServiceRequest623) -> String { String(decoding: request.xmlBytes(), as: UTF8.self) }

    /// A DCC-Boxed-like placeholder signature as the root's last child (without the templates' comment: the
    /// strict 6.23 reader refuses comments).
    private static func withPlaceholder(_ compact: String) throws -> String {
        let placeholder = "<ds:Signature><ds:SignedInfo><ds:CanonicalizationMethod Algorithm=\"\(DUISSignatureProfile.canonicalizationMethod)\"></ds:CanonicalizationMethod>"
            + "<ds:SignatureMethod Algorithm=\"\(DUISSignatureProfile.signatureMethod)\"></ds:SignatureMethod>"
            + "<ds:Reference URI=\"\"><ds:Transforms><ds:Transform Algorithm=\"\(DUISSignatureProfile.envelopedSignatureTransform)\"></ds:Transform></ds:Transforms>"
            + "<ds:DigestMethod Algorithm=\"\(DUISSignatureProfile.digestMethod)\"></ds:DigestMethod><ds:DigestValue>ZGVmYXVsdA==</ds:DigestValue></ds:Reference></ds:SignedInfo>"
            + "<ds:SignatureValue>ZGVmYXVsdA==</ds:SignatureValue>"
            + KitSignature.keyInfo(issuer: "CN=U1, OU=07", serial: "1234567890") + "</ds:Signature>"
        return try KitText.replacingFirst("</sr:Request>", with: placeholder + "</sr:Request>", in: compact)
    }

    // MARK: - 1. Signing

    private mutating func signingCases() throws {
        struct Spec {
            let name: String
            let party: TestPKIParty
            let request: ServiceRequest623
            var indented = false
            var keepWhitespace = false
            var placeholder = false
            let description: String
        }
        let fullPath = [pki.issuingCA.certificate.derBytes, pki.root.certificate.derBytes]
        let specs: [Spec] = [
            Spec(name: "immediate-cv1", party: p1, request: try request(p1, counter: 1000),
                 description: "Immediate 6.23, CommandVariant 1, all three replacement certificates and the top-up floor; compact input, compact output."),
            Spec(name: "immediate-cv2", party: p1, request: try request(p1, counter: 1002, cv: .nonCriticalForLocalDelivery),
                 description: "Immediate 6.23 with CommandVariant 2 (returned for local delivery)."),
            Spec(name: "immediate-cv3", party: p1, request: try request(p1, counter: 1003, cv: .nonCriticalViaWANAndForLocalDelivery),
                 description: "Immediate 6.23 with CommandVariant 3 (via the SM WAN and for local delivery)."),
            Spec(name: "future-dated-cv1", party: p1, request: try request(p1, counter: 1001, execution: Self.futureExecution),
                 description: "Future-dated 6.23 (ExecutionDateTime \(Self.futureExecution)), all optional elements present."),
            Spec(name: "future-dated-cv3-minimal", party: p1,
                 request: try request(p1, counter: 1004, cv: .nonCriticalViaWANAndForLocalDelivery, execution: "2099-06-30T12:00:00.00Z",
                                      keyAgreement: false, topUpCertificate: false, topUpFloor: nil),
                 description: "Future-dated 6.23 with CommandVariant 3 and no optional element (DigitalSigningCertificate only, no top-up floor)."),
            Spec(name: "immediate-minimal", party: p1,
                 request: try request(p1, counter: 1005, keyAgreement: false, topUpCertificate: false, topUpFloor: nil),
                 description: "Immediate 6.23 without the optional certificates and without SupplierPrepaymentTopUpFloorSeqNumber."),
            Spec(name: "immediate-key-agreement-only", party: p1,
                 request: try request(p1, counter: 1006, topUpCertificate: false, floor: 17, topUpFloor: 12345),
                 description: "Immediate 6.23 with KeyAgreementCertificate but no KeyAgreementTopUpCertificate; floors 17 and 12345."),
            Spec(name: "immediate-top-up-floor-only", party: p1,
                 request: try request(p1, counter: 1007, keyAgreement: false, topUpCertificate: false, topUpFloor: 1),
                 description: "Immediate 6.23 with the top-up floor but no optional certificate."),
            Spec(name: "maximum-values", party: p1,
                 request: try request(p1, counter: UInt64.max, floor: UpdateSecurityCredentialsCoS.maximumFloorSequenceNumber,
                                      topUpFloor: UpdateSecurityCredentialsCoS.maximumFloorSequenceNumber, path: fullPath, cpv: false),
                 description: "Counter 2^64-1, both floors 2^63-1, two certification path certificates, ApplyTimeBasedCPVChecks false."),
            Spec(name: "party2-immediate", party: p2, request: try request(p2, counter: 1000),
                 description: "Immediate 6.23 of another party (ts2), signed with its own XmlSign key."),
            Spec(name: "party3-future-dated", party: p3, request: try request(p3, counter: 1001, execution: Self.futureExecution),
                 description: "Future-dated 6.23 of party ts3."),
            Spec(name: "whitespace-kept-immediate", party: p1, request: try request(p1, counter: 1010), indented: true, keepWhitespace: true,
                 description: "Indented input signed with whitespace kept: the output keeps the input's whitespace between elements."),
            Spec(name: "whitespace-kept-future-dated-cv2", party: p1,
                 request: try request(p1, counter: 1011, cv: .nonCriticalForLocalDelivery, execution: Self.futureExecution),
                 indented: true, keepWhitespace: true,
                 description: "Indented future-dated CommandVariant 2 input signed with whitespace kept."),
            Spec(name: "indented-input-compact-output", party: p1, request: try request(p1, counter: 1012), indented: true,
                 description: "Indented input signed in the default (compact) form: whitespace between elements is removed before digesting."),
            Spec(name: "placeholder-replaced", party: p1, request: try request(p1, counter: 1013), placeholder: true,
                 description: "Input carrying a template placeholder ds:Signature (DigestValue 'default'): the placeholder is replaced."),
            Spec(name: "placeholder-replaced-whitespace-kept", party: p2, request: try request(p2, counter: 1014), indented: true,
                 keepWhitespace: true, placeholder: true,
                 description: "Indented input with a placeholder ds:Signature, whitespace kept: the whitespace around the placeholder stays."),
        ]
        for spec in specs {
            var text = Self.text(spec.request)
            if spec.placeholder { text = try Self.withPlaceholder(text) }
            if spec.indented { text = KitText.indent(text) }
            let input = Array(text.utf8)
            let signed = try signer(spec.party).sign(input, options: SigningOptions(keepWhitespace: spec.keepWhitespace, deterministic: true))
            let inputPath = "signing/\(spec.name).xml"
            let outputPath = "signing/\(spec.name).signed.xml"
            try add(inputPath, input)
            try add(outputPath, signed.bytes)
            addCase(.signing, spec.name, spec.description,
                    KitInputs(request: inputPath, key: keyPath(spec.party), certificate: certificatePath(spec.party),
                              keepWhitespace: spec.keepWhitespace),
                    KitExpected(outcome: .valid, output: outputPath, digestValue: signed.digestValue, signatureValue: signed.signatureValue))
            signedOutputs.append((spec.name, outputPath, spec.party, spec.description))
        }
    }

    // MARK: - 2. Verification

    private mutating func verify(_ name: String, _ description: String, document text: String, certificate: String? = nil,
                                 at: String? = nil, _ outcome: KitExpected.Outcome, _ reason: KitReasonClass? = nil) throws {
        let path = "verification/\(name).xml"
        try add(path, text)
        addVerification(name, description, documentPath: path, certificate: certificate ?? certificatePath(p1), at: at, outcome, reason)
    }

    private mutating func addVerification(_ name: String, _ description: String, documentPath: String, certificate: String, at: String? = nil,
                                          _ outcome: KitExpected.Outcome, _ reason: KitReasonClass? = nil) {
        addCase(.verification, name, description, KitInputs(certificate: certificate, document: documentPath, at: at),
                KitExpected(outcome: outcome, reason: reason?.rawValue, exitCode: reason.map { $0.exitCode }))
    }

    private mutating func verificationCases() throws {
        // Every signed output of group 1 must verify.
        for output in signedOutputs {
            addVerification("signed-\(output.name)", "The expected output of signing/\(output.name) verifies.",
                            documentPath: output.path, certificate: certificatePath(output.party), .valid)
        }
        // The smallest signed output is the base of the forgeries (keeps the kit small).
        guard let base = files.first(where: { $0.path == "signing/immediate-minimal.signed.xml" }),
              let kept = files.first(where: { $0.path == "signing/whitespace-kept-immediate.signed.xml" }) else {
            throw KitError(path: "(kit maker)", reason: "signing outputs missing", failureClass: .input)
        }
        let signed = String(decoding: base.bytes, as: UTF8.self)
        let (signature, unsigned) = try KitText.splitSignature(signed)
        let close = "</sr:Request>"
        func enveloped(_ content: String, _ element: String) -> String {
            String(content.dropLast(close.count)) + element + close
        }
        let key1 = p1.xmlSigning.key
        let cert1 = p1.xmlSigning.certificate
        let keyInfo1 = KitSignature.keyInfo(cert1)
        let contentDigest = Base64.encode(SHA256.hash(Array(unsigned.utf8)))
        let digestValue = try KitText.between("<ds:DigestValue>", "</ds:DigestValue>", in: signed)
        let signatureValue = try KitText.between("<ds:SignatureValue>", "</ds:SignatureValue>", in: signed)
        guard digestValue == contentDigest else {
            throw KitError(path: "(kit maker)", reason: "the signed output's digest is not the digest of its content", failureClass: .input)
        }
        let mpxn = p1.importMPxN
        let forgedMPxN = String(mpxn.dropLast()) + (mpxn.last == "9" ? "0" : "9")

        // Missing, tampered content.
        try verify("unsigned", "A request without any ds:Signature.", document: unsigned, .invalid, .missing)
        try verify("signature-foreign-namespace", "The Signature element is in another namespace, so the document has no XML-DSig signature.",
                   document: try KitText.replacingFirst("<ds:Signature xmlns:ds=\"\(DUISSignatureProfile.namespace)\">",
                                                        with: "<ds:Signature xmlns:ds=\"http://example.invalid/xmldsig#\">", in: signed),
                   .invalid, .missing)
        addVerification("placeholder-signature", "A template's placeholder signature (DigestValue 'default') is not a signature.",
                        documentPath: "signing/placeholder-replaced.xml", certificate: certificatePath(p1), .invalid, .profile)
        try verify("tampered-header-counter", "The RequestID counter was changed after signing.",
                   document: try KitText.replacingFirst(":1005</sr:RequestID>", with: ":1001</sr:RequestID>", in: signed), .invalid, .referenceDigest)
        try verify("tampered-header-command-variant", "The CommandVariant was changed after signing.",
                   document: try KitText.replacingFirst("<sr:CommandVariant>1<", with: "<sr:CommandVariant>2<", in: signed), .invalid, .referenceDigest)
        try verify("tampered-body-mpxn", "The ImportMPxN was changed after signing.",
                   document: try KitText.replacingFirst(">\(mpxn)<", with: ">\(forgedMPxN)<", in: signed), .invalid, .referenceDigest)
        try verify("tampered-body-floor", "The SupplierFloorSeqNumber was changed after signing.",
                   document: try KitText.replacingFirst("<sr:SupplierFloorSeqNumber>0<", with: "<sr:SupplierFloorSeqNumber>1<", in: signed),
                   .invalid, .referenceDigest)
        try verify("tampered-body-certificate", "The DigitalSigningCertificate was replaced by another party's after signing.",
                   document: try KitText.replacingFirst(Base64.encode(p1.digitalSigning.certificate.derBytes),
                                                        with: Base64.encode(p2.digitalSigning.certificate.derBytes), in: signed),
                   .invalid, .referenceDigest)
        try verify("tampered-whitespace-in-content", "A line feed was added between two signed elements (whitespace is signed content).",
                   document: try KitText.replacingFirst("<sr:Body>", with: "<sr:Body>\n", in: signed), .invalid, .referenceDigest)
        try verify("tampered-signedinfo", "Whitespace was added inside SignedInfo: its canonical form, and so the signed octets, change.",
                   document: try KitText.replacingFirst("</ds:SignatureMethod><ds:Reference", with: "</ds:SignatureMethod> <ds:Reference", in: signed),
                   .invalid, .signatureValue)
        try verify("tampered-digest-value", "DigestValue replaced by the digest of other content.",
                   document: try KitText.replacingFirst(digestValue, with: Base64.encode(SHA256.hash(Array("other".utf8))), in: signed),
                   .invalid, .referenceDigest)
        var flipped = try Base64.decode(signatureValue)
        flipped[40] ^= 0x01
        try verify("tampered-signature-value", "One bit of s flipped in the SignatureValue.",
                   document: try KitText.replacingFirst(signatureValue, with: Base64.encode(flipped), in: signed), .invalid, .signatureValue)

        // Signature placement, duplication and wrapping.
        let forged = try KitText.replacingFirst(">\(mpxn)<", with: ">\(forgedMPxN)<", in: unsigned)
        try verify("signature-moved-into-body", "The unchanged signature moved into sr:Body (the enveloped transform still removes it, but the profile requires the root's last child).",
                   document: try KitText.replacingFirst("<sr:Body>", with: "<sr:Body>" + signature, in: unsigned), .invalid, .profile)
        try verify("signature-moved-to-first-child", "The unchanged signature moved to the root's first child.",
                   document: try KitText.replacingFirst("<sr:Header>", with: signature + "<sr:Header>", in: unsigned), .invalid, .profile)
        try verify("signature-duplicated", "The signature appears twice as the root's last children.",
                   document: enveloped(signed, signature), .invalid, .profile)
        try verify("signature-duplicated-in-body", "A copy of the signature was added inside sr:Body.",
                   document: try KitText.replacingFirst("<sr:Body>", with: "<sr:Body>" + signature, in: signed), .invalid, .profile)
        try verify("wrapping-original-in-object", "XSW: forged content; the signature carries the original request inside a ds:Object.",
                   document: enveloped(forged, try KitText.replacingFirst("</ds:Signature>", with: "<ds:Object>\(unsigned)</ds:Object></ds:Signature>", in: signature)),
                   .invalid, .profile)
        try verify("wrapping-signed-request-as-last-child", "XSW: a forged request whose last child is the original signed request.",
                   document: enveloped(forged, signed), .invalid, .profile)
        try verify("wrapping-signed-request-in-body", "XSW: the original signed request nested inside the forged request's body.",
                   document: try KitText.replacingFirst("<sr:Body>", with: "<sr:Body>" + signed, in: forged), .invalid, .profile)
        try verify("reference-uri-xpointer", "Reference URI '#xpointer(/)' instead of \"\".",
                   document: try KitText.replacingFirst("<ds:Reference URI=\"\">", with: "<ds:Reference URI=\"#xpointer(/)\">", in: signed),
                   .invalid, .profile)

        // Algorithms and transforms.
        let exc = DUISSignatureProfile.canonicalizationMethod
        try verify("algorithm-c14n-inclusive", "CanonicalizationMethod changed to inclusive C14N 1.0 (not re-signed).",
                   document: try KitText.replacingFirst("Algorithm=\"\(exc)\"", with: "Algorithm=\"http://www.w3.org/TR/2001/REC-xml-c14n-20010315\"", in: signed),
                   .invalid, .profile)
        var withComments = KitSignature(digestValue: contentDigest, keyInfo: keyInfo1)
        withComments.canonicalizationMethod = exc + "WithComments"
        try verify("algorithm-c14n-with-comments-resigned", "Re-signed consistently with CanonicalizationMethod exc-c14n#WithComments: a generic verifier accepts it, the profile does not.",
                   document: enveloped(unsigned, try withComments.signedElement(key: key1)), .invalid, .profile)
        try verify("algorithm-signature-rsa-sha256", "SignatureMethod rsa-sha256.",
                   document: try KitText.replacingFirst("xmldsig-more#ecdsa-sha256", with: "xmldsig-more#rsa-sha256", in: signed), .invalid, .profile)
        try verify("algorithm-signature-ecdsa-sha384", "SignatureMethod ecdsa-sha384.",
                   document: try KitText.replacingFirst("xmldsig-more#ecdsa-sha256", with: "xmldsig-more#ecdsa-sha384", in: signed), .invalid, .profile)
        try verify("algorithm-digest-sha1", "DigestMethod SHA-1 (not re-signed).",
                   document: try KitText.replacingFirst(DUISSignatureProfile.digestMethod, with: "http://www.w3.org/2000/09/xmldsig#sha1", in: signed),
                   .invalid, .profile)
        var sha512 = KitSignature(digestValue: Base64.encode(try HashAlgorithm.sha512.hash(Array(unsigned.utf8))), keyInfo: keyInfo1)
        sha512.references[0].digestMethod = "http://www.w3.org/2001/04/xmlenc#sha512"
        try verify("algorithm-digest-sha512-resigned", "Re-signed consistently with DigestMethod SHA-512: valid XML-DSig, outside the profile.",
                   document: enveloped(unsigned, try sha512.signedElement(key: key1)), .invalid, .profile)
        let unsignedDocument = try XMLDocument(parsing: Array(unsigned.utf8))
        let exclusiveContent = try unsignedDocument.exclusiveCanonicalForm(of: unsignedDocument.root)
        var extra = KitSignature(digestValue: Base64.encode(SHA256.hash(exclusiveContent)), keyInfo: keyInfo1)
        extra.references[0].transforms.append(exc)
        try verify("transform-extra-exc-c14n-resigned", "Re-signed consistently with a second transform (exclusive C14N after enveloped-signature): the profile allows only the enveloped transform.",
                   document: enveloped(unsigned, try extra.signedElement(key: key1)), .invalid, .profile)
        try verify("transform-enveloped-missing", "The enveloped-signature transform replaced by exclusive C14N.",
                   document: try KitText.replacingFirst(DUISSignatureProfile.envelopedSignatureTransform, with: exc, in: signed), .invalid, .profile)
        var twoReferences = KitSignature(digestValue: contentDigest, keyInfo: keyInfo1)
        twoReferences.references.append(twoReferences.references[0])
        try verify("reference-duplicated-resigned", "Re-signed consistently with two identical References: the profile allows exactly one.",
                   document: enveloped(unsigned, try twoReferences.signedElement(key: key1)), .invalid, .profile)
        try verify("digest-value-wrong-length", "DigestValue of 20 bytes (a SHA-1 length).",
                   document: try KitText.replacingFirst(digestValue, with: Base64.encode([UInt8](repeating: 0xA5, count: 20)), in: signed),
                   .invalid, .profile)

        // SignatureValue encodings.
        let raw = try Base64.decode(signatureValue)
        let ecdsa = try ECDSASignature(rawRepresentation: raw)
        let negated = Array(raw.prefix(32)) + KitP256.negate(Array(raw.suffix(32)))
        let (high, low) = ecdsa.isHighS ? (raw, negated) : (negated, raw)
        try verify("signature-high-s", "The same signature with s in the upper half (s > n/2): XML-DSig has no low-S rule, so it is valid.",
                   document: try KitText.replacingFirst(signatureValue, with: Base64.encode(high), in: signed), .valid)
        try verify("signature-low-s", "The same signature with s in the lower half (s <= n/2): valid.",
                   document: try KitText.replacingFirst(signatureValue, with: Base64.encode(low), in: signed), .valid)
        try verify("signature-value-der", "SignatureValue DER-encoded (SEQUENCE{r,s}) instead of raw r||s.",
                   document: try KitText.replacingFirst(signatureValue, with: Base64.encode(ecdsa.derRepresentation), in: signed), .invalid, .signatureValue)
        try verify("signature-value-48-bytes", "SignatureValue truncated to 48 bytes.",
                   document: try KitText.replacingFirst(signatureValue, with: Base64.encode(raw.prefix(48)), in: signed), .invalid, .signatureValue)
        try verify("signature-value-65-bytes", "SignatureValue of 65 bytes (a leading zero added to r).",
                   document: try KitText.replacingFirst(signatureValue, with: Base64.encode([0] + raw), in: signed), .invalid, .signatureValue)
        try verify("signature-value-empty", "Empty SignatureValue.",
                   document: try KitText.replacingFirst(signatureValue, with: "", in: signed), .invalid, .signatureValue)
        try verify("signature-value-r-zero", "r = 0.",
                   document: try KitText.replacingFirst(signatureValue, with: Base64.encode([UInt8](repeating: 0, count: 32) + raw.suffix(32)), in: signed),
                   .invalid, .signatureValue)
        let wrapped = String(signatureValue.prefix(76)) + "&#13;\n" + String(signatureValue.dropFirst(76))
        try verify("signature-value-wrapped", "SignatureValue wrapped at 76 characters with CR LF, as Java writes it: base64 whitespace is ignored.",
                   document: try KitText.replacingFirst(signatureValue, with: wrapped, in: signed), .valid)
        let otherKey = KitSignature(digestValue: contentDigest, keyInfo: keyInfo1)
        try verify("signed-by-another-key", "Signed by ts2's key while KeyInfo names ts1's certificate.",
                   document: enveloped(unsigned, try otherKey.signedElement(key: p2.xmlSigning.key)), .invalid, .signatureValue)
        var defaultNamespace = KitSignature(
            digestValue: contentDigest,
            keyInfo: "<KeyInfo><X509Data><X509IssuerSerial><X509IssuerName>\(XMLText.escape(cert1.issuer.rfc2253))</X509IssuerName><X509SerialNumber>\(cert1.serialNumber.decimal)</X509SerialNumber></X509IssuerSerial></X509Data></KeyInfo>")
        defaultNamespace.prefix = nil
        try verify("signature-default-namespace", "A correct signature written with the XML-DSig namespace as default namespace instead of the ds prefix.",
                   document: enveloped(unsigned, try defaultNamespace.signedElement(key: key1)), .valid)

        // KeyInfo.
        let serial = cert1.serialNumber.decimal
        let otherSerial = String(serial.dropLast()) + (serial.last == "1" ? "2" : "1")
        try verify("keyinfo-wrong-serial", "X509SerialNumber names another certificate of the same issuer.",
                   document: try KitText.replacingFirst(">\(serial)<", with: ">\(otherSerial)<", in: signed), .invalid, .keyInfo)
        try verify("keyinfo-wrong-issuer", "X509IssuerName names another issuer.",
                   document: try KitText.replacingFirst(">\(cert1.issuer.rfc2253)<", with: ">CN=OTHER ISSUING,OU=07<", in: signed), .invalid, .keyInfo)
        try verify("keyinfo-serial-hex", "X509SerialNumber written in hexadecimal (it must be decimal).",
                   document: try KitText.replacingFirst(">\(serial)<", with: ">\(cert1.serialNumber.hex)<", in: signed), .invalid, .keyInfo)
        try verify("keyinfo-issuer-spaced", "X509IssuerName with a space after the comma: distinguished names compare by value, so it is valid.",
                   document: try KitText.replacingFirst(">\(cert1.issuer.rfc2253)<", with: ">\(cert1.issuer.rfc2253.replacingOccurrences(of: ",", with: ", "))<", in: signed),
                   .valid)
        try verify("keyinfo-missing", "A correct signature without KeyInfo.",
                   document: enveloped(unsigned, try KitSignature(digestValue: contentDigest, keyInfo: nil).signedElement(key: key1)), .invalid, .profile)
        try verify("keyinfo-certificate-instead-of-issuer-serial", "KeyInfo carries the X509Certificate instead of X509IssuerSerial.",
                   document: try KitText.replacingFirst(keyInfo1, with: "<ds:KeyInfo><ds:X509Data><ds:X509Certificate>\(Base64.encode(cert1.derBytes))</ds:X509Certificate></ds:X509Data></ds:KeyInfo>", in: signed),
                   .invalid, .keyInfo)
        addVerification("keyinfo-certificate-not-given", "The verifier is given only ts2's certificate; KeyInfo names ts1's.",
                        documentPath: base.path, certificate: certificatePath(p2), .invalid, .keyInfo)

        // The signer: a request is signed by its Business Originator's own XML signing certificate.
        let p2Request = Self.text(try request(p2, counter: 1005, keyAgreement: false, topUpCertificate: false, topUpFloor: nil))
        let byAnotherUser = try signer(p1).sign(Array(p2Request.utf8), options: SigningOptions(deterministic: true))
        try verify("originator-not-signer", "ts2's request signed with ts1's XML signing key and certificate: a sound signature, by another User ID than the request's Business Originator.",
                   document: String(decoding: byAnotherUser.bytes, as: UTF8.self), certificate: certificatePath(p1), .invalid, .originator)
        let byDevice = try DUISSigner(key: p1.digitalSigning.key, certificate: p1.digitalSigning.certificate)
            .sign(Array(unsigned.utf8), options: SigningOptions(deterministic: true))
        try verify("non-signing-certificate", "ts1's request signed with ts1's Supplier device certificate (OU 02, digitalSignature): its own entity, but not an XML signing certificate.",
                   document: String(decoding: byDevice.bytes, as: UTF8.self),
                   certificate: "\(ConformanceKit.pkiDirectory)/\(p1.digitalSigning.certificatePath)", .invalid, .signingCertificate)

        // Time.
        addVerification("certificate-valid-at", "Verification at \(Self.timeInsideValidity), inside the certificate's validity.",
                        documentPath: base.path, certificate: certificatePath(p1), at: Self.timeInsideValidity, .valid)
        addVerification("certificate-expired-at", "Verification at \(Self.timeAfterValidity): the KeyInfo certificate expired on 2124-12-31.",
                        documentPath: base.path, certificate: certificatePath(p1), at: Self.timeAfterValidity, .invalid, .certificateExpired)
        addVerification("certificate-not-yet-valid-at", "Verification at \(Self.timeBeforeValidity): the KeyInfo certificate is valid from 2025-01-01 only.",
                        documentPath: base.path, certificate: certificatePath(p1), at: Self.timeBeforeValidity, .invalid, .certificateExpired)

        // Hostile and unusual XML.
        try verify("doctype-empty", "A correct signature preceded by an empty DOCTYPE: DTDs are refused.",
                   document: "<!DOCTYPE sr:Request>\n" + signed, .invalid, .xml)
        try verify("doctype-internal-entity", "An internal entity expands to part of the signed ImportMPxN: DTDs are refused.",
                   document: "<!DOCTYPE sr:Request [<!ENTITY m \"\(mpxn.prefix(6))\">]>\n"
                       + (try KitText.replacingFirst(">\(mpxn)<", with: ">&m;\(mpxn.dropFirst(6))<", in: signed)),
                   .invalid, .xml)
        try verify("comment-in-signed-content", "A comment inserted into sr:Body after signing: the signature still verifies (comments are not signed), but comments inside the request's elements are refused, as when signing.",
                   document: try KitText.replacingFirst("<sr:Body>", with: "<sr:Body><!-- not signed -->", in: signed), .invalid, .xml)
        try verify("comment-splitting-value", "An empty comment splits the signed ImportMPxN after signing: a first-text-node reader would see a truncated value, so it is refused.",
                   document: try KitText.replacingFirst(">\(mpxn)<", with: ">\(mpxn.prefix(10))<!---->\(mpxn.dropFirst(10))<", in: signed), .invalid, .xml)
        try verify("comment-in-signedinfo", "A comment inserted into SignedInfo after signing: exclusive C14N drops it, so it is valid.",
                   document: try KitText.replacingFirst("<ds:SignedInfo>", with: "<ds:SignedInfo><!-- not signed -->", in: signed), .valid)
        try verify("processing-instruction-in-signed-content", "A processing instruction inserted into sr:Body after signing: refused inside the request's elements, as when signing.",
                   document: try KitText.replacingFirst("<sr:Body>", with: "<sr:Body><?cos-signer test?>", in: signed), .invalid, .xml)
        try verify("processing-instruction-before-root", "A processing instruction before the root after signing: it is part of the canonical document.",
                   document: "<?cos-signer test?>\n" + signed, .invalid, .referenceDigest)
        try verify("xml-declaration-added", "An XML declaration added before the root: not part of the canonical form, so valid.",
                   document: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + signed, .valid)
        let keptText = String(decoding: kept.bytes, as: UTF8.self)
        try verify("crlf-line-ends", "The whitespace-kept signed document with CR LF line ends: XML parsing normalises them to LF, so it is valid.",
                   document: keptText.replacingOccurrences(of: "\n", with: "\r\n"), .valid)
        try verify("crlf-in-compact-content", "A CR LF added inside signed content of a compact document.",
                   document: try KitText.replacingFirst("<sr:Body>", with: "<sr:Body>\r\n", in: signed), .invalid, .referenceDigest)
    }

    // MARK: - 3. Key selection

    private func registryText(_ entries: [(id: String, name: String, mpids: [String], userIDs: [EUI64], key: TestPKIParty, certificate: TestPKIParty)]) -> String {
        var text = "# Conformance kit party registry (paths relative to this file)\n"
        for (index, entry) in entries.enumerated() {
            if index > 0 { text += "\n" }
            text += "[[party]]\nid = \"\(entry.id)\"\nname = \"\(entry.name)\"\n"
            text += "mpids = [" + entry.mpids.map { "\"\($0)\"" }.joined(separator: ", ") + "]\n"
            text += "user_ids = [" + entry.userIDs.map { "\"\($0)\"" }.joined(separator: ", ") + "]\n"
            text += "signing_key = \"../\(keyPath(entry.key))\"\n"
            text += "signing_certificate = \"../\(certificatePath(entry.certificate))\"\n"
        }
        return text
    }

    private mutating func keySelectionCases() throws {
        let registry = "\(ConformanceKit.pkiDirectory)/parties.toml"
        let registration = "\(ConformanceKit.pkiDirectory)/registration.csv"
        func entry(_ p: TestPKIParty, mpids: [String]? = nil, userIDs: [EUI64]? = nil, key: TestPKIParty? = nil, certificate: TestPKIParty? = nil)
            -> (id: String, name: String, mpids: [String], userIDs: [EUI64], key: TestPKIParty, certificate: TestPKIParty) {
            (p.id, p.name, mpids ?? p.mpids, userIDs ?? [p.userID], key ?? p, certificate ?? p)
        }
        try add("keyselection/two-parties.toml", registryText([entry(p1), entry(p2)]))
        try add("keyselection/duplicate-mpid.toml", registryText([entry(p1), entry(p2, mpids: p2.mpids + [p1.mpids[0]])]))
        try add("keyselection/duplicate-user-id.toml", registryText([entry(p1), entry(p2, userIDs: [p2.userID, p1.userID])]))
        try add("keyselection/key-certificate-mismatch.toml", registryText([entry(p1, key: p2), entry(p2)]))
        try add("keyselection/certificate-of-other-entity.toml", registryText([entry(p1, key: p2, certificate: p2), entry(p3)]))
        try add("keyselection/switch.csv", "mpxn,mpid,effective_from\n\(p1.importMPxN),\(p1.mpids[0]),2020-01-01\n\(p1.importMPxN),\(p2.mpids[0]),2030-01-01\n")
        try add("keyselection/conflicting.csv", "mpxn,mpid,effective_from\n\(p1.importMPxN),\(p1.mpids[0]),2020-01-01\n\(p1.importMPxN),\(p2.mpids[0]),2020-01-01\n")
        try add("keyselection/unknown-mpid.csv", "mpxn,mpid,effective_from\n\(p1.importMPxN),ZZ9E,2020-01-01\n")
        let foreign = Self.text(try request(p1, counter: 2000, certificatesOf: p2))
        try add("keyselection/ts1-sends-ts2-certificates.xml", foreign)
        let ts2ForMeter1 = Self.text(try request(p2, counter: 2001, mpxn: p1.importMPxN))
        try add("keyselection/ts2-for-ts1-meter.xml", ts2ForMeter1)

        // Credentials per User ID: ts1 also holds a gas User ID with its own XML signing certificate.
        let gasUserID = EUI64(p1.userID.value | 0x0001)
        let gas = try pki.issue("ts1-gas-xml-sign", role: SigningCertificateRules.userXMLSigningRole, entity: gasUserID, usage: .digitalSignature)
        try addCredentialFiles(gas)
        func credentials(_ signing: [(EUI64, String, String)]) -> String {
            var text = "# Conformance kit party registry (paths relative to this file)\n[[party]]\nid = \"\(p1.id)\"\nname = \"\(p1.name)\"\n"
            text += "mpids = [" + p1.mpids.map { "\"\($0)\"" }.joined(separator: ", ") + "]\n"
            text += "user_ids = [\"\(p1.userID)\", \"\(gasUserID)\"]\n"
            for (userID, key, certificate) in signing {
                text += "[[party.credential]]\nuser_id = \"\(userID)\"\nsigning_key = \"\(key)\"\nsigning_certificate = \"\(certificate)\"\n"
            }
            return text + "\n" + registryText([entry(p2)]).replacingOccurrences(of: "# Conformance kit party registry (paths relative to this file)\n", with: "")
        }
        let ts1Credential = (p1.userID, "../\(keyPath(p1))", "../\(certificatePath(p1))")
        let gasCredential = (gasUserID, "keys/\(gas.stem).key.pem", "keys/\(gas.stem).pem")
        try add("keyselection/credentials.toml", credentials([ts1Credential, gasCredential]))
        try add("keyselection/one-credential.toml", credentials([ts1Credential]))
        let fromGas = Self.text(try request(p1, counter: 2002, originator: gasUserID))
        try add("keyselection/ts1-gas-originator.xml", fromGas)
        // Registries the load refuses: a device (OU 02) certificate as signing certificate; two certificates with one
        // issuer and serial (ts2's XML signing certificate re-issued with ts1's serial).
        try add("keyselection/signing-certificate-role.toml",
                registryText([entry(p1, key: p1, certificate: p1)]).replacingOccurrences(of: p1.xmlSigning.stem, with: p1.digitalSigning.stem)
                    + "\n" + registryText([entry(p2)]).replacingOccurrences(of: "# Conformance kit party registry (paths relative to this file)\n", with: ""))
        let clash = try pki.issue("ts2-serial-clash-xml-sign", role: SigningCertificateRules.userXMLSigningRole, entity: p2.userID,
                                  usage: .digitalSignature, serial: p1.xmlSigning.certificate.serialNumber.bytes)
        try addCredentialFiles(clash)
        try add("keyselection/duplicate-serial.toml",
                registryText([entry(p1), entry(p2)])
                    .replacingOccurrences(of: "signing_key = \"../\(keyPath(p2))\"", with: "signing_key = \"keys/\(clash.stem).key.pem\"")
                    .replacingOccurrences(of: "signing_certificate = \"../\(certificatePath(p2))\"", with: "signing_certificate = \"keys/\(clash.stem).pem\""))
        // Registration on the execution date: the meter moves from ts1 to ts2 on 2099-07-01 (UK local date); ts2's
        // request executes at 23:30Z on 30 June, which is 00:30 BST on 1 July.
        try add("keyselection/switch-on-execution-date.csv",
                "mpxn,mpid,effective_from\n\(p1.importMPxN),\(p1.mpids[0]),2020-01-01\n\(p1.importMPxN),\(p2.mpids[0]),2099-07-01\n")
        try add("keyselection/ts2-executes-on-switch.xml",
                Self.text(try request(p2, counter: 2003, execution: "2099-06-30T23:30:00Z", mpxn: p1.importMPxN)))

        struct Spec {
            let name: String
            let description: String
            var registry: String
            var registration: String? = nil
            var request: String
            var mpid: String? = nil
            var date: String? = nil
            let party: String?
            var reason: KitRefusal? = nil
            var userID: EUI64? = nil
        }
        let r1 = requestPath(p1), r2 = requestPath(p2), r3 = requestPath(p3, futureDated: true)
        let specs: [Spec] = [
            Spec(name: "by-mpid", description: "MPID \(p1.mpids[0]) names ts1, which also sent the request.",
                 registry: registry, request: r1, mpid: p1.mpids[0], party: p1.id),
            Spec(name: "by-second-mpid-of-multi-mpid-party", description: "ts1 holds two MPIDs; its second (\(p1.mpids[1])) selects the same party and key.",
                 registry: registry, request: r1, mpid: p1.mpids[1], party: p1.id),
            Spec(name: "by-business-originator", description: "No MPID given: the Business Originator (ts1's User ID) selects ts1.",
                 registry: registry, request: r1, party: p1.id),
            Spec(name: "by-business-originator-future-dated", description: "A future-dated request of ts3 selects ts3.",
                 registry: registry, request: r3, party: p3.id),
            Spec(name: "by-registration", description: "The request's MPxN is registered to \(p2.mpids[0]) (ts2) on 2026-01-01; ts2 sent it.",
                 registry: registry, registration: registration, request: r2, date: "2026-01-01", party: p2.id),
            Spec(name: "by-registration-and-mpid", description: "MPID, registration and Business Originator all name ts2.",
                 registry: registry, registration: registration, request: r2, mpid: p2.mpids[1], date: "2026-01-01", party: p2.id),
            Spec(name: "registration-before-switch", description: "ts2 asks for ts1's meter before the registration moves to ts2 (2030-01-01): split.",
                 registry: registry, registration: "keyselection/switch.csv", request: "keyselection/ts2-for-ts1-meter.xml", date: "2029-12-31",
                 party: nil, reason: .split),
            Spec(name: "registration-after-switch", description: "ts2 asks for the meter on the day its registration starts: ts2.",
                 registry: registry, registration: "keyselection/switch.csv", request: "keyselection/ts2-for-ts1-meter.xml", date: "2030-01-01",
                 party: p2.id),
            Spec(name: "mpid-of-another-party", description: "MPID \(p2.mpids[0]) (ts2) for a request sent by ts1: split supplier, refused.",
                 registry: registry, request: r1, mpid: p2.mpids[0], party: nil, reason: .split),
            Spec(name: "foreign-replacement-certificates", description: "ts1 sends a request carrying ts2's replacement certificates: refused.",
                 registry: registry, request: "keyselection/ts1-sends-ts2-certificates.xml", party: nil, reason: .split),
            Spec(name: "unknown-mpid", description: "MPID ZZZZ is declared by no party.",
                 registry: registry, request: r1, mpid: "ZZZZ", party: nil, reason: .unknownMPID),
            Spec(name: "unknown-business-originator", description: "ts3's request against a registry of ts1 and ts2 only: its User ID is unknown.",
                 registry: "keyselection/two-parties.toml", request: r3, party: nil, reason: .unknownUserID),
            Spec(name: "not-registered-at-date", description: "The MPxN has no registration on 2019-12-31 (registrations start 2020-01-01).",
                 registry: registry, registration: registration, request: r1, date: "2019-12-31", party: nil, reason: .notRegistered),
            Spec(name: "registered-to-unknown-mpid", description: "The MPxN is registered to MPID ZZ9E, which no party declares.",
                 registry: registry, registration: "keyselection/unknown-mpid.csv", request: r1, date: "2026-01-01", party: nil,
                 reason: .registeredToUnknownMPID),
            Spec(name: "conflicting-registration-rows", description: "Two rows register the same MPxN from the same day to different MPIDs: the data is refused.",
                 registry: registry, registration: "keyselection/conflicting.csv", request: r1, date: "2026-01-01", party: nil,
                 reason: .registrationDataInvalid),
            Spec(name: "duplicate-mpid", description: "Two parties declare MPID \(p1.mpids[0]): the registry is refused.",
                 registry: "keyselection/duplicate-mpid.toml", request: r1, mpid: p1.mpids[0], party: nil, reason: .duplicateMPID),
            Spec(name: "duplicate-user-id", description: "Two parties declare ts1's User ID: the registry is refused.",
                 registry: "keyselection/duplicate-user-id.toml", request: r1, party: nil, reason: .duplicateUserID),
            Spec(name: "key-certificate-mismatch", description: "ts1's registry entry pairs ts2's key with ts1's certificate.",
                 registry: "keyselection/key-certificate-mismatch.toml", request: r1, party: nil, reason: .keyCertificateMismatch),
            Spec(name: "certificate-of-other-entity", description: "ts1's registry entry holds ts2's XmlSign certificate (another entity identifier).",
                 registry: "keyselection/certificate-of-other-entity.toml", request: r1, party: nil, reason: .certificateIdentity),
            Spec(name: "credential-of-the-originator", description: "ts1 signs for two User IDs, each with its own XML signing certificate: a request from its first User ID is signed with that User ID's credential.",
                 registry: "keyselection/credentials.toml", request: r1, mpid: p1.mpids[0], party: p1.id, userID: p1.userID),
            Spec(name: "credential-of-the-second-originator", description: "The same registry: a request from ts1's second (gas) User ID is signed with the second credential, never the first.",
                 registry: "keyselection/credentials.toml", request: "keyselection/ts1-gas-originator.xml", mpid: p1.mpids[1], party: p1.id,
                 userID: gasUserID),
            Spec(name: "wrong-credential", description: "ts1 declares its gas User ID but signs only for its first one: a request from the gas User ID is refused, never signed with the other User ID's certificate.",
                 registry: "keyselection/one-credential.toml", request: "keyselection/ts1-gas-originator.xml", mpid: p1.mpids[1], party: nil,
                 reason: .noCredentialForOriginator),
            Spec(name: "signing-certificate-role", description: "ts1's signing certificate is its Supplier device certificate (OU 02): the registry is refused.",
                 registry: "keyselection/signing-certificate-role.toml", request: r1, party: nil, reason: .signingCertificateRole),
            Spec(name: "duplicate-certificate-serial", description: "ts2's XML signing certificate has the issuer and serial of ts1's: the registry is refused.",
                 registry: "keyselection/duplicate-serial.toml", request: r1, party: nil, reason: .duplicateCertificateSerial),
            Spec(name: "registration-on-execution-date", description: "No date given: ts2's future-dated request executing at 2099-06-30T23:30:00Z is checked against the registration on its execution date in UK local time, 2099-07-01, when ts2 holds the meter.",
                 registry: registry, registration: "keyselection/switch-on-execution-date.csv", request: "keyselection/ts2-executes-on-switch.xml",
                 party: p2.id, userID: p2.userID),
            Spec(name: "registration-before-execution-date", description: "The same request checked against the registration on 2099-06-30 (the UTC date of its ExecutionDateTime): ts1 still holds the meter, split.",
                 registry: registry, registration: "keyselection/switch-on-execution-date.csv", request: "keyselection/ts2-executes-on-switch.xml",
                 date: "2099-06-30", party: nil, reason: .split),
            Spec(name: "registration-today-for-future-dated", description: "The same request checked against today's registration (\(Self.validationNow.prefix(10))): refused; a future-dated request is checked on its execution date.",
                 registry: registry, registration: "keyselection/switch-on-execution-date.csv", request: "keyselection/ts2-executes-on-switch.xml",
                 date: String(Self.validationNow.prefix(10)), party: nil, reason: .split),
        ]
        for spec in specs {
            let expected = spec.party.map { KitExpected(outcome: .valid, party: $0, userID: spec.userID?.description) }
                ?? KitExpected(outcome: .refused, reason: spec.reason?.rawValue,
                           // A certificate that cannot sign is a key or certificate problem (exit 3), not a selection one.
                           exitCode: spec.reason == .signingCertificateRole ? Int(FailureClass.keyOrCertificate.exitCode) : Self.selectionExit)
            addCase(.keySelection, spec.name, spec.description,
                    KitInputs(request: spec.request, registry: spec.registry, registration: spec.registration, mpid: spec.mpid, date: spec.date),
                    expected)
        }
    }

    // MARK: - 4. Request validation

    private mutating func validationCases() throws {
        // A small base request (no optional certificate) keeps the kit small.
        let base = Self.text(try request(p1, counter: 1000, keyAgreement: false, topUpCertificate: false))
        let full = Self.text(p1.immediateRequest)
        func valid(_ name: String, _ description: String, path: String, now: String? = nil, certificatesValidAt: String? = nil) {
            addCase(.requestValidation, name, description, KitInputs(request: path, now: now, certificatesValidAt: certificatesValidAt),
                    KitExpected(outcome: .valid))
        }
        func invalid(_ name: String, _ description: String, _ text: String, field: String, rule: DUISRequestError.Rule,
                     now: String? = nil, certificatesValidAt: String? = nil) throws {
            let path = "validation/\(name).xml"
            try add(path, text)
            addCase(.requestValidation, name, description, KitInputs(request: path, now: now, certificatesValidAt: certificatesValidAt),
                    KitExpected(outcome: .invalid, exitCode: Self.inputExit, field: field, rule: String(describing: rule)))
        }
        func replace(_ target: String, _ replacement: String, in text: String? = nil) throws -> String {
            try KitText.replacingFirst(target, with: replacement, in: text ?? base)
        }

        valid("immediate", "ts1's immediate request, as `cos-signer testpki` writes it.", path: requestPath(p1))
        valid("future-dated", "A future-dated request checked at \(Self.validationNow).", path: requestPath(p1, futureDated: true), now: Self.validationNow)
        valid("minimal", "No optional element.", path: "signing/immediate-minimal.xml")
        valid("maximum-values", "Counter 2^64-1, floors 2^63-1, two path certificates.", path: "signing/maximum-values.xml")
        valid("signed", "A signed request: the ds:Signature as the root's last child is allowed.", path: "signing/immediate-cv1.signed.xml")
        valid("whitespace-between-elements", "Indented request: whitespace between elements is allowed.", path: "signing/whitespace-kept-immediate.xml")
        valid("certificates-valid-at", "Every certificate valid at \(Self.timeInsideValidity).", path: requestPath(p1), certificatesValidAt: Self.timeInsideValidity)
        let lower = base.replacingOccurrences(of: p1.userID.description, with: p1.userID.description.lowercased())
        let lowerPath = "validation/request-id-lower-case.xml"
        try add(lowerPath, lower)
        valid("request-id-lower-case", "RequestID EUI-64s in lower-case hex are accepted.", path: lowerPath)

        let cv = "sr:Header/sr:CommandVariant"
        let cos = "sr:Body/sr:UpdateSecurityCredentialsCoS"
        let requestID = "sr:Header/sr:RequestID"
        try invalid("command-variant-4", "CommandVariant 4 (critical) is not allowed for 6.23.",
                    try replace("<sr:CommandVariant>1<", "<sr:CommandVariant>4<"), field: cv, rule: .value)
        try invalid("command-variant-8", "CommandVariant 8 (non-device service) is not allowed for 6.23.",
                    try replace("<sr:CommandVariant>1<", "<sr:CommandVariant>8<"), field: cv, rule: .value)
        try invalid("command-variant-10", "CommandVariant 10 does not exist.",
                    try replace("<sr:CommandVariant>1<", "<sr:CommandVariant>10<"), field: cv, rule: .range)
        try invalid("service-reference-other", "ServiceReference 6.15 in a 6.23 body.",
                    try replace("<sr:ServiceReference>6.23<", "<sr:ServiceReference>6.15<"), field: "sr:Header/sr:ServiceReference", rule: .value)
        try invalid("service-reference-variant-other", "ServiceReferenceVariant 6.15.1.",
                    try replace("<sr:ServiceReferenceVariant>6.23<", "<sr:ServiceReferenceVariant>6.15.1<"),
                    field: "sr:Header/sr:ServiceReferenceVariant", rule: .value)
        try invalid("counter-zero", "Originator counter 0.", try replace(":1000</sr:RequestID>", ":0</sr:RequestID>"), field: requestID, rule: .range)
        try invalid("counter-too-large", "Originator counter 2^64.",
                    try replace(":1000</sr:RequestID>", ":18446744073709551616</sr:RequestID>"), field: requestID, rule: .range)
        try invalid("counter-leading-zero", "Originator counter with a leading zero.",
                    try replace(":1000</sr:RequestID>", ":01000</sr:RequestID>"), field: requestID, rule: .lexicalForm)
        try invalid("request-id-bad-eui64", "Business Originator with 7 octets.",
                    try replace(p1.userID.description + ":", String(p1.userID.description.dropLast(3)) + ":"), field: requestID, rule: .lexicalForm)
        try invalid("request-id-two-parts", "RequestID without the counter.",
                    try replace(":1000</sr:RequestID>", "</sr:RequestID>"), field: requestID, rule: .lexicalForm)
        try invalid("floor-too-large", "SupplierFloorSeqNumber 2^63.",
                    try replace("<sr:SupplierFloorSeqNumber>0<", "<sr:SupplierFloorSeqNumber>9223372036854775808<"),
                    field: "\(cos)/sr:SupplierFloorSeqNumber", rule: .range)
        try invalid("floor-negative", "SupplierFloorSeqNumber -1.",
                    try replace("<sr:SupplierFloorSeqNumber>0<", "<sr:SupplierFloorSeqNumber>-1<"), field: "\(cos)/sr:SupplierFloorSeqNumber", rule: .lexicalForm)
        try invalid("floor-leading-zero", "SupplierFloorSeqNumber 007.",
                    try replace("<sr:SupplierFloorSeqNumber>0<", "<sr:SupplierFloorSeqNumber>007<"), field: "\(cos)/sr:SupplierFloorSeqNumber", rule: .lexicalForm)
        try invalid("top-up-floor-too-large", "SupplierPrepaymentTopUpFloorSeqNumber 2^63.",
                    try replace("<sr:SupplierPrepaymentTopUpFloorSeqNumber>0<", "<sr:SupplierPrepaymentTopUpFloorSeqNumber>9223372036854775808<"),
                    field: "\(cos)/sr:SupplierPrepaymentTopUpFloorSeqNumber", rule: .range)
        try invalid("floor-missing", "No SupplierFloorSeqNumber.",
                    try replace("<sr:SupplierFloorSeqNumber>0</sr:SupplierFloorSeqNumber>", ""), field: "\(cos)/sr:SupplierFloorSeqNumber", rule: .missingElement)
        let cpvElement = "<sr:ApplyTimeBasedCPVChecks>true</sr:ApplyTimeBasedCPVChecks>"
        let mpxnElement = "<sr:ImportMPxN>\(p1.importMPxN)</sr:ImportMPxN>"
        try invalid("element-order", "ImportMPxN before ApplyTimeBasedCPVChecks.",
                    try replace(cpvElement + mpxnElement, mpxnElement + cpvElement), field: "\(cos)/sr:ApplyTimeBasedCPVChecks", rule: .elementOrder)
        try invalid("duplicate-element", "ImportMPxN twice.",
                    try replace(mpxnElement, mpxnElement + mpxnElement), field: "\(cos)/sr:ImportMPxN", rule: .duplicateElement)
        try invalid("unknown-element", "An element the schema does not define in the body.",
                    try replace(mpxnElement, mpxnElement + "<sr:ExportMPxN>1</sr:ExportMPxN>"), field: "\(cos)/sr:ExportMPxN", rule: .unexpectedElement)
        let issuing = "<sr:Certificate>\(Base64.encode(pki.issuingCA.certificate.derBytes))</sr:Certificate>"
        try invalid("path-no-certificate", "CertificationPathCertificates empty.",
                    try replace(issuing, ""), field: "\(cos)/sr:CertificationPathCertificates", rule: .cardinality)
        try invalid("path-four-certificates", "Four certification path certificates (at most 3).",
                    try replace(issuing, String(repeating: issuing, count: 4)), field: "\(cos)/sr:CertificationPathCertificates", rule: .cardinality)
        try invalid("mpxn-too-long", "ImportMPxN of 14 characters.",
                    try replace(mpxnElement, "<sr:ImportMPxN>\(p1.importMPxN)0</sr:ImportMPxN>"), field: "\(cos)/sr:ImportMPxN", rule: .range)
        try invalid("mpxn-empty", "Empty ImportMPxN.", try replace(mpxnElement, "<sr:ImportMPxN></sr:ImportMPxN>"), field: "\(cos)/sr:ImportMPxN", rule: .range)
        try invalid("cpv-not-boolean", "ApplyTimeBasedCPVChecks 'yes'.",
                    try replace(cpvElement, "<sr:ApplyTimeBasedCPVChecks>yes</sr:ApplyTimeBasedCPVChecks>"),
                    field: "\(cos)/sr:ApplyTimeBasedCPVChecks", rule: .lexicalForm)
        let future = Self.text(p1.futureDatedRequest)
        try invalid("execution-date-time-malformed", "ExecutionDateTime with month 13.",
                    try replace(Self.futureExecution, "2099-13-01T00:00:00Z", in: future), field: "\(cos)/sr:ExecutionDateTime", rule: .lexicalForm)
        try invalid("execution-date-time-past", "ExecutionDateTime \(Self.pastExecution) checked at \(Self.validationNow): not future dated.",
                    try replace(Self.futureExecution, Self.pastExecution, in: future), field: "\(cos)/sr:ExecutionDateTime", rule: .futureDated,
                    now: Self.validationNow)
        try invalid("attribute-on-body", "An attribute on sr:Body.", try replace("<sr:Body>", "<sr:Body id=\"b\">"), field: "sr:Body", rule: .attribute)
        try invalid("schema-version-missing", "No schemaVersion on the root.",
                    try replace(" schemaVersion=\"5.4\"", ""), field: "sr:Request", rule: .attribute)
        try invalid("comment-in-body", "A comment inside the body.",
                    try replace("<sr:UpdateSecurityCredentialsCoS>", "<sr:UpdateSecurityCredentialsCoS><!-- c -->"), field: cos, rule: .unexpectedNode)
        try invalid("text-in-element-content", "Text between the body's elements.",
                    try replace("<sr:SupplierFloorSeqNumber>", "text<sr:SupplierFloorSeqNumber>"), field: cos, rule: .unexpectedText)
        try invalid("wrong-namespace", "The root in another namespace.",
                    try replace("xmlns:sr=\"\(DUISNamespace.serviceUserGateway)\"", "xmlns:sr=\"http://example.invalid/duis\""), field: "sr:Request",
                    rule: .unexpectedElement)
        try invalid("not-well-formed", "An unclosed element.", try replace("</sr:Body>", ""), field: "", rule: .wellFormedXML)
        try invalid("doctype", "A DOCTYPE: refused by the hardened parser.", "<!DOCTYPE sr:Request>\n" + base, field: "", rule: .wellFormedXML)
        let dsBase64 = Base64.encode(p1.digitalSigning.certificate.derBytes)
        let kaBase64 = Base64.encode(p1.keyAgreement.certificate.derBytes)
        let ds = "\(cos)/sr:SupplierReplacementCertificates/sr:DigitalSigningCertificate"
        let ka = "\(cos)/sr:SupplierReplacementCertificates/sr:KeyAgreementCertificate"
        try invalid("certificate-not-base64", "DigitalSigningCertificate is not base64.", try replace(dsBase64, "not*base64"), field: ds, rule: .lexicalForm)
        try invalid("certificate-not-der", "DigitalSigningCertificate is base64 of text, not a certificate.",
                    try replace(dsBase64, Base64.encode(Array("not a certificate".utf8))), field: ds, rule: .certificateEncoding)
        try invalid("certificate-key-usage", "A key agreement certificate in the DigitalSigningCertificate slot.",
                    try replace(">" + dsBase64 + "<", ">" + kaBase64 + "<"), field: ds, rule: .certificateKeyUsage)
        try invalid("certificate-role-xml-sign", "The XmlSign certificate (OU 87) as DigitalSigningCertificate: it must be a Supplier (OU 02) certificate.",
                    try replace(dsBase64, Base64.encode(p1.xmlSigning.certificate.derBytes)), field: ds, rule: .certificateRole)
        try invalid("certificate-entities-differ", "ts2's KeyAgreementCertificate with ts1's DigitalSigningCertificate.",
                    try replace(kaBase64, Base64.encode(p2.keyAgreement.certificate.derBytes), in: full), field: ka, rule: .certificateEntityIdentifier)
        try invalid("certificate-not-issued-by-path", "The path holds only the root CA, which did not issue the replacement certificates.",
                    try replace(issuing, "<sr:Certificate>\(Base64.encode(pki.root.certificate.derBytes))</sr:Certificate>"), field: ds, rule: .certificateChain)
        addCase(.requestValidation, "certificates-expired-at", "The certificates checked at \(Self.timeAfterValidity), after they expire.",
                KitInputs(request: requestPath(p1), certificatesValidAt: Self.timeAfterValidity),
                KitExpected(outcome: .invalid, exitCode: Self.inputExit, field: ds, rule: String(describing: DUISRequestError.Rule.certificateValidity)))

        // Certificates a meter refuses (GBCS §12): each rule broken once, in ts1's DigitalSigningCertificate or path.
        typealias Deviations = TestCertificateBuilder.Deviations
        func digitalSigning(_ stem: String, _ change: (inout Deviations) -> Void = { _ in },
                            notBefore: [UInt8] = DER.time(year: 2025, month: 1, day: 1),
                            notAfter: [UInt8] = DER.time(year: 2124, month: 12, day: 31, hour: 23, minute: 59, second: 59)) throws -> [UInt8] {
            var deviations = Deviations()
            change(&deviations)
            return try pki.issue("ts1-ds-\(stem)", role: ServiceRequest623.supplierRoleCode, commonName: "TESTSUPPLIER1", entity: p1.userID,
                                 usage: .digitalSignature, deviations: deviations, notBefore: notBefore, notAfter: notAfter).certificate.derBytes
        }
        func withDigitalSigning(_ der: [UInt8], execution: String? = nil) throws -> String {
            Self.text(try request(p1, counter: 1000, execution: execution, keyAgreement: false, topUpCertificate: false, digitalSigning: der))
        }
        let gbcs: [(String, String, (inout Deviations) -> Void, DUISRequestError.Rule)] = [
            ("gbcs-key-usage-not-critical", "keyUsage present but not critical.", { $0.keyUsage = .nonCritical }, .certificateExtensions),
            ("gbcs-key-usage-absent", "No keyUsage extension.", { $0.keyUsage = .absent }, .certificateExtensions),
            ("gbcs-policies-not-critical", "certificatePolicies present but not critical.", { $0.certificatePolicies = .nonCritical }, .certificateExtensions),
            ("gbcs-policies-absent", "No certificatePolicies extension.", { $0.certificatePolicies = .absent }, .certificateExtensions),
            ("gbcs-subject-key-identifier-absent", "No SubjectKeyIdentifier.", { $0.subjectKeyIdentifierLength = nil }, .certificateKeyIdentifiers),
            ("gbcs-subject-key-identifier-20-octets", "A 20-octet SubjectKeyIdentifier (SHA-1, RFC 5280 method 1) instead of 8.",
             { $0.subjectKeyIdentifierLength = 20 }, .certificateKeyIdentifiers),
            ("gbcs-authority-key-identifier-absent", "No AuthorityKeyIdentifier on a certificate that is not a self-signed root.",
             { $0.omitAuthorityKeyIdentifier = true }, .certificateKeyIdentifiers),
            ("gbcs-compressed-public-key", "The P-256 public key as a compressed point.", { $0.compressedPoint = true }, .certificatePublicKey),
            ("gbcs-signature-algorithm-sha384", "Signed with ecdsa-with-SHA384 (named; a meter accepts ecdsa-with-SHA256 only).",
             { $0.signatureAlgorithmOID = "1.2.840.10045.4.3.3" }, .certificateSignatureAlgorithm),
        ]
        for (name, description, change, rule) in gbcs {
            try invalid(name, "DigitalSigningCertificate: \(description) A meter refuses it (GBCS §12).",
                        try withDigitalSigning(try digitalSigning(String(name.dropFirst(5)), change)), field: ds, rule: rule)
        }
        let path1 = "\(cos)/sr:CertificationPathCertificates/sr:Certificate[1]"
        var notCA = Deviations()
        notCA.omitBasicConstraints = true
        let caWithoutBasicConstraints = try pki.issue("path-not-ca", kind: .issuingCA, role: "07", commonName: "NOT A CA", entity: EUI64(0),
                                                      usage: [.keyCertSign, .cRLSign], deviations: notCA).certificate.derBytes
        let caWithoutCertSign = try pki.issue("path-no-key-cert-sign", kind: .issuingCA, role: "07", commonName: "NO KEYCERTSIGN",
                                              entity: EUI64(0), usage: [.cRLSign]).certificate.derBytes
        for (name, description, der) in [
            ("gbcs-path-not-ca", "A certification path certificate without basicConstraints cA: not a CA.", caWithoutBasicConstraints),
            ("gbcs-path-without-key-cert-sign", "A certification path certificate without the keyCertSign key usage.", caWithoutCertSign),
        ] {
            let text = Self.text(try request(p1, counter: 1000, keyAgreement: false, topUpCertificate: false,
                                             path: [der, pki.issuingCA.certificate.derBytes]))
            try invalid(name, description, text, field: path1, rule: .certificateAuthority)
        }
        // The replacement certificates when the request executes.
        let until2030 = try digitalSigning("until-2030", notAfter: DER.time(year: 2030, month: 1, day: 1))
        try invalid("replacement-expired-at-execution", "A future-dated request (executing \(Self.futureExecution)) places a certificate that expires in 2030: the meter would refuse it when the request executes.",
                    try withDigitalSigning(until2030, execution: Self.futureExecution), field: ds, rule: .certificateValidity, now: Self.validationNow)
        let from2027 = try digitalSigning("from-2027", notBefore: DER.time(year: 2027, month: 1, day: 1))
        try invalid("replacement-not-yet-valid-immediate", "An immediate request (executing now, \(Self.validationNow)) places a certificate valid from 2027 only.",
                    try withDigitalSigning(from2027), field: ds, rule: .certificateValidity, now: Self.validationNow)
        let later = "validation/replacement-valid-when-executed.xml"
        try add(later, try withDigitalSigning(from2027, execution: Self.futureExecution))
        valid("replacement-valid-when-executed", "The certificate valid from 2027 only, on a request executing \(Self.futureExecution): valid when it executes, so accepted now (\(Self.validationNow)).",
              path: later, now: Self.validationNow)
    }
}

/// The reason classes of verification cases.
enum KitReasonClass: String, CaseIterable {
    case missing, unsigned, profile, keyInfo, referenceDigest, signatureValue, signingCertificate, originator, certificateExpired, xml

    var exitCode: Int {
        self == .xml ? Int(FailureClass.input.exitCode) : Int(FailureClass.signatureInvalid.exitCode)
    }

    static let descriptions: [String: String] = [
        "missing": "the document has no XML-DSig signature at all",
        "unsigned": "a DCC acknowledgement without a signature: the DCC does not sign acknowledgements (`cos-signer verify` accepts it only with --allow-unsigned-acknowledgements)",
        "profile": "the signature's shape, placement, algorithms, transforms or references are outside the DUIS profile",
        "keyInfo": "KeyInfo is malformed or names no certificate the verifier was given (X509IssuerSerial: issuer DN and decimal serial)",
        "referenceDigest": "the Reference digest does not match the document (signed content changed)",
        "signatureValue": "the SignatureValue is malformed (not 64 raw bytes r||s, r or s out of range) or does not verify over the canonical SignedInfo",
        "signingCertificate": "the signature verifies, but the KeyInfo certificate may not sign a request: it is not a DCC User's XML signing certificate (OU 87, critical keyUsage digitalSignature only, not a CA)",
        "originator": "the signature verifies, but the KeyInfo certificate's entity identifier is not the request's Business Originator (a request is signed with its originator's own XML signing certificate)",
        "certificateExpired": "the signature verifies, but the KeyInfo certificate is not valid at the case's `at` time (expired or not yet valid)",
        "xml": "the bytes are refused before signature checks: DOCTYPE, entities, malformed or non-UTF-8 XML, comments or processing instructions inside the document's elements",
    ].merging(KitRefusal.descriptions) { a, _ in a }
}

/// The refusal reasons of key selection cases.
enum KitRefusal: String, CaseIterable {
    case split, unknownMPID, unknownUserID, notRegistered, registeredToUnknownMPID, registrationDataInvalid
    case duplicateMPID, duplicateUserID, keyCertificateMismatch, certificateIdentity
    case noCredentialForOriginator, originatorNotSigner, signingCertificateRole, duplicateCertificateSerial

    static let descriptions: [String: String] = [
        "split": "key selection: the identifiers given (MPID, registration, Business Originator, replacement certificates' entity) belong to different Supplier Parties",
        "unknownMPID": "key selection: no party declares the MPID",
        "unknownUserID": "key selection: the Business Originator (or the replacement certificates' entity) is no party's User ID",
        "notRegistered": "key selection: the MPxN has no registration in force on the date",
        "registeredToUnknownMPID": "key selection: the MPxN is registered to an MPID no party declares",
        "registrationDataInvalid": "key selection: the registration data is refused (duplicate or conflicting rows, malformed rows)",
        "duplicateMPID": "key selection: the registry is refused, one MPID is declared twice",
        "duplicateUserID": "key selection: the registry is refused, one User ID is declared twice",
        "keyCertificateMismatch": "key selection: the registry is refused, a party's key does not match its certificate",
        "certificateIdentity": "key selection: the registry is refused, a party's signing certificate belongs to an entity that is not one of its User IDs",
        "noCredentialForOriginator": "key selection: the party has no XML signing credential for the request's Business Originator (a request is signed with its originator's own certificate, never another User ID's)",
        "originatorNotSigner": "signing refused: the certificate given belongs to another entity than the request's Business Originator",
        "signingCertificateRole": "key selection: the registry is refused, a signing certificate is not a DCC User's XML signing certificate (OU 87, critical keyUsage digitalSignature only, not a CA)",
        "duplicateCertificateSerial": "key selection: the registry is refused, two certificates share an issuer and serial number (serials compared as signed integers)",
    ]
}
