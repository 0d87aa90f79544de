import CZeroMQ
#if canImport(Glibc)
import Glibc
#endif

public enum TransportError: Error, CustomStringConvertible, Equatable {
    case zmq(operation: String, message: String)
    /// A send could not complete within the socket's send timeout (no peer connected).
    case wouldBlock
    public var description: String {
        switch self {
        case let .zmq(op, m): return "ZeroMQ \(op) failed: \(m)"
        case .wouldBlock: return "ZeroMQ send timed out: no connected peer"
        }
    }
    static func last(_ op: String) -> TransportError {
        .zmq(operation: op, message: String(cString: zmq_strerror(zmq_errno())))
    }
}

/// A ZeroMQ context (one per process).
public final class ZMQContext: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer
    public init() {
        guard let h = zmq_ctx_new() else { fatalError("zmq_ctx_new failed: out of resources") }
        handle = h
    }
    deinit { zmq_ctx_term(handle) }
}

/// A thin wrapper over a ROUTER or DEALER socket: multipart frames in and out, with a receive
/// timeout through `zmq_poll`. It moves bytes only; `WireCodec` gives them meaning.
public final class ZMQSocket: @unchecked Sendable {
    public enum Kind { case router, dealer }
    let socket: UnsafeMutableRawPointer
    public let kind: Kind
    private let context: ZMQContext

    /// `maximumMessageSize` is enforced by libzmq (ZMQ_MAXMSGSIZE): a peer sending more is
    /// disconnected before the bytes are buffered.
    public init(context: ZMQContext, kind: Kind, maximumMessageSize: Int = WireCodec.defaultMaximumFrameSize,
                identity: String? = nil) throws(TransportError) {
        self.context = context
        self.kind = kind
        guard let s = zmq_socket(context.handle, kind == .router ? ZMQ_ROUTER : ZMQ_DEALER) else { throw .last("socket") }
        socket = s
        var maxSize = Int64(maximumMessageSize)
        zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxSize, MemoryLayout<Int64>.size)
        var linger: Int32 = 500
        zmq_setsockopt(s, ZMQ_LINGER, &linger, MemoryLayout<Int32>.size)
        if kind == .dealer {
            // A DEALER with no connected peer blocks on send: bound that, so a worker whose
            // coordinator is gone (or refused its CURVE key) can still stop.
            var timeout: Int32 = 2000
            zmq_setsockopt(s, ZMQ_SNDTIMEO, &timeout, MemoryLayout<Int32>.size)
            // Reconnect quickly after a coordinator restart.
            var ivl: Int32 = 200, max: Int32 = 2000
            zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &ivl, MemoryLayout<Int32>.size)
            zmq_setsockopt(s, ZMQ_RECONNECT_IVL_MAX, &max, MemoryLayout<Int32>.size)
        }
        if let identity {
            let bytes = Array(identity.utf8)
            zmq_setsockopt(s, ZMQ_ROUTING_ID, bytes, bytes.count)
        }
    }

    deinit { zmq_close(socket) }

    public func bind(_ endpoint: String) throws(TransportError) {
        guard zmq_bind(socket, endpoint) == 0 else { throw .last("bind \(endpoint)") }
    }

    public func connect(_ endpoint: String) throws(TransportError) {
        guard zmq_connect(socket, endpoint) == 0 else { throw .last("connect \(endpoint)") }
    }

    /// The endpoint actually bound (resolves a "tcp://127.0.0.1:*" wildcard port).
    public var lastEndpoint: String {
        var buffer = [CChar](repeating: 0, count: 256)
        var size = buffer.count
        zmq_getsockopt(socket, ZMQ_LAST_ENDPOINT, &buffer, &size)
        return String(nulTerminated: buffer)
    }

    /// Sends a multipart message. Does not block on a ROUTER (unroutable parts are dropped).
    public func send(_ parts: [[UInt8]]) throws(TransportError) {
        for (i, part) in parts.enumerated() {
            let flags = i < parts.count - 1 ? ZMQ_SNDMORE : 0
            let rc = part.withUnsafeBytes { raw in zmq_send(socket, raw.baseAddress, raw.count, Int32(flags)) }
            if rc < 0 { throw zmq_errno() == EAGAIN ? .wouldBlock : .last("send") }
        }
    }

    /// Waits up to `timeoutMilliseconds` for a message; nil on timeout or interruption.
    public func receive(timeoutMilliseconds: Int) throws(TransportError) -> [[UInt8]]? {
        var item = zmq_pollitem_t(socket: socket, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0)
        let n = zmq_poll(&item, 1, timeoutMilliseconds)
        if n < 0 {
            if zmq_errno() == EINTR { return nil }
            throw .last("poll")
        }
        guard n > 0 else { return nil }
        var parts: [[UInt8]] = []
        while true {
            var msg = zmq_msg_t()
            zmq_msg_init(&msg)
            defer { zmq_msg_close(&msg) }
            let rc = zmq_msg_recv(&msg, socket, ZMQ_DONTWAIT)
            if rc < 0 {
                if zmq_errno() == EAGAIN && parts.isEmpty { return nil }
                throw .last("receive")
            }
            let size = zmq_msg_size(&msg)
            if size > 0, let data = zmq_msg_data(&msg) {
                parts.append(Array(UnsafeRawBufferPointer(start: data, count: size)))
            } else {
                parts.append([])
            }
            if zmq_msg_more(&msg) == 0 { break }
        }
        return parts
    }
}

extension String {
    /// The UTF-8 text of a C character buffer up to its first NUL (libzmq writes keys and
    /// endpoints into fixed-size buffers).
    init(nulTerminated buffer: [CChar]) {
        self = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
