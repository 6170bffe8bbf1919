import CoSSignerTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `cos-signer-server` signing with token keys (issue 20): a registry of SoftHSM2 keys (`cos-signer testpki
/// --pkcs11`), `--pkcs11-module` winning over the registry's `pkcs11_module`, concurrent load with SIGHUP reloads
/// in the middle, every output verified, and no PIN in any log or answer.
@Suite struct ServerPKCS11Tests {
    static let module = "/usr/lib/softhsm/libsofthsm2.so"

    /// A test PKI of two parties whose XML signing keys are in a SoftHSM2 token of its own (`pki/softhsm`).
    static func makeTokenPKI(_ workspace: Workspace) throws -> (environment: [String: String], pins: [String]) {
        guard FileManager.default.fileExists(atPath: module) else {
            Issue.record("SoftHSM2's module \(module) is not installed (CI installs softhsm2 through .ci/run)")
            throw ToolMissing(tool: module)
        }
        _ = try TestProcess.resolve("softhsm2-util")
        let made = try TestProcess.run(Binaries.cli, ["testpki", workspace.path("pki"), "--parties", "2", "--seed", "server pkcs11", "--pkcs11", module])
        #expect(made.status == 0, "\(made.stderr)")
        if made.status != 0 { throw ServerFailed(message: "testpki --pkcs11: \(made.stderr)") }
        let pins = try ["user.pin", "so.pin"].map {
            try String(contentsOfFile: workspace.path("pki/softhsm/\($0)"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(pins.allSatisfy { $0.count >= 4 })
        return (["SOFTHSM2_CONF": workspace.path("pki/softhsm/softhsm2.conf")], pins)
    }

    @Test func tokenKeysSignUnderConcurrentLoadThroughSIGHUPReloadsAndEveryOutputVerifies() throws {
        let workspace = try Workspace()
        let (environment, pins) = try Self.makeTokenPKI(workspace)
        let registry = workspace.path("pki/parties-pkcs11.toml")
        let original = try String(contentsOfFile: registry, encoding: .utf8)
        #expect(original.contains("pkcs11_module = \"\(Self.module)\"") && original.contains("signing_key = \"pkcs11:"))
        // The registry names a module that is not there: without --pkcs11-module the server does not start (exit 3,
        // naming it); with it, the flag's module wins.
        let elsewhere = original.replacingOccurrences(of: "pkcs11_module = \"\(Self.module)\"", with: "pkcs11_module = \"/nonexistent/libpkcs11.so\"")
        try Array(elsewhere.utf8).write(to: registry)
        let refused = try TestProcess.run(Binaries.server, ["--parties", registry, "--listen", "127.0.0.1:0"])
        #expect(refused.status == 3 && refused.stderr.contains("/nonexistent/libpkcs11.so"), "\(refused.status) \(refused.stderr)")

        let server = try ServerProcess(["--parties", registry, "--pkcs11-module", Self.module, "--counter-store", workspace.path("counters.txt"),
                                        "--listen", "127.0.0.1:0"], in: workspace, environment: environment)
        let parties = try http("GET", server.url + "/v1/parties")
        #expect((parties.json["parties"] as? [[String: Any]])?.count == 2)

        // 3,000 requests of both parties on 16 connections; the registry reloaded (token keys found again) twice
        // while they run.
        let requests = [workspace.path("pki/requests/ts1-immediate.xml"), workspace.path("pki/requests/ts2-immediate.xml")]
        let total = 3_000
        let started = Date()
        let batch = try CurlBatch(url: server.url + "/v1/sign", requests: (0..<total).map { requests[$0 % 2] }, parallel: 16,
                                  directory: workspace.path("load"))
        func generation() throws -> Int { try http("GET", server.url + "/v1/parties").json["generation"] as? Int ?? 0 }
        for reload in 1...2 {
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline, batch.finished < total * reload / 3 { usleep(20_000) }
            server.signal(SIGHUP)
            try waitFor { try generation() == reload + 1 }
        }
        let transfers = batch.wait()
        let seconds = Date().timeIntervalSince(started)
        let failures = transfers.filter { !$0.succeeded }
        #expect(failures.count == 0, "\(failures.count) failed: \(failures.prefix(3).map { "\($0.status)/\($0.curlExit) \($0.body.utf8String.prefix(300))" }) \(batch.errors.prefix(300))")
        #expect(try generation() == 3)
        #expect(server.log.contains("registry reloaded"))

        // Every output verifies (our verifier, all of them, each under its originator's certificate; counters
        // distinct); xmlsec1 checks a sample of each party.
        try FileManager.default.createDirectory(atPath: workspace.path("signed"), withIntermediateDirectories: true)
        // Counters are per Business Originator: request i is party ts(i % 2 + 1)'s.
        var counters = Set<String>()
        for transfer in transfers where transfer.succeeded {
            let body = transfer.body
            if let counter = requestCounter(body) { counters.insert("ts\(transfer.index % 2 + 1):\(counter)") }
            try body.write(to: workspace.path(String(format: "signed/%05d.xml", transfer.index)))
        }
        #expect(counters.count == total)
        let verified = try TestProcess.run(Binaries.cli, ["verify", "--parties", workspace.path("pki/parties.toml"), "--jobs", "2", "--quiet",
                                              "--report", workspace.path("verify.jsonl"), workspace.path("signed")])
        #expect(verified.status == 0, "\(verified.stderr.prefix(500))")
        let report = (try? String(contentsOfFile: workspace.path("verify.jsonl"), encoding: .utf8)) ?? ""
        let lines = report.split(separator: "\n")
        #expect(lines.count == total && lines.allSatisfy { $0.contains(#""result":"valid""#) }, "\(lines.count) lines")
        #expect(lines.filter { $0.contains(#""party":"ts1""#) }.count == total / 2)
        for index in [0, 1, total / 2, total / 2 + 1, total - 2, total - 1] {
            let certificate = workspace.path("pki/keys/ts\(index % 2 + 1)-xml-sign.pem")
            #expect(try xmlsec1Verifies(transfers[index].body, certificate: certificate, in: workspace), "request \(index)")
        }

        // A reload whose token key is not in the token: refused, the keys in use kept.
        let missing = original.replacingOccurrences(of: "object=ts2-xml-sign", with: "object=ts2-missing")
        #expect(missing != original)
        try Array(missing.utf8).write(to: registry)
        server.signal(SIGHUP)
        try waitFor { server.log.contains("registry reload refused") }
        #expect(server.log.contains("ts2-missing"))
        #expect(try generation() == 3)
        let ts2 = try http("POST", server.url + "/v1/sign", body: try workspace.read("pki/requests/ts2-immediate.xml"), contentType: "application/xml")
        #expect(ts2.status == 200, "\(ts2.text)")

        // Stopped under a token key: exits 0 (the module is finalised before the process ends, on the thread that
        // ends it, not by whichever thread drops the last key while `exit` runs its destructors).
        server.stop()
        let exit = server.waitForExit()
        #expect(exit == 0, "exit \(exit): \(server.log.suffix(3000))")
        #expect(server.log.contains(#""message":"stopped: every request in flight was answered; counters flushed""#))
        // No PIN anywhere: not in the server's logs or output, nor in any answer.
        let stdout = (try? String(contentsOfFile: server.stdoutPath, encoding: .utf8)) ?? ""
        for pin in pins {
            #expect(!server.log.contains(pin) && !stdout.contains(pin) && !refused.stderr.contains(pin) && !batch.errors.contains(pin))
            #expect(!ts2.text.contains(pin) && !parties.text.contains(pin))
        }
        print("tokenKeysSignUnderConcurrentLoad: \(total) token signatures on 16 connections in \(String(format: "%.1f", seconds)) s")
    }

    /// A server that cannot listen (its port is taken) stops on an error: exit 1 naming the cause, and its token
    /// keys' module finalised before `exit`, as on a clean stop (never a crash in the module's exit-time clean-up).
    @Test func aServerThatCannotListenStopsWithExit1AndItsTokenModuleFinalised() throws {
        let workspace = try Workspace()
        let (environment, pins) = try Self.makeTokenPKI(workspace)
        let holder = try ServerProcess(["--parties", workspace.path("pki/parties.toml"), "--listen", "127.0.0.1:0"],
                                       in: workspace, name: "holder")
        let stopped = try TestProcess.run(Binaries.server, ["--parties", workspace.path("pki/parties-pkcs11.toml"), "--pkcs11-module", Self.module,
                                                            "--listen", "127.0.0.1:\(holder.port)"], environment: environment)
        #expect(stopped.status == 1, "exit \(stopped.status): \(stopped.stderr)")
        #expect(stopped.stderr.contains("Address already in use"), "\(stopped.stderr)")
        #expect(stopped.stderr.contains(#""message":"stopped on an error""#) && stopped.stderr.contains(#""pkcs11ModulesFinalized":"1""#),
                "\(stopped.stderr)")
        for pin in pins { #expect(!stopped.stderr.contains(pin) && !stopped.stdout.contains(pin)) }
        // The server holding the port is not disturbed.
        #expect(try http("GET", holder.url + "/healthz").status == 200)
    }
}
