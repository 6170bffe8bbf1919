import Foundation

/// Base64 as XML Signature carries it.
public enum Base64 {
    /// Encodes bytes as base64 on one line, with padding.
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        Data(bytes).base64EncodedString()
    }

    /// Decodes base64 strictly: the standard alphabet with correct padding; CR, LF, space and
    /// tab are skipped (the JDK wraps at 76 columns with `&#13;` and LF, xmlsec1 at 64 with LF).
    /// Any other character is an error.
    /// - Throws: ``Base64Error``.
    public static func decode(_ text: some StringProtocol) throws(Base64Error) -> [UInt8] {
        // One pass over contiguous UTF-8 (iterating a generic StringProtocol's utf8 view costs more than the
        // rest of the decoding).
        var string = String(text)
        let result: Result<[UInt8], Base64Error> = string.withUTF8 { utf8 in
            Result { () throws(Base64Error) -> [UInt8] in try decode(utf8: utf8) }
        }
        return try result.get()
    }

    private static func decode(utf8: UnsafeBufferPointer<UInt8>) throws(Base64Error) -> [UInt8] {
        var clean = [UInt8]()
        clean.reserveCapacity(utf8.count)
        for offset in 0..<utf8.count {
            let c = utf8[offset]
            switch c {
            case 0x0D, 0x0A, 0x20, 0x09: continue
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "+"), UInt8(ascii: "/"), UInt8(ascii: "="):
                clean.append(c)
            default:
                throw Base64Error(reason: "illegal character (byte 0x\(hexByte(c))) at offset \(offset)")
            }
        }
        guard clean.count % 4 == 0 else {
            throw Base64Error(reason: "length \(clean.count) (whitespace removed) is not a multiple of 4")
        }
        if let firstPad = clean.firstIndex(of: UInt8(ascii: "=")), firstPad < clean.count - 2
            || clean[firstPad...].contains(where: { $0 != UInt8(ascii: "=") }) {
            throw Base64Error(reason: "padding '=' inside the value")
        }
        guard let data = Data(base64Encoded: Data(clean)) else {
            throw Base64Error(reason: "not valid base64")
        }
        return [UInt8](data)
    }
}

/// Why a text is not valid base64.
public struct Base64Error: ClassifiedError, Equatable {
    /// Why it was refused.
    public let reason: String
    public var failureClass: FailureClass { .input }
    public var description: String { "invalid base64: \(reason)" }
}
