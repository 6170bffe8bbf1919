import CoSSignerTestSupport
import Foundation
import Testing

@Suite struct PartiesCLITests {
    @Test func checkSummarisesOrListsEveryProblem() throws {
        let workspace = try PartiesWorkspace()
        defer { workspace.remove() }
        let good = try workspace.registry([.gts, .other])
        var r = try CLI.run(["parties", "check", good])
        #expect(r.status == 0, "\(r.stderr)")
        for fragment in ["2 parties", "party gts (GIT Test Supplier)", "GTSE, GTSG", "90-B3-D5-1F-30-03-00-00", PartiesTemplates.gtsSerial, "2118-01-01", "2 keys loaded"] {
            #expect(r.stdout.contains(fragment), "\(r.stdout) lacks \(fragment)")
        }

        var other = PartiesEntry.other
        other.mpids = ["GTSE"]
        other.userIDs = ["90-B3-D5-1F-30-02-00-00", "not-an-eui"]
        let bad = try workspace.registry([.gts, other], name: "bad.toml")
        r = try CLI.run(["parties", "check", bad])
        #expect(r.status == 4)
        #expect(r.stderr.contains("GTSE") && r.stderr.contains("gts (GIT Test Supplier, line 2)") && r.stderr.contains("other (Other Supplier, line 11)"), "\(r.stderr)")
        #expect(r.stderr.contains("not-an-eui"), "\(r.stderr)")

        var missing = PartiesEntry.gts
        missing.keyIdentity = "absent"
        r = try CLI.run(["parties", "check", try workspace.write("missing.toml", missing.toml)])
        #expect(r.status == 3, "\(r.stderr)")
        #expect(r.stderr.contains("absent.key.pem"))

        r = try CLI.run(["parties", "check", workspace.path("nothing-here.toml")])
        #expect(r.status == 2, "\(r.stderr)")
        #expect(try CLI.run(["parties", "check"]).status == 1)
    }

    @Test func selectExplainsOrRefuses() throws {
        let workspace = try PartiesWorkspace()
        defer { workspace.remove() }
        let registry = try workspace.registry([.gts, .other])
        var r = try CLI.run(["parties", "select", registry, "--mpid", "GTSG"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("party gts (GIT Test Supplier)"))
        #expect(r.stdout.contains("MPID GTSG → party gts"))
        #expect(r.stdout.contains(PartiesTemplates.gtsSerial))

        r = try CLI.run(["parties", "select", registry, "--user-id", "90-B3-D5-1F-30-02-00-00"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("party other (Other Supplier)"))

        // Another party's MPID with the first party's User ID: refused, naming both.
        r = try CLI.run(["parties", "select", registry, "--mpid", "OTHR", "--user-id", "90-B3-D5-1F-30-01-00-00"])
        #expect(r.status == 4)
        #expect(r.stderr.contains("gts (GIT Test Supplier)") && r.stderr.contains("other (Other Supplier)"), "\(r.stderr)")
        #expect(try CLI.run(["parties", "select", registry, "--mpid", "ZZZZ"]).status == 4)

        // A 6.23 request: originator and replacement certificates checked.
        let template = Fixtures.path("\(Fixtures.templates)/\(Fixtures.template623Names[0])")
        r = try CLI.run(["parties", "select", registry, "--request", template, "--mpid", "GTSE"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("replacement certificates' entity 90-B3-D5-1F-30-03-00-00"))
        #expect(try CLI.run(["parties", "select", registry, "--request", template, "--mpid", "OTHR"]).status == 4)

        // By meter.
        let csv = try workspace.write("registration.csv", "mpxn,mpid,effective_from\n1312345678333,OTHR,2020-01-01\n1312345678333,GTSE,2025-06-01\n")
        r = try CLI.run(["parties", "select", registry, "--mpxn", "1312345678333", "--registration", csv, "--at", "2025-06-01"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("party gts"))
        r = try CLI.run(["parties", "select", registry, "--mpxn", "1312345678333", "--registration", csv, "--at", "2024-01-01"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("party other"))
        r = try CLI.run(["parties", "select", registry, "--request", template, "--registration", csv, "--at", "2024-01-01"])
        #expect(r.status == 4)
        let conflicting = try workspace.write("conflict.csv", "mpxn,mpid,effective_from\n1312345678333,OTHR,2020-01-01\n1312345678333,GTSE,2020-01-01\n")
        r = try CLI.run(["parties", "select", registry, "--mpxn", "1312345678333", "--registration", conflicting, "--at", "2024-01-01"])
        #expect(r.status == 4)
        #expect(r.stderr.contains("conflict.csv: line 3"), "\(r.stderr)")

        // Usage errors.
        for arguments in [["parties", "select", registry], ["parties", "select", registry, "--mpid", "gtse"],
                          ["parties", "select", registry, "--user-id", "90B3"], ["parties", "select", registry, "--mpxn", "1"],
                          ["parties", "select", registry, "--mpxn", "1", "--registration", csv, "--at", "2024-02-30"],
                          ["parties", "select", registry, "--request", template, "--user-id", "90-B3-D5-1F-30-01-00-00"]] {
            #expect(try CLI.run(arguments).status == 1, "\(arguments)")
        }
    }

    @Test func helpShowsExamples() throws {
        for command in [["parties"], ["parties", "check"], ["parties", "select"]] {
            let r = try CLI.run(command + ["--help"])
            #expect(r.status == 0)
            #expect(r.stdout.contains("Examples:"), "\(command)")
        }
    }
}
