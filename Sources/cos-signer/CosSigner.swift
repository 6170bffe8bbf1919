import ArgumentParser
import CoSSigner
import CoSSignerTesting

#if canImport(Glibc)
import Glibc
#endif

struct CosSigner: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cos-signer",
        abstract: "Build, validate, sign and verify DUIS Service Requests 6.23 (Update Security Credentials (CoS)).",
        discussion: """
            Exit codes (every command): 0 success, 1 usage, 2 input unreadable, malformed or not acceptable, \
            3 key or certificate missing or unusable, 4 key selection refused, 10 signature invalid.
            """,
        version: CoSSignerVersion.current,
        subcommands: [UsageMarkdownCommand.self, BuildCommand.self, SignCommand.self, VerifyCommand.self, InspectCommand.self, VectorsCommand.self, CounterCommand.self, TestPKICommand.self, PartiesCommand.self, BenchCommand.self]
    )

    /// Parses the command line, runs the command and exits with the documented exit codes.
    static func runMain() -> Never {
        let code: Int32
        do {
            var command = try parseSignDirectly() ?? parseAsRoot()
            try command.run()
            code = 0
        } catch let failure as CommandFailure {
            code = failure.exitCode
        } catch let error as ClassifiedError {
            Terminal.error(error.description)
            code = ExitStatus.of(error)
        } catch {
            let parserCode = exitCode(for: error)
            if parserCode == .success {
                exit(withError: error)
            }
            if error is ExitCode {
                code = parserCode.rawValue
            } else {
                Terminal.error(fullMessage(for: error))
                code = ExitStatus.usage
            }
        }
        // Standard output is checked like any output: a failed write (a full disk, /dev/full) fails the run.
        var finalCode = code
        if let failure = Terminal.finishStandardOutput() {
            Terminal.error(failure.description)
            finalCode = max(code, ExitStatus.input)
        }
        Terminal.flush()
        // Token keys' modules are finalised here, on this thread, before `exit` runs the process's destructors (the
        // module's and OpenSSL's), whatever thread let go of a key last.
        PKCS11Modules.finalizeBeforeExit()
        Platform.exit(finalCode)
    }
}

extension CosSigner {
    /// `sign …`, the command run most often, parsed as a command of its own: this skips the root command's pass
    /// over the arguments, in which ArgumentParser reflects every option of `sign` once more (about a third of the
    /// parsing time, which is most of a one-document run's own work). Only a clean parse is taken: help, version,
    /// completion requests, usage and validation errors all fall back to parsing from the root, which handles and
    /// reports them exactly as before (the root has no options of its own, so a clean parse is the same either way).
    static func parseSignDirectly(_ arguments: [String] = Array(CommandLine.arguments.dropFirst())) -> (any ParsableCommand)? {
        guard arguments.first == SignCommand.configuration.commandName else { return nil }
        return try? SignCommand.parse(Array(arguments.dropFirst()))
    }
}

/// A command that has already reported its failures and only needs to exit with `exitCode`.
struct CommandFailure: Error {
    let exitCode: Int32
}

/// Writing to standard error and output.
enum Terminal {
    static func error(_ message: String) {
        writeErr("cos-signer: error: \(message)\n")
    }

    static func warning(_ message: String) {
        writeErr("cos-signer: warning: \(message)\n")
    }

    static func writeErr(_ text: String) {
        Terminal.flush()
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return Platform.write(2, base + offset, raw.count - offset)
            }
            if n <= 0 { break }
            offset += n
        }
    }

    /// Standard output, buffered, every write checked (a failure is reported when the command ends).
    static let standardOutput = CheckedOutputStream.standardOutput()

    static func out(_ line: String) {
        standardOutput.writeLine(line)
    }

    static func flush() {
        standardOutput.flush()
        fflush(nil)
    }

    /// Writes what is buffered for standard output; returns the first write to it that failed, if any.
    static func finishStandardOutput() -> FileError? {
        fflush(nil)
        return standardOutput.finish()
    }
}
