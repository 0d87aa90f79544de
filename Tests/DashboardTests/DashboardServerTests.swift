import Foundation
import XCTest
import Logging
import Search
import Store
@testable import Dashboard
@testable import DashboardServer

/// Access rules, `/metrics`, and the server's answer to requests (without a socket).
final class DashboardServerTests: XCTestCase {
    func server(_ path: String, host: String = "127.0.0.1", token: String? = nil) throws -> DashboardServer {
        try DashboardServer(store: try Store(readOnlyPath: path), databaseName: path,
                            settings: .init(host: host, port: 0, token: token), logger: Logger(label: "test"))
    }

    /// `name{run="ID"} VALUE` from Prometheus text.
    func value(_ text: String, _ name: String, run: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix("\(name){run=\"\(run)\"} ") {
            return Double(line.split(separator: " ").last!)
        }
        return nil
    }

    func testMetricsCountWhatTheStoreHoldsAndOnlyMoveForward() throws {
        let dir = try temporaryDirectory(self)
        let store = try Store(path: dir + "/pba.sqlite")
        var run = try RecordedRun(store: store, runId: "r", configuration: RecordedRun.configuration(seed: 5))
        try run.drive(results: 6)
        let s = try server(dir + "/pba.sqlite")
        let first = s.respond(DashboardRequest(target: "/metrics"))
        XCTAssertEqual(first.status, 200)
        XCTAssertTrue(first.contentType.hasPrefix("text/plain; version=0.0.4"))
        XCTAssertEqual(value(first.text, "pba_intervals_finished_total", run: "r"), 6)
        XCTAssertEqual(value(first.text, "pba_result_latency_seconds_count", run: "r"), 6)
        XCTAssertEqual(value(first.text, "pba_intervals_in_flight", run: "r"), Double(run.inFlight.count))
        let best = run.search.members.compactMap(\.latestAccuracy).max()!
        XCTAssertEqual(try XCTUnwrap(value(first.text, "pba_best_validation_accuracy", run: "r")), best, accuracy: 1e-9)
        // Every checkpoint here is 1000 bytes; one came back with each result.
        XCTAssertEqual(value(first.text, "pba_checkpoint_bytes_received_total", run: "r"), 6000)
        XCTAssertTrue(first.text.contains("pba_workers_active 2"), first.text)
        XCTAssertTrue(first.text.contains("pba_workers_connected 0"), "no sessions recorded: \(first.text)")

        try run.drive(results: 5)
        let second = s.respond(DashboardRequest(target: "/metrics")).text
        XCTAssertEqual(value(second, "pba_intervals_finished_total", run: "r"), 11)
        // Latencies are recorded once per interval, not again at every scrape.
        XCTAssertEqual(value(second, "pba_result_latency_seconds_count", run: "r"), 11)
        XCTAssertEqual(value(second, "pba_checkpoint_bytes_received_total", run: "r"), 11000)
        XCTAssertEqual(s.respond(DashboardRequest(method: "POST", target: "/metrics")).status, 405)
    }

    func testATokenIsRequiredOffLoopbackAndCheckedOnEveryRequest() throws {
        let dir = try temporaryDirectory(self)
        _ = try RecordedRun.make(at: dir + "/pba.sqlite")
        XCTAssertThrowsError(try server(dir + "/pba.sqlite", host: "0.0.0.0")) { error in
            XCTAssertEqual(error as? DashboardAccessError, .tokenRequired("0.0.0.0:0"))
        }
        let token = "0123456789abcdef-secret"
        let s = try server(dir + "/pba.sqlite", host: "0.0.0.0", token: token)
        XCTAssertEqual(s.respond(DashboardRequest(target: "/")).status, 401)
        XCTAssertEqual(s.respond(DashboardRequest(target: "/metrics")).status, 401)
        XCTAssertEqual(s.respond(DashboardRequest(target: "/api/runs", authorization: "Bearer wrong")).status, 401)
        XCTAssertEqual(s.respond(DashboardRequest(target: "/api/runs", authorization: "Bearer " + token + "x")).status, 401)
        XCTAssertEqual(s.respond(DashboardRequest(target: "/api/runs", authorization: "Bearer " + token)).status, 200)
        XCTAssertEqual(s.respond(DashboardRequest(target: "/metrics", authorization: "Bearer " + token)).status, 200)
        XCTAssertEqual(s.respond(DashboardRequest(target: "/?token=nope")).status, 401)
        let viaQuery = s.respond(DashboardRequest(target: "/?token=" + token))
        XCTAssertEqual(viaQuery.status, 200)
        let cookie = try XCTUnwrap(viaQuery.headers.first { $0.0 == "Set-Cookie" }?.1)
        XCTAssertTrue(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), cookie)
        let pair = String(cookie.split(separator: ";")[0])
        XCTAssertEqual(s.respond(DashboardRequest(target: "/runs/run-live", cookie: "other=1; " + pair)).status, 200)
        XCTAssertEqual(s.respond(DashboardRequest(target: "/runs/run-live", cookie: "\(DashboardAccess.cookieName)=bad")).status, 401)
        // Loopback without a token is open.
        XCTAssertEqual(try server(dir + "/pba.sqlite").respond(DashboardRequest(target: "/")).status, 200)
    }

    func testConstantTimeComparisonIsEquality() {
        let secret = Array("abcdefghijklmnop".utf8)
        XCTAssertTrue(DashboardAccess.constantTimeEquals(secret, secret))
        XCTAssertFalse(DashboardAccess.constantTimeEquals([], secret))
        XCTAssertFalse(DashboardAccess.constantTimeEquals(Array(secret.dropLast()), secret))
        XCTAssertFalse(DashboardAccess.constantTimeEquals(secret + [0], secret))
        for i in secret.indices {
            var other = secret
            other[i] ^= 1
            XCTAssertFalse(DashboardAccess.constantTimeEquals(other, secret), "differs at \(i)")
        }
        // Zero bytes beyond the secret must not compare equal (the ~b padding).
        XCTAssertFalse(DashboardAccess.constantTimeEquals(secret + [UInt8](repeating: 0, count: 3), secret))
    }

    func testBindAddressesAndTokenFiles() throws {
        XCTAssertEqual(try DashboardAccess.parseBind("127.0.0.1:8080").port, 8080)
        XCTAssertEqual(try DashboardAccess.parseBind("[::1]:9").host, "::1")
        for bad in ["8080", "host:", ":80", "host:99999", "host:x"] {
            XCTAssertThrowsError(try DashboardAccess.parseBind(bad), bad)
        }
        XCTAssertTrue(DashboardAccess.isLoopback(host: "127.0.0.1"))
        XCTAssertTrue(DashboardAccess.isLoopback(host: "::1"))
        XCTAssertTrue(DashboardAccess.isLoopback(host: "localhost"))
        XCTAssertFalse(DashboardAccess.isLoopback(host: "0.0.0.0"))
        XCTAssertFalse(DashboardAccess.isLoopback(host: "192.168.1.2"))
        let dir = try temporaryDirectory(self)
        try "short\n".write(toFile: dir + "/t1", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try DashboardAccess.readToken(path: dir + "/t1")) { XCTAssertEqual($0 as? DashboardAccessError, .tooShort(path: dir + "/t1", length: 5)) }
        try "  0123456789abcdef0123  \nsecond line\n".write(toFile: dir + "/t2", atomically: true, encoding: .utf8)
        XCTAssertEqual(try DashboardAccess.readToken(path: dir + "/t2"), "0123456789abcdef0123")
        XCTAssertThrowsError(try DashboardAccess.readToken(path: dir + "/missing"))
    }
}

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The real server on a socket: it serves, and cancelling its task (what `pba search --http`
/// does when the search ends) shuts it down gracefully: `run` returns without an error and the
/// port stops accepting connections.
final class DashboardServerShutdownTests: XCTestCase {
    final class Address: @unchecked Sendable {
        private let lock = NSLock()
        private var value: String?
        func set(_ v: String) { lock.lock(); value = v; lock.unlock() }
        func get() -> String? { lock.lock(); defer { lock.unlock() }; return value }
    }

    func fetch(_ url: URL) async -> Int? {
        var request = URLRequest(url: url)
        request.timeoutInterval = 5
        guard let (_, response) = try? await URLSession.shared.data(for: request) else { return nil }
        return (response as? HTTPURLResponse)?.statusCode
    }

    func testCancellingTheTaskShutsTheServerDownGracefully() async throws {
        let dir = try temporaryDirectory(self)
        _ = try RecordedRun.make(at: dir + "/pba.sqlite")
        let server = try DashboardServer(store: try Store(readOnlyPath: dir + "/pba.sqlite"), databaseName: dir + "/pba.sqlite",
                                         settings: .init(host: "127.0.0.1", port: 0, token: nil), logger: Logger(label: "test"))
        let address = Address()
        let task = Task { try await server.run(signals: [], onListening: { address.set($0) }) }
        var url: URL?
        for _ in 0..<200 {
            if let a = address.get() { url = URL(string: a); break }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        let base = try XCTUnwrap(url, "the server never reported its address")
        let status = await fetch(base.appendingPathComponent("metrics"))
        XCTAssertEqual(status, 200)
        let outcome = Address()
        Task {
            do { try await task.value; outcome.set("returned") } catch { outcome.set("threw \(error)") }
        }
        task.cancel()
        // run returns within a few seconds; a hung shutdown fails here instead of hanging.
        let deadline = Date().addingTimeInterval(15)
        while outcome.get() == nil && Date() < deadline { try await Task.sleep(nanoseconds: 50_000_000) }
        XCTAssertEqual(outcome.get(), "returned")
        let after = await fetch(base.appendingPathComponent("metrics"))
        XCTAssertNil(after, "the port still answers after shutdown")
    }
}
