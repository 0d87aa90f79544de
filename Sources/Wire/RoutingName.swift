import Engine

/// A ZeroMQ routing id as the coordinator names a peer in its tables and logs.
///
/// pba's workers (Swift and Python) set a UTF-8 routing id, but a third-party DEALER that sets
/// none gets ZeroMQ's generated one (a zero byte and four more), which is not UTF-8 text; such
/// a peer used to be dropped without an answer. The name is the id itself when it is UTF-8
/// text, else `bytes:` and the id in hex; a text id that itself starts with `bytes:` is written
/// in hex too, so the mapping is reversible and every reply reaches the peer that asked.
public enum RoutingName {
    static let hexPrefix = "bytes:"

    public static func name(of id: [UInt8]) -> String {
        if let text = String(validating: id, as: UTF8.self), !text.hasPrefix(hexPrefix) { return text }
        return hexPrefix + SHA256.hex(id)
    }

    /// The routing id a name came from (`name(of:)`'s inverse; a name it never produced is
    /// taken as text).
    public static func id(of name: String) -> [UInt8] {
        guard name.hasPrefix(hexPrefix) else { return Array(name.utf8) }
        let hex = Array(name.utf8.dropFirst(hexPrefix.utf8.count))
        guard hex.count % 2 == 0 else { return Array(name.utf8) }
        var out: [UInt8] = []
        out.reserveCapacity(hex.count / 2)
        var i = 0
        while i < hex.count {
            guard let high = nibble(hex[i]), let low = nibble(hex[i + 1]) else { return Array(name.utf8) }
            out.append(high << 4 | low)
            i += 2
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        default: return nil
        }
    }
}
