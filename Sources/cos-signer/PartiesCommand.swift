import ArgumentParser
import CoSSigner
import CoSSignerTesting
import Foundation

struct PartiesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parties",
        abstract: "Check a Supplier Party registry and see which party (key and certificate) a request would be signed with.",
        discussion: """
            The registry is a TOML file of [[party]] tables: id, name, mpids, user_ids (all the party's User IDs \
            and entity identifiers), and one [[party.credential]] table per User ID that signs: user_id, \
            signing_key, signing_certificate and, for an encrypted key, passphrase_env or passphrase_file (paths \
            relative to the registry file). The shorthand signing_key/signing_certificate in the party's own table \
            is one credential for its certificate's entity. A key in a PKCS#11 token is signing_key = \
            "pkcs11:token=…;object=…;type=private" (never relative to the registry) with the token's user PIN from \
            the credential's pin_env or pin_file and the module from the top-level pkcs11_module (or \
            --pkcs11-module, which wins). A request is signed with the credential of its Business \
            Originator. A registry loads whole or not at all: every problem is listed, and the exit code is 4 if any \
            problem is structural (duplicate MPID, User ID, party id or certificate issuer and serial, malformed \
            value, a credential for a User ID the party does not declare, key not matching its certificate, \
            certificate of another entity than its credential's User ID), else 3 when a key or certificate cannot be \
            read, decrypted or used to sign (not an XML signing certificate), or 2 when the registry file cannot be \
            read.

            Examples:
              cos-signer parties check parties.toml
              cos-signer parties select parties.toml --mpid GTSE
              cos-signer parties select parties.toml --mpxn 1312345678333 --registration registration.csv --at 2026-03-01
            """,
        subcommands: [PartiesCheckCommand.self, PartiesSelectCommand.self]
    )
}

/// Loads a registry, reporting every problem on standard error.
private func loadRegistry(_ path: String, allowInsecureKeyFile: Bool, pkcs11Module: String?) throws -> PartyRegistry {
    do throws(PartyRegistryError) {
        return try PartyRegistry(
            contentsOfFile: path,
            loader: .files(keyFilePolicy: KeyFilePolicy(allowInsecurePermissions: allowInsecureKeyFile), pkcs11Module: pkcs11Module))
    } catch {
        // At most PartyRegistryError.maximumListedPerKind problems of each kind, then a count of the rest.
        let lines = error.renderedProblems
        if error.problems.count == 1, let only = lines.first {
            Terminal.error("party registry \(path) refused: \(only)")
        } else {
            Terminal.error("party registry \(path) refused, \(error.problems.count) problems:")
            Terminal.writeErr(lines.map { "  \(path): \($0)\n" }.joined())
        }
        throw CommandFailure(exitCode: ExitStatus.of(error))
    }
}

struct PartiesCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate a party registry (loading and decrypting every key once) and summarise it.",
        discussion: """
            Prints each party with its MPIDs, User IDs and signing certificate (serial, entity, validity). \
            Exit 0 when the registry loads; otherwise every problem goes to standard error and the exit \
            code is 4 (structural problem), 3 (key or certificate unreadable) or 2 (registry unreadable).

            Examples:
              cos-signer parties check parties.toml
              GTS_KEY_PASSPHRASE=... cos-signer parties check /etc/cos-signer/parties.toml
              SOFTHSM2_CONF=pki/softhsm/softhsm2.conf cos-signer parties check pki/parties-pkcs11.toml
            """
    )

    @Argument(help: ArgumentHelp("The party registry (TOML).", valueName: "REGISTRY"))
    var registry: String

    @Flag(name: .customLong("allow-insecure-key-file"), help: "Accept private key files (and PIN files) that their group or others may read or write (refused by default, as ssh does).")
    var allowInsecureKeyFile = false

    @Option(name: .customLong("pkcs11-module"), help: ArgumentHelp("PKCS#11 module for the registry's token keys (signing_key = \"pkcs11:…\"); wins over its pkcs11_module.", valueName: "PATH"))
    var pkcs11Module: String?

    func run() throws {
        let loaded = try loadRegistry(registry, allowInsecureKeyFile: allowInsecureKeyFile, pkcs11Module: pkcs11Module)
        let mpids = loaded.parties.reduce(0) { $0 + $1.mpids.count }
        let userIDs = loaded.parties.reduce(0) { $0 + $1.userIDs.count }
        Terminal.out("\(registry): OK, \(loaded.parties.count) \(loaded.parties.count == 1 ? "party" : "parties"), "
            + "\(mpids) MPID\(mpids == 1 ? "" : "s"), \(userIDs) User ID\(userIDs == 1 ? "" : "s"), \(loaded.keyLoadCount) key\(loaded.keyLoadCount == 1 ? "" : "s") loaded")
        let now = Date()
        for party in loaded.parties {
            Terminal.out("party \(party)")
            Terminal.out("  MPIDs:    \(party.mpids.map(\.description).joined(separator: ", "))")
            Terminal.out("  User IDs: \(party.userIDs.map(\.description).joined(separator: ", "))")
            for credential in party.credentials {
                let certificate = credential.certificate
                let expired = certificate.notAfter < now ? " EXPIRED" : (certificate.notBefore > now ? " NOT YET VALID" : "")
                Terminal.out("  credential for User ID \(credential.userID):")
                Terminal.out("    certificate: serial \(certificate.serialNumber) (hex \(certificate.serialNumber.hex)), issuer \(certificate.issuer.rfc2253), "
                    + "role \(certificate.subjectOrganizationalUnit ?? "?"), "
                    + "valid \(CalendarDate(certificate.notBefore)) to \(CalendarDate(certificate.notAfter))\(expired)")
                let declaration = credential.declaration
                if declaration.isPKCS11Key {
                    let pin = declaration.pin.map { ", PIN from \($0)" } ?? ""
                    Terminal.out("    key: \(declaration.shownSigningKey) (in a PKCS#11 token)\(pin)")
                } else {
                    let passphrase = declaration.passphrase.map { ", passphrase from \($0)" } ?? ""
                    Terminal.out("    key: \(declaration.signingKeyPath)\(passphrase)")
                }
                if !expired.isEmpty {
                    Terminal.warning("party \(party.id), User ID \(credential.userID): the signing certificate (serial \(certificate.serialNumber)) is\(expired.lowercased()) (valid \(CalendarDate(certificate.notBefore)) to \(CalendarDate(certificate.notAfter)))")
                }
            }
            let unsigned = party.userIDs.filter { party.credential(for: $0) == nil }
            if !unsigned.isEmpty {
                Terminal.out("  no credential (cannot be a Business Originator here): \(unsigned.map(\.description).joined(separator: ", "))")
            }
        }
    }
}

struct PartiesSelectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "select",
        abstract: "Show which party a request would be signed by, and why, or why none can be chosen.",
        discussion: """
            Give what you know: an MPID, a User ID (the Business Originator), a meter point with registration \
            data (CSV mpxn,mpid,effective_from; the row with the latest effective_from on or before --at, \
            which defaults to the GB settlement day (Europe/London) of the request's ExecutionDateTime, else of \
            today), the entity identifier of the replacement certificates, or a 6.23 \
            request (its Business Originator, replacement certificate and ImportMPxN are used). Everything \
            given must point to the same Supplier Party; otherwise the selection is refused (exit 4) naming \
            the MPIDs, EUI-64s and parties involved. Passphrases come only from the registry's \
            passphrase_env or passphrase_file, a token's PIN only from its pin_env or pin_file.

            Examples:
              cos-signer parties select parties.toml --mpid GTSE
              cos-signer parties select parties.toml --user-id 90-B3-D5-1F-30-01-00-00
              cos-signer parties select parties.toml --mpid GTSE --user-id 90-B3-D5-1F-30-01-00-00
              cos-signer parties select parties.toml --mpxn 1312345678333 --registration registration.csv --at 2026-03-01
              cos-signer parties select parties.toml --request request.xml --registration registration.csv
            """
    )

    @Argument(help: ArgumentHelp("The party registry (TOML).", valueName: "REGISTRY"))
    var registry: String

    @Flag(name: .customLong("allow-insecure-key-file"), help: "Accept private key files (and PIN files) that their group or others may read or write (refused by default, as ssh does).")
    var allowInsecureKeyFile = false

    @Option(name: .customLong("pkcs11-module"), help: ArgumentHelp("PKCS#11 module for the registry's token keys (signing_key = \"pkcs11:…\"); wins over its pkcs11_module.", valueName: "PATH"))
    var pkcs11Module: String?

    @Option(help: ArgumentHelp("An MPID (4 upper-case letters or digits).", valueName: "MPID"))
    var mpid: String?

    @Option(name: .customLong("user-id"), help: ArgumentHelp("A User ID / Business Originator (EUI-64, XX-XX-XX-XX-XX-XX-XX-XX).", valueName: "EUI64"))
    var userID: String?

    @Option(name: .customLong("replacement-entity"), help: ArgumentHelp("The entity identifier (EUI-64) of the replacement certificates.", valueName: "EUI64"))
    var replacementEntity: String?

    @Option(help: ArgumentHelp("A meter point (ImportMPxN: MPAN core or MPRN); needs --registration.", valueName: "MPXN"))
    var mpxn: String?

    @Option(help: ArgumentHelp("Registration data (CSV with header mpxn,mpid,effective_from).", valueName: "CSV"))
    var registration: String?

    @Option(help: ArgumentHelp("The date at which registration data is read (YYYY-MM-DD; default the GB settlement day, Europe/London, of the request's ExecutionDateTime, else of today).", valueName: "DATE"))
    var at: String?

    @Option(help: ArgumentHelp("A 6.23 request whose Business Originator, replacement certificate and ImportMPxN are used.", valueName: "REQUEST"))
    var request: String?

    func validate() throws {
        if mpid == nil, userID == nil, replacementEntity == nil, mpxn == nil, request == nil {
            throw ValidationError("give --mpid, --user-id, --replacement-entity, --mpxn (with --registration) or --request")
        }
        if request != nil, userID != nil || mpxn != nil || replacementEntity != nil {
            throw ValidationError("--request supplies the User ID, the replacement entity and the MPxN; do not give --user-id, --replacement-entity or --mpxn with it")
        }
        if mpxn != nil, registration == nil {
            throw ValidationError("--mpxn needs --registration CSV")
        }
        if registration != nil, mpxn == nil, request == nil {
            throw ValidationError("--registration needs --mpxn or --request")
        }
        if at != nil, registration == nil {
            throw ValidationError("--at needs --registration")
        }
        _ = try parsed()
    }

    private struct Parsed {
        var mpid: MPID?
        var userID: EUI64?
        var replacementEntity: EUI64?
        var date: CalendarDate?
    }

    private func parsed() throws -> Parsed {
        do {
            return Parsed(mpid: try mpid.map { try MPID(parsing: $0) },
                          userID: try userID.map { try EUI64(parsing: $0) },
                          replacementEntity: try replacementEntity.map { try EUI64(parsing: $0) },
                          date: try at.map { try CalendarDate(parsing: $0) })
        } catch let error as ClassifiedError {
            throw ValidationError(error.description)
        }
    }

    func run() throws {
        let values = try parsed()
        let loaded = try loadRegistry(registry, allowInsecureKeyFile: allowInsecureKeyFile, pkcs11Module: pkcs11Module)
        let registrationData = try registration.map { path throws -> RegistrationData in
            do throws(RegistrationDataError) {
                return try RegistrationData(reading: path)
            } catch {
                for line in error.renderedProblems { Terminal.error("registration data \(path): \(line)") }
                throw CommandFailure(exitCode: ExitStatus.of(error))
            }
        }
        var parsedRequest: ServiceRequest623?
        if let request {
            let bytes = try Files.read(request, maxBytes: XMLParseLimits.default.maxDocumentBytes)
            parsedRequest = try ServiceRequest623(parsing: bytes, source: request)
        }
        let selector = KeySelector(registry: loaded, registrationData: registrationData)
        let selection: KeySelection
        do throws(KeySelectionRefused) {
            if let parsedRequest {
                selection = try selector.select(for: parsedRequest, mpid: values.mpid, date: values.date)
            } else {
                selection = try selector.select(KeySelectionQuery(
                    mpid: values.mpid, businessOriginator: values.userID, replacementEntityIdentifier: values.replacementEntity,
                    importMPxN: mpxn, date: values.date))
            }
        } catch {
            Terminal.error("key selection refused:")
            for reason in error.reasons { Terminal.writeErr("  - \(reason)\n") }
            throw CommandFailure(exitCode: ExitStatus.of(error))
        }
        Terminal.out("party \(selection.party)")
        if let credential = selection.credential {
            let certificate = credential.certificate
            Terminal.out("  credential: User ID \(credential.userID), certificate serial \(certificate.serialNumber), issuer \(certificate.issuer.rfc2253), key \(credential.declaration.shownSigningKey)")
        } else {
            // No Business Originator was given: each request uses its originator's credential.
            for credential in selection.party.credentials {
                let certificate = credential.certificate
                Terminal.out("  credential for Business Originator \(credential.userID): certificate serial \(certificate.serialNumber), issuer \(certificate.issuer.rfc2253)")
            }
            Terminal.out("  (a request is signed with the credential of its Business Originator: give --user-id or --request to see which)")
        }
        Terminal.out("  because:")
        for reason in selection.reasons { Terminal.out("    \(reason)") }
    }
}
