import CoSSignerTestSupport
import Foundation
import Testing
@testable import CoSSigner
@testable import CoSSignerTesting

#if canImport(Glibc)
import Glibc
#endif

/// The one place user-named paths are opened (Support/Files.swift), and the bounded renderings of long error
/// lists: the library-level side of issue 17 (the CLI side is HostileFilesTests).
@Suite struct FilesTests {
    @Test func onlyRegularFilesAreOpenedAndNothingBlocks() throws {
        let workspace = try HostileWorkspace()
        defer { workspace.remove() }
        let file = try workspace.write("file.txt", Array("text\n".utf8))
        let fifo = workspace.path("fifo")
        try #require(mkfifo(fifo, 0o600) == 0)
        let opened = try Files.openRegularFile(file)
        #expect(fcntl(opened.fd, F_GETFL) & O_NONBLOCK == 0, "O_NONBLOCK is cleared after the check")
        close(opened.fd)
        for (path, reason) in [(fifo, "is a FIFO (named pipe), not a regular file"), ("/dev/zero", "is a character device, not a regular file"),
                               (workspace.directory.path, "is a directory")] {
            let error = try #require(#expect(throws: FileError.self) { try Files.openRegularFile(path, failureClass: .keyOrCertificate) })
            #expect(error.reason == reason && error.failureClass == .keyOrCertificate, "\(error)")
            #expect(throws: FileError.self) { try Files.read(path, maxBytes: 1 << 20) }
        }
        #expect(try Files.read(file, maxBytes: 16) == Array("text\n".utf8))
        #expect(throws: FileError.self) { try Files.openDirectory(file) }
        #expect(throws: FileError.self) { try Files.openDirectory(fifo) }
        let directory = try Files.openDirectory(workspace.directory.path)
        close(directory)
        #expect(throws: FileError.self) { try BatchInputs(paths: [fifo]) }
    }

    @Test func outputsGoOnlyToRegularFilesOrNewNames() throws {
        let workspace = try HostileWorkspace()
        defer { workspace.remove() }
        let file = try workspace.write("file.txt", Array("old".utf8))
        let link = workspace.path("link.txt")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: file)
        try Files.checkOutputTarget(file)
        try Files.checkOutputTarget(workspace.path("new.txt"))
        try Files.checkOutputTarget("-")
        for path in [link, "/dev/null", workspace.directory.path] {
            let error = try #require(#expect(throws: FileError.self) { try Files.checkOutputTarget(path) })
            #expect(error.failureClass == .input && error.reason.contains("outputs are written only to regular files or new names"), "\(error)")
            #expect(throws: FileError.self) { try Files.writeAtomically(Array("new".utf8), to: path) }
        }
        #expect(throws: FileError.self) { try Files.createOutputFile(link) }
        try Files.writeAtomically(Array("new".utf8), to: file)
        #expect(try Files.read(file, maxBytes: 16) == Array("new".utf8))
        // Standard output is named as such when a write to it fails.
        #expect(FileError(path: "-", reason: "write failed", isOutput: true).description == "standard output: write failed")
        #expect(FileError(path: "-", reason: "read failed").description == "standard input: read failed")
    }

    @Test func sameFileComparesDevicesAndInodes() throws {
        let workspace = try HostileWorkspace()
        defer { workspace.remove() }
        let file = try workspace.write("a.xml", Array("<a/>".utf8))
        try FileManager.default.linkItem(atPath: file, toPath: workspace.path("hard.xml"))
        try FileManager.default.createSymbolicLink(atPath: workspace.path("soft.xml"), withDestinationPath: "a.xml")
        try workspace.write("b.xml", Array("<a/>".utf8))
        #expect(Files.sameFile(file, workspace.path("hard.xml")))
        #expect(Files.sameFile(file, workspace.path("soft.xml")))
        #expect(Files.sameFile(file, workspace.directory.path + "/./a.xml"))
        #expect(!Files.sameFile(file, workspace.path("b.xml")))
        #expect(Files.sameFile(workspace.path("new.xml"), workspace.directory.path + "/./new.xml"))
        #expect(!Files.sameFile("-", "-"))
    }

    @Test func aCheckedStreamKeepsTheFirstFailure() throws {
        let workspace = try HostileWorkspace()
        defer { workspace.remove() }
        let stream = try CheckedOutputStream(creating: workspace.path("report.jsonl"))
        for i in 0..<10_000 { stream.writeLine("line \(i)") }
        #expect(stream.finish() == nil)
        #expect(hostileText(workspace.path("report.jsonl")).split(separator: "\n").count == 10_000)
        #expect(throws: FileError.self) { try CheckedOutputStream(creating: "/dev/full") }
    }

    @Test func longListsAreCappedWithACount() {
        #expect(cappedList(["1", "2"]) == "1, 2")
        #expect(cappedList(Array(repeating: "1", count: 5_000), limit: 3) == "1, 1, 1, … (5000 in all)")
        // 30,000 parties with five problems each: 20 of each kind, then one line per kind with the rest.
        let problems = (0..<30_000).flatMap { index in
            ["name", "mpids", "user_ids", "signing_key", "signing_certificate"].map {
                PartyRegistryProblem(.missingField, party: "p\(index)", field: $0, line: 2 * index + 1, reason: "required")
            }
        } + [PartyRegistryProblem(.noParties, reason: "x"), PartyRegistryProblem(.invalidValue, reason: String(repeating: "v", count: 10_000))]
        let error = PartyRegistryError(source: "big.toml", problems: problems)
        let lines = error.renderedProblems
        #expect(lines.count == 20 + 1 + 1 + 1)
        #expect(lines.contains("… and 149980 more 'missing field' problems"))
        #expect(lines.allSatisfy { $0.count <= PartyRegistryError.maximumLineCharacters + 40 })
        #expect(error.description.hasPrefix("party registry big.toml refused, 150002 problems:"))
        let registration = RegistrationDataError(source: "r.csv", problems: (1...500).map { .init(line: $0, reason: "bad") })
        #expect(registration.renderedProblems.count == RegistrationDataError.maximumListed + 1)
        #expect(registration.description.hasSuffix("registration data r.csv: … and 480 more problems"))
    }
}
