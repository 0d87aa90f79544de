import Foundation
import XCTest
import Store

/// CURVE on: a worker whose key is not allowed gets nothing; an allowed one is served.
final class CurveTests: XCTestCase {
    func testUnknownKeyIsRefusedAndKnownKeyIsServed() throws {
        guard FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"),
              FileManager.default.fileExists(atPath: PBAProcess.executable.path) else { throw XCTSkip("needs Fashion-MNIST and the pba binary") }
        let dir = try PBAProcess.temporaryDirectory(self)
        for name in ["coordinator", "allowed", "stranger"] {
            XCTAssertEqual(PBAProcess.wait(try PBAProcess.start(["keygen", dir + "/" + name]), seconds: 10, "keygen"), 0)
        }
        try FileManager.default.createDirectory(atPath: dir + "/allowed-keys", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: dir + "/allowed.pub", toPath: dir + "/allowed-keys/allowed.pub")
        let endpoint = "tcp://127.0.0.1:\(PBAProcess.freePort())"
        let db = dir + "/pba.sqlite"
        let coordinator = try PBAProcess.start(["coordinator", "--db", db, "--bind", endpoint, "--curve-key", dir + "/coordinator.key",
                                                "--allow", dir + "/allowed-keys", "--population", "2", "--epochs", "2", "--interval", "1",
                                                "--train-size", "128", "--validation-size", "64"], log: dir + "/coordinator.log")
        defer { if coordinator.isRunning { coordinator.terminate(); coordinator.waitUntilExit() } }
        let stranger = try PBAProcess.start(["worker", "--connect", endpoint, "--id", "stranger", "--curve-key", dir + "/stranger.key",
                                             "--server-key", dir + "/coordinator.pub"], log: dir + "/stranger.log")
        let plain = try PBAProcess.start(["worker", "--connect", endpoint, "--id", "plaintext"], log: dir + "/plain.log")
        sleep(3)
        // Neither got any work.
        let store = try Store(path: db)
        let run = try XCTUnwrap(store.runs().first)
        XCTAssertTrue(try store.intervals(run: run.id).isEmpty, "an unauthenticated worker was served")
        XCTAssertTrue(stranger.isRunning && plain.isRunning)
        stranger.terminate(); plain.terminate()
        stranger.waitUntilExit(); plain.waitUntilExit()
        let log = (try? String(contentsOfFile: dir + "/coordinator.log", encoding: .utf8)) ?? ""
        XCTAssertTrue(log.contains("not in the allow-list"), log)
        let allowed = try PBAProcess.start(["worker", "--connect", endpoint, "--id", "allowed", "--curve-key", dir + "/allowed.key",
                                            "--server-key", dir + "/coordinator.pub"], log: dir + "/allowed.log")
        XCTAssertEqual(PBAProcess.wait(coordinator, seconds: 120, "coordinator"), 0, (try? String(contentsOfFile: dir + "/coordinator.log", encoding: .utf8)) ?? "")
        PBAProcess.wait(allowed, seconds: 20, "allowed worker")
        XCTAssertEqual(try store.run(id: run.id).status, .finished)
        XCTAssertTrue(try store.intervals(run: run.id).allSatisfy { $0.worker == "allowed" })
    }

    func testNonLoopbackBindWithoutCurveIsRefused() throws {
        guard FileManager.default.fileExists(atPath: PBAProcess.executable.path) else { throw XCTSkip("needs the pba binary") }
        let dir = try PBAProcess.temporaryDirectory(self)
        let p = try PBAProcess.start(["coordinator", "--db", dir + "/pba.sqlite", "--bind", "tcp://0.0.0.0:5999"], log: dir + "/log")
        XCTAssertNotEqual(PBAProcess.wait(p, seconds: 10, "coordinator"), 0)
        let log = (try? String(contentsOfFile: dir + "/log", encoding: .utf8)) ?? ""
        XCTAssertTrue(log.contains("--curve-key"), log)
    }
}
