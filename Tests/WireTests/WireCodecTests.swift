import XCTest
import Engine
import Tensor
@testable import Wire

final class WireCodecTests: XCTestCase {
    static func samples() -> [WireMessage] {
        let ckpt: [UInt8] = (0..<1000).map { UInt8($0 % 251) }
        let sha = SHA256.hex(SHA256.hash(ckpt))
        return [
            .hello(Hello(workerId: "w-1", pbaVersion: "0.1.0", protocolVersion: 1, threads: 2, hostname: "box")),
            .welcome(Welcome(runId: "run-é", job: "{\"a\":1}", heartbeatMilliseconds: 1000)),
            .ready(Ready(dataFingerprint: "abc")),
            .request,
            .assign(Assign(assignmentId: 7, kind: .searchInterval, member: 3, epochStart: 3, epochEnd: 6, trainingSeed: .max,
                           augmentation: .policy(operations: ["Rotate"], values: [1, 2, 10, 9]), checkpoint: .initial(weightSeed: 42))),
            .assign(Assign(assignmentId: 8, kind: .evaluationCell, member: 0, epochStart: 0, epochEnd: 1, trainingSeed: 1,
                           augmentation: .baseline(name: "cutout"), checkpoint: .bytes(ckpt, sha256: sha))),
            .assign(Assign(assignmentId: 9, kind: .searchInterval, member: 0, epochStart: 0, epochEnd: 1, trainingSeed: 1,
                           augmentation: .schedule(json: "{}"), checkpoint: .initial(weightSeed: 0))),
            .assign(Assign(assignmentId: 10, kind: .searchInterval, member: 2, epochStart: 0, epochEnd: 3, trainingSeed: 5,
                           augmentation: .policyOnFoundation(foundation: "randaugment(2,9)", operations: ["Rotate", "Invert"],
                                                             values: [1, 2, 10, 9, 0, 0, 3, 4]),
                           checkpoint: .initial(weightSeed: 6))),
            .noWork(retryAfterMilliseconds: 250),
            .result(ResultMessage(assignmentId: 7, accuracy: 0.75, trainLoss: 1.25, seconds: 3.5, checkpoint: ckpt, sha256: sha)),
            .result(ResultMessage(assignmentId: 8, accuracy: 0.5, trainLoss: 2, seconds: 1, checkpoint: [], sha256: SHA256.hex(SHA256.hash([UInt8]())),
                                  predictions: [0, 9, -1, Int32.max, 3])),
            .heartbeat,
            .error(ErrorMessage(code: .dataMismatch, message: "fingerprint differs")),
            .bye(reason: "run finished"),
        ]
    }

    func testEveryMessageRoundTrips() throws {
        for (i, m) in Self.samples().enumerated() {
            let e = Envelope(requestId: UInt64(i) * 1_000_003, message: m)
            XCTAssertEqual(try WireCodec.decode(WireCodec.encode(e)), e)
        }
    }

    func testMalformedFramesAreRejectedWithReasons() {
        let good = WireCodec.encode(Envelope(requestId: 1, message: .bye(reason: "x")))
        func reason(_ bytes: [UInt8]) -> String {
            do { _ = try WireCodec.decode(bytes); return "decoded" } catch { return "\(error)" }
        }
        XCTAssertTrue(reason([1, 2, 3]).contains("shorter than"))
        var bad = good; bad[0] = 0
        XCTAssertTrue(reason(bad).contains("magic"))
        bad = good; bad[4] = 9
        XCTAssertTrue(reason(bad).contains("protocol version 9"))
        bad = good; bad[6] = 200
        XCTAssertTrue(reason(bad).contains("unknown message type 200"))
        XCTAssertTrue(reason(Array(good.dropLast())).contains("declares"))
        XCTAssertTrue(self.reason(good, limit: 10).contains("exceeds"))
        // A checkpoint whose bytes do not match the SHA-256 sent with them.
        let ckpt: [UInt8] = [1, 2, 3]
        var frame = WireCodec.encode(Envelope(requestId: 1, message: .result(ResultMessage(
            assignmentId: 1, accuracy: 0, trainLoss: 0, seconds: 0, checkpoint: ckpt, sha256: SHA256.hex(SHA256.hash(ckpt))))))
        frame[frame.count - 9] ^= 0xFF  // the last checkpoint byte (8 bytes of prediction count follow)
        XCTAssertTrue(reason(frame).contains("SHA-256"), reason(frame))
    }

    func reason(_ bytes: [UInt8], limit: Int) -> String {
        do { _ = try WireCodec.decode(bytes, maximumFrameSize: limit); return "decoded" } catch { return "\(error)" }
    }

    /// 10 000 random, truncated and mutated frames: each decodes or throws; none traps.
    func testFuzzedFramesNeverTrap() {
        var g = SeededGenerator(seed: 2026)
        let valid = Self.samples().enumerated().map { WireCodec.encode(Envelope(requestId: UInt64($0.offset), message: $0.element)) }
        var rejected = 0
        for i in 0..<10_000 {
            var bytes: [UInt8]
            switch i % 4 {
            case 0: bytes = (0..<g.nextInt(below: 64)).map { _ in UInt8(truncatingIfNeeded: g.next()) }
            case 1: let v = valid[g.nextInt(below: valid.count)]; bytes = Array(v.prefix(g.nextInt(below: v.count)))
            case 2:
                bytes = valid[g.nextInt(below: valid.count)]
                for _ in 0..<(1 + g.nextInt(below: 4)) { bytes[g.nextInt(below: bytes.count)] = UInt8(truncatingIfNeeded: g.next()) }
            default:
                // A valid header over a random payload, so the payload parsers are exercised.
                var v = valid[g.nextInt(below: valid.count)]
                let payload = (0..<g.nextInt(below: 80)).map { _ in UInt8(truncatingIfNeeded: g.next()) }
                v = Array(v.prefix(WireCodec.headerSize))
                let n = UInt32(payload.count)
                v[16] = UInt8(n & 0xFF); v[17] = UInt8((n >> 8) & 0xFF); v[18] = UInt8((n >> 16) & 0xFF); v[19] = UInt8(n >> 24)
                bytes = v + payload
            }
            if (try? WireCodec.decode(bytes)) == nil { rejected += 1 }
        }
        XCTAssertGreaterThan(rejected, 9_000)
    }
}

final class ZMQTransportTests: XCTestCase {
    func testRouterDealerExchangeOverLoopbackTCP() throws {
        let context = ZMQContext()
        let router = try ZMQSocket(context: context, kind: .router)
        try router.bind("tcp://127.0.0.1:*")
        let dealer = try ZMQSocket(context: context, kind: .dealer, identity: "worker-a")
        try dealer.connect(router.lastEndpoint)
        let hello = WireCodec.encode(Envelope(requestId: 1, message: .request))
        try dealer.send([hello])
        let received = try XCTUnwrap(router.receive(timeoutMilliseconds: 5000))
        XCTAssertEqual(received.count, 2)
        XCTAssertEqual(String(decoding: received[0], as: UTF8.self), "worker-a")
        XCTAssertEqual(try WireCodec.decode(received[1]).message, .request)
        let big = [UInt8](repeating: 7, count: 20 << 20)
        try router.send([received[0], big])
        let back = try XCTUnwrap(dealer.receive(timeoutMilliseconds: 5000))
        XCTAssertEqual(back, [big])
        XCTAssertNil(try dealer.receive(timeoutMilliseconds: 10))
    }
}

final class WireVersionTests: XCTestCase {
    func testHelloCarriesTheWorkerIdentity() throws {
        let hello = Hello(workerId: "g", pbaVersion: PBARelease.version, protocolVersion: WireCodec.protocolVersion, threads: 8,
                          hostname: "gpu-box", identity: WorkerIdentity(kind: "pytorch", model: "resnet18"))
        let decoded = try WireCodec.decode(WireCodec.encode(Envelope(requestId: 3, message: .hello(hello))))
        guard case let .hello(h) = decoded.message else { return XCTFail("not a hello: \(decoded)") }
        XCTAssertEqual(h.identity, WorkerIdentity(kind: "pytorch", model: "resnet18"))
        XCTAssertNotEqual(h.identity, .swift)
    }

    /// A peer of another protocol version gets an ERROR in its own framing, which this codec
    /// (and that peer's) reads back; frames of this version are not foreign.
    func testRefusalInAForeignVersionsFraming() throws {
        var old = WireCodec.encode(Envelope(requestId: 1, message: .hello(Hello(workerId: "w", pbaVersion: "0.1.0", protocolVersion: 2,
                                                                                threads: 1, hostname: "h"))))
        XCTAssertNil(WireCodec.foreignVersion(old))
        old[4] = 2
        XCTAssertEqual(WireCodec.foreignVersion(old), 2)
        XCTAssertNil(WireCodec.foreignVersion(Array("not a pba frame at all, long enough".utf8)))
        let refusal = WireCodec.encodeRefusal(version: 2, requestId: 9, code: .versionMismatch, message: "speaks protocol 3")
        XCTAssertEqual(Array(refusal[4..<6]), [2, 0])
        XCTAssertEqual(refusal[6], MessageType.error.rawValue)
        let read = try XCTUnwrap(WireCodec.decodeForeignError(refusal))
        XCTAssertEqual(read.version, 2)
        XCTAssertEqual(read.error, ErrorMessage(code: .versionMismatch, message: "speaks protocol 3"))
        XCTAssertNil(WireCodec.decodeForeignError(old), "a foreign HELLO is not an error")
        XCTAssertThrowsError(try WireCodec.decode(refusal))
    }
}
