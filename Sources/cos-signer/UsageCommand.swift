import Foundation
import ArgumentParser

/// Prints the usage documentation of every command as Markdown (used by Scripts/usage-docs for docs/usage.md).
struct UsageMarkdownCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "usage-markdown",
        abstract: "Print the usage of every command as Markdown.",
        shouldDisplay: false
    )

    func run() throws {
        var text = """
            # cos-signer usage

            Generated from the tool's own `--help` by `Scripts/usage-docs`; a test keeps it current.

            Exit codes, for every command: **0** success · **1** usage · **2** input unreadable, malformed or not \
            acceptable · **3** key or certificate missing or unusable · **4** key selection refused · **10** \
            signature invalid.

            Shell completion scripts: `cos-signer --generate-completion-script bash` (or `zsh`, `fish`).

            """
        for path in Self.visibleCommands(CosSigner.self, prefix: []) {
            let title = (["cos-signer"] + path.names).joined(separator: " ")
            text += "\n## \(title)\n\n```text\n"
            text += CosSigner.helpMessage(for: path.type, columns: 100).trimmingTrailingWhitespace()
            text += "\n```\n"
        }
        Terminal.out(text)
    }

    static func visibleCommands(_ command: ParsableCommand.Type, prefix: [String]) -> [(names: [String], type: ParsableCommand.Type)] {
        var result: [(names: [String], type: ParsableCommand.Type)] = []
        for sub in command.configuration.subcommands where sub.configuration.shouldDisplay {
            let name = sub.configuration.commandName ?? String(describing: sub).lowercased()
            let names = prefix + [name]
            result.append((names, sub))
            result += visibleCommands(sub, prefix: names)
        }
        return result
    }
}

extension String {
    func trimmingTrailingWhitespace() -> String {
        split(separator: "\n", omittingEmptySubsequences: false)
            .map { line in String(line.reversed().drop { $0 == " " }.reversed()) }
            .joined(separator: "\n")
            .trimmingCharacters(in: .newlines)
    }
}
