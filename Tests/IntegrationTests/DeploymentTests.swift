import Foundation
import XCTest

/// The systemd units in deploy/ pass `systemd-analyze verify` with the real binary path.
final class DeploymentTests: XCTestCase {
    var deployDirectory: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("deploy")
    }

    func verify(_ units: [(name: String, text: String)]) throws -> (Int32, String) {
        let dir = try PBAProcess.temporaryDirectory(self)
        var paths: [String] = []
        for u in units {
            let path = dir + "/" + u.name
            try u.text.write(toFile: path, atomically: true, encoding: .utf8)
            paths.append(path)
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/systemd-analyze")
        p.arguments = ["verify"] + paths
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, out)
    }

    func testUnitsVerifyWithTheInstalledBinaryPath() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze") else { throw XCTSkip("systemd-analyze not installed") }
        let binary = PBAProcess.executable.path
        let coordinator = try String(contentsOf: deployDirectory.appendingPathComponent("pba-coordinator.service"), encoding: .utf8)
        let worker = try String(contentsOf: deployDirectory.appendingPathComponent("pba-worker@.service"), encoding: .utf8)
        XCTAssertTrue(coordinator.contains("ExecStart=/usr/local/bin/pba coordinator"))
        XCTAssertTrue(worker.contains("ExecStart=/usr/local/bin/pba worker"))
        for required in ["NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "Restart=on-failure", "User=pba"] {
            XCTAssertTrue(coordinator.contains(required), "coordinator unit lacks \(required)")
            XCTAssertTrue(worker.contains(required), "worker unit lacks \(required)")
        }
        XCTAssertTrue(coordinator.contains("StateDirectory=pba"))
        let units = [("pba-coordinator.service", coordinator.replacingOccurrences(of: "/usr/local/bin/pba", with: binary)),
                     ("pba-worker@1.service", worker.replacingOccurrences(of: "/usr/local/bin/pba", with: binary))]
        let (status, output) = try verify(units)
        XCTAssertEqual(status, 0, output)
        // The check has teeth: a unit whose binary does not exist fails it.
        let (badStatus, _) = try verify([("pba-coordinator.service", coordinator.replacingOccurrences(of: "/usr/local/bin/pba", with: "/nonexistent/pba"))])
        XCTAssertNotEqual(badStatus, 0)
    }
}
