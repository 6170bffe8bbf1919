import Foundation

/// What happened to one input of a batch: one line of a report.
package struct BatchItemResult: Codable, Sendable, Equatable {
    /// The outcome.
    package enum Outcome: String, Codable, Sendable {
        case signed, failed, valid, invalid
    }

    /// The input's name.
    package var input: String
    /// The output written, if any.
    package var output: String?
    /// The Supplier Party whose key signed or verified, when known.
    package var party: String?
    /// The RequestID as signed or verified, when known.
    package var requestID: String?
    /// The serial number of the certificate in KeyInfo, when known.
    package var certificateSerial: String?
    /// The outcome.
    package var result: Outcome
    /// Why it failed, or why the party was chosen.
    package var reason: String?
    /// For an invalid signature, the part that failed (``SignatureInvalid/Part``).
    package var part: String?
    /// The exit code this item alone would give (0 on success).
    package var exitCode: Int32

    package init(input: String, output: String? = nil, party: String? = nil, requestID: String? = nil,
                certificateSerial: String? = nil, result: Outcome, reason: String? = nil, exitCode: Int32 = 0) {
        self.input = input
        self.output = output
        self.party = party
        self.requestID = requestID
        self.certificateSerial = certificateSerial
        self.result = result
        self.reason = reason
        self.exitCode = exitCode
    }

    /// A failed item for an error.
    package static func failure(_ input: String, _ error: any Error, outcome: Outcome = .failed) -> BatchItemResult {
        let classified = error as? ClassifiedError
        return BatchItemResult(input: input, result: outcome, reason: classified?.description ?? "\(error)",
                               exitCode: classified?.failureClass.exitCode ?? FailureClass.input.exitCode)
    }

    /// Whether the item succeeded.
    package var succeeded: Bool { exitCode == 0 }

    /// The item as one line of JSON (no trailing newline).
    package var jsonLine: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}

/// Runs a batch: `jobs` workers take inputs one at a time and process them; results are delivered one at a time
/// (never concurrently) as they complete. A failing input never stops the others.
package enum BatchRunner {
    /// Totals of a finished batch.
    package struct Summary: Sendable, Equatable {
        /// Items that succeeded.
        package var succeeded = 0
        /// Items that failed.
        package var failed = 0
        /// The largest exit code among the failures (0 if none).
        package var exitCode: Int32 = 0
    }

    /// Processes every input.
    /// - Parameters:
    ///   - jobs: the number of workers (at least 1).
    ///   - inputs: the inputs, read lazily.
    ///   - work: processes one input; called concurrently from up to `jobs` threads.
    ///   - deliver: receives each result, serially.
    /// - Returns: the totals.
    package static func run(jobs: Int, inputs: BatchInputs, work: @escaping @Sendable (BatchInput) -> BatchItemResult,
                           deliver: @escaping @Sendable (BatchItemResult) -> Void) -> Summary {
        run(jobs: jobs, inputs: inputs, groupSize: 1, work: { $0.map(work) }, deliver: deliver)
    }

    /// Processes every input, each worker taking up to `groupSize` inputs at a time.
    /// - Parameters:
    ///   - work: processes a group of inputs, returning one result per input in the same order; called
    ///     concurrently from up to `jobs` threads.
    ///   - deliver: receives each result, serially.
    package static func run(jobs: Int, inputs: BatchInputs, groupSize: Int,
                           work: @escaping @Sendable ([BatchInput]) -> [BatchItemResult],
                           deliver: @escaping @Sendable (BatchItemResult) -> Void) -> Summary {
        let state = SummaryBox()
        let size = max(1, groupSize)
        let worker: @Sendable () -> Void = {
            while true {
                var group: [BatchInput] = []
                group.reserveCapacity(size)
                while group.count < size, let input = inputs.next() { group.append(input) }
                if group.isEmpty { return }
                for result in work(group) { state.record(result, deliver: deliver) }
            }
        }
        let workers = max(1, jobs)
        if workers == 1 {
            worker()
        } else {
            let group = DispatchGroup()
            for _ in 0..<workers {
                let thread = Thread {
                    worker()
                    group.leave()
                }
                thread.stackSize = 8 << 20
                group.enter()
                thread.start()
            }
            group.wait()
        }
        return state.summary
    }
}

private final class SummaryBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value = BatchRunner.Summary()  // guarded by `lock`

    func record(_ result: BatchItemResult, deliver: (BatchItemResult) -> Void) {
        lock.lock()
        defer { lock.unlock() }
        if result.succeeded {
            value.succeeded += 1
        } else {
            value.failed += 1
            value.exitCode = max(value.exitCode, result.exitCode)
        }
        deliver(result)
    }

    var summary: BatchRunner.Summary {
        lock.lock()
        defer { lock.unlock() }
        return value
    }
}
