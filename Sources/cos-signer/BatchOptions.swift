import ArgumentParser
import CoSSigner
import CoSSignerTesting
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Options shared by the batch commands (sign, verify).
struct BatchOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Workers signing or verifying in parallel (default: all cores).", valueName: "N"))
    var jobs: Int?

    /// The number of workers: `--jobs`, else one per core.
    var workerCount: Int { jobs ?? ProcessInfo.processInfo.activeProcessorCount }

    @Option(help: ArgumentHelp("Write one JSON line per input here (input, output, party, RequestID, certificate serial, result, reason).", valueName: "FILE"))
    var report: String?

    @Flag(name: .shortAndLong, help: "Print only errors: no progress bar and no summary.")
    var quiet = false

    @Flag(name: .shortAndLong, help: "Log each input (file names, parties and serials only) to standard error.")
    var verbose = false

    @Option(help: ArgumentHelp("Largest input accepted, in bytes.", valueName: "BYTES"))
    var maxInputBytes: Int = XMLParseLimits.default.maxDocumentBytes

    @Flag(help: "Succeed when the inputs hold no document at all (by default a run that processed no document fails with exit code 2).")
    var allowEmpty = false

    func validate() throws {
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1") }
        if quiet && verbose { throw ValidationError("--quiet and --verbose exclude each other") }
        if maxInputBytes < 1 { throw ValidationError("--max-input-bytes must be positive") }
    }

    var limits: XMLParseLimits {
        var limits = XMLParseLimits.default
        limits.maxDocumentBytes = maxInputBytes
        return limits
    }

    func makeLogger(_ label: String) -> Logger {
        var logger = Logger(label: label) { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = verbose ? .debug : .error
        return logger
    }
}

/// Runs a batch with progress, report and logging, and turns its outcome into the exit status.
struct BatchDriver {
    let options: BatchOptions
    let inputs: [String]
    let logger: Logger
    /// Noun for the summary: "signed" or "valid".
    let successWord: String
    let failureWord: String
    /// Print each result line to standard output (verify does).
    let printResults: Bool
    /// Prints each result instead of the lines above, when set (`verify --explain`, `--json`); called serially.
    var printResult: (@Sendable (BatchItemResult) -> Void)? = nil
    /// The directory the outputs go to under the inputs' file names (sign --output-dir): a second input with the
    /// same file name is refused, and so is an input inside it.
    var outputDirectory: String?
    /// The run's single outputs other than the report (`-o`, `--signed-content`): none may be an input.
    var outputFiles: [(option: String, path: String)] = []

    /// The workers to start: `--jobs` (default: one per core), but no more than there are inputs when every
    /// input is a file (one document is signed on the main thread, without starting any thread).
    var workerCount: Int {
        let workers = options.workerCount
        guard inputs.count < workers else { return workers }
        return inputs.contains { $0 != "-" && Files.isDirectory($0) } ? workers : max(1, inputs.count)
    }

    /// What a batch needs before it starts: its inputs, checked, and its report, created.
    struct Prepared {
        let inputs: BatchInputs
        let report: ReportWriter?
    }

    /// Checks the inputs (each a regular file or a directory; none of them an output, compared by device and
    /// inode) and then creates the report (a new name or a regular file; left out of the inputs when it lies in
    /// an input directory). Nothing is written or truncated before the inputs are checked.
    func prepare() throws -> Prepared {
        let outputs = outputFiles.filter { $0.path != "-" } + (options.report.map { [("--report", $0)] } ?? [])
        let batch = try BatchInputs(paths: inputs, uniqueFileNames: outputDirectory != nil,
                                    outputDirectory: outputDirectory, outputFiles: outputs)
        let report = try options.report.map { try ReportWriter(path: $0) }
        if let identity = report?.identity { batch.exclude(identity) }
        return Prepared(inputs: batch, report: report)
    }

    func run(_ prepared: Prepared, work: @escaping @Sendable (BatchInput) -> BatchItemResult) -> BatchRunner.Summary {
        run(prepared, groupSize: 1, work: { $0.map(work) })
    }

    /// Runs the batch with each worker taking up to `groupSize` inputs at a time.
    func run(_ prepared: Prepared, groupSize: Int, work: @escaping @Sendable ([BatchInput]) -> [BatchItemResult]) -> BatchRunner.Summary {
        let reportWriter = prepared.report
        let showProgress = !options.quiet && isatty(2) == 1
        let total = showProgress ? BatchInputs.count(paths: inputs) : 0
        let progress = ProgressBar(total: total, enabled: showProgress && total > 1)
        let logger = self.logger
        let printResults = self.printResults
        let printResult = self.printResult
        let summary = BatchRunner.run(jobs: workerCount, inputs: prepared.inputs, groupSize: groupSize, work: work) { result in
            reportWriter?.write(result)
            progress.clear()
            if let printResult {
                printResult(result)
            } else if result.succeeded {
                logger.debug("\(result.input): \(result.result.rawValue)\(result.output.map { " → \($0)" } ?? "")\(result.party.map { ", party \($0)" } ?? ""), certificate serial \(result.certificateSerial ?? "-")")
                if printResults {
                    Terminal.out("\(result.input): valid (certificate serial \(result.certificateSerial ?? "-")\(result.party.map { ", party \($0)" } ?? ""))")
                }
            } else if printResults {
                if let part = result.part {
                    Terminal.out("\(result.input): invalid (\(part)): \(result.reason ?? "")")
                } else {
                    Terminal.out("\(result.input): error: \(result.reason ?? "unknown")")
                }
            } else {
                Terminal.error(result.reason.map { $0.hasPrefix(result.input) ? $0 : "\(result.input): \($0)" } ?? result.input)
            }
            progress.advance()
        }
        progress.finish()
        return summary
    }

    /// Prints the summary line and ends with the batch's exit status. These fail the run after the summary:
    /// `failure` (e.g. the outputs could not be flushed to disk), a report that could not be written completely,
    /// and a run that processed no document at all (exit 2, "no documents found in …", unless --allow-empty).
    func finish(_ summary: BatchRunner.Summary, _ prepared: Prepared, toStandardOutput: Bool,
                failure: (any ClassifiedError)? = nil) throws {
        if !options.quiet {
            let line = "\(successWord) \(summary.succeeded), \(failureWord) \(summary.failed)"
            if toStandardOutput { Terminal.out(line) } else { Terminal.writeErr(line + "\n") }
        }
        var exitCode = summary.exitCode
        var failures: [any ClassifiedError] = []
        if let failure { failures.append(failure) }
        if let reportFailure = prepared.report?.close() {
            exitCode = max(exitCode, ExitStatus.of(reportFailure))
        }
        if summary.succeeded + summary.failed == 0 && !options.allowEmpty {
            failures.append(NoDocumentsFound(inputs: inputs, verb: successWord == "signed" ? "signed" : "verified"))
        }
        for failure in failures {
            Terminal.error(failure.description)
            exitCode = max(exitCode, ExitStatus.of(failure))
        }
        if exitCode != 0 { throw CommandFailure(exitCode: exitCode) }
    }
}

/// A batch that processed no document: not a success (a pipeline verifying `signed/` must not pass with nothing
/// checked), unless `--allow-empty` is given.
struct NoDocumentsFound: ClassifiedError {
    let inputs: [String]
    /// "signed" or "verified".
    let verb: String

    var failureClass: FailureClass { .input }

    var description: String {
        let places = inputs.map { $0 == "-" ? "standard input" : $0 }.joined(separator: ", ")
        return "no documents found in \(places): nothing was \(verb) (a directory's documents are the regular files "
            + "directly inside it whose names do not start with '.'); pass --allow-empty to accept a run with no document"
    }
}

/// Appends JSON lines to a report file as results arrive (called serially). Every write, flush and close is
/// checked: a report that could not be written completely fails the run, naming the file and the reason.
final class ReportWriter: @unchecked Sendable {
    private let stream: CheckedOutputStream
    private var reported = false
    let path: String
    /// The report file's device and inode (it is left out of the inputs).
    var identity: FileIdentity? { stream.identity }

    init(path: String) throws {
        stream = try CheckedOutputStream(creating: path)
        self.path = path
    }

    func write(_ result: BatchItemResult) {
        stream.writeLine(result.jsonLine)
        reportFailure()
    }

    /// Flushes and closes the report; returns why it could not be written completely, if so (reported on standard
    /// error once, when it happened).
    func close() -> FileError? {
        let failure = stream.finish()
        reportFailure()
        return failure
    }

    private func reportFailure() {
        guard let failure = stream.failure, !reported else { return }
        reported = true
        Terminal.error("\(failure.description); the report is incomplete")
    }
}

/// A progress bar with rate and ETA on standard error, shown only on a terminal. Called serially.
final class ProgressBar: @unchecked Sendable {
    private let total: Int
    private let enabled: Bool
    private var done = 0
    private let start = Date()
    private var lastDraw = Date.distantPast
    private var drawn = false

    init(total: Int, enabled: Bool) {
        self.total = total
        self.enabled = enabled
    }

    func advance() {
        done += 1
        guard enabled else { return }
        let now = Date()
        if now.timeIntervalSince(lastDraw) >= 0.1 || done == total {
            lastDraw = now
            draw(now)
        }
    }

    func clear() {
        guard enabled, drawn else { return }
        Terminal.writeErr("\r\u{1B}[K")
        drawn = false
    }

    func finish() {
        guard enabled else { return }
        draw(Date())
        Terminal.writeErr("\n")
    }

    private func draw(_ now: Date) {
        let elapsed = max(now.timeIntervalSince(start), 0.001)
        let rate = Double(done) / elapsed
        let fraction = total > 0 ? min(1, Double(done) / Double(total)) : 0
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let remaining = rate > 0 ? Double(max(total - done, 0)) / rate : 0
        let eta = String(format: "%d:%02d", Int(remaining) / 60, Int(remaining) % 60)
        Terminal.writeErr(String(format: "\r[%@] %d/%d %5.1f%%  %.0f/s  ETA %@", bar, done, total, fraction * 100, rate, eta))
        drawn = true
    }
}
