import Foundation
import XCTest
@testable import Evaluation

/// The cells.json an evaluation is split across machines with: it reads back what was
/// written, and a bad file is refused with its name and the place that is wrong.
final class CellArchiveTests: XCTestCase {
    func cell(_ key: String, seed: UInt64, accuracy: Double = 0.5, predictions: [Int32] = [0, 1, 2, 1]) -> CellArchive.Cell {
        CellArchive.Cell(candidate: key, candidateKey: "baseline:" + key, seed: seed, testAccuracy: accuracy, trainLoss: 0.7,
                         seconds: 12.5, worker: "local-1-0 on Test CPU (family 1 model 2, AVX2)", pbaVersion: "0.1",
                         finishedAt: Date(timeIntervalSince1970: 1_800_000_000), predictions: predictions)
    }

    func testRoundTripsOneCellPerLine() throws {
        let archive = CellArchive(jobKey: "abc", cells: [cell("base", seed: 1), cell("none", seed: 1), cell("base", seed: 2)])
        let data = try archive.jsonData()
        XCTAssertEqual(try CellArchive.read(data, source: "a.json", expectedClasses: 3, heldOutImages: 4), archive)
        XCTAssertEqual(String(decoding: data, as: UTF8.self).split(separator: "\n").count, 3)
    }

    func testBadArchivesNameTheFileAndTheCell() throws {
        func error(_ archive: CellArchive, classes: Int? = 3, images: Int? = 4) throws -> String {
            do { _ = try CellArchive.read(try archive.jsonData(), source: "x.json", expectedClasses: classes, heldOutImages: images); return "no error" } catch {
                return "\(error)"
            }
        }
        XCTAssertEqual(try error(CellArchive(jobKey: "k", cells: [cell("base", seed: 1), cell("base", seed: 1)])),
                       "x.json: cells[1] (base seed 1): appears twice")
        XCTAssertEqual(try error(CellArchive(jobKey: "k", cells: [cell("base", seed: 1, accuracy: 1.5)])),
                       "x.json: cells[0] (base seed 1): testAccuracy 1.5 is not in 0...1")
        XCTAssertEqual(try error(CellArchive(jobKey: "k", cells: [cell("base", seed: 1)]), images: 5),
                       "x.json: cells[0] (base seed 1): has 4 predictions, this evaluation scores 5 images")
        XCTAssertEqual(try error(CellArchive(jobKey: "k", cells: [cell("base", seed: 3, predictions: [0, 1, 3, 0])])),
                       "x.json: cells[0] (base seed 3): prediction 3 is not a class of 0..<3")
        var wrong = CellArchive(jobKey: "k", cells: [])
        wrong.format = "pba-schedule"
        XCTAssertEqual(try error(wrong), "x.json: format is 'pba-schedule', expected 'pba-evaluation-cells'")
        wrong = CellArchive(jobKey: "k", cells: [])
        wrong.formatVersion = 9
        XCTAssertEqual(try error(wrong), "x.json: cell archive version 9 is not supported (this pba reads version 1)")
        XCTAssertThrowsError(try CellArchive.read(Data("{\"format\": 1".utf8), source: "y.json")) { e in
            XCTAssertEqual("\(e)", "y.json: not a cell archive: not valid JSON")
        }
        XCTAssertThrowsError(try CellArchive.read(Data(#"{"format": "pba-evaluation-cells", "formatVersion": 1, "cells": []}"#.utf8), source: "z.json")) { e in
            XCTAssertEqual("\(e)", "z.json: not a cell archive: missing key 'jobKey' at $")
        }
    }
}
