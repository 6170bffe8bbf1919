// libFuzzer harnesses for CoSSigner's untrusted-input parsers.
//
// Built only by `Scripts/fuzz` (Package.swift declares this target only when COSSIGNER_FUZZ=1), with
// `swiftc -sanitize=fuzzer,address`. SwiftPM always gives an executable its own `main`, so libFuzzer's is
// never linked: main.swift loads the fixed material and calls `LLVMFuzzerRunDriver` (libFuzzer's documented
// entry for programs with their own main) with ``fuzzerTestOneInput``. One binary holds every harness; the
// environment variable COSSIGNER_FUZZ_TARGET picks one:
//
//   xml-verify   XML parse (hardened) + C14N + DUIS signature verification
//   duis623      6.23 parsing and validation, writer round trip, fast reader against the full parser
//   parties      party registry (TOML) and registration data (CSV) loaders
//   ids          RequestID, EUI-64, MPID, dates, serial numbers
//   sigdecode    base64, DER and P1363 (r||s) ECDSA signature decoding
//
// An input the code refuses with an error is fine; a crash, a sanitizer report, a leak, a hang or a
// broken round-trip property (checked with `preconditionFailure`, which traps) is a finding.

@testable import CoSSigner  // debug build (testability on): the fast 6.23 reader is internal
import Foundation

#if canImport(Glibc)
import Glibc
#endif

enum FuzzTarget: String, CaseIterable {
    case xmlVerify = "xml-verify"
    case duis623 = "duis623"
    case parties = "parties"
    case ids = "ids"
    case sigdecode = "sigdecode"
}

/// Fixed material the harnesses use, loaded once in `LLVMFuzzerInitialize`.
final class FuzzContext: @unchecked Sendable {
    // Written once in LLVMFuzzerInitialize (before any input runs, on libFuzzer's one thread), then only read.
    let target: FuzzTarget
    let verifier: DUISVerifier
    let signer: DUISSigner
    /// The signer's (file) key, for the registry loader.
    let signingKey: SigningKey
    let publicKey: PublicKey
    let scratchDirectory: String
    let fixedNow = Date(timeIntervalSince1970: 1_767_225_600)  // 2026-01-01T00:00:00Z

    init(target: FuzzTarget, shared: String) throws {
        self.target = target
        let keys = "\(shared)/vectors/dccboxed/keys"
        let key = try SigningKey(encoded: try Self.read("\(keys)/xml-sign-90B3D51F30010000-ds.key.pem"))
        let certificate = try Certificate(encoded: try Self.read("\(keys)/xml-sign-90B3D51F30010000-ds.pem"))
        signer = try DUISSigner(key: key, certificate: certificate)
        signingKey = key
        verifier = DUISVerifier(certificates: [certificate])
        publicKey = try certificate.publicKey()
        let base = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        scratchDirectory = "\(base)/cossigner-fuzz-\(getpid())"
        mkdir(scratchDirectory, 0o700)
    }

    static func read(_ path: String) throws -> [UInt8] {
        try Files.read(path, maxBytes: 1 << 20)
    }
}

nonisolated(unsafe) var context: FuzzContext?

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("cossigner-fuzz: \(message)\n".utf8))
    abort()
}

/// Signs the DCC Boxed templates with the harness's key, so the xml-verify corpus starts from documents
/// whose signatures verify (reaching the digest and ECDSA steps), and writes them to `directory`.
func writeSignedSeeds(_ context: FuzzContext, shared: String, into directory: String) throws {
    let templates = "\(shared)/vectors/dccboxed/templates"
    let names = (try? FileManager.default.contentsOfDirectory(atPath: templates)) ?? []
    var written = 0
    for name in names.sorted() {
        let bytes = try FuzzContext.read("\(templates)/\(name)")
        guard let signed = try? context.signer.sign(bytes, options: SigningOptions(deterministic: true)) else { continue }
        try Files.writeAtomically(signed.bytes, to: "\(directory)/signed-\(name)", durable: false)
        written += 1
    }
    FileHandle.standardError.write(Data("cossigner-fuzz: wrote \(written) signed seeds to \(directory)\n".utf8))
}

/// The per-input callback. Also exported as `LLVMFuzzerTestOneInput`, because `-sanitize=fuzzer` links
/// libFuzzer's own `main` object, which references it (SwiftPM's `--defsym main=…` makes ours win).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let context else { fail("not initialised") }
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    switch context.target {
    case .xmlVerify: fuzzXMLVerify(bytes, context)
    case .duis623: fuzzDUIS623(bytes, context)
    case .parties: fuzzParties(bytes, context)
    case .ids: fuzzIdentifiers(bytes)
    case .sigdecode: fuzzSignatureDecoding(bytes, context)
    }
    return 0
}

// MARK: - Harnesses

func fuzzXMLVerify(_ bytes: [UInt8], _ context: FuzzContext) {
    if let document = try? XMLDocument(parsing: bytes, source: "fuzz") {
        let signatures = document.elements(namespaceURI: "http://www.w3.org/2000/09/xmldsig#", localName: "Signature")
        _ = try? document.inclusiveCanonicalForm(excluding: signatures.first)
        for signedInfo in document.elements(namespaceURI: "http://www.w3.org/2000/09/xmldsig#", localName: "SignedInfo") {
            _ = try? document.exclusiveCanonicalForm(of: signedInfo)
        }
        if let verified = try? context.verifier.verify(document) {
            // A valid signature's signed content must be the canonical form the digest covers.
            if SHA256.hash(verified.signedContent) != ((try? Base64.decode(verified.digestValue)) ?? []) {
                fail("verified document whose signed content does not match its DigestValue")
            }
        }
    }
    _ = try? context.verifier.verify(bytes, source: "fuzz")
}

func fuzzDUIS623(_ bytes: [UInt8], _ context: FuzzContext) {
    // The fast signing path's reader (canonical form, no DOM) never accepts a 6.23 the full parser refuses and
    // never reads one differently.
    if let fast = FastCanonicalizer.canonicalize(bytes, mode: .signing(compact: true), limits: .default),
        !fast.sawCommentOrCDATA, fast.placeholderCount <= 1, fast.placeholderIsLastRootChild,
        let quick = ServiceRequest623FastReader.read(canonical: fast.bytes) {
        guard let full = try? ServiceRequest623(parsing: bytes, source: "fuzz") else {
            fail("the fast 6.23 reader accepted a document the full parser refuses")
        }
        if full != quick { fail("the fast 6.23 reader read a document differently from the full parser") }
    }
    guard let request = try? ServiceRequest623(parsing: bytes, source: "fuzz") else { return }
    _ = RequestSummary(request)
    try? request.validate(DUISValidationOptions(now: context.fixedNow))
    try? request.checkFutureDated(now: context.fixedNow)
    // What the writer produces from an accepted request must parse again to the same request ID.
    let written = request.xmlBytes()
    do {
        let again = try ServiceRequest623(parsing: written, source: "fuzz-rewritten")
        if again.requestID != request.requestID {
            fail("writer round trip changed the RequestID: \(request.requestID) -> \(again.requestID)")
        }
    } catch {
        fail("the writer's output of an accepted 6.23 does not parse again: \(error)")
    }
}

func fuzzParties(_ bytes: [UInt8], _ context: FuzzContext) {
    guard let selector = bytes.first else { return }
    let body = Array(bytes.dropFirst())
    let path = "\(context.scratchDirectory)/input"
    do {
        try Files.writeAtomically(body, to: path, mode: 0o600, durable: false)
    } catch {
        fail("cannot write the scratch file: \(error)")
    }
    if selector & 1 == 0 {
        // The registry loader, with keys and certificates from memory so only the TOML and structure are fuzzed.
        let signer = context.signer
        let key = context.signingKey
        let loader = PartyCredentialLoader(loadKey: { _ in key }, loadCertificate: { _ in signer.certificate })
        if let registry = try? PartyRegistry(contentsOfFile: path, loader: loader) {
            let selector = KeySelector(registry: registry)
            for party in registry.parties {
                for mpid in party.mpids { _ = try? selector.select(KeySelectionQuery(mpid: mpid)) }
            }
        }
    } else {
        if let data = try? RegistrationData(contentsOfFile: path) {
            _ = data.registration(of: "1312345678333", at: (try? CalendarDate(year: 2026, month: 3, day: 1)) ?? CalendarDate(context.fixedNow))
        }
    }
}

func fuzzIdentifiers(_ bytes: [UInt8]) {
    let text = String(decoding: bytes, as: UTF8.self)
    if let id = try? RequestID(parsing: text) {
        guard let again = try? RequestID(parsing: id.description), again == id else {
            fail("RequestID '\(text)' parsed but its description '\(id.description)' does not parse to the same value")
        }
    }
    if let eui = try? EUI64(parsing: text) {
        guard let again = try? EUI64(parsing: eui.description), again == eui else {
            fail("EUI-64 '\(text)' parsed but its description does not round-trip")
        }
    }
    _ = try? EUI64(compactHex: text)
    if let mpid = try? MPID(parsing: text), (try? MPID(parsing: mpid.description)) != mpid {
        fail("MPID '\(text)' does not round-trip")
    }
    _ = try? CalendarDate(parsing: text)
    _ = try? ExecutionDateTime(parsing: text)
    if let serial = try? SerialNumber(decimal: text), (try? SerialNumber(decimal: serial.decimal)) != serial {
        fail("serial '\(text)' does not round-trip through its decimal form")
    }
}

func fuzzSignatureDecoding(_ bytes: [UInt8], _ context: FuzzContext) {
    let text = String(decoding: bytes, as: UTF8.self)
    if let decoded = try? Base64.decode(text) {
        guard (try? Base64.decode(Base64.encode(decoded))) == decoded else {
            fail("base64 round trip failed")
        }
    }
    if let der = try? ECDSASignature(derRepresentation: bytes) {
        // Strict DER has exactly one encoding.
        guard der.derRepresentation == bytes else { fail("accepted a DER signature that is not canonical") }
        guard (try? ECDSASignature(rawRepresentation: der.rawRepresentation)) == der else { fail("DER -> raw round trip failed") }
        _ = context.publicKey.isValidSignature(der, for: bytes)
    }
    if let raw = try? ECDSASignature(rawRepresentation: bytes) {
        guard raw.rawRepresentation == bytes else { fail("raw round trip failed") }
        guard (try? ECDSASignature(derRepresentation: raw.derRepresentation)) == raw else { fail("raw -> DER round trip failed") }
        _ = context.publicKey.isValidSignature(raw, for: bytes)
    }
}
