import CoSSignerTestSupport
import Foundation
import Testing

/// Hostile XML through the command line, as an adapter would feed it: every input is refused by `sign` and by
/// `verify` with exit 2 (input not acceptable) and a clear reason, within the CPU and memory bounds, and
/// nothing is written (no output file, no signed content, no temporary file).
@Suite(.serialized) struct HostileCLITests {
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let bytes: @Sendable () -> [UInt8]
        let mentions: [String]
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "XXE file entity", bytes: {
            Array("<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><r>&x;</r>".utf8)
        }, mentions: ["DOCTYPE"]),
        Case(name: "XXE network entity", bytes: {
            Array("<!DOCTYPE r [<!ENTITY x SYSTEM \"http://127.0.0.1:9/secret\">]><r>&x;</r>".utf8)
        }, mentions: ["DOCTYPE"]),
        Case(name: "XXE parameter entity", bytes: {
            Array("<!DOCTYPE r [<!ENTITY % p SYSTEM \"http://127.0.0.1:9/p.dtd\"> %p;]><r/>".utf8)
        }, mentions: ["DOCTYPE"]),
        Case(name: "external DTD", bytes: {
            Array("<!DOCTYPE r SYSTEM \"http://127.0.0.1:9/r.dtd\"><r/>".utf8)
        }, mentions: ["DOCTYPE"]),
        Case(name: "billion laughs", bytes: {
            var laughs = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
            for i in 1...9 {
                laughs += "<!ENTITY lol\(i) \"" + String(repeating: "&lol\(i == 1 ? "" : String(i - 1));", count: 10) + "\">"
            }
            return Array((laughs + "]><lolz>&lol9;</lolz>").utf8)
        }, mentions: ["DOCTYPE"]),
        Case(name: "1,000,000-deep nesting", bytes: {
            Array(String(repeating: "<a>", count: 1_000_000).utf8) + Array(String(repeating: "</a>", count: 1_000_000).utf8)
        }, mentions: ["nested deeper"]),
        Case(name: "invalid UTF-8", bytes: { Array("<r>caf".utf8) + [0xC3, 0x28] + Array("</r>".utf8) }, mentions: ["UTF-8"]),
        Case(name: "overlong UTF-8", bytes: { Array("<r>".utf8) + [0xC0, 0xBC] + Array("</r>".utf8) }, mentions: ["UTF-8"]),
        Case(name: "UTF-16 with BOM", bytes: { [0xFF, 0xFE] + Array("<r/>".utf8).flatMap { [$0, 0] } }, mentions: ["UTF-16"]),
        Case(name: "UTF-16 without BOM", bytes: { Array("<r/>".utf8).flatMap { [0, $0] } }, mentions: ["UTF-16"]),
        Case(name: "UTF-16 declared", bytes: { Array("<?xml version=\"1.0\" encoding=\"UTF-16\"?><r/>".utf8) }, mentions: ["UTF-8"]),
        Case(name: "NUL inside", bytes: { Array("<r>a".utf8) + [0] + Array("b</r>".utf8) }, mentions: ["NUL"]),
        Case(name: "NUL after the root", bytes: { Array("<r/>".utf8) + [0] + Array("<evil/>".utf8) }, mentions: ["NUL"]),
    ]

    @Test(arguments: cases)
    func signAndVerifyRefuse(_ hostile: Case) throws {
        let workspace = try HostileWorkspace()
        defer { workspace.remove() }
        let input = try workspace.write("input.xml", hostile.bytes())
        let before = workspace.contents()
        let sign = try HostileCLI.run(["sign", "--key", HostileKeys.key, "--cert", HostileKeys.cert, "-o", workspace.path("signed.xml"), input])
        expectHostileRefusal(sign, exit: 2, mentioning: ["input.xml"] + hostile.mentions, workspace: workspace, before: before)
        let verify = try HostileCLI.run(["verify", "--cert", HostileKeys.cert, "--signed-content", workspace.path("content.xml"), input])
        expectHostileRefusal(verify, exit: 2, mentioning: ["input.xml"] + hostile.mentions, workspace: workspace, before: before)
        // The same through standard input.
        let piped = try HostileCLI.run(["verify", "--cert", HostileKeys.cert, "-"], stdinFile: input)
        expectHostileRefusal(piped, exit: 2, mentioning: hostile.mentions, workspace: workspace, before: before)
    }

    /// Files larger than the limit are refused from their size, before a byte is read.
    @Test(arguments: [64 << 20, 1 << 30])
    func oversizedFilesAreRefusedUnread(size: Int) throws {
        let workspace = try HostileWorkspace()
        defer { workspace.remove() }
        let input = try workspace.sparse("big.xml", size: size)
        let before = workspace.contents()
        let sign = try HostileCLI.run(["sign", "--key", HostileKeys.key, "--cert", HostileKeys.cert, "-o", workspace.path("signed.xml"), input])
        expectHostileRefusal(sign, exit: 2, mentioning: ["big.xml", "limit"], workspace: workspace, before: before, maxRSSKiB: 256 * 1024)
        let verify = try HostileCLI.run(["verify", "--cert", HostileKeys.cert, "--signed-content", workspace.path("content.xml"), input])
        expectHostileRefusal(verify, exit: 2, mentioning: ["big.xml", "limit"], workspace: workspace, before: before, maxRSSKiB: 256 * 1024)
        let inspect = try HostileCLI.run(["inspect", input])
        expectHostileRefusal(inspect, exit: 2, mentioning: ["big.xml", "limit"], workspace: workspace, before: before, maxRSSKiB: 256 * 1024)
    }

    /// A stream with no size (standard input) is read only up to the limit, then refused: a 1 GiB stream never
    /// becomes a 1 GiB allocation (the peak resident memory of the process is bounded).
    @Test(arguments: [64 << 20, 1 << 30])
    func oversizedStreamsAreRefusedAtTheLimit(size: Int) throws {
        let workspace = try HostileWorkspace()
        defer { workspace.remove() }
        let before = workspace.contents()
        let producer = "yes '<a>x</a>' | head -c \(size)"
        let verify = try HostileCLI.run(["verify", "--cert", HostileKeys.cert, "-"], stdinShell: producer)
        expectHostileRefusal(verify, exit: 2, mentioning: ["standard input", "limit"], workspace: workspace, before: before,
                             maxRSSKiB: 256 * 1024)
        let sign = try HostileCLI.run(["sign", "--key", HostileKeys.key, "--cert", HostileKeys.cert, "-o", workspace.path("signed.xml"), "-"],
                                      stdinShell: producer)
        expectHostileRefusal(sign, exit: 2, mentioning: ["standard input", "limit"], workspace: workspace, before: before,
                             maxRSSKiB: 256 * 1024)
    }
}
