import CoSSigner
import Foundation

/// A failed request, as the service answers it: RFC 9457 problem details (`application/problem+json`) on our
/// routes, `{"error": "…", "errorCode": "…"}` on the DCC-tool-compatible ones.
///
/// ```json
/// {"type": "urn:cos-signer:problem:selection-refused", "title": "Key selection refused", "status": 422,
///  "detail": "…", "kind": "selectionRefused", "field": null, "reason": "…",
///  "refusal": {"reasons": ["…"], "parties": ["ts1", "ts2"], "mpids": ["TS2E"], "userIDs": ["90-B3-D5-1F-3F-01-00-00"]}}
/// ```
struct Problem: Error, Sendable {
    /// The HTTP status.
    var status: Int
    /// The problem type's last word: `urn:cos-signer:problem:<slug>`.
    var slug: String
    /// A short summary of the problem type.
    var title: String
    /// What happened to this request.
    var detail: String
    /// `CoSSignerError.Kind` for a failure of the signer (`input`, `credentials`, `selectionRefused`,
    /// `signatureInvalid`, `unavailable`), else the service's own: `notAllowed`, `malformed`, `tooLarge`,
    /// `unsupportedMediaType`, `saturated`, `timeout`, `notReady`, `notFound`, `methodNotAllowed`.
    var kind: String
    /// The element or setting concerned (a DUIS path with `sr:` prefixes, a JSON key, a query parameter).
    var field: String?
    /// The signer's reason, in words.
    var reason: String?
    /// For a key selection refused: what conflicts.
    var refusal: KeySelectionRefused?
    /// For 403: the party the request is for, and the client's certificate subject.
    var party: String?
    var client: String?
    /// Extra response headers (`Allow`, `Retry-After`).
    var headers: [(String, String)] = []
    /// Whether the connection should be closed after the answer (a body left unread).
    var closeConnection = false

    var type: String { "urn:cos-signer:problem:\(slug)" }

    init(status: Int, slug: String, title: String, detail: String, kind: String, field: String? = nil, reason: String? = nil) {
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.kind = kind
        self.field = field
        self.reason = reason
    }

    // MARK: The service's own problems

    static func malformed(_ detail: String, field: String? = nil) -> Problem {
        Problem(status: 400, slug: "malformed", title: "Malformed request", detail: detail, kind: "malformed", field: field, reason: detail)
    }

    static func tooLarge(limit: Int) -> Problem {
        var problem = Problem(status: 413, slug: "too-large", title: "Request body too large",
                              detail: "the request body is larger than the limit of \(limit) bytes (--max-body-bytes)", kind: "tooLarge")
        problem.closeConnection = true
        return problem
    }

    static func unsupportedMediaType(_ type: String, expected: String) -> Problem {
        Problem(status: 415, slug: "unsupported-media-type", title: "Unsupported media type",
                detail: "the body is \(type); this route takes \(expected)", kind: "unsupportedMediaType", field: "Content-Type")
    }

    static func timeout(_ limit: Duration) -> Problem {
        var problem = Problem(status: 408, slug: "timeout", title: "Request timeout",
                              detail: "the request body did not arrive within \(limit) (--request-timeout)", kind: "timeout")
        problem.closeConnection = true
        return problem
    }

    static func saturated(_ limit: Int) -> Problem {
        var problem = Problem(status: 503, slug: "saturated", title: "Too many requests in progress",
                              detail: "\(limit) signing and verifying requests are already in progress (--max-concurrent); retry shortly",
                              kind: "saturated")
        problem.headers = [("Retry-After", "1")]
        return problem
    }

    static func notFound(_ path: String) -> Problem {
        Problem(status: 404, slug: "not-found", title: "Not found", detail: "no route \(path): see /openapi.yaml", kind: "notFound")
    }

    static func methodNotAllowed(_ method: String, path: String, allowed: [String]) -> Problem {
        var problem = Problem(status: 405, slug: "method-not-allowed", title: "Method not allowed",
                              detail: "\(path) takes \(allowed.joined(separator: ", ")), not \(method)", kind: "methodNotAllowed")
        problem.headers = [("Allow", allowed.joined(separator: ", "))]
        return problem
    }

    static func notAllowed(party: String, client: String?, detail: String) -> Problem {
        var problem = Problem(status: 403, slug: "not-allowed", title: "Not allowed for this client", detail: detail, kind: "notAllowed",
                              reason: detail)
        problem.party = party
        problem.client = client
        return problem
    }

    // MARK: The signer's failures

    /// A failure of the signer as the status it gets: 400 malformed input (XML not well-formed, too deep, a DTD),
    /// 422 refused by the 6.23 checks or key selection or a credential that cannot sign, 403 a party this client may not
    /// sign for, 503 the counter store unavailable.
    static func from(_ error: CoSSignerError, client: String?) -> Problem {
        let reason = error.reason
        func make(_ status: Int, _ slug: String, _ title: String) -> Problem {
            Problem(status: status, slug: slug, title: title, detail: error.description, kind: error.kind.rawValue, field: error.field,
                    reason: reason)
        }
        switch error.kind {
        case .unavailable:
            var problem = make(503, "counter-store-unavailable", "Counter store unavailable")
            problem.headers = [("Retry-After", "1")]
            return problem
        case .selectionRefused:
            if let notAllowed = error.underlying as? PartyNotAllowed {
                return .notAllowed(party: notAllowed.party, client: client,
                                   detail: "the request (Business Originator \(notAllowed.businessOriginator)) is for Supplier Party \(notAllowed.party), which this client may not sign for; nothing was signed or counted")
            }
            var problem = make(422, "selection-refused", "Key selection refused")
            problem.refusal = error.refusal
            return problem
        case .credentials:
            return make(422, "credentials", "No usable credential")
        case .signatureInvalid:
            return make(422, "signature-invalid", "Signature invalid")
        case .input:
            switch error.underlying {
            case is CounterStoreError:
                var problem = make(503, "counter-store-unavailable", "Counter store unusable")
                problem.kind = "unavailable"
                return problem
            case let request as DUISRequestError where request.rule != .wellFormedXML:
                return make(422, "refused", "Refused by the request checks")
            case is DUISSchemaError, is SigningRefused:
                return make(422, "refused", "Refused by the request checks")
            default:
                return make(400, "malformed", "Malformed request")
            }
        }
    }

    // MARK: Bodies

    /// The RFC 9457 body.
    var problemJSON: [UInt8] {
        var object: [(String, JSONValue)] = [
            ("type", .string(type)), ("title", .string(title)), ("status", .int(status)), ("detail", .string(detail)),
            ("kind", .string(kind)), ("field", field.map(JSONValue.string) ?? .null), ("reason", reason.map(JSONValue.string) ?? .null),
        ]
        if let refusal {
            object.append(("refusal", .object([
                ("reasons", .array(refusal.reasons.map { .string($0.description) })),
                ("parties", .array(refusal.parties.map(JSONValue.string))),
                ("mpids", .array(refusal.mpids.map { .string($0.description) })),
                ("userIDs", .array(refusal.userIDs.map { .string($0.description) })),
            ])))
        }
        if let party { object.append(("party", .string(party))) }
        if status == 403 { object.append(("client", client.map(JSONValue.string) ?? .null)) }
        return JSONValue.object(object).bytes
    }

    /// The status on the DCC-tool-compatible routes: the DCC tool answers every failure of the request itself 400
    /// (refusals included); the service's own statuses (403, 405, 408, 413, 503) stay.
    var dccStatus: Int { status == 422 || status == 415 ? 400 : status }

    /// The DCC tool's error body: `{"error": "…", "errorCode": "…"}` (errorCode: the kind, where the DCC tool gives
    /// its Java exception's class name; duis-sign-wrap reports it as the error's message).
    var dccJSON: [UInt8] {
        // 405 exactly as the DCC tool answers it: Map.of("error", "Method not allowed").
        if status == 405 { return JSONValue.object([("error", .string("Method not allowed"))]).bytes }
        return JSONValue.object([("error", .string(detail)), ("errorCode", .string(kind))]).bytes
    }
}

/// A small JSON writer with keys in the order given (responses are written by hand: no Foundation encoder on the
/// signing path, and key order that stays as documented).
indirect enum JSONValue: Sendable {
    case string(String)
    case int(Int)
    case bool(Bool)
    case null
    case array([JSONValue])
    case object([(String, JSONValue)])

    var bytes: [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(256)
        write(to: &out)
        return out
    }

    func write(to out: inout [UInt8]) {
        switch self {
        case .string(let text): Self.writeString(text, to: &out)
        case .int(let value): out.append(contentsOf: String(value).utf8)
        case .bool(let value): out.append(contentsOf: (value ? "true" : "false").utf8)
        case .null: out.append(contentsOf: "null".utf8)
        case .array(let values):
            out.append(UInt8(ascii: "["))
            for (index, value) in values.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                value.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (index, (key, value)) in members.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                Self.writeString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                value.write(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    static func writeString(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        // The usual case (identifiers, routes, numbers): nothing to escape, copied whole.
        if !text.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            out.append(contentsOf: text.utf8)
            out.append(UInt8(ascii: "\""))
            return
        }
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): out.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0..<0x20, 0x7F:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [0x5C, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// A string of base64 text, written without escaping (the base64 alphabet needs none).
    static func base64Member(_ key: String, _ base64: String) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(base64.utf8.count + key.utf8.count + 8)
        out.append(UInt8(ascii: "{"))
        writeString(key, to: &out)
        out.append(contentsOf: ":\"".utf8)
        out.append(contentsOf: base64.utf8)
        out.append(contentsOf: "\"}".utf8)
        return out
    }
}
