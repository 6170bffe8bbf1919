import CoSSignerTestSupport
import Foundation
import Testing

/// Many requests to one server through one `curl --parallel` process: the transfers are listed in a config file
/// (`-K`), each response body goes to its own file, and curl writes one line per transfer (HTTP status, curl's exit
/// code, the transfer's index). Keep-alive connections, up to `parallel` at once.
final class CurlBatch: @unchecked Sendable {
    /// One request's outcome.
    struct Transfer {
        let index: Int
        /// The HTTP status (0 when no response came).
        let status: Int
        /// curl's exit code for this transfer (0: the whole response arrived).
        let curlExit: Int
        let bodyPath: String
        var body: [UInt8] { (try? Data(contentsOf: URL(fileURLWithPath: bodyPath))).map(Array.init) ?? [] }
        /// A complete 200.
        var succeeded: Bool { status == 200 && curlExit == 0 }
    }

    let directory: String
    let count: Int
    private let process: BackgroundProcess
    private let linesPath: String

    /// Starts curl on `requests` (each a request body file), in order.
    /// - Parameters:
    ///   - url: the route, e.g. `http://127.0.0.1:PORT/v1/sign`.
    ///   - rate: curl's `--rate` (e.g. `400/s`): transfers started at most that often (nil: as fast as possible).
    init(url: String, requests: [String], contentType: String = "application/xml", parallel: Int, rate: String? = nil,
         directory: String) throws {
        self.directory = directory
        count = requests.count
        try FileManager.default.createDirectory(atPath: directory + "/bodies", withIntermediateDirectories: true)
        var config = ""
        config.reserveCapacity(requests.count * 300)
        for (index, request) in requests.enumerated() {
            // `next` between transfers only: a trailing one would start a transfer without a URL, an error that
            // aborts the others.
            if index > 0 { config += "next\n" }
            config += """
                url = "\(url)"
                data-binary = "@\(request)"
                header = "Content-Type: \(contentType)"
                output = "\(directory)/bodies/\(index)"
                write-out = "%{http_code} %{exitcode} \(index)\\n"
                max-time = 120

                """
        }
        try Array(config.utf8).write(to: directory + "/curl.config")
        linesPath = directory + "/curl.out"
        var arguments = ["-sS", "--no-progress-meter", "--parallel", "--parallel-max", String(parallel)]
        if let rate { arguments += ["--rate", rate] }
        arguments += ["-K", directory + "/curl.config"]
        process = try TestProcess.start("curl", arguments, stdoutPath: linesPath, stderrPath: directory + "/curl.err")
    }

    /// What curl said on standard error (its transfer errors).
    var errors: String { (try? String(contentsOfFile: directory + "/curl.err", encoding: .utf8)) ?? "" }

    /// How many transfers have finished so far.
    var finished: Int {
        guard let data = FileManager.default.contents(atPath: linesPath) else { return 0 }
        return data.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
    }

    /// Waits for curl to end; every transfer's outcome, by index.
    func wait() -> [Transfer] {
        _ = process.finish()
        var transfers = [Transfer?](repeating: nil, count: count)
        let text = (try? String(contentsOfFile: linesPath, encoding: .utf8)) ?? ""
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count == 3, let index = Int(fields[2]), transfers.indices.contains(index) else { continue }
            transfers[index] = Transfer(index: index, status: Int(fields[0]) ?? 0, curlExit: Int(fields[1]) ?? -1,
                                        bodyPath: "\(directory)/bodies/\(index)")
        }
        return transfers.enumerated().map { index, transfer in
            // A transfer curl did not report at all is a failure of the client, never a success.
            transfer ?? Transfer(index: index, status: 0, curlExit: -1, bodyPath: "\(directory)/bodies/\(index)")
        }
    }
}
