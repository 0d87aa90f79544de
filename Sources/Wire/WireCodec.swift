import Engine

/// A decoded frame: the message and the request id it answers or carries.
public struct Envelope: Equatable, Sendable {
    public var requestId: UInt64
    public var message: WireMessage
    public init(requestId: UInt64, message: WireMessage) { self.requestId = requestId; self.message = message }
}

public enum WireError: Error, CustomStringConvertible, Equatable {
    case tooShort(Int)
    case badMagic
    case unsupportedVersion(UInt16)
    case unknownType(UInt8)
    case lengthMismatch(declared: Int, actual: Int)
    case tooLarge(Int, limit: Int)
    case truncated(field: String)
    case trailingBytes(Int)
    case invalidText(field: String)
    case invalidValue(field: String, value: String)
    case checksumMismatch(field: String)

    public var description: String {
        switch self {
        case let .tooShort(n): return "frame of \(n) bytes is shorter than the \(WireCodec.headerSize)-byte header"
        case .badMagic: return "frame does not start with the pba magic"
        case let .unsupportedVersion(v): return "protocol version \(v) is not supported (this pba speaks \(WireCodec.protocolVersion))"
        case let .unknownType(t): return "unknown message type \(t)"
        case let .lengthMismatch(d, a): return "header declares a \(d)-byte payload, frame carries \(a)"
        case let .tooLarge(n, limit): return "frame of \(n) bytes exceeds the \(limit)-byte limit"
        case let .truncated(f): return "payload ends inside field '\(f)'"
        case let .trailingBytes(n): return "\(n) unexpected bytes after the payload"
        case let .invalidText(f): return "field '\(f)' is not valid UTF-8"
        case let .invalidValue(f, v): return "field '\(f)' has invalid value \(v)"
        case let .checksumMismatch(f): return "SHA-256 of '\(f)' does not match the one sent with it"
        }
    }
}

/// The binary frame format: a 20-byte header — magic "PBAW", protocol version (UInt16 LE),
/// message type (UInt8), flags (UInt8, 0), request id (UInt64 LE), payload length (UInt32 LE) —
/// then the payload. Integers are little-endian; text is UInt32 length + UTF-8; byte arrays are
/// UInt64 length + bytes. Decoding checks every length against what is left before reading, so
/// any byte string either decodes or throws.
///
/// The header and the ERROR payload (UInt16 code + text) are the same in every protocol
/// version, so peers of different versions can always refuse each other in words the other
/// reads (`foreignVersion`, `encodeRefusal`, `decodeForeignError`). Version 3 added the worker's
/// identity (kind, model) to HELLO. The full layout is in `docs/protocol.md`; the Swift and
/// Python codecs are both tested against it.
public enum WireCodec {
    public static let protocolVersion: UInt16 = 3
    public static let headerSize = 20
    static let magic: [UInt8] = [0x50, 0x42, 0x41, 0x57]  // "PBAW"
    /// Default frame size limit: a WRN-40-2 training state is ≈ 18 MB; 1 GiB leaves room for
    /// large models while bounding what a misbehaving peer can make us hold.
    public static let defaultMaximumFrameSize = 1 << 30
    static let maximumTextLength = 16 << 20

    // MARK: encoding

    public static func encode(_ envelope: Envelope) -> [UInt8] {
        let m = envelope.message
        // The header goes first with a zero length patched at the end, so the payload (an 18 MB
        // checkpoint) is copied once, into a buffer reserved large enough up front.
        var w = Writer()
        var reserve = 256
        if case let .result(r) = m { reserve += r.checkpoint.count }
        if case let .assign(a) = m, case let .bytes(b, _) = a.checkpoint { reserve += b.count }
        w.bytes.reserveCapacity(reserve)
        w.bytes += magic
        w.u16(protocolVersion)
        w.u8(m.type.rawValue)
        w.u8(0)
        w.u64(envelope.requestId)
        w.u32(0)
        switch m {
        case let .hello(h):
            w.text(h.workerId); w.text(h.pbaVersion); w.u16(h.protocolVersion); w.u32(h.threads); w.text(h.hostname)
            w.text(h.identity.kind); w.text(h.identity.model)
        case let .welcome(x):
            w.text(x.runId); w.text(x.job); w.u32(x.heartbeatMilliseconds)
        case let .ready(r):
            w.text(r.dataFingerprint)
        case .request, .heartbeat:
            break
        case let .assign(a):
            w.u64(a.assignmentId); w.u8(a.kind.rawValue); w.u32(a.member); w.u32(a.epochStart); w.u32(a.epochEnd)
            w.u64(a.trainingSeed)
            switch a.augmentation {
            case let .policy(ops, values):
                w.u8(1); w.u32(UInt32(ops.count)); for o in ops { w.text(o) }
                w.u32(UInt32(values.count)); for v in values { w.u8(UInt8(clamping: v)) }
            case let .schedule(json): w.u8(2); w.text(json)
            case let .baseline(name): w.u8(3); w.text(name)
            case let .policyOnFoundation(foundation, ops, values):
                w.u8(4); w.text(foundation); w.u32(UInt32(ops.count)); for o in ops { w.text(o) }
                w.u32(UInt32(values.count)); for v in values { w.u8(UInt8(clamping: v)) }
            }
            switch a.checkpoint {
            case let .initial(seed): w.u8(1); w.u64(seed)
            case let .bytes(b, sha): w.u8(2); w.text(sha); w.bytes(b)
            }
        case let .noWork(ms):
            w.u32(ms)
        case let .result(r):
            w.u64(r.assignmentId); w.f64(r.accuracy); w.f64(r.trainLoss); w.f64(r.seconds); w.text(r.sha256); w.bytes(r.checkpoint)
            w.u64(UInt64(r.predictions.count)); for p in r.predictions { w.u32(UInt32(bitPattern: p)) }
        case let .error(e):
            w.u16(e.code.rawValue); w.text(e.message)
        case let .bye(reason):
            w.text(reason)
        }
        let length = UInt32(w.bytes.count - headerSize)
        for i in 0..<4 { w.bytes[16 + i] = UInt8(truncatingIfNeeded: length >> (8 * UInt32(i))) }
        return w.bytes
    }

    // MARK: decoding

    /// Decodes one frame; checkpoint bytes are verified against their SHA-256.
    public static func decode(_ frame: [UInt8], maximumFrameSize: Int = defaultMaximumFrameSize) throws(WireError) -> Envelope {
        guard frame.count <= maximumFrameSize else { throw .tooLarge(frame.count, limit: maximumFrameSize) }
        guard frame.count >= headerSize else { throw .tooShort(frame.count) }
        guard Array(frame[0..<4]) == magic else { throw .badMagic }
        var r = Reader(frame, offset: 4)
        let version = try r.u16("version")
        guard version == protocolVersion else { throw .unsupportedVersion(version) }
        let rawType = try r.u8("type")
        guard let type = MessageType(rawValue: rawType) else { throw .unknownType(rawType) }
        _ = try r.u8("flags")
        let requestId = try r.u64("requestId")
        let length = Int(try r.u32("length"))
        guard length == frame.count - headerSize else { throw .lengthMismatch(declared: length, actual: frame.count - headerSize) }
        let message: WireMessage
        switch type {
        case .hello:
            message = .hello(Hello(workerId: try r.text("workerId"), pbaVersion: try r.text("pbaVersion"),
                                   protocolVersion: try r.u16("protocolVersion"), threads: try r.u32("threads"),
                                   hostname: try r.text("hostname"),
                                   identity: WorkerIdentity(kind: try r.text("workerKind"), model: try r.text("workerModel"))))
        case .welcome:
            message = .welcome(Welcome(runId: try r.text("runId"), job: try r.text("job"),
                                       heartbeatMilliseconds: try r.u32("heartbeatMilliseconds")))
        case .ready:
            message = .ready(Ready(dataFingerprint: try r.text("dataFingerprint")))
        case .request:
            message = .request
        case .heartbeat:
            message = .heartbeat
        case .assign:
            let id = try r.u64("assignmentId")
            let kindRaw = try r.u8("kind")
            guard let kind = JobKind(rawValue: kindRaw) else { throw .invalidValue(field: "kind", value: "\(kindRaw)") }
            let member = try r.u32("member"), e0 = try r.u32("epochStart"), e1 = try r.u32("epochEnd")
            guard e0 < e1 else { throw .invalidValue(field: "epochs", value: "\(e0)..<\(e1)") }
            let seed = try r.u64("trainingSeed")
            let augmentation: AugmentationSpec
            func policy() throws(WireError) -> (operations: [String], values: [Int]) {
                let n = Int(try r.u32("operations.count"))
                guard n <= 1024 else { throw .invalidValue(field: "operations.count", value: "\(n)") }
                var ops: [String] = []
                for _ in 0..<n { ops.append(try r.text("operations")) }
                let m = Int(try r.u32("policy.count"))
                guard m == 4 * n else { throw .invalidValue(field: "policy.count", value: "\(m) for \(n) operations") }
                var values: [Int] = []
                for _ in 0..<m { values.append(Int(try r.u8("policy"))) }
                return (ops, values)
            }
            switch try r.u8("augmentation") {
            case 1:
                let p = try policy()
                augmentation = .policy(operations: p.operations, values: p.values)
            case 2: augmentation = .schedule(json: try r.text("schedule"))
            case 3: augmentation = .baseline(name: try r.text("baseline"))
            case 4:
                let foundation = try r.text("foundation")
                let p = try policy()
                augmentation = .policyOnFoundation(foundation: foundation, operations: p.operations, values: p.values)
            case let t: throw .invalidValue(field: "augmentation", value: "tag \(t)")
            }
            let checkpoint: CheckpointPayload
            switch try r.u8("checkpoint") {
            case 1: checkpoint = .initial(weightSeed: try r.u64("weightSeed"))
            case 2:
                let sha = try r.text("checkpoint.sha256")
                let bytes = try r.bytes("checkpoint")
                guard SHA256.hex(SHA256.hash(bytes)) == sha else { throw .checksumMismatch(field: "checkpoint") }
                checkpoint = .bytes(bytes, sha256: sha)
            case let t: throw .invalidValue(field: "checkpoint", value: "tag \(t)")
            }
            message = .assign(Assign(assignmentId: id, kind: kind, member: member, epochStart: e0, epochEnd: e1,
                                     trainingSeed: seed, augmentation: augmentation, checkpoint: checkpoint))
        case .noWork:
            message = .noWork(retryAfterMilliseconds: try r.u32("retryAfterMilliseconds"))
        case .result:
            let id = try r.u64("assignmentId")
            let acc = try r.f64("accuracy"), loss = try r.f64("trainLoss"), secs = try r.f64("seconds")
            let sha = try r.text("sha256")
            let bytes = try r.bytes("checkpoint")
            guard SHA256.hex(SHA256.hash(bytes)) == sha else { throw .checksumMismatch(field: "checkpoint") }
            let count = try r.u64("predictions")
            guard count <= UInt64(r.remaining / 4) else { throw .invalidValue(field: "predictions", value: "count \(count) exceeds the frame") }
            var predictions = [Int32]()
            predictions.reserveCapacity(Int(count))
            for _ in 0..<Int(count) { predictions.append(Int32(bitPattern: try r.u32("predictions"))) }
            message = .result(ResultMessage(assignmentId: id, accuracy: acc, trainLoss: loss, seconds: secs, checkpoint: bytes, sha256: sha,
                                            predictions: predictions))
        case .error:
            let code = ErrorMessage.Code(rawValue: try r.u16("code")) ?? .unknown
            message = .error(ErrorMessage(code: code, message: try r.text("message")))
        case .bye:
            message = .bye(reason: try r.text("reason"))
        }
        guard r.remaining == 0 else { throw .trailingBytes(r.remaining) }
        return Envelope(requestId: requestId, message: message)
    }

    // MARK: other protocol versions

    /// The protocol version of a frame that carries the pba magic and a version other than
    /// this one; nil for anything else (a frame of this version, or not a pba frame at all).
    public static func foreignVersion(_ frame: [UInt8]) -> UInt16? {
        guard frame.count >= headerSize, Array(frame[0..<4]) == magic else { return nil }
        let version = UInt16(frame[4]) | UInt16(frame[5]) << 8
        return version == protocolVersion ? nil : version
    }

    /// An ERROR frame in another protocol version's framing (the header and ERROR's payload
    /// are the same in every version), so a peer of that version can read why it was refused.
    public static func encodeRefusal(version: UInt16, requestId: UInt64, code: ErrorMessage.Code, message: String) -> [UInt8] {
        var frame = encode(Envelope(requestId: requestId, message: .error(ErrorMessage(code: code, message: message))))
        frame[4] = UInt8(truncatingIfNeeded: version)
        frame[5] = UInt8(truncatingIfNeeded: version >> 8)
        return frame
    }

    /// Reads an ERROR frame of another protocol version: (its version, the error); nil when the
    /// frame is of this version, not an ERROR, or malformed.
    public static func decodeForeignError(_ frame: [UInt8]) -> (version: UInt16, error: ErrorMessage)? {
        guard let version = foreignVersion(frame), frame[6] == MessageType.error.rawValue else { return nil }
        var patched = frame
        patched[4] = UInt8(truncatingIfNeeded: protocolVersion)
        patched[5] = UInt8(truncatingIfNeeded: protocolVersion >> 8)
        guard let envelope = try? decode(patched), case let .error(e) = envelope.message else { return nil }
        return (version, e)
    }

    // MARK: primitives

    static func appendLE<T: FixedWidthInteger>(_ a: inout [UInt8], _ v: T) {
        withUnsafeBytes(of: v.littleEndian) { a.append(contentsOf: $0) }
    }

    struct Writer {
        var bytes: [UInt8] = []
        mutating func u8(_ v: UInt8) { bytes.append(v) }
        mutating func u16(_ v: UInt16) { WireCodec.appendLE(&bytes, v) }
        mutating func u32(_ v: UInt32) { WireCodec.appendLE(&bytes, v) }
        mutating func u64(_ v: UInt64) { WireCodec.appendLE(&bytes, v) }
        mutating func f64(_ v: Double) { WireCodec.appendLE(&bytes, v.bitPattern) }
        mutating func text(_ s: String) { let u = Array(s.utf8); u32(UInt32(u.count)); bytes += u }
        mutating func bytes(_ b: [UInt8]) { u64(UInt64(b.count)); bytes += b }
    }

    struct Reader {
        let data: [UInt8]
        var offset: Int
        init(_ data: [UInt8], offset: Int) { self.data = data; self.offset = offset }
        var remaining: Int { data.count - offset }

        mutating func take(_ n: Int, _ field: String) throws(WireError) -> ArraySlice<UInt8> {
            guard n >= 0, n <= remaining else { throw .truncated(field: field) }
            defer { offset += n }
            return data[offset..<(offset + n)]
        }
        mutating func le<T: FixedWidthInteger>(_ field: String, _: T.Type) throws(WireError) -> T {
            let s = try take(MemoryLayout<T>.size, field)
            var v: T = 0
            for (i, b) in s.enumerated() { v |= T(b) << (8 * i) }
            return v
        }
        mutating func u8(_ f: String) throws(WireError) -> UInt8 { try le(f, UInt8.self) }
        mutating func u16(_ f: String) throws(WireError) -> UInt16 { try le(f, UInt16.self) }
        mutating func u32(_ f: String) throws(WireError) -> UInt32 { try le(f, UInt32.self) }
        mutating func u64(_ f: String) throws(WireError) -> UInt64 { try le(f, UInt64.self) }
        mutating func f64(_ f: String) throws(WireError) -> Double { Double(bitPattern: try u64(f)) }
        mutating func text(_ f: String) throws(WireError) -> String {
            let n = Int(try u32(f + ".length"))
            guard n <= WireCodec.maximumTextLength else { throw .invalidValue(field: f + ".length", value: "\(n)") }
            let s = try take(n, f)
            guard let text = String(validating: s, as: UTF8.self) else { throw .invalidText(field: f) }
            return text
        }
        mutating func bytes(_ f: String) throws(WireError) -> [UInt8] {
            let n = try u64(f + ".length")
            guard n <= UInt64(remaining) else { throw .truncated(field: f) }
            return Array(try take(Int(n), f))
        }
    }
}
