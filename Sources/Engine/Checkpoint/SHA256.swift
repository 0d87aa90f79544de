/// SHA-256 (FIPS 180-4), streaming, in plain Swift.
///
/// Checkpoints carry a SHA-256 trailer so that a file cut short, flipped by a bad disk or
/// mangled in transfer is refused instead of silently loading wrong weights. We need no
/// cryptographic library for that (Linux has no CryptoKit, and swift-crypto would be a large
/// dependency for one function), but hashing must not slow down saving an 18 MB checkpoint, so
/// the compression function runs over raw pointers, whole blocks straight from the caller's
/// buffer, with no allocation per block.
public struct SHA256: Sendable {
    public static let digestByteCount = 32
    static let blockByteCount = 64

    private var state: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) =
        (0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19)
    /// A partial block waiting for more input (64 bytes of storage, `pendingCount` of them used).
    private var pending: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
    private var pendingCount = 0
    /// Total message length so far, in bytes.
    private var length: UInt64 = 0

    public init() {}

    /// Hashes more of the message. Splitting a message across calls in any way gives the same
    /// digest as one call.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard var input = bytes.baseAddress, bytes.count > 0 else { return }
        var remaining = bytes.count
        length &+= UInt64(remaining)
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { schedule in
            guard let w = schedule.baseAddress else { return }
            if pendingCount > 0 {
                let take = min(Self.blockByteCount - pendingCount, remaining)
                withUnsafeMutableBytes(of: &pending) { p in
                    (p.baseAddress! + pendingCount).copyMemory(from: input, byteCount: take)
                }
                pendingCount += take
                input += take
                remaining -= take
                if pendingCount == Self.blockByteCount {
                    let copy = pending
                    withUnsafeBytes(of: copy) { p in Self.compress(&state, p.baseAddress!, blocks: 1, w) }
                    pendingCount = 0
                }
            }
            let whole = remaining / Self.blockByteCount
            if whole > 0 {
                Self.compress(&state, input, blocks: whole, w)
                input += whole * Self.blockByteCount
                remaining -= whole * Self.blockByteCount
            }
            if remaining > 0 {
                withUnsafeMutableBytes(of: &pending) { p in
                    p.baseAddress!.copyMemory(from: input, byteCount: remaining)
                }
                pendingCount = remaining
            }
        }
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The 32-byte digest of everything passed to `update` so far. Does not change `self`, so a
    /// running hash can be inspected and continued.
    public func finalize() -> [UInt8] {
        var copy = self
        let bitLength = length &* 8
        var padding = [UInt8](repeating: 0, count: 72)
        padding[0] = 0x80
        let padCount = (pendingCount < 56 ? 56 : 120) - pendingCount
        for i in 0..<8 { padding[padCount + i] = UInt8(truncatingIfNeeded: bitLength >> (56 - 8 * UInt64(i))) }
        padding.withUnsafeBytes { copy.update(UnsafeRawBufferPointer(rebasing: $0[0..<(padCount + 8)])) }
        let s = copy.state
        var digest = [UInt8](repeating: 0, count: 32)
        for (i, word) in [s.0, s.1, s.2, s.3, s.4, s.5, s.6, s.7].enumerated() {
            digest[4 * i] = UInt8(word >> 24)
            digest[4 * i + 1] = UInt8((word >> 16) & 0xff)
            digest[4 * i + 2] = UInt8((word >> 8) & 0xff)
            digest[4 * i + 3] = UInt8(word & 0xff)
        }
        return digest
    }

    /// The digest as 64 lowercase hex digits.
    public func finalizeHex() -> String { Self.hex(finalize()) }

    /// The digest of one whole message.
    public static func hash(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        var h = SHA256()
        h.update(bytes)
        return h.finalize()
    }

    public static func hash(_ bytes: [UInt8]) -> [UInt8] {
        bytes.withUnsafeBytes { hash($0) }
    }

    /// Lowercase hex of any bytes.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static let roundConstants: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    @inline(__always)
    private static func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 &- n)) }

    /// Runs the compression function over `blocks` consecutive 64-byte blocks at `data`.
    /// `w` is scratch space for the 64-word message schedule.
    private static func compress(
        _ state: inout (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32),
        _ data: UnsafeRawPointer, blocks: Int, _ w: UnsafeMutablePointer<UInt32>
    ) {
        roundConstants.withUnsafeBufferPointer { constants in
            guard let k = constants.baseAddress else { return }
            var (h0, h1, h2, h3, h4, h5, h6, h7) = state
            var block = data
            for _ in 0..<blocks {
                for t in 0..<16 {
                    w[t] = UInt32(bigEndian: block.loadUnaligned(fromByteOffset: t &* 4, as: UInt32.self))
                }
                for t in 16..<64 {
                    let x = w[t &- 15], y = w[t &- 2]
                    let s0 = rotr(x, 7) ^ rotr(x, 18) ^ (x >> 3)
                    let s1 = rotr(y, 17) ^ rotr(y, 19) ^ (y >> 10)
                    w[t] = w[t &- 16] &+ s0 &+ w[t &- 7] &+ s1
                }
                var a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7
                for t in 0..<64 {
                    let s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
                    let choice = (e & f) ^ (~e & g)
                    let t1 = h &+ s1 &+ choice &+ k[t] &+ w[t]
                    let s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
                    let majority = (a & b) ^ (a & c) ^ (b & c)
                    let t2 = s0 &+ majority
                    h = g; g = f; f = e; e = d &+ t1
                    d = c; c = b; b = a; a = t1 &+ t2
                }
                h0 &+= a; h1 &+= b; h2 &+= c; h3 &+= d
                h4 &+= e; h5 &+= f; h6 &+= g; h7 &+= h
                block += 64
            }
            state = (h0, h1, h2, h3, h4, h5, h6, h7)
        }
    }
}
