import CoSSigner
import Foundation

/// How ``KitChecker`` runs another implementation.
///
/// Templates are shell command lines run with `/bin/sh -c`. Placeholders are replaced by
/// single-quoted absolute paths (or values): `{in}` the input (request to sign, document to
/// verify), `{out}` the file the signer must write, `{key}` the PKCS#8 PEM private key, `{cert}` the
/// certificate (PEM), `{mode}` `compact` or `keep-whitespace`, `{at}` the verification time
/// (RFC 3339) of cases that have one.
public struct KitCheckOptions: Sendable {
    /// The signer template (signing cases); nil skips them.
    public var signedBy: String?
    /// The verifier template (verification cases; exit 0 = valid, anything else = invalid); nil skips them.
    public var verifiedBy: String?
    /// The signer uses RFC 6979 nonces, so its output must equal the expected bytes exactly. Otherwise
    /// its output must verify and carry the expected DigestValue.
    public var deterministicSigner: Bool
    /// Seconds one command may run.
    public var timeout: Double

    public init(signedBy: String? = nil, verifiedBy: String? = nil, deterministicSigner: Bool = false, timeout: Double = 60) {
        self.signedBy = signedBy
        self.verifiedBy = verifiedBy
        self.deterministicSigner = deterministicSigner
        self.timeout = timeout
    }
}

/// Runs another implementation's signer and verifier over a conformance kit and reports per case
/// whether it agrees with the expected outcome. Key selection and request validation cases are
/// specific to an adapter's own API and are not run (reported as skipped).
public enum KitChecker {
    /// The placeholders a template may use.
    public static let placeholders = ["{in}", "{out}", "{key}", "{cert}", "{mode}", "{at}"]

    /// Checks the external commands against the kit in `directory`.
    /// - Throws: ``KitError`` if the manifest cannot be read or no template is given.
    public static func run(directory: String, options: KitCheckOptions) throws(KitError) -> KitRunReport {
        guard options.signedBy != nil || options.verifiedBy != nil else {
            throw KitError(path: directory, reason: "give a signer template, a verifier template or both", failureClass: .usage)
        }
        let manifest = try KitManifest.load(directory: directory)
        let absolute = Files.realPath(directory) ?? directory
        let kit = KitFiles(directory: absolute)
        let work = try temporaryDirectory()
        defer { removeTree(work) }
        var report = KitRunReport()
        for (index, c) in manifest.cases.enumerated() {
            let result: KitCaseResult
            switch c.group {
            case .signing:
                if let template = options.signedBy {
                    result = checkSigning(c, kit, template: template, output: "\(work)/out-\(index).xml", options: options)
                } else {
                    result = KitCaseResult(id: c.id, group: c.group, status: .skip, detail: "no signer template")
                }
            case .verification, .responses:
                if let template = options.verifiedBy {
                    result = checkVerification(c, kit, template: template, options: options)
                } else {
                    result = KitCaseResult(id: c.id, group: c.group, status: .skip, detail: "no verifier template")
                }
            case .keySelection, .requestValidation:
                result = KitCaseResult(id: c.id, group: c.group, status: .skip, detail: "not expressible as a command (adapter API)")
            case .explain:
                result = KitCaseResult(id: c.id, group: c.group, status: .skip, detail: "diagnosis codes are cos-signer's own output (verify --explain)")
            }
            report.results.append(result)
        }
        return report
    }

    private static func checkSigning(_ c: KitCase, _ kit: KitFiles, template: String, output: String, options: KitCheckOptions) -> KitCaseResult {
        func fail(_ detail: String) -> KitCaseResult { KitCaseResult(id: c.id, group: c.group, status: .fail, detail: detail) }
        do {
            let values = [
                "{in}": try kit.path(c.inputs.request, "request"), "{out}": output,
                "{key}": try kit.path(c.inputs.key, "key"), "{cert}": try kit.path(c.inputs.certificate, "certificate"),
                "{mode}": (c.inputs.keepWhitespace ?? false) ? "keep-whitespace" : "compact",
            ]
            let run = try KitCommand.run(expand(template, values), timeout: options.timeout)
            guard run.status == 0 else {
                return fail("the signer exited with \(run.status)\(run.stderrSummary)")
            }
            let produced = try Files.read(output, maxBytes: 16 << 20)
            let certificate = try kit.certificate(c.inputs.certificate)
            let verified: VerifiedDocument
            do {
                verified = try DUISVerifier(certificates: [certificate]).verify(produced)
            } catch {
                return fail("the signer's output does not verify under the DUIS profile: \(error)")
            }
            if let digest = c.expected.digestValue, digest != verified.digestValue {
                return fail("DigestValue: expected \(digest), got \(verified.digestValue)")
            }
            if options.deterministicSigner, let expectedPath = c.expected.output {
                let expected = try kit.bytes(expectedPath, "output")
                if expected != produced {
                    return fail("a deterministic signer must write exactly \(expectedPath) (\(expected.count) bytes); got \(produced.count) bytes")
                }
            }
            return KitCaseResult(id: c.id, group: c.group, status: .pass)
        } catch {
            return fail("\(error)")
        }
    }

    private static func checkVerification(_ c: KitCase, _ kit: KitFiles, template: String, options: KitCheckOptions) -> KitCaseResult {
        if let at = c.inputs.at, !template.contains("{at}") {
            return KitCaseResult(id: c.id, group: c.group, status: .skip,
                                 detail: "needs verification at \(at); the verifier template has no {at}")
        }
        do {
            var values = [
                "{in}": try kit.path(c.inputs.document, "document"), "{cert}": try kit.path(c.inputs.certificate, "certificate"),
            ]
            if let at = c.inputs.at { values["{at}"] = at }
            let run = try KitCommand.run(expand(template, values), timeout: options.timeout)
            let said: KitExpected.Outcome = run.status == 0 ? .valid : .invalid
            if said == c.expected.outcome {
                return KitCaseResult(id: c.id, group: c.group, status: .pass)
            }
            let expected = c.expected.outcome == .valid ? "valid" : "invalid (\(c.expected.reason ?? "?"))"
            return KitCaseResult(id: c.id, group: c.group, status: .fail,
                                 detail: "expected \(expected), the verifier said \(said.rawValue) (exit \(run.status))\(run.stderrSummary)")
        } catch {
            return KitCaseResult(id: c.id, group: c.group, status: .fail, detail: "\(error)")
        }
    }

    /// The template with each placeholder replaced by its single-quoted value. Placeholders the case
    /// does not provide are replaced by an empty quoted string.
    static func expand(_ template: String, _ values: [String: String]) -> String {
        var result = ""
        var rest = Substring(template)
        outer: while !rest.isEmpty {
            for placeholder in placeholders where rest.hasPrefix(placeholder) {
                result += shellQuote(values[placeholder] ?? "")
                rest = rest.dropFirst(placeholder.count)
                continue outer
            }
            result.append(rest.removeFirst())
        }
        return result
    }

    /// `'text'` with every `'` written as `'\''`: safe for any bytes in /bin/sh.
    static func shellQuote(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    private static func temporaryDirectory() throws(KitError) -> String {
        var template = Array("/tmp/cos-signer-kit-check.XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer -> Bool in
            guard let base = buffer.baseAddress else { return false }
            return mkdtemp(base) != nil
        }
        guard made else { throw KitError(path: "/tmp", reason: "cannot create a temporary directory") }
        return String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func removeTree(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// One external command run through `/bin/sh -c`.
struct KitCommand {
    let status: Int32
    let stderr: String

    var stderrSummary: String {
        let text = stderr.split(whereSeparator: \.isNewline).prefix(3).joined(separator: " / ")
        return text.isEmpty ? "" : ": \(text.prefix(300))"
    }

    static func run(_ command: String, timeout: Double) throws -> KitCommand {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        let errors = Pipe()
        process.standardError = errors
        let done = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in done.signal() }
        try process.run()
        let reader = KitPipeReader(errors.fileHandleForReading)
        if done.wait(timeout: .now() + timeout) == .timedOut {
            process.terminate()
            done.wait()
            return KitCommand(status: -1, stderr: "timed out after \(Int(timeout)) s: \(command)")
        }
        return KitCommand(status: process.terminationStatus, stderr: reader.finish())
    }
}

/// Reads a pipe to its end on another thread, so a chatty child never blocks on a full pipe.
private final class KitPipeReader: @unchecked Sendable {
    private var data = Data()
    private let group = DispatchGroup()

    init(_ handle: FileHandle) {
        group.enter()
        DispatchQueue.global().async {
            let all = handle.readDataToEndOfFile()
            self.data = all
            self.group.leave()
        }
    }

    func finish() -> String {
        group.wait()
        return String(decoding: data.prefix(64 * 1024), as: UTF8.self)
    }
}
