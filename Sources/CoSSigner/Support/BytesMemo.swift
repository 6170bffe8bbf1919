import Foundation

/// A thread-safe, bounded memo keyed by exact byte strings (certificates, their base64 text, sets of them).
///
/// A key is found through a cheap 64-bit hash of its bytes and then compared byte for byte, so a different key can
/// never be taken for a remembered one. When full it is emptied before the next insertion (a batch normally needs
/// a handful of entries per party). The callers remember only outcomes that are the same every time for the same
/// bytes, and never failures, so that a failure is always produced, and worded, as without the memo.
final class BytesMemo<Value: Sendable>: @unchecked Sendable {
    /// The most entries remembered (0: none).
    let capacity: Int
    private let lock = NSLock()
    private var entries: [UInt64: [(key: [UInt8], value: Value)]] = [:]  // guarded by `lock`
    private var stored = 0  // guarded by `lock`

    init(capacity: Int) {
        self.capacity = max(0, capacity)
    }

    /// The value remembered for exactly these bytes, if any.
    func value(for key: UnsafeRawBufferPointer) -> Value? {
        guard capacity > 0 else { return nil }
        let hash = Self.hash(key)
        lock.lock()
        defer { lock.unlock() }
        return entries[hash]?.first(where: { Self.equal($0.key, key) })?.value
    }

    /// The value remembered for exactly these bytes, if any.
    func value(for key: [UInt8]) -> Value? {
        key.withUnsafeBytes { value(for: $0) }
    }

    /// Remembers `value` for `key` (replacing an earlier one); empties the memo first when it is full.
    func insert(_ value: Value, for key: [UInt8]) {
        guard capacity > 0 else { return }
        let hash = key.withUnsafeBytes { Self.hash($0) }
        lock.lock()
        defer { lock.unlock() }
        if let index = entries[hash]?.firstIndex(where: { Self.equal($0.key, key) }) {
            entries[hash]?[index].value = value
            return
        }
        if stored >= capacity {
            entries.removeAll(keepingCapacity: true)
            stored = 0
        }
        entries[hash, default: []].append((key, value))
        stored += 1
    }

    /// How many entries are remembered.
    var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return stored
    }

    /// A 64-bit multiply–xor hash over 8-byte words, four independent lanes at a time (not cryptographic: only
    /// to find candidates, which are then compared byte for byte).
    static func hash(_ raw: UnsafeRawBufferPointer) -> UInt64 {
        @inline(__always) func mix(_ h: UInt64, _ word: UInt64) -> UInt64 {
            let m = (h ^ word) &* 0xFF51_AFD7_ED55_8CCD
            return m ^ (m >> 29)
        }
        let n = raw.count
        var a: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(n), b: UInt64 = 0xC2B2_AE3D_27D4_EB4F
        var c: UInt64 = 0x1656_67B1_9E37_79F9, d: UInt64 = 0x85EB_CA77_C2B2_AE63
        var k = 0
        while k + 32 <= n {
            a = mix(a, raw.loadUnaligned(fromByteOffset: k, as: UInt64.self))
            b = mix(b, raw.loadUnaligned(fromByteOffset: k + 8, as: UInt64.self))
            c = mix(c, raw.loadUnaligned(fromByteOffset: k + 16, as: UInt64.self))
            d = mix(d, raw.loadUnaligned(fromByteOffset: k + 24, as: UInt64.self))
            k += 32
        }
        while k + 8 <= n {
            a = mix(a, raw.loadUnaligned(fromByteOffset: k, as: UInt64.self))
            k += 8
        }
        while k < n {
            a = mix(a, UInt64(raw[k]))
            k += 1
        }
        let h = mix(mix(mix(a, b.rotated(17)), c.rotated(31)), d.rotated(47))
        return h ^ (h >> 32)
    }

    private static func equal(_ a: [UInt8], _ b: UnsafeRawBufferPointer) -> Bool {
        a.withUnsafeBytes { sameBytes($0, b) }
    }

    private static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool { sameBytes(a, b) }
}

/// Whether two byte strings are equal: the same storage or the same contents (`memcmp`).
func sameBytes(_ x: UnsafeRawBufferPointer, _ y: UnsafeRawBufferPointer) -> Bool {
    guard x.count == y.count else { return false }
    guard let p = x.baseAddress, let q = y.baseAddress else { return true }
    return p == q || memcmp(p, q, x.count) == 0
}

/// ``sameBytes(_:_:)-(UnsafeRawBufferPointer,_)`` for arrays (an array's storage is never changed while another
/// array shares it, so the same storage means the same bytes).
func sameBytes(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    a.withUnsafeBytes { x in b.withUnsafeBytes { sameBytes(x, $0) } }
}

private extension UInt64 {
    func rotated(_ bits: UInt64) -> UInt64 { (self << bits) | (self >> (64 - bits)) }
}
