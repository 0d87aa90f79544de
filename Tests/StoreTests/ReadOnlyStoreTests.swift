import XCTest
import Foundation
import Search
@testable import Store

/// The dashboard's way in: a read-only store next to a writer.
final class ReadOnlyStoreTests: XCTestCase {
    func configuration() -> SearchConfiguration {
        SearchConfiguration(populationSize: 4, epochs: 6, perturbationInterval: 3, mode: .asynchronous, seed: 9)
    }

    func testReaderSeesEachCommitAndCannotWrite() throws {
        let dir = try temporaryDirectory(self)
        let writer = try Store(path: dir + "/pba.sqlite")
        var c = try SimulatedCoordinator(store: writer, configuration: configuration())
        let reader = try Store(readOnlyPath: dir + "/pba.sqlite")
        var lastSequence: Int64 = try reader.latestEventSequence(run: "run-1")
        XCTAssertGreaterThan(lastSequence, 0)
        var steps = 0
        while !c.finished && steps < 500 {
            steps += 1
            if c.inFlight.count < 2 { try c.request() }
            try c.finish()
            // A commit is visible to an already open reader at once, and the replay agrees.
            let sequence = try reader.latestEventSequence(run: "run-1")
            XCTAssertGreaterThanOrEqual(sequence, lastSequence)
            lastSequence = sequence
            let replayed = try PopulationSearch.replay(configuration: configuration(), events: reader.events(run: "run-1"))
            XCTAssertEqual(replayed, c.search, "step \(steps)")
        }
        XCTAssertTrue(c.finished)
        XCTAssertEqual(try reader.run(id: "run-1").status, .finished)
        let counts = try reader.intervalCounts()
        XCTAssertEqual(counts["run-1"]?.finished, try writer.intervals(run: "run-1").filter { $0.finishedAt != nil }.count)

        // SQLite refuses every write through the read-only connections.
        XCTAssertThrowsError(try reader.setStatus(run: "run-1", .failed))
        XCTAssertThrowsError(try reader.createRun(RunRecord(id: "x", createdAt: Date(), status: .running, searchConfiguration: "{}",
                                                            trainingConfiguration: "{}", seed: 1, pbaVersion: "t", gitRevision: "t", commandLine: "t")))
        XCTAssertThrowsError(try reader.saveEvaluationCell(EvaluationCellRecord(jobKey: "j", candidateKey: "c", seed: 1, candidate: "c", testAccuracy: 0.5,
                                                                                trainLoss: 1, seconds: 1, predictions: [], worker: nil, pbaVersion: "t", finishedAt: Date())))
        XCTAssertEqual(try writer.run(id: "run-1").status, .finished)
        XCTAssertEqual(try writer.runs().count, 1)
    }

    func testOpeningWhatIsNotAStoreIsAClearError() throws {
        let dir = try temporaryDirectory(self)
        XCTAssertThrowsError(try Store(readOnlyPath: dir + "/missing.sqlite")) { error in
            XCTAssertEqual(error as? StoreError, .io(path: dir + "/missing.sqlite", reason: "no database here"))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/missing.sqlite"), "a read-only open must not create the file")
        try Data("not sqlite at all".utf8).write(to: URL(fileURLWithPath: dir + "/junk.sqlite"))
        XCTAssertThrowsError(try Store(readOnlyPath: dir + "/junk.sqlite"))
    }

    func testEvaluationJobsSummariseTheirCells() throws {
        let dir = try temporaryDirectory(self)
        let writer = try Store(path: dir + "/pba.sqlite")
        for (job, candidate, seed) in [("a", "x", 1), ("a", "x", 2), ("a", "y", 1), ("b", "x", 1)] {
            try writer.saveEvaluationCell(EvaluationCellRecord(jobKey: job, candidateKey: candidate, seed: UInt64(seed), candidate: candidate,
                                                               testAccuracy: 0.5, trainLoss: 1, seconds: 1, predictions: [1, 2], worker: nil,
                                                               pbaVersion: "t", finishedAt: Date(timeIntervalSince1970: Double(seed + (job == "b" ? 100 : 0)))))
        }
        let jobs = try Store(readOnlyPath: dir + "/pba.sqlite").evaluationJobs()
        XCTAssertEqual(jobs.map(\.jobKey), ["b", "a"])
        XCTAssertEqual(jobs[1].cells, 3)
        XCTAssertEqual(jobs[1].candidates, 2)
        XCTAssertEqual(jobs[1].seeds, 2)
    }
}
