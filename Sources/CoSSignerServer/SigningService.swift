import CoSSigner
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// The routes of `cos-signer-server` (described in `openapi.yaml`, served at `/openapi.yaml`).
enum Route: String, CaseIterable, Sendable {
    // The DCC-tool-compatible API (DCC Boxed's signing tool, `openapi.yaml`).
    case dccSign = "/sign"
    case dccVerify = "/verify"
    // Ours.
    case sign = "/v1/sign"
    case build623 = "/v1/requests/6.23"
    case verify = "/v1/verify"
    case parties = "/v1/parties"
    // Operations.
    case healthz = "/healthz"
    case readyz = "/readyz"
    case metrics = "/metrics"
    case openapi = "/openapi.yaml"

    var method: HTTPRequest.Method {
        switch self {
        case .dccSign, .dccVerify, .sign, .build623, .verify: .post
        case .parties, .healthz, .readyz, .metrics, .openapi: .get
        }
    }

    /// The DCC-tool-compatible routes answer errors as `{"error": "…"}`.
    var isDCC: Bool { self == .dccSign || self == .dccVerify }

    /// Signing and verifying: counted against `--max-concurrent`, bodies read.
    var isWork: Bool { method == .post }

    /// Signing: may need a counter from the counter store.
    var signs: Bool { self == .dccSign || self == .sign || self == .build623 }
}

/// Handles every request: routing, limits, client identity, signing and verifying, answers, metrics and logs.
final class SigningService: Sendable {
    let state: SigningState
    let metrics: ServerMetrics
    let logger: Logger
    let limiter: ConcurrencyLimiter
    let certificates = ClientCertificates()
    let bodies: BodyReader
    let usesTLS: Bool

    init(state: SigningState, metrics: ServerMetrics, logger: Logger) {
        self.state = state
        self.metrics = metrics
        self.logger = logger
        limiter = ConcurrencyLimiter(limit: state.configuration.maxConcurrentRequests)
        bodies = BodyReader(limit: state.configuration.maxBodyBytes, timeout: state.configuration.requestTimeout)
        usesTLS = state.configuration.tls != nil
    }

    var configuration: ServerConfiguration { state.configuration }

    /// What one request did, for its log line and metrics.
    struct Outcome {
        var response: Response
        var status: Int { Int(response.status.code) }
        var metadata: Logger.Metadata = [:]
    }

    func respond(to request: Request, channel: any Channel) async -> Response {
        let started = ContinuousClock.now
        let path = request.uri.path
        let routeLabel: String
        var outcome: Outcome
        if let route = Route(rawValue: path) {
            routeLabel = route.rawValue
            outcome = await handle(route, request, channel: channel)
        } else {
            routeLabel = "other"
            outcome = Outcome(response: Self.problemResponse(.notFound(path), dcc: false))
        }
        metrics.request(route: routeLabel, status: outcome.status)
        let level: Logger.Level = outcome.status >= 500 ? .warning : .info
        guard logger.logLevel <= level else { return outcome.response }
        var metadata = outcome.metadata
        metadata["route"] = .string(routeLabel)
        metadata["method"] = .string(request.method.rawValue)
        metadata["status"] = .stringConvertible(outcome.status)
        metadata["ms"] = .string(Self.milliseconds(ContinuousClock.now - started))
        logger.log(level: level, "request", metadata: metadata)
        return outcome.response
    }

    private func handle(_ route: Route, _ request: Request, channel: any Channel) async -> Outcome {
        guard request.method == route.method else {
            let problem = Problem.methodNotAllowed(request.method.rawValue, path: route.rawValue, allowed: [route.method.rawValue])
            return Outcome(response: Self.problemResponse(problem, dcc: route.isDCC), metadata: ["kind": "methodNotAllowed"])
        }
        guard route.isWork else {
            // `/readyz` asks the counter store whether it is usable: a file to lock or a database to ask, off the
            // event loops (a database's answer may need them; NIO refuses to wait on one).
            guard route == .readyz && state.counters.mayWait else { return operations(route, request) }
            return await withTaskExecutorPreference(globalConcurrentExecutor) { operations(route, request) }
        }
        guard limiter.tryAcquire() else {
            metrics.refusal("saturated")
            return Outcome(response: Self.problemResponse(.saturated(limiter.limit), dcc: route.isDCC), metadata: ["kind": "saturated"])
        }
        metrics.workStarted()
        defer {
            metrics.workEnded()
            limiter.release()
        }
        var metadata: Logger.Metadata = [:]
        do {
            let identity = try await identify(channel)
            if let subject = identity.subject { metadata["client"] = .string(subject.rfc2253) }
            let body = try await bodies.collect(request, on: EventLoopExecutor(channel.eventLoop))
            func work(_ metadata: inout Logger.Metadata) throws(Problem) -> Response {
                switch route {
                case .dccSign: try dccSign(body, identity: identity, metadata: &metadata)
                case .dccVerify: try dccVerify(body, metadata: &metadata)
                case .sign: try sign(request, body, identity: identity, metadata: &metadata)
                case .build623: try build(request, body, identity: identity, metadata: &metadata)
                case .verify: try verify(request, body, metadata: &metadata)
                default: Self.problemResponse(.notFound(route.rawValue), dcc: false)
                }
            }
            let response: Response
            if route.signs && (state.counters.mayWait || state.generation.usesTokenKeys) {
                // A counter from a durable store or a token key may wait on I/O: not on an event loop, where it
                // would hold up every other connection of that loop (and a database's answer may need the loop).
                response = try await withTaskExecutorPreference(globalConcurrentExecutor) { () throws(Problem) -> Response in
                    try work(&metadata)
                }
            } else {
                response = try work(&metadata)
            }
            return Outcome(response: response, metadata: metadata)
        } catch {
            metrics.refusal(error.kind)
            metadata["kind"] = .string(error.kind)
            if let field = error.field { metadata["field"] = .string(field) }
            if let party = error.party { metadata["party"] = .string(party) }
            return Outcome(response: Self.problemResponse(error, dcc: route.isDCC), metadata: metadata)
        }
    }

    // MARK: Who may sign what

    private func identify(_ channel: any Channel) async throws(Problem) -> ClientIdentity {
        guard usesTLS else { return ClientIdentity(subject: nil, parties: nil) }
        let subject: DistinguishedName?
        do {
            subject = try await certificates.subject(of: channel)
        } catch {
            throw Problem(status: 403, slug: "not-allowed", title: "Not allowed for this client",
                          detail: "the client certificate could not be read: \(error)", kind: "notAllowed")
        }
        guard let subject else {
            // The handshake requires a certificate; without one there is no request to answer. Defensive only.
            throw Problem(status: 403, slug: "not-allowed", title: "Not allowed for this client",
                          detail: "no client certificate", kind: "notAllowed")
        }
        guard let clients = state.generation.clients else { return ClientIdentity(subject: subject, parties: nil) }
        return ClientIdentity(subject: subject, parties: clients.client(subject: subject)?.parties ?? [])
    }

    // MARK: The DCC-tool-compatible API

    /// `POST /sign` `{"message": base64, "preserveCounter": bool}` → `{"message": base64 signed}`.
    private func dccSign(_ body: [UInt8], identity: ClientIdentity, metadata: inout Logger.Metadata) throws(Problem) -> Response {
        let parsed = try DCCSignRequest(json: body)
        let xml = try Self.base64(parsed.message, field: "message")
        let signed = try signXML(xml, mpid: nil, call: SigningCall(preserveCounter: parsed.preserveCounter, partyAllowed: identity.partyAllowed),
                                 identity: identity, route: .dccSign, metadata: &metadata)
        return Self.jsonResponse(JSONValue.base64Member("message", Base64.encode(signed.xml)))
    }

    /// `POST /verify` `{"message": base64}` → `{"message": base64 of the verified content without the signature}`.
    private func dccVerify(_ body: [UInt8], metadata: inout Logger.Metadata) throws(Problem) -> Response {
        let parsed = try DCCVerifyRequest(json: body)
        let xml = try Self.base64(parsed.message, field: "message")
        let generation = state.generation
        let started = ContinuousClock.now
        do {
            // The DCC tool's answer carries the reason only: no diagnoses to compute.
            let verified = try generation.signer.verify(xml: xml, source: "message", explain: false)
            metrics.verified(route: Route.dccVerify.rawValue, duration: ContinuousClock.now - started)
            Self.describe(verified, into: &metadata)
            return Self.jsonResponse(JSONValue.base64Member("message", Base64.encode(verified.signedContent)))
        } catch {
            // DCC's tool answers an unsigned DUIS Response (an acknowledgement) with the message as it is.
            if error.kind == .signatureInvalid, UnsignedResponse.isUnsignedResponse(xml) {
                metadata["signature"] = "absent (DUIS Response)"
                var response = Self.jsonResponse(JSONValue.base64Member("message", Base64.encode(xml)))
                response.headers[HTTPField.Name("CoS-Signature")!] = "absent"
                return response
            }
            throw Problem.from(error, client: nil)
        }
    }

    // MARK: Our API

    /// `POST /v1/sign?mpid=TS1E&deterministic=true&preserveCounter=true` with the XML → the signed XML.
    private func sign(_ request: Request, _ body: [UInt8], identity: ClientIdentity, metadata: inout Logger.Metadata) throws(Problem) -> Response {
        try Self.requireMediaType(request, xml: true)
        let query = try QueryParameters(request.uri.query, allowed: QueryParameters.signing)
        let mpid = try query.mpid()
        let call = SigningCall(preserveCounter: try query.bool("preserveCounter") ?? false, deterministic: try query.bool("deterministic"),
                               partyAllowed: identity.partyAllowed)
        let signed = try signXML(body, mpid: mpid, call: call, identity: identity, route: .sign, metadata: &metadata)
        return Self.signedResponse(signed)
    }

    /// `POST /v1/requests/6.23` with the JSON fields of `cos-signer build` → built, checked and signed.
    private func build(_ request: Request, _ body: [UInt8], identity: ClientIdentity, metadata: inout Logger.Metadata) throws(Problem) -> Response {
        try Self.requireMediaType(request, xml: false)
        let query = try QueryParameters(request.uri.query, allowed: QueryParameters.building)
        let mpid = try query.mpid()
        let fields = try BuildRequest(json: body)
        let built: ServiceRequest623
        do {
            built = try ServiceRequest623(fields: fields.fields, naming: .json)
        } catch {
            throw Problem.from(CoSSignerErrorBridge.wrap(error), client: identity.description)
        }
        // A counter given is kept; without one, the server's counter policy sets it.
        let call = SigningCall(preserveCounter: fields.counterGiven, deterministic: try query.bool("deterministic"),
                               partyAllowed: identity.partyAllowed)
        let generation = state.generation
        let started = ContinuousClock.now
        do {
            let signed = try generation.signer.sign(request: built, mpid: mpid, source: "request", call: call)
            metrics.signed(route: Route.build623.rawValue, duration: ContinuousClock.now - started, counterIssued: !call.preserveCounter)
            Self.describe(signed, into: &metadata)
            return Self.signedResponse(signed)
        } catch {
            throw Problem.from(error, client: identity.description)
        }
    }

    /// `POST /v1/verify` with the signed XML → the JSON verdict.
    private func verify(_ request: Request, _ body: [UInt8], metadata: inout Logger.Metadata) throws(Problem) -> Response {
        try Self.requireMediaType(request, xml: true)
        _ = try QueryParameters(request.uri.query, allowed: QueryParameters.none)
        let generation = state.generation
        let started = ContinuousClock.now
        let verdict: JSONValue
        do {
            let verified = try generation.signer.verify(xml: body, source: "request", explain: true)
            metrics.verified(route: Route.verify.rawValue, duration: ContinuousClock.now - started)
            Self.describe(verified, into: &metadata)
            verdict = .object([
                ("valid", .bool(true)),
                ("requestID", verified.requestID.map { .string($0.description) } ?? .null),
                ("party", verified.party.map { .string($0.id) } ?? .null),
                ("userID", verified.userID.map { .string($0.description) } ?? .null),
                ("certificateSerial", .string(verified.certificate.serialNumberDecimal)),
                ("certificateIssuer", .string(verified.certificate.issuer.rfc2253)),
                ("isRequest", .bool(verified.isRequest)),
                ("reason", .null),
                ("field", .null),
                ("signedContent", .string(Base64.encode(verified.signedContent))),
                ("diagnoses", .array([])),
            ])
        } catch where error.kind == .signatureInvalid {
            metrics.verified(route: Route.verify.rawValue, duration: ContinuousClock.now - started)
            metrics.refusal("signatureInvalid")
            metadata["valid"] = "false"
            metadata["kind"] = "signatureInvalid"
            if let field = error.field { metadata["field"] = .string(field) }
            verdict = .object([
                ("valid", .bool(false)), ("requestID", .null), ("party", .null), ("userID", .null), ("certificateSerial", .null),
                ("certificateIssuer", .null), ("isRequest", .null),
                ("reason", .string(error.description)), ("field", error.field.map(JSONValue.string) ?? .null),
                ("signedContent", .null),
                // Why it most likely failed, and the fix: the diagnoses of `cos-signer verify --explain --json`.
                ("diagnoses", .array(error.diagnoses.map { diagnosis in
                    .object([("code", .string(diagnosis.code.rawValue)), ("detail", .string(diagnosis.detail)), ("fix", .string(diagnosis.fix))])
                })),
            ])
        } catch {
            throw Problem.from(error, client: nil)
        }
        return Self.jsonResponse(verdict.bytes)
    }

    // MARK: Operations

    private func operations(_ route: Route, _ request: Request) -> Outcome {
        switch route {
        case .healthz:
            return Outcome(response: Self.jsonResponse(JSONValue.object([("status", .string("ok"))]).bytes))
        case .readyz:
            let generation = state.generation
            let unavailable = state.counters.unavailability()
            let policy: String
            switch state.counters.policy {
            case .store: policy = "store"
            case .backend: policy = "backend"
            case .time: policy = "time"
            case .preserve: policy = "preserve"
            }
            let body = JSONValue.object([
                ("ready", .bool(unavailable == nil)),
                ("registry", .object([
                    ("loaded", .bool(true)), ("parties", .int(generation.registry.parties.count)), ("generation", .int(generation.number)),
                    ("loadedAt", .string(Self.timestamp(generation.loadedAt))),
                ])),
                ("counterStore", .object([
                    ("policy", .string(policy)), ("usable", .bool(unavailable == nil)), ("reason", unavailable.map(JSONValue.string) ?? .null),
                ])),
            ])
            var response = Self.jsonResponse(body.bytes, status: unavailable == nil ? .ok : .serviceUnavailable)
            if unavailable != nil { response.headers[.retryAfter] = "1" }
            return Outcome(response: response)
        case .metrics:
            var response = Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(bytes: metrics.exposition())))
            response.headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Outcome(response: response)
        case .openapi:
            var response = Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(bytes: PackageResources.openapi_yaml)))
            response.headers[.contentType] = "application/yaml"
            return Outcome(response: response)
        case .parties:
            let generation = state.generation
            let parties = generation.registry.parties.map { party -> JSONValue in
                .object([
                    ("id", .string(party.id)), ("name", .string(party.name)),
                    ("mpids", .array(party.mpids.map { .string($0.description) })),
                    ("userIDs", .array(party.userIDs.map { .string($0.description) })),
                    ("credentials", .array(party.credentials.map { credential in
                        .object([
                            ("userID", .string(credential.userID.description)),
                            ("certificateSerial", .string(credential.certificate.serialNumber.description)),
                            ("certificateIssuer", .string(credential.certificate.issuer.rfc2253)),
                            ("notBefore", .string(Self.timestamp(credential.certificate.notBefore))),
                            ("notAfter", .string(Self.timestamp(credential.certificate.notAfter))),
                        ])
                    })),
                ])
            }
            let body = JSONValue.object([
                ("generation", .int(generation.number)), ("loadedAt", .string(Self.timestamp(generation.loadedAt))),
                ("parties", .array(parties)),
            ])
            return Outcome(response: Self.jsonResponse(body.bytes))
        default:
            return Outcome(response: Self.problemResponse(.notFound(route.rawValue), dcc: false))
        }
    }

    // MARK: Signing

    private func signXML(_ xml: [UInt8], mpid: MPID?, call: SigningCall, identity: ClientIdentity, route: Route,
                         metadata: inout Logger.Metadata) throws(Problem) -> SignedRequest {
        let generation = state.generation
        let started = ContinuousClock.now
        do {
            let signed = try generation.signer.sign(xml: xml, mpid: mpid, source: "request", call: call)
            metrics.signed(route: route.rawValue, duration: ContinuousClock.now - started, counterIssued: !call.preserveCounter)
            Self.describe(signed, into: &metadata)
            return signed
        } catch {
            throw Problem.from(error, client: identity.description)
        }
    }

    private static func describe(_ signed: SignedRequest, into metadata: inout Logger.Metadata) {
        metadata["requestID"] = .string(signed.requestID.description)
        metadata["party"] = .string(signed.party.id)
        metadata["userID"] = .string(signed.userID.description)
        metadata["serial"] = .string(signed.certificate.serialNumberDecimal)
    }

    private static func describe(_ verified: VerifiedRequest, into metadata: inout Logger.Metadata) {
        metadata["valid"] = "true"
        if let requestID = verified.requestID { metadata["requestID"] = .string(requestID.description) }
        if let party = verified.party { metadata["party"] = .string(party.id) }
        metadata["serial"] = .string(verified.certificate.serialNumberDecimal)
    }

    // MARK: Answers

    static let requestIDHeader = HTTPField.Name("CoS-Request-ID")!
    static let partyHeader = HTTPField.Name("CoS-Party")!
    static let userIDHeader = HTTPField.Name("CoS-User-ID")!
    static let serialHeader = HTTPField.Name("CoS-Certificate-Serial")!

    static func signedResponse(_ signed: SignedRequest) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/xml"
        headers[requestIDHeader] = signed.requestID.description
        headers[partyHeader] = signed.party.id
        headers[userIDHeader] = signed.userID.description
        headers[serialHeader] = signed.certificate.serialNumberDecimal
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: signed.xml)))
    }

    static func jsonResponse(_ bytes: [UInt8], status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func problemResponse(_ problem: Problem, dcc: Bool) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = dcc ? "application/json" : "application/problem+json"
        for (name, value) in problem.headers {
            if let name = HTTPField.Name(name) { headers[name] = value }
        }
        if problem.closeConnection { headers[.connection] = "close" }
        return Response(status: HTTPResponse.Status(code: dcc ? problem.dccStatus : problem.status), headers: headers,
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: dcc ? problem.dccJSON : problem.problemJSON)))
    }

    /// `application/xml`, `text/xml`, `application/*+xml` (XML routes) or `application/json`, `application/*+json`
    /// (JSON routes); no Content-Type is accepted as the route's own.
    static func requireMediaType(_ request: Request, xml: Bool) throws(Problem) {
        guard let header = request.headers[.contentType] else { return }
        // The usual case, exactly the route's own type: no parsing.
        if header == (xml ? "application/xml" : "application/json") { return }
        let mediaType = header.prefix { $0 != ";" }.drop { $0 == " " || $0 == "\t" }
        let type = mediaType.lastIndex { $0 != " " && $0 != "\t" }.map { mediaType[...$0].lowercased() } ?? ""
        let accepted = xml
            ? type == "application/xml" || type == "text/xml" || (type.hasPrefix("application/") && type.hasSuffix("+xml"))
            : type == "application/json" || (type.hasPrefix("application/") && type.hasSuffix("+json"))
        guard accepted else {
            throw Problem.unsupportedMediaType(type, expected: xml ? "application/xml" : "application/json")
        }
    }

    static func base64(_ text: String, field: String) throws(Problem) -> [UInt8] {
        do {
            return try Base64.decode(text)
        } catch {
            throw Problem.malformed("\(field): \(error.description)", field: field)
        }
    }

    /// `12.345` (milliseconds, three decimals).
    static func milliseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let microseconds = max(0, seconds * 1_000_000 + attoseconds / 1_000_000_000_000)
        let fraction = String(microseconds % 1000)
        return String(microseconds / 1000) + "." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }

    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }
}

/// The query of a request: only the parameters a route takes, each once.
struct QueryParameters {
    private var values: [String: String] = [:]

    /// The parameters of `/v1/sign`, `/v1/requests/6.23` and `/v1/verify`.
    static let signing: Set<String> = ["mpid", "deterministic", "preserveCounter"]
    static let building: Set<String> = ["mpid", "deterministic"]
    static let none: Set<String> = []

    init(_ query: String?, allowed: Set<String>) throws(Problem) {
        guard let query, !query.isEmpty else { return }
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = Self.decode(parts[0]), let value = Self.decode(parts.count > 1 ? parts[1] : "")
            else { throw Problem.malformed("the query is not valid percent-encoding", field: String(parts[0])) }
            guard allowed.contains(name) else {
                let takes = allowed.isEmpty ? "no query parameters" : allowed.sorted().joined(separator: ", ")
                throw Problem.malformed("unknown query parameter '\(name)' (this route takes \(takes))", field: name)
            }
            guard values[name] == nil else { throw Problem.malformed("query parameter '\(name)' is given twice", field: name) }
            values[name] = value
        }
    }

    /// `application/x-www-form-urlencoded` decoding (`+` is a space); nil for invalid percent-encoding.
    static func decode(_ text: Substring) -> String? {
        guard text.utf8.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }) else { return String(text) }
        return String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }

    func bool(_ name: String) throws(Problem) -> Bool? {
        guard let value = values[name] else { return nil }
        switch value {
        case "true": return true
        case "false": return false
        default: throw Problem.malformed("\(name) must be true or false, not '\(value)'", field: name)
        }
    }

    func mpid() throws(Problem) -> MPID? {
        guard let value = values["mpid"] else { return nil }
        do {
            return try MPID(parsing: value)
        } catch {
            throw Problem.malformed("mpid: \(error)", field: "mpid")
        }
    }
}

/// Wraps the library's typed errors of the front API's parts as the one error type.
enum CoSSignerErrorBridge {
    static func wrap(_ error: DUISRequestError) -> CoSSignerError {
        CoSSignerError(error, source: "request")
    }
}
