import CoSSignerTestSupport
@testable import CoSSigner
@testable import CoSSignerTesting
import Foundation
import Testing

/// The selector's memo of decoded replacement certificates: selecting with it gives exactly what selecting
/// without it gives (party, signer, reasons, refusals), on first use and on every later one, alone or from many
/// threads, and it stays bounded.
@Suite struct PartiesSelectionMemoTests {
    /// What one selection gave, comparable.
    enum Outcome: Equatable, CustomStringConvertible {
        case selected(party: String, reasons: [String], signer: ObjectIdentifier?)
        case refused(KeySelectionRefused)

        init(_ body: () throws(KeySelectionRefused) -> KeySelection) {
            do throws(KeySelectionRefused) {
                let selection = try body()
                self = .selected(party: selection.party.id, reasons: selection.reasons,
                                 signer: selection.signer.map(ObjectIdentifier.init))
            } catch {
                self = .refused(error)
            }
        }

        var description: String {
            switch self {
            case .selected(let party, let reasons, _): "selected \(party): \(reasons)"
            case .refused(let refused): refused.description
            }
        }
    }

    /// One selection to make.
    struct Case {
        let request: ServiceRequest623
        let mpid: MPID?
        let date: CalendarDate?
    }

    /// The templates' request with another replacement digital signing certificate (any bytes).
    static func request(_ template: ServiceRequest623, digitalSigning der: [UInt8]) throws -> ServiceRequest623 {
        let body = template.body
        let replacements = try SupplierReplacementCertificates(
            digitalSigningCertificate: der,
            keyAgreementCertificate: body.supplierReplacementCertificates.keyAgreementCertificate,
            keyAgreementTopUpCertificate: body.supplierReplacementCertificates.keyAgreementTopUpCertificate)
        return try ServiceRequest623(
            requestID: template.requestID, commandVariant: template.commandVariant,
            firstInSequence: template.firstInSequence, precedingServiceRequestID: template.precedingServiceRequestID,
            body: try UpdateSecurityCredentialsCoS(
                executionDateTime: body.executionDateTime, supplierFloorSeqNumber: body.supplierFloorSeqNumber,
                supplierPrepaymentTopUpFloorSeqNumber: body.supplierPrepaymentTopUpFloorSeqNumber,
                supplierReplacementCertificates: replacements,
                certificationPathCertificates: body.certificationPathCertificates,
                applyTimeBasedCPVChecks: body.applyTimeBasedCPVChecks, importMPxN: body.importMPxN),
            schemaVersion: template.schemaVersion)
    }

    /// Replacement certificates of every kind: the templates' own, other parties', the same certificate as PEM
    /// and as bare base64 (other bytes, same certificate), one without an entity identifier (the issuing CA),
    /// and bytes that are no certificate at all.
    static func replacementCertificates(_ template: ServiceRequest623) throws -> [[UInt8]] {
        let own = template.body.supplierReplacementCertificates.digitalSigningCertificate
        let certificate = try Certificate(encoded: own)
        var list = [own, Array(certificate.pem().utf8), Array(Base64.encode(own).utf8)]
        list += PartiesPool.identities.map(\.certificate.derBytes)
        list += template.body.certificationPathCertificates
        list += [[0x30, 0x03, 0x02, 0x01, 0x01], Array("not a certificate".utf8), own.dropLast(1).map { $0 },
                 try Fixtures.bytes("\(Fixtures.keys)/\(PartiesPool.names[0]).key.pem")]
        return list
    }

    /// Every template × replacement certificate × MPID (none, each party's, unknown) × date.
    static func cases(dates: [CalendarDate?]) throws -> [Case] {
        var cases = [Case]()
        for index in Fixtures.template623Names.indices {
            let template = try PartiesTemplates.request(index)
            for der in try replacementCertificates(template) {
                let request = try Self.request(template, digitalSigning: der)
                for mpid in try [nil, "GTSE", "GTSG", "OTHR", "GTS2", "ZZZZ"].map({ try $0.map { try MPID(parsing: $0) } }) {
                    for date in dates { cases.append(Case(request: request, mpid: mpid, date: date)) }
                }
            }
        }
        return cases
    }

    /// Registries of the key-selection tests: two parties, the replacement entity in another party, alone.
    static func registries(_ workspace: PartiesWorkspace) throws -> [PartyRegistry] {
        var gts = PartiesEntry.gts
        gts.userIDs = ["90-B3-D5-1F-30-01-00-00"]
        let supplier2 = PartiesEntry(id: "gts2", name: "GIT Test Supplier 2", mpids: ["GTS2"],
                                     userIDs: ["90-B3-D5-1F-30-03-00-00", "00-DB-12-34-56-78-00-04"],
                                     identity: "xml-sign-00DB123456780004-ds")
        return [
            try PartyRegistry(contentsOfFile: try workspace.registry([.gts, .other]), loader: .files),
            try PartyRegistry(contentsOfFile: try workspace.registry([gts, supplier2], name: "split.toml"), loader: .files),
            try PartyRegistry(contentsOfFile: try workspace.registry([gts], name: "alone.toml"), loader: .files),
        ]
    }

    static func registrationData(_ workspace: PartiesWorkspace) throws -> RegistrationData {
        let csv = try workspace.write("registration.csv", """
            mpxn,mpid,effective_from
            1312345678333,OTHR,2020-01-01
            1312345678333,GTSG,2025-06-01
            9999999999999,ABCD,2021-02-03
            """)
        return try RegistrationData(reading: csv)
    }

    @Test func memoGivesExactlyTheSelectionsAndRefusalsOfDecodingEveryTime() throws {
        let workspace = try PartiesWorkspace()
        defer { workspace.remove() }
        let data = try Self.registrationData(workspace)
        let dates = try [nil] + ["2019-12-31", "2025-05-31", "2025-06-01"].map { try CalendarDate(parsing: $0) }
        // Dates matter only with registration data.
        let undated = try Self.cases(dates: [nil])
        let dated = try Self.cases(dates: dates)
        var kinds = Set<String>()
        let certificates = Set(undated.map(\.request.body.supplierReplacementCertificates.digitalSigningCertificate))
        let decodable = certificates.filter { (try? Certificate(encoded: $0)) != nil }.count
        #expect(decodable > 0 && decodable < certificates.count)
        for registry in try Self.registries(workspace) {
            for registration in [nil, data] {
                let plain = KeySelector(registry: registry, registrationData: registration, memoCapacity: 0)
                let memo = KeySelector(registry: registry, registrationData: registration)
                // Twice over: the first pass fills the memo, the second reads it.
                for pass in 0..<2 {
                    for item in registration == nil ? undated : dated {
                        let expected = Outcome { () throws(KeySelectionRefused) in
                            try plain.select(for: item.request, mpid: item.mpid, date: item.date)
                        }
                        let observed = Outcome { () throws(KeySelectionRefused) in
                            try memo.select(for: item.request, mpid: item.mpid, date: item.date)
                        }
                        #expect(observed == expected, "pass \(pass)")
                        kinds.insert(Self.kind(of: expected))
                    }
                }
                #expect(plain.replacementEntityMemoCount == 0)
                // Each certificate that decoded is remembered once (the PEM and base64 copies are other bytes);
                // those that do not decode never are.
                #expect(memo.replacementEntityMemoCount == decodable)
            }
        }
        // The cases reach selections and every kind of refusal the memo touches.
        #expect(kinds.isSuperset(of: ["selected", "unreadable", "split", "unknownUserID", "unknownMPID", "notRegistered"]),
                "\(kinds.sorted())")
    }

    /// The kind of an outcome: selected, or its first refusal reason.
    static func kind(of outcome: Outcome) -> String {
        guard case .refused(let refused) = outcome, let reason = refused.reasons.first else { return "selected" }
        switch reason {
        case .nothingToSelectBy: return "nothing"
        case .unknownMPID: return "unknownMPID"
        case .unknownUserID: return "unknownUserID"
        case .notRegistered: return "notRegistered"
        case .registeredToUnknownMPID: return "registeredToUnknownMPID"
        case .replacementCertificateUnreadable: return "unreadable"
        case .split: return "split"
        case .noCredentialForOriginator: return "noCredentialForOriginator"
        case .originatorNotSigner: return "originatorNotSigner"
        case .alsoKnown: return "alsoKnown"
        }
    }

    @Test func unreadableAndEntitylessCertificatesAreRefusedTheSameEveryTime() throws {
        let workspace = try PartiesWorkspace()
        defer { workspace.remove() }
        let selector = KeySelector(registry: try PartyRegistry(contentsOfFile: try workspace.registry([.gts, .other]), loader: .files))
        let template = try PartiesTemplates.request()
        let garbage = try Self.request(template, digitalSigning: [0x30, 0x03, 0x02, 0x01, 0x01])
        let authority = try Self.request(template, digitalSigning: template.body.certificationPathCertificates[0])
        for _ in 0..<3 {
            let unreadable = try #require(#expect(throws: KeySelectionRefused.self) { try selector.select(for: garbage) })
            #expect(unreadable.reasons.count == 1)
            if case .replacementCertificateUnreadable(let why) = unreadable.reasons.first {
                #expect(why.contains("SupplierReplacementCertificates/DigitalSigningCertificate"))
            } else {
                Issue.record("unexpected \(unreadable)")
            }
            let entityless = try #require(#expect(throws: KeySelectionRefused.self) { try selector.select(for: authority) })
            #expect(entityless.reasons == [.replacementCertificateUnreadable("it has no 64-bit x500UniqueIdentifier")])
            #expect(entityless.userIDs == [template.requestID.businessOriginator])
        }
        // Only the certificate that decoded (without an entity) is remembered.
        #expect(selector.replacementEntityMemoCount == 1)
    }

    @Test func memoIsBoundedAndKeepsAnsweringWhenFull() throws {
        let workspace = try PartiesWorkspace()
        defer { workspace.remove() }
        let registry = try PartyRegistry(contentsOfFile: try workspace.registry([.gts, .other]), loader: .files)
        let plain = KeySelector(registry: registry, memoCapacity: 0)
        let small = KeySelector(registry: registry, memoCapacity: 2)
        let template = try PartiesTemplates.request()
        let requests = try Self.replacementCertificates(template).map { try Self.request(template, digitalSigning: $0) }
        for _ in 0..<3 {
            for request in requests {
                let expected = Outcome { () throws(KeySelectionRefused) in try plain.select(for: request) }
                #expect(Outcome { () throws(KeySelectionRefused) in try small.select(for: request) } == expected)
                #expect(small.replacementEntityMemoCount <= 2)
            }
        }
    }

    @Test func oneSelectorSharedByManyThreadsGivesTheSameAnswers() async throws {
        let workspace = try PartiesWorkspace()
        defer { workspace.remove() }
        let registry = try PartyRegistry(contentsOfFile: try workspace.registry([.gts, .other]), loader: .files)
        let plain = KeySelector(registry: registry, memoCapacity: 0)
        let cases = try Self.cases(dates: [nil])
        let expected = cases.map { item in
            Outcome { () throws(KeySelectionRefused) in try plain.select(for: item.request, mpid: item.mpid) }
        }
        // A small memo too, so that threads also clear it under one another.
        for shared in [KeySelector(registry: registry), KeySelector(registry: registry, memoCapacity: 3)] {
            let mismatches = await withTaskGroup(of: Int.self) { group in
                for worker in 0..<6 {
                    group.addTask {
                        var wrong = 0
                        for round in 0..<2 {
                            for offset in cases.indices {
                                let index = (offset * 7 + worker * 13 + round) % cases.count
                                let item = cases[index]
                                let observed = Outcome { () throws(KeySelectionRefused) in
                                    try shared.select(for: item.request, mpid: item.mpid)
                                }
                                if observed != expected[index] { wrong += 1 }
                            }
                        }
                        return wrong
                    }
                }
                return await group.reduce(0, +)
            }
            #expect(mismatches == 0)
            #expect(shared.replacementEntityMemoCount <= shared.replacementEntityMemoCapacity)
        }
    }
}
