// supplier-adapter-example: a long-running supplier adapter as it embeds CoSSigner, written against the front API
// only (SupplierSigner, PartyRegistry, CounterPolicy, MPID, the clocks, CoSSignerError, VerifiedRequest).
//
// It makes a test PKI of two Supplier Parties (TestData.swift), loads their registry, makes ONE signer and signs in a
// loop for two MPIDs of the two parties, signs a typed 6.23 built from values, verifies everything it signed, shows
// that the same long-lived signer refuses a future-dated request once its ExecutionDateTime has passed, and catches
// each kind of CoSSignerError. Every expectation is checked: the exit status is 1 if any fails (CI runs it).
import CoSSigner
import Foundation

var checks = Checks()
let started = Date()
print("supplier-adapter-example: CoSSigner's front API as a supplier adapter embeds it")

let data: TestData
do {
    data = try TestData.make()
} catch {
    print("FAILED: cannot make the test PKI: \(error)")
    exit(2)
}

do {
    try runExample(data, &checks)
} catch {
    checks.fail("unexpected error: \(error)")
}
data.remove()

let seconds = Date().timeIntervalSince(started)
print("")
if checks.failures.isEmpty {
    print("OK: \(checks.passed) checks passed in \(String(format: "%.1f", seconds)) s")
    exit(0)
}
print("FAILED: \(checks.failures.count) of \(checks.passed + checks.failures.count) checks failed:")
for failure in checks.failures { print("  - \(failure)") }
exit(1)

// MARK: - The adapter

func runExample(_ data: TestData, _ checks: inout Checks) throws {
    let ts1 = data.parties[0], ts2 = data.parties[1]
    let counterFile = data.folder + "/counters.txt"

    // 1. Once, at start-up: the registry (keys loaded once) and one signer, shared by every request of the adapter.
    //    The clock is the system clock, read for every request.
    section("1. One signer for every party")
    let registry = try PartyRegistry(contentsOfFile: data.partiesFile)
    let signer = try SupplierSigner(registry: registry, counters: .store(path: counterFile))
    print("  registry \(data.partiesFile): " + registry.parties.map { "\($0.id) (MPIDs \($0.mpids.map(\.value).joined(separator: ", ")))" }
        .joined(separator: "; "))
    checks.expect(registry.parties.map(\.id) == [ts1.id, ts2.id], "the registry holds the two test parties")

    // 2. Requests for two MPIDs of two parties, alternating, each selected by the MPID given with the call; RequestID
    //    counters come from the durable store (strictly increasing per Business Originator, above the clock in ms).
    section("2. Signing in a loop for two MPIDs of two parties, verifying each")
    let jobs = [(ts1, ts1.mpids[0]), (ts2, ts2.mpids[1])]
    var lastCounter: [EUI64: UInt64] = [:]
    for round in 0..<3 {
        for (party, mpidText) in jobs {
            let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: party.requestFile)))
            let mpid = try MPID(parsing: mpidText)
            let before = milliseconds(Date())
            let signed = try signer.sign(xml: bytes, mpid: mpid, source: "\(party.id)-request-\(round)")
            let verified = try signer.verify(xml: signed.xml)
            print("  \(mpid) → \(signed.party.id)  RequestID \(signed.requestID)  cert serial \(signed.certificate.serialNumber.hex)"
                + "  verified: party \(verified.party?.id ?? "none"), 6.23 for MPxN \(verified.request?.body.importMPxN ?? "none")")
            checks.expect(signed.party.id == party.id, "\(mpid) selects party \(party.id)")
            checks.expect(signed.userID == party.userID && signed.certificate.entityIdentifier == party.userID,
                          "\(mpid): signed with the Business Originator's own certificate")
            let counter = signed.requestID.counter
            checks.expect(counter > (lastCounter[party.userID] ?? 0) && counter > before,
                          "\(mpid): counter \(counter) increases per originator and stays above the clock")
            lastCounter[party.userID] = counter
            checks.expect(verified.party?.id == party.id && verified.requestID == signed.requestID
                              && verified.request?.requestID == signed.requestID && verified.userID == party.userID,
                          "\(mpid): verify returns the party, the RequestID and the typed request")
        }
    }
    // Without an MPID the party is chosen by the request's Business Originator.
    let byOriginator = try signer.sign(xml: Array(try Data(contentsOf: URL(fileURLWithPath: ts2.requestFile))), mpid: nil)
    print("  (no MPID) → \(byOriginator.party.id), by its Business Originator \(byOriginator.userID)")
    checks.expect(byOriginator.party.id == ts2.id, "without an MPID the Business Originator selects party \(ts2.id)")

    // 3. A typed 6.23, built from values, signed without being written out and parsed again.
    section("3. A typed 6.23 built from values")
    let typed = try ServiceRequest623(
        requestID: RequestID(businessOriginator: ts2.userID, businessTarget: ts2.businessTarget, counter: 1),
        body: UpdateSecurityCredentialsCoS(
            supplierFloorSeqNumber: 0,
            supplierReplacementCertificates: SupplierReplacementCertificates(
                digitalSigningCertificate: ts2.digitalSigning, keyAgreementCertificate: ts2.keyAgreement,
                keyAgreementTopUpCertificate: ts2.keyAgreementTopUp),
            certificationPathCertificates: [data.issuingCA],
            applyTimeBasedCPVChecks: true,
            importMPxN: ts2.importMPxN))
    let signedTyped = try signer.sign(request: typed)
    let verifiedTyped = try signer.verify(xml: signedTyped.xml)
    print("  signed for \(signedTyped.party.id): RequestID \(signedTyped.requestID) (counter 1 replaced by the store), \(signedTyped.xml.count) bytes")
    print("  verified: party \(verifiedTyped.party?.id ?? "none"), request \(verifiedTyped.request?.requestID.description ?? "none"), "
        + "MPxN \(verifiedTyped.request?.body.importMPxN ?? "none")")
    checks.expect(signedTyped.party.id == ts2.id, "the typed 6.23 is signed by \(ts2.id)")
    checks.expect(signedTyped.requestID.counter > (lastCounter[ts2.userID] ?? 0), "its counter is set by the counter policy")
    checks.expect(verifiedTyped.request == signedTyped.request && verifiedTyped.party?.id == ts2.id,
                  "verify returns exactly the typed request that was signed, and its party")

    // 4. "Now" is read for every request: the same signer accepts a future-dated request before its ExecutionDateTime
    //    and refuses it once that time has passed.
    section("4. A long-lived signer and a future-dated request")
    let execution = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down) + 3)  // 2 to 3 s ahead
    let futureDated = try ServiceRequest623(
        requestID: RequestID(businessOriginator: ts1.userID, businessTarget: ts1.businessTarget, counter: 1),
        body: UpdateSecurityCredentialsCoS(
            executionDateTime: ExecutionDateTime(execution),
            supplierFloorSeqNumber: 0,
            supplierReplacementCertificates: SupplierReplacementCertificates(
                digitalSigningCertificate: ts1.digitalSigning, keyAgreementCertificate: ts1.keyAgreement,
                keyAgreementTopUpCertificate: ts1.keyAgreementTopUp),
            certificationPathCertificates: [data.issuingCA],
            applyTimeBasedCPVChecks: true,
            importMPxN: ts1.importMPxN))
    let futureXML = futureDated.xmlBytes()
    let mpid = try MPID(parsing: ts1.mpids[0])
    let early = try signer.sign(request: futureDated, mpid: mpid)
    print("  \(Date().formatted(.iso8601)): ExecutionDateTime \(futureDated.body.executionDateTime?.lexicalValue ?? "") accepted, RequestID \(early.requestID)")
    checks.expect(early.party.id == ts1.id, "a request executing in the future is signed")
    let wait = execution.timeIntervalSinceNow + 0.2
    if wait > 0 { Thread.sleep(forTimeInterval: wait) }
    for (form, attempt) in [("typed", { () throws(CoSSignerError) in _ = try signer.sign(request: futureDated, mpid: mpid) }),
                            ("XML", { () throws(CoSSignerError) in _ = try signer.sign(xml: futureXML, mpid: mpid) })] {
        do {
            try attempt()
            print("  \(Date().formatted(.iso8601)): the \(form) request was signed after its ExecutionDateTime")
            checks.fail("the same signer refuses the \(form) future-dated request once its ExecutionDateTime has passed")
        } catch {
            print("  \(Date().formatted(.iso8601)): \(form) refused: " + describe(error))
            checks.expect(error.kind == .input && error.field?.hasSuffix("ExecutionDateTime") == true,
                          "the same signer refuses the \(form) future-dated request once its ExecutionDateTime has passed")
        }
    }

    // 5. Every failure is a CoSSignerError: its kind says what to do, source/field/reason say where and why.
    section("5. Each kind of CoSSignerError")
    let ts1Request = Array(try Data(contentsOf: URL(fileURLWithPath: ts1.requestFile)))

    // .input: a malformed or unacceptable document (here a CommandVariant 6.23 does not allow).
    let badVariant = replacing("<sr:CommandVariant>1</sr:CommandVariant>", with: "<sr:CommandVariant>4</sr:CommandVariant>", in: ts1Request)
    checks.expect(badVariant != ts1Request, "the sample request has a CommandVariant to change")
    expectFailure(.input, "a CommandVariant of 4 is not acceptable", &checks) {
        _ = try signer.sign(xml: badVariant, mpid: nil, source: "bad-variant.xml")
    }

    // .credentials: the key or certificate may not sign. Here the clock reads 2125, after the XML signing
    // certificates expire (the request's own certificates are checked at 2100, when they are valid).
    let later = try SupplierSigner(registry: registry, counters: .preserve,
                                   clock: FixedClock(Date(timeIntervalSince1970: 4_891_363_200)),  // 2125-01-01
                                   options: SupplierSigner.Options(certificatesValidAt: Date(timeIntervalSince1970: 4_102_444_800)))  // 2100-01-01
    expectFailure(.credentials, "the XML signing certificate has expired by the signer's clock", &checks) {
        _ = try later.sign(xml: ts1Request, mpid: nil, source: "ts1-immediate.xml")
    }

    // .selectionRefused: the MPID of one party for a request of the other (a split supplier); nothing is signed.
    let ts2MPID = try MPID(parsing: ts2.mpids[0])
    let refusal = expectFailure(.selectionRefused, "\(ts2MPID) for a request of \(ts1.id) is a split supplier", &checks) {
        _ = try signer.sign(xml: ts1Request, mpid: ts2MPID, source: "ts1-immediate.xml")
    }
    checks.expect(Set(refusal?.refusal?.parties ?? []) == [ts1.id, ts2.id], "the refusal names both parties")

    // .signatureInvalid: a signed request changed after signing (one digit of its ImportMPxN).
    let signed = try signer.sign(xml: ts1Request, mpid: nil)
    let tampered = replacing("<sr:ImportMPxN>\(ts1.importMPxN)</sr:ImportMPxN>",
                             with: "<sr:ImportMPxN>\(ts1.importMPxN.dropLast())\(ts1.importMPxN.hasSuffix("9") ? "8" : "9")</sr:ImportMPxN>",
                             in: signed.xml)
    checks.expect(tampered != signed.xml, "the signed request has an ImportMPxN to change")
    expectFailure(.signatureInvalid, "a request changed after signing", &checks) {
        _ = try signer.verify(xml: tampered, source: "tampered.xml")
    }

    // .unavailable: the counter service cannot be reached (a database that is down); nothing is signed, and the
    // same signer signs again once the service is back.
    let service = CounterService()
    let replicated = try SupplierSigner(registry: registry, counters: .backend(service))
    service.setReachable(false)
    expectFailure(.unavailable, "the counter service cannot be reached", &checks) {
        _ = try replicated.sign(xml: ts1Request, mpid: nil, source: "ts1-immediate.xml")
    }
    service.setReachable(true)
    let recovered = try replicated.sign(xml: ts1Request, mpid: nil, source: "ts1-immediate.xml")
    print("  service back: signed for \(recovered.party.id), RequestID \(recovered.requestID)")
    checks.expect(recovered.party.id == ts1.id, "the same signer signs again once the counter service is back")
}

// MARK: - Checks and log

/// The expectations met and failed.
struct Checks {
    var passed = 0
    var failures: [String] = []

    mutating func expect(_ condition: Bool, _ what: String) {
        if condition {
            passed += 1
        } else {
            fail(what)
        }
    }

    mutating func fail(_ what: String) {
        print("  FAILED: \(what)")
        failures.append(what)
    }
}

/// Runs `body`, which must fail with a `CoSSignerError` of `kind`; prints the error and returns it.
@discardableResult
func expectFailure(_ kind: CoSSignerError.Kind, _ what: String, _ checks: inout Checks,
                   _ body: () throws -> Void) -> CoSSignerError? {
    do {
        try body()
        checks.fail("\(kind): \(what): it succeeded")
        return nil
    } catch let error as CoSSignerError {
        print("  .\(error.kind) (\(what)): " + describe(error))
        if let refusal = error.refusal {
            print("      refusal: parties \(refusal.parties.joined(separator: ", ")), MPIDs \(refusal.mpids.map(\.value).joined(separator: ", ")), "
                + "User IDs \(refusal.userIDs.map(\.description).joined(separator: ", "))")
        }
        checks.expect(error.kind == kind, "\(kind): \(what) (got .\(error.kind))")
        return error
    } catch {
        checks.fail("\(kind): \(what): not a CoSSignerError: \(error)")
        return nil
    }
}

/// An error's source, field and reason, on one line.
func describe(_ error: CoSSignerError) -> String {
    "source \(error.source ?? "-"), field \(error.field ?? "-"), reason: \(error.reason)"
}

func section(_ title: String) {
    print("")
    print(title)
}

/// `bytes` with the first occurrence of `old` replaced by `new` (unchanged when it has none).
func replacing(_ old: String, with new: String, in bytes: [UInt8]) -> [UInt8] {
    let text = String(decoding: bytes, as: UTF8.self)
    guard let range = text.range(of: old) else { return bytes }
    return Array(text.replacingCharacters(in: range, with: new).utf8)
}

/// Milliseconds since 1970 (RequestID counters from a store stay above it).
func milliseconds(_ date: Date) -> UInt64 {
    UInt64(date.timeIntervalSince1970 * 1000)
}
