import CoSSignerTestSupport
import CoSSigner
import CoSSignerTesting
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// What one run of the built `cos-signer` did, measured for this child alone (wait4).
struct HostileRun: CustomStringConvertible {
    let status: Int32
    let stdout: String
    let stderr: String
    /// User plus system CPU time of the child.
    let cpuSeconds: Double
    let wallSeconds: Double
    /// Peak resident set of the child, in KiB.
    let maxRSSKiB: Int

    var description: String {
        "exit \(status), cpu \(String(format: "%.2f", cpuSeconds)) s, wall \(String(format: "%.2f", wallSeconds)) s, rss \(maxRSSKiB) KiB\nstdout: \(stdout.prefix(500))\nstderr: \(stderr.prefix(500))"
    }
}

/// Limits every hostile input must be refused within.
enum HostileLimits {
    /// Sanitizer runs are slower: .ci/run sets COSSIGNER_HOSTILE_TIME_FACTOR for them.
    static let factor: Double = ProcessInfo.processInfo.environment["COSSIGNER_HOSTILE_TIME_FACTOR"].flatMap(Double.init) ?? 1
    /// The CPU time a refusal may take (< 1 s on this 2-core machine, as the issue asks). CPU time, not wall
    /// time, so that a loaded machine does not make the test flaky; wall time is bounded by `hangSeconds`.
    static var cpuSeconds: Double { 1.0 * factor }
    /// A run still going after this is killed and reported as a hang. Generous: a hang never ends, while the
    /// heaviest honest run (sixteen 15 MiB documents, item 12) took over 30 s of wall time on a loaded machine with
    /// under 2 s of CPU.
    static var hangSeconds: Double { 120 * factor }
    /// Memory bounds are doubled in sanitizer runs (shadow memory, redzones and the allocator's quarantine).
    static var memoryFactor: Int { factor > 1 ? 2 : 1 }
}

/// Runs the built `cos-signer` (``TestProcess/start(_:_:environment:stdinPath:stdoutPath:stderrPath:)``: posix_spawn and
/// wait4), so each run's CPU time and peak memory are its own.
enum HostileCLI {
    /// Runs `cos-signer arguments`. Standard input comes from `stdinFile`, or from `stdinShell` (a shell
    /// pipeline whose output is piped into cos-signer, e.g. `yes '<a>' | head -c 1073741824`), else /dev/null.
    /// Standard output goes to `stdoutFile` if given (e.g. `/dev/full`; `stdout` is then empty).
    static func run(_ arguments: [String], stdinFile: String? = nil, stdinShell: String? = nil, stdoutFile: String? = nil,
                    environment: [String: String] = [:]) throws -> HostileRun {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let outPath = directory.appendingPathComponent("stdout").path
        let errPath = directory.appendingPathComponent("stderr").path

        var program = CLI.executable
        var argv = arguments
        if let stdinShell {
            // exec keeps the pid, so wait4 measures cos-signer itself, not the shell or the producer.
            program = "/bin/sh"
            argv = ["-c", "\(stdinShell) | exec \"$0\" \"$@\"", CLI.executable] + arguments
        }
        let start = Date()
        let process = try TestProcess.start(program, argv, environment: environment, stdinPath: stdinFile ?? "/dev/null",
                                            stdoutPath: stdoutFile ?? outPath, stderrPath: errPath)
        let pid = process.pid
        // A watchdog turns a hang into a failure instead of a stuck test run.
        let watchdog = DispatchWorkItem { kill(pid, SIGKILL) }
        DispatchQueue.global().asyncAfter(deadline: .now() + HostileLimits.hangSeconds, execute: watchdog)
        // Peak memory: the child's VmHWM, sampled while it runs. (wait4's ru_maxrss is no use here: posix_spawn
        // shares the test process's memory until exec, and Linux counts that toward the child's maximum.)
        let peak = HostilePeakMemory(pid: pid)
        let sampler = Thread { peak.sample() }
        sampler.start()
        let result = process.finish()
        peak.stop()
        watchdog.cancel()
        let wall = Date().timeIntervalSince(start)
        return HostileRun(
            status: result.status,
            stdout: hostileText(outPath),
            stderr: result.stderr,
            cpuSeconds: result.cpuSeconds ?? 0,
            wallSeconds: wall,
            maxRSSKiB: peak.kibibytes)
    }
}

/// A file's text, read with the library's bounded reader (Foundation's String(contentsOfFile:) leaks its
/// buffer in this toolchain, which the AddressSanitizer run reports).
func hostileText(_ path: String) -> String {
    ((try? Files.read(path, maxBytes: 64 << 20)) ?? []).utf8String
}

/// The highest VmHWM ("peak resident set") seen in /proc/PID/status while a child runs, every 2 ms.
final class HostilePeakMemory: @unchecked Sendable {
    private let pid: pid_t
    private let lock = NSLock()
    private var running = true
    private var peak = 0

    init(pid: pid_t) { self.pid = pid }

    var kibibytes: Int {
        lock.lock()
        defer { lock.unlock() }
        return peak
    }

    func stop() {
        lock.lock()
        running = false
        lock.unlock()
    }

    func sample() {
        while true {
            lock.lock()
            let go = running
            lock.unlock()
            guard go else { return }
            let status = hostileText("/proc/\(pid)/status")
            if let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
               let value = Int(line.split(separator: " ").dropFirst().first ?? "") {
                lock.lock()
                peak = max(peak, value)
                lock.unlock()
            }
            usleep(2000)
        }
    }
}

/// A folder for one hostile case: inputs go in, and nothing else may appear in it.
struct HostileWorkspace {
    let directory: URL

    init() throws { directory = try TestPaths.temporaryDirectory() }

    func remove() { try? FileManager.default.removeItem(at: directory) }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let target = path(name)
        try Data(bytes).write(to: URL(fileURLWithPath: target))
        return target
    }

    /// A sparse file of `size` bytes (no disk blocks, nothing allocated by the test).
    @discardableResult
    func sparse(_ name: String, size: Int) throws -> String {
        let target = path(name)
        let fd = open(target, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw FixtureMissing(path: target) }
        defer { close(fd) }
        guard ftruncate(fd, off_t(size)) == 0 else { throw FixtureMissing(path: target) }
        return target
    }

    /// The names in the folder.
    func contents() -> Set<String> {
        Set((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
    }
}

/// The signing material of the CLI tests, with a 0600 key copy.
enum HostileKeys {
    static let key = Fixtures.privateKeyCopy("xml-sign-90B3D51F30010000-ds.key.pem")
    static let cert = Fixtures.path("\(Fixtures.keys)/xml-sign-90B3D51F30010000-ds.pem")
    static let template = Fixtures.path("\(Fixtures.templates)/\(Fixtures.template623Names[0])")
}

/// Checks a refusal: the exit code, a message naming the reason, the time and memory bounds, and that the
/// workspace holds exactly what it held before (no output, no temporary file left behind).
func expectHostileRefusal(_ run: HostileRun, exit: Int32, mentioning fragments: [String], workspace: HostileWorkspace,
                          before: Set<String>, maxRSSKiB: Int = 512 * 1024,
                          sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(run.status == exit, "\(run)", sourceLocation: sourceLocation)
    let text = run.stdout + run.stderr
    for fragment in fragments {
        #expect(text.localizedCaseInsensitiveContains(fragment), "message lacks '\(fragment)': \(run)", sourceLocation: sourceLocation)
    }
    #expect(run.cpuSeconds < HostileLimits.cpuSeconds, "too slow: \(run)", sourceLocation: sourceLocation)
    #expect(run.maxRSSKiB < maxRSSKiB, "used too much memory: \(run)", sourceLocation: sourceLocation)
    #expect(workspace.contents() == before, "files were written: \(workspace.contents().subtracting(before))",
            sourceLocation: sourceLocation)
}
