import ArgumentParser
import CoSSigner
import CoSSignerTesting

#if canImport(Glibc)
import Glibc
#endif

/// `cos-signer counter ...`: the durable originator counter store (hidden; for operators and tests).
struct CounterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "counter",
        abstract: "Reserve or seed RequestID originator counters in a durable store.",
        discussion: """
            The store is a text file with one line per Business Originator, 'EUI64 next-free-counter', \
            guarded by an exclusive lock on STORE.lock. Counters handed out are never handed out again, \
            across runs and concurrent processes, even after a crash.

            Examples:
              cos-signer counter reserve --store counters.txt --originator 90-B3-D5-1F-3F-01-00-00 --count 100
              cos-signer counter seed --store counters.txt --originator 90-B3-D5-1F-3F-01-00-00 --time
            """,
        shouldDisplay: false,
        subcommands: [Reserve.self, Seed.self, Show.self]
    )

    struct Reserve: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reserve",
            abstract: "Reserve blocks of counters and print each as 'FIRST-LAST'.",
            discussion: """
                Each block is durably recorded in the store before its line is printed (and flushed).

                Example:
                  cos-signer counter reserve --store counters.txt --originator 90-B3-D5-1F-3F-01-00-00 --count 10 --repeat 3
                """
        )

        @Option(help: ArgumentHelp("The counter store file (created if missing).", valueName: "FILE"))
        var store: String

        @Option(help: ArgumentHelp("The Business Originator (User ID), e.g. 90-B3-D5-1F-3F-01-00-00.", valueName: "EUI64"))
        var originator: String

        @Option(help: "How many counters per block.")
        var count: UInt64 = 1

        @Option(name: .customLong("repeat"), help: "How many blocks to reserve, one after another.")
        var repetitions: Int = 1

        @Option(help: ArgumentHelp("Blocks start at this counter or above.", valueName: "N"))
        var floor: UInt64 = 1

        func validate() throws {
            if count < 1 { throw ValidationError("--count must be at least 1") }
            if repetitions < 1 { throw ValidationError("--repeat must be at least 1") }
        }

        func run() throws {
            let id = try EUI64(parsing: originator)
            let counterStore = CounterStore(path: store)
            for _ in 0..<repetitions {
                let block = try counterStore.reserve(originator: id, count: count, floor: floor)
                try writeLine("\(block.lowerBound)-\(block.upperBound)")
            }
        }
    }

    struct Seed: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "seed",
            abstract: "Raise an originator's next counter to a floor and print it.",
            discussion: """
                Use it when a store is started for a User ID that already sent requests, so that new \
                counters stay above the old ones. --time uses the current time in milliseconds (the DCC \
                Boxed convention).

                Example:
                  cos-signer counter seed --store counters.txt --originator 90-B3-D5-1F-3F-01-00-00 --at-least 5000
                """
        )

        @Option(help: ArgumentHelp("The counter store file (created if missing).", valueName: "FILE"))
        var store: String

        @Option(help: ArgumentHelp("The Business Originator (User ID).", valueName: "EUI64"))
        var originator: String

        @Option(name: .customLong("at-least"), help: ArgumentHelp("The floor.", valueName: "N"))
        var atLeast: UInt64?

        @Flag(help: "Use the current time in milliseconds as the floor.")
        var time = false

        func validate() throws {
            if (atLeast == nil) == !time { throw ValidationError("give exactly one of --at-least N and --time") }
        }

        func run() throws {
            let id = try EUI64(parsing: originator)
            let floor = atLeast ?? currentTimeMilliseconds()
            let next = try CounterStore(path: store).raiseFloor(originator: id, to: floor)
            try writeLine(next.map { "\(id) next \($0)" } ?? "\(id) exhausted")
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Print each originator's next free counter.",
            discussion: """
                Example:
                  cos-signer counter show --store counters.txt
                """
        )

        @Option(help: ArgumentHelp("The counter store file.", valueName: "FILE"))
        var store: String

        func run() throws {
            let entries = try CounterStore(path: store).snapshot()
            for (id, next) in entries.sorted(by: { $0.key < $1.key }) {
                try writeLine("\(id) \(next.map(String.init) ?? "exhausted")")
            }
        }
    }
}

/// Writes one line to standard output at once, unbuffered, so that a process killed right after
/// still has printed every line it reported.
/// - Throws: ``FileError`` (exit 2) when the line cannot be written (a block reserved but not printed is a gap,
///   never a repeat).
private func writeLine(_ line: String) throws {
    Terminal.flush()
    try Files.writeAll(fd: 1, Array((line + "\n").utf8), path: "-")
}
