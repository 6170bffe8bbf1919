// The fuzzing binary's entry point: see Harness.swift.

import CoSSigner
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// libFuzzer's driver for programs that have their own `main` (compiler-rt FuzzerInterface.h).
@_extern(c, "LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

let environment = ProcessInfo.processInfo.environment
guard let name = environment["COSSIGNER_FUZZ_TARGET"], let target = FuzzTarget(rawValue: name) else {
    fail("set COSSIGNER_FUZZ_TARGET to one of: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))")
}
let shared = environment["COSSIGNER_SHARED"] ?? "../shared"
do {
    let made = try FuzzContext(target: target, shared: shared)
    context = made
    if let seedDirectory = environment["COSSIGNER_FUZZ_WRITE_SEEDS"] {
        try writeSignedSeeds(made, shared: shared, into: seedDirectory)
        exit(0)
    }
} catch {
    fail("cannot load the fixed key and certificate from \(shared) (set COSSIGNER_SHARED): \(error)")
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
let status = LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzerTestOneInput(data, size) }
exit(status)
