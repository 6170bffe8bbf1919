import Foundation

/// Base64 as XML Signature carries it.
package enum Base64 {
    /// Encodes bytes as base64 on one line, with padding.
    package static func encode(_ bytes: some Sequence<UInt8>) -> String {
        let array = bytes as? [UInt8] ?? Array(bytes)
        return array.withUnsafeBufferPointer { encode($0) }
    }

    /// Encodes bytes as base64 on one line, with padding.
    static func encode(_ input: UnsafeBufferPointer<UInt8>) -> String {
        let count = (input.count + 2) / 3 * 4
        guard count > 0 else { return "" }
        return String(unsafeUninitializedCapacity: count) { out in
            encode(input, into: out)
            return count
        }
    }

    /// Encodes `input` into `out`, which holds exactly `(input.count + 2) / 3 * 4` bytes.
    static func encode(_ input: UnsafeBufferPointer<UInt8>, into out: UnsafeMutableBufferPointer<UInt8>) {
        alphabet.withUnsafeBufferPointer { table in
            var i = 0
            var o = 0
            let n = input.count
            while i + 3 <= n {
                let v = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8 | UInt32(input[i + 2])
                out[o] = table[Int(v >> 18)]
                out[o + 1] = table[Int(v >> 12 & 0x3F)]
                out[o + 2] = table[Int(v >> 6 & 0x3F)]
                out[o + 3] = table[Int(v & 0x3F)]
                i += 3
                o += 4
            }
            let rest = n - i
            if rest > 0 {
                let v = UInt32(input[i]) << 16 | (rest == 2 ? UInt32(input[i + 1]) << 8 : 0)
                out[o] = table[Int(v >> 18)]
                out[o + 1] = table[Int(v >> 12 & 0x3F)]
                out[o + 2] = rest == 2 ? table[Int(v >> 6 & 0x3F)] : UInt8(ascii: "=")
                out[o + 3] = UInt8(ascii: "=")
            }
        }
    }

    /// Decodes base64 strictly: the standard alphabet with correct padding; CR, LF, space and
    /// tab are skipped (the JDK wraps at 76 columns with `&#13;` and LF, xmlsec1 at 64 with LF).
    /// Any other character is an error. (As in most decoders, the unused low bits of the last
    /// character before the padding are ignored.)
    /// - Throws: ``Base64Error``.
    package static func decode(_ text: some StringProtocol) throws(Base64Error) -> [UInt8] {
        // One pass over contiguous UTF-8 (iterating a generic StringProtocol's utf8 view costs more than the
        // rest of the decoding).
        var string = String(text)
        let result: Result<[UInt8], Base64Error> = string.withUTF8 { utf8 in
            Result { () throws(Base64Error) -> [UInt8] in try decode(utf8: utf8) }
        }
        return try result.get()
    }

    /// ``decode(_:)-(StringProtocol)`` over the UTF-8 bytes of the text.
    static func decode(bytes: ArraySlice<UInt8>) throws(Base64Error) -> [UInt8] {
        let result: Result<[UInt8], Base64Error> = bytes.withUnsafeBufferPointer { utf8 in
            Result { () throws(Base64Error) -> [UInt8] in try decode(utf8: utf8) }
        }
        return try result.get()
    }

    /// The decoder: one pass, a lookup table, whitespace skipped; the same acceptance as before (alphabet,
    /// length a multiple of 4 once whitespace is removed, at most two `=` and only at the end).
    static func decode(utf8: UnsafeBufferPointer<UInt8>) throws(Base64Error) -> [UInt8] {
        let n = utf8.count
        guard let source = utf8.baseAddress, n > 0 else { return [] }
        let table = decodeTablePointer
        var outcome = DecodeOutcome.decoded
        let capacity = n / 4 * 3 + 3
        var result = [UInt8](unsafeUninitializedCapacity: capacity) { dst, initialized in
            guard let out = dst.baseAddress else { return }
            var produced = 0
            var quantum: UInt32 = 0
            var inQuantum = 0
            var significant = 0  // non-whitespace characters seen
            var padding = 0
            var firstPadOffset = -1
            var padThenData = false
            var offset = 0
            // Whole quanta of four alphabet characters (the bulk of a certificate) without per-byte branching.
            while offset + 4 <= n {
                let a = table[Int(source[offset])], b = table[Int(source[offset + 1])]
                let c = table[Int(source[offset + 2])], d = table[Int(source[offset + 3])]
                guard (a | b | c | d) < 64, inQuantum == 0 else { break }
                let v = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
                out[produced] = UInt8(truncatingIfNeeded: v >> 16)
                out[produced + 1] = UInt8(truncatingIfNeeded: v >> 8)
                out[produced + 2] = UInt8(truncatingIfNeeded: v)
                produced += 3
                significant += 4
                offset += 4
                // A line break (JDK, xmlsec1) after a whole quantum: skip it and go on in bulk.
                while offset < n, table[Int(source[offset])] == Self.whitespace { offset += 1 }
            }
            // The rest (whitespace inside quanta, padding, errors), one byte at a time.
            while offset < n {
                let byte = source[offset]
                let v = table[Int(byte)]
                if v < 64 {
                    significant += 1
                    if padding > 0 {
                        padThenData = true
                    } else {
                        quantum = quantum << 6 | UInt32(v)
                        inQuantum += 1
                        if inQuantum == 4 {
                            out[produced] = UInt8(truncatingIfNeeded: quantum >> 16)
                            out[produced + 1] = UInt8(truncatingIfNeeded: quantum >> 8)
                            out[produced + 2] = UInt8(truncatingIfNeeded: quantum)
                            produced += 3
                            quantum = 0
                            inQuantum = 0
                        }
                    }
                } else if v == Self.pad {
                    if padding == 0 { firstPadOffset = significant }
                    padding += 1
                    significant += 1
                } else if v != Self.whitespace {
                    outcome = .illegal(byte, offset)
                    initialized = 0
                    return
                }
                offset += 1
            }
            if significant % 4 != 0 {
                outcome = .length(significant)
            } else if padThenData || (padding > 0 && firstPadOffset < significant - 2) {
                outcome = .paddingInside
            } else {
                switch (padding, inQuantum) {
                case (0, 0):
                    break
                case (1, 3):
                    out[produced] = UInt8(truncatingIfNeeded: quantum >> 10)
                    out[produced + 1] = UInt8(truncatingIfNeeded: quantum >> 2)
                    produced += 2
                case (2, 2):
                    out[produced] = UInt8(truncatingIfNeeded: quantum >> 4)
                    produced += 1
                default:
                    outcome = .invalid
                }
            }
            initialized = produced
        }
        switch outcome {
        case .decoded:
            return result
        case .illegal(let byte, let offset):
            result.removeAll()
            throw Base64Error(reason: "illegal character (byte 0x\(hexByte(byte))) at offset \(offset)")
        case .length(let count):
            throw Base64Error(reason: "length \(count) (whitespace removed) is not a multiple of 4")
        case .paddingInside:
            throw Base64Error(reason: "padding '=' inside the value")
        case .invalid:
            throw Base64Error(reason: "not valid base64")
        }
    }

    private enum DecodeOutcome {
        case decoded, illegal(UInt8, Int), length(Int), paddingInside, invalid
    }

    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let whitespace: UInt8 = 0x40
    private static let pad: UInt8 = 0x41
    private static let invalid: UInt8 = 0xFF
    /// Byte → 6-bit value; 0x40 whitespace (CR, LF, space, tab), 0x41 `=`, 0xFF anything else. Allocated
    /// once, never written after its initialisation, never freed (256 bytes).
    nonisolated(unsafe) private static let decodeTablePointer: UnsafePointer<UInt8> = {
        let table = UnsafeMutablePointer<UInt8>.allocate(capacity: 256)
        table.initialize(repeating: invalid, count: 256)
        for (index, c) in alphabet.enumerated() { table[Int(c)] = UInt8(index) }
        for c: UInt8 in [0x0D, 0x0A, 0x20, 0x09] { table[Int(c)] = whitespace }
        table[Int(UInt8(ascii: "="))] = pad
        return UnsafePointer(table)
    }()
}

/// Why a text is not valid base64.
package struct Base64Error: ClassifiedError, Equatable {
    /// Why it was refused.
    package let reason: String
    package var failureClass: FailureClass { .input }
    package var description: String { "invalid base64: \(reason)" }
}
