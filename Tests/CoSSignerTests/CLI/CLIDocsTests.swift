import CoSSignerTestSupport
import Foundation
import Testing

/// The usage docs and completion scripts stay true to the tool.
@Suite struct CLIDocsTests {
    static let repository = TestPaths.repository

    @Test func usageDocsAreCurrent() throws {
        let generated = try CLI.run(["usage-markdown"])
        #expect(generated.status == 0)
        let committed = try String(contentsOf: Self.repository.appendingPathComponent("docs/usage.md"), encoding: .utf8)
        #expect(committed == generated.stdout, "docs/usage.md is stale: run Scripts/usage-docs")
        for command in ["build", "sign", "verify", "inspect", "parties check", "parties select", "testpki", "vectors verify"] {
            #expect(committed.contains("## cos-signer \(command)\n"), "\(command) is not documented")
        }
        #expect(committed.contains("**10** signature invalid"))
    }

    @Test(arguments: ["bash", "zsh", "fish"])
    func completionScriptsAreGenerated(_ shell: String) throws {
        let r = try CLI.run(["--generate-completion-script", shell])
        #expect(r.status == 0)
        #expect(r.stdout.contains("cos-signer"))
        #expect(r.stdout.contains("parties"))
        // Asked through `sign`, which is also parsed on its own (the one-document fast path): the same script,
        // answered from the root.
        let throughSign = try CLI.run(["sign", "--generate-completion-script", shell])
        #expect(throughSign.status == 0)
        #expect(throughSign.stdout == r.stdout)
    }

    @Test func everyCommandHasAnExample() throws {
        for command in [["build"], ["sign"], ["verify"], ["inspect"], ["parties", "check"], ["parties", "select"], ["testpki"], ["vectors", "verify"]] {
            let r = try CLI.run(command + ["--help"])
            #expect(r.status == 0)
            #expect(r.stdout.lowercased().contains("example"), "\(command) --help has no example")
        }
    }
}
