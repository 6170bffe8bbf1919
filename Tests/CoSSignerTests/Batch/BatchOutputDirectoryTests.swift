import CoSSignerTestSupport
import Foundation
import Testing
@testable import CoSSigner
@testable import CoSSignerTesting

#if canImport(Glibc)
import Glibc
#endif

/// The output directory of a batch: every name in it refers to a complete file (written unnamed, then linked or
/// renamed into place), existing outputs are replaced, the mode is 0644 whatever the umask, nothing is left in the
/// hidden folder, and `finish` flushes; and the bounded reader returns exactly the file's bytes.
@Suite struct BatchOutputDirectoryTests {
    static func contents(_ dir: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
    }

    @Test func outputsAppearCompleteAndTheHiddenFolderStaysEmpty() throws {
        let out = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: out) }
        let directory = try BatchOutputDirectory(path: out.path)
        let partial = out.appendingPathComponent(BatchSigningJob.partialFolderName)
        #expect(FileManager.default.fileExists(atPath: partial.path))
        var expected: [String: [UInt8]] = [:]
        for i in 0..<300 {
            let bytes = Array("<doc n=\"\(i)\">\(String(repeating: "x", count: i * 37))</doc>".utf8)
            expected["doc\(i).xml"] = bytes
            try directory.write(bytes, name: "doc\(i).xml")
        }
        // Before finish: only complete outputs, nothing left behind in the hidden folder.
        #expect(try Self.contents(partial).isEmpty)
        #expect(try Self.contents(out).filter { !$0.hasPrefix(".") }.count == 300)
        try directory.finish()
        #expect(!FileManager.default.fileExists(atPath: partial.path), "the empty hidden folder is removed")
        for (name, bytes) in expected {
            let path = out.appendingPathComponent(name).path
            #expect(try Files.read(path, maxBytes: 1 << 20) == bytes)
            var info = stat()
            #expect(stat(path, &info) == 0 && info.st_mode & 0o7777 == 0o644)
        }
        #expect(try Self.contents(out).count == 300)
    }

    @Test func anExistingOutputIsReplacedWhole() throws {
        let out = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: out) }
        let existing = out.appendingPathComponent("signed.xml")
        try Data(String(repeating: "old ", count: 5000).utf8).write(to: existing)
        let directory = try BatchOutputDirectory(path: out.path + "/")
        #expect(directory.outputPath("signed.xml") == out.path + "/signed.xml")
        try directory.write(Array("<new/>".utf8), name: "signed.xml")
        try directory.write(Array("<newer/>".utf8), name: "signed.xml")
        try directory.finish()
        #expect(try Files.read(existing.path, maxBytes: 1 << 20) == Array("<newer/>".utf8))
        #expect(try Self.contents(out) == ["signed.xml"])
    }

    @Test func theModeIsSetWhenTheUmaskWouldTakeBitsOff() throws {
        // In a child process (the umask is process-wide, and the other tests run in parallel with this one).
        let out = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: out) }
        let r = try TestProcess.run("/bin/sh", ["-c", "umask 077 && exec \"$0\" \"$@\"", CLI.executable, "sign",
                                           "--key", CLISignVerifyTests.key, "--cert", CLISignVerifyTests.cert,
                                           "--output-dir", out.path, CLISignVerifyTests.template])
        #expect(r.status == 0, "\(r.stderr)")
        let names = try Self.contents(out)
        #expect(names.count == 1)
        var info = stat()
        #expect(stat(out.appendingPathComponent(names[0]).path, &info) == 0)
        #expect(info.st_mode & 0o7777 == 0o644)
    }

    @Test func aMissingOutputDirectoryIsAFileError() throws {
        #expect(throws: FileError.self) { try BatchOutputDirectory(path: "/nonexistent-\(UUID().uuidString)") }
    }

    @Test func aBatchLargerThanTheFlushThresholdIsFlushedAndComplete() throws {
        // More than the background flusher's threshold (4 MiB), from two threads, so the flush thread runs.
        let out = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: out) }
        let directory = try BatchOutputDirectory(path: out.path)
        let chunk = [UInt8](repeating: UInt8(ascii: "z"), count: 64 << 10)
        DispatchQueue.concurrentPerform(iterations: 100) { i in
            try? directory.write(chunk, name: "big\(i).xml")
        }
        try directory.finish()
        let names = try Self.contents(out)
        #expect(names.count == 100)
        for name in names {
            #expect(try Files.read(out.appendingPathComponent(name).path, maxBytes: 1 << 20) == chunk)
        }
    }

    @Test(arguments: [0, 1, 4095, 4096, 65_535, 65_536, 65_537, 200_000])
    func theReaderReturnsExactlyTheFile(size: Int) throws {
        let dir = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let path = dir.appendingPathComponent("f").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect(try Files.read(path, maxBytes: 1 << 20) == bytes)
        if size > 0 {
            #expect(throws: FileError.self) { try Files.read(path, maxBytes: size - 1) }
            #expect(try Files.read(path, maxBytes: size) == bytes)
        }
    }
}
