import CCrypto

/// SHA-256 (FIPS 180-4), streaming, through OpenSSL's libcrypto.
///
/// Checkpoints carry a SHA-256 so that a file cut short, flipped by a bad disk or mangled in
/// transfer is refused instead of silently loading wrong weights. Every checkpoint that is saved,
/// stored, sent or loaded is hashed, so the hash is on the hot path of exploit copies: libcrypto
/// uses the CPU's SHA extensions (measured ≈ 10× a plain-Swift implementation here, see
/// `pba bench store`). `SHA256_CTX` is a plain C struct, so this type keeps value semantics:
/// `finalize()` works on a copy and the running hash can continue.
public struct SHA256: @unchecked Sendable {
    public static let digestByteCount = 32
    private var context = SHA256_CTX()

    public init() { SHA256_Init(&context) }

    /// Hashes more of the message. Splitting a message across calls in any way gives the same
    /// digest as one call.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        SHA256_Update(&context, base, bytes.count)
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The digest of everything so far; `self` is unchanged and can take more input.
    public func finalize() -> [UInt8] {
        var copy = context
        var digest = [UInt8](repeating: 0, count: Self.digestByteCount)
        digest.withUnsafeMutableBufferPointer { _ = SHA256_Final($0.baseAddress, &copy) }
        return digest
    }

    public func finalizeHex() -> String { Self.hex(finalize()) }

    public static func hash(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        var h = SHA256()
        h.update(bytes)
        return h.finalize()
    }

    public static func hash(_ bytes: [UInt8]) -> [UInt8] {
        bytes.withUnsafeBytes { hash($0) }
    }

    /// Lower-case hexadecimal.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }
}
