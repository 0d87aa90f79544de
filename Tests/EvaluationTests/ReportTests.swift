import XCTest
import Augment
import Schedule
@testable import Evaluation

final class ReportTests: XCTestCase {
    let recipe = EvaluationRecipe(data: "synthetic", model: "wrn-10-1", epochs: 3, trainingImages: 100,
                                  trainingImagesDescription: "the full training set", testImages: 400,
                                  baseAugmentation: "pad 4", optimizer: "SGD")
    let labels: [Int32] = (0..<400).map { Int32($0 % 10) }

    /// A result whose model is right on exactly the first `correct` test images.
    func cell(_ c: Candidate, seed: UInt64, correct: Int) -> CellResult {
        CellResult(candidateKey: c.key, seed: seed, testAccuracy: Double(correct) / 400, trainLoss: 1, seconds: 10,
                   predictions: labels.enumerated().map { i, l in i < correct ? l : (l + 1) % 10 })
    }

    func schedule() throws -> AugmentationSchedule {
        let context = ScheduleContext(dataset: DatasetDescription(name: "x"), model: ModelDescription(name: "x"))
        return AugmentationSchedule(operations: .pba, learnedEpochs: 3, segments: [
            ScheduleSegment(startEpoch: 0, endEpoch: 1, policy: [Int](repeating: 1, count: 60)),
            ScheduleSegment(startEpoch: 1, endEpoch: 3, policy: [Int](repeating: 6, count: 60)),
        ], context: context)
    }

    func testNumbersVerdictsAndFilesRoundTrip() throws {
        let candidates = try Candidate.withAblations(schedule(), name: "learned", epochs: 3, ablations: true)
            + [.baseline(.none), .baseline(.base)]
        let seeds: [UInt64] = [1, 2, 3, 4, 5, 6]
        var results: [CellResult] = []
        for (k, s) in seeds.enumerated() {
            // learned: 300 + k correct; base: 200 + k (100 images worse on every seed: a real
            // difference); none: 299 + k or 301 + k (a difference of a single image: noise).
            results.append(cell(candidates[0], seed: s, correct: 300 + k))
            results.append(cell(candidates[1], seed: s, correct: 290 + k))
            results.append(cell(candidates[2], seed: s, correct: 305 - k))
            results.append(cell(candidates[3], seed: s, correct: k % 2 == 0 ? 299 + k : 301 + k))
            results.append(cell(candidates[4], seed: s, correct: 200 + k))
        }
        let report = try EvaluationReport(recipe: recipe, candidates: candidates, seeds: seeds, results: results, labels: labels,
                                          bootstrapResamples: 500)
        let learned = try XCTUnwrap(report.summaries.first { $0.candidate.name == "learned" })
        XCTAssertEqual(learned.errors, (0..<6).map { 100 * Double(100 - $0) / 400 })
        XCTAssertEqual(report.bestBaseline?.candidate.name, "none")
        XCTAssertEqual(report.comparisons.map(\.reference), ["none", "base", "learned:averaged", "learned:reversed"])
        let byReference = Dictionary(uniqueKeysWithValues: report.comparisons.map { ($0.reference, $0) })
        XCTAssertEqual(byReference["base"]?.meanDifference ?? 0, -25, accuracy: 1e-9)
        XCTAssertEqual(byReference["base"]?.verdict, .better)
        XCTAssertEqual(byReference["none"]?.verdict, .withinNoise)
        XCTAssertEqual(byReference["learned:averaged"]?.verdict, .better)
        // Holm never lowers a p-value.
        for c in report.comparisons { XCTAssertGreaterThanOrEqual(c.holmP ?? -1, c.p ?? 2) }
        // 1 SE at the mean error of the candidates.
        XCTAssertGreaterThan(report.testStandardError, 1)

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pba-report-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cells = results.map { r in (candidates.first { $0.key == r.candidateKey }!, r) }
        try report.write(to: dir, title: "T", cells: cells)
        let summary = try ReportCSV.parse(String(contentsOfFile: dir + "/summary.csv", encoding: .utf8), file: "summary.csv")
        XCTAssertEqual(summary.count, 5)
        for row in summary {
            let s = try XCTUnwrap(report.summaries.first { $0.candidate.name == row["candidate"] })
            XCTAssertEqual(Double(row["mean_error"]!)!, s.mean, accuracy: 1e-4)
            XCTAssertEqual(row["errors"]!.split(separator: ";").count, 6)
        }
        let comparisons = try ReportCSV.parse(String(contentsOfFile: dir + "/comparisons.csv", encoding: .utf8), file: "comparisons.csv")
        XCTAssertEqual(comparisons.map { $0["verdict"]! }, report.comparisons.map(\.verdict.rawValue))
        XCTAssertEqual(try ReportCSV.parse(String(contentsOfFile: dir + "/cells.csv", encoding: .utf8), file: "cells.csv").count, 30)
        let markdown = try String(contentsOfFile: dir + "/report.md", encoding: .utf8)
        XCTAssertTrue(markdown.contains("**none** (best baseline)"))
        XCTAssertTrue(markdown.contains("**learned** is within noise of the best baseline (none)"), markdown)
        XCTAssertTrue(markdown.contains("| learned | base | -25.00 |"), markdown)
    }

    func testHeaderRecordsTheCommandAndSaysWhenScoredOnValidation() throws {
        let none = Candidate.baseline(.none)
        var r = recipe
        r.commandLine = "pba evaluate --seeds 101-105 --title 'a b'"
        r.gitRevision = "abc123def456"
        let test = try EvaluationReport(recipe: r, candidates: [none], seeds: [1], results: [cell(none, seed: 1, correct: 10)], labels: labels)
        let md = test.markdown()
        XCTAssertTrue(md.contains("- reproduce: `pba evaluate --seeds 101-105 --title 'a b'` (pba at git revision abc123def456)"), md)
        XCTAssertTrue(md.contains("testing on 400 test images no search touched"))
        XCTAssertFalse(md.contains("validation"))
        r.heldOut = .validation
        let validation = try EvaluationReport(recipe: r, candidates: [none], seeds: [1], results: [cell(none, seed: 1, correct: 10)], labels: labels)
        XCTAssertTrue(validation.markdown().contains("held-out **validation** images"))
        XCTAssertFalse(validation.markdown().contains("test images no search touched"))
        XCTAssertTrue(md.contains("| test error % (mean ± std) |"), md)
        XCTAssertTrue(validation.markdown().contains("| validation error % (mean ± std) |"), validation.markdown())
        XCTAssertTrue(validation.markdown().contains("points on 400 validation images"), validation.markdown())
        XCTAssertFalse(try EvaluationReport(recipe: recipe, candidates: [none], seeds: [1], results: [cell(none, seed: 1, correct: 10)],
                                             labels: labels).markdown().contains("reproduce"), "no command line, no line")
    }

    func testVerdictNeedsTheIntervalAndCallsItOnlyWhenTheTestAgrees() {
        typealias R = EvaluationReport
        let away = Statistics.Interval(low: 1, high: 3), across = Statistics.Interval(low: -1, high: 3)
        XCTAssertEqual(R.verdict(difference: 2, holmP: 0.01, interval: away, level: 0.05), .worse)
        XCTAssertEqual(R.verdict(difference: -2, holmP: 0.01, interval: Statistics.Interval(low: -3, high: -1), level: 0.05), .better)
        XCTAssertEqual(R.verdict(difference: 2, holmP: 0.3, interval: away, level: 0.05), .likelyWorse)
        XCTAssertEqual(R.verdict(difference: -2, holmP: 0.3, interval: Statistics.Interval(low: -3, high: -1), level: 0.05), .likelyBetter)
        XCTAssertEqual(R.verdict(difference: 2, holmP: 0.01, interval: across, level: 0.05), .withinNoise)
        XCTAssertEqual(R.verdict(difference: 2, holmP: nil, interval: away, level: 0.05), .undetermined)
    }

    func testMissingOrMalformedCellsAreErrors() throws {
        let none = Candidate.baseline(.none)
        XCTAssertThrowsError(try EvaluationReport(recipe: recipe, candidates: [none], seeds: [1, 2],
                                                  results: [cell(none, seed: 1, correct: 10)], labels: labels)) { error in
            XCTAssertEqual(error as? EvaluationError, .missingCell(candidate: "none", seed: 2))
        }
        var short = cell(none, seed: 1, correct: 10)
        short.predictions.removeLast()
        XCTAssertThrowsError(try EvaluationReport(recipe: recipe, candidates: [none], seeds: [1], results: [short], labels: labels))
    }

    func testCSVParserQuotesAndErrors() throws {
        let rows = try ReportCSV.parse("a,b\n\"x, \"\"y\"\"\",2\n", file: "f.csv")
        XCTAssertEqual(rows, [["a": "x, \"y\"", "b": "2"]])
        XCTAssertThrowsError(try ReportCSV.parse("a,b\n1,2,3\n", file: "f.csv")) { error in
            XCTAssertEqual(error as? EvaluationError, .badReport(file: "f.csv", line: 2, reason: "3 fields, the header has 2"))
        }
        XCTAssertThrowsError(try ReportCSV.parse("a\n\"open\n", file: "g.csv"))
    }
}
