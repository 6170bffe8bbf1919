import ArgumentParser
import CoSSigner
import CoSSignerTesting
import Foundation

/// Options controlling the 6.23 checks made before signing.
struct ValidationOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Also validate against this DUIS XSD (e.g. the xmllint wrapper of DUIS 5.4).", valueName: "XSD"))
    var schema: String?

    @Option(help: ArgumentHelp("Require every certificate in a 6.23 (replacement and path) to be valid at this time (ISO 8601 date or date-time, or 'now'), instead of the default: the replacement certificates valid when the request executes (its ExecutionDateTime, or now).", valueName: "TIME"))
    var certificatesValidAt: String?

    func makeOptions() throws -> DUISValidationOptions {
        // `now` is read again for each request by the signer; here it serves `build`, which validates once.
        var options = DUISValidationOptions(now: Date())
        if let schema {
            options.schema = try DUISSchema(xsdPath: schema)
        }
        if let text = certificatesValidAt {
            options.certificateValidityTime = try parseTime(text, option: "--certificates-valid-at")
        }
        return options
    }
}

/// Parses `now`, `YYYY-MM-DD` (midnight UTC) or an ISO 8601 date-time.
func parseTime(_ text: String, option: String) throws -> Date {
    if text == "now" { return Date() }
    let full = ISO8601DateFormatter()
    if let date = full.date(from: text) { return date }
    let fractional = ISO8601DateFormatter()
    fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    if let date = fractional.date(from: text) { return date }
    let day = ISO8601DateFormatter()
    day.formatOptions = [.withFullDate]
    if let date = day.date(from: text) { return date }
    throw ValidationError("\(option): '\(text)' is not 'now', a date (YYYY-MM-DD) or an ISO 8601 date-time")
}
