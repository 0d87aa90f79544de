import XCTest
@testable import Store

final class EvaluationCellTests: XCTestCase {
    func testCellsRoundTripFirstResultWinsAndJobKeysSeparate() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pba-cells-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try Store(path: dir + "/db.sqlite")
        let predictions: [Int32] = [0, 7, -3, 99, Int32.min]
        let date = Date(timeIntervalSince1970: 1_800_000_000)
        let cell = EvaluationCellRecord(jobKey: "job-a", candidateKey: "baseline:none", seed: UInt64.max, candidate: "none",
                                        testAccuracy: 0.5, trainLoss: 1.5, seconds: 12, predictions: predictions, worker: "w1",
                                        pbaVersion: "0.1.0", finishedAt: date)
        XCTAssertTrue(try store.saveEvaluationCell(cell))
        var second = cell
        second.testAccuracy = 0.9
        XCTAssertFalse(try store.saveEvaluationCell(second), "a cell already recorded must not be overwritten")
        XCTAssertTrue(try store.saveEvaluationCell(EvaluationCellRecord(jobKey: "job-b", candidateKey: "baseline:none", seed: 1, candidate: "none",
                                                                       testAccuracy: 0.1, trainLoss: 1, seconds: 1, predictions: [], worker: nil,
                                                                       pbaVersion: "0.1.0", finishedAt: date)))
        // Reopened from disk.
        let reopened = try Store(path: dir + "/db.sqlite")
        let cells = try reopened.evaluationCells(jobKey: "job-a")
        XCTAssertEqual(cells.count, 1)
        XCTAssertEqual(cells[0].testAccuracy, 0.5)
        XCTAssertEqual(cells[0].seedValue, UInt64.max)
        XCTAssertEqual(cells[0].decodedPredictions, predictions)
        XCTAssertEqual(try reopened.evaluationCells(jobKey: "job-b").count, 1)
        var corrupt = cells[0]
        corrupt.predictions = Data([1, 2, 3])
        XCTAssertNil(corrupt.decodedPredictions)
    }
}
