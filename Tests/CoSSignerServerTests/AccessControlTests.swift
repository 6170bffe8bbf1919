import CoSSignerTestSupport
import CoSSigner
import CoSSignerTesting
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// TLS with client certificates, the clients file (a client signs only for its parties: 403 otherwise, and nothing is
/// counted), and the refusal to start off loopback without TLS.
@Suite struct AccessControlTests {
    @Test func mutualTLSRefusesClientsWithoutACertificateOrFromAnotherCA() throws {
        let workspace = try Workspace()
        try workspace.makeTestPKI()
        let tls = try TestTLS(workspace)
        try tls.makeServerAndCAs()
        let adapter = try tls.makeClient("adapter-1", subject: "/O=Supplier/CN=adapter-1")
        try tls.makeCA("rogue-ca", subject: "/CN=Rogue CA")
        let rogue = try tls.makeClient("rogue", subject: "/O=Supplier/CN=adapter-1", ca: "rogue-ca")
        let server = try ServerProcess(["--parties", workspace.path("pki/parties.toml"), "--listen", "127.0.0.1:0"] + tls.serverArguments,
                                       in: workspace)
        #expect(server.url.hasPrefix("https://127.0.0.1:"))
        let request = try workspace.read("pki/requests/ts1-immediate.xml")
        let url = server.url + "/v1/sign?preserveCounter=true"

        let ok = try http("POST", url, body: request, contentType: "application/xml", tls: adapter)
        #expect(ok.status == 200, "\(ok.curlError) \(ok.text)")
        #expect(try xmlsec1Verifies(ok.body, certificate: workspace.path("pki/keys/ts1-xml-sign.pem"), in: workspace))

        // No client certificate: the handshake is refused, no HTTP answer at all.
        let none = try http("POST", url, body: request, contentType: "application/xml",
                            tls: ClientTLS(serverCA: tls.path("server-ca.pem"), certificate: nil, key: nil))
        #expect(none.status == 0 && none.curlStatus != 0, "\(none.status) \(none.text)")
        // A certificate from another CA (even with the same subject): refused.
        let wrong = try http("POST", url, body: request, contentType: "application/xml", tls: rogue)
        #expect(wrong.status == 0 && wrong.curlStatus != 0, "\(wrong.status) \(wrong.text)")
        // Plain HTTP to the TLS port: no answer signed.
        let plain = try http("POST", url.replacingOccurrences(of: "https://", with: "http://"), body: request, contentType: "application/xml")
        #expect(plain.status != 200)
        // The DCC-tool-compatible route behind the same TLS.
        let dcc = try http("POST", server.url + "/sign", body: Array(#"{"message":"\#(Data(request).base64EncodedString())","preserveCounter":true}"#.utf8),
                           contentType: "application/json", tls: adapter)
        #expect(dcc.status == 200, "\(dcc.text)")
        try waitFor { server.log.contains(#""client":"CN=adapter-1,O=Supplier""#) }
    }

    @Test func aClientSigningForAnotherPartyGets403AndNothingIsCounted() throws {
        let workspace = try Workspace()
        try workspace.makeTestPKI()
        let tls = try TestTLS(workspace)
        try tls.makeServerAndCAs()
        let adapter1 = try tls.makeClient("adapter-1", subject: "/O=Supplier/CN=adapter-1")
        let adapter2 = try tls.makeClient("adapter-2", subject: "/O=Supplier/CN=adapter-2")
        let stranger = try tls.makeClient("stranger", subject: "/O=Elsewhere/CN=stranger")
        try Array("""
            # Which client may sign for which parties.
            [[client]]
            subject = "CN=adapter-1,O=Supplier"
            parties = ["ts1"]

            [[client]]
            subject = "cn=ADAPTER-2, o=supplier"
            parties = ["ts1", "TS2"]
            """.utf8).write(to: workspace.path("clients.toml"))
        let store = workspace.path("counters.txt")
        let server = try ServerProcess(["--parties", workspace.path("pki/parties.toml"), "--counter-store", store, "--counter-block", "1",
                                        "--listen", "127.0.0.1:0", "--clients", workspace.path("clients.toml")] + tls.serverArguments, in: workspace)
        let ts1 = try workspace.read("pki/requests/ts1-immediate.xml")
        let ts2 = try workspace.read("pki/requests/ts2-immediate.xml")
        func sign(_ body: [UInt8], _ client: ClientTLS, query: String = "") throws -> HTTPResult {
            try http("POST", server.url + "/v1/sign" + query, body: body, contentType: "application/xml", tls: client)
        }
        func metrics() throws -> String { try http("GET", server.url + "/metrics", tls: adapter1).text }

        #expect(try sign(ts1, adapter1).status == 200)
        let storeBefore = try String(contentsOfFile: store, encoding: .utf8)
        let issuedBefore = metric(try metrics(), "cossigner_counters_issued_total")
        #expect(issuedBefore == 1)

        // adapter-1 may sign for ts1 only: ts2's request is refused with 403, by every route, and no counter is used.
        let refused = try sign(ts2, adapter1)
        V1APITests.expectProblem(refused, 403, kind: "notAllowed")
        #expect(refused.json["party"] as? String == "ts2")
        #expect(refused.json["client"] as? String == "CN=adapter-1,O=Supplier")
        V1APITests.expectProblem(try sign(ts2, adapter1, query: "?mpid=TS2E"), 403, kind: "notAllowed")
        let dcc = try http("POST", server.url + "/sign", body: Array(#"{"message":"\#(Data(ts2).base64EncodedString())"}"#.utf8),
                           contentType: "application/json", tls: adapter1)
        #expect(dcc.status == 403, "\(dcc.text)")
        #expect(dcc.json["errorCode"] as? String == "notAllowed")
        func pem(_ name: String) throws -> String { try String(contentsOfFile: workspace.path("pki/keys/\(name).pem"), encoding: .utf8) }
        let fields: [String: Any] = ["originator": "90-B3-D5-1F-3F-02-00-00", "target": "00-DB-12-34-56-78-90-A0", "floor": "0",
                                     "signingCert": try pem("ts2-ds"), "pathCert": [try pem("issuing-ca")], "mpxn": "1312345678333"]
        let built = try http("POST", server.url + "/v1/requests/6.23", body: Array(try JSONSerialization.data(withJSONObject: fields)),
                             contentType: "application/json", tls: adapter1)
        V1APITests.expectProblem(built, 403, kind: "notAllowed")
        // A client certificate the clients file does not list signs nothing; it may still verify.
        V1APITests.expectProblem(try sign(ts1, stranger), 403, kind: "notAllowed")
        let signed = try sign(ts1, adapter1, query: "?preserveCounter=true")
        let verified = try http("POST", server.url + "/v1/verify", body: signed.body, contentType: "application/xml", tls: stranger)
        #expect(verified.json["valid"] as? Bool == true, "\(verified.text)")

        #expect(try String(contentsOfFile: store, encoding: .utf8) == storeBefore)
        let exposition = try metrics()
        #expect(metric(exposition, "cossigner_counters_issued_total") == issuedBefore)
        #expect(metric(exposition, "cossigner_refusals_total", labels: ["kind": "notAllowed"]) == 5)
        #expect(metric(exposition, "cossigner_http_requests_total", labels: ["route": "/v1/sign", "status": "403"]) == 3)

        // adapter-2 (listed by the same name, written otherwise) may sign for both.
        #expect(try sign(ts2, adapter2).status == 200)
        #expect(try sign(ts1, adapter2).status == 200)
        #expect(try String(contentsOfFile: store, encoding: .utf8).contains("90-B3-D5-1F-3F-02-00-00"))
    }

    @Test func offLoopbackTLSWithClientCertificatesIsRequired() throws {
        let workspace = try Workspace()
        try workspace.makeTestPKI()
        let parties = workspace.path("pki/parties.toml")
        for listen in ["0.0.0.0:0", "[::]:0", "192.0.2.1:0"] {
            let r = try TestProcess.run(Binaries.server, ["--parties", parties, "--listen", listen])
            #expect(r.status == 1, "\(listen): \(r.stderr)")
            #expect(r.stderr.contains("needs TLS with client certificates"), "\(r.stderr)")
        }
        // TLS needs all three files; a clients file needs TLS.
        let partial = try TestProcess.run(Binaries.server, ["--parties", parties, "--listen", "0.0.0.0:0", "--tls-cert", "a.pem"])
        #expect(partial.status != 0 && partial.stderr.contains("--tls-cert, --tls-key and --client-ca together"), "\(partial.stderr)")
        try Array("[[client]]\nsubject = \"CN=a\"\nparties = [\"ts1\"]\n".utf8).write(to: workspace.path("clients.toml"))
        let clients = try TestProcess.run(Binaries.server, ["--parties", parties, "--listen", "127.0.0.1:0", "--clients", workspace.path("clients.toml")])
        #expect(clients.status == 1 && clients.stderr.contains("--clients"), "\(clients.stderr)")
        // A clients file naming a party the registry lacks, or a bad subject: refused at start with the line.
        let tls = try TestTLS(workspace)
        try tls.makeServerAndCAs()
        try Array("[[client]]\nsubject = \"CN=a\"\nparties = [\"ts9\"]\n".utf8).write(to: workspace.path("clients.toml"))
        let unknown = try TestProcess.run(Binaries.server, ["--parties", parties, "--listen", "127.0.0.1:0", "--clients", workspace.path("clients.toml")]
                              + tls.serverArguments)
        #expect(unknown.status == 2 && unknown.stderr.contains("ts9") && unknown.stderr.contains("clients.toml:1"), "\(unknown.stderr)")
        // A TLS key others may read is refused.
        chmod(tls.path("server.key.pem"), 0o644)
        let insecure = try TestProcess.run(Binaries.server, ["--parties", parties, "--listen", "127.0.0.1:0"] + tls.serverArguments)
        #expect(insecure.status == 3 && insecure.stderr.contains("--tls-key"), "\(insecure.stderr)")
        // A registry that does not load: nothing starts, with the registry's exit code and problems.
        try Array("[[party]]\nid = \"x\"\n".utf8).write(to: workspace.path("broken.toml"))
        let broken = try TestProcess.run(Binaries.server, ["--parties", workspace.path("broken.toml"), "--listen", "127.0.0.1:0"])
        #expect(broken.status != 0 && broken.stderr.contains("broken.toml"), "\(broken.stderr)")
    }
}
