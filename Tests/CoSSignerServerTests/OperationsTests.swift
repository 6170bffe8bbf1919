import CoSSignerTestSupport
import CoSSigner
import CoSSignerTesting
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Health, readiness, metrics, the served description; limits (408, 503 when saturated); SIGHUP reloads whole or
/// not at all; SIGTERM finishes the requests in flight and counters never repeat afterwards.
@Suite struct OperationsTests {
    static func start(_ workspace: Workspace, _ extra: [String] = [], makePKI: Bool = true) throws -> ServerProcess {
        if makePKI { try workspace.makeTestPKI() }
        return try ServerProcess(["--parties", workspace.path("pki/parties.toml"), "--counter-store", workspace.path("counters.txt"),
                                  "--listen", "127.0.0.1:0"] + extra, in: workspace)
    }

    /// The repository's openapi.yaml.
    static let openAPIPath = TestPaths.repository("Sources/CoSSignerServer/openapi.yaml")

    @Test func healthReadinessMetricsAndTheServedDescription() throws {
        let workspace = try Workspace()
        let server = try Self.start(workspace)
        let health = try http("GET", server.url + "/healthz")
        #expect(health.status == 200 && health.text == #"{"status":"ok"}"#)
        let ready = try http("GET", server.url + "/readyz")
        #expect(ready.status == 200, "\(ready.text)")
        #expect(ready.json["ready"] as? Bool == true)
        #expect((ready.json["counterStore"] as? [String: Any])?["policy"] as? String == "store")
        #expect((ready.json["registry"] as? [String: Any])?["parties"] as? Int == 2)

        // The served description is exactly the repository's file.
        let spec = try http("GET", server.url + "/openapi.yaml")
        #expect(spec.status == 200)
        #expect(spec.headers["content-type"] == "application/yaml")
        #expect(spec.body == Array(try Data(contentsOf: URL(fileURLWithPath: Self.openAPIPath))))

        // Metrics: requests by route and status, sign and verify latency histograms, refusals by kind, counters issued.
        let request = try workspace.read("pki/requests/ts1-immediate.xml")
        let signed = try http("POST", server.url + "/v1/sign", body: request, contentType: "application/xml")
        #expect(signed.status == 200)
        _ = try http("POST", server.url + "/v1/verify", body: signed.body, contentType: "application/xml")
        _ = try http("POST", server.url + "/v1/sign?mpid=TS2E", body: request, contentType: "application/xml")
        _ = try http("POST", server.url + "/sign", body: Array(#"{"message":"\#(Data(request).base64EncodedString())","preserveCounter":true}"#.utf8))
        let metrics = try http("GET", server.url + "/metrics")
        #expect(metrics.status == 200)
        #expect(metrics.headers["content-type"]?.hasPrefix("text/plain") == true)
        let text = metrics.text
        #expect(metric(text, "cossigner_http_requests_total", labels: ["route": "/v1/sign", "status": "200"]) == 1, "\(text)")
        #expect(metric(text, "cossigner_http_requests_total", labels: ["route": "/v1/sign", "status": "422"]) == 1)
        #expect(metric(text, "cossigner_http_requests_total", labels: ["route": "/sign", "status": "200"]) == 1)
        #expect(metric(text, "cossigner_http_requests_total", labels: ["route": "/readyz", "status": "200"]) == 1)
        #expect(metric(text, "cossigner_sign_duration_seconds_count", labels: ["route": "/v1/sign"]) == 1)
        #expect(metric(text, "cossigner_sign_duration_seconds_count", labels: ["route": "/sign"]) == 1)
        #expect(metric(text, "cossigner_sign_duration_seconds_bucket", labels: ["route": "/v1/sign", "le": "+Inf"]) == 1)
        #expect(metric(text, "cossigner_verify_duration_seconds_count", labels: ["route": "/v1/verify"]) == 1)
        #expect(metric(text, "cossigner_refusals_total", labels: ["kind": "selectionRefused"]) == 1)
        #expect(metric(text, "cossigner_counters_issued_total") == 1)
        #expect(metric(text, "cossigner_registry_generation") == 1)
        // The logs: JSON lines, with the route and status, never the document (request lines are written within 20 ms).
        try waitFor { server.log.contains(#""route":"/v1/sign""#) && server.log.contains(#""status":"422""#) }
        let lines = server.log.split(separator: "\n")
        #expect(!lines.isEmpty && lines.allSatisfy { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) != nil })
        #expect(server.log.contains(#""route":"/v1/sign""#) && server.log.contains(#""status":"422""#))
        #expect(!server.log.contains("MII") && !server.log.contains("UpdateSecurityCredentials") && !server.log.contains("PRIVATE"))
    }

    @Test func readinessAndSigningFollowTheCounterStore() throws {
        let workspace = try Workspace()
        try workspace.makeTestPKI()
        // A store that is not in the documented format: never reset, so nothing can be counted until it is repaired.
        try Array("this is not a counter store\n".utf8).write(to: workspace.path("counters.txt"))
        let server = try Self.start(workspace, makePKI: false)
        let ready = try http("GET", server.url + "/readyz")
        #expect(ready.status == 503, "\(ready.text)")
        #expect(ready.json["ready"] as? Bool == false)
        #expect(ready.headers["retry-after"] == "1")
        let store = try #require(ready.json["counterStore"] as? [String: Any])
        #expect(store["usable"] as? Bool == false && (store["reason"] as? String ?? "").contains("corrupt"), "\(ready.text)")
        let request = try workspace.read("pki/requests/ts1-immediate.xml")
        V1APITests.expectProblem(try http("POST", server.url + "/v1/sign", body: request, contentType: "application/xml"),
                                 503, kind: "unavailable")
        let dcc = try http("POST", server.url + "/sign", body: Array(#"{"message":"\#(Data(request).base64EncodedString())"}"#.utf8))
        #expect(dcc.status == 503 && dcc.json["error"] != nil, "\(dcc.text)")
        // A request that keeps its counter needs no store.
        #expect(try http("POST", server.url + "/v1/sign?preserveCounter=true", body: request, contentType: "application/xml").status == 200)
        // Repaired: ready, and signing counts again.
        try FileManager.default.removeItem(atPath: workspace.path("counters.txt"))
        #expect(try http("GET", server.url + "/readyz").status == 200)
        #expect(try http("POST", server.url + "/v1/sign", body: request, contentType: "application/xml").status == 200)
    }

    @Test func aBodyThatDoesNotArriveInTimeGets408() throws {
        let workspace = try Workspace()
        let server = try Self.start(workspace, ["--request-timeout", "1"])
        let request = try workspace.read("pki/requests/ts1-immediate.xml")
        // The head and part of the body, then nothing: the server answers 408 after 1 s and closes the connection.
        let head = "POST /v1/sign HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/xml\r\nContent-Length: \(request.count)\r\n\r\n"
        let exchange = try rawExchange(port: server.port, send: Array(head.utf8) + request.prefix(200), timeout: 15)
        #expect(exchange.response.hasPrefix("HTTP/1.1 408"), "\(exchange.response)")
        #expect(exchange.response.contains("urn:cos-signer:problem:timeout"))
        #expect(exchange.closed)
        #expect(exchange.seconds >= 0.9 && exchange.seconds < 8, "\(exchange.seconds) s")
        // The server goes on answering.
        #expect(try http("POST", server.url + "/v1/sign", body: request, contentType: "application/xml").status == 200)
    }

    @Test func whenSaturatedTheServerAnswers503AndStaysHealthy() throws {
        let workspace = try Workspace()
        let server = try Self.start(workspace, ["--max-concurrent", "1"])
        let request = try workspace.read("pki/requests/ts1-immediate.xml")
        // One request that takes about 3 s to send holds the one place.
        let slow = try CurlJob("POST", server.url + "/v1/sign", body: request, contentType: "application/xml", extra: ["--limit-rate", "1200"])
        usleep(800_000)
        let refused = try http("POST", server.url + "/v1/sign", body: request, contentType: "application/xml")
        V1APITests.expectProblem(refused, 503, kind: "saturated")
        #expect(refused.headers["retry-after"] == "1")
        let dcc = try http("POST", server.url + "/verify", body: Array(#"{"message":"PGEvPg=="}"#.utf8))
        #expect(dcc.status == 503 && dcc.json["errorCode"] as? String == "saturated", "\(dcc.text)")
        // Operations routes are not counted against the limit.
        #expect(try http("GET", server.url + "/healthz").status == 200)
        #expect(try http("GET", server.url + "/readyz").status == 200)
        #expect(slow.wait().status == 200)
        #expect(try http("POST", server.url + "/v1/sign", body: request, contentType: "application/xml").status == 200)
        #expect(metric(try http("GET", server.url + "/metrics").text, "cossigner_refusals_total", labels: ["kind": "saturated"]) == 2)
    }

    @Test func sighupReloadsTheRegistryWholeOrNotAtAll() throws {
        let workspace = try Workspace()
        let server = try Self.start(workspace)
        let registry = workspace.path("pki/parties.toml")
        let original = try String(contentsOfFile: registry, encoding: .utf8)
        let ts2 = try workspace.read("pki/requests/ts2-immediate.xml")
        func signTS2() throws -> Int { try http("POST", server.url + "/v1/sign?preserveCounter=true", body: ts2, contentType: "application/xml").status }
        func generation() throws -> Int { try http("GET", server.url + "/v1/parties").json["generation"] as? Int ?? 0 }
        func reloads(_ outcome: String) throws -> Double {
            metric(try http("GET", server.url + "/metrics").text, "cossigner_registry_reloads_total", labels: ["outcome": outcome])
        }
        #expect(try signTS2() == 200)

        // A broken registry (ts2's key file is missing): refused and logged; the registry in use is kept.
        try Array(original.replacingOccurrences(of: "keys/ts2-xml-sign.key.pem", with: "keys/missing.key.pem").utf8).write(to: registry)
        server.signal(SIGHUP)
        try waitFor { try reloads("refused") == 1 }
        #expect(server.log.contains("registry reload refused"))
        #expect(server.log.contains("missing.key.pem"))
        #expect(try signTS2() == 200)
        #expect(try generation() == 1)
        // Not TOML at all: the same.
        try Array("[[party]\nid = ".utf8).write(to: registry)
        server.signal(SIGHUP)
        try waitFor { try reloads("refused") == 2 }
        #expect(try signTS2() == 200)

        // A good registry without ts2: loaded whole; ts2's requests are refused from then on.
        let ts1Only = String(original[..<(original.range(of: "[[party]]\nid = \"ts2\"")?.lowerBound ?? original.endIndex)])
        try Array(ts1Only.utf8).write(to: registry)
        server.signal(SIGHUP)
        try waitFor { try generation() == 2 }
        #expect(try reloads("loaded") == 1)
        #expect(try signTS2() == 422)
        let ts1 = try workspace.read("pki/requests/ts1-immediate.xml")
        #expect(try http("POST", server.url + "/v1/sign", body: ts1, contentType: "application/xml").status == 200)
        try waitFor { server.log.contains("registry reloaded") }
        #expect(server.process.isRunning)
    }

    @Test func sigtermFinishesTheRequestsInFlightAndCountersNeverRepeatAfterwards() throws {
        let workspace = try Workspace()
        let server = try Self.start(workspace)
        let request = try workspace.read("pki/requests/ts1-immediate.xml")
        let message = Array(#"{"message":"\#(Data(request).base64EncodedString())"}"#.utf8)
        // Requests that take about 2 s to send, all started before SIGTERM.
        var jobs = [CurlJob]()
        for index in 0..<6 {
            jobs.append(index % 2 == 0
                ? try CurlJob("POST", server.url + "/v1/sign", body: request, contentType: "application/xml", extra: ["--limit-rate", "1800"])
                : try CurlJob("POST", server.url + "/sign", body: message, contentType: "application/json", extra: ["--limit-rate", "2600"]))
        }
        usleep(700_000)
        server.signal(SIGTERM)
        var counters = [UInt64]()
        for (index, job) in jobs.enumerated() {
            let r = job.wait()
            #expect(r.status == 200, "request \(index): \(r.status) \(r.curlError) \(r.text)")
            let signed = index % 2 == 0 ? r.body : (try? r.message()) ?? []
            if let counter = requestCounter(signed) { counters.append(counter) }
        }
        #expect(server.waitForExit(timeout: 30) == 0, "\(server.log)")
        #expect(server.log.contains("stopped"))
        #expect(counters.count == 6 && Set(counters).count == 6)

        // Started again on the same store: every new counter is above every counter issued before.
        let again = try ServerProcess(["--parties", workspace.path("pki/parties.toml"), "--counter-store", workspace.path("counters.txt"),
                                       "--listen", "127.0.0.1:0"], in: workspace, name: "again")
        var later = [UInt64]()
        for _ in 0..<6 {
            let r = try http("POST", again.url + "/v1/sign", body: request, contentType: "application/xml")
            #expect(r.status == 200)
            if let counter = requestCounter(r.body) { later.append(counter) }
        }
        #expect(later.count == 6 && Set(later).count == 6)
        #expect((later.min() ?? 0) > (counters.max() ?? UInt64.max))
        again.stop()
        #expect(again.waitForExit() == 0)
    }
}

/// Polls until `condition` holds (at most 15 s).
func waitFor(_ condition: () throws -> Bool, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let deadline = Date().addingTimeInterval(15)
    while Date() < deadline {
        if try condition() { return }
        usleep(50_000)
    }
    Issue.record("the condition did not hold within 15 s", sourceLocation: sourceLocation)
}
