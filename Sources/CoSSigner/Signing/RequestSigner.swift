import Foundation

/// What a signing run checks and how it signs.
package struct RequestSigningOptions: Sendable {
    /// How the XML signature is made (compact or whitespace kept, random or deterministic nonce, parse limits).
    package var signing: SigningOptions
    /// The 6.23 checks run before signing a document that claims to be a 6.23. Its `now` is ignored: the signer
    /// reads its clock for each request (the future-dating check, and the replacement certificates' validity at
    /// the ExecutionDateTime or now); certificates are checked unless switched off; `certificateValidityTime`, when
    /// set, requires every certificate to be valid then.
    package var validation: DUISValidationOptions

    /// Makes options. By default a 6.23's certificates are checked, its replacement certificates must be valid
    /// when it executes, and a future-dated request must execute after the current time.
    package init(signing: SigningOptions = SigningOptions(), validation: DUISValidationOptions = DUISValidationOptions()) {
        self.signing = signing
        self.validation = validation
    }
}

/// Where the signing key of a document comes from.
package enum SigningKeySource: Sendable {
    /// One key for every document (the explicit `--key/--cert` form).
    case fixed(DUISSigner)
    /// The Supplier Party the selector chooses for each document, and its credential for the request's Business
    /// Originator: by MPID when given, else by the request's Business Originator, optionally by the meter's
    /// registration (at `registrationDate`, or, when nil, on the GB settlement day of the request's
    /// ExecutionDateTime, or of now); never split.
    case selected(KeySelector, mpid: MPID?, registrationDate: CalendarDate?)
}

/// One request, signed.
public struct SignedRequest: Sendable {
    /// The signed document and its digest and signature values.
    package let document: SignedDocument
    /// The typed 6.23 as signed (with its final RequestID) when the document was one; `nil` for other DUIS
    /// requests (generic XML checks only).
    public let request: ServiceRequest623?
    /// The RequestID as signed (its counter set by the counter policy).
    public let requestID: RequestID
    /// The Supplier Party whose credential signed (for a signer of one explicit key and certificate, the party
    /// that stands for it: ``SupplierParty/isExplicitCredential``).
    public let party: SupplierParty
    /// The User ID whose credential signed: the request's Business Originator.
    public let userID: EUI64
    /// The certificate named in KeyInfo.
    public let certificate: Certificate
    /// Why that party and credential were chosen (empty for an explicit key and certificate).
    public let selectionReasons: [String]

    /// The signed document (UTF-8 XML).
    public var xml: [UInt8] { document.bytes }

    package init(document: SignedDocument, request: ServiceRequest623?, requestID: RequestID, certificate: Certificate,
                 party: SupplierParty, selectionReasons: [String]) {
        self.document = document
        self.request = request
        self.requestID = requestID
        self.party = party
        self.userID = requestID.businessOriginator
        self.certificate = certificate
        self.selectionReasons = selectionReasons
    }
}

/// Signs DUIS requests, one document at a time: parse (hardened) → a document that claims to be a 6.23 is parsed
/// into the typed model and validated (structure, certificates, optional schema) → key selection (the party, then
/// its credential for the Business Originator) → RequestID counter → XML signature.
///
/// Other DUIS requests get only the generic XML checks (and the schema, if one is given). Every request is signed
/// with its Business Originator's own XML signing certificate: a request whose RequestID cannot be read is never
/// signed. "Now" is read from ``clock`` once per request. One `RequestSigner` may be shared by many threads: keys
/// are loaded once, before.
package struct RequestSigner: Sendable {
    /// Where the key comes from.
    package let keys: SigningKeySource
    /// What is checked and how it is signed.
    package let options: RequestSigningOptions
    /// How the RequestID counter is set (`nil`: as the adapter built it).
    package let counters: CounterAssigner?
    /// Where "now" comes from, read once per request.
    package let clock: any SigningClock
    /// Why the fixed key's certificate may not sign requests (``SigningCertificateRules``), found once.
    private let fixedCertificateProblems: [String]
    /// The party the fixed key stands for, made once.
    private let fixedParty: SupplierParty?
    /// Certificate sets that passed the 6.23 certificate checks (shared by every thread using this signer).
    private let certificateChecks = CertificateCheckMemo()
    /// Certificates the fast path has decoded, by their base64 text (shared by every thread using this signer).
    private let certificateTexts = BytesMemo<[UInt8]>(capacity: 1024)

    /// Makes a request signer.
    package init(keys: SigningKeySource, options: RequestSigningOptions = RequestSigningOptions(), counters: CounterAssigner? = nil,
                clock: any SigningClock = SystemClock()) {
        self.keys = keys
        self.options = options
        self.counters = counters
        self.clock = clock
        if case .fixed(let signer) = keys {
            fixedCertificateProblems = SigningCertificateRules.problems(signer.certificate)
            fixedParty = SupplierParty(explicit: signer)
        } else {
            fixedCertificateProblems = []
            fixedParty = nil
        }
    }

    /// Makes a request signer with one key.
    package init(signer: DUISSigner, options: RequestSigningOptions = RequestSigningOptions(), clock: any SigningClock = SystemClock()) {
        self.init(keys: .fixed(signer), options: options, clock: clock)
    }

    private func rewritesCounters(_ call: Call) -> Bool {
        if !call.options.preserveCounter, let counters, counters.policy != .preserve { return true }
        return false
    }

    /// Signs one document.
    /// - Parameters:
    ///   - bytes: the document (UTF-8 XML).
    ///   - source: its name for messages (a file name).
    /// - Throws: ``XMLError``, ``DUISRequestError`` or ``DUISSchemaError`` (input), ``KeySelectionRefused``,
    ///   ``CounterStoreError``, ``SigningRefused``, ``CryptoError``.
    ///   - mpid: the MPID to select the party by for this document; when nil, the key source's (if any).
    ///   - callOptions: this call's choices (keep the counter, deterministic, which parties it may sign for).
    package func sign(_ bytes: [UInt8], source: String? = nil, mpid: MPID? = nil, call callOptions: SigningCall = SigningCall()) throws -> SignedRequest {
        let call = Call(now: clock.now(), mpid: mpid, options: callOptions)
        if let signed = try fastSign(bytes, source: source, call: call) { return signed }
        return try fullSign(bytes, source: source, call: call)
    }

    /// Signs a typed 6.23 without writing and parsing it again: the same checks, key choice and counter as
    /// ``sign(_:source:mpid:)``, then the compact form the model writes (which is its canonical form) is signed as it
    /// is. The output is byte for byte what signing `request.xmlBytes()` gives (tested).
    package func sign(request: ServiceRequest623, source: String? = nil, mpid: MPID? = nil,
                     call callOptions: SigningCall = SigningCall()) throws -> SignedRequest {
        let call = Call(now: clock.now(), mpid: mpid, options: callOptions)
        do {
            try validate(request, now: call.now)
        } catch var error as DUISRequestError {
            error.source = error.source ?? source
            throw error
        }
        let (signer, party, reasons) = try chooseKey(request: request, requestID: request.requestID, source: source, call: call)
        var signing = request
        if rewritesCounters(call), let counters {
            let newID = try counters.assign(to: request.requestID, now: call.now)
            if newID != request.requestID { signing = try request.withRequestID(newID) }
        }
        var signingOptions = call.options.signing(options.signing)
        signingOptions.keepWhitespace = false  // the model writes the compact form only
        let signed = try signer.finish(canonical: signing.canonicalBytes(), rootQualifiedName: Array(DUISPath.root.utf8),
                                       options: signingOptions)
        return SignedRequest(document: signed, request: signing, requestID: signing.requestID, certificate: signer.certificate,
                             party: party, selectionReasons: reasons)
    }

    /// What one call knows: its time, the MPID it selects by and its own choices.
    struct Call {
        let now: Date
        let mpid: MPID?
        var options = SigningCall()
    }

    /// The fast path for the common case, a valid 6.23 without a schema to check: the single-pass canonicalizer
    /// makes the canonical form, ``ServiceRequest623FastReader`` reads the typed request from it (no DOM), the
    /// same checks, key choice and counter run, and the canonical bytes are signed as they are. It returns `nil`
    /// whenever anything is not plainly valid, before any effect (counter, output), and the full path then gives
    /// the same outcome with its exact error; the outputs of both paths are compared by the tests.
    private func fastSign(_ bytes: [UInt8], source: String?, call: Call) throws -> SignedRequest? {
        let now = call.now
        let signing = call.options.signing(options.signing)
        guard options.validation.schema == nil else { return nil }
        let outcome: FastOutcome?? = try bytes.withUnsafeBytes { raw throws -> FastOutcome?? in
            try FastCanonicalizer.withScanner(raw, mode: .signing(compact: !signing.keepWhitespace),
                                              limits: signing.limits) { scanner throws -> FastOutcome? in
                guard !scanner.sawCommentOrCDATA, scanner.placeholderCount <= 1, scanner.placeholderIsLastRootChild,
                    let request = ServiceRequest623FastReader.read(canonical: scanner.canonical, certificates: certificateTexts)
                else { return nil }
                // A refusal is left to the full path, so that it is reported exactly as that path reports it.
                guard (try? validate(request, now: now)) != nil,
                    let (signer, party, reasons) = try? chooseKey(request: request, requestID: request.requestID, source: source, call: call)
                else { return nil }
                if rewritesCounters(call) {
                    return .rewriteCounter(request, signer, party, reasons)
                }
                let signed = try signer.finish(canonical: scanner.canonical, rootQualifiedName: scanner.rootQualifiedName,
                                               options: signing)
                return .signed(SignedRequest(document: signed, request: request, requestID: request.requestID,
                                             certificate: signer.certificate, party: party, selectionReasons: reasons))
            }
        }
        switch outcome {
        case .some(.some(.signed(let signed))):
            return signed
        case .some(.some(.rewriteCounter(let request, let signer, let party, let reasons))):
            guard let counters else { return nil }
            let newID = try counters.assign(to: request.requestID, now: now)
            guard newID != request.requestID else {
                let signed = try signer.sign(bytes, options: signing, source: source)
                return SignedRequest(document: signed, request: request, requestID: newID, certificate: signer.certificate,
                                     party: party, selectionReasons: reasons)
            }
            let updated = try request.withRequestID(newID)
            let signed = try signer.sign(updated.xmlBytes(), options: signing, source: source)
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
        case rewriteCounter(ServiceRequest623, DUISSigner, SupplierParty, [String])
    }

    /// The full path: hardened libxml2 parse, the typed model from the tree, checks, key, counter, signature.
    func fullSign(_ bytes: [UInt8], source: String? = nil, call: Call) throws -> SignedRequest {
        let now = call.now
        let signing = call.options.signing(options.signing)
        var document = try XMLDocument(parsing: bytes, limits: signing.limits, source: source)
        var documentBytes = bytes
        var request: ServiceRequest623?
        var requestID: RequestID
        if ServiceRequest623.claims623(document) {
            let parsed = try ServiceRequest623(document: document, source: source)
            do {
                try validate(parsed, now: now)
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
            // Every request is signed by its Business Originator's own certificate: without a readable RequestID
            // there is nothing to check the key against, so it is never signed.
            do {
                requestID = try DUISMessageHeader.requestID(of: document)
            } catch var error {
                error.source = error.source ?? source
                throw error
            }
        }

        let (signer, party, reasons) = try chooseKey(request: request, requestID: requestID, source: source, call: call)

        if rewritesCounters(call), let counters {
            guard let parsed = request else {
                throw SigningRefused("RequestID counters are only rewritten in 6.23 requests; sign other requests with the counter they carry", source: source)
            }
            let newID = try counters.assign(to: parsed.requestID, now: now)
            if newID != parsed.requestID {
                let updated = try parsed.withRequestID(newID)
                documentBytes = updated.xmlBytes()
                document = try XMLDocument(parsing: documentBytes, limits: signing.limits, source: source)
                request = updated
                requestID = newID
            }
        }
        let signed = try signer.sign(document, parsedFrom: documentBytes, options: signing, source: source)
        return SignedRequest(document: signed, request: request, requestID: requestID, certificate: signer.certificate,
                             party: party, selectionReasons: reasons)
    }

    /// ``ServiceRequest623/validate(_:)`` with the certificate checks remembered: in a batch the same replacement
    /// and path certificates come back for every request of a party, and decoding them and verifying the chain
    /// costs far more than signing. Only a set that passed is remembered, keyed by the certificates' bytes, their
    /// places and the validity time, so the outcome is always the one the checks would give now. The order of
    /// the checks (and so the first error reported) is unchanged.
    private func validate(_ request: ServiceRequest623, now: Date) throws {
        let validation = options.validation
        var others = validation
        others.now = now
        others.checkCertificates = false
        others.schema = nil
        try request.validate(others)
        if validation.checkCertificates {
            let times = request.certificateTimes(now: now, explicit: validation.certificateValidityTime)
            try certificateChecks.check(request, times: times)
        }
        if let schema = validation.schema {
            try request.validate(DUISValidationOptions(now: nil, checkCertificates: false, schema: schema))
        }
    }

    /// The key for a request: its Business Originator's own credential (the selected party's, or the fixed one,
    /// whose certificate must belong to the originator), valid now.
    private func chooseKey(request: ServiceRequest623?, requestID: RequestID, source: String?, call: Call) throws -> (DUISSigner, SupplierParty, [String]) {
        let now = call.now
        let originator = requestID.businessOriginator
        let chosen: (DUISSigner, SupplierParty, [String])
        switch keys {
        case .fixed(let signer):
            if let mpid = call.mpid {
                // One explicit key: there is no registry to check an MPID against, so none is accepted.
                throw KeySelectionRefused(reasons: [.unknownMPID(mpid)], mpids: [mpid], userIDs: [originator])
            }
            if let problem = fixedCertificateProblems.first {
                throw SigningRefused("the certificate (serial \(signer.certificate.serialNumber)) is not an XML signing certificate: \(problem)",
                                     source: source, failureClass: .keyOrCertificate)
            }
            let entity = signer.certificate.entityIdentifier
            guard entity == originator else {
                throw KeySelectionRefused(reasons: [.originatorNotSigner(originator: originator, certificateEntity: entity,
                                                                         serial: signer.certificate.serialNumber)],
                                          userIDs: [originator] + (entity.map { [$0] } ?? []))
            }
            chosen = (signer, fixedParty ?? SupplierParty(explicit: signer), [])
        case .selected(let selector, let defaultMPID, let date):
            let mpid = call.mpid ?? defaultMPID
            let selection: KeySelection
            if let request {
                let registrationDate = date ?? CalendarDate.settlementDay(of: request.body.executionDateTime?.date ?? now)
                selection = try selector.select(for: request, mpid: mpid, date: registrationDate)
            } else {
                selection = try selector.select(KeySelectionQuery(mpid: mpid, businessOriginator: originator,
                                                                  date: date ?? CalendarDate.settlementDay(of: now)))
            }
            guard let credential = selection.credential else {
                // Unreachable: a query with a Business Originator selects its credential or refuses.
                throw KeySelectionRefused(reasons: [.nothingToSelectBy], userIDs: [originator])
            }
            chosen = (credential.signer, selection.party, selection.reasons)
        }
        // The caller's own limit, before any counter is used.
        if let allowed = call.options.partyAllowed, !allowed(chosen.1) {
            throw PartyNotAllowed(party: chosen.1.id, businessOriginator: originator, source: source)
        }
        if let problem = SigningCertificateRules.validityProblem(chosen.0.certificate, at: now) {
            throw SigningRefused("the XML signing \(problem)", source: source, failureClass: .keyOrCertificate)
        }
        return chosen
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

/// The certificate sets of 6.23 requests that passed the time-independent certificate checks
/// (``ServiceRequest623/validateCertificates(at:replacementsAt:)`` without times), with their validity windows:
/// each set as its exact bytes (each certificate's place, length and DER; see ``BytesMemo``), so a different set can
/// never be taken for one that passed. The validity checks, which depend on the time of each request, are made
/// from the remembered windows; when they fail, the full checks run again and give the exact error. Thread-safe;
/// bounded (cleared when full). Failures are never stored, so a failing set is checked (and reported) every time.
final class CertificateCheckMemo: @unchecked Sendable {
    typealias Windows = ServiceRequest623.CertificateValidityWindows
    /// The most sets remembered (a batch normally has one per party); about 2.5 KB each.
    static let capacity = 1024
    private let memo = BytesMemo<Windows>(capacity: capacity)
    private let lock = NSLock()
    /// The last few sets found to have passed, as their requests held them, most recent first; guarded by `lock`.
    private var recent: [(certificates: [[UInt8]?], windows: Windows)] = []
    /// How many of them are kept (a batch alternates between a few parties' sets).
    static let recentCount = 4

    /// Checks `request`'s certificates, every one valid at `times.all` and the replacement certificates at
    /// `times.replacements` (when given): the time-independent checks run unless the set has passed them before
    /// (first among the last few sets by the arrays the request holds, then among all sets by their bytes,
    /// building the set's key only then).
    func check(_ request: ServiceRequest623, times: (all: Date?, replacements: Date?)) throws(DUISRequestError) {
        let windows: Windows
        if let recent = recentlyPassed(request) {
            windows = recent
        } else {
            let key = Self.key(for: request)
            if let remembered = memo.value(for: key) {
                windows = remembered
            } else {
                let report = request.certificateReport()
                if let first = report.problems.first { throw first }
                windows = report.windows
                memo.insert(windows, for: key)
            }
            notePassed(request, windows: windows)
        }
        guard windows.admits(all: times.all, replacements: times.replacements) else {
            try request.validateCertificates(at: times.all, replacementsAt: times.replacements)
            return
        }
    }

    /// The windows of one of the last sets found to have passed, if `request` carries exactly its certificates (same
    /// places, same bytes). A batch's requests mostly carry the very same certificates, and when the fast reader took
    /// them from its memo of decoded certificates they are the same arrays, recognised without reading their bytes;
    /// this saves building the set's key.
    func recentlyPassed(_ request: ServiceRequest623) -> Windows? {
        let certificates = Self.certificates(of: request)
        lock.lock()
        defer { lock.unlock() }
        return recent.first { Self.sameSet($0.certificates, certificates) }?.windows
    }

    /// Records `request`'s certificates as a set found to have passed.
    func notePassed(_ request: ServiceRequest623, windows: Windows) {
        let certificates = Self.certificates(of: request)
        lock.lock()
        defer { lock.unlock() }
        recent.removeAll { Self.sameSet($0.certificates, certificates) }
        recent.insert((certificates, windows), at: 0)
        if recent.count > Self.recentCount { recent.removeLast() }
    }

    /// Whether the set's key is remembered (for tests).
    func contains(_ key: [UInt8]) -> Bool { memo.value(for: key) != nil }

    /// Remembers a set's key as passed (for tests).
    func insert(_ key: [UInt8], windows: Windows = Windows()) { memo.insert(windows, for: key) }

    private static func sameSet(_ a: [[UInt8]?], _ b: [[UInt8]?]) -> Bool {
        guard a.count == b.count else { return false }
        return zip(a, b).allSatisfy { x, y in
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

    /// Each certificate as (place, length, DER).
    static func key(for request: ServiceRequest623) -> [UInt8] {
        let certificates = Self.certificates(of: request)
        var material = [UInt8]()
        material.reserveCapacity(certificates.reduce(0) { $0 + 9 + ($1?.count ?? 0) })
        func appendInteger(_ value: UInt64) {
            withUnsafeBytes(of: value.bigEndian) { material.append(contentsOf: $0) }
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
