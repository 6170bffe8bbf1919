import CoSSigner
import Foundation

/// The `manifest.json` of a conformance kit (`TestVectors/`): its version, the test PKI it uses, and
/// every case with its inputs and expected outcome. All paths are relative to the kit directory and
/// use `/`. The JSON Schema is ``ConformanceKit/manifestSchema`` (`manifest.schema.json`).
package struct KitManifest: Codable, Sendable, Equatable {
    /// The value of ``format``.
    package static let formatName = "cossigner-duis-623-conformance-kit"
    /// The manifest version this library writes and reads.
    package static let currentVersion = 1

    /// Always ``formatName``.
    package var format: String
    /// The manifest version (``currentVersion``).
    package var version: Int
    /// What the kit is.
    package var description: String
    /// The program that wrote the kit.
    package var generator: String
    /// The test PKI all keys and certificates come from.
    package var pki: KitPKI
    /// The reason classes used in ``KitExpected/reason``, with their meaning.
    package var reasonClasses: [String: String]
    /// Every case, grouped, in a stable order.
    package var cases: [KitCase]

    package init(format: String = KitManifest.formatName, version: Int = KitManifest.currentVersion, description: String,
                generator: String, pki: KitPKI, reasonClasses: [String: String], cases: [KitCase]) {
        self.format = format
        self.version = version
        self.description = description
        self.generator = generator
        self.pki = pki
        self.reasonClasses = reasonClasses
        self.cases = cases
    }
}

/// How the kit's test PKI was made (`cos-signer testpki DIR --parties N --seed SEED`).
package struct KitPKI: Codable, Sendable, Equatable {
    /// The directory holding it, relative to the kit.
    package var directory: String
    /// The seed every key and serial is derived from.
    package var seed: String
    /// The number of parties.
    package var parties: Int
    /// The command that recreates it byte for byte.
    package var command: String
}

/// The groups of cases.
package enum KitGroup: String, Codable, Sendable, CaseIterable {
    /// Sign a request deterministically; the output bytes, DigestValue and SignatureValue are exact.
    case signing
    /// Verify a document; valid, or invalid with the reason class.
    case verification
    /// Choose the Supplier Party that signs a request, or refuse.
    case keySelection
    /// Validate a 6.23 request; valid, or the field and rule it breaks.
    case requestValidation
    /// Verify a document broken in one known way (built from the DCC Boxed templates and keys): invalid with
    /// the reason class, and the diagnosis codes `verify --explain` gives, the expected one first.
    case explain
    /// Verify a DCC message (response, acknowledgement, alert) against the DSP's XML signing certificate
    /// (OU 89), as DCC's own tool writes them: valid, or invalid with the reason class (`unsigned` for an
    /// acknowledgement).
    case responses
}

/// One case of the kit.
package struct KitCase: Codable, Sendable, Equatable {
    /// Unique id, `<group>/<name>`.
    package var id: String
    /// The group.
    package var group: KitGroup
    /// One line saying what the case shows.
    package var description: String
    /// What goes in.
    package var inputs: KitInputs
    /// What must come out.
    package var expected: KitExpected

    package init(id: String, group: KitGroup, description: String, inputs: KitInputs, expected: KitExpected) {
        self.id = id
        self.group = group
        self.description = description
        self.inputs = inputs
        self.expected = expected
    }
}

/// The inputs of a case. Which fields are present depends on the group (see the schema).
package struct KitInputs: Codable, Sendable, Equatable {
    /// signing, keySelection, requestValidation: the (unsigned) request file.
    package var request: String?
    /// signing: the PKCS#8 PEM private key.
    package var key: String?
    /// signing: the signing certificate (named in KeyInfo); verification: the only certificate the
    /// verifier is given.
    package var certificate: String?
    /// signing: keep the input's whitespace between elements (otherwise the output is compact).
    package var keepWhitespace: Bool?
    /// verification: the document to verify.
    package var document: String?
    /// verification: the time (RFC 3339, UTC) at which the KeyInfo certificate must be valid. Absent:
    /// verification does not depend on time.
    package var at: String?
    /// keySelection: the party registry (TOML).
    package var registry: String?
    /// keySelection: registration data (CSV `mpxn,mpid,effective_from`).
    package var registration: String?
    /// keySelection: the MPID the request is sent under.
    package var mpid: String?
    /// keySelection: the date registration data is read at (YYYY-MM-DD).
    package var date: String?
    /// requestValidation: "now" for the future-dating check (RFC 3339, UTC).
    package var now: String?
    /// requestValidation: every certificate must be valid at this time (RFC 3339, UTC).
    package var certificatesValidAt: String?

    package init(request: String? = nil, key: String? = nil, certificate: String? = nil, keepWhitespace: Bool? = nil,
                document: String? = nil, at: String? = nil, registry: String? = nil, registration: String? = nil,
                mpid: String? = nil, date: String? = nil, now: String? = nil, certificatesValidAt: String? = nil) {
        self.request = request
        self.key = key
        self.certificate = certificate
        self.keepWhitespace = keepWhitespace
        self.document = document
        self.at = at
        self.registry = registry
        self.registration = registration
        self.mpid = mpid
        self.date = date
        self.now = now
        self.certificatesValidAt = certificatesValidAt
    }
}

/// The outcome a case expects.
package struct KitExpected: Codable, Sendable, Equatable {
    /// `valid`, `invalid` or `refused`.
    package enum Outcome: String, Codable, Sendable {
        case valid, invalid, refused
    }

    /// The outcome.
    package var outcome: Outcome
    /// invalid (verification): the reason class; refused (keySelection): the refusal reason.
    package var reason: String?
    /// refused / invalid: the exit code `cos-signer` gives (2 input, 4 selection refused, 10 signature invalid).
    package var exitCode: Int?
    /// signing: the exact expected signed document.
    package var output: String?
    /// signing: the expected base64 DigestValue.
    package var digestValue: String?
    /// signing: the expected base64 SignatureValue (RFC 6979 nonce).
    package var signatureValue: String?
    /// keySelection (valid): the id of the chosen party.
    package var party: String?
    /// keySelection (valid): the User ID whose credential signs (the request's Business Originator).
    package var userID: String?
    /// requestValidation (invalid): the element, as a path from the root with `sr:` prefixes.
    package var field: String?
    /// requestValidation (invalid): the rule broken.
    package var rule: String?
    /// explain (and invalid responses): the diagnosis codes (``SignatureDiagnosis/Code``) the verifier gives, the
    /// expected one first. A verifier passes when its first code is the first one here and it gives every code
    /// listed (it may give more).
    package var diagnoses: [String]?

    package init(outcome: Outcome, reason: String? = nil, exitCode: Int? = nil, output: String? = nil,
                digestValue: String? = nil, signatureValue: String? = nil, party: String? = nil, userID: String? = nil,
                field: String? = nil, rule: String? = nil, diagnoses: [String]? = nil) {
        self.outcome = outcome
        self.reason = reason
        self.exitCode = exitCode
        self.output = output
        self.digestValue = digestValue
        self.signatureValue = signatureValue
        self.party = party
        self.userID = userID
        self.field = field
        self.rule = rule
        self.diagnoses = diagnoses
    }
}

/// Why a kit could not be made, read or run.
public struct KitError: ClassifiedError, Equatable {
    /// The file or directory concerned.
    public let path: String
    /// Why.
    public let reason: String
    package let failureClass: FailureClass

    package init(path: String, reason: String, failureClass: FailureClass = .input) {
        self.path = path
        self.reason = reason
        self.failureClass = failureClass
    }

    public var description: String { "\(path): \(reason)" }
}

extension KitManifest {
    /// The manifest as deterministic JSON: keys sorted, two-space indentation, `/` unescaped, one
    /// final line feed.
    package func jsonBytes() throws(KitError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        do {
            return Array(try encoder.encode(self)) + [0x0A]
        } catch {
            throw KitError(path: ConformanceKit.manifestName, reason: "cannot encode the manifest: \(error)", failureClass: .input)
        }
    }

    /// Reads `manifest.json` of the kit in `directory`.
    /// - Throws: ``KitError`` if it is missing, not JSON, of another format or of an unknown version.
    package static func load(directory: String) throws(KitError) -> KitManifest {
        let path = directory + "/" + ConformanceKit.manifestName
        let bytes: [UInt8]
        do {
            bytes = try Files.read(path, maxBytes: 16 << 20)
        } catch {
            throw KitError(path: path, reason: error.reason)
        }
        let manifest: KitManifest
        do {
            manifest = try JSONDecoder().decode(KitManifest.self, from: Data(bytes))
        } catch {
            throw KitError(path: path, reason: "not a kit manifest: \(error)")
        }
        guard manifest.format == formatName else {
            throw KitError(path: path, reason: "format is '\(manifest.format)', expected '\(formatName)'")
        }
        guard manifest.version == currentVersion else {
            throw KitError(path: path, reason: "manifest version \(manifest.version) is not supported (this program reads version \(currentVersion))")
        }
        var seen = Set<String>()
        for c in manifest.cases where !seen.insert(c.id).inserted {
            throw KitError(path: path, reason: "case id '\(c.id)' appears twice")
        }
        return manifest
    }
}
