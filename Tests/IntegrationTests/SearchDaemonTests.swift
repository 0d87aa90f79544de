import Foundation
import XCTest
import Schedule
import Search
import Store

/// Real processes: a coordinator and workers over TCP on loopback, small searches (population 4,
/// 256 images, WRN-10-1 on Fashion-MNIST), crashes by fault injection and by SIGKILL.
final class SearchDaemonTests: XCTestCase {
    var plan: [String] { ["--population", "4", "--epochs", "4", "--interval", "2", "--train-size", "256", "--validation-size", "128"] }

    override func setUpWithError() throws {
        guard FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") else {
            throw XCTSkip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
        }
        guard FileManager.default.fileExists(atPath: PBAProcess.executable.path) else {
            throw XCTSkip("pba executable not built at \(PBAProcess.executable.path)")
        }
    }

    func finishedRun(_ db: String) throws -> (run: RunRecord, schedule: AugmentationSchedule, store: Store) {
        let store = try Store(path: db)
        let run = try XCTUnwrap(store.runs().first)
        XCTAssertEqual(run.status, .finished)
        let document = try XCTUnwrap(store.latestSchedule(run: run.id))
        let schedule = try AugmentationSchedule.decode(jsonData: Data(document.utf8))
        return (run, schedule, store)
    }

    /// Every member trained every epoch exactly once in its final lineage's intervals, and no
    /// assignment has two results.
    func assertNoIntervalLostOrDoubled(_ store: Store, run: String, population: Int = 4, epochs: Int = 4) throws {
        let intervals = try store.intervals(run: run).filter { $0.finishedAt != nil }
        XCTAssertEqual(Set(intervals.map(\.assignmentId)).count, intervals.count, "an assignment was counted twice")
        let configuration = try JSONDecoder().decode(SearchConfiguration.self, from: Data(try store.run(id: run).searchConfiguration.utf8))
        let search = try PopulationSearch.replay(configuration: configuration, events: store.events(run: run))
        XCTAssertNotNil(search.outcome)
        for m in search.members { XCTAssertEqual(m.completedEpochs, epochs, "member \(m.index)") }
        XCTAssertGreaterThanOrEqual(intervals.count, population * epochs / 2)
    }

    func testSearchEndToEndWithTwoWorkers() throws {
        let dir = try PBAProcess.temporaryDirectory(self)
        // Every free baseline a member: the four zero members train base, AutoAugment, TrivialAugment
        // and RandAugment, so the workers receive policies on a member's own foundation.
        let p = try PBAProcess.start(["search", "--db", dir + "/pba.sqlite", "--workers", "2", "--out", dir + "/out",
                                      "--start-baselines", "all"] + plan, log: dir + "/log")
        XCTAssertEqual(PBAProcess.wait(p, seconds: 120, "pba search"), 0, (try? String(contentsOfFile: dir + "/log", encoding: .utf8)) ?? "")
        let (run, schedule, store) = try finishedRun(dir + "/pba.sqlite")
        let stored = try JSONDecoder().decode(SearchConfiguration.self, from: Data(run.searchConfiguration.utf8))
        XCTAssertEqual(stored.startBaselines, ["base", "autoaugment", "trivialaugment", "randaugment"])
        XCTAssertEqual(schedule.search?.startBaselines, stored.startBaselines)
        let replayed = try PopulationSearch.replay(configuration: stored, events: store.events(run: run.id))
        let outcome = try XCTUnwrap(replayed.outcome)
        XCTAssertEqual(schedule.baseAugmentation.foundation, outcome.lineage.segments.first?.policy.foundation?.name,
                       "the schedule carries the winner's own foundation")
        XCTAssertEqual(schedule.learnedEpochs, 4)
        XCTAssertNoThrow(try schedule.validate())
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/out/schedule.json"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/out/schedule.svg"))
        try assertNoIntervalLostOrDoubled(store, run: run.id)
        // The demo's defaults: a mixed start, and no fixed Cutout after the policy.
        let configuration = try JSONDecoder().decode(SearchConfiguration.self, from: Data(run.searchConfiguration.utf8))
        XCTAssertEqual(configuration.initialPolicy, .mixed)
        XCTAssertTrue(run.trainingConfiguration.contains("\"cutout\":0"), run.trainingConfiguration)
        let log = try String(contentsOfFile: dir + "/log", encoding: .utf8)
        XCTAssertTrue(log.contains("Expected to help: "), log)
        XCTAssertTrue(log.contains("winner: member "), log)
        XCTAssertTrue(log.contains("exploit: "), log)
        // The coordinator recorded both local workers' sessions and closed them when the run ended.
        let sessions = try store.workerSessions(run: run.id)
        XCTAssertEqual(sessions.count, 2, "\(sessions)")
        for s in sessions {
            XCTAssertTrue(s.workerId.hasPrefix("local-"), s.workerId)
            XCTAssertEqual(s.kind, "swift")
            XCTAssertEqual(s.threads, 1)
            XCTAssertNotNil(s.leftAt, "\(s)")
            XCTAssertGreaterThanOrEqual(s.lastSeenAt, s.joinedAt)
        }
    }

    /// PB2's explore and noise-aware selection through real workers: the stored configuration
    /// says what ran, and every result carries per-image correctness for the validation images.
    func testPB2AndNoiseAwareSelectionEndToEnd() throws {
        let dir = try PBAProcess.temporaryDirectory(self)
        let options = ["--explore", "pb2", "--exploit-margin", "0.5", "--ranking", "smoothed", "--smoothing", "0.7",
                       "--initial-policy", "sampled", "--epochs", "6"]
        let p = try PBAProcess.start(["search", "--db", dir + "/pba.sqlite", "--workers", "2", "--out", dir + "/out"] + plan + options,
                                     log: dir + "/log")
        XCTAssertEqual(PBAProcess.wait(p, seconds: 180, "pba search"), 0, (try? String(contentsOfFile: dir + "/log", encoding: .utf8)) ?? "")
        let (run, _, store) = try finishedRun(dir + "/pba.sqlite")
        let configuration = try JSONDecoder().decode(SearchConfiguration.self, from: Data(run.searchConfiguration.utf8))
        XCTAssertEqual(configuration.explore, .pb2)
        XCTAssertEqual(configuration.selection, SelectionRules(ranking: .smoothed, smoothing: 0.7, margin: 0.5))
        XCTAssertEqual(configuration.initialPolicy, .sampled)
        let results = try store.events(run: run.id).compactMap { e -> IntervalResult? in
            if case let .assignmentFinished(r) = e { return r } else { return nil }
        }
        XCTAssertFalse(results.isEmpty)
        for r in results {
            let bits = try XCTUnwrap(r.validationCorrect, "result of \(r.assignment) without per-image correctness")
            XCTAssertEqual(bits.count, 128)
            XCTAssertEqual(bits.accuracy, r.validationAccuracy, accuracy: 1e-6)
        }
        let search = try PopulationSearch.replay(configuration: configuration, events: store.events(run: run.id))
        XCTAssertFalse(search.observations.isEmpty, "PB2 had no data")
        XCTAssertTrue(search.exploitChecks.allSatisfy { $0.paired })
    }

    func testBadSearchOptionsAreRejectedWithAClearMessage() throws {
        let dir = try PBAProcess.temporaryDirectory(self)
        let cases: [([String], String)] = [
            (["--explore", "pb3"], "--explore must be pba or pb2"),
            (["--initial-policy", "all"], "zero, sampled or mixed"),
            (["--exploit-margin", "-1"], "--exploit-margin"),
            (["--smoothing", "2"], "--smoothing"),
            (["--ranking", "best"], "--ranking"),
            (["--cutout", "2000"], "cutout must be"),
            (["--padding", "99"], "padding must be"),
            (["--form", "resnet"], "--form must be pba or zagoruyko"),
            (["--start-baselines", "base,none"], "entry 2 'none' is not base or a foundation"),
            (["--start-baselines", "base,autoaugment", "--foundation", "trivialaugment"], "give one or the other"),
            (["--start-baselines", "base,base"], "each baseline once"),
        ]
        for (args, expected) in cases {
            let log = dir + "/log-\(UUID().uuidString)"
            let p = try PBAProcess.start(["search", "--db", dir + "/x.sqlite", "--workers", "0"] + plan + args, log: log)
            XCTAssertNotEqual(PBAProcess.wait(p, seconds: 30, args.joined(separator: " ")), 0)
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            XCTAssertTrue(text.contains(expected), "\(args): expected '\(expected)' in: \(text)")
        }
    }

    func testCoordinatorKilledMidRunResumesWithNothingLostOrDoubled() throws {
        let dir = try PBAProcess.temporaryDirectory(self)
        let db = dir + "/pba.sqlite"
        // The coordinator exits (as if killed) right after its 5th committed result.
        let first = try PBAProcess.start(["search", "--db", db, "--workers", "2"] + plan,
                                         environment: ["PBA_FAULT_EXIT_AFTER_RESULTS": "5"], log: dir + "/log1")
        XCTAssertEqual(PBAProcess.wait(first, seconds: 120, "first pba search"), 99)
        XCTAssertEqual(try Store(path: db).runs().first?.status, .running)
        let second = try PBAProcess.start(["search", "--db", db, "--workers", "2"] + plan, log: dir + "/log2")
        XCTAssertEqual(PBAProcess.wait(second, seconds: 120, "resumed pba search"), 0, (try? String(contentsOfFile: dir + "/log2", encoding: .utf8)) ?? "")
        let (run, _, store) = try finishedRun(db)
        try assertNoIntervalLostOrDoubled(store, run: run.id)
        XCTAssertTrue(try store.events(run: run.id).contains(.resumed))
    }

    func testExternalSIGKILLOfCoordinatorThenRestart() throws {
        let dir = try PBAProcess.temporaryDirectory(self)
        let db = dir + "/pba.sqlite"
        let first = try PBAProcess.start(["search", "--db", db, "--workers", "2"] + plan, log: dir + "/log1")
        // Wait until some results are committed, then kill -9.
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let store = try? Store(path: db), let run = try? store.runs().first,
               let n = try? store.intervals(run: run.id).filter({ $0.finishedAt != nil }).count, n >= 3 { break }
            usleep(100_000)
        }
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        usleep(300_000)
        let second = try PBAProcess.start(["search", "--db", db, "--workers", "2"] + plan, log: dir + "/log2")
        XCTAssertEqual(PBAProcess.wait(second, seconds: 120, "restarted pba search"), 0, (try? String(contentsOfFile: dir + "/log2", encoding: .utf8)) ?? "")
        let (run, _, store) = try finishedRun(db)
        try assertNoIntervalLostOrDoubled(store, run: run.id)
    }

    func testWorkerKilledMidIntervalIsRequeued() throws {
        let dir = try PBAProcess.temporaryDirectory(self)
        let db = dir + "/pba.sqlite"
        let port = PBAProcess.freePort()
        let endpoint = "tcp://127.0.0.1:\(port)"
        let coordinator = try PBAProcess.start(["coordinator", "--db", db, "--bind", endpoint, "--worker-timeout-ms", "2500",
                                                "--out", dir + "/out"] + plan, log: dir + "/coordinator.log")
        let victim = try PBAProcess.start(["worker", "--connect", endpoint, "--threads", "1", "--id", "victim"], log: dir + "/victim.log")
        // Let the victim take an assignment, then kill it mid-interval.
        let deadline = Date().addingTimeInterval(60)
        var assigned = false
        while Date() < deadline && !assigned {
            if let store = try? Store(path: db), let run = try? store.runs().first,
               let rows = try? store.intervals(run: run.id), rows.contains(where: { $0.worker == "victim" && $0.finishedAt == nil }) {
                assigned = true
            }
            usleep(50_000)
        }
        XCTAssertTrue(assigned, "the worker never got an assignment")
        kill(victim.processIdentifier, SIGKILL)
        victim.waitUntilExit()
        let survivor = try PBAProcess.start(["worker", "--connect", endpoint, "--threads", "1", "--id", "survivor"], log: dir + "/survivor.log")
        XCTAssertEqual(PBAProcess.wait(coordinator, seconds: 150, "coordinator"), 0, (try? String(contentsOfFile: dir + "/coordinator.log", encoding: .utf8)) ?? "")
        PBAProcess.wait(survivor, seconds: 20, "survivor worker")
        let (run, _, store) = try finishedRun(db)
        try assertNoIntervalLostOrDoubled(store, run: run.id)
        let events = try store.events(run: run.id)
        XCTAssertTrue(events.contains { if case .assignmentLost = $0 { return true } else { return false } }, "the killed worker's assignment was not requeued")
    }

    func testSynchronousModeGivesTheSameScheduleWithAndWithoutACrash() throws {
        let dir = try PBAProcess.temporaryDirectory(self)
        let sync = plan + ["--mode", "synchronous", "--seed", "7"]
        let straight = try PBAProcess.start(["search", "--db", dir + "/a.sqlite", "--workers", "2"] + sync, log: dir + "/a.log")
        XCTAssertEqual(PBAProcess.wait(straight, seconds: 120, "straight search"), 0)
        let crashed = try PBAProcess.start(["search", "--db", dir + "/b.sqlite", "--workers", "2"] + sync,
                                           environment: ["PBA_FAULT_EXIT_AFTER_RESULTS": "6"], log: dir + "/b1.log")
        XCTAssertEqual(PBAProcess.wait(crashed, seconds: 120, "crashing search"), 99)
        let resumed = try PBAProcess.start(["search", "--db", dir + "/b.sqlite", "--workers", "1"] + sync, log: dir + "/b2.log")
        XCTAssertEqual(PBAProcess.wait(resumed, seconds: 120, "resumed search"), 0)
        let a = try finishedRun(dir + "/a.sqlite").schedule, b = try finishedRun(dir + "/b.sqlite").schedule
        XCTAssertEqual(a.segments, b.segments)
        XCTAssertEqual(a.provenance.finalValidationAccuracy, b.provenance.finalValidationAccuracy)
    }
}
