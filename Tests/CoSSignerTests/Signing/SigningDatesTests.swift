import CoSSignerTestSupport
import Foundation
import Testing
@testable import CoSSigner
@testable import CoSSignerTesting

/// Dates the DCC and the meter use: "now" is read for each request from one clock; registration is looked up on
/// the GB settlement day (Europe/London) the request executes; the store's time floor moves with the clock.
@Suite struct SigningDatesTests {
    static let pki = try! TestPKI(partyCount: 2, seed: "signing dates")

    /// A clock the test moves.
    final class MovingClock: SigningClock, @unchecked Sendable {
        private let lock = NSLock()
        private var current: Date
        init(_ date: Date) { current = date }
        func now() -> Date { lock.withLock { current } }
        func set(_ date: Date) { lock.withLock { current = date } }
    }

    static func date(_ text: String) throws -> Date {
        try ExecutionDateTime(parsing: text).date
    }

    @Test func settlementDaysAreUKLocalTime() throws {
        let cases = [
            ("2030-06-30T23:30:00Z", "2030-07-01"),  // 00:30 BST on 1 July
            ("2030-06-30T22:59:59Z", "2030-06-30"),
            ("2030-12-31T23:30:00Z", "2030-12-31"),  // GMT in winter
            ("2026-03-29T00:59:59Z", "2026-03-29"),
            ("2026-03-28T23:30:00Z", "2026-03-28"),  // BST starts at 01:00 GMT on 29 March
            ("2026-10-24T23:30:00Z", "2026-10-25"),  // still BST
            ("2026-10-25T23:30:00Z", "2026-10-25"),  // GMT again
            ("3000-06-30T23:30:00Z", "3000-07-01"),
        ]
        for (instant, day) in cases {
            #expect(CalendarDate.settlementDay(of: try Self.date(instant)).description == day, "\(instant)")
        }
        // The statutory rule, used where the system has no zone data, agrees with the zone data hour by hour.
        var instant = try Self.date("2000-01-01T00:30:00Z")
        let end = try Self.date("2101-01-01T00:00:00Z")
        var disagreements = 0
        while instant < end {
            if CalendarDate.ukOffsetSeconds(at: instant) != CalendarDate.statutoryUKOffsetSeconds(at: instant) { disagreements += 1 }
            instant += 3_600 * 7  // every seventh hour: every hour of day and weekday over the years
        }
        #expect(disagreements == 0)
    }

    /// A meter that changes supplier on the request's execution date: ts1 (outgoing) until then, ts2 (incoming)
    /// from that day; ts2's future-dated 6.23 is checked against the registration on its execution date.
    @Test func aFutureDatedRequestIsCheckedAgainstTheSupplierRegisteredWhenItExecutes() throws {
        let ts1 = Self.pki.parties[0], ts2 = Self.pki.parties[1]
        let registry = try PartyRegistry(
            declarations: [ts1, ts2].map {
                PartyDeclaration(id: $0.id, name: $0.name, mpids: try! $0.mpids.map { try MPID(parsing: $0) }, userIDs: [$0.userID],
                                 signingKeyPath: $0.id, signingCertificatePath: $0.id)
            },
            loader: PartyCredentialLoader(
                loadKey: { d in Self.pki.parties.first { $0.id == d.signingKeyPath }!.xmlSigning.key },
                loadCertificate: { d in Self.pki.parties.first { $0.id == d.signingCertificatePath }!.xmlSigning.certificate }))
        // ts2 takes over the meter with ImportMPxN M on 1 July 2030.
        let mpxn = ts2.importMPxN
        let folder = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let csv = folder.appendingPathComponent("registration.csv").path
        try Data("mpxn,mpid,effective_from\n\(mpxn),\(ts1.mpids[0]),2020-01-01\n\(mpxn),\(ts2.mpids[0]),2030-07-01\n".utf8)
            .write(to: URL(fileURLWithPath: csv))
        let selector = KeySelector(registry: registry, registrationData: try RegistrationData(reading: csv))
        func request(executing execution: String?) throws -> [UInt8] {
            let base = ts2.futureDatedRequest
            let body = base.body
            return try ServiceRequest623(
                requestID: base.requestID,
                body: UpdateSecurityCredentialsCoS(
                    executionDateTime: try execution.map { try ExecutionDateTime(parsing: $0) }, supplierFloorSeqNumber: 0,
                    supplierPrepaymentTopUpFloorSeqNumber: 0, supplierReplacementCertificates: body.supplierReplacementCertificates,
                    certificationPathCertificates: body.certificationPathCertificates, applyTimeBasedCPVChecks: true,
                    importMPxN: mpxn)).xmlBytes()
        }
        let clock = FixedClock(try Self.date("2026-12-04T12:00:00Z"))
        let signer = RequestSigner(keys: .selected(selector, mpid: nil, registrationDate: nil), clock: clock)
        // 23:30Z on 30 June 2030 is 00:30 BST on 1 July: the day ts2 is registered.
        let signed = try signer.sign(try request(executing: "2030-06-30T23:30:00Z"))
        #expect(signed.party.id == "ts2")
        #expect(signed.selectionReasons.contains { $0.contains("is registered on 2030-07-01 to MPID \(ts2.mpids[0])") })
        #expect(signed.certificate == ts2.xmlSigning.certificate)
        // An hour earlier (22:30Z, 23:30 BST on 30 June) ts1 is still registered: refused, never split.
        let early = try #require(#expect(throws: KeySelectionRefused.self) { try signer.sign(try request(executing: "2030-06-30T22:30:00Z")) })
        #expect(Set(early.parties) == ["ts1", "ts2"])
        // The same request checked against today's registration (an explicit date) is refused too.
        let today = RequestSigner(keys: .selected(selector, mpid: nil, registrationDate: CalendarDate.settlementDay(of: clock.now())), clock: clock)
        #expect(throws: KeySelectionRefused.self) { try today.sign(try request(executing: "2030-06-30T23:30:00Z")) }
        // An immediate request is looked up on today's settlement day: ts1's meter, refused for ts2.
        #expect(throws: KeySelectionRefused.self) { try signer.sign(try request(executing: nil)) }
        let later = RequestSigner(keys: .selected(selector, mpid: nil, registrationDate: nil),
                                  clock: FixedClock(try Self.date("2030-06-30T23:30:00Z")))
        #expect(try later.sign(try request(executing: nil)).party.id == "ts2")
    }

    @Test func aLongLivedSignerReadsItsClockForEveryRequest() throws {
        let ts1 = Self.pki.parties[0]
        let clock = MovingClock(try Self.date("2099-12-30T00:00:00Z"))
        let signer = RequestSigner(signer: try DUISSigner(key: ts1.xmlSigning.key, certificate: ts1.xmlSigning.certificate), clock: clock)
        let request = ts1.futureDatedRequest.xmlBytes()  // executes 2099-12-31T00:00:00Z
        _ = try signer.sign(request)
        clock.set(try Self.date("2099-12-31T00:00:01Z"))
        let refused = try #require(#expect(throws: DUISRequestError.self) { try signer.sign(request) })
        #expect(refused.rule == .futureDated && refused.reason.contains("2099-12-31T00:00:01Z"), "\(refused)")
        // The signing certificate's validity is read at the same time: one that expires in 2030 signs until then.
        let shortLived = try Self.pki.issue("ts1-xml-sign-2030", role: "87", entity: ts1.userID, usage: .digitalSignature,
                                            notAfter: DER.time(year: 2030, month: 1, day: 1))
        let shortSigner = RequestSigner(signer: try DUISSigner(key: shortLived.key, certificate: shortLived.certificate), clock: clock)
        clock.set(try Self.date("2029-12-31T23:59:59Z"))
        _ = try shortSigner.sign(ts1.immediateRequest.xmlBytes())
        clock.set(try Self.date("2030-01-01T00:00:01Z"))
        let late = try #require(#expect(throws: SigningRefused.self) { try shortSigner.sign(ts1.immediateRequest.xmlBytes()) })
        #expect(late.failureClass == .keyOrCertificate && late.reason.contains("is expired at 2030-01-01T00:00:01Z"), "\(late)")
    }

    @Test func theSystemClockIsReadPerRequestToo() throws {
        let ts1 = Self.pki.parties[0]
        let signer = RequestSigner(signer: try DUISSigner(key: ts1.xmlSigning.key, certificate: ts1.xmlSigning.certificate))
        let execution = try ExecutionDateTime(Date().addingTimeInterval(2))
        let base = ts1.futureDatedRequest
        let request = try ServiceRequest623(
            requestID: base.requestID,
            body: UpdateSecurityCredentialsCoS(
                executionDateTime: execution, supplierFloorSeqNumber: 0, supplierPrepaymentTopUpFloorSeqNumber: 0,
                supplierReplacementCertificates: base.body.supplierReplacementCertificates,
                certificationPathCertificates: base.body.certificationPathCertificates, applyTimeBasedCPVChecks: true,
                importMPxN: base.body.importMPxN)).xmlBytes()
        _ = try signer.sign(request)
        Thread.sleep(until: execution.date.addingTimeInterval(0.2))
        #expect(throws: DUISRequestError.self) { try signer.sign(request) }
    }

    @Test func storeCountersStayAboveTheTimeOfEachRequest() throws {
        let folder = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let assigner = CounterAssigner(policy: .store(path: folder.appendingPathComponent("counters.txt").path), blockSize: 100)
        let id = try RequestID(parsing: "90-B3-D5-1F-3F-01-00-00:00-DB-12-34-56-78-90-A0:1")
        let t0 = try Self.date("2030-01-01T00:00:00Z")
        let first = try assigner.counter(for: id, now: t0)
        #expect(first > milliseconds(since1970: t0))
        #expect(try assigner.counter(for: id, now: t0) == first + 1)  // from the reserved block
        // An hour later the block is behind the clock: a new one is reserved above the new time.
        let t1 = t0.addingTimeInterval(3_600)
        let later = try assigner.counter(for: id, now: t1)
        #expect(later > milliseconds(since1970: t1))
        // The clock going back never makes a counter go back.
        #expect(try assigner.counter(for: id, now: t0) == later + 1)
        // Time counters follow the signer's clock as well, strictly increasing.
        let time = CounterAssigner(policy: .time, timeCounter: TimeCounter(clock: { 0 }))
        let a = try time.counter(for: id, now: t1)
        #expect(a == milliseconds(since1970: t1))
        #expect(try time.counter(for: id, now: t0) == a + 1)
    }
}
