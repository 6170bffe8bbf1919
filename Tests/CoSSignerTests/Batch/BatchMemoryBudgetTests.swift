import CoSSignerTestSupport
import Foundation
import Testing
@testable import CoSSigner
@testable import CoSSignerTesting

/// The byte budget shared by a batch's workers (issue 17, item 12): never exceeded, never a deadlock, and
/// every input still gets its own outcome.
@Suite struct BatchMemoryBudgetTests {
    @Test func acquireWaitsTryAcquireDoesNotAndAnOversizedInputIsAdmittedAlone() async throws {
        let budget = BatchMemoryBudget(bytes: 100)
        #expect(budget.acquire(60) == 60)
        #expect(budget.tryAcquire(50) == nil, "over the budget: not admitted")
        #expect(budget.tryAcquire(40) == 40)
        budget.release(100)
        // Larger than the whole budget: admitted alone, as the whole budget.
        #expect(budget.acquire(1_000) == 100)
        #expect(budget.tryAcquire(1) == nil)
        let waiter = Task.detached { budget.acquire(30) }
        try await Task.sleep(nanoseconds: 50_000_000)
        budget.release(100)
        #expect(await waiter.value == 30, "a waiting worker gets in once the budget is given back")
        budget.release(30)
        #expect(budget.peakBytes == 100)
    }

    /// Eight signing workers over 40 inputs of about 20 KB each, with a 64 KiB budget: every input is signed, in its
    /// own outcome, and the bytes held at once never passed the budget.
    @Test func signingWorkersNeverHoldMoreThanTheBudget() throws {
        let inputs = try TestPaths.temporaryDirectory()
        let out = try TestPaths.temporaryDirectory()
        defer { for directory in [inputs, out] { try? FileManager.default.removeItem(at: directory) } }
        let text = try Fixtures.template623(Fixtures.template623Names[0]).utf8String
        // Whitespace between elements makes each input about 20 KB; the compact output is the usual size.
        let padded = text.replacingOccurrences(of: "<sr:Body>", with: "<sr:Body>" + String(repeating: " ", count: 20_000))
        for i in 0..<40 {
            try Data(padded.utf8).write(to: inputs.appendingPathComponent(String(format: "r%02d.xml", i)))
        }
        let key = try SigningKey(contentsOfFile: HostileKeys.key)
        let signer = RequestSigner(signer: try DUISSigner(key: key, certificate: try Certificate(contentsOfFile: HostileKeys.cert)))
        let budget = BatchMemoryBudget(bytes: 64 << 10)
        let job = try BatchSigningJob(signer: signer, destination: .directory(out.path), memoryBudget: budget)
        let results = ResultCollector()
        let summary = BatchRunner.run(jobs: 8, inputs: try BatchInputs(paths: [inputs.path]), groupSize: BatchSigningJob.groupSize,
                                      work: job.process) { results.add($0) }
        #expect(job.finish() == nil)
        #expect(summary.succeeded == 40 && summary.failed == 0, "\(results.values.filter { !$0.succeeded })")
        #expect(budget.peakBytes <= 64 << 10, "held \(budget.peakBytes) bytes at once")
        #expect(budget.peakBytes >= padded.utf8.count, "the budget was used")
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.path).count == 40)
    }
}
