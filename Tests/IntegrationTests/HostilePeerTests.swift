import Foundation
import XCTest
import Engine
import Tensor
import Wire

/// A misbehaving peer never crashes the coordinator: 10 000 random, truncated, mutated and
/// oversized frames, then a real worker still gets the search done.
final class HostilePeerTests: XCTestCase {
    func testCoordinatorSurvivesTenThousandBadFramesAndKeepsServing() throws {
        guard FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"),
              FileManager.default.fileExists(atPath: PBAProcess.executable.path) else { throw XCTSkip("needs Fashion-MNIST and the pba binary") }
        let dir = try PBAProcess.temporaryDirectory(self)
        let endpoint = "tcp://127.0.0.1:\(PBAProcess.freePort())"
        let coordinator = try PBAProcess.start(["coordinator", "--db", dir + "/pba.sqlite", "--bind", endpoint, "--max-frame-mb", "1",
                                                "--population", "2", "--epochs", "2", "--interval", "1", "--train-size", "128",
                                                "--validation-size", "64", "--log-level", "warning"], log: dir + "/coordinator.log")
        defer { if coordinator.isRunning { coordinator.terminate(); coordinator.waitUntilExit() } }
        let context = ZMQContext()
        var g = SeededGenerator(seed: 99)
        let valid = [
            WireCodec.encode(Envelope(requestId: 1, message: .request)),
            WireCodec.encode(Envelope(requestId: 2, message: .hello(Hello(workerId: "x", pbaVersion: "9.9", protocolVersion: 1, threads: 1, hostname: "h")))),
            WireCodec.encode(Envelope(requestId: 3, message: .result(ResultMessage(assignmentId: 77, accuracy: 1, trainLoss: 0, seconds: 0,
                                                                                    checkpoint: [1, 2, 3], sha256: SHA256.hex(SHA256.hash([1, 2, 3])))))),
        ]
        var sockets: [ZMQSocket] = []
        for s in 0..<4 {
            let socket = try ZMQSocket(context: context, kind: .dealer, identity: "hostile-\(s)")
            try socket.connect(endpoint)
            sockets.append(socket)
        }
        for i in 0..<10_000 {
            let socket = sockets[i % sockets.count]
            var frame: [UInt8]
            switch i % 5 {
            case 0: frame = (0..<g.nextInt(below: 100)).map { _ in UInt8(truncatingIfNeeded: g.next()) }
            case 1: let v = valid[g.nextInt(below: valid.count)]; frame = Array(v.prefix(g.nextInt(below: v.count)))
            case 2:
                frame = valid[g.nextInt(below: valid.count)]
                frame[g.nextInt(below: frame.count)] ^= UInt8(1 + g.nextInt(below: 255))
            case 3: frame = valid[g.nextInt(below: valid.count)]  // well-formed but out of protocol order
            default: frame = [0x50, 0x42, 0x41, 0x57] + (0..<16).map { _ in UInt8(truncatingIfNeeded: g.next()) }
            }
            if i % 2500 == 0 { frame = [UInt8](repeating: 0xAB, count: 2 << 20) }  // over --max-frame-mb
            try socket.send(i % 7 == 0 ? [frame, [1, 2]] : [frame])  // some with an extra part
            if i % 100 == 0 { _ = try socket.receive(timeoutMilliseconds: 0) }
        }
        usleep(500_000)
        XCTAssertTrue(coordinator.isRunning, "coordinator died under hostile frames")
        let worker = try PBAProcess.start(["worker", "--connect", endpoint, "--threads", "1", "--id", "honest"], log: dir + "/worker.log")
        XCTAssertEqual(PBAProcess.wait(coordinator, seconds: 120, "coordinator"), 0, (try? String(contentsOfFile: dir + "/coordinator.log", encoding: .utf8)) ?? "")
        PBAProcess.wait(worker, seconds: 20, "worker")
        let log = (try? String(contentsOfFile: dir + "/coordinator.log", encoding: .utf8)) ?? ""
        XCTAssertTrue(log.contains("rejected frame"), "no rejection was logged")
    }
}
