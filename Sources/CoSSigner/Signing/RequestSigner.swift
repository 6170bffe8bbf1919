import Foundation

/// What a signing run checks and how it signs.
public struct RequestSigningOptions: Sendable {
    /// How the XML signature is made (compact or whitespace kept, random or deterministic nonce, parse limits).
    public var signing: SigningOptions
    /// The 6.23 checks run before signing a document that claims to be a 6.23. `now` is used for the
    /// future-dating check; certificates are checked unless switched off.
    public var validation: DUISValidationOptions

    /// Makes options. By default a 6.23's certificates are checked (without validity dates) and a future-dated
    /// request must execute after the current time.
    public init(signing: SigningOptions = SigningOptions(), validation: DUISValidationOptions = DUISValidationOptions(now: Date())) {
        self.signing = signing
        self.validation = validation
    }
}

/// Where the signing key of a document comes from.
public enum SigningKeySource: Sendable {
    /// One key for every document (the explicit `--key/--cert` form).
    case fixed(DUISSigner)
    /// The Supplier Party the selector chooses for each document: by MPID when given, else by the request's
    /// Business Originator, optionally by the meter's registration at a date; never split.
    case selected(KeySelector, mpid: MPID?, registrationDate: CalendarDate?)
}

/// One document signed by ``RequestSigner``.
public struct SignedRequest: Sendable {
    /// The signed document and its digest and signature values.
    public let document: SignedDocument
    /// The typed 6.23 as signed (with its final RequestID) when the document was one; `nil` for other DUIS
    /// requests (generic XML checks only).
    public let request: ServiceRequest623?
    /// The RequestID as signed, when the document has one.
    public let requestID: RequestID?
    /// The certificate named in KeyInfo.
    public let certificate: Certificate
    /// The Supplier Party whose key signed, when the key was selected.
    public let party: SupplierParty?
    /// Why that party was chosen.
    public let selectionReasons: [String]
}

/// Signs DUIS requests, one document at a time: parse (hardened) → a document that claims to be a 6.23 is parsed
/// into the typed model and validated (structure, certificates, optional schema) → key selection → RequestID
/// counter → XML signature.
///
/// Other DUIS requests get only the generic XML checks (and the schema, if one is given). One `RequestSigner`
/// may be shared by many threads: keys are loaded once, before.
public struct RequestSigner: Sendable {
    /// Where the key comes from.
    public let keys: SigningKeySource
    /// What is checked and how it is signed.
    public let options: RequestSigningOptions
    /// How the RequestID counter is set (`nil`: as the adapter built it).
    public let counters: CounterAssigner?
    /// Certificate sets that passed the 6.23 certificate checks (shared by every thread using this signer).
    private let certificateChecks = CertificateCheckMemo()
    /// Certificates the fast path has decoded, by their base64 text (shared by every thread using this signer).
    private let certificateTexts = BytesMemo<[UInt8]>(capacity: 1024)

    /// Makes a request signer.
    public init(keys: SigningKeySource, options: RequestSigningOptions = RequestSigningOptions(), counters: CounterAssigner? = nil) {
        self.keys = keys
        self.options = options
        self.counters = counters
    }

    /// Makes a request signer with one key.
    public init(signer: DUISSigner, options: RequestSigningOptions = RequestSigningOptions()) {
        self.init(keys: .fixed(signer), options: options)
    }

    private var rewritesCounters: Bool {
        if let counters, counters.policy != .preserve { return true }
        return false
    }

    /// Signs one document.
    /// - Parameters:
    ///   - bytes: the document (UTF-8 XML).
    ///   - source: its name for messages (a file name).
    /// - Throws: ``XMLError``, ``DUISRequestError`` or ``DUISSchemaError`` (input), ``KeySelectionRefused``,
    ///   ``CounterStoreError``, ``SigningRefused``, ``CryptoError``.
    public func sign(_ bytes: [UInt8], source: String? = nil) throws -> SignedRequest {
        if let signed = try fastSign(bytes, source: source) { return signed }
        return try fullSign(bytes, source: source)
    }

    /// The fast path for the common case, a valid 6.23 without a schema to check: the single-pass canonicalizer
    /// makes the canonical form, ``ServiceRequest623FastReader`` reads the typed request from it (no DOM), the
    /// same checks, key choice and counter run, and the canonical bytes are signed as they are. It returns `nil`
    /// whenever anything is not plainly valid, before any effect (counter, output), and the full path then gives
    /// the same outcome with its exact error; the outputs of both paths are compared by the tests.
    private func fastSign(_ bytes: [UInt8], source: String?) throws -> SignedRequest? {
        guard options.validation.schema == nil else { return nil }
        let outcome: FastOutcome?? = try bytes.withUnsafeBytes { raw throws -> FastOutcome?? in
            try FastCanonicalizer.withScanner(raw, mode: .signing(compact: !options.signing.keepWhitespace),
                                              limits: options.signing.limits) { scanner throws -> FastOutcome? in
                guard !scanner.sawCommentOrCDATA, scanner.placeholderCount <= 1, scanner.placeholderIsLastRootChild,
                    let request = ServiceRequest623FastReader.read(canonical: scanner.canonical, certificates: certificateTexts)
                else { return nil }
                // A refusal is left to the full path, so that it is reported exactly as that path reports it.
                guard (try? validate(request)) != nil,
                    let (signer, party, reasons) = try? chooseKey(request: request, requestID: request.requestID, source: source)
                else { return nil }
                if rewritesCounters {
                    return .rewriteCounter(request, signer, party, reasons)
                }
                let signed = try signer.finish(canonical: scanner.canonical, rootQualifiedName: scanner.rootQualifiedName,
                                               options: options.signing)
                return .signed(SignedRequest(document: signed, request: request, requestID: request.requestID,
                                             certificate: signer.certificate, party: party, selectionReasons: reasons))
            }
        }
        switch outcome {
        case .some(.some(.signed(let signed))):
            return signed
        case .some(.some(.rewriteCounter(let request, let signer, let party, let reasons))):
            guard let counters else { return nil }
            let newID = try counters.assign(to: request.requestID)
            guard newID != request.requestID else {
                let signed = try signer.sign(bytes, options: options.signing, source: source)
                return SignedRequest(document: signed, request: request, requestID: newID, certificate: signer.certificate,
                                     party: party, selectionReasons: reasons)
            }
            let updated = try request.withRequestID(newID)
            let signed = try signer.sign(updated.xmlBytes(), options: options.signing, source: source)
            return SignedRequest(document: signed, request: updated, requestID: newID, certificate: signer.certificate,
                                 party: party, selectionReasons: reasons)
        default:
            return nil
        }
    }

    /// What the fast path found inside the canonicalizer's scope.
    private enum FastOutcome {
        case signed(SignedRequest)
        /// A valid 6.23 whose counter is to be set: signed outside the scope, once the counter is assigned.
        case rewriteCounter(ServiceRequest623, DUISSigner, SupplierParty?, [String])
    }

    /// The full path: hardened libxml2 parse, the typed model from the tree, checks, key, counter, signature.
    func fullSign(_ bytes: [UInt8], source: String? = nil) throws -> SignedRequest {
        var document = try XMLDocument(parsing: bytes, limits: options.signing.limits, source: source)
        var documentBytes = bytes
        var request: ServiceRequest623?
        var requestID: RequestID?
        if ServiceRequest623.claims623(document) {
            let parsed = try ServiceRequest623(document: document, source: source)
            do {
                try validate(parsed)
            } catch var error as DUISRequestError {
                error.source = error.source ?? source
                throw error
            }
            request = parsed
            requestID = parsed.requestID
        } else {
            if let schema = options.validation.schema {
                try schema.validate(document, source: source)
            }
            requestID = try? Self.genericRequestID(document)
        }

        let (signer, party, reasons) = try chooseKey(request: request, requestID: requestID, source: source)

        if rewritesCounters, let counters {
            guard let parsed = request else {
                throw SigningRefused("RequestID counters are only rewritten in 6.23 requests; sign other requests with the counter they carry", source: source)
            }
            let newID = try counters.assign(to: parsed.requestID)
            if newID != parsed.requestID {
                let updated = try parsed.withRequestID(newID)
                documentBytes = updated.xmlBytes()
                document = try XMLDocument(parsing: documentBytes, limits: options.signing.limits, source: source)
                request = updated
                requestID = newID
            }
        }
        let signed = try signer.sign(document, parsedFrom: documentBytes, options: options.signing, source: source)
        return SignedRequest(document: signed, request: request, requestID: requestID, certificate: signer.certificate,
                             party: party, selectionReasons: reasons)
    }

    /// ``ServiceRequest623/validate(_:)`` with the certificate checks remembered: in a batch the same replacement
    /// and path certificates come back for every request of a party, and decoding them and verifying the chain
    /// costs far more than signing. Only a set that passed is remembered, keyed by the certificates' bytes, their
    /// places and the validity time, so the outcome is always the one the checks would give now. The order of
    /// the checks (and so the first error reported) is unchanged.
    private func validate(_ request: ServiceRequest623) throws {
        let validation = options.validation
        var others = validation
        others.checkCertificates = false
        others.schema = nil
        try request.validate(others)
        if validation.checkCertificates {
            let time = validation.certificateValidityTime
            try certificateChecks.check(request, at: time) { try request.validateCertificates(at: time) }
        }
        if let schema = validation.schema {
            try request.validate(DUISValidationOptions(now: nil, checkCertificates: false, schema: schema))
        }
    }

    private func chooseKey(request: ServiceRequest623?, requestID: RequestID?, source: String?) throws -> (DUISSigner, SupplierParty?, [String]) {
        switch keys {
        case .fixed(let signer):
            return (signer, nil, [])
        case .selected(let selector, let mpid, let date):
            let selection: KeySelection
            if let request {
                selection = try selector.select(for: request, mpid: mpid, date: date)
            } else {
                selection = try selector.select(KeySelectionQuery(mpid: mpid, businessOriginator: requestID?.businessOriginator, date: date))
            }
            return (selection.signer, selection.party, selection.reasons)
        }
    }

    /// The RequestID in `sr:Header/sr:RequestID` of any DUIS request given in canonical form (a verified
    /// document's signed content), or `nil` if it has none or it is not valid: read straight from the bytes when
    /// the header starts in the plain shape, else from a tree.
    static func genericRequestID(canonical: [UInt8], source: String?) -> RequestID? {
        if let requestID = canonical.withUnsafeBufferPointer({ ServiceRequest623FastReader.headerRequestID(canonical: $0) }) {
            return requestID
        }
        guard let document = try? XMLDocument(parsing: canonical, source: source) else { return nil }
        return try? genericRequestID(document)
    }

    /// The RequestID in `sr:Header/sr:RequestID` of any DUIS request.
    static func genericRequestID(_ document: XMLDocument) throws -> RequestID? {
        let ns = DUISNamespace.serviceUserGateway
        guard let header = document.root.elementChildren.first(where: { $0.namespaceURI == ns && $0.localName == "Header" }),
            let element = header.elementChildren.first(where: { $0.namespaceURI == ns && $0.localName == "RequestID" })
        else { return nil }
        return try RequestID(parsing: element.textContent)
    }
}

extension ServiceRequest623 {
    /// The same request with another RequestID (the counter the ``CounterAssigner`` gave it).
    func withRequestID(_ requestID: RequestID) throws -> ServiceRequest623 {
        try ServiceRequest623(requestID: requestID, commandVariant: commandVariant, firstInSequence: firstInSequence,
                              precedingServiceRequestID: precedingServiceRequestID, body: body, schemaVersion: schemaVersion)
    }
}

/// The certificate sets of 6.23 requests that passed ``ServiceRequest623/validateCertificates(at:)``: each set
/// as its exact bytes (the validity time, then each certificate's place, length and DER; see ``BytesMemo``), so
/// a different set can never be taken for one that passed. Thread-safe; bounded (cleared when full). Failures
/// are never stored, so a failing set is checked (and reported) every time.
final class CertificateCheckMemo: @unchecked Sendable {
    /// The most sets remembered (a batch normally has one per party); about 2.5 KB each.
    static let capacity = 1024
    private let memo = BytesMemo<Bool>(capacity: capacity)
    private let lock = NSLock()
    /// The last few sets found to have passed, as their requests held them, most recent first; guarded by `lock`.
    private var recent: [(time: Date?, certificates: [[UInt8]?])] = []
    /// How many of them are kept (a batch alternates between a few parties' sets).
    static let recentCount = 4

    /// Runs `checks` on `request`'s certificate set unless that set has passed before (at the same validity time),
    /// and remembers it when they pass: first among the last few sets by the arrays the request holds, then among
    /// all sets by their bytes (building the set's key only then).
    func check(_ request: ServiceRequest623, at time: Date?, _ checks: () throws -> Void) rethrows {
        guard !isRecentlyPassed(request, at: time) else { return }
        let key = Self.key(for: request, at: time)
        if !contains(key) {
            try checks()
            insert(key)
        }
        notePassed(request, at: time)
    }

    func contains(_ key: [UInt8]) -> Bool { memo.value(for: key) != nil }

    func insert(_ key: [UInt8]) { memo.insert(true, for: key) }

    /// Whether `request` carries exactly the certificates (same places, same bytes) of one of the last sets found
    /// to have passed, for the same validity time. A batch's requests mostly carry the very same certificates,
    /// and when the fast reader took them from its memo of decoded certificates they are the same arrays,
    /// recognised without reading their bytes; this saves building the set's key.
    func isRecentlyPassed(_ request: ServiceRequest623, at time: Date?) -> Bool {
        let certificates = Self.certificates(of: request)
        lock.lock()
        defer { lock.unlock() }
        return recent.contains { Self.sameSet($0, (time, certificates)) }
    }

    /// Records `request`'s certificates as a set found to have passed (the caller has just checked them or found
    /// them in the memo).
    func notePassed(_ request: ServiceRequest623, at time: Date?) {
        let entry = (time: time, certificates: Self.certificates(of: request))
        lock.lock()
        defer { lock.unlock() }
        recent.removeAll { Self.sameSet($0, entry) }
        recent.insert(entry, at: 0)
        if recent.count > Self.recentCount { recent.removeLast() }
    }

    private static func sameSet(_ a: (time: Date?, certificates: [[UInt8]?]), _ b: (time: Date?, certificates: [[UInt8]?])) -> Bool {
        guard a.time == b.time, a.certificates.count == b.certificates.count else { return false }
        return zip(a.certificates, b.certificates).allSatisfy { x, y in
            switch (x, y) {
            case (nil, nil): true
            case (let x?, let y?): sameBytes(x, y)
            default: false
            }
        }
    }

    /// The three replacement places in order (nil where absent), then the certification path certificates.
    private static func certificates(of request: ServiceRequest623) -> [[UInt8]?] {
        let replacement = request.body.supplierReplacementCertificates
        return [replacement.digitalSigningCertificate, replacement.keyAgreementCertificate, replacement.keyAgreementTopUpCertificate]
            + request.body.certificationPathCertificates.map { $0 }
    }

    /// The validity time (or its absence), then each certificate as (place, length, DER).
    static func key(for request: ServiceRequest623, at time: Date?) -> [UInt8] {
        let certificates = Self.certificates(of: request)
        var material = [UInt8]()
        material.reserveCapacity(certificates.reduce(9) { $0 + 9 + ($1?.count ?? 0) })
        func appendInteger(_ value: UInt64) {
            withUnsafeBytes(of: value.bigEndian) { material.append(contentsOf: $0) }
        }
        if let time {
            material.append(1)
            appendInteger(time.timeIntervalSince1970.bitPattern)
        } else {
            material.append(0)
        }
        // Places: 0x10 digital signing, 0x11 key agreement, 0x12 key agreement top-up, 0x20 certification path.
        for (index, der) in certificates.enumerated() {
            guard let der else { continue }
            material.append(index < 3 ? 0x10 + UInt8(index) : 0x20)
            appendInteger(UInt64(der.count))
            material.append(contentsOf: der)
        }
        return material
    }
}
