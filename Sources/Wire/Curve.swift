import CZeroMQ
import Foundation

/// A CURVE key pair in Z85 text (40 characters each), as `zmq_curve_keypair` makes them.
public struct CurveKeyPair: Equatable, Sendable {
    public var publicKey: String
    public var secretKey: String

    /// A fresh key pair from libzmq (libsodium's randomness).
    public static func generate() throws(TransportError) -> CurveKeyPair {
        var pub = [CChar](repeating: 0, count: 41), sec = [CChar](repeating: 0, count: 41)
        guard zmq_curve_keypair(&pub, &sec) == 0 else { throw .last("curve_keypair") }
        return CurveKeyPair(publicKey: String(nulTerminated: pub), secretKey: String(nulTerminated: sec))
    }

    /// Key file format: `public <z85>` and `secret <z85>` lines (the .pub file has only the first).
    public var fileText: String { "public \(publicKey)\nsecret \(secretKey)\n" }
    public var publicFileText: String { "public \(publicKey)\n" }

    /// Reads a key file; `needSecret` for a key pair, else a public key alone is enough.
    public static func read(path: String, needSecret: Bool) throws(CurveKeyError) -> CurveKeyPair {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw .unreadable(path)
        }
        var pub: String?, sec: String?
        for (n, line) in text.split(separator: "\n").enumerated() {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count == 2 else { throw .malformed(path: path, line: n + 1, reason: "expected 'public KEY' or 'secret KEY'") }
            let key = String(parts[1])
            guard key.utf8.count == 40 else { throw .malformed(path: path, line: n + 1, reason: "a Z85 key has 40 characters, got \(key.utf8.count)") }
            switch parts[0] {
            case "public": pub = key
            case "secret": sec = key
            default: throw .malformed(path: path, line: n + 1, reason: "unknown field '\(parts[0])'")
            }
        }
        guard let pub else { throw .malformed(path: path, line: 0, reason: "no public key") }
        if needSecret && sec == nil { throw .malformed(path: path, line: 0, reason: "no secret key (give the .key file, not the .pub)") }
        return CurveKeyPair(publicKey: pub, secretKey: sec ?? "")
    }

    /// The 32 raw bytes of a Z85 public key.
    public static func decodePublic(_ z85: String) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: 32)
        guard z85.utf8.count == 40, zmq_z85_decode(&out, z85) != nil else { return nil }
        return out
    }
}

public enum CurveKeyError: Error, CustomStringConvertible, Equatable {
    case unreadable(String)
    case malformed(path: String, line: Int, reason: String)
    public var description: String {
        switch self {
        case let .unreadable(p): return "cannot read key file \(p)"
        case let .malformed(p, l, r): return "\(p)\(l > 0 ? ":\(l)" : ""): \(r)"
        }
    }
}

extension ZMQSocket {
    private func setText(_ option: Int32, _ value: String) throws(TransportError) {
        let bytes = Array(value.utf8)
        guard zmq_setsockopt(socket, option, bytes, bytes.count) == 0 else { throw .last("setsockopt \(option)") }
    }

    /// Server side of CURVE: clients must know `keys.publicKey`; ZAP decides who is allowed.
    public func enableCurveServer(_ keys: CurveKeyPair) throws(TransportError) {
        var one: Int32 = 1
        guard zmq_setsockopt(socket, ZMQ_CURVE_SERVER, &one, MemoryLayout<Int32>.size) == 0 else { throw .last("curve_server") }
        try setText(ZMQ_CURVE_SECRETKEY, keys.secretKey)
        try setText(ZMQ_ZAP_DOMAIN, "pba")
    }

    /// Client side of CURVE.
    public func enableCurveClient(_ keys: CurveKeyPair, serverPublicKey: String) throws(TransportError) {
        try setText(ZMQ_CURVE_SERVERKEY, serverPublicKey)
        try setText(ZMQ_CURVE_PUBLICKEY, keys.publicKey)
        try setText(ZMQ_CURVE_SECRETKEY, keys.secretKey)
    }
}

/// The ZAP handler (RFC 27) of a context: approves CURVE clients whose public key is in the
/// allow-list and refuses the rest. It must be polled (`serve`) by the thread that owns it.
public final class ZAPAuthenticator: @unchecked Sendable {
    let socket: UnsafeMutableRawPointer
    /// Held so the context is terminated only after this socket is closed (zmq_ctx_term waits
    /// for every socket of the context).
    private let context: ZMQContext
    public let allowed: Set<[UInt8]>
    public private(set) var refused = 0

    public init(context: ZMQContext, allowedPublicKeys: [String]) throws(TransportError) {
        guard let s = zmq_socket(context.handle, ZMQ_REP) else { throw .last("socket") }
        socket = s
        self.context = context
        var linger: Int32 = 0
        zmq_setsockopt(s, ZMQ_LINGER, &linger, MemoryLayout<Int32>.size)
        guard zmq_bind(s, "inproc://zeromq.zap.01") == 0 else { throw .last("bind ZAP") }
        allowed = Set(allowedPublicKeys.compactMap(CurveKeyPair.decodePublic))
    }

    deinit { zmq_close(socket) }

    /// Answers every pending authentication request; returns the client keys refused this call.
    @discardableResult
    public func serve() -> [String] {
        var refusedKeys: [String] = []
        while true {
            var parts: [[UInt8]] = []
            while true {
                var msg = zmq_msg_t()
                zmq_msg_init(&msg)
                defer { zmq_msg_close(&msg) }
                if zmq_msg_recv(&msg, socket, ZMQ_DONTWAIT) < 0 { if parts.isEmpty { return refusedKeys } else { break } }
                let n = zmq_msg_size(&msg)
                parts.append(n > 0 ? Array(UnsafeRawBufferPointer(start: zmq_msg_data(&msg), count: n)) : [])
                if zmq_msg_more(&msg) == 0 { break }
            }
            // [version, request id, domain, address, identity, mechanism, credentials...]
            guard parts.count >= 6 else { continue }
            let mechanism = String(decoding: parts[5], as: UTF8.self)
            let key = parts.count >= 7 ? parts[6] : []
            let ok = mechanism == "CURVE" && allowed.contains(key)
            if !ok {
                refused += 1
                var z85 = [CChar](repeating: 0, count: 41)
                if key.count == 32 { _ = zmq_z85_encode(&z85, key, 32) }
                refusedKeys.append(String(nulTerminated: z85))
            }
            let reply: [[UInt8]] = [Array("1.0".utf8), parts[1], Array((ok ? "200" : "400").utf8),
                                    Array((ok ? "OK" : "key not allowed").utf8), Array((ok ? "worker" : "").utf8), []]
            for (i, part) in reply.enumerated() {
                _ = part.withUnsafeBytes { zmq_send(socket, $0.baseAddress, $0.count, i < reply.count - 1 ? ZMQ_SNDMORE : 0) }
            }
        }
    }
}
