import CoSSignerTestSupport
import Foundation
import Testing
@testable import CoSSigner
@testable import CoSSignerTesting

/// Signing a batch a group of inputs at a time (read all, sign all, write all) gives every input exactly the
/// outcome it gets alone: the same outputs byte for byte, the same results and reasons, failures kept to their
/// own inputs.
@Suite struct BatchGroupTests {
    /// 40 inputs: the two signable templates over and over, with broken ones among them (not XML, truncated, not a
    /// 6.23 value, empty, and four of 400 KB, so that a group's read phase stops at its byte bound).
    static func inputs() throws -> URL {
        let folder = try TestPaths.temporaryDirectory()
        for i in 0..<40 {
            var bytes = try Fixtures.template623(Fixtures.signable623Names[i % 2])
            switch i {
            case 3: bytes = Array("not XML at all".utf8)
            case 11: bytes = Array(bytes.prefix(bytes.count / 2))
            case 17: bytes = Array(String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "6.23", with: "6.99").utf8)
            case 30: bytes = []
            case 5...8: bytes = [UInt8](repeating: UInt8(ascii: "x"), count: 400_000)
            default: break
            }
            try Data(bytes).write(to: folder.appendingPathComponent(String(format: "r%02d.xml", i)))
        }
        return folder
    }

    /// Signs `inputs` into a new folder; returns the results by input and the outputs by name.
    static func sign(_ inputs: URL, jobs: Int, groupSize: Int) throws -> (results: [String: BatchItemResult], outputs: [String: Data]) {
        let out = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: out) }
        let job = try BatchSigningJob(signer: try FastSigningPathTests.signer(), destination: .directory(out.path))
        let collected = ResultCollector()
        let summary = BatchRunner.run(jobs: jobs, inputs: try BatchInputs(paths: [inputs.path]), groupSize: groupSize,
                                      work: job.process) { collected.add($0) }
        #expect(job.finish() == nil)
        #expect(summary.succeeded + summary.failed == 40 && summary.failed == 8)
        var outputs: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: out.path) where !name.hasPrefix(".") {
            outputs[name] = try Data(contentsOf: out.appendingPathComponent(name))
        }
        var results: [String: BatchItemResult] = [:]
        for var result in collected.values {
            result.output = result.output.map { URL(fileURLWithPath: $0).lastPathComponent }
            #expect(results.updateValue(result, forKey: result.input) == nil, "\(result.input) delivered twice")
        }
        return (results, outputs)
    }

    @Test func groupsGiveEachInputTheOutcomeItGetsAlone() throws {
        let inputs = try Self.inputs()
        defer { try? FileManager.default.removeItem(at: inputs) }
        let alone = try Self.sign(inputs, jobs: 1, groupSize: 1)
        #expect(alone.results.count == 40 && alone.outputs.count == 32)
        for (name, result) in alone.results where !result.succeeded {
            #expect(["03", "05", "06", "07", "08", "11", "17", "30"].contains { name.hasSuffix("r\($0).xml") },
                    "\(name): \(result.reason ?? "")")
        }
        for (jobs, groupSize) in [(1, 16), (2, 16), (2, 7), (1, 64)] {
            let grouped = try Self.sign(inputs, jobs: jobs, groupSize: groupSize)
            #expect(grouped.results == alone.results, "jobs \(jobs), groups of \(groupSize)")
            #expect(grouped.outputs == alone.outputs, "jobs \(jobs), groups of \(groupSize)")
        }
    }
}

/// The results a batch delivers, collected from its workers.
final class ResultCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [BatchItemResult] = []
    func add(_ result: BatchItemResult) { lock.withLock { results.append(result) } }
    var values: [BatchItemResult] { lock.withLock { results } }
}
