import TOMLKit

/// Reading the TOML party registry format:
///
/// ```toml
/// [[party]]
/// id = "gts"
/// name = "GIT Test Supplier"
/// mpids = ["GTSE", "GTSG"]
/// user_ids = ["90-B3-D5-1F-30-01-00-00"]
/// signing_key = "keys/gts-xml-sign.key.pem"      # relative to the registry file
/// signing_certificate = "keys/gts-xml-sign.pem"
/// passphrase_env = "GTS_KEY_PASSPHRASE"           # optional; or passphrase_file = "..." (not both)
/// ```
///
/// Comments are allowed; unknown keys are refused.
enum PartyRegistryFile {
    /// The keys a `[[party]]` table may hold.
    static let partyKeys: Set<String> = [
        "id", "name", "mpids", "user_ids", "signing_key", "signing_certificate", "passphrase_env", "passphrase_file",
    ]
    static let requiredKeys = ["id", "name", "mpids", "user_ids", "signing_key", "signing_certificate"]

    /// A declaration as parsed, with the fields whose problems were already reported.
    struct Parsed {
        var declaration: PartyDeclaration
        /// A label for messages: the id when there is a usable one, else `#n`.
        var label: String
        /// Fields already reported as missing or invalid (later checks skip them).
        var reportedFields: Set<String>
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
        for key in table.keys.sorted() where key != "party" {
            problems.append(PartyRegistryProblem(.unknownKey, field: key, line: lines.topLevelKeyLine(key),
                                                 reason: "unknown top-level key; the registry holds only [[party]] tables"))
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
        let headerLines = lines.partyHeaderLines(expectedCount: array.count)
        var parties = [Parsed]()
        for (index, element) in array.enumerated() {
            let headerLine = headerLines?[index]
            let range = headerLines.map { lines.partyRange(index: index, headers: $0) }
            guard let party = element.table else {
                problems.append(PartyRegistryProblem(.invalidValue, party: "#\(index + 1)", line: headerLine,
                                                     reason: "each party must be a table, got \(article(element.type))"))
                continue
            }
            let parsed = parseParty(party, index: index, headerLine: headerLine, baseDirectory: baseDirectory,
                                    fieldLine: { key in range.flatMap { lines.keyLine(key, in: $0) } ?? headerLine },
                                    problems: &problems)
            parties.append(parsed)
        }
        return (parties, problems)
    }

    private static func parseParty(_ table: TOMLTable, index: Int, headerLine: Int?, baseDirectory: String,
                                   fieldLine: (String) -> Int?, problems: inout [PartyRegistryProblem]) -> Parsed {
        var reported = Set<String>()
        // The label first, so every later message names the party.
        var label = "#\(index + 1)"
        var id = ""
        if let value = table["id"], let text = value.string, !text.isEmpty {
            id = text
            label = text
        }
        func problem(_ kind: PartyRegistryProblem.Kind, _ field: String, _ reason: String) {
            reported.insert(field)
            problems.append(PartyRegistryProblem(kind, party: label, field: field, line: fieldLine(field), reason: reason))
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
        let key = string("signing_key").map { resolve($0, relativeTo: baseDirectory) } ?? ""
        let certificate = string("signing_certificate").map { resolve($0, relativeTo: baseDirectory) } ?? ""
        let environment = string("passphrase_env")
        let file = string("passphrase_file")
        var passphrase: PassphraseSource?
        switch (environment, file) {
        case (.some, .some):
            problem(.conflictingPassphraseSources, "passphrase_file", "give passphrase_env or passphrase_file, not both")
        case (.some(let name), nil):
            if name.isEmpty {
                problem(.invalidValue, "passphrase_env", "must name an environment variable")
            } else {
                passphrase = .environment(name)
            }
        case (nil, .some(let path)):
            if path.isEmpty {
                problem(.invalidValue, "passphrase_file", "must name a file")
            } else {
                passphrase = .file(resolve(path, relativeTo: baseDirectory))
            }
        case (nil, nil):
            break
        }
        let declaration = PartyDeclaration(id: id, name: name, mpids: mpids, userIDs: userIDs, signingKeyPath: key,
                                           signingCertificatePath: certificate, passphrase: passphrase, line: headerLine)
        return Parsed(declaration: declaration, label: label, reportedFields: reported)
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

        /// 1-based lines of the `[[party]]` headers, if there are exactly `expectedCount` of them.
        func partyHeaderLines(expectedCount: Int) -> [Int]? {
            let headers = lines.indices.filter { isPartyHeader(lines[$0]) }.map { $0 + 1 }
            return headers.count == expectedCount ? headers : nil
        }

        /// The 1-based lines of party `index`'s table: from its header to before the next table header.
        func partyRange(index: Int, headers: [Int]) -> ClosedRange<Int> {
            let start = headers[index]
            var end = lines.count
            for number in (start + 1)..<(lines.count + 1) where lines[number - 1].hasPrefix("[") {
                end = number - 1
                break
            }
            return start...max(start, end)
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

        private func isPartyHeader(_ line: String) -> Bool {
            line.filter { $0 != " " && $0 != "\t" }.hasPrefix("[[party]]")
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
