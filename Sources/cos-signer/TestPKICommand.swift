import ArgumentParser
import CoSSigner
import CoSSignerTesting
import Foundation

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

            With --pkcs11 MODULE (SoftHSM2's module), the parties' XML signing keys also go into a SoftHSM2 \
            token of their own, made with softhsm2-util (Debian package softhsm2; exit 3 if it or the module is \
            missing), and a registry that signs with them is written:
              softhsm/softhsm2.conf, softhsm/tokens/     the token store (token 'cossigner-test')
              softhsm/user.pin, softhsm/so.pin           its random user and SO PINs (mode 0600)
              parties-pkcs11.toml                        the registry: pkcs11_module = MODULE, and per party
                signing_key = "pkcs11:token=cossigner-test;object=tsN-xml-sign;type=private"
                pin_file = "softhsm/user.pin"
            The registry is loaded once as a check, and the export SOFTHSM2_CONF=… line the module needs is \
            printed. (softhsm2-util takes the PINs on its command line: a test token only.) The token is not \
            reproducible, even with --seed.

            Examples:
              cos-signer testpki demo --parties 3 --seed demo
              cos-signer sign --key demo/keys/ts1-xml-sign.key.pem --cert demo/keys/ts1-xml-sign.pem \\
                demo/requests/ts1-immediate.xml -o signed.xml
              cos-signer testpki demo --pkcs11 /usr/lib/softhsm/libsofthsm2.so
              export SOFTHSM2_CONF=$PWD/demo/softhsm/softhsm2.conf
              cos-signer sign --parties demo/parties-pkcs11.toml demo/requests/ts1-immediate.xml -o signed.xml
            """
    )

    @Argument(help: ArgumentHelp("Output directory (created if missing).", valueName: "DIR"))
    var directory: String

    @Option(help: ArgumentHelp("Number of Supplier Parties, 1 ... 99.", valueName: "N"))
    var parties: Int = 2

    @Option(help: ArgumentHelp("Derive every key and serial from this text: reproducible output.", valueName: "S"))
    var seed: String?

    @Flag(help: "Write into DIR even if it is not empty (files with our names are replaced, and the token store of --pkcs11).")
    var force = false

    @Option(name: .customLong("pkcs11"), help: ArgumentHelp("Also put the parties' XML signing keys into a SoftHSM2 token in DIR/softhsm and write DIR/parties-pkcs11.toml, which signs with them through this PKCS#11 module.", valueName: "MODULE"))
    var pkcs11Module: String?

    func validate() throws {
        if !TestPKI.partyCountRange.contains(parties) { throw ValidationError("--parties must be 1 ... 99") }
    }

    func run() throws {
        // SoftHSM2's tool and module are checked before anything is written.
        if let pkcs11Module { _ = try TestPKI.softHSMPrerequisites(module: pkcs11Module) }
        let pki = try TestPKI(partyCount: parties, seed: seed)
        let written = try pki.write(to: directory, force: force)
        Terminal.out("wrote \(written.count) files to \(directory) (test PKI, \(parties) part\(parties == 1 ? "y" : "ies")\(seed == nil ? "" : ", seeded"); NOT FOR PRODUCTION)")
        for party in pki.parties {
            Terminal.out("  \(party.id): User ID \(party.userID), MPIDs \(party.mpids.joined(separator: ", ")), key \(directory)/\(party.xmlSigning.keyPath)")
        }
        guard let pkcs11Module else { return }
        let token = try pki.writeSoftHSMToken(to: directory, module: pkcs11Module, force: force)
        // The check: the registry loads, each token key found through the module and matching its certificate.
        setenv("SOFTHSM2_CONF", token.configurationPath, 1)
        do {
            _ = try PartyRegistry(contentsOfFile: token.registryPath, loader: .files)
        } catch {
            throw TestPKIError(
                kind: .tokenUnavailable, path: token.registryPath,
                reason: "the keys were put into the SoftHSM2 token, but the registry does not load through \(pkcs11Module) (is it SoftHSM2's module?): \(error)")
        }
        Terminal.out("token '\(token.tokenLabel)' (SoftHSM2, \(directory)/\(TestPKI.softHSMFolder)/tokens) holds the parties' XML signing keys; user PIN in \(directory)/\(TestPKI.softHSMFolder)/user.pin")
        Terminal.out("registry \(directory)/\(TestPKI.pkcs11RegistryName) signs with them through \(token.module); the module finds the token through SOFTHSM2_CONF:")
        Terminal.out(token.exportLine)
    }
}
