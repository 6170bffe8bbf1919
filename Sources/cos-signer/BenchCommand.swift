import ArgumentParser
import CoSSigner
import CoSSignerTesting
import Foundation
#if canImport(CoSSignerPostgres)
import CoSSignerPostgres
#endif

#if canImport(Glibc)
import Glibc
#endif

/// `cos-signer bench ...` (hidden): in-process timing of the signing and verification paths, the corpus maker
/// and the full differential canonicalizer check that `Scripts/bench` drives. Not a user command.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmark helpers for Scripts/bench (internal).",
        shouldDisplay: false,
        subcommands: [Run.self, Corpus.self, C14NDiff.self]
    )

    /// Times each path in this process and prints `name µs/op ops` lines.
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "run", abstract: "Time the library in-process.")

        @Argument(help: "A `cos-signer testpki` directory.")
        var pki: String

        @Option(help: "Seconds per case (after a warm-up).")
        var seconds: Double = 2

        @Option(help: "Comma-separated cases (default: all).")
        var cases: String?

        @Option(help: "PKCS#11 URI of the ts1 XML signing key in a token: adds the token cases (token-*).")
        var pkcs11: String?

        @Option(help: "The PKCS#11 module for --pkcs11.")
        var pkcs11Module: String?

        @Option(help: "The token's PIN file for --pkcs11.")
        var pinFile: String?

        @Option(help: "A postgresql:// counter store: adds the counter allocation cases (counter-db-block1, counter-db-block100).")
        var counterStore: String?

        func run() throws {
            // Since one credential per User ID, each party of the test PKI has its own XML signing key: every
            // request is signed with its own party's credential (the file name's `<party>-` prefix), the first
            // party's key alone where one key is the point (bare ECDSA, the token).
            let requests = try BenchDocuments.partyRequests(in: pki)
            let credentials = try BenchDocuments.credentials(in: pki, parties: requests.map(\.party))
            guard let first = credentials.first else { throw ValidationError("no requests in \(pki)/requests") }
            let key = first.key
            let certificate = first.certificate
            let registry = try PartyRegistry(contentsOfFile: pki + "/parties.toml", loader: .files)
            let selector = KeySelector(registry: registry)
            let validation = DUISValidationOptions(now: Date())
            var deterministicOptions = RequestSigningOptions(validation: validation)
            deterministicOptions.signing.deterministic = true
            // Per request: its party's DUISSigner, and RequestSigners with that party's key fixed.
            let signers = try requests.map { request in
                guard let credential = credentials.first(where: { $0.party == request.party }) else {
                    throw ValidationError("no credential for party \(request.party)")
                }
                return credential.signer
            }
            let fulls = signers.map { RequestSigner(keys: .fixed($0), options: RequestSigningOptions(validation: validation)) }
            let fullsDeterministic = signers.map { RequestSigner(keys: .fixed($0), options: deterministicOptions) }
            let fullParties = RequestSigner(keys: .selected(selector, mpid: nil, registrationDate: nil),
                                            options: RequestSigningOptions(validation: validation))
            let indices = Array(requests.indices)
            let bytes = requests.map(\.bytes)
            let signed = try indices.map { try signers[$0].sign(bytes[$0]).bytes }
            let verifier = DUISVerifier(certificates: credentials.map(\.certificate))
            let digest = SHA256.hash(bytes[0])
            let bareSignature = try key.signature(forDigest: digest)
            // Every path must work before it is timed.
            for i in indices {
                _ = try fulls[i].sign(bytes[i])
                _ = try fullsDeterministic[i].sign(bytes[i])
                _ = try fullParties.sign(bytes[i])
                _ = try verifier.verify(signed[i])
            }
            // The first party's requests, for the cases with its key alone.
            let firstPartyRequests = requests.filter { $0.party == first.party }.map(\.bytes)

            let documents = try bytes.map { try XMLDocument(parsing: $0) }
            let models = try documents.map { try ServiceRequest623(document: $0) }
            let certificateDERs = models[0].body.certificationPathCertificates + [models[0].body.supplierReplacementCertificates.digitalSigningCertificate]
            var tokenCases: [(String, () throws -> Void)] = []
            if let pkcs11 {
                let tokenKey = try PKCS11SigningKey.load(
                    uri: pkcs11, modulePath: pkcs11Module, pin: pinFile.map { .file($0) }, certificate: certificate)
                let tokenSigner = try DUISSigner(key: AnySigningKey(tokenKey), certificate: certificate)
                let tokenFull = RequestSigner(keys: .fixed(tokenSigner), options: RequestSigningOptions(validation: validation))
                for request in firstPartyRequests { _ = try verifier.verify(try tokenFull.sign(request).document.bytes) }
                tokenCases = [
                    ("token-ecdsa-sign", { _ = try tokenKey.signature(forDigest: digest) }),
                    ("token-core-sign", BenchDocuments.cycle(firstPartyRequests) { _ = try tokenSigner.sign($0) }),
                    ("token-full-sign", BenchDocuments.cycle(firstPartyRequests) { _ = try tokenFull.sign($0) }),
                ]
            }
            var counterCases: [(String, () throws -> Void)] = []
            if let counterStore {
                #if canImport(CoSSignerPostgres)
                let store = try PostgresCounterStore(location: try PostgresCounterStore.Location(url: counterStore),
                                                     password: ProcessInfo.processInfo.environment["PGPASSWORD"])
                let requestID = try RequestID(parsing: "90-B3-D5-1F-3F-01-00-00:00-DB-12-34-56-78-90-A0:1")
                // What signing a request adds with a database store: one allocation per request (the default,
                // globally ordered), or one per hundred requests (--counter-block 100).
                for block: UInt64 in [1, 100] {
                    let assigner = CounterAssigner(policy: .backend(store), blockSize: block)
                    _ = try assigner.counter(for: requestID, now: Date())
                    counterCases.append(("counter-db-block\(block)", { _ = try assigner.counter(for: requestID, now: Date()) }))
                }
                #else
                throw ValidationError("--counter-store needs the PostgreSQL counter store (not in a COSSIGNER_CORE_ONLY build)")
                #endif
            }
            let all: [(String, () throws -> Void)] = [
                ("ecdsa-sign", { _ = try key.signature(forDigest: digest) }),
                ("ecdsa-sign-det", { _ = try key.deterministicSignature(forDigest: digest) }),
                ("ecdsa-verify", { _ = key.publicKey.isValidSignature(bareSignature, forDigest: digest) }),
                ("core-sign", BenchDocuments.cycle(indices) { _ = try signers[$0].sign(bytes[$0]) }),
                ("core-sign-det", BenchDocuments.cycle(indices) { _ = try signers[$0].sign(bytes[$0], options: SigningOptions(deterministic: true)) }),
                ("full-sign", BenchDocuments.cycle(indices) { _ = try fulls[$0].sign(bytes[$0]) }),
                ("full-sign-det", BenchDocuments.cycle(indices) { _ = try fullsDeterministic[$0].sign(bytes[$0]) }),
                ("full-sign-parties", BenchDocuments.cycle(bytes) { _ = try fullParties.sign($0) }),
                ("verify", BenchDocuments.cycle(signed) { _ = try verifier.verify($0) }),
                ("xml-parse", BenchDocuments.cycle(bytes) { _ = try XMLDocument(parsing: $0) }),
                ("xml-parse-c14n", BenchDocuments.cycle(bytes) { _ = try XMLDocument(parsing: $0).inclusiveCanonicalForm() }),
                ("model-623", BenchDocuments.cycle(documents) { _ = try ServiceRequest623(document: $0) }),
                ("claims-623", BenchDocuments.cycle(documents) { _ = ServiceRequest623.claims623($0) }),
                ("cert-checks", BenchDocuments.cycle(models) { try $0.validateCertificates() }),
                ("cert-decode", BenchDocuments.cycle(certificateDERs) { _ = try Certificate(encoded: $0) }),
            ] + tokenCases + counterCases
            let wanted = cases.map { Set($0.split(separator: ",").map(String.init)) }
            let selected = all.filter { wanted?.contains($0.0) ?? true }
            // Round robin in short slices, median per case: load that comes and goes (this machine is shared)
            // then weighs on every case alike, so the ratios between cases stay meaningful.
            let results = try BenchTimer.interleaved(selected.map(\.1), seconds: seconds)
            for ((name, _), result) in zip(selected, results) {
                Terminal.out("\(name) \(String(format: "%.2f", result.perOp)) \(result.ops)")
            }
        }
    }

    /// Writes N distinct copies of the testpki requests (distinct RequestID counters).
    struct Corpus: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "corpus", abstract: "Write N request files.")

        @Argument(help: "A `cos-signer testpki` directory.")
        var pki: String

        @Argument(help: "Output directory (created if missing).")
        var output: String

        @Option(help: "How many documents.")
        var count: Int = 1000

        @Flag(help: "Insert an empty ds:Signature template (for xmlsec1 --sign).")
        var xmlsecTemplate = false

        @Option(help: "Only this party's requests (e.g. ts1: for `sign --key` with that party's key).")
        var party: String?

        func run() throws {
            let requests = try BenchDocuments.partyRequests(in: pki).filter { party == nil || $0.party == party }.map(\.bytes)
            guard !requests.isEmpty else { throw ValidationError("no requests of party \(party ?? "") in \(pki)/requests") }
            mkdir(output, 0o755)
            for i in 0..<count {
                var bytes = BenchDocuments.withCounter(requests[i % requests.count], 1_000_000 + UInt64(i))
                if xmlsecTemplate { bytes = BenchDocuments.withXMLSecTemplate(bytes) }
                try Files.writeAtomically(bytes, to: "\(output)/doc\(i).xml", durable: false)
            }
        }
    }

    /// The full differential corpus: the fast canonicalizer against libxml2.
    struct C14NDiff: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "c14n-diff", abstract: "Differential canonicalizer check.")

        @Option(help: "Generated documents.")
        var count: Int = 20000

        @Option(help: "Seed.")
        var seed: UInt64 = 1

        @Argument(help: "Directories of extra XML files (all are compared).")
        var directories: [String] = []

        func run() throws {
            var files: [(name: String, bytes: [UInt8])] = []
            for directory in directories {
                let names = (FileManager.default.enumerator(atPath: directory)?.compactMap { $0 as? String } ?? []).sorted()
                for name in names where name.lowercased().hasSuffix(".xml") {
                    let path = directory + "/" + name
                    if Files.isDirectory(path) { continue }
                    if let bytes = try? Files.read(path, maxBytes: 16 << 20) { files.append((path, bytes)) }
                }
            }
            let report = CanonicalizerDifferential.run(files: files, generated: count, seed: seed)
            Terminal.out(report.summary)
            for line in report.differences.prefix(20) { Terminal.out("  " + line) }
            if !report.differences.isEmpty { throw CommandFailure(exitCode: 10) }
        }
    }
}

enum BenchDocuments {
    /// A test PKI party's XML signing credential (`keys/<party>-xml-sign.key.pem`, `keys/<party>-xml-sign.pem`).
    struct Credential {
        let party: String
        let key: SigningKey
        let certificate: Certificate
        let signer: DUISSigner
    }

    /// The requests of `<pki>/requests`, each with its party (the file name up to its first '-': `ts2-immediate.xml`).
    static func partyRequests(in pki: String) throws -> [(party: String, bytes: [UInt8])] {
        let directory = pki + "/requests"
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".xml") }.sorted()
        guard !names.isEmpty else { throw ValidationError("no requests in \(directory)") }
        return try names.map { name in
            guard let dash = name.firstIndex(of: "-") else {
                throw ValidationError("\(directory)/\(name): not a test PKI request name (<party>-<kind>.xml)")
            }
            return (String(name[..<dash]), try Files.read(directory + "/" + name, maxBytes: 1 << 20))
        }
    }

    /// Each party's XML signing credential, in the order the parties first appear.
    static func credentials(in pki: String, parties: [String]) throws -> [Credential] {
        var seen: [String] = []
        for party in parties where !seen.contains(party) { seen.append(party) }
        return try seen.map { party in
            let key = try SigningKey(contentsOfFile: "\(pki)/keys/\(party)-xml-sign.key.pem")
            let certificate = try Certificate(contentsOfFile: "\(pki)/keys/\(party)-xml-sign.pem")
            return Credential(party: party, key: key, certificate: certificate, signer: try DUISSigner(key: key, certificate: certificate))
        }
    }

    /// A closure that processes the next document of `documents` each time it is called.
    static func cycle<T>(_ documents: [T], _ body: @escaping (T) throws -> Void) -> () throws -> Void {
        var index = 0
        return {
            try body(documents[index])
            index = index + 1 == documents.count ? 0 : index + 1
        }
    }

    /// The request with its RequestID counter (after the last ':' of sr:RequestID) replaced.
    static func withCounter(_ bytes: [UInt8], _ counter: UInt64) -> [UInt8] {
        let close = Array("</sr:RequestID>".utf8)
        guard let end = firstIndex(of: close, in: bytes) else { return bytes }
        var start = end
        while start > 0, bytes[start - 1] != UInt8(ascii: ":") { start -= 1 }
        return Array(bytes[..<start]) + Array(String(counter).utf8) + Array(bytes[end...])
    }

    static func withXMLSecTemplate(_ bytes: [UInt8]) -> [UInt8] {
        let close = Array("</sr:Request>".utf8)
        guard let end = firstIndex(of: close, in: bytes) else { return bytes }
        let template = #"<ds:Signature><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"/><ds:Reference URI=""><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data><ds:X509IssuerSerial/></ds:X509Data></ds:KeyInfo></ds:Signature>"#
        return Array(bytes[..<end]) + Array(template.utf8) + Array(bytes[end...])
    }

    static func firstIndex(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] {
            if haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
        }
        return nil
    }
}

enum BenchTimer {
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// Runs every body for about `seconds` in all, in slices of 0.1 s taken in turn; returns for each the median
    /// µs per call over its slices and the number of calls.
    static func interleaved(_ bodies: [() throws -> Void], seconds: Double) throws -> [(perOp: Double, ops: Int)] {
        for body in bodies { _ = try measure(seconds: 0.05, body) }
        let slice = 0.1
        let rounds = max(3, Int(seconds / slice))
        var samples = [[Double]](repeating: [], count: bodies.count)
        var ops = [Int](repeating: 0, count: bodies.count)
        for _ in 0..<rounds {
            for (k, body) in bodies.enumerated() {
                var count = 0
                let start = now()
                var elapsed = 0.0
                repeat {
                    for _ in 0..<20 { try body() }
                    count += 20
                    elapsed = now() - start
                } while elapsed < slice
                samples[k].append(elapsed * 1e6 / Double(count))
                ops[k] += count
            }
        }
        return samples.enumerated().map { k, values in
            let sorted = values.sorted()
            return (sorted[sorted.count / 2], ops[k])
        }
    }

    /// Runs `body` for a warm-up, then for `seconds`; returns µs per call and the number of calls.
    static func measure(seconds: Double, _ body: () throws -> Void) throws -> (perOp: Double, ops: Int) {
        let warmUpEnd = now() + min(0.5, seconds / 4)
        while now() < warmUpEnd {
            for _ in 0..<50 { try body() }
        }
        var ops = 0
        let start = now()
        var elapsed = 0.0
        repeat {
            for _ in 0..<100 { try body() }
            ops += 100
            elapsed = now() - start
        } while elapsed < seconds
        return (elapsed * 1e6 / Double(ops), ops)
    }
}
