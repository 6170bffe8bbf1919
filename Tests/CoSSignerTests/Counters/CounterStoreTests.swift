import CoSSignerTestSupport
import Foundation
import Testing
@testable import CoSSigner
@testable import CoSSignerTesting

#if canImport(Glibc)
import Glibc
#endif

/// Helpers for the counter tests.
enum CounterTestSupport {
    static let originator = EUI64(0x90B3_D51F_3F01_0000)
    static let otherOriginator = EUI64(0x90B3_D51F_3F02_0000)

    static func storePath() throws -> (directory: URL, path: String) {
        let directory = try TestPaths.temporaryDirectory()
        return (directory, directory.appendingPathComponent("counters.txt").path)
    }

    static func text(_ path: String) throws -> String {
        String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self)
    }

    /// Parses `FIRST-LAST` lines printed by `cos-signer counter reserve`; an unterminated last line
    /// (a process killed mid-write) is ignored.
    static func ranges(_ output: String) -> [ClosedRange<UInt64>] {
        var lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        if !output.hasSuffix("\n") { lines.removeLast() }
        return lines.compactMap { line in
            let parts = line.split(separator: "-")
            guard parts.count == 2, let a = UInt64(parts[0]), let b = UInt64(parts[1]), a <= b else { return nil }
            return a...b
        }
    }

    /// True when no two ranges share a value.
    static func disjoint(_ ranges: [ClosedRange<UInt64>]) -> Bool {
        let sorted = ranges.sorted { $0.lowerBound < $1.lowerBound }
        return zip(sorted, sorted.dropFirst()).allSatisfy { $0.upperBound < $1.lowerBound }
    }

    /// Starts `cos-signer` with `arguments`, reading its standard output concurrently.
    final class CounterTestChild: Sendable {
        let process: BackgroundProcess

        init(_ arguments: [String]) throws { process = try TestProcess.start(CLI.executable, arguments) }

        func kill() { process.kill(SIGKILL) }

        /// Waits for the process and returns (status, standard output).
        func finish() -> (Int32, String) {
            let result = process.finish()
            return (result.status, result.stdout)
        }
    }
}

@Suite struct CounterStoreTests {
    typealias Support = CounterTestSupport

    @Test func reservesConsecutiveBlocksAndWritesTheDocumentedFormat() throws {
        let (directory, path) = try Support.storePath()
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = CounterStore(path: path)
        #expect(try store.reserve(originator: Support.originator, count: 1) == 1...1)
        #expect(try store.reserve(originator: Support.originator, count: 10) == 2...11)
        #expect(try store.reserve(originator: Support.otherOriginator, count: 5, floor: 1000) == 1000...1004)
        // A floor below the next counter changes nothing; above it, it skips ahead.
        #expect(try store.reserve(originator: Support.originator, count: 1, floor: 5) == 12...12)
        #expect(try store.reserve(originator: Support.originator, count: 2, floor: 100) == 100...101)
        #expect(try Support.text(path) == """
            # CoSSigner originator counter store v1: EUI64 next-free-counter
            90-B3-D5-1F-3F-01-00-00 102
            90-B3-D5-1F-3F-02-00-00 1005

            """)
        #expect(try store.raiseFloor(originator: Support.originator, to: 50) == 102)
        #expect(try store.raiseFloor(originator: Support.originator, to: 5000) == 5000)
        #expect(try store.reserve(originator: Support.originator, count: 1) == 5000...5000)
        let snapshot = try store.snapshot()
        #expect(snapshot[Support.originator] == .some(5001))
        #expect(FileManager.default.fileExists(atPath: store.lockPath))
        #expect(!FileManager.default.fileExists(atPath: path + ".tmp"))
    }

    @Test func readsLowerCaseCommentsAndBlankLines() throws {
        let (directory, path) = try Support.storePath()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Data("# hand-made\n\n90-b3-d5-1f-3f-01-00-00\t\t77\r\n".utf8).write(to: URL(fileURLWithPath: path))
        #expect(try CounterStore(path: path).reserve(originator: Support.originator, count: 3) == 77...79)
    }

    @Test func refusesToPassTwoToThe64MinusOne() throws {
        let (directory, path) = try Support.storePath()
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = CounterStore(path: path)
        try store.raiseFloor(originator: Support.originator, to: UInt64.max - 1)
        #expect(throws: CounterStoreError.self) { try store.reserve(originator: Support.originator, count: 3) }
        #expect(try store.reserve(originator: Support.originator, count: 2) == (UInt64.max - 1)...UInt64.max)
        #expect(try Support.text(path).contains("90-B3-D5-1F-3F-01-00-00 18446744073709551616\n"))
        do {
            _ = try store.reserve(originator: Support.originator, count: 1)
            Issue.record("an exhausted originator must be refused")
        } catch {
            #expect(error.kind == .exhausted)
            #expect(error.failureClass == .input)
        }
        #expect(try store.raiseFloor(originator: Support.originator, to: 5) == nil)
        // Other originators are unaffected.
        #expect(try store.reserve(originator: Support.otherOriginator, count: 1) == 1...1)
        #expect(throws: CounterStoreError.self) { try store.reserve(originator: Support.otherOriginator, count: 0) }
    }

    @Test(arguments: [
        ("90-B3-D5-1F-3F-01-00-00 0\n", 1, "must be 1"),
        ("90-B3-D5-1F-3F-01-00-00 18446744073709551617\n", 1, "must be 1"),
        ("90-B3-D5-1F-3F-01-00-00 -5\n", 1, "decimal digits"),
        ("90-B3-D5-1F-3F-01-00-00 12 extra\n", 1, "2 fields"),
        ("# c\n90-B3-D5-1F-3F-01-00 12\n", 2, "not an EUI-64"),
        ("90-B3-D5-1F-3F-01-00-00 12\n90-b3-d5-1f-3f-01-00-00 13\n", 2, "more than once"),
        ("90-B3-D5-1F-3F-01-00-00 12", 1, "no line feed"),
        ("\u{FF}\n", nil, "UTF-8"),
    ] as [(String, Int?, String)])
    func refusesACorruptStoreWithoutResettingIt(content: String, line: Int?, reason: String) throws {
        let (directory, path) = try Support.storePath()
        defer { try? FileManager.default.removeItem(at: directory) }
        var bytes = Array(content.utf8)
        if content == "\u{FF}\n" { bytes = [0xFF, 0x0A] }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        do {
            _ = try CounterStore(path: path).reserve(originator: Support.originator, count: 1)
            Issue.record("a corrupt store must be refused")
        } catch {
            #expect(error.kind == .corrupt)
            #expect(error.path == path)
            #expect(error.line == line)
            #expect(error.reason.contains(reason), "\(error)")
            #expect(error.failureClass == .input)
            #expect(error.description.hasPrefix(path))
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(bytes), "the corrupt store must be left as it was")
    }

    @Test func unwritableStoreIsAnIOError() throws {
        let store = CounterStore(path: "/nonexistent-cossigner-dir/counters.txt")
        #expect(throws: CounterStoreError(kind: .io, path: store.path, reason: "")) {
            try store.reserve(originator: Support.originator, count: 1)
        }
    }

    @Test func blocksFromManyTasksNeverOverlapAndIncreasePerTask() async throws {
        let (directory, path) = try Support.storePath()
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = CounterStore(path: path)
        let perTask = try await withThrowingTaskGroup(of: [ClosedRange<UInt64>].self) { group in
            for task in 0..<8 {
                group.addTask {
                    var ranges: [ClosedRange<UInt64>] = []
                    for _ in 0..<25 {
                        ranges.append(try store.reserve(originator: Support.originator, count: UInt64(task % 3 + 1)))
                    }
                    return ranges
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        for ranges in perTask {
            #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound < $1.lowerBound })
        }
        let all = perTask.flatMap { $0 }
        #expect(all.count == 200)
        #expect(Support.disjoint(all))
        let used = all.reduce(UInt64(0)) { $0 + UInt64($1.count) }
        // Nothing was lost in this run: the blocks tile 1 ... used exactly.
        #expect(all.map(\.upperBound).max() == used)
        #expect(try store.snapshot()[Support.originator] == .some(used + 1))
    }

    @Test func assignerHandsOutBlocksFromTheStore() throws {
        let (directory, path) = try Support.storePath()
        defer { try? FileManager.default.removeItem(at: directory) }
        let request = try RequestID(parsing: "90-B3-D5-1F-3F-01-00-00:00-DB-12-34-56-78-90-A0:7")
        let assigner = CounterAssigner(policy: .store(path: path), blockSize: 10, floor: 500)
        var counters: [UInt64] = []
        for _ in 0..<25 { counters.append(try assigner.assign(to: request).counter) }
        #expect(counters == Array(500..<525))
        // Three blocks of 10 were reserved; the unused five are a gap, never reissued.
        #expect(try CounterStore(path: path).snapshot()[request.businessOriginator] == .some(530))
        let second = CounterAssigner(policy: .store(path: path), blockSize: 10)
        #expect(try second.assign(to: request).counter == 530)

        #expect(try CounterAssigner(policy: .preserve).assign(to: request) == request)
        let timed = try CounterAssigner(policy: .time).assign(to: request)
        #expect(timed.counter >= currentTimeMilliseconds() - 60_000)
        #expect(timed.businessOriginator == request.businessOriginator && timed.businessTarget == request.businessTarget)
    }
}

@Suite struct TimeCounterTests {
    @Test func strictlyIncreasingWithinOneFrozenMillisecond() throws {
        let counter = TimeCounter(clock: { 1_700_000_000_000 })
        var previous: UInt64 = 0
        for _ in 0..<10_000 {
            let value = try counter.next()
            #expect(value > previous)
            previous = value
        }
        #expect(previous == 1_700_000_000_000 + 9_999)
        // Blocks continue the same sequence.
        #expect(try counter.reserve(count: 5) == (previous + 1)...(previous + 5))
    }

    @Test func aClockGoingBackwardsDoesNotRepeat() throws {
        let clockValue = ClockBox(5_000)
        let counter = TimeCounter(clock: { clockValue.value })
        #expect(try counter.next() == 5_000)
        clockValue.value = 1_000
        #expect(try counter.next() == 5_001)
        clockValue.value = 9_000
        #expect(try counter.next() == 9_000)
        clockValue.value = 0
        #expect(try counter.next() == 9_001)
        #expect(try TimeCounter(clock: { 0 }).next() == 1, "never 0")
        let nearEnd = TimeCounter(clock: { UInt64.max })
        #expect(try nearEnd.next() == UInt64.max)
        #expect(throws: CounterStoreError.self) { try nearEnd.next() }
    }

    @Test func manyTasksGetDistinctIncreasingValues() async throws {
        let counter = TimeCounter()
        let perTask = try await withThrowingTaskGroup(of: [UInt64].self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var values: [UInt64] = []
                    for _ in 0..<2_500 { values.append(try counter.next()) }
                    return values
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        for values in perTask { #expect(zip(values, values.dropFirst()).allSatisfy { $0 < $1 }) }
        let all = perTask.flatMap { $0 }
        #expect(Set(all).count == all.count)
        #expect(all.min().map { $0 >= currentTimeMilliseconds() - 60_000 } == true)
    }

    @Test func sharedSequenceIsProcessWide() throws {
        let a = try TimeCounter.shared.next()
        let b = try TimeCounter.shared.next()
        #expect(b > a)
    }
}

/// A mutable clock for ``TimeCounterTests``.
final class ClockBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: UInt64
    init(_ value: UInt64) { stored = value }
    var value: UInt64 {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}

/// Several OS processes and processes killed with SIGKILL, through `cos-signer counter reserve`.
@Suite(.serialized) struct CounterStoreProcessTests {
    typealias Support = CounterTestSupport

    @Test func concurrentProcessesNeverOverlap() throws {
        let (directory, path) = try Support.storePath()
        defer { try? FileManager.default.removeItem(at: directory) }
        let children = try (0..<4).map { index in
            try Support.CounterTestChild([
                "counter", "reserve", "--store", path, "--originator", Support.originator.description,
                "--count", String(index + 3), "--repeat", "40",
            ])
        }
        var all: [ClosedRange<UInt64>] = []
        for child in children {
            let (status, output) = child.finish()
            #expect(status == 0)
            let ranges = Support.ranges(output)
            #expect(ranges.count == 40)
            #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound < $1.lowerBound })
            all += ranges
        }
        #expect(Support.disjoint(all))
        let highest = all.map(\.upperBound).max() ?? 0
        #expect(try CounterStore(path: path).snapshot()[Support.originator] == .some(highest + 1))
    }

    @Test func processesKilledWhileReservingNeverCauseARepeat() throws {
        let (directory, path) = try Support.storePath()
        defer { try? FileManager.default.removeItem(at: directory) }
        var all: [ClosedRange<UInt64>] = []
        var killed = 0
        for round in 0..<6 {
            // Two concurrent children per round, so the kill also lands while the other holds the lock.
            let children = try (0..<2).map { _ in
                try Support.CounterTestChild([
                    "counter", "reserve", "--store", path, "--originator", Support.originator.description,
                    "--count", "5", "--repeat", "1000000",
                ])
            }
            // Wait until the children are reserving (a loaded machine may start them slowly), then kill at a
            // random moment.
            let start = (try? CounterStore(path: path).snapshot()[Support.originator]) ?? nil
            let deadline = Date().addingTimeInterval(20)
            while Date() < deadline {
                let now = (try? CounterStore(path: path).snapshot()[Support.originator]) ?? nil
                if let now, now >= (start ?? 1) + 20 { break }
                usleep(5_000)
            }
            usleep(UInt32.random(in: 0...(20_000 + UInt32(round) * 10_000)))
            for child in children {
                child.kill()
                usleep(UInt32.random(in: 0...3_000))
            }
            for child in children {
                let (status, output) = child.finish()
                if status == 128 + SIGKILL { killed += 1 }
                all += Support.ranges(output)
            }
        }
        #expect(killed >= 10, "the children should have been killed while still reserving")
        #expect(all.count > 20, "the children should have reserved something before being killed")
        #expect(Support.disjoint(all), "a killed reservation must never make a later one repeat")
        // The store survived every kill, and what it hands out next is above everything printed.
        let highest = all.map(\.upperBound).max() ?? 0
        let next = try CounterStore(path: path).reserve(originator: Support.originator, count: 1)
        #expect(next.lowerBound > highest)
        let after = try CLI.run(["counter", "reserve", "--store", path, "--originator", Support.originator.description])
        #expect(after.status == 0)
        #expect(Support.ranges(after.stdout).first.map { $0.lowerBound > next.upperBound } == true)
    }

    @Test func cliSeedShowAndErrors() throws {
        let (directory, path) = try Support.storePath()
        defer { try? FileManager.default.removeItem(at: directory) }
        let id = Support.originator.description
        var r = try CLI.run(["counter", "seed", "--store", path, "--originator", id, "--at-least", "4000"])
        #expect(r.status == 0)
        #expect(r.stdout == "\(id) next 4000\n")
        r = try CLI.run(["counter", "reserve", "--store", path, "--originator", id, "--count", "10", "--repeat", "2"])
        #expect(r.stdout == "4000-4009\n4010-4019\n")
        r = try CLI.run(["counter", "show", "--store", path])
        #expect(r.stdout == "\(id) 4020\n")
        r = try CLI.run(["counter", "seed", "--store", path, "--originator", id, "--time"])
        #expect(r.status == 0)
        // Usage errors, bad originator, corrupt store.
        #expect(try CLI.run(["counter", "reserve", "--store", path, "--originator", id, "--count", "0"]).status == 1)
        #expect(try CLI.run(["counter", "seed", "--store", path, "--originator", id]).status == 1)
        #expect(try CLI.run(["counter", "reserve", "--store", path, "--originator", "nonsense"]).status == 2)
        try Data("garbage\n".utf8).write(to: URL(fileURLWithPath: path))
        r = try CLI.run(["counter", "reserve", "--store", path, "--originator", id])
        #expect(r.status == 2)
        #expect(r.stderr.contains("\(path):1: counter store corrupt"), "\(r.stderr)")
        let help = try CLI.run(["counter", "reserve", "--help"])
        #expect(help.stdout.contains("Example:"))
    }
}
