import CoSSignerTestSupport
import CoSSigner
import CoSSignerTesting
import Foundation
import Testing

/// `POST /sign` and `POST /verify` as DCC Boxed's signing tool answers them (its openapi.yaml and Server.java), so
/// that an adapter pointed at DCC's tool (duis-sign-wrap) works unchanged.
@Suite struct DCCCompatibleAPITests {
    @Test func signAndVerifyWithTheDCCToolsShapes() throws {
        let workspace = try Workspace()
        try workspace.makeTestPKI()
        let server = try ServerProcess(["--parties", workspace.path("pki/parties.toml"), "--counter-store", workspace.path("counters.txt"),
                                        "--listen", "127.0.0.1:0"], in: workspace)
        let request = try workspace.read("pki/requests/ts1-immediate.xml")
        let original = try #require(requestCounter(request))
        func sign(_ json: String) throws -> HTTPResult {
            try http("POST", server.url + "/sign", body: Array(json.utf8), contentType: "application/json")
        }
        let message = Data(request).base64EncodedString()

        // preserveCounter: true (also as the string "true", which DCC's tool reads so) keeps the counter.
        for flag in ["true", "\"true\"", "\"TRUE\""] {
            let r = try sign(#"{"message": "\#(message)", "preserveCounter": \#(flag)}"#)
            #expect(r.status == 200, "\(r.text)")
            #expect(r.headers["content-type"] == "application/json")
            let object = r.json
            #expect(object.keys.sorted() == ["message"])
            let signed = try r.message()
            #expect(requestCounter(signed) == original)
            #expect(try xmlsec1Verifies(signed, certificate: workspace.path("pki/keys/ts1-xml-sign.pem"), in: workspace))
        }
        // preserveCounter false or absent (the DCC tool's default): the server's counter policy sets a new counter.
        var counters = [UInt64]()
        for body in [#"{"message": "\#(message)", "preserveCounter": false}"#, #"{"message": "\#(message)"}"#,
                     #"{"preserveCounter": "false", "message": "\#(message)", "other": 1}"#] {
            let r = try sign(body)
            #expect(r.status == 200, "\(r.text)")
            let signed = try r.message()
            let counter = try #require(requestCounter(signed))
            #expect(counter != original && counter > 1_700_000_000_000)
            counters.append(counter)
            #expect(try xmlsec1Verifies(signed, certificate: workspace.path("pki/keys/ts1-xml-sign.pem"), in: workspace))
        }
        #expect(counters == counters.sorted() && Set(counters).count == counters.count)

        // The key is the Business Originator's own: ts2's request is signed with ts2's credential.
        let ts2 = try workspace.read("pki/requests/ts2-immediate.xml")
        let r2 = try sign(#"{"message": "\#(Data(ts2).base64EncodedString())", "preserveCounter": true}"#)
        let signed2 = try r2.message()
        #expect(try xmlsec1Verifies(signed2, certificate: workspace.path("pki/keys/ts2-xml-sign.pem"), in: workspace))

        // verify answers the verified content without the signature: exactly the signed content the library gives.
        let v = try http("POST", server.url + "/verify", body: Array(#"{"message": "\#(Data(signed2).base64EncodedString())"}"#.utf8),
                         contentType: "application/json")
        #expect(v.status == 200, "\(v.text)")
        #expect(v.headers["content-type"] == "application/json")
        let content = try v.message()
        #expect(!content.utf8String.contains("Signature"))
        let registry = try PartyRegistry(contentsOfFile: workspace.path("pki/parties.toml"), loader: .files)
        #expect(content == (try SupplierSigner(registry: registry).verify(xml: signed2)).signedContent)
        #expect(v.headers["cos-signature"] == nil)
    }

    @Test func errorsAreTheDCCToolsErrorObjectWith400And405() throws {
        let workspace = try Workspace()
        try workspace.makeTestPKI()
        let server = try ServerProcess(["--parties", workspace.path("pki/parties.toml"), "--listen", "127.0.0.1:0"], in: workspace)
        let request = try workspace.read("pki/requests/ts1-immediate.xml")
        func post(_ route: String, _ json: String) throws -> HTTPResult {
            try http("POST", server.url + route, body: Array(json.utf8), contentType: "application/json")
        }
        func expectError(_ r: HTTPResult, _ status: Int, _ code: String, sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(r.status == status, "\(r.text)", sourceLocation: sourceLocation)
            #expect(r.headers["content-type"] == "application/json", sourceLocation: sourceLocation)
            #expect(Set(r.json.keys) == ["error", "errorCode"], "\(r.text)", sourceLocation: sourceLocation)
            #expect(r.json["errorCode"] as? String == code, "\(r.text)", sourceLocation: sourceLocation)
            #expect(!(r.json["error"] as? String ?? "").isEmpty, sourceLocation: sourceLocation)
        }
        // Every other method: 405 with exactly the DCC tool's body.
        for route in ["/sign", "/verify"] {
            for method in ["GET", "PUT", "DELETE", "PATCH"] {
                let r = try http(method, server.url + route)
                #expect(r.status == 405)
                #expect(r.text == #"{"error":"Method not allowed"}"#)
                #expect(r.headers["content-type"] == "application/json")
            }
        }
        expectError(try post("/sign", "not json"), 400, "malformed")
        expectError(try post("/sign", #"{"preserveCounter": true}"#), 400, "malformed")
        expectError(try post("/sign", #"{"message": 12}"#), 400, "malformed")
        expectError(try post("/sign", #"{"message": "%%%"}"#), 400, "malformed")
        expectError(try post("/sign", #"{"message": "\#(Data(request).base64EncodedString())", "preserveCounter": 1}"#), 400, "malformed")
        expectError(try post("/sign", #"{"message": "\#(Data(request).base64EncodedString())", "preserveCounter": null}"#), 400, "malformed")
        expectError(try post("/sign", #"{"message": "\#(Data("<a>".utf8).base64EncodedString())"}"#), 400, "input")
        // A request the checks refuse, and one whose originator no party holds: 400 as in DCC's tool.
        let broken = request.utf8String.replacingOccurrences(of: "<sr:CommandVariant>1<", with: "<sr:CommandVariant>5<")
        expectError(try post("/sign", #"{"message": "\#(Data(broken.utf8).base64EncodedString())"}"#), 400, "input")
        let stranger = request.utf8String.replacingOccurrences(of: "<sr:RequestID>90-B3-D5-1F-3F-01-00-00", with: "<sr:RequestID>90-B3-D5-1F-3F-09-00-00")
        expectError(try post("/sign", #"{"message": "\#(Data(stranger.utf8).base64EncodedString())", "preserveCounter": true}"#), 400, "selectionRefused")

        // verify: an unsigned request, a tampered signature.
        expectError(try post("/verify", #"{"message": "\#(Data(request).base64EncodedString())"}"#), 400, "signatureInvalid")
        let signed = try http("POST", server.url + "/v1/sign?preserveCounter=true", body: request, contentType: "application/xml")
        let tampered = signed.text.replacingOccurrences(of: "<sr:SupplierFloorSeqNumber>0<", with: "<sr:SupplierFloorSeqNumber>1<")
        expectError(try post("/verify", #"{"message": "\#(Data(tampered.utf8).base64EncodedString())"}"#), 400, "signatureInvalid")
        expectError(try post("/verify", "[]"), 400, "malformed")
    }

    @Test func anUnsignedDUISResponseIsAnsweredAsItIsAsDCCsToolDoes() throws {
        let workspace = try Workspace()
        try workspace.makeTestPKI()
        let server = try ServerProcess(["--parties", workspace.path("pki/parties.toml"), "--listen", "127.0.0.1:0"], in: workspace)
        let acknowledgement = """
            <?xml version="1.0" encoding="UTF-8"?><sr:Response xmlns:sr="http://www.dccinterface.co.uk/ServiceUserGateway" \
            schemaVersion="5.4"><sr:Header><sr:RequestID>90-B3-D5-1F-3F-01-00-00:00-DB-12-34-56-78-90-A0:1000</sr:RequestID>\
            <sr:ResponseID>90-B3-D5-1F-3F-01-00-00:00-DB-12-34-56-78-90-A0:1000</sr:ResponseID><sr:ResponseCode>E20</sr:ResponseCode>\
            <sr:ResponseDateTime>2026-01-01T00:00:00.00Z</sr:ResponseDateTime></sr:Header></sr:Response>
            """
        let r = try http("POST", server.url + "/verify", body: Array(#"{"message": "\#(Data(acknowledgement.utf8).base64EncodedString())"}"#.utf8),
                         contentType: "application/json")
        #expect(r.status == 200, "\(r.text)")
        #expect(r.headers["cos-signature"] == "absent")
        #expect(r.json["message"] as? String == Data(acknowledgement.utf8).base64EncodedString())
        // A Response with a (broken) Signature is verified, and refused.
        let withSignature = acknowledgement.replacingOccurrences(
            of: "</sr:Response>", with: #"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"></ds:Signature></sr:Response>"#)
        let refused = try http("POST", server.url + "/verify", body: Array(#"{"message": "\#(Data(withSignature.utf8).base64EncodedString())"}"#.utf8),
                               contentType: "application/json")
        #expect(refused.status == 400)
    }
}
