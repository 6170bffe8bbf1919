import ArgumentParser
import CoSSigner

struct CosSigner: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cos-signer",
        abstract: "Build, validate, sign and verify DUIS Service Requests 6.23 (Update Security Credentials (CoS)).",
        subcommands: []
    )
}
