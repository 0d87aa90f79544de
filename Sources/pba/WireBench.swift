import ArgumentParser
import Foundation
import Engine
import Tensor
import Wire

struct WireBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wire",
        abstract: "Checkpoint round trip over TCP loopback vs memcpy and a raw ZeroMQ send of the same bytes.")

    @Option(help: "Checkpoint size in MB (WRN-40-2 training state ≈ 18 MB).")
    var checkpointMB: Int = 18
    @Option(help: "Round trips per measurement (median reported).")
    var repeats: Int = 15

    func run() async throws {
        guard checkpointMB >= 1, repeats >= 1 else { throw ValidationError("--checkpoint-mb and --repeats must be ≥ 1") }
        let n = checkpointMB << 20
        var bytes = [UInt8](repeating: 0, count: n)
        var g = SeededGenerator(seed: 5)
        for i in stride(from: 0, to: n, by: 8) { bytes[i] = UInt8(truncatingIfNeeded: g.next()) }
        let clock = ContinuousClock()
        let context = ZMQContext()
        let router = try ZMQSocket(context: context, kind: .router)
        try router.bind("tcp://127.0.0.1:*")
        let dealer = try ZMQSocket(context: context, kind: .dealer, identity: "bench")
        try dealer.connect(router.lastEndpoint)
        try dealer.send([[0]])
        _ = try router.receive(timeoutMilliseconds: 5000)

        var copyTimes: [Double] = [], rawTimes: [Double] = [], pbaTimes: [Double] = [], hashTimes: [Double] = []
        var destination = [UInt8](repeating: 0, count: n)
        for _ in 0..<repeats {
            var t = clock.now
            destination.withUnsafeMutableBytes { d in bytes.withUnsafeBytes { s in d.copyMemory(from: s) } }
            copyTimes.append(seconds(clock.now - t))

            t = clock.now
            try dealer.send([bytes])
            guard let raw = try router.receive(timeoutMilliseconds: 10_000), raw.last?.count == n else { throw ValidationError("raw transfer failed") }
            rawTimes.append(seconds(clock.now - t))

            t = clock.now
            let sha = SHA256.hex(SHA256.hash(bytes))
            hashTimes.append(seconds(clock.now - t))

            // A RESULT as a worker sends it: encode, send, receive, decode (which verifies the SHA-256).
            let message = WireMessage.result(ResultMessage(assignmentId: 1, accuracy: 0.5, trainLoss: 1, seconds: 1, checkpoint: bytes, sha256: sha))
            t = clock.now
            try dealer.send([WireCodec.encode(Envelope(requestId: 1, message: message))])
            guard let parts = try router.receive(timeoutMilliseconds: 10_000), let frame = parts.last else { throw ValidationError("pba transfer failed") }
            let decoded = try WireCodec.decode(frame)
            guard case let .result(r) = decoded.message, r.checkpoint.count == n else { throw ValidationError("pba transfer decoded wrong") }
            pbaTimes.append(seconds(clock.now - t))
        }
        let mb = Double(n) / 1e6
        let (copy, raw, hash, full) = (median(copyTimes), median(rawTimes), median(hashTimes), median(pbaTimes))
        let withoutHash = max(full - hash, 1e-9)
        print("pba bench wire — \(checkpointMB) MiB checkpoint over tcp://127.0.0.1, median of \(repeats)")
        print(String(format: "  memcpy                 %7.0f MB/s", mb / copy))
        print(String(format: "  raw ZeroMQ send+recv   %7.0f MB/s", mb / raw))
        print(String(format: "  pba RESULT round trip  %7.0f MB/s with checksum, %7.0f MB/s without (target ≥ 1000)", mb / full, mb / withoutHash))
        print(String(format: "  ratio to raw ZeroMQ    %.2f× excluding hashing (target ≥ 0.8×); %.2f× of memcpy speed", raw / withoutHash, copy / withoutHash))
        print(String(format: "  SHA-256 (verify)       %7.0f MB/s, %.1f ms per checkpoint", mb / hash, hash * 1000))
    }
}
