import CoSSignerTestSupport
import CoSSigner
import CoSSignerTesting
import Foundation
import Testing

/// Regression test for what the AddressSanitizer run found: BatchInputs copied each directory entry's whole
/// `d_name` (256 bytes) out of readdir's buffer, reading past its end for short final entries (a heap buffer
/// overflow in `cos-signer sign --output-dir` over a directory). Names are now read in place; under
/// `swift test --sanitize=address` this test fails on the old code.
@Suite struct HostileBatchInputsTests {
    @Test func listsEveryFileOfADirectoryWithManyNamesOfEveryLength() throws {
        let workspace = try HostileWorkspace()
        defer { workspace.remove() }
        var expected = Set<String>()
        for i in 0..<600 {
            // Lengths 1 to 200, so that some entry ends near the end of each getdents buffer.
            let name = String(String(i).prefix(3)) + String(repeating: "n", count: i % 200)
            try workspace.write(name, [0x3C])
            expected.insert(name)
        }
        try workspace.write(".hidden", [0x3C])
        let inputs = try BatchInputs(paths: [workspace.directory.path])
        var seen = Set<String>()
        while let input = inputs.next() { seen.insert(input.fileName) }
        #expect(seen == expected)
        #expect(BatchInputs.count(paths: [workspace.directory.path]) == expected.count)
    }
}
