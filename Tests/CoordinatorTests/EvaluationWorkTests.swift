import XCTest
import Logging
import Engine
import Evaluation
import Schedule
import Store
import Wire
@testable import Coordinator

/// The evaluation's queue without processes: which cell goes out next, what a result or a lost
/// worker does to it, and what a restarted coordinator finds in the store.
final class EvaluationWorkTests: XCTestCase {
    let logger = Logger(label: "test")

    func job(epochs: Int = 2) throws -> JobDescription {
        var options = TrainingOptions()
        options.epochs = epochs
        let spec = try ModelSpec(depth: 10, widen: 1, form: .zagoruyko, height: 8, width: 8, channels: 1, classes: 3)
        return JobDescription(data: "npy:x", trainSize: 10, validationSize: 0, splitSeed: 0, model: spec, options: options,
                              padding: 4, flip: true, cutout: 4, dataFingerprint: "f")
    }

    func store() throws -> Store {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pba-ew-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return try Store(path: dir + "/db.sqlite")
    }

    func result(_ a: Assign, accuracy: Double = 0.5) -> ResultMessage {
        ResultMessage(assignmentId: a.assignmentId, accuracy: accuracy, trainLoss: 1, seconds: 2, checkpoint: [],
                      sha256: SHA256.hex(SHA256.hash([UInt8]())), predictions: [0, 1, 2])
    }

    func testCellsGoOutOnceAreRequeuedWhenLostAndSurviveARestart() throws {
        let db = try store()
        let candidates = [Candidate.baseline(.none), Candidate.baseline(.cutout)]
        let work = try EvaluationWork(store: db, runId: "e", job: job(), candidates: candidates, seeds: [1, 2], logger: logger)
        XCTAssertEqual(work.cells.count, 4)
        let a = try XCTUnwrap(work.nextAssignment(worker: "w1"))
        XCTAssertEqual(a.kind, .evaluationCell)
        XCTAssertEqual(a.augmentation, .baseline(name: "none"))
        XCTAssertEqual(a.checkpoint, .initial(weightSeed: 1))
        XCTAssertEqual(a.trainingSeed, 1)
        XCTAssertEqual(a.epochStart, 0)
        XCTAssertEqual(a.epochEnd, 2)
        let b = try XCTUnwrap(work.nextAssignment(worker: "w2"))
        XCTAssertEqual(b.augmentation, .baseline(name: "cutout"), "a cell in flight is not handed out twice")
        try work.lose(b.assignmentId, worker: "w2", reason: "gone")
        let b2 = try XCTUnwrap(work.nextAssignment(worker: "w3"))
        XCTAssertEqual(b2.augmentation, .baseline(name: "cutout"), "a lost cell goes out again")
        XCTAssertTrue(try work.record(result(a), worker: "w1"))
        XCTAssertFalse(try work.record(result(a), worker: "w1"), "a duplicate result is not counted")
        XCTAssertFalse(try work.record(result(b), worker: "w2"), "a result for a requeued assignment is stale")
        var malformed = result(b2)
        malformed.predictions = []
        XCTAssertFalse(try work.record(malformed, worker: "w3"))
        XCTAssertNil(try work.finishedOutcome())

        // A new coordinator process on the same store: the finished cell is kept, the rest train.
        let restarted = try EvaluationWork(store: db, runId: "e", job: job(), candidates: candidates, seeds: [1, 2], logger: logger)
        XCTAssertEqual(restarted.alreadyDone, 1)
        var handedOut: [AugmentationSpec] = []
        while let next = try restarted.nextAssignment(worker: "w") {
            handedOut.append(next.augmentation)
            XCTAssertTrue(try restarted.record(result(next, accuracy: 0.75), worker: "w"))
        }
        XCTAssertEqual(handedOut.count, 3)
        let outcome = try XCTUnwrap(restarted.finishedOutcome())
        XCTAssertEqual(outcome.map(\.testAccuracy), [0.5, 0.75, 0.75, 0.75])
        // Another training setup shares nothing; the same data at another path shares everything.
        let other = try EvaluationWork(store: db, runId: "e", job: job(epochs: 3), candidates: candidates, seeds: [1, 2], logger: logger)
        XCTAssertEqual(other.alreadyDone, 0)
        var moved = try job()
        moved.data = "npy:/elsewhere/x"
        XCTAssertEqual(try EvaluationWork(store: db, runId: "e", job: moved, candidates: candidates, seeds: [1, 2], logger: logger).alreadyDone, 4)
        moved.dataFingerprint = "other data"
        XCTAssertEqual(try EvaluationWork(store: db, runId: "e", job: moved, candidates: candidates, seeds: [1, 2], logger: logger).alreadyDone, 0)
    }

    func testCandidatesThatTrainTheSameThingShareOneCell() throws {
        let context = ScheduleContext(dataset: DatasetDescription(name: "x"), model: ModelDescription(name: "x"))
        let flat = AugmentationSchedule(operations: .pba, learnedEpochs: 2,
                                        segments: [ScheduleSegment(startEpoch: 0, endEpoch: 2, policy: [Int](repeating: 2, count: 60))],
                                        context: context)
        let candidates = try Candidate.withAblations(flat, name: "flat", epochs: 2, ablations: true)
        let work = try EvaluationWork(store: store(), runId: "e", job: job(), candidates: candidates, seeds: [7], logger: logger)
        let a = try XCTUnwrap(work.nextAssignment(worker: "w1"))
        XCTAssertNil(try work.nextAssignment(worker: "w2"), "the averaged and reversed forms of a flat schedule are the same training")
        XCTAssertTrue(try work.record(result(a), worker: "w1"))
        XCTAssertEqual(try XCTUnwrap(work.finishedOutcome()).count, 3)
    }

    /// A job that holds back validation images is scored on them, not on the test set: its cells
    /// must never be taken for (or reused as) test-set cells of the same recipe.
    func testValidationScoredJobsKeepTheirOwnCells() throws {
        let db = try store()
        let test = try EvaluationWork(store: db, runId: "e", job: job(), candidates: [.baseline(.none)], seeds: [1], logger: logger)
        let a = try XCTUnwrap(test.nextAssignment(worker: "w1"))
        XCTAssertTrue(try test.record(result(a), worker: "w1"))
        var j = try job()
        j.validationSize = 5
        let validation = try EvaluationWork(store: db, runId: "e", job: j, candidates: [.baseline(.none)], seeds: [1], logger: logger)
        XCTAssertNotEqual(validation.jobKey, test.jobKey)
        XCTAssertEqual(validation.alreadyDone, 0)
        XCTAssertNotNil(try validation.nextAssignment(worker: "w1"))
        var s = try job()
        s.scheduleCutout = 0
        XCTAssertNotEqual(try EvaluationWork(store: db, runId: "e", job: s, candidates: [.baseline(.none)], seeds: [1], logger: logger).jobKey,
                          test.jobKey, "a schedule Cutout of its own is another training setup")
    }

    /// Jobs without a foundation keep the keys they had before it existed (finished cells stay
    /// found); a foundation is another training setup.
    func testFoundationIsPartOfTheJobKeyOnlyWhenSet() throws {
        let plain = try job()
        let json = String(decoding: try JSONEncoder().encode(plain), as: UTF8.self)
        XCTAssertFalse(json.contains("foundation"), json)
        var stacked = plain
        stacked.foundation = "autoaugment"
        XCTAssertNotEqual(try EvaluationWork.key(of: stacked), try EvaluationWork.key(of: plain))
        XCTAssertNotNil(try stacked.foundationStage())
        stacked.foundation = "base"
        XCTAssertThrowsError(try stacked.foundationStage())
    }
}

extension EvaluationWorkTests {
    /// Cells finished under one store, exported and imported into another, are finished there
    /// and never handed out; another setup's archive is refused.
    func testArchivedCellsImportIntoAnotherStore() throws {
        let first = try EvaluationWork(store: store(), runId: "e", job: job(), candidates: [.baseline(.none), .baseline(.base)], seeds: [1], logger: logger)
        first.workerLabel = { "\($0) on CPU" }
        for _ in 0..<2 {
            let a = try XCTUnwrap(first.nextAssignment(worker: "w1"))
            XCTAssertTrue(try first.record(result(a, accuracy: 0.25), worker: "w1"))
        }
        let archive = try first.archive()
        XCTAssertEqual(archive.cells.map(\.candidate), ["none", "base"])
        XCTAssertEqual(archive.cells.map(\.worker), ["w1 on CPU", "w1 on CPU"])

        let second = try EvaluationWork(store: store(), runId: "e", job: job(), candidates: [.baseline(.none), .baseline(.base)], seeds: [1, 2], logger: logger)
        let (imported, skipped) = try second.importCells(archive, source: "cells.json")
        XCTAssertEqual(imported, 2); XCTAssertEqual(skipped, 0)
        XCTAssertEqual(second.finished.count, 2)
        let next = try XCTUnwrap(second.nextAssignment(worker: "w2"))
        XCTAssertEqual(next.trainingSeed, 2, "imported cells are not trained again")
        XCTAssertEqual(try second.importCells(archive, source: "cells.json").skipped, 2, "a second import changes nothing")
        XCTAssertEqual(try second.store.evaluationCells(jobKey: second.jobKey).count, 2, "imported cells are stored")

        let other = try EvaluationWork(store: store(), runId: "e", job: job(epochs: 3), candidates: [.baseline(.none)], seeds: [1], logger: logger)
        XCTAssertThrowsError(try other.importCells(archive, source: "cells.json")) { e in
            XCTAssertTrue("\(e)".hasPrefix("cells.json holds cells of another training setup"), "\(e)")
        }
    }
}
