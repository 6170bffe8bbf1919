import ArgumentParser
import CoSSigner

/// `cos-signer testpki DIR`: a test PKI, party registry and sample requests. NOT FOR PRODUCTION.
struct TestPKICommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "testpki",
        abstract: "Generate a test PKI, party registry and sample 6.23 requests (NOT FOR PRODUCTION).",
        discussion: """
            Writes into DIR:
              keys/root-ca.pem, keys/issuing-ca.pem      root (OU=00) and issuing CA (OU=07) and their keys
              keys/tsN-xml-sign.pem                      party N's XmlSign certificate (OU 87) and key
              keys/tsN-ds.pem, tsN-ka.pem, tsN-ka-topup.pem   party N's Supplier certificates (OU 02)
              parties.toml                               party registry (paths relative to it)
              registration.csv                           sample MPxN -> MPID registrations
              requests/tsN-immediate.xml, tsN-future-dated.xml   unsigned sample 6.23 requests
            Private keys are PKCS#8 PEM with mode 0600. Party N has User ID 90-B3-D5-1F-3F-0N-00-00 and \
            MPIDs TSNE and TSNG. Certificates are valid 2025-01-01 to 2124-12-31.

            With --seed the output is byte-for-byte reproducible (keys are derived from the seed, so \
            anyone with the seed has the keys). DIR must be empty or absent unless --force is given.

            Example:
              cos-signer testpki demo --parties 3 --seed demo
              cos-signer sign --key demo/keys/ts1-xml-sign.key.pem --cert demo/keys/ts1-xml-sign.pem \\
                demo/requests/ts1-immediate.xml -o signed.xml
            """
    )

    @Argument(help: ArgumentHelp("Output directory (created if missing).", valueName: "DIR"))
    var directory: String

    @Option(help: ArgumentHelp("Number of Supplier Parties, 1 ... 99.", valueName: "N"))
    var parties: Int = 2

    @Option(help: ArgumentHelp("Derive every key and serial from this text: reproducible output.", valueName: "S"))
    var seed: String?

    @Flag(help: "Write into DIR even if it is not empty (files with our names are replaced).")
    var force = false

    func validate() throws {
        if !TestPKI.partyCountRange.contains(parties) { throw ValidationError("--parties must be 1 ... 99") }
    }

    func run() throws {
        let pki = try TestPKI(partyCount: parties, seed: seed)
        let written = try pki.write(to: directory, force: force)
        Terminal.out("wrote \(written.count) files to \(directory) (test PKI, \(parties) part\(parties == 1 ? "y" : "ies")\(seed == nil ? "" : ", seeded"); NOT FOR PRODUCTION)")
        for party in pki.parties {
            Terminal.out("  \(party.id): User ID \(party.userID), MPIDs \(party.mpids.joined(separator: ", ")), key \(directory)/\(party.xmlSigning.keyPath)")
        }
    }
}
