import CoSSignerTestSupport
import CoSSigner
import CoSSignerTesting
import Foundation
import Testing

/// Regression tests for what the `parties` fuzz target found (Scripts/fuzz parties): toml++ 3.4.0, inside
/// TOMLKit 0.6.0, aborted on an assertion (debug) or had undefined behaviour (release) for a table header whose
/// `[` is not followed by a key, and for a value starting with a terminator. The registry text is now checked
/// against a plain TOML subset first (PartyRegistryTOMLGuard), and refused with a syntax problem naming the line.
@Suite struct HostileRegistryTests {
    static let fuzzFindings: [(name: String, text: String, line: Int, reason: String)] = [
        ("crash-9438d0ed: ')' after '['", "[)[party]]\nidpxn,m\"\n", 1, "expected a key, found ')'"),
        ("crash-aa5ddc92: '[' at the end of a line", "[\n]]diy=x\"key&+", 1, "expected a key, found the end of the line"),
        ("crash-d89d31a0: '}' starting an array element", "# parties\n[[party]]\nid = \"gts\"\nmpids = [\"GTSE\", }GTSG\"]\n", 4,
         "expected a value, found '}'"),
        ("'[[[' header", "# registry\n[[[party]]]\nid = \"x\"\n", 2, "expected a key, found '['"),
        ("'[[' then the end of a line", "[[party]]\nid = \"x\"\n[[\n", 3, "expected a key"),
        ("'[ ' then a symbol", "[ =x]\n", 1, "expected a key, found '='"),
        ("missing value", "[[party]]\nid =\n", 2, "expected a value"),
        ("array element missing", "[[party]]\nmpids = [\"A\",,\"B\"]\n", 2, "expected a value, found ','"),
        ("control character", "[[party]]\nid = \"a\u{07}b\"\n", 2, "control character"),
        ("lone carriage return", "[[party]]\rid = \"x\"\n", 1, "carriage return"),
        ("bad escape", "[[party]]\nid = \"\\q\"\n", 2, "unknown escape"),
        ("surrogate escape", "[[party]]\nid = \"\\uD800\"\n", 2, "not a Unicode scalar"),
        ("deep nesting", "[[party]]\nmpids = " + String(repeating: "[", count: 10_000) + "\n", 2, "nested deeper"),
    ]

    @Test func fuzzFindingsAreRefusedNotCrashed() throws {
        let workspace = try PartiesWorkspace()
        defer { workspace.remove() }
        for finding in Self.fuzzFindings {
            let path = try workspace.write("fuzz.toml", finding.text)
            do {
                _ = try PartyRegistry(contentsOfFile: path, loader: .files)
                Issue.record("\(finding.name): loaded")
            } catch {
                #expect(error.problems.count == 1, "\(finding.name): \(error.problems)")
                let problem = try #require(error.problems.first)
                #expect(problem.kind == .syntax, "\(finding.name): \(problem)")
                #expect(problem.line == finding.line, "\(finding.name): \(problem)")
                #expect(problem.reason.contains(finding.reason), "\(finding.name): \(problem)")
                #expect(error.failureClass == .selectionRefused, "\(finding.name): \(error.failureClass)")
            }
        }
    }

    @Test func theGuardLeavesValidTOMLToTheParser() throws {
        let workspace = try PartiesWorkspace()
        defer { workspace.remove() }
        // A '[' line inside a multi-line string is text, not a header: toml++ reads it, and the registry is
        // refused only for what it really lacks.
        let path = try workspace.write("multi.toml", "[[party]]\nid = \"gts\"\nname = \"\"\"\n[)\n\"\"\"\n")
        do {
            _ = try PartyRegistry(contentsOfFile: path, loader: .files)
            Issue.record("loaded a registry without keys")
        } catch {
            #expect(!error.problems.contains { $0.kind == .syntax }, "\(error.problems)")
            #expect(error.problems.contains { $0.kind == .missingField }, "\(error.problems)")
        }
    }

    @Test func theCLIRefusesWithExitCodeAndLine() throws {
        let workspace = try PartiesWorkspace()
        defer { workspace.remove() }
        for finding in Self.fuzzFindings {
            let path = try workspace.write("fuzz.toml", finding.text)
            let run = try HostileCLI.run(["parties", "check", path])
            #expect(run.status == 4, "\(finding.name): \(run)")
            #expect(run.stderr.contains("line \(finding.line)") && run.stderr.contains(finding.reason), "\(finding.name): \(run)")
            #expect(run.cpuSeconds < HostileLimits.cpuSeconds, "\(run)")
        }
    }
}
