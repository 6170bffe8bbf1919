import CoSSigner
import Foundation

/// The result of one kit case.
public struct KitCaseResult: Sendable, Equatable {
    /// pass / fail / skip.
    package enum Status: String, Sendable {
        case pass, fail, skip
    }

    /// The case id.
    public let id: String
    /// The case's group.
    package let group: KitGroup
    package let status: Status
    /// What was expected and what came out (for failures and skips).
    public let detail: String

    package init(id: String, group: KitGroup, status: Status, detail: String = "") {
        self.id = id
        self.group = group
        self.status = status
        self.detail = detail
    }
}

/// What a whole kit run gave.
public struct KitRunReport: Sendable {
    /// One result per case, in manifest order.
    public var results: [KitCaseResult] = []

    public var passed: Int { results.filter { $0.status == .pass }.count }
    public var failed: Int { results.filter { $0.status == .fail }.count }
    public var skipped: Int { results.filter { $0.status == .skip }.count }

    /// The failures as one line each, and the counts, in the form the crypto vector runner uses.
    public var vectorReport: VectorRunReport {
        VectorRunReport(passed: passed, failed: failed,
                        failures: results.filter { $0.status == .fail }.map { "\($0.id): \($0.detail)" })
    }
}

/// What this implementation produced for a case (compared with ``KitExpected``).
struct Observed {
    var outcome: KitExpected.Outcome
    var reason: String? = nil
    var exitCode: Int? = nil
    var party: String? = nil
    var userID: String? = nil
    var field: String? = nil
    var rule: String? = nil
    var diagnoses: [String]? = nil
    var problems: [String] = []

    var summary: String {
        kitOutcomeSummary(outcome.rawValue, reason: reason, party: party, userID: userID, field: field, rule: rule, exitCode: exitCode)
            + (diagnoses.map { ", diagnoses [\($0.joined(separator: ", "))]" } ?? "")
    }
}

/// One line describing an outcome, the same way for what a case expects and what was observed.
func kitOutcomeSummary(_ outcome: String, reason: String?, party: String?, userID: String? = nil, field: String?, rule: String?,
                       exitCode: Int?) -> String {
    var parts = [outcome]
    if let reason { parts.append("reason \(reason)") }
    if let party { parts.append("party \(party)") }
    if let userID { parts.append("credential of User ID \(userID)") }
    if let field { parts.append("field '\(field)'") }
    if let rule { parts.append("rule \(rule)") }
    if let exitCode { parts.append("exit \(exitCode)") }
    return parts.joined(separator: ", ")
}

extension KitExpected {
    var summary: String {
        kitOutcomeSummary(outcome.rawValue, reason: reason, party: party, userID: userID, field: field, rule: rule, exitCode: exitCode)
            + (diagnoses.map { ", diagnoses [\($0.joined(separator: ", "))]" } ?? "")
    }
}

extension ConformanceKit {
    /// Runs every case of the kit in `directory` (made by ``make(directory:shared:)``, e.g. this repository's
    /// `TestVectors/`) against this implementation.
    /// - Throws: ``KitError`` if the manifest cannot be read. A case whose files are missing fails; it does not stop
    ///   the run.
    public static func run(directory: String) throws(KitError) -> KitRunReport {
        try run(directory: directory, groups: nil)
    }

    /// Runs every case of the kit in `directory` against this implementation.
    /// - Parameter groups: only these groups (all when nil).
    /// - Throws: ``KitError`` if the manifest cannot be read. A case whose files are missing fails; it
    ///   does not stop the run.
    package static func run(directory: String, groups: Set<KitGroup>? = nil) throws(KitError) -> KitRunReport {
        let manifest = try KitManifest.load(directory: directory)
        let kit = KitFiles(directory: directory)
        var report = KitRunReport()
        for c in manifest.cases where groups?.contains(c.group) ?? true {
            let problems: [String]
            do {
                switch c.group {
                case .signing: problems = try KitRunner.signing(c, kit)
                case .verification: problems = KitRunner.compare(try KitRunner.verification(c, kit), c.expected)
                case .keySelection: problems = KitRunner.compare(try KitRunner.keySelection(c, kit), c.expected)
                case .requestValidation: problems = KitRunner.compare(try KitRunner.requestValidation(c, kit), c.expected)
                case .explain, .responses: problems = KitRunner.compare(try KitRunner.verification(c, kit, explaining: true), c.expected)
                }
            } catch {
                problems = ["cannot run the case: \(error)"]
            }
            report.results.append(KitCaseResult(id: c.id, group: c.group, status: problems.isEmpty ? .pass : .fail,
                                                detail: problems.joined(separator: "; ")))
        }
        return report
    }
}

/// Reads the files a manifest names, refusing paths that leave the kit.
struct KitFiles {
    let directory: String

    func path(_ relative: String?, _ what: String) throws -> String {
        guard let relative, !relative.isEmpty else {
            throw KitError(path: directory, reason: "the case has no \(what)")
        }
        guard !relative.hasPrefix("/"), !relative.split(separator: "/").contains("..") else {
            throw KitError(path: relative, reason: "manifest paths must stay inside the kit (relative, no '..')")
        }
        return directory + "/" + relative
    }

    func bytes(_ relative: String?, _ what: String) throws -> [UInt8] {
        try Files.read(try path(relative, what), maxBytes: 16 << 20)
    }

    func certificate(_ relative: String?) throws -> Certificate {
        try Certificate(contentsOfFile: try path(relative, "certificate"))
    }

    /// An RFC 3339 / xs:dateTime time.
    static func time(_ text: String, _ what: String) throws -> Date {
        do {
            return try ExecutionDateTime(parsing: text).date
        } catch {
            throw KitError(path: what, reason: "'\(text)' is not an RFC 3339 time")
        }
    }
}

enum KitRunner {
    static func compare(_ observed: Observed, _ expected: KitExpected) -> [String] {
        var mismatch = observed.outcome != expected.outcome
        if let reason = expected.reason, reason != observed.reason { mismatch = true }
        if let party = expected.party, party != observed.party { mismatch = true }
        if let userID = expected.userID, userID != observed.userID { mismatch = true }
        if let field = expected.field, field != observed.field { mismatch = true }
        if let rule = expected.rule, rule != observed.rule { mismatch = true }
        if let exit = expected.exitCode, observed.exitCode != nil, exit != observed.exitCode { mismatch = true }
        // Diagnoses: the expected first code comes first, and every expected code is given.
        if let codes = expected.diagnoses {
            let given = observed.diagnoses ?? []
            if given.first != codes.first || !codes.allSatisfy(given.contains) { mismatch = true }
        }
        guard mismatch else { return [] }
        var line = "expected \(expected.summary), got \(observed.summary)"
        if !observed.problems.isEmpty { line += " (\(observed.problems.joined(separator: " | ")))" }
        return [line]
    }

    // MARK: Signing

    static func signing(_ c: KitCase, _ kit: KitFiles) throws -> [String] {
        let input = try kit.bytes(c.inputs.request, "request")
        let key = try SigningKey(contentsOfFile: try kit.path(c.inputs.key, "key"))
        let certificate = try kit.certificate(c.inputs.certificate)
        let signer = try DUISSigner(key: key, certificate: certificate)
        let signed = try signer.sign(input, options: SigningOptions(keepWhitespace: c.inputs.keepWhitespace ?? false, deterministic: true),
                                     source: c.inputs.request)
        var problems: [String] = []
        if let expected = c.expected.digestValue, expected != signed.digestValue {
            problems.append("DigestValue: expected \(expected), got \(signed.digestValue)")
        }
        if let expected = c.expected.signatureValue, expected != signed.signatureValue {
            problems.append("SignatureValue: expected \(expected), got \(signed.signatureValue)")
        }
        if c.expected.output != nil {
            let output = try kit.bytes(c.expected.output, "output")
            if output != signed.bytes {
                let at = zip(output, signed.bytes).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(output.count, signed.bytes.count)
                problems.append("signed bytes differ from \(c.expected.output ?? "") at offset \(at) (expected \(output.count) bytes, got \(signed.bytes.count))")
            }
        }
        do {
            _ = try DUISVerifier(certificates: [certificate]).verify(signed.bytes)
        } catch {
            problems.append("our own output does not verify: \(error)")
        }
        return problems
    }

    // MARK: Verification

    static func verification(_ c: KitCase, _ kit: KitFiles, explaining: Bool = false) throws -> Observed {
        let document = try kit.bytes(c.inputs.document, "document")
        let certificate = try kit.certificate(c.inputs.certificate)
        // Without `at`, the case does not depend on time: its certificates are checked at the kit's fixed time.
        let at = try KitFiles.time(c.inputs.at ?? KitMaker.validationNow, "\(c.id) at")
        var signatureVerifier = DUISVerifier(certificates: [certificate])
        signatureVerifier.explainsFailures = explaining
        do {
            let verifier = RequestVerifier(verifier: signatureVerifier)
            _ = try verifier.verify(document, source: c.inputs.document, at: at)
            return Observed(outcome: .valid)
        } catch let invalid as SignatureInvalid {
            let reason = invalid.part == .certificateValidity ? KitReasonClass.certificateExpired.rawValue : invalid.part.rawValue
            return Observed(outcome: .invalid, reason: reason, exitCode: Int(invalid.failureClass.exitCode),
                            diagnoses: explaining ? invalid.diagnoses.map(\.code.rawValue) : nil, problems: [invalid.reason])
        } catch let error as XMLError {
            return Observed(outcome: .invalid, reason: KitReasonClass.xml.rawValue, exitCode: Int(error.failureClass.exitCode),
                            problems: [error.message])
        } catch let error as DUISRequestError {
            // A comment or processing instruction inside the document's elements: refused before signature checks.
            return Observed(outcome: .invalid, reason: KitReasonClass.xml.rawValue, exitCode: Int(error.failureClass.exitCode),
                            problems: [error.description])
        }
    }

    // MARK: Key selection

    static func keySelection(_ c: KitCase, _ kit: KitFiles) throws -> Observed {
        let registry: PartyRegistry
        let registryPath = try kit.path(c.inputs.registry, "registry")
        do throws(PartyRegistryError) {
            // The kit's keys are public test keys, checked out with whatever mode git gives them.
            registry = try PartyRegistry(contentsOfFile: registryPath, loader: .files(keyFilePolicy: .allowInsecure))
        } catch {
            return Observed(outcome: .refused, reason: error.problems.first.map { String(describing: $0.kind) },
                            exitCode: Int(error.failureClass.exitCode), problems: error.problems.map(\.description))
        }
        var registration: RegistrationData?
        if c.inputs.registration != nil {
            let registrationPath = try kit.path(c.inputs.registration, "registration")
            do throws(RegistrationDataError) {
                registration = try RegistrationData(reading: registrationPath)
            } catch {
                return Observed(outcome: .refused, reason: KitRefusal.registrationDataInvalid.rawValue,
                                exitCode: Int(error.failureClass.exitCode), problems: error.problems.map(\.description))
            }
        }
        let request = try ServiceRequest623(parsing: try kit.bytes(c.inputs.request, "request"), source: c.inputs.request)
        let mpid = try c.inputs.mpid.map { try MPID(parsing: $0) }
        let date = try c.inputs.date.map { try CalendarDate(parsing: $0) }
        let selector = KeySelector(registry: registry, registrationData: registration)
        do throws(KeySelectionRefused) {
            let selection = try selector.select(for: request, mpid: mpid, date: date)
            return Observed(outcome: .valid, party: selection.party.id, userID: selection.credential?.userID.description)
        } catch {
            return Observed(outcome: .refused, reason: error.reasons.first.map(refusalName),
                            exitCode: Int(error.failureClass.exitCode), problems: error.reasons.map(\.description))
        }
    }

    static func refusalName(_ reason: KeySelectionRefused.Reason) -> String {
        switch reason {
        case .nothingToSelectBy: "nothingToSelectBy"
        case .unknownMPID: KitRefusal.unknownMPID.rawValue
        case .unknownUserID: KitRefusal.unknownUserID.rawValue
        case .notRegistered: KitRefusal.notRegistered.rawValue
        case .registeredToUnknownMPID: KitRefusal.registeredToUnknownMPID.rawValue
        case .replacementCertificateUnreadable: "replacementCertificateUnreadable"
        case .split: KitRefusal.split.rawValue
        case .noCredentialForOriginator: KitRefusal.noCredentialForOriginator.rawValue
        case .originatorNotSigner: KitRefusal.originatorNotSigner.rawValue
        case .alsoKnown: "alsoKnown"
        }
    }

    // MARK: Request validation

    static func requestValidation(_ c: KitCase, _ kit: KitFiles) throws -> Observed {
        let bytes = try kit.bytes(c.inputs.request, "request")
        let now = try c.inputs.now.map { try KitFiles.time($0, "\(c.id) now") }
        let validAt = try c.inputs.certificatesValidAt.map { try KitFiles.time($0, "\(c.id) certificatesValidAt") }
        do {
            let request = try ServiceRequest623(parsing: bytes)
            try request.validate(DUISValidationOptions(now: now, checkCertificates: true, certificateValidityTime: validAt))
            return Observed(outcome: .valid)
        } catch let error as DUISRequestError {
            return Observed(outcome: .invalid, exitCode: Int(error.failureClass.exitCode), field: error.field,
                            rule: String(describing: error.rule), problems: [error.reason])
        }
    }
}
