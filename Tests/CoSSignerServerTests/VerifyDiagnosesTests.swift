import CoSSignerTestSupport
import CoSSigner
import Foundation
import Testing

/// `POST /v1/verify` explains an invalid signature with the diagnoses of `cos-signer verify --explain --json`: the
/// same codes, details and fixes, most likely first (issue 21, point 4).
@Suite struct VerifyDiagnosesTests {
    /// The diagnoses `cos-signer verify --explain --json --parties REGISTRY` gives for `document`.
    static func cliDiagnoses(_ document: [UInt8], registry: String, in workspace: Workspace) throws -> [[String: String]] {
        let path = workspace.path("explain-\(UUID().uuidString.prefix(8)).xml")
        try document.write(to: path)
        let r = try TestProcess.run(Binaries.cli, ["verify", "--explain", "--json", "--parties", registry, path])
        #expect(r.status == 10, "\(r.stderr)")
        let line = try #require(r.stdout.split(separator: "\n").first)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["valid"] as? Bool == false)
        return try #require(object["diagnoses"] as? [[String: String]])
    }

    /// The verdict of `POST /v1/verify` for `document`: invalid, with its diagnoses.
    static func serverDiagnoses(_ document: [UInt8], server: ServerProcess) throws -> (verdict: [String: Any], diagnoses: [[String: String]]) {
        let r = try http("POST", server.url + "/v1/verify", body: document, contentType: "application/xml")
        #expect(r.status == 200, "\(r.text)")
        #expect(r.json["valid"] as? Bool == false, "\(r.text)")
        let diagnoses = try #require(r.json["diagnoses"] as? [[String: String]], "\(r.text)")
        return (r.json, diagnoses)
    }

    @Test func invalidSignaturesAreExplainedAsTheCLIExplainsThem() throws {
        let workspace = try Workspace()
        try workspace.makeTestPKI()
        let registry = workspace.path("pki/parties.toml")
        let server = try ServerProcess(["--parties", registry, "--listen", "127.0.0.1:0"], in: workspace)
        let signed = try http("POST", server.url + "/v1/sign?preserveCounter=true", body: try workspace.read("pki/requests/ts1-immediate.xml"),
                              contentType: "application/xml")
        #expect(signed.status == 200)
        let text = signed.text
        // Valid: no diagnoses.
        let valid = try http("POST", server.url + "/v1/verify", body: signed.body, contentType: "application/xml")
        #expect(valid.json["valid"] as? Bool == true && (valid.json["diagnoses"] as? [Any])?.isEmpty == true, "\(valid.text)")

        // The signed content changed (an ImportMPxN digit).
        let mpxn = try #require(text.range(of: "<sr:ImportMPxN>"))
        let digit = text.index(mpxn.upperBound, offsetBy: 3)
        var changed = text
        changed.replaceSubrange(digit...digit, with: text[digit] == "9" ? "8" : "9")
        // Pretty-printed after signing: a newline and indentation between every pair of elements.
        let prettyPrinted = text.replacingOccurrences(of: "><", with: ">\n  <")
        // Signed by another User ID than the request's Business Originator: ts1's request with ts2's key and
        // certificate (a sound signature, by the wrong signer).
        let ts2 = try DUISSigner(key: try SigningKey(contentsOfFile: workspace.path("pki/keys/ts2-xml-sign.key.pem")),
                                 certificate: try Certificate(contentsOfFile: workspace.path("pki/keys/ts2-xml-sign.pem")))
        let byOther = try ts2.sign(try workspace.read("pki/requests/ts1-immediate.xml")).bytes

        for (document, code, field) in [
            (Array(changed.utf8), "content-changed", "referenceDigest"),
            (Array(prettyPrinted.utf8), "reformatted-after-signing", "referenceDigest"),
            (byOther, "originator-not-signer", "originator"),
        ] {
            let (verdict, diagnoses) = try Self.serverDiagnoses(document, server: server)
            #expect(diagnoses.first?["code"] == code, "\(code): \(diagnoses)")
            #expect(verdict["field"] as? String == field, "\(code): \(verdict)")
            #expect(diagnoses.allSatisfy { Set($0.keys) == ["code", "detail", "fix"] && !($0["detail"] ?? "").isEmpty && !($0["fix"] ?? "").isEmpty })
            // Exactly what the CLI says, for the same certificates (the registry's).
            #expect(diagnoses == (try Self.cliDiagnoses(document, registry: registry, in: workspace)), "\(code)")
        }
        // originator-not-signer names both User IDs.
        let other = try Self.serverDiagnoses(byOther, server: server).diagnoses.first?["detail"] ?? ""
        #expect(other.contains("90-B3-D5-1F-3F-01-00-00") && other.contains("90-B3-D5-1F-3F-02-00-00"), "\(other)")

        // The DCC-tool-compatible route answers with the reason only, as DCC's tool does.
        let dcc = try http("POST", server.url + "/verify", body: Array(#"{"message":"\#(Data(changed.utf8).base64EncodedString())"}"#.utf8))
        #expect(dcc.status == 400 && dcc.json["error"] != nil && dcc.json["diagnoses"] == nil, "\(dcc.text)")
    }
}
