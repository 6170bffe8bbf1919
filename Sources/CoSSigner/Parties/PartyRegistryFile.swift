import TOMLKit

/// Reading the TOML party registry format: one `[[party]]` table per Supplier Party, with one
/// `[[party.credential]]` table per User ID that signs:
///
/// ```toml
/// [[party]]
/// id = "gts"
/// name = "GIT Test Supplier"
/// mpids = ["GTSE", "GTSG"]
/// user_ids = ["90-B3-D5-1F-30-01-00-00", "90-B3-D5-1F-30-02-00-00"]
/// [[party.credential]]
/// user_id = "90-B3-D5-1F-30-01-00-00"
/// signing_key = "keys/xml-sign-90B3D51F30010000-ds.key.pem"     # relative to the registry file
/// signing_certificate = "keys/xml-sign-90B3D51F30010000-ds.pem"
/// passphrase_env = "GTS_KEY_PASSPHRASE"          # optional; or passphrase_file = "..." (not both)
/// ```
///
/// A key in a PKCS#11 token is named by its RFC 7512 URI, with the module at the top of the file and the token's
/// user PIN per credential:
///
/// ```toml
/// pkcs11_module = "/usr/lib/softhsm/libsofthsm2.so"   # relative paths are relative to the registry file
///
/// [[party]]
/// ...
/// [[party.credential]]
/// user_id = "90-B3-D5-1F-30-01-00-00"
/// signing_key = "pkcs11:token=cos;object=gts-30-01;type=private"   # never joined to the registry's folder
/// signing_certificate = "keys/xml-sign-90B3D51F30010000-ds.pem"
/// pin_file = "secrets/cos.pin"                    # or pin_env = "COS_TOKEN_PIN" (not both); mode 0600
/// ```
///
/// A token key has a PIN source and no passphrase source; a key file has no PIN source.
///
/// The shorthand form puts `signing_key`, `signing_certificate` (and a passphrase or PIN source) in the
/// `[[party]]` table itself: one credential whose User ID is its certificate's entity identifier. Comments are
/// allowed; unknown keys are refused.
enum PartyRegistryFile {
    /// The top-level keys besides the `[[party]]` tables.
    static let topLevelKeys: Set<String> = ["party", "pkcs11_module"]
    /// The keys a `[[party]]` table may hold.
    static let partyKeys: Set<String> = [
        "id", "name", "mpids", "user_ids", "signing_key", "signing_certificate", "passphrase_env", "passphrase_file",
        "pin_env", "pin_file", "credential",
    ]
    static let requiredKeys = ["id", "name", "mpids", "user_ids"]
    /// The keys of the shorthand form (a credential in the party's own table).
    static let shorthandKeys = ["signing_key", "signing_certificate", "passphrase_env", "passphrase_file", "pin_env", "pin_file"]
    /// The keys a `[[party.credential]]` table may hold.
    static let credentialKeys: Set<String> = [
        "user_id", "signing_key", "signing_certificate", "passphrase_env", "passphrase_file", "pin_env", "pin_file",
    ]
    static let requiredCredentialKeys = ["user_id", "signing_key", "signing_certificate"]

    /// A declaration as parsed, with the fields whose problems were already reported.
    struct Parsed {
        var declaration: PartyDeclaration
        /// A label for messages: the id when there is a usable one, else `#n`.
        var label: String
        /// Fields already reported as missing or invalid (later checks skip them): `name`,
        /// `signing_key`, `credential[2].signing_certificate`, ...
        var reportedFields: Set<String>
        /// True when the party declares `[[party.credential]]` tables (rather than the shorthand form).
        var hasCredentialTables = false
    }

    /// Parses registry text. Never throws: every problem is returned, with the declarations that
    /// could be read (partially, when some of their fields were wrong).
    static func parse(_ text: String, baseDirectory: String) -> (parties: [Parsed], problems: [PartyRegistryProblem]) {
        if let problem = PartyRegistryTOMLGuard.problem(in: text) {
            return ([], [problem])
        }
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            return ([], [PartyRegistryProblem(.syntax, line: error.source.begin.line > 0 ? error.source.begin.line : nil,
                                              reason: "not valid TOML: \(error.description)")])
        } catch {
            return ([], [PartyRegistryProblem(.syntax, reason: "not valid TOML: \(error)")])
        }
        let lines = LineIndex(text)
        var problems = [PartyRegistryProblem]()
        for key in table.keys.sorted() where !topLevelKeys.contains(key) {
            problems.append(PartyRegistryProblem(.unknownKey, field: key, line: lines.topLevelKeyLine(key),
                                                 reason: "unknown top-level key; the registry holds pkcs11_module and [[party]] tables"))
        }
        // The PKCS#11 module of the registry's token keys.
        var pkcs11Module: String?
        var moduleRefused = false
        if let value = table["pkcs11_module"] {
            let line = lines.topLevelKeyLine("pkcs11_module")
            if let text = value.string, !text.isEmpty {
                pkcs11Module = resolve(text, relativeTo: baseDirectory)
            } else {
                moduleRefused = true
                problems.append(PartyRegistryProblem(
                    .invalidValue, field: "pkcs11_module", line: line,
                    reason: value.string == nil ? "must be a string (the PKCS#11 module's path), got \(article(value.type))"
                        : "must name the PKCS#11 module (a shared library)"))
            }
        }
        guard let partyValue = table["party"] else {
            problems.append(PartyRegistryProblem(.noParties, reason: "the registry declares no [[party]]"))
            return ([], problems)
        }
        guard let array = partyValue.array else {
            problems.append(PartyRegistryProblem(.invalidValue, field: "party", line: lines.topLevelKeyLine("party"),
                                                 reason: "must be an array of tables ([[party]]), got \(article(partyValue.type))"))
            return ([], problems)
        }
        let headers = lines.partyHeaders(expectedCount: array.count)
        var parties = [Parsed]()
        for (index, element) in array.enumerated() {
            let header = headers?[index]
            guard let party = element.table else {
                problems.append(PartyRegistryProblem(.invalidValue, party: "#\(index + 1)", line: header?.line,
                                                     reason: "each party must be a table, got \(article(element.type))"))
                continue
            }
            let parsed = parseParty(party, index: index, header: header, lines: lines, baseDirectory: baseDirectory,
                                    pkcs11Module: moduleRefused ? nil : .some(pkcs11Module), problems: &problems)
            parties.append(parsed)
        }
        return (parties, problems)
    }

    private static func parseParty(_ table: TOMLTable, index: Int, header: LineIndex.PartyHeader?, lines: LineIndex,
                                   baseDirectory: String, pkcs11Module: String??, problems: inout [PartyRegistryProblem]) -> Parsed {
        let headerLine = header?.line
        let fieldLine = { (key: String) -> Int? in header.flatMap { lines.keyLine(key, in: $0.ownRange) } ?? headerLine }
        var reported = Set<String>()
        // The label first, so every later message names the party.
        var label = "#\(index + 1)"
        var id = ""
        if let value = table["id"], let text = value.string, !text.isEmpty {
            id = text
            label = text
        }
        func problem(_ kind: PartyRegistryProblem.Kind, _ field: String, _ reason: String, line: Int?? = nil) {
            reported.insert(field)
            problems.append(PartyRegistryProblem(kind, party: label, field: field, line: line ?? fieldLine(field), reason: reason))
        }
        for key in table.keys.sorted() where !partyKeys.contains(key) {
            problems.append(PartyRegistryProblem(.unknownKey, party: label, field: key, line: fieldLine(key),
                                                 reason: "unknown key; a party has \(partyKeys.sorted().joined(separator: ", "))"))
        }
        for key in requiredKeys where table[key] == nil {
            problem(.missingField, key, "required")
        }
        func string(_ key: String) -> String? {
            guard let value = table[key] else { return nil }
            guard let text = value.string else {
                problem(.invalidValue, key, "must be a string, got \(article(value.type))")
                return nil
            }
            return text
        }
        func strings(_ key: String) -> [String] {
            guard let value = table[key] else { return [] }
            guard let array = value.array else {
                problem(.invalidValue, key, "must be an array of strings, got \(article(value.type))")
                return []
            }
            var result = [String]()
            for (position, element) in array.enumerated() {
                guard let text = element.string else {
                    problem(.invalidValue, key, "element \(position + 1) must be a string, got \(article(element.type))")
                    continue
                }
                result.append(text)
            }
            return result
        }

        if table["id"] != nil { _ = string("id") }
        let name = string("name") ?? ""
        var mpids = [MPID]()
        for text in strings("mpids") {
            do throws(MPIDParseError) {
                mpids.append(try MPID(parsing: text))
            } catch {
                problem(.invalidValue, "mpids", error.description)
            }
        }
        var userIDs = [EUI64]()
        for text in strings("user_ids") {
            do throws(EUI64ParseError) {
                userIDs.append(try EUI64(parsing: text))
            } catch {
                problem(.invalidValue, "user_ids", error.description)
            }
        }

        var credentials = [CredentialDeclaration]()
        let shorthand = shorthandKeys.filter { table[$0] != nil }
        var hasCredentialTables = false
        if let value = table["credential"] {
            hasCredentialTables = true
            if !shorthand.isEmpty {
                problem(.invalidValue, "credential",
                        "give \(shorthand.joined(separator: ", ")) in the party's table or [[party.credential]] tables, not both")
            }
            if let array = value.array {
                if array.isEmpty { problem(.invalidValue, "credential", "the party declares no credential") }
                for (position, element) in array.enumerated() {
                    let field = "credential[\(position + 1)]"
                    let credentialHeader = header.flatMap { $0.credentials.count == array.count ? $0.credentials[position] : nil }
                    let credentialLine = credentialHeader?.lowerBound ?? headerLine
                    guard let credentialTable = element.table else {
                        problem(.invalidValue, field, "each credential must be a table ([[party.credential]]), got \(article(element.type))",
                                line: credentialLine)
                        continue
                    }
                    let line = { (key: String) -> Int? in credentialHeader.flatMap { lines.keyLine(key, in: $0) } ?? credentialLine }
                    credentials.append(parseCredential(credentialTable, field: field, headerLine: credentialLine, fieldLine: line,
                                                       baseDirectory: baseDirectory, pkcs11Module: pkcs11Module,
                                                       problem: { problem($0, $1, $2, line: $3) },
                                                       skip: { reported.insert($0) }))
                }
            } else {
                problem(.invalidValue, "credential", "must be an array of tables ([[party.credential]]), got \(article(value.type))")
            }
        } else if shorthand.isEmpty {
            problem(.missingField, "credential",
                    "required: signing_key and signing_certificate, or one [[party.credential]] table per User ID that signs")
        } else {
            for key in ["signing_key", "signing_certificate"] where table[key] == nil {
                problem(.missingField, key, "required")
            }
            credentials.append(parseCredential(table, field: nil, headerLine: headerLine, fieldLine: fieldLine,
                                               baseDirectory: baseDirectory, pkcs11Module: pkcs11Module,
                                               problem: { problem($0, $1, $2, line: $3) }, skip: { reported.insert($0) }))
        }
        let declaration = PartyDeclaration(id: id, name: name, mpids: mpids, userIDs: userIDs, credentials: credentials,
                                           line: headerLine)
        return Parsed(declaration: declaration, label: label, reportedFields: reported, hasCredentialTables: hasCredentialTables)
    }

    /// Reads one credential: a `[[party.credential]]` table (`field` is `credential[n]`), or the shorthand keys of
    /// a party's own table (`field` nil, no `user_id`). `pkcs11Module` is the registry's module: `.some(nil)` when
    /// it names none, nil when its `pkcs11_module` was refused. `skip` marks a field as reported without a problem
    /// of its own (a token key whose PIN, passphrase or module was misdeclared is not loaded).
    private static func parseCredential(
        _ table: TOMLTable, field: String?, headerLine: Int?, fieldLine: (String) -> Int?, baseDirectory: String,
        pkcs11Module: String??, problem: (PartyRegistryProblem.Kind, String, String, Int?) -> Void, skip: (String) -> Void
    ) -> CredentialDeclaration {
        func key(_ name: String) -> String { field.map { "\($0).\(name)" } ?? name }
        func report(_ kind: PartyRegistryProblem.Kind, _ name: String, _ reason: String) {
            problem(kind, key(name), reason, fieldLine(name))
        }
        if let field {
            for name in table.keys.sorted() where !credentialKeys.contains(name) {
                problem(.unknownKey, "\(field).\(name)",
                        "unknown key; a credential has \(credentialKeys.sorted().joined(separator: ", "))", fieldLine(name))
            }
            for name in requiredCredentialKeys where table[name] == nil {
                report(.missingField, name, "required")
            }
        }
        func string(_ name: String) -> String? {
            guard let value = table[name] else { return nil }
            guard let text = value.string else {
                report(.invalidValue, name, "must be a string, got \(article(value.type))")
                return nil
            }
            return text
        }
        var userID: EUI64?
        if field != nil, let text = string("user_id") {
            do throws(EUI64ParseError) {
                userID = try EUI64(parsing: text)
            } catch {
                report(.invalidValue, "user_id", error.description)
            }
        }
        let keyText = string("signing_key")
        // A PKCS#11 URI names a key in a token: it is kept as written, never joined to the registry's folder.
        let isToken = keyText.map(PKCS11URI.isPKCS11URI) ?? false
        let keyPath = keyText.map { isToken ? $0 : resolve($0, relativeTo: baseDirectory) } ?? ""
        let certificatePath = string("signing_certificate").map { resolve($0, relativeTo: baseDirectory) } ?? ""
        if isToken, let keyText {
            do throws(PKCS11Error) {
                _ = try PKCS11URI(parsing: keyText)
            } catch {
                report(.invalidValue, "signing_key", "not a usable PKCS#11 URI: \(error.reason)")
            }
        }

        /// A secret's source: `<prefix>_env` or `<prefix>_file` (a file relative to the registry).
        func source(_ prefix: String) -> (environment: String?, file: String?)? {
            let environment = string("\(prefix)_env")
            let file = string("\(prefix)_file")
            switch (environment, file) {
            case (.some, .some):
                report(prefix == "passphrase" ? .conflictingPassphraseSources : .invalidValue, "\(prefix)_file",
                       "give \(prefix)_env or \(prefix)_file, not both")
            case (.some(let name), nil):
                if name.isEmpty {
                    report(.invalidValue, "\(prefix)_env", "must name an environment variable")
                } else {
                    return (name, nil)
                }
            case (nil, .some(let path)):
                if path.isEmpty {
                    report(.invalidValue, "\(prefix)_file", "must name a file")
                } else {
                    return (nil, resolve(path, relativeTo: baseDirectory))
                }
            case (nil, nil):
                break
            }
            return nil
        }
        let passphraseSource = source("passphrase")
        let pinSource = source("pin")
        let passphrase = passphraseSource.map { $0.environment.map(PassphraseSource.environment) ?? .file($0.file ?? "") }
        let pin = pinSource.map { $0.environment.map(PINSource.environment) ?? .file($0.file ?? "") }
        let declared = { (prefix: String) -> [String] in ["\(prefix)_env", "\(prefix)_file"].filter { table[$0] != nil } }
        if isToken {
            for name in declared("passphrase") {
                report(.invalidValue, name,
                       "a key in a PKCS#11 token (signing_key = \"pkcs11:…\") has no passphrase: give the token's user PIN with pin_env or pin_file")
            }
            if declared("pin").isEmpty {
                problem(.missingField, key("pin_env"),
                        "a key in a PKCS#11 token (signing_key = \"pkcs11:…\") needs the token's user PIN: pin_env = \"NAME\" or pin_file = \"FILE\"",
                        fieldLine("signing_key"))
            }
            // The token is not opened for a credential whose secrets or module are misdeclared.
            if !declared("passphrase").isEmpty || declared("pin").isEmpty || pin == nil || pkcs11Module == nil {
                skip(key("signing_key"))
            }
        } else if keyText != nil {
            for name in declared("pin") {
                report(.invalidValue, name,
                       "\(name) gives the user PIN of a key in a PKCS#11 token, but signing_key is a key file: give a key file's passphrase with passphrase_env or passphrase_file, or name a token key with signing_key = \"pkcs11:…\"")
            }
        }
        var declaration = CredentialDeclaration(userID: userID, signingKeyPath: keyPath, signingCertificatePath: certificatePath,
                                                passphrase: isToken ? nil : passphrase, line: headerLine)
        if isToken {
            declaration.pin = pin
            declaration.pkcs11Module = pkcs11Module ?? nil
        }
        return declaration
    }

    /// "a table", "an integer", ...
    static func article(_ type: TOMLType) -> String {
        let name = "\(type)"
        return (name.first.map { "aeiou".contains($0) } ?? false ? "an " : "a ") + name
    }

    /// `path` if absolute, else `path` joined to the registry's directory.
    static func resolve(_ path: String, relativeTo directory: String) -> String {
        if path.hasPrefix("/") || path.isEmpty { return path }
        return directory == "." ? path : "\(directory)/\(path)"
    }

    /// Best-effort line numbers for messages (TOMLKit does not report the position of values).
    struct LineIndex {
        /// The lines, each without its end of line, with comments and surrounding blanks removed.
        let lines: [String]

        init(_ text: String) {
            lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).map { raw in
                var line = Substring(raw)
                if let hash = line.firstIndex(of: "#"), !line[..<hash].contains("\""), !line[..<hash].contains("'") {
                    line = line[..<hash]
                }
                return line.trimmingCharacters(in: " \t\r")
            }
        }

        /// Where a `[[party]]` table is: its header line, the lines of its own keys (up to the next table header)
        /// and the lines of each of its `[[party.credential]]` tables.
        struct PartyHeader {
            let line: Int
            let ownRange: ClosedRange<Int>
            let credentials: [ClosedRange<Int>]
        }

        /// The `[[party]]` tables, if there are exactly `expectedCount` of them.
        func partyHeaders(expectedCount: Int) -> [PartyHeader]? {
            // One walk over the table headers (a registry may hold tens of thousands of parties).
            let headerLines = lines.indices.filter { lines[$0].hasPrefix("[") }.map { $0 + 1 }
            /// From the header at `position` in `headerLines` to before the next table header.
            func range(at position: Int) -> ClosedRange<Int> {
                let start = headerLines[position]
                let next = position + 1 < headerLines.count ? headerLines[position + 1] : lines.count + 1
                return start...max(start, next - 1)
            }
            var parties: [PartyHeader] = []
            var current: (line: Int, own: ClosedRange<Int>, credentials: [ClosedRange<Int>])?
            for position in headerLines.indices {
                let line = lines[headerLines[position] - 1]
                if isHeader(line, "[[party]]") && !isHeader(line, "[[party.") {
                    if let done = current { parties.append(PartyHeader(line: done.line, ownRange: done.own, credentials: done.credentials)) }
                    current = (headerLines[position], range(at: position), [])
                } else if isHeader(line, "[[party.credential]]") {
                    current?.credentials.append(range(at: position))
                }
            }
            if let done = current { parties.append(PartyHeader(line: done.line, ownRange: done.own, credentials: done.credentials)) }
            return parties.count == expectedCount ? parties : nil
        }

        /// The first line of `range` that assigns `key`.
        func keyLine(_ key: String, in range: ClosedRange<Int>) -> Int? {
            range.first { number in number <= lines.count && assigns(lines[number - 1], key) }
        }

        /// The line assigning `key` before the first table header.
        func topLevelKeyLine(_ key: String) -> Int? {
            for (offset, line) in lines.enumerated() {
                if line.hasPrefix("[") { return nil }
                if assigns(line, key) { return offset + 1 }
            }
            return nil
        }

        private func isHeader(_ line: String, _ header: String) -> Bool {
            line.filter { $0 != " " && $0 != "\t" }.hasPrefix(header)
        }

        private func assigns(_ line: String, _ key: String) -> Bool {
            var rest = Substring(line)
            if rest.hasPrefix("\"\(key)\"") {
                rest = rest.dropFirst(key.count + 2)
            } else if rest.hasPrefix(key) {
                rest = rest.dropFirst(key.count)
            } else {
                return false
            }
            return rest.drop { $0 == " " || $0 == "\t" }.hasPrefix("=")
        }
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> String {
        let characters = Set(set)
        return String(drop { characters.contains($0) }.reversed().drop { characters.contains($0) }.reversed())
    }
}
