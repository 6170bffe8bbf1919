import CoSSignerTestSupport
import CoSSigner
import CoSSignerTesting
import Foundation
import Testing

@Suite struct PartiesRegistrationDataTests {
    @Test func latestRowOnOrBeforeTheDateWins() throws {
        let data = try RegistrationData(csv: """
            mpxn,mpid,effective_from\r
            "1312345678333", AAAA ,2020-01-01\r

            1312345678333,BBBB,2024-02-29
            1312345678333,CCCC,2022-07-15
            """, source: "reg.csv")
        func at(_ day: String) throws -> String? {
            data.registration(of: "1312345678333", at: try CalendarDate(parsing: day))?.mpid.description
        }
        #expect(try at("2019-12-31") == nil)
        #expect(try at("2020-01-01") == "AAAA")
        #expect(try at("2022-07-14") == "AAAA")
        #expect(try at("2022-07-15") == "CCCC")
        #expect(try at("2024-02-28") == "CCCC")
        #expect(try at("2024-02-29") == "BBBB")
        #expect(data.registration(of: "1", at: try CalendarDate(parsing: "2030-01-01")) == nil)
        #expect(data.registration(of: "1312345678333", at: try CalendarDate(parsing: "2030-01-01"))?.line == 4)
    }

    @Test func duplicateConflictingAndMalformedRowsAreRefusedNamingFileAndLine() throws {
        let error = try #require(#expect(throws: RegistrationDataError.self) {
            try RegistrationData(csv: """
                mpxn,mpid,effective_from
                1312345678333,AAAA,2020-01-01
                1312345678333,BBBB,2020-01-01
                2000000000000,AAAA,2021-01-01
                2000000000000,AAAA,2021-01-01
                12AB,aaaa,2021-13-01
                1,AAAA
                """, source: "reg.csv")
        })
        #expect(error.failureClass == .selectionRefused)
        #expect(error.problems.map(\.line) == [3, 5, 6, 7])
        #expect(error.problems[0].reason.contains("conflicting") && error.problems[0].reason.contains("line 2"))
        #expect(error.problems[1].reason.contains("duplicate") && error.problems[1].reason.contains("line 4"))
        #expect(error.problems[2].reason.contains("mpxn") && error.problems[2].reason.contains("mpid") && error.problems[2].reason.contains("effective_from"))
        #expect(error.description.contains("registration data reg.csv: line 3:"))
    }

    @Test func headerIsRequired() throws {
        #expect(throws: RegistrationDataError.self) { try RegistrationData(csv: "", source: "empty.csv") }
        #expect(throws: RegistrationDataError.self) { try RegistrationData(csv: "mpan,supplier,date\n1,AAAA,2020-01-01\n", source: "h.csv") }
        let unreadable = try #require(#expect(throws: RegistrationDataError.self) { try RegistrationData(reading: "/nonexistent/reg.csv") })
        #expect(unreadable.failureClass == .input)
    }

    @Test func calendarDates() throws {
        #expect(try CalendarDate(parsing: "2024-02-29").description == "2024-02-29")
        for bad in ["2023-02-29", "2024-2-29", "2024-00-10", "20240229", "2024-02-29T00:00", "0000-01-01"] {
            #expect(throws: CalendarDateError.self) { try CalendarDate(parsing: bad) }
        }
        #expect(CalendarDate(Date(timeIntervalSince1970: 0)).description == "1970-01-01")
        #expect(CalendarDate(Date(timeIntervalSince1970: 951_782_400)).description == "2000-02-29")
        #expect(CalendarDate(Date(timeIntervalSince1970: -1)).description == "1969-12-31")
        #expect(try CalendarDate(parsing: "2024-01-31") < CalendarDate(parsing: "2024-02-01"))
    }

    @Test func mpids() throws {
        #expect(try MPID(parsing: "GTS1").description == "GTS1")
        for bad in ["gtse", "GTS", "GTSEE", "GT-E", "GTSÉ", ""] {
            #expect(throws: MPIDParseError.self) { try MPID(parsing: bad) }
        }
    }
}
