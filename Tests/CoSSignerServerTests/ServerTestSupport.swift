import CoSSignerTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The built executables, beside the test bundle (`swift test` builds them: the test target lists them).
enum Binaries {
    static var server: String { TestPaths.product("cos-signer-server") }
    static var cli: String { TestPaths.product("cos-signer") }
}

/// A folder for one test, removed at the end.
final class Workspace {
    let url: URL

    init() throws {
        url = try TestPaths.temporaryDirectory()
    }

    func path(_ relative: String) -> String { url.appendingPathComponent(relative).path }

    func read(_ relative: String) throws -> [UInt8] { Array(try Data(contentsOf: url.appendingPathComponent(relative))) }

    func write(_ bytes: [UInt8], to relative: String) throws {
        try Data(bytes).write(to: url.appendingPathComponent(relative))
    }

    /// A test PKI of `parties` parties (`cos-signer testpki DIR --seed S`) in `pki/`.
    func makeTestPKI(parties: Int = 2, seed: String = "server tests") throws {
        let r = try TestProcess.run(Binaries.cli, ["testpki", path("pki"), "--parties", String(parties), "--seed", seed])
        #expect(r.status == 0, "\(r.stderr)")
        if r.status != 0 { throw ServerFailed(message: "cos-signer testpki failed: \(r.stderr)") }
    }

    deinit { try? FileManager.default.removeItem(at: url) }
}

struct ServerFailed: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// `cos-signer-server`, started as users start it, on an ephemeral loopback port (the port it prints).
final class ServerProcess: @unchecked Sendable {
    let process: BackgroundProcess
    let stdoutPath: String
    let stderrPath: String
    /// `http://127.0.0.1:PORT` or `https://…`.
    private(set) var url = ""

    /// - Parameter environment: variables added to the test's environment (SOFTHSM2_CONF, PGPASSWORD).
    init(_ arguments: [String], in workspace: Workspace, name: String = "server", environment: [String: String] = [:]) throws {
        stdoutPath = workspace.path("\(name)-\(UUID().uuidString.prefix(8)).out")
        stderrPath = workspace.path("\(name)-\(UUID().uuidString.prefix(8)).err")
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process = try TestProcess.start(Binaries.server, arguments, environment: environment.isEmpty ? nil : environment,
                                        stdoutPath: stdoutPath, stderrPath: stderrPath)
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let out = (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? ""
            if let line = out.split(separator: "\n").first(where: { $0.hasPrefix("listening on ") }) {
                url = String(line.dropFirst("listening on ".count))
                return
            }
            if !process.isRunning {
                throw ServerFailed(message: "cos-signer-server exited \(process.finish().status) before listening: \(log)")
            }
            usleep(20_000)
        }
        stop()
        throw ServerFailed(message: "cos-signer-server did not say it was listening within 30 s: \(log)")
    }

    var port: String { String(url.split(separator: ":").last ?? "") }

    /// Everything the server logged (JSON lines on standard error).
    var log: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    func signal(_ signal: Int32) { process.kill(signal) }

    /// Waits for the process to end; nil if it has not within `timeout` seconds.
    func waitForExit(timeout: TimeInterval = 30) -> Int32? { process.waitForExit(timeout: timeout) }

    /// Stops the server if it still runs (SIGTERM, then SIGKILL after 10 s).
    func stop() {
        guard process.isRunning else { return }
        signal(SIGTERM)
        if waitForExit(timeout: 10) == nil {
            signal(SIGKILL)
            _ = waitForExit(timeout: 5)
        }
    }

    deinit { stop() }
}

/// One HTTP exchange, through curl (which also does the client side of mutual TLS).
struct HTTPResult {
    /// The HTTP status (0 when no response came: curl's own status says why).
    let status: Int
    /// Response headers, names in lower case.
    let headers: [String: String]
    let body: [UInt8]
    let curlStatus: Int32
    let curlError: String

    var text: String { String(decoding: body, as: UTF8.self) }
    /// The body as a JSON object.
    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:]
    }
}

/// A curl call in the background.
final class CurlJob: @unchecked Sendable {
    private let job: BackgroundProcess
    private let directory: URL

    init(_ method: String, _ url: String, body: [UInt8]? = nil, contentType: String? = nil, tls: ClientTLS? = nil,
         extra: [String] = []) throws {
        directory = try TestPaths.temporaryDirectory()
        var arguments = ["-sS", "-X", method, "-o", directory.appendingPathComponent("body").path,
                         "-D", directory.appendingPathComponent("headers").path, "-w", "%{http_code}", "--max-time", "60"]
        if let body {
            let bodyPath = directory.appendingPathComponent("request").path
            _ = FileManager.default.createFile(atPath: bodyPath, contents: Data(body))
            arguments += ["--data-binary", "@" + bodyPath]
        }
        if let contentType { arguments += ["-H", "Content-Type: \(contentType)"] }
        if let tls { arguments += tls.curlArguments }
        arguments += extra
        arguments.append(url)
        job = try TestProcess.start("curl", arguments)
    }

    func wait() -> HTTPResult {
        let r = job.finish()
        defer { try? FileManager.default.removeItem(at: directory) }
        let body = (try? Data(contentsOf: directory.appendingPathComponent("body"))).map(Array.init) ?? []
        let headerText = (try? String(contentsOf: directory.appendingPathComponent("headers"), encoding: .utf8)) ?? ""
        var headers = [String: String]()
        // The last response's headers (after any 100 Continue).
        let blocks = headerText.components(separatedBy: "\r\n\r\n").filter { !$0.isEmpty }
        for line in (blocks.last ?? "").components(separatedBy: "\r\n").dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return HTTPResult(status: Int(r.stdout) ?? 0, headers: headers, body: body, curlStatus: r.status, curlError: r.stderr)
    }
}

/// One HTTP call, to the end.
func http(_ method: String, _ url: String, body: [UInt8]? = nil, contentType: String? = nil, tls: ClientTLS? = nil,
          extra: [String] = []) throws -> HTTPResult {
    try CurlJob(method, url, body: body, contentType: contentType, tls: tls, extra: extra).wait()
}

/// The client side of TLS: the CA that issued the server's certificate, and the client's certificate and key.
struct ClientTLS {
    let serverCA: String
    let certificate: String?
    let key: String?

    var curlArguments: [String] {
        var arguments = ["--cacert", serverCA]
        if let certificate, let key { arguments += ["--cert", certificate, "--key", key] }
        return arguments
    }
}

/// Test CAs and certificates made with openssl: a CA for the server's certificate, a CA for client certificates,
/// the server's certificate (CN=localhost, SAN IP 127.0.0.1), client certificates.
struct TestTLS {
    let workspace: Workspace

    init(_ workspace: Workspace) throws {
        self.workspace = workspace
        try FileManager.default.createDirectory(atPath: workspace.path("tls"), withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { workspace.path("tls/\(name)") }

    private func openssl(_ arguments: [String]) throws {
        let r = try TestProcess.run("openssl", arguments)
        #expect(r.status == 0, "openssl \(arguments.joined(separator: " ")): \(r.stderr)")
        if r.status != 0 { throw ServerFailed(message: "openssl failed: \(r.stderr)") }
    }

    /// A self-signed CA: `name.pem`, `name.key.pem`.
    func makeCA(_ name: String, subject: String) throws {
        try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", path("\(name).key.pem"),
                     "-out", path("\(name).pem"), "-subj", subject, "-days", "3",
                     "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    }

    /// A certificate issued by CA `ca`: `name.pem`, `name.key.pem` (mode 0600).
    func issue(_ name: String, subject: String, by ca: String, extensions: String) throws {
        try openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", path("\(name).key.pem"),
                     "-out", path("\(name).csr"), "-subj", subject])
        try Array(extensions.utf8).write(to: path("\(name).ext"))
        try openssl(["x509", "-req", "-in", path("\(name).csr"), "-CA", path("\(ca).pem"), "-CAkey", path("\(ca).key.pem"),
                     "-CAcreateserial", "-out", path("\(name).pem"), "-days", "3", "-extfile", path("\(name).ext")])
        chmod(path("\(name).key.pem"), 0o600)
    }

    /// The server's certificate and both CAs.
    func makeServerAndCAs() throws {
        try makeCA("server-ca", subject: "/CN=Test Server CA")
        try makeCA("client-ca", subject: "/CN=Test Adapters CA")
        try issue("server", subject: "/CN=localhost", by: "server-ca",
                  extensions: "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    }

    /// A client certificate from `ca` with `subject` (openssl form, `/O=Supplier/CN=adapter-1`).
    func makeClient(_ name: String, subject: String, ca: String = "client-ca") throws -> ClientTLS {
        try issue(name, subject: subject, by: ca, extensions: "extendedKeyUsage=clientAuth\n")
        return ClientTLS(serverCA: path("server-ca.pem"), certificate: path("\(name).pem"), key: path("\(name).key.pem"))
    }

    var serverArguments: [String] {
        ["--tls-cert", path("server.pem"), "--tls-key", path("server.key.pem"), "--client-ca", path("client-ca.pem")]
    }
}

extension Array where Element == UInt8 {
    var utf8String: String { String(decoding: self, as: UTF8.self) }

    func write(to path: String) throws { try Data(self).write(to: URL(fileURLWithPath: path)) }
}

/// The RequestID counter in a DUIS document.
func requestCounter(_ xml: [UInt8]) -> UInt64? {
    let text = xml.utf8String
    guard let start = text.range(of: "<sr:RequestID>"), let end = text.range(of: "</sr:RequestID>", range: start.upperBound..<text.endIndex)
    else { return nil }
    return text[start.upperBound..<end.lowerBound].split(separator: ":").last.flatMap { UInt64($0) }
}

/// A metric's value in a Prometheus text exposition (the sum over lines that match the name and labels given).
func metric(_ exposition: String, _ name: String, labels: [String: String] = [:]) -> Double {
    var total = 0.0
    for line in exposition.split(separator: "\n") where line.hasPrefix(name) && !line.hasPrefix("#") {
        let rest = line.dropFirst(name.count)
        guard rest.first == "{" || rest.first == " " else { continue }
        if !labels.allSatisfy({ line.contains("\($0.key)=\"\($0.value)\"") }) { continue }
        total += Double(line.split(separator: " ").last ?? "") ?? 0
    }
    return total
}

/// xmlsec1 verifies a signed document with the certificate's public key.
func xmlsec1Verifies(_ signed: [UInt8], certificate: String, in workspace: Workspace) throws -> Bool {
    let path = workspace.path("xmlsec-\(UUID().uuidString).xml")
    try signed.write(to: path)
    let r = try TestProcess.run("xmlsec1", ["--verify", "--enabled-reference-uris", "empty", "--pubkey-cert-pem", certificate, path])
    if r.status != 0 { Issue.record("xmlsec1: \(r.stderr)") }
    return r.status == 0
}

extension HTTPResult {
    /// The base64 `message` of a DCC-tool-style answer, decoded.
    func message(sourceLocation: SourceLocation = #_sourceLocation) throws -> [UInt8] {
        guard let text = json["message"] as? String, let data = Data(base64Encoded: text) else {
            Issue.record("no base64 message in \(status) \(self.text)", sourceLocation: sourceLocation)
            throw ServerFailed(message: "no message")
        }
        return Array(data)
    }
}

/// A raw TCP exchange with a loopback server: sends `bytes`, then reads until the server closes the connection or
/// `timeout` seconds pass. Returns what was read and how long it took (for requests curl cannot send: a body
/// that stops half way).
func rawExchange(port: String, send bytes: [UInt8], timeout: TimeInterval) throws -> (response: String, seconds: TimeInterval, closed: Bool) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw ServerFailed(message: "socket failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port) ?? 0).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { throw ServerFailed(message: "connect failed") }
    let started = Date()
    _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
    var timeval = timeval(tv_sec: 0, tv_usec: 200_000)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeval, socklen_t(MemoryLayout<timeval>.size))
    var received = [UInt8]()
    var buffer = [UInt8](repeating: 0, count: 4096)
    var closed = false
    while Date().timeIntervalSince(started) < timeout {
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n > 0 { received += buffer[0..<n]; continue }
        if n == 0 { closed = true; break }
    }
    return (String(decoding: received, as: UTF8.self), Date().timeIntervalSince(started), closed)
}
