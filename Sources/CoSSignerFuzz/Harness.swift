// libFuzzer harnesses for CoSSigner's untrusted-input parsers.
//
// Built only by `Scripts/fuzz` (Package.swift declares this target only when COSSIGNER_FUZZ=1), with
// `swiftc -sanitize=fuzzer,address`. SwiftPM always gives an executable its own `main`, so libFuzzer's is
// never linked: main.swift loads the fixed material and calls `LLVMFuzzerRunDriver` (libFuzzer's documented
// entry for programs with their own main) with ``fuzzerTestOneInput``. One binary holds every harness; the
// environment variable COSSIGNER_FUZZ_TARGET picks one:
//
//   xml-verify   XML parse (hardened) + C14N + DUIS signature verification (with diagnoses)
//   duis623      6.23 parsing and validation, writer round trip, fast reader against the full parser, signing
//   parties      party registry (TOML) and registration data (CSV) loaders, key selection
//   ids          RequestID, EUI-64, MPID, dates, serial numbers
//   sigdecode    base64, DER and P1363 (r||s) ECDSA signature decoding
//
// Every target checks that each fast path it reaches never accepts what the full path refuses and gives the
// same result: verify (template and tree paths against the libxml2 path: verdict, signed content, certificate,
// DigestValue), sign (DUISSigner's and RequestSigner's fast paths against their full paths, byte for byte with
// RFC 6979 nonces), the fast 6.23 reader, the key selector's certificate memo, the RequestID byte parser and the
// verifier's base64 decoder.
//
// An input the code refuses with an error is fine; a crash, a sanitizer report, a leak, a hang or a
// broken round-trip or differential property (checked with `fail`, which aborts) is a finding.

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
    /// Signs deterministically without counters, schema or a wall clock: its fast and full paths are compared.
    let requestSigner: RequestSigner
    /// A 6.23 (the IMMEDIATE template) to select keys for, with the fuzzed registries.
    let request: ServiceRequest623?
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
        requestSigner = RequestSigner(
            signer: signer, options: RequestSigningOptions(signing: SigningOptions(deterministic: true)),
            clock: FixedClock(fixedNow))
        request = try? ServiceRequest623(parsing: try Self.read(
            "\(shared)/vectors/dccboxed/templates/CS02bSupplierByTransCoS_6.23_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML"))
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
    checkFastVerify(bytes, context.verifier)
    // The public entry (fast path first, then the full path), with the diagnoses of an invalid signature.
    var explaining = context.verifier
    explaining.explainsFailures = true
    _ = try? explaining.verify(bytes, source: "fuzz")
    _ = try? context.verifier.preDigestOctets(bytes)
}

/// Fast ⊆ full for verification: when the fast path (template or tree) accepts, the full libxml2 path accepts the
/// same document with the same signed content, certificate and DigestValue.
func checkFastVerify(_ bytes: [UInt8], _ verifier: DUISVerifier) {
    guard let fast = verifier.fastVerify(bytes) else { return }
    let full: VerifiedDocument
    do {
        full = try verifier.verify(try XMLDocument(parsing: bytes, limits: verifier.limits, source: "fuzz"))
    } catch {
        fail("the fast verify path accepted a document the full path refuses: \(error)")
    }
    if fast.signedContent != full.signedContent { fail("the fast verify path gives other signed content than the full path") }
    if fast.certificate != full.certificate { fail("the fast verify path names another certificate than the full path") }
    if fast.digestValue != full.digestValue { fail("the fast verify path reads another DigestValue than the full path") }
}

/// Fast ⊆ full for signing: DUISSigner's fast path (single-pass canonicalizer) against its libxml2 path, and
/// RequestSigner's fast path (no DOM) against its full path, byte for byte (RFC 6979 nonces).
func checkFastSign(_ bytes: [UInt8], _ context: FuzzContext) {
    for compact in [true, false] {
        let options = SigningOptions(keepWhitespace: !compact, deterministic: true)
        guard let either = try? context.signer.sign(bytes, options: options, source: "fuzz") else { continue }
        // sign(bytes) tries the fast path first; sign(document) is the full path only.
        guard let document = try? XMLDocument(parsing: bytes, source: "fuzz"),
            let full = try? context.signer.sign(document, options: options, source: "fuzz")
        else { fail("DUISSigner signed a document (compact \(compact)) its full path refuses") }
        if either.bytes != full.bytes { fail("DUISSigner's fast and full paths sign differently (compact \(compact))") }
    }
    if let either = try? context.requestSigner.sign(bytes, source: "fuzz") {
        guard let full = try? context.requestSigner.fullSign(bytes, source: "fuzz",
                                                            call: RequestSigner.Call(now: context.fixedNow, mpid: nil)) else {
            fail("RequestSigner's fast path signed a document its full path refuses")
        }
        if either.document.bytes != full.document.bytes { fail("RequestSigner's fast and full paths sign differently") }
        if either.requestID != full.requestID { fail("RequestSigner's fast and full paths read different RequestIDs") }
    }
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
    checkFastSign(bytes, context)
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
            // Fast ⊆ full for key selection: the memo of decoded replacement certificates (a miss, then a hit)
            // chooses exactly what a selector without the memo chooses.
            if let request = context.request {
                let plain = KeySelector(registry: registry, memoCapacity: 0)
                let expected = Result { () throws(KeySelectionRefused) in try plain.select(for: request).party.id }
                for round in 0..<2 {
                    let got = Result { () throws(KeySelectionRefused) in try selector.select(for: request).party.id }
                    switch (got, expected) {
                    case (.success(let a), .success(let b)) where a == b: continue
                    case (.failure(let a), .failure(let b)) where a.reasons == b.reasons: continue
                    default: fail("the key selector's memo (round \(round)) chose differently from a selector without it")
                    }
                }
            }
        }
    } else {
        if let data = try? RegistrationData(reading: path) {
            _ = data.registration(of: "1312345678333", at: (try? CalendarDate(year: 2026, month: 3, day: 1)) ?? CalendarDate(context.fixedNow))
        }
    }
}

func fuzzIdentifiers(_ bytes: [UInt8]) {
    let text = String(decoding: bytes, as: UTF8.self)
    // Fast ⊆ full for RequestIDs: the byte parser (fast 6.23 reader, verified content) accepts only what the
    // string parser accepts, with the same value.
    if let fast = bytes.withUnsafeBufferPointer({ RequestID.parse(utf8: $0) }) {
        guard let full = try? RequestID(parsing: text), full == fast else {
            fail("RequestID byte parser accepted '\(text)' differently from RequestID(parsing:)")
        }
    }
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
    // Fast ⊆ full for base64: the verifier's template decoder (one compact form of 32 or 64 bytes) accepts only
    // what Base64.decode accepts, with the same bytes.
    for byteCount in [SHA256.byteCount, 64] {
        if let fast = bytes.withUnsafeBufferPointer({ DUISVerifier.decodeBase64($0, byteCount: byteCount) }) {
            guard let full = try? Base64.decode(text), full == fast else {
                fail("the verifier's fast base64 decoder accepted '\(text)' differently from Base64.decode")
            }
        }
    }
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
