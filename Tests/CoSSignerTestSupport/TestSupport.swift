import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The one place tests find the repository, the `shared/` folder beside it, temporary folders, and run programs.
public enum TestPaths {
    /// The repository (found from this file's path).
    public static let repository: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `<repo>/../shared`.
    public static let shared: URL = repository.deletingLastPathComponent().appendingPathComponent("shared")

    /// A file of `shared/`.
    public static func shared(_ relative: String) -> String { shared.appendingPathComponent(relative).path }

    /// A file of the repository.
    public static func repository(_ relative: String) -> String { repository.appendingPathComponent(relative).path }

    /// A fresh temporary directory.
    public static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cossigner-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A built executable of this package (beside the test bundle).
    public static func product(_ name: String) -> String {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        if dir.lastPathComponent.hasSuffix(".xctest") { dir = dir.deletingLastPathComponent() }
        return dir.appendingPathComponent(name).path
    }
}

/// A program the tests need that is not installed: a loud failure, never a skip.
public struct ToolMissing: Error, CustomStringConvertible {
    public let tool: String
    public var description: String { "required tool '\(tool)' is not installed (CI installs it through .ci/run)" }
    public init(tool: String) { self.tool = tool }
}

/// The result of running a program.
public struct ProcessResult: Sendable {
    public let status: Int32
    public let stdout: String
    public let stderr: String
    /// Standard output as bytes (a program whose output is not text, or must be compared byte for byte).
    public let output: [UInt8]
    /// User plus system CPU time of the program alone (wait4), when it was started with ``TestProcess/start(_:_:environment:stdinPath:stdoutPath:stderrPath:)``.
    public var cpuSeconds: Double? = nil
    /// Both outputs, standard output first (for a message on failure).
    public var combined: String { stdout + stderr }
}

/// Runs programs to completion.
public enum TestProcess {
    /// The absolute path of `executable` (searched in the usual folders when it has no `/`).
    /// - Throws: ``ToolMissing`` (and records an issue) when it is not installed.
    public static func resolve(_ executable: String) throws -> String {
        let candidates = executable.hasPrefix("/") ? [executable]
            : ["/usr/bin", "/usr/local/bin", "/bin", "/usr/sbin", "/sbin"].map { "\($0)/\(executable)" }
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            Issue.record("required tool '\(executable)' is not installed (CI installs it through .ci/run)")
            throw ToolMissing(tool: executable)
        }
        return found
    }

    /// Runs `executable` to completion, feeding `stdin`; both outputs are read as they come (`poll`), so a full
    /// pipe never blocks the child. Spawned with `posix_spawn` and reaped with `waitpid` (Foundation's `Process`
    /// can miss the exit of a child whose own children daemonise, e.g. `pg_ctl start`).
    @discardableResult
    public static func run(_ executable: String, _ arguments: [String], stdin: [UInt8]? = nil,
                           environment: [String: String]? = nil) throws -> ProcessResult {
        let path = try resolve(executable)
        var inPipe: [Int32] = [0, 0], outPipe: [Int32] = [0, 0], errPipe: [Int32] = [0, 0]
        guard pipe(&inPipe) == 0, pipe(&outPipe) == 0, pipe(&errPipe) == 0 else { throw SpawnFailed(reason: "pipe: \(errno)") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        for fd in inPipe + outPipe + errPipe { posix_spawn_file_actions_addclose(&actions, fd) }
        let env = environment.map { ProcessInfo.processInfo.environment.merging($0) { $1 } } ?? ProcessInfo.processInfo.environment
        let argv = [path] + arguments
        let envp = env.map { "\($0.key)=\($0.value)" }
        var pid: pid_t = 0
        let spawned = withCStrings(argv) { cArgv in
            withCStrings(envp) { cEnvp in posix_spawn(&pid, path, &actions, nil, cArgv, cEnvp) }
        }
        close(inPipe[0]); close(outPipe[1]); close(errPipe[1])
        guard spawned == 0 else {
            close(inPipe[1]); close(outPipe[0]); close(errPipe[0])
            throw SpawnFailed(reason: "posix_spawn \(path): \(spawned)")
        }
        // Feed stdin from a thread (a large input must not block reading the outputs).
        let input = stdin ?? []
        let inputFD = inPipe[1]
        let writer = Thread {
            var offset = 0
            input.withUnsafeBytes { raw in
                while offset < raw.count, let base = raw.baseAddress {
                    let n = write(inputFD, base + offset, raw.count - offset)
                    if n <= 0 { if n < 0 && errno == EINTR { continue }; break }
                    offset += n
                }
            }
            close(inputFD)
        }
        writer.start()
        var out = [UInt8](), err = [UInt8]()
        var fds = [pollfd(fd: outPipe[0], events: Int16(POLLIN), revents: 0), pollfd(fd: errPipe[0], events: Int16(POLLIN), revents: 0)]
        var open = 2
        var buffer = [UInt8](repeating: 0, count: 65536)
        while open > 0 {
            guard poll(&fds, nfds_t(fds.count), -1) >= 0 else { if errno == EINTR { continue }; break }
            for index in fds.indices where fds[index].fd >= 0 && fds[index].revents != 0 {
                let n = buffer.withUnsafeMutableBytes { read(fds[index].fd, $0.baseAddress, $0.count) }
                if n > 0 {
                    if index == 0 { out += buffer[0..<n] } else { err += buffer[0..<n] }
                } else if n == 0 || errno != EINTR {
                    close(fds[index].fd)
                    fds[index].fd = -1
                    open -= 1
                }
            }
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        let exitCode: Int32 = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        return ProcessResult(status: exitCode, stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self),
                             output: out)
    }

    /// Starts `executable` in the background. Standard input from `stdinPath` (/dev/null by default); standard output
    /// to `stdoutPath`, or to a file of its own that ``BackgroundProcess/finish()`` reads; standard error to
    /// `stderrPath`, or to a file of its own; `finish()` reads standard error either way.
    public static func start(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                             stdinPath: String = "/dev/null", stdoutPath: String? = nil,
                             stderrPath: String? = nil) throws -> BackgroundProcess {
        let path = try resolve(executable)
        let directory = try TestPaths.temporaryDirectory()
        let outPath = stdoutPath ?? directory.appendingPathComponent("stdout").path
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdinPath, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let errPath = stderrPath ?? directory.appendingPathComponent("stderr").path
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let env = environment.map { ProcessInfo.processInfo.environment.merging($0) { $1 } } ?? ProcessInfo.processInfo.environment
        var pid: pid_t = 0
        let spawned = withCStrings([path] + arguments) { cArgv in
            withCStrings(env.map { "\($0.key)=\($0.value)" }) { cEnvp in posix_spawn(&pid, path, &actions, nil, cArgv, cEnvp) }
        }
        guard spawned == 0 else {
            try? FileManager.default.removeItem(at: directory)
            Issue.record("cannot run \(path): \(String(cString: strerror(spawned)))")
            throw SpawnFailed(reason: "posix_spawn \(path): \(spawned)")
        }
        return BackgroundProcess(pid: pid, directory: directory, outPath: stdoutPath == nil ? outPath : nil, errPath: errPath)
    }

    /// A whole file read with POSIX calls (Foundation's readers leak in this toolchain under AddressSanitizer); at
    /// most `limit` bytes; empty when it cannot be opened.
    static func readFile(_ path: String, limit: Int = 64 << 20) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var bytes = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while bytes.count < limit {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, min($0.count, limit - bytes.count)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        return bytes
    }

    /// `body` with `strings` as a NULL-terminated C array.
    static func withCStrings<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
        var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        pointers.append(nil)
        defer { for pointer in pointers { free(pointer) } }
        return body(pointers)
    }
}

/// A program started by ``TestProcess/start(_:_:environment:stderrPath:)``.
public final class BackgroundProcess: @unchecked Sendable {
    /// Its process id.
    public let pid: pid_t
    private let directory: URL
    private let outPath: String?
    private let errPath: String
    private let lock = NSLock()
    private var reaped: ProcessResult?  // guarded by `lock`

    init(pid: pid_t, directory: URL, outPath: String?, errPath: String) {
        self.pid = pid
        self.directory = directory
        self.outPath = outPath
        self.errPath = errPath
    }

    /// Whether it is still running (it has not exited; it is not reaped here).
    public var isRunning: Bool {
        lock.lock()
        let ended = reaped != nil
        lock.unlock()
        if ended { return false }
        var info = siginfo_t()  // zeroed: si_pid stays 0 when it has not exited (WNOHANG)
        guard waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 else { return false }
        return info._sifields._sigchld.si_pid == 0
    }

    /// Sends `signal` (SIGKILL by default).
    public func kill(_ signal: Int32 = SIGKILL) { _ = Glibc.kill(pid, signal) }

    /// Waits for its end (`wait4`, once: later calls give the same result): its status (128 + signal when killed),
    /// its outputs (standard output when it went to a file of its own) and its CPU time.
    public func finish() -> ProcessResult {
        lock.lock()
        defer { lock.unlock() }
        if let reaped { return reaped }
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0, errno == EINTR {}
        let exitCode: Int32 = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        let out = outPath.map { TestProcess.readFile($0) } ?? []
        let err = TestProcess.readFile(errPath)
        try? FileManager.default.removeItem(at: directory)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1_000_000 }
        let result = ProcessResult(status: exitCode, stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self),
                                   output: out, cpuSeconds: seconds(usage.ru_utime) + seconds(usage.ru_stime))
        reaped = result
        return result
    }

    /// Waits at most `timeout` seconds for its end: its status, or nil while it still runs.
    public func waitForExit(timeout: TimeInterval) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while isRunning && Date() < deadline { usleep(20_000) }
        return isRunning ? nil : finish().status
    }
}

/// A program could not be started.
public struct SpawnFailed: Error, CustomStringConvertible {
    public let reason: String
    public var description: String { "cannot start a program: \(reason)" }
}
