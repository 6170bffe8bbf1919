import CoSSignerTestSupport
import CoSSigner
import CoSSignerTesting
import Foundation
import Testing

/// `/v1`: XML in and out with the signer's headers, a 6.23 built from JSON, the verification verdict, the parties;
/// errors as RFC 9457 problem details.
@Suite struct V1APITests {
    static func start(_ workspace: Workspace, _ extra: [String] = []) throws -> ServerProcess {
        try workspace.makeTestPKI()
        return try ServerProcess(["--parties", workspace.path("pki/parties.toml"), "--counter-store", workspace.path("counters.txt"),
                                  "--listen", "127.0.0.1:0"] + extra, in: workspace)
    }

    static func expectProblem(_ r: HTTPResult, _ status: Int, kind: String, field: String? = nil,
                              sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.status == status, "\(r.text)", sourceLocation: sourceLocation)
        #expect(r.headers["content-type"] == "application/problem+json", sourceLocation: sourceLocation)
        let problem = r.json
        #expect((problem["type"] as? String)?.hasPrefix("urn:cos-signer:problem:") == true, "\(r.text)", sourceLocation: sourceLocation)
        #expect(problem["status"] as? Int == status, sourceLocation: sourceLocation)
        #expect(!(problem["title"] as? String ?? "").isEmpty && !(problem["detail"] as? String ?? "").isEmpty, sourceLocation: sourceLocation)
        #expect(problem["kind"] as? String == kind, "\(r.text)", sourceLocation: sourceLocation)
        if let field { #expect(problem["field"] as? String == field, "\(r.text)", sourceLocation: sourceLocation) }
    }

    @Test func signGivesTheSignedXMLWithItsHeadersAndTheCLIsBytesWhenDeterministic() throws {
        let workspace = try Workspace()
        let server = try Self.start(workspace)
        for party in ["ts1", "ts2"] {
            let input = workspace.path("pki/requests/\(party)-immediate.xml")
            let request = try workspace.read("pki/requests/\(party)-immediate.xml")
            let r = try http("POST", server.url + "/v1/sign?deterministic=true&preserveCounter=true", body: request, contentType: "application/xml")
            #expect(r.status == 200, "\(r.text)")
            #expect(r.headers["content-type"] == "application/xml")
            #expect(r.headers["cos-party"] == party)
            let userID = party == "ts1" ? "90-B3-D5-1F-3F-01-00-00" : "90-B3-D5-1F-3F-02-00-00"
            #expect(r.headers["cos-user-id"] == userID)
            #expect(r.headers["cos-request-id"]?.hasPrefix(userID + ":") == true)
            #expect(r.headers["cos-request-id"]?.hasSuffix(":\(requestCounter(request) ?? 0)") == true)
            let certificate = try Certificate(contentsOfFile: workspace.path("pki/keys/\(party)-xml-sign.pem"))
            #expect(r.headers["cos-certificate-serial"] == certificate.serialNumber.description)
            // Byte for byte what `cos-signer sign --deterministic` gives for the same input.
            let out = workspace.path("cli-\(party).xml")
            let cli = try TestProcess.run(Binaries.cli, ["sign", "--parties", workspace.path("pki/parties.toml"), "--deterministic", "-o", out, input])
            #expect(cli.status == 0, "\(cli.stderr)")
            #expect(r.body == (try workspace.read("cli-\(party).xml")))
            #expect(try xmlsec1Verifies(r.body, certificate: workspace.path("pki/keys/\(party)-xml-sign.pem"), in: workspace))
        }
        // By MPID, with the counter from the durable store; xmlsec1 verifies it.
        let request = try workspace.read("pki/requests/ts1-future-dated.xml")
        let r = try http("POST", server.url + "/v1/sign?mpid=TS1G", body: request, contentType: "text/xml; charset=utf-8")
        #expect(r.status == 200, "\(r.text)")
        #expect(requestCounter(r.body) != requestCounter(request))
        #expect(r.headers["cos-request-id"]?.hasSuffix(":\(requestCounter(r.body) ?? 0)") == true)
        #expect(try xmlsec1Verifies(r.body, certificate: workspace.path("pki/keys/ts1-xml-sign.pem"), in: workspace))
        let store = try String(contentsOfFile: workspace.path("counters.txt"), encoding: .utf8)
        #expect(store.contains("90-B3-D5-1F-3F-01-00-00"))
    }

    @Test func signErrorsAreProblemDetailsWithTheirStatus() throws {
        let workspace = try Workspace()
        let server = try Self.start(workspace, ["--max-body-bytes", "4096"])
        let request = try workspace.read("pki/requests/ts1-immediate.xml")
        func sign(_ body: [UInt8], query: String = "", type: String? = "application/xml") throws -> HTTPResult {
            try http("POST", server.url + "/v1/sign" + query, body: body, contentType: type)
        }
        // 400: not well-formed XML, a DTD, an unknown or invalid query parameter, an invalid MPID.
        Self.expectProblem(try sign(Array("<sr:Request".utf8)), 400, kind: "input")
        Self.expectProblem(try sign(Array("<!DOCTYPE a [<!ENTITY e 'x'>]><a>&e;</a>".utf8)), 400, kind: "input")
        Self.expectProblem(try sign(request, query: "?mpids=TS1E"), 400, kind: "malformed", field: "mpids")
        Self.expectProblem(try sign(request, query: "?deterministic=yes"), 400, kind: "malformed", field: "deterministic")
        Self.expectProblem(try sign(request, query: "?mpid=TOOLONG"), 400, kind: "malformed", field: "mpid")
        // 415: a body of another type.
        Self.expectProblem(try sign(request, type: "application/json"), 415, kind: "unsupportedMediaType", field: "Content-Type")
        // 422: refused by the 6.23 checks (the field named), by key selection (the refusal's parties and identifiers).
        let cv5 = request.utf8String.replacingOccurrences(of: "<sr:CommandVariant>1<", with: "<sr:CommandVariant>5<")
        Self.expectProblem(try sign(Array(cv5.utf8)), 422, kind: "input", field: "sr:Header/sr:CommandVariant")
        let split = try sign(request, query: "?mpid=TS2E")
        Self.expectProblem(split, 422, kind: "selectionRefused")
        let refusal = try #require(split.json["refusal"] as? [String: Any])
        #expect(Set(refusal["parties"] as? [String] ?? []) == ["ts1", "ts2"], "\(split.text)")
        #expect((refusal["mpids"] as? [String] ?? []).contains("TS2E"))
        #expect((refusal["userIDs"] as? [String] ?? []).contains("90-B3-D5-1F-3F-01-00-00"))
        #expect(!(refusal["reasons"] as? [String] ?? []).isEmpty)
        let unknown = try sign(request, query: "?mpid=ZZZZ")
        Self.expectProblem(unknown, 422, kind: "selectionRefused")
        // A request that is not a 6.23 gets its counter rewritten only in a 6.23: refused unless the counter is kept.
        let other = try workspace.read("pki/requests/ts1-immediate.xml").utf8String
            .replacingOccurrences(of: "6.23</sr:ServiceReference>", with: "6.15</sr:ServiceReference>")
        Self.expectProblem(try sign(Array(other.utf8)), 422, kind: "input")
        // 413: over the body limit (the test server's is 4 KiB), with or without a Content-Length.
        let big = Array(repeating: UInt8(ascii: " "), count: 5000) + request
        Self.expectProblem(try sign(big), 413, kind: "tooLarge")
        Self.expectProblem(try http("POST", server.url + "/v1/sign", body: big, contentType: "application/xml",
                                    extra: ["-H", "Transfer-Encoding: chunked"]), 413, kind: "tooLarge")
        // 405 and 404.
        let get = try http("GET", server.url + "/v1/sign")
        Self.expectProblem(get, 405, kind: "methodNotAllowed")
        #expect(get.headers["allow"] == "POST")
        Self.expectProblem(try http("GET", server.url + "/v2/sign"), 404, kind: "notFound")
        // Nothing above used a counter.
        #expect(!FileManager.default.fileExists(atPath: workspace.path("counters.txt")))
    }

    @Test func a623BuiltFromJSONFieldsIsCheckedAndSignedAsTheCLIBuildsIt() throws {
        let workspace = try Workspace()
        let server = try Self.start(workspace)
        func pem(_ name: String) throws -> String { try String(contentsOfFile: workspace.path("pki/keys/\(name).pem"), encoding: .utf8) }
        var fields: [String: Any] = [
            "originator": "90-B3-D5-1F-3F-01-00-00", "target": "00-DB-12-34-56-78-90-A0", "counter": "1006", "floor": 0,
            "topupFloor": "0", "signingCert": try pem("ts1-ds"), "keyAgreementCert": try pem("ts1-ka"), "topupCert": try pem("ts1-ka-topup"),
            "pathCert": [try pem("issuing-ca")], "mpxn": "1312345678333", "commandVariant": 1, "applyCpvChecks": true,
        ]
        func build(_ fields: [String: Any], query: String = "?deterministic=true") throws -> HTTPResult {
            try http("POST", server.url + "/v1/requests/6.23" + query, body: Array(try JSONSerialization.data(withJSONObject: fields)),
                     contentType: "application/json")
        }
        let r = try build(fields)
        #expect(r.status == 200, "\(r.text)")
        #expect(r.headers["cos-request-id"] == "90-B3-D5-1F-3F-01-00-00:00-DB-12-34-56-78-90-A0:1006")
        #expect(r.headers["cos-party"] == "ts1")
        // The same bytes as `cos-signer build ... --key --cert --deterministic`.
        let out = workspace.path("built.xml")
        let cli = try TestProcess.run(Binaries.cli, [
            "build", "--originator", "90-B3-D5-1F-3F-01-00-00", "--target", "00-DB-12-34-56-78-90-A0", "--counter", "1006",
            "--floor", "0", "--topup-floor", "0", "--signing-cert", workspace.path("pki/keys/ts1-ds.pem"),
            "--key-agreement-cert", workspace.path("pki/keys/ts1-ka.pem"), "--topup-cert", workspace.path("pki/keys/ts1-ka-topup.pem"),
            "--path-cert", workspace.path("pki/keys/issuing-ca.pem"), "--mpxn", "1312345678333",
            "--key", workspace.path("pki/keys/ts1-xml-sign.key.pem"), "--cert", workspace.path("pki/keys/ts1-xml-sign.pem"),
            "--deterministic", "-o", out])
        #expect(cli.status == 0, "\(cli.stderr)")
        #expect(r.body == (try workspace.read("built.xml")))
        #expect(try xmlsec1Verifies(r.body, certificate: workspace.path("pki/keys/ts1-xml-sign.pem"), in: workspace))

        // Without a counter, the server's counter policy sets one.
        fields["counter"] = nil
        let counted = try build(fields, query: "")
        #expect(counted.status == 200, "\(counted.text)")
        #expect((requestCounter(counted.body) ?? 0) > 1_700_000_000_000)

        // 422 names the JSON field; 400 for JSON that is not of the documented shape; 415 for another body type.
        var bad = fields
        bad["floor"] = "9223372036854775808"
        V1APITests.expectProblem(try build(bad), 422, kind: "input")
        bad = fields
        bad["originator"] = "90-B3"
        V1APITests.expectProblem(try build(bad), 422, kind: "input", field: "originator")
        bad = fields
        bad["pathCert"] = ["not a certificate"]
        V1APITests.expectProblem(try build(bad), 422, kind: "input", field: "pathCert[1]")
        bad = fields
        bad["signingCert"] = try pem("ts1-ka")  // a key agreement certificate in the signing slot
        V1APITests.expectProblem(try build(bad), 422, kind: "input")
        bad = fields
        bad["mpxn"] = nil
        V1APITests.expectProblem(try build(bad), 400, kind: "malformed", field: "mpxn")
        bad = fields
        bad["colour"] = "blue"
        V1APITests.expectProblem(try build(bad), 400, kind: "malformed", field: "colour")
        bad = fields
        bad["counter"] = -1
        V1APITests.expectProblem(try build(bad), 400, kind: "malformed", field: "counter")
        V1APITests.expectProblem(try http("POST", server.url + "/v1/requests/6.23", body: Array("{".utf8), contentType: "application/json"),
                                 400, kind: "malformed")
        V1APITests.expectProblem(try http("POST", server.url + "/v1/requests/6.23", body: Array("{}".utf8), contentType: "application/xml"),
                                 415, kind: "unsupportedMediaType")
        // Another party's MPID: refused by key selection.
        V1APITests.expectProblem(try build(fields, query: "?mpid=TS2G"), 422, kind: "selectionRefused")
    }

    @Test func verifyGivesAVerdict() throws {
        let workspace = try Workspace()
        let server = try Self.start(workspace)
        let request = try workspace.read("pki/requests/ts2-immediate.xml")
        let signed = try http("POST", server.url + "/v1/sign", body: request, contentType: "application/xml")
        #expect(signed.status == 200)
        let r = try http("POST", server.url + "/v1/verify", body: signed.body, contentType: "application/xml")
        #expect(r.status == 200, "\(r.text)")
        #expect(r.headers["content-type"] == "application/json")
        let verdict = r.json
        #expect(verdict["valid"] as? Bool == true)
        #expect(verdict["requestID"] as? String == signed.headers["cos-request-id"])
        #expect(verdict["party"] as? String == "ts2")
        #expect(verdict["userID"] as? String == "90-B3-D5-1F-3F-02-00-00")
        #expect(verdict["certificateSerial"] as? String == signed.headers["cos-certificate-serial"])
        #expect(verdict["reason"] is NSNull)
        #expect((verdict["diagnoses"] as? [Any])?.isEmpty == true)
        let content = try #require(Data(base64Encoded: verdict["signedContent"] as? String ?? "")).map { $0 }
        let registry = try PartyRegistry(contentsOfFile: workspace.path("pki/parties.toml"), loader: .files)
        #expect(content == (try SupplierSigner(registry: registry).verify(xml: signed.body)).signedContent)

        // A tampered document: a verdict, not valid, with the reason and the part at fault.
        let tampered = signed.text.replacingOccurrences(of: "<sr:SupplierFloorSeqNumber>0<", with: "<sr:SupplierFloorSeqNumber>1<")
        let invalid = try http("POST", server.url + "/v1/verify", body: Array(tampered.utf8), contentType: "application/xml")
        #expect(invalid.status == 200, "\(invalid.text)")
        #expect(invalid.json["valid"] as? Bool == false)
        #expect(!(invalid.json["reason"] as? String ?? "").isEmpty)
        #expect(invalid.json["field"] as? String == "referenceDigest", "\(invalid.text)")
        #expect(invalid.json["signedContent"] is NSNull)
        // With the diagnoses of `cos-signer verify --explain` (VerifyDiagnosesTests has them all).
        let diagnoses = invalid.json["diagnoses"] as? [[String: String]] ?? []
        #expect(diagnoses.first?["code"] == "content-changed", "\(invalid.text)")
        // An unsigned request: not valid either.
        let unsigned = try http("POST", server.url + "/v1/verify", body: request, contentType: "application/xml")
        #expect(unsigned.json["valid"] as? Bool == false)
        // Not XML: 400.
        V1APITests.expectProblem(try http("POST", server.url + "/v1/verify", body: Array("<a".utf8), contentType: "application/xml"),
                                 400, kind: "input")
        V1APITests.expectProblem(try http("POST", server.url + "/v1/verify?x=1", body: signed.body, contentType: "application/xml"),
                                 400, kind: "malformed", field: "x")
    }

    @Test func partiesListsIdentifiersAndCertificatesButNoKeyMaterial() throws {
        let workspace = try Workspace()
        let server = try Self.start(workspace)
        let r = try http("GET", server.url + "/v1/parties")
        #expect(r.status == 200, "\(r.text)")
        #expect(r.json["generation"] as? Int == 1)
        let parties = try #require(r.json["parties"] as? [[String: Any]])
        #expect(parties.map { $0["id"] as? String } == ["ts1", "ts2"])
        #expect(parties[0]["mpids"] as? [String] == ["TS1E", "TS1G"])
        #expect(parties[0]["userIDs"] as? [String] == ["90-B3-D5-1F-3F-01-00-00"])
        let credential = try #require((parties[0]["credentials"] as? [[String: Any]])?.first)
        let certificate = try Certificate(contentsOfFile: workspace.path("pki/keys/ts1-xml-sign.pem"))
        #expect(credential["certificateSerial"] as? String == certificate.serialNumber.description)
        #expect(credential["notAfter"] as? String == "2124-12-31T23:59:59Z")
        #expect(!r.text.contains("PRIVATE") && !r.text.contains(".key.pem") && !r.text.contains(workspace.url.path))
    }
}
