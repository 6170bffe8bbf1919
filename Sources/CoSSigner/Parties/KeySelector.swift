import Foundation

/// What a caller knows when it asks for a signing party. Every field is optional; at least one of
/// ``mpid``, ``businessOriginator``, ``importMPxN`` (with registration data) or
/// ``replacementEntityIdentifier`` must be given.
package struct KeySelectionQuery: Sendable, Equatable {
    /// The MPID the request is sent under (`--mpid`).
    package var mpid: MPID?
    /// The request's Business Originator (the first EUI-64 of its RequestID).
    package var businessOriginator: EUI64?
    /// The entity identifier of the replacement digital signing certificate the request places on the meter.
    package var replacementEntityIdentifier: EUI64?
    /// The meter point (the request's ImportMPxN); used only when the selector has registration data.
    package var importMPxN: String?
    /// The date at which registration data is read: the GB settlement day (Europe/London) of the request's
    /// ExecutionDateTime, or of now; the selector reads today's Europe/London date when nil.
    package var date: CalendarDate?

    package init(mpid: MPID? = nil, businessOriginator: EUI64? = nil, replacementEntityIdentifier: EUI64? = nil,
                importMPxN: String? = nil, date: CalendarDate? = nil) {
        self.mpid = mpid
        self.businessOriginator = businessOriginator
        self.replacementEntityIdentifier = replacementEntityIdentifier
        self.importMPxN = importMPxN
        self.date = date
    }
}

/// The party chosen for a request, its credential for the request's Business Originator, and why.
package struct KeySelection: Sendable {
    /// The chosen Supplier Party.
    package let party: SupplierParty
    /// The party's credential for the Business Originator; nil only when no Business Originator was given (a
    /// look-up by MPID or meter alone, `parties select`): signing always has one.
    package let credential: PartyCredential?
    /// One line per fact that led to (or agreed with) the choice, e.g. `MPID GTSE → party gts (GIT Test Supplier)`.
    package let reasons: [String]

    /// The credential's signer (its key and XML signing certificate), shared by every selection of the credential.
    package var signer: DUISSigner? { credential?.signer }
    /// The credential's XML signing certificate.
    package var certificate: Certificate? { credential?.certificate }
}

/// Key selection refused: no single Supplier Party can be chosen. Lists every reason.
public struct KeySelectionRefused: ClassifiedError, Equatable {
    /// One reason for refusing.
    package enum Reason: Sendable, Equatable, CustomStringConvertible {
        /// Nothing was given to select by.
        case nothingToSelectBy
        /// No party declares this MPID.
        case unknownMPID(MPID)
        /// No party declares this EUI-64 as a User ID; `role` says where it came from.
        case unknownUserID(EUI64, role: String)
        /// The registration data has no registration of this MPxN on this date.
        case notRegistered(mpxn: String, date: CalendarDate, source: String)
        /// The MPxN is registered to an MPID that no party declares.
        case registeredToUnknownMPID(RegistrationRecord, date: CalendarDate, source: String)
        /// The replacement digital signing certificate cannot be read or has no entity identifier.
        case replacementCertificateUnreadable(String)
        /// The identifiers belong to different parties (a "split supplier"): each fact with its party.
        case split([String])
        /// The chosen party has no XML signing credential for the Business Originator; `signable` are the User IDs it
        /// can sign for.
        case noCredentialForOriginator(EUI64, party: String, signable: [EUI64])
        /// The certificate given to sign with belongs to another entity than the request's Business Originator.
        case originatorNotSigner(originator: EUI64, certificateEntity: EUI64?, serial: SerialNumber)
        /// Context for another reason: what the identifiers that are known say.
        case alsoKnown([String])

        package var description: String {
            switch self {
            case .nothingToSelectBy:
                "nothing to select a party by: give an MPID, a Business Originator, an MPxN with registration data or a replacement entity identifier"
            case .unknownMPID(let mpid):
                "MPID \(mpid) is not declared by any party in the registry"
            case .unknownUserID(let id, let role):
                "\(role) \(id) is not a User ID of any party in the registry"
            case .notRegistered(let mpxn, let date, let source):
                "MPxN \(mpxn) has no registration in force on \(date) in \(source)"
            case .registeredToUnknownMPID(let record, let date, let source):
                "MPxN \(record.mpxn) is registered on \(date) to MPID \(record.mpid) (from \(record.effectiveFrom), \(source) line \(record.line)), which no party in the registry declares"
            case .replacementCertificateUnreadable(let why):
                "the replacement digital signing certificate cannot be matched to a party: \(why)"
            case .split(let facts):
                "the identifiers belong to different Supplier Parties (split supplier): " + facts.joined(separator: "; ")
            case .noCredentialForOriginator(let originator, let party, let signable):
                "party \(party) has no XML signing credential for the Business Originator \(originator); it can sign for "
                    + (signable.isEmpty ? "no User ID" : "User ID\(signable.count == 1 ? "" : "s") " + signable.map(\.description).joined(separator: ", "))
                    + " (a request is signed with its Business Originator's own XML signing certificate)"
            case .originatorNotSigner(let originator, let entity, let serial):
                "the request's Business Originator \(originator) is not the entity of the signing certificate (serial \(serial), entity \(entity.map(\.description) ?? "none")): a request is signed with its Business Originator's own XML signing certificate"
            case .alsoKnown(let facts):
                "(known: " + facts.joined(separator: "; ") + ")"
            }
        }
    }

    /// Every reason, in the order checked.
    package let reasons: [Reason]
    /// The MPIDs involved.
    public let mpids: [MPID]
    /// The EUI-64s involved.
    public let userIDs: [EUI64]
    /// The ids of the parties involved.
    public let parties: [String]

    package init(reasons: [Reason], mpids: [MPID] = [], userIDs: [EUI64] = [], parties: [String] = []) {
        self.reasons = reasons
        self.mpids = mpids
        self.userIDs = userIDs
        self.parties = parties
    }

    package var failureClass: FailureClass { .selectionRefused }

    /// Each reason for refusing, in words (e.g. "MPID TS2E belongs to party ts2, not ts1").
    public var reasonDescriptions: [String] { reasons.map(\.description) }

    public var description: String {
        "key selection refused: " + reasons.map(\.description).joined(separator: "; ")
    }
}

/// Chooses the one Supplier Party — and so the one key and certificate — that signs a request, or
/// refuses with its reasons. It never falls back and never takes a first match.
///
/// A party can be named by MPID, by the request's Business Originator (a User ID), by the meter (the
/// MPID registered for the request's ImportMPxN at a date, from ``RegistrationData``), and checked by
/// the entity identifier of the replacement certificates. Whatever is known must agree on one party
/// ("never split"): the Business Originator and the replacement certificates' entity must be User IDs
/// of the party the MPID (or the meter) names. Any disagreement or unknown identifier refuses, naming
/// the MPIDs, EUI-64s and parties involved (``KeySelectionRefused``, exit 4).
package struct KeySelector: Sendable {
    /// The parties.
    package let registry: PartyRegistry
    /// Registration data, for selecting by meter.
    package let registrationData: RegistrationData?
    /// Entity identifiers of replacement certificates already decoded (shared by every copy of this selector).
    private let replacementEntities: ReplacementEntityMemo

    package init(registry: PartyRegistry, registrationData: RegistrationData? = nil) {
        self.init(registry: registry, registrationData: registrationData,
                  memoCapacity: ReplacementEntityMemo.defaultCapacity)
    }

    /// A selector whose memo of decoded replacement certificates holds at most `memoCapacity` certificates
    /// (0: nothing is remembered; every request decodes its certificate). For tests.
    init(registry: PartyRegistry, registrationData: RegistrationData? = nil, memoCapacity: Int) {
        self.registry = registry
        self.registrationData = registrationData
        self.replacementEntities = ReplacementEntityMemo(capacity: memoCapacity)
    }

    /// How many replacement certificates the memo holds now (for tests).
    var replacementEntityMemoCount: Int { replacementEntities.count }
    /// The most replacement certificates the memo holds (for tests).
    var replacementEntityMemoCapacity: Int { replacementEntities.capacity }

    /// Selects the party for what the caller knows.
    /// - Throws: ``KeySelectionRefused`` with every reason.
    package func select(_ query: KeySelectionQuery) throws(KeySelectionRefused) -> KeySelection {
        var facts = [(fact: String, party: SupplierParty)]()
        var refusals = [KeySelectionRefused.Reason]()
        var mpids = [MPID]()
        var ids = [EUI64]()

        if let mpid = query.mpid {
            mpids.append(mpid)
            if let party = registry.party(forMPID: mpid) {
                facts.append(("MPID \(mpid) → party \(party)", party))
            } else {
                refusals.append(.unknownMPID(mpid))
            }
        }
        if let mpxn = query.importMPxN, let registrationData {
            let date = query.date ?? CalendarDate.settlementDay(of: Date())
            if let record = registrationData.registration(of: mpxn, at: date) {
                mpids.append(record.mpid)
                if let party = registry.party(forMPID: record.mpid) {
                    facts.append(("MPxN \(mpxn) is registered on \(date) to MPID \(record.mpid) (from \(record.effectiveFrom), \(registrationData.source) line \(record.line)) → party \(party)", party))
                } else {
                    refusals.append(.registeredToUnknownMPID(record, date: date, source: registrationData.source))
                }
            } else {
                refusals.append(.notRegistered(mpxn: mpxn, date: date, source: registrationData.source))
            }
        }
        for (id, role) in [(query.businessOriginator, "Business Originator"),
                           (query.replacementEntityIdentifier, "replacement certificates' entity")] {
            guard let id else { continue }
            if !ids.contains(id) { ids.append(id) }  // the originator is often the replacement entity too
            if let party = registry.party(forUserID: id) {
                facts.append(("\(role) \(id) is a User ID of party \(party)", party))
            } else {
                refusals.append(.unknownUserID(id, role: role))
            }
        }

        var involved = [String]()
        for (_, party) in facts where !involved.contains(party.id) { involved.append(party.id) }
        if facts.isEmpty, refusals.isEmpty {
            refusals.append(.nothingToSelectBy)
        }
        if involved.count > 1 {
            refusals.insert(.split(facts.map(\.fact)), at: 0)
        } else if !refusals.isEmpty, !facts.isEmpty {
            refusals.append(.alsoKnown(facts.map(\.fact)))
        }
        guard refusals.isEmpty, let chosen = facts.first?.party else {
            throw KeySelectionRefused(reasons: refusals, mpids: mpids, userIDs: ids, parties: involved)
        }
        var reasons = facts.map(\.fact)
        if query.importMPxN != nil, registrationData == nil {
            reasons.append("ImportMPxN \(query.importMPxN ?? "") not checked against registration data (none given)")
        }
        // Within the one party, the Business Originator's own credential: never another User ID's.
        var credential: PartyCredential?
        if let originator = query.businessOriginator {
            guard let found = chosen.credential(for: originator) else {
                throw KeySelectionRefused(
                    reasons: [.noCredentialForOriginator(originator, party: chosen.id, signable: chosen.signingUserIDs),
                              .alsoKnown(facts.map(\.fact))],
                    mpids: mpids, userIDs: ids, parties: [chosen.id])
            }
            credential = found
            reasons.append(found.reason)
        }
        return KeySelection(party: chosen, credential: credential, reasons: reasons)
    }

    /// Selects the party for a 6.23 request, and its credential for the request's Business Originator: by `mpid`
    /// when given, by the meter when the selector has registration data (at `date`; when nil, the GB settlement
    /// day, Europe/London, of the request's ExecutionDateTime, or of today for an immediate request), and always
    /// checking the request's Business Originator and the entity identifier of its replacement digital signing
    /// certificate.
    ///
    /// The certificate is decoded once per distinct certificate (its exact bytes) and the outcome remembered,
    /// so a batch of requests from a few parties pays the decoding a few times; an unreadable certificate is
    /// never remembered and is reported every time.
    /// - Throws: ``KeySelectionRefused`` with every reason.
    package func select(for request: ServiceRequest623, mpid: MPID? = nil, date: CalendarDate? = nil) throws(KeySelectionRefused) -> KeySelection {
        let der = request.body.supplierReplacementCertificates.digitalSigningCertificate
        let originator = request.requestID.businessOriginator
        let identifier: EUI64?
        if let remembered = replacementEntities.entity(of: der) {
            identifier = remembered.identifier
        } else {
            do throws(CryptoError) {
                identifier = try Certificate(encoded: der, source: "SupplierReplacementCertificates/DigitalSigningCertificate").entityIdentifier
            } catch {
                throw KeySelectionRefused(reasons: [.replacementCertificateUnreadable(error.description)],
                                          mpids: mpid.map { [$0] } ?? [], userIDs: [originator])
            }
            replacementEntities.insert(ReplacementEntityMemo.Entity(identifier: identifier), for: der)
        }
        guard let entity = identifier else {
            throw KeySelectionRefused(reasons: [.replacementCertificateUnreadable("it has no 64-bit x500UniqueIdentifier")],
                                      mpids: mpid.map { [$0] } ?? [], userIDs: [originator])
        }
        let registrationDate = date ?? CalendarDate.settlementDay(of: request.body.executionDateTime?.date ?? Date())
        return try select(KeySelectionQuery(mpid: mpid, businessOriginator: request.requestID.businessOriginator,
                                            replacementEntityIdentifier: entity, importMPxN: request.body.importMPxN,
                                            date: registrationDate))
    }
}

/// The entity identifiers (x500UniqueIdentifier as an EUI-64, or none) of replacement digital signing
/// certificates that decoded, by the certificates' exact bytes, so that ``KeySelector/select(for:mpid:date:)``
/// decodes each distinct certificate once. Thread-safe (one selector serves every worker); bounded (cleared
/// when full). A certificate that does not decode is never stored, so its refusal is produced, and worded,
/// exactly as without the memo.
final class ReplacementEntityMemo: Sendable {
    /// What a decoded certificate says: its entity identifier, nil when it has no 64-bit x500UniqueIdentifier.
    struct Entity: Sendable, Equatable {
        let identifier: EUI64?
    }

    /// The most certificates remembered by default; a batch normally has a few per party.
    static let defaultCapacity = 1024

    private let memo: BytesMemo<Entity>

    init(capacity: Int) {
        memo = BytesMemo(capacity: capacity)
    }

    /// The most certificates remembered (0: none).
    var capacity: Int { memo.capacity }

    /// The remembered outcome for the certificate `der`, if any.
    func entity(of der: [UInt8]) -> Entity? { memo.value(for: der) }

    /// Remembers the outcome of decoding `der`; empties the memo first when it is full.
    func insert(_ entity: Entity, for der: [UInt8]) { memo.insert(entity, for: der) }

    /// How many certificates are remembered.
    var count: Int { memo.count }
}
