import CoSSignerTestSupport
import CoSSigner
import CoSSignerTesting
import Foundation
import Testing

@Suite struct PartiesRegistryFileTests {
    @Test func theDocumentedFormatLoads() throws {
        let workspace = try PartiesWorkspace()
        defer { workspace.remove() }
        try workspace.copyIdentity("xml-sign-90B3D51F30010000-ds")
        let path = try workspace.write("conf/parties.toml", """
            # comments allowed
            [[party]]
            id = "gts"          # the party
            name = "GIT Test Supplier"
            mpids = ["GTSE", "GTSG"]
            user_ids = ["90-b3-d5-1f-30-01-00-00"]
            signing_key = "../keys/xml-sign-90B3D51F30010000-ds.key.pem"
            signing_certificate = "\(workspace.path("keys/xml-sign-90B3D51F30010000-ds.pem"))"
            """)
        let registry = try PartyRegistry(contentsOfFile: path, loader: .files)
        let party = try #require(registry.parties.first)
        #expect(party.id == "gts" && party.name == "GIT Test Supplier")
        #expect(party.mpids.map(\.description) == ["GTSE", "GTSG"])
        #expect(party.userIDs == [try EUI64(parsing: "90-B3-D5-1F-30-01-00-00")])
        #expect(party.declaration.line == 2)
        #expect(registry.party(id: "GTS")?.id == "gts")
    }

    @Test func everyProblemIsNamedWithPartyFieldAndLine() throws {
        let workspace = try PartiesWorkspace()
        defer { workspace.remove() }
        try workspace.copyIdentity("xml-sign-90B3D51F30010000-ds")
        let path = try workspace.write("bad.toml", """
            version = 2

            [[party]]
            id = "gts"
            name = "GIT Test Supplier"
            mpids = ["GTSE", "gtsg", "TOOLONG"]
            user_ids = ["90-B3-D5-1F-30-01-00-00", "90B3D51F30010001"]
            signing_key = "keys/xml-sign-90B3D51F30010000-ds.key.pem"
            signing_certificate = "keys/xml-sign-90B3D51F30010000-ds.pem"
            signing_kye = "typo"

            [[party]]
            id = "gts"
            mpids = ["GTSE"]
            user_ids = []
            signing_key = 7
            signing_certificate = "keys/xml-sign-90B3D51F30010000-ds.pem"
            """)
        let error = try #require(#expect(throws: PartyRegistryError.self) { try PartyRegistry(contentsOfFile: path, loader: .files) })
        #expect(error.failureClass.exitCode == 4)
        let text = error.problems.map(\.description)
        func has(_ kind: PartyRegistryProblem.Kind, field: String?, line: Int?, _ fragment: String? = nil) -> Bool {
            error.problems.contains { $0.kind == kind && $0.field == field && $0.line == line && fragment.map($0.reason.contains) != false }
        }
        #expect(has(.unknownKey, field: "version", line: 1), "\(text)")
        #expect(has(.invalidValue, field: "mpids", line: 6, "gtsg"), "\(text)")
        #expect(has(.invalidValue, field: "mpids", line: 6, "TOOLONG"), "\(text)")
        #expect(has(.invalidValue, field: "user_ids", line: 7, "90B3D51F30010001"), "\(text)")
        #expect(has(.unknownKey, field: "signing_kye", line: 10), "\(text)")
        #expect(has(.missingField, field: "name", line: 12), "\(text)")
        #expect(has(.invalidValue, field: "user_ids", line: 12, "no User ID"), "\(text)")
        #expect(has(.invalidValue, field: "signing_key", line: 16, "must be a string"), "\(text)")
        #expect(has(.duplicatePartyID, field: "id", line: 12), "\(text)")
        #expect(has(.duplicateMPID, field: "mpids", line: 12, "GTSE"), "\(text)")
        #expect(error.description.contains("\(path)"))
    }

    @Test func syntaxErrorsCarryTheirLine() throws {
        let workspace = try PartiesWorkspace()
        defer { workspace.remove() }
        let path = try workspace.write("syntax.toml", "[[party]]\nid = \"gts\"\nname = \n")
        let error = try #require(#expect(throws: PartyRegistryError.self) { try PartyRegistry(contentsOfFile: path, loader: .files) })
        #expect(error.problems.count == 1)
        #expect(error.problems[0].kind == .syntax)
        #expect(error.problems[0].line == 3)
        #expect(error.failureClass.exitCode == 4)

        for (name, text) in [("empty.toml", "# nothing\n"), ("table.toml", "[party]\nid = \"x\"\n")] {
            let refused = try #require(#expect(throws: PartyRegistryError.self) {
                try PartyRegistry(contentsOfFile: try workspace.write(name, text), loader: .files)
            })
            #expect(refused.failureClass.exitCode == 4, "\(refused)")
        }
        #expect(throws: PartyRegistryError.self) { try PartyRegistry(declarations: []) }
    }
}
