import CoSSigner
import Foundation
import TOMLKit

/// Which client may sign for which Supplier Parties: the `--clients` file.
///
/// ```toml
/// [[client]]
/// subject = "CN=adapter-1,O=Supplier"
/// parties = ["ts1"]
/// ```
/// A subject is compared as a distinguished name (attribute types by OID, values case- and space-folded, in RDN
/// order), with the subject of the certificate the client presented. Every party named must be in the registry;
/// a subject appears once. A client certificate whose subject is not listed may verify, but not sign.
public struct ClientsFile: Sendable {
    /// One client.
    public struct Client: Sendable {
        public let subject: DistinguishedName
        /// Party ids, lower case.
        public let parties: Set<String>
        public let line: Int?
    }

    public let path: String
    public let clients: [Client]
    private let bySubject: [DistinguishedName: Client]

    /// The largest clients file read.
    static let maximumFileBytes = 1 << 20

    /// Reads and checks the file against the registry.
    /// - Throws: ``ServerStartError`` naming the file, line and problem.
    public init(contentsOfFile path: String, registry: PartyRegistry) throws(ServerStartError) {
        let bytes: Data
        do {
            bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ServerStartError("\(path): cannot read the clients file: \(error.localizedDescription)", exitCode: 2)
        }
        guard bytes.count <= Self.maximumFileBytes else {
            throw ServerStartError("\(path): the clients file is larger than \(Self.maximumFileBytes) bytes", exitCode: 2)
        }
        guard let text = String(data: bytes, encoding: .utf8), !text.utf8.contains(0) else {
            throw ServerStartError("\(path): the clients file is not UTF-8 text", exitCode: 2)
        }
        try self.init(text: text, path: path, registry: registry)
    }

    /// Checks clients given as TOML text.
    public init(text: String, path: String, registry: PartyRegistry) throws(ServerStartError) {
        func fail(_ line: Int?, _ reason: String) -> ServerStartError {
            ServerStartError("\(path)\(line.map { ":\($0)" } ?? ""): \(reason)", exitCode: 2)
        }
        // toml++ only sees text of the plain subset the registry guard admits (it asserts on some malformed input).
        if let problem = PartyRegistryTOMLGuard.problem(in: text) {
            throw fail(problem.line, problem.reason)
        }
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch {
            throw fail(nil, "not valid TOML: \(error)")
        }
        let headerLines = text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            .filter { $0.element.trimmingCharacters(in: .whitespaces).hasPrefix("[[client]]") }.map { $0.offset + 1 }
        for key in table.keys where key != "client" {
            throw fail(nil, "unknown key '\(key)': the file holds [[client]] tables only")
        }
        guard let array = table["client"]?.array else {
            throw fail(nil, "no [[client]] table: give one per client certificate subject")
        }
        var clients = [Client]()
        var bySubject = [DistinguishedName: Client]()
        for (index, value) in array.enumerated() {
            let line = index < headerLines.count ? headerLines[index] : nil
            guard let entry = value.table else { throw fail(line, "client \(index + 1) is not a table") }
            for key in entry.keys where key != "subject" && key != "parties" {
                throw fail(line, "client \(index + 1): unknown key '\(key)' (give subject and parties)")
            }
            guard let subjectText = entry["subject"]?.string else {
                throw fail(line, "client \(index + 1): no subject (a distinguished name such as \"CN=adapter-1,O=Supplier\")")
            }
            let subject: DistinguishedName
            do {
                subject = try DistinguishedName(rfc2253: subjectText)
            } catch {
                throw fail(line, "client \(index + 1): subject '\(subjectText)' is not a distinguished name: \(error.reason)")
            }
            guard let partyValues = entry["parties"]?.array else {
                throw fail(line, "client \(index + 1) (\(subject)): no parties (a list of party ids from the registry)")
            }
            var parties = Set<String>()
            for partyValue in partyValues {
                guard let id = partyValue.string else { throw fail(line, "client \(index + 1) (\(subject)): parties must be strings") }
                guard registry.party(id: id) != nil else {
                    let known = registry.parties.map(\.id).joined(separator: ", ")
                    throw fail(line, "client \(index + 1) (\(subject)): party '\(id)' is not in the registry \(registry.source) (its parties: \(known))")
                }
                parties.insert(id.lowercased())
            }
            if let earlier = bySubject[subject] {
                throw fail(line, "subject \(subject) is listed twice (also at line \(earlier.line.map(String.init) ?? "?")): list each client once")
            }
            let client = Client(subject: subject, parties: parties, line: line)
            clients.append(client)
            bySubject[subject] = client
        }
        self.path = path
        self.clients = clients
        self.bySubject = bySubject
    }

    /// The client with this certificate subject, if listed.
    public func client(subject: DistinguishedName) -> Client? { bySubject[subject] }
}
