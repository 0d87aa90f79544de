import XCTest
import Foundation
import Tensor
import Augment
import Search
@testable import Store

func temporaryDirectory(_ test: XCTestCase) throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("pba-store-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url.path
}

/// Drives a `PopulationSearch` against a `Store` as the coordinator will: every event is
/// committed with its actions; results come from a fake trainer (accuracy a function of the
/// member's policy and epoch plus seeded noise) and carry fake checkpoint bytes.
struct SimulatedCoordinator {
    let store: Store
    let runId: String
    let configuration: SearchConfiguration
    var search: PopulationSearch
    var inFlight: [Assignment] = []
    var noise: SeededGenerator

    init(store: Store, configuration: SearchConfiguration, runId: String = "run-1") throws {
        self.store = store
        self.runId = runId
        self.configuration = configuration
        search = try PopulationSearch(configuration: configuration)
        noise = SeededGenerator(seed: configuration.seed ^ 0xABCD)
        let config = String(data: try JSONEncoder().encode(configuration), encoding: .utf8)!
        try store.createRun(RunRecord(id: runId, createdAt: Date(), status: .running, searchConfiguration: config,
                                      trainingConfiguration: "{}", seed: configuration.seed, pbaVersion: "test",
                                      gitRevision: "test", commandLine: "test"))
        let actions = search.start()
        try store.commit(run: runId, event: .started, actions: actions)
    }

    /// Rebuilds the coordinator from the store after a crash (the in-memory state is lost).
    static func recover(store: Store, runId: String, configuration: SearchConfiguration, noiseSeed: UInt64) throws -> SimulatedCoordinator {
        var c = try SimulatedCoordinator(restoringFrom: store, runId: runId, configuration: configuration)
        c.noise = SeededGenerator(seed: noiseSeed)
        return c
    }

    private init(restoringFrom store: Store, runId: String, configuration: SearchConfiguration) throws {
        self.store = store
        self.runId = runId
        self.configuration = configuration
        search = try PopulationSearch.replay(configuration: configuration, events: store.events(run: runId))
        noise = SeededGenerator(seed: 0)
        let actions = search.resume()
        try store.commit(run: runId, event: .resumed, actions: actions, keepCheckpoints: search.referencedCheckpoints)
    }

    var finished: Bool { search.outcome != nil }

    /// Hands out one assignment if there is one.
    mutating func request() throws {
        let actions = search.assignmentRequested()
        for case let .train(a) in actions {
            try store.commit(run: runId, event: .assignmentRequested, actions: actions, worker: "sim")
            inFlight.append(a)
        }
    }

    func fakeAccuracy(_ a: Assignment) -> Double {
        let magnitudeSum = a.policy.values.enumerated().reduce(0) { $0 + ($1.offset % 2 == 1 ? $1.element : 0) }
        return 0.5 + 0.3 * (1 - exp(-Double(a.epochs.upperBound) / 10)) + 0.001 * Double(magnitudeSum)
    }

    /// Finishes the oldest in-flight assignment (or the one at `index`).
    @discardableResult
    mutating func finish(index: Int = 0) throws -> Store.CommitOutcome? {
        guard !inFlight.isEmpty else { return nil }
        let a = inFlight.remove(at: index)
        let result = IntervalResult(assignment: a.id, validationAccuracy: fakeAccuracy(a) + noise.nextUniform() * 0.01, trainLoss: 1)
        let bytes = [UInt8]("checkpoint of \(a.id) member \(a.member) epochs \(a.epochs)".utf8)
        let produced = try store.writeCheckpoint(bytes)
        let actions = search.assignmentFinished(result)
        if actions.contains(where: { if case .ignoreResult = $0 { return true } else { return false } }) { return nil }
        return try store.commit(run: runId, event: .assignmentFinished(result), actions: actions, worker: "sim",
                                checkpoint: produced, keepCheckpoints: search.referencedCheckpoints)
    }
}

final class StoreTests: XCTestCase {
    func configuration(seed: UInt64, mode: SearchConfiguration.Mode = .asynchronous) -> SearchConfiguration {
        SearchConfiguration(populationSize: 4, epochs: 12, perturbationInterval: 3, mode: mode, seed: seed)
    }

    func testRecoveryFromRandomCrashPointsRebuildsTheExactState() throws {
        var g = SeededGenerator(seed: 77)
        for trial in 0..<12 {
            let dir = try temporaryDirectory(self)
            let store = try Store(path: dir + "/pba.sqlite")
            let config = configuration(seed: UInt64(trial), mode: trial % 2 == 0 ? .asynchronous : .synchronous)
            var c = try SimulatedCoordinator(store: store, configuration: config)
            var steps = 0
            let crashes = Set((0..<3).map { _ in g.nextInt(below: 60) })
            while !c.finished && steps < 2000 {
                steps += 1
                if c.inFlight.count < 2 { try c.request() }
                if g.nextInt(below: 3) == 0 || c.inFlight.count >= 2 { try c.finish(index: g.nextInt(below: max(1, c.inFlight.count))) }
                if crashes.contains(steps) {
                    let before = c.search
                    // Crash: the process dies; a new one opens the same database.
                    let reopened = try Store(path: dir + "/pba.sqlite")
                    let rebuilt = try PopulationSearch.replay(configuration: config, events: reopened.events(run: "run-1"))
                    XCTAssertEqual(rebuilt, before, "trial \(trial), crash after step \(steps): replayed state differs")
                    c = try SimulatedCoordinator.recover(store: reopened, runId: "run-1", configuration: config, noiseSeed: UInt64(steps))
                }
            }
            XCTAssertTrue(c.finished, "trial \(trial) did not finish")
            // Every finished interval appears once, and every member trained each epoch of its final lineage.
            let intervals = try c.store.intervals(run: "run-1")
            let finished = intervals.filter { $0.finishedAt != nil }
            XCTAssertEqual(Set(finished.map(\.assignmentId)).count, finished.count)
            let run = try c.store.run(id: "run-1")
            XCTAssertEqual(run.status, .finished)
            XCTAssertEqual(try c.store.perturbations(run: "run-1").count, c.search.perturbations.count)
        }
    }

    func testDuplicateResultIsRecognisedAndNotCountedTwice() throws {
        let dir = try temporaryDirectory(self)
        let store = try Store(inMemoryWithCheckpointDirectory: dir)
        var c = try SimulatedCoordinator(store: store, configuration: configuration(seed: 3))
        try c.request()
        let a = c.inFlight[0]
        try c.finish()
        let eventsBefore = try store.events(run: "run-1").count
        // The same result again (a late duplicate from a reconnected worker) at the store level:
        let result = IntervalResult(assignment: a.id, validationAccuracy: 0.9, trainLoss: 0.1)
        let outcome = try store.commit(run: "run-1", event: .assignmentFinished(result), actions: [])
        XCTAssertEqual(outcome, .duplicateResult(a.id))
        XCTAssertEqual(try store.events(run: "run-1").count, eventsBefore)
        let row = try XCTUnwrap(store.intervals(run: "run-1").first { $0.assignmentId == Int64(a.id.rawValue) })
        XCTAssertNotEqual(row.validationAccuracy, 0.9)
    }

    func testCheckpointRetentionStaysBoundedAndFilesFollowRows() throws {
        let dir = try temporaryDirectory(self)
        let store = try Store(path: dir + "/pba.sqlite")
        var config = configuration(seed: 5)
        config.epochs = 60
        config.perturbationInterval = 2
        var c = try SimulatedCoordinator(store: store, configuration: config)
        var maxRows = 0, maxFiles = 0
        while !c.finished {
            try c.request(); try c.request()
            try c.finish(); try c.finish()
            maxRows = max(maxRows, try store.checkpointRecords(run: "run-1").count)
            let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/pba.sqlite.checkpoints").count
            maxFiles = max(maxFiles, files)
        }
        let intervals = try store.intervals(run: "run-1").count
        XCTAssertGreaterThan(intervals, 100)
        // At most one kept per member plus those an in-flight assignment or a pending copy needs.
        XCTAssertLessThanOrEqual(maxRows, 2 * config.populationSize, "checkpoint rows grew to \(maxRows) over \(intervals) intervals")
        XCTAssertLessThanOrEqual(maxFiles, 2 * config.populationSize + 1)
    }

    func testCorruptCheckpointFileIsDetectedAndNeverReturned() throws {
        let dir = try temporaryDirectory(self)
        let store = try Store(path: dir + "/pba.sqlite")
        var c = try SimulatedCoordinator(store: store, configuration: configuration(seed: 9))
        try c.request()
        let a = c.inFlight[0]
        try c.finish()
        let record = try XCTUnwrap(store.checkpointRecords(run: "run-1").first)
        XCTAssertEqual(try store.checkpointBytes(run: "run-1", assignment: a.id).count, Int(record.size))
        let path = store.checkpoints.path(for: record.sha256)
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[0] ^= 1
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try store.checkpointBytes(run: "run-1", assignment: a.id)) { error in
            guard case StoreError.checksumMismatch = error else { return XCTFail("\(error)") }
        }
    }

    func testRunsListUnfinishedAndDelete() throws {
        let dir = try temporaryDirectory(self)
        let store = try Store(path: dir + "/pba.sqlite")
        _ = try SimulatedCoordinator(store: store, configuration: configuration(seed: 1), runId: "a")
        XCTAssertEqual(try store.unfinishedRun()?.id, "a")
        try store.setStatus(run: "a", .finished)
        XCTAssertNil(try store.unfinishedRun())
        try store.deleteRun(id: "a")
        XCTAssertEqual(try store.runs().count, 0)
        XCTAssertThrowsError(try store.run(id: "a")) { XCTAssertEqual("\($0)", "no run 'a' in the database") }
    }

    func testWorkerSessionsOpenUpdateCloseAndStartOverOnRejoin() throws {
        let dir = try temporaryDirectory(self)
        let store = try Store(path: dir + "/pba.sqlite")
        _ = try SimulatedCoordinator(store: store, configuration: configuration(seed: 1), runId: "a")
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        try store.workerJoined(WorkerSessionRecord(runId: "a", workerId: "gpu1-10", hostname: "gpu1", kind: "pytorch", threads: 4, joinedAt: t0))
        try store.workerJoined(WorkerSessionRecord(runId: "a", workerId: "local-5-0", hostname: "vm", kind: "swift", threads: 1, joinedAt: t0))
        try store.workerJoined(WorkerSessionRecord(runId: "b", workerId: "gpu1-10", hostname: "gpu1", kind: "pytorch", threads: 4, joinedAt: t0))
        try store.workersSeen(run: "a", [("gpu1-10", t0 + 5), ("local-5-0", t0 + 6)])
        try store.workerLeft(run: "a", worker: "local-5-0", reason: "left: stopping", at: t0 + 7)
        // A closed session is not reopened by a late message, and the other run is untouched.
        try store.workersSeen(run: "a", [("local-5-0", t0 + 9)])
        var sessions = try store.workerSessions(run: "a")
        XCTAssertEqual(sessions.map(\.workerId), ["gpu1-10", "local-5-0"])
        XCTAssertEqual(sessions[0].lastSeenAt, t0 + 5)
        XCTAssertNil(sessions[0].leftAt)
        XCTAssertEqual(sessions[0].kind, "pytorch")
        XCTAssertEqual(sessions[0].threads, 4)
        XCTAssertEqual(sessions[1].lastSeenAt, t0 + 6)
        XCTAssertEqual(sessions[1].leftAt, t0 + 7)
        XCTAssertEqual(sessions[1].leftReason, "left: stopping")
        XCTAssertEqual(try store.workerSessions(run: "b").first?.lastSeenAt, t0)
        // Closing every open session (the coordinator stops) keeps the reasons already given.
        try store.workerLeft(run: "a", worker: nil, reason: "the coordinator stopped", at: t0 + 8)
        sessions = try store.workerSessions(run: "a")
        XCTAssertEqual(sessions.map(\.leftReason), ["the coordinator stopped", "left: stopping"])
        // Joining again under the same id starts the session over.
        try store.workerJoined(WorkerSessionRecord(runId: "a", workerId: "local-5-0", hostname: "vm", kind: "swift", threads: 2, joinedAt: t0 + 20))
        let again = try XCTUnwrap(try store.workerSessions(run: "a").first { $0.workerId == "local-5-0" })
        XCTAssertNil(again.leftAt)
        XCTAssertEqual(again.joinedAt, t0 + 20)
        XCTAssertEqual(again.threads, 2)
        // Deleting a run deletes its sessions.
        try store.deleteRun(id: "a")
        XCTAssertEqual(try store.workerSessions(run: "a"), [])
        XCTAssertEqual(try store.workerSessions(run: "b").count, 1)
    }
}
