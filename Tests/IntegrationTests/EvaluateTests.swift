import Foundation
import XCTest
import Evaluation
import Store

/// `pba evaluate` as a user runs it: local workers, cells stored as they finish, a crash
/// part-way, a rerun that trains only what is missing, and the report files read back.
final class EvaluateTests: XCTestCase {
    let arguments = ["evaluate", "--train-size", "128", "--epochs", "2", "--seeds", "2", "--batch-size", "64",
                     "--baselines", "none,cutout", "--workers", "1", "--bootstrap-resamples", "200"]

    override func setUpWithError() throws {
        guard FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") else {
            throw XCTSkip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
        }
        guard FileManager.default.fileExists(atPath: PBAProcess.executable.path) else {
            throw XCTSkip("pba executable not built at \(PBAProcess.executable.path)")
        }
    }

    /// A two-segment schedule over 2 epochs, so its ablations train something different.
    func writeSchedule(_ dir: String) throws -> String {
        var rotate = [Int](repeating: 0, count: 60), solarize = [Int](repeating: 0, count: 60)
        rotate[0] = 8; rotate[1] = 6
        solarize[4 * 9] = 7; solarize[4 * 9 + 1] = 5
        let text = "[[1, \(rotate)], [1, \(solarize)]]"
        let path = dir + "/tiny.txt"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testCrashThenRerunTrainsOnlyMissingCellsAndWritesAReport() throws {
        let dir = try PBAProcess.temporaryDirectory(self)
        let db = dir + "/pba.sqlite", out = dir + "/report"
        let schedule = try writeSchedule(dir)
        let all = arguments + ["--schedule", "tiny=" + schedule, "--schedule-epochs", "2", "--ablations", "--db", db, "--out", out]
        // 5 candidates × 2 seeds = 10 cells; the coordinator exits (as if killed) after the 3rd.
        let first = try PBAProcess.start(all, environment: ["PBA_FAULT_EXIT_AFTER_RESULTS": "3"], log: dir + "/log1")
        XCTAssertEqual(PBAProcess.wait(first, seconds: 240, "first pba evaluate"), 99, (try? String(contentsOfFile: dir + "/log1", encoding: .utf8)) ?? "")
        let store = try Store(path: db)
        let kept = try store.database.read { try EvaluationCellRecord.fetchAll($0) }
        XCTAssertEqual(kept.count, 3)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/report.md"))

        let second = try PBAProcess.start(all, log: dir + "/log2")
        let log2Path = dir + "/log2"
        XCTAssertEqual(PBAProcess.wait(second, seconds: 240, "second pba evaluate"), 0, (try? String(contentsOfFile: log2Path, encoding: .utf8)) ?? "")
        let log2 = try String(contentsOfFile: log2Path, encoding: .utf8)
        XCTAssertTrue(log2.contains("10 cells; 3 already in"), log2)
        // Exactly the 7 missing cells were handed out the second time.
        XCTAssertEqual(log2.components(separatedBy: "\n").filter { $0.contains("[Coordinator] cell ") && $0.contains(" → ") }.count, 7, log2)
        let cells = try store.database.read { try EvaluationCellRecord.fetchAll($0) }
        XCTAssertEqual(cells.count, 10)
        for k in kept {
            let now = try XCTUnwrap(cells.first { $0.candidateKey == k.candidateKey && $0.seed == k.seed })
            XCTAssertEqual(now.finishedAt, k.finishedAt, "a finished cell was trained again")
            XCTAssertEqual(now.testAccuracy, k.testAccuracy)
        }

        // The report files parse back and agree with the store.
        let summary = try ReportCSV.parse(String(contentsOfFile: out + "/summary.csv", encoding: .utf8), file: "summary.csv")
        XCTAssertEqual(Set(summary.map { $0["candidate"]! }), ["tiny", "tiny:averaged", "tiny:reversed", "none", "cutout"])
        for row in summary {
            let stored = cells.filter { $0.candidateKey == row["key"] }.sorted { $0.seed < $1.seed }.map { 100 * (1 - $0.testAccuracy) }
            XCTAssertEqual(stored.count, 2, row["candidate"]!)
            let errors = row["errors"]!.split(separator: ";").map { Double($0)! }
            for (a, b) in zip(errors, stored) { XCTAssertEqual(a, b, accuracy: 1e-3) }
            XCTAssertEqual(Double(row["mean_error"]!)!, (stored[0] + stored[1]) / 2, accuracy: 1e-3)
        }
        let comparisons = try ReportCSV.parse(String(contentsOfFile: out + "/comparisons.csv", encoding: .utf8), file: "comparisons.csv")
        // The schedule against 2 baselines and its 2 ablations.
        XCTAssertEqual(comparisons.count, 4)
        for c in comparisons {
            XCTAssertEqual(c["candidate"], "tiny")
            let p = Double(c["p"]!)!, holm = Double(c["p_holm"]!)!
            XCTAssertGreaterThanOrEqual(holm, p)
            XCTAssertLessThanOrEqual(Double(c["ci_low"]!)!, Double(c["ci_high"]!)!)
        }
        let cellRows = try ReportCSV.parse(String(contentsOfFile: out + "/cells.csv", encoding: .utf8), file: "cells.csv")
        XCTAssertEqual(cellRows.count, 10)
        let markdown = try String(contentsOfFile: out + "/report.md", encoding: .utf8)
        XCTAssertTrue(markdown.contains("| tiny:reversed | reversed |"), markdown)
        XCTAssertTrue(markdown.contains("## Paired comparisons"))
        let svg = try String(contentsOfFile: out + "/chart.svg", encoding: .utf8)
        XCTAssertTrue(svg.hasPrefix("<svg") && svg.contains("tiny:averaged"))

        // A third run with one more baseline trains only that baseline's 2 cells.
        let third = try PBAProcess.start(all.map { $0 == "none,cutout" ? "none,cutout,base" : $0 }, log: dir + "/log3")
        XCTAssertEqual(PBAProcess.wait(third, seconds: 240, "third pba evaluate"), 0)
        let log3 = try String(contentsOfFile: dir + "/log3", encoding: .utf8)
        XCTAssertTrue(log3.contains("12 cells; 10 already in"), log3)
    }

    /// Explicit seeds and scoring on held-out training images: the report says so, names the
    /// seeds and the command that reproduces it.
    func testExplicitSeedsAndValidationScoring() throws {
        let dir = try PBAProcess.temporaryDirectory(self)
        let args = ["evaluate", "--train-size", "128", "--validation-size", "64", "--epochs", "1", "--seeds", "7,9", "--batch-size", "64",
                    "--baselines", "none,base", "--workers", "1", "--bootstrap-resamples", "200", "--schedule-cutout", "0",
                    "--db", dir + "/e.sqlite", "--out", dir + "/out"]
        let p = try PBAProcess.start(args, log: dir + "/log")
        XCTAssertEqual(PBAProcess.wait(p, seconds: 120, "pba evaluate"), 0, (try? String(contentsOfFile: dir + "/log", encoding: .utf8)) ?? "")
        let md = try String(contentsOfFile: dir + "/out/report.md", encoding: .utf8)
        XCTAssertTrue(md.contains("scored on 64 held-out **validation** images"), md)
        XCTAssertTrue(md.contains("- seeds: 7, 9 "), md)
        XCTAssertTrue(md.contains("Cutout 16; schedules and their ablations: Cutout none"), md)
        XCTAssertTrue(md.contains("- reproduce: `pba evaluate --train-size 128 --validation-size 64"), md)
        let cells = try ReportCSV.parse(String(contentsOfFile: dir + "/out/cells.csv", encoding: .utf8), file: "cells.csv")
        XCTAssertEqual(Set(cells.compactMap { $0["seed"] }), ["7", "9"])
        XCTAssertEqual(cells.count, 4)
    }

    /// An evaluation split across machines: the first part's cells.json, imported into a fresh
    /// store, counts as finished, only the new seed trains, and the report says what was
    /// imported; an archive of another setup or a broken one is refused by name.
    func testCellsJSONImportsIntoAFreshStore() throws {
        let dir = try PBAProcess.temporaryDirectory(self)
        func args(_ seeds: String, _ db: String, _ out: String, epochs: String = "1") -> [String] {
            ["evaluate", "--train-size", "128", "--validation-size", "64", "--epochs", epochs, "--seeds", seeds, "--batch-size", "64",
             "--baselines", "none,base", "--workers", "1", "--bootstrap-resamples", "200", "--db", dir + "/" + db, "--out", dir + "/" + out]
        }
        let first = try PBAProcess.start(args("1", "a.sqlite", "a"), log: dir + "/log1")
        XCTAssertEqual(PBAProcess.wait(first, seconds: 120, "first part"), 0, (try? String(contentsOfFile: dir + "/log1", encoding: .utf8)) ?? "")
        let archivePath = dir + "/a/cells.json"
        let archive = try CellArchive.read(try Data(contentsOf: URL(fileURLWithPath: archivePath)), source: archivePath)
        XCTAssertEqual(archive.cells.count, 2)
        XCTAssertTrue(archive.cells.allSatisfy { $0.predictions.count == 64 && ($0.worker ?? "").contains(" on ") }, "\(archive.cells.map(\.worker))")

        let second = try PBAProcess.start(args("1,2", "b.sqlite", "b") + ["--import-cells", archivePath], log: dir + "/log2")
        XCTAssertEqual(PBAProcess.wait(second, seconds: 120, "second part"), 0, (try? String(contentsOfFile: dir + "/log2", encoding: .utf8)) ?? "")
        let log2 = try String(contentsOfFile: dir + "/log2", encoding: .utf8)
        XCTAssertTrue(log2.contains("imported 2 cells from \(archivePath)"), log2)
        XCTAssertEqual(log2.components(separatedBy: "\n").filter { $0.contains("[Coordinator] cell ") && $0.contains(" → ") }.count, 2, log2)
        XCTAssertTrue(log2.components(separatedBy: "\n").filter { $0.contains("[Coordinator] cell ") }.allSatisfy { $0.contains("seed 2") }, log2)
        let md = try String(contentsOfFile: dir + "/b/report.md", encoding: .utf8)
        XCTAssertTrue(md.contains("- cells: 2 of 4 imported with --import-cells"), md)
        let cellsA = try ReportCSV.parse(String(contentsOfFile: dir + "/a/cells.csv", encoding: .utf8), file: "cells.csv")
        let cellsB = try ReportCSV.parse(String(contentsOfFile: dir + "/b/cells.csv", encoding: .utf8), file: "cells.csv")
        for row in cellsA {
            let same = try XCTUnwrap(cellsB.first { $0["key"] == row["key"] && $0["seed"] == row["seed"] })
            XCTAssertEqual(same["test_error"], row["test_error"])
        }
        let merged = try CellArchive.read(try Data(contentsOf: URL(fileURLWithPath: dir + "/b/cells.json")), source: "b")
        XCTAssertEqual(merged.cells.count, 4)

        // Another setup (2 epochs): refused, nothing trained.
        let other = try PBAProcess.start(args("1", "c.sqlite", "c", epochs: "2") + ["--import-cells", archivePath], log: dir + "/log3")
        XCTAssertNotEqual(PBAProcess.wait(other, seconds: 60, "other setup"), 0)
        let log3 = try String(contentsOfFile: dir + "/log3", encoding: .utf8)
        XCTAssertTrue(log3.contains("holds cells of another training setup"), log3)
        // A broken archive: the file and the place are named.
        var text = try String(contentsOfFile: archivePath, encoding: .utf8)
        text = text.replacingOccurrences(of: "\"testAccuracy\":", with: "\"testAccuracy\":7,\"x\":")
        try text.write(toFile: dir + "/broken.json", atomically: true, encoding: .utf8)
        let broken = try PBAProcess.start(args("1", "d.sqlite", "d") + ["--import-cells", dir + "/broken.json"], log: dir + "/log4")
        XCTAssertNotEqual(PBAProcess.wait(broken, seconds: 60, "broken archive"), 0)
        let log4 = try String(contentsOfFile: dir + "/log4", encoding: .utf8)
        XCTAssertTrue(log4.contains("broken.json: cells[0]") && log4.contains("testAccuracy 7.0 is not in 0...1"), log4)
    }

    func testBadInputIsRejectedWithAClearMessage() throws {
        let dir = try PBAProcess.temporaryDirectory(self)
        let broken = dir + "/broken.json"
        try "{\"format\": \"pba-schedule\"".write(toFile: broken, atomically: true, encoding: .utf8)
        let cases: [([String], String)] = [
            (["evaluate", "--baselines", "none,fancyaugment", "--db", dir + "/a.sqlite"], "unknown baseline 'fancyaugment'"),
            (["evaluate", "--schedule", broken, "--db", dir + "/a.sqlite"], broken),
            (["evaluate", "--schedule", dir + "/missing.json", "--db", dir + "/a.sqlite"], "cannot read"),
            (["evaluate", "--seeds", "0"], "--seeds"),
            (["evaluate", "--seeds", "9-3"], "runs backwards"),
            (["evaluate", "--seeds", "1,x"], "'x' is not a seed"),
            (["evaluate", "--validation-size", "100"], "--validation-size needs --train-size"),
            (["evaluate", "--schedule-cutout", "-1"], "--schedule-cutout"),
            (["evaluate", "--bind", "tcp://0.0.0.0:5999"], "--curve-key and --allow"),
        ]
        for (args, expected) in cases {
            let log = dir + "/log-\(UUID().uuidString)"
            let p = try PBAProcess.start(args, log: log)
            XCTAssertNotEqual(PBAProcess.wait(p, seconds: 30, args.joined(separator: " ")), 0)
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            XCTAssertTrue(text.contains(expected), "\(args): expected '\(expected)' in: \(text)")
        }
    }
}
