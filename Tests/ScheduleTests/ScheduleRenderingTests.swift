import Augment
import Foundation
import Schedule
import XCTest

final class ScheduleRenderingTests: XCTestCase {
    let context = ScheduleContext(dataset: DatasetDescription(name: "toy"), model: ModelDescription(name: "tiny"))
    let ops = OperationSet(names: ["A<1>", "B"])

    /// Two operations; segment 1 uses A's first pair (p 5, m 3) and B's second pair (p 10, m 9).
    func toySchedule() throws -> AugmentationSchedule {
        let zero = Array(repeating: 0, count: 8)
        let active = [5, 3, 0, 0, 0, 0, 10, 9]
        return AugmentationSchedule(pba: PBASchedule(segments: [
            PBAScheduleSegment(epochs: 3, policy: try Policy(values: zero, operations: ops)),
            PBAScheduleSegment(epochs: 0, policy: try Policy(values: zero, operations: ops)),
            PBAScheduleSegment(epochs: 2, policy: try Policy(values: active, operations: ops)),
        ]), operations: ops, context: context)
    }

    func testTableListsApplicableTuplesPerRange() throws {
        XCTAssertEqual(try ScheduleRendering.table(try toySchedule()), """
        schedule: toy, tiny, learned over 5 epochs
        epochs 0-2 (3): no operation
        epochs (empty) (0): no operation
        epochs 3-4 (2): A<1> p=0.5 m=3, B p=1.0 m=9

        """)
    }

    func testSVGHasOneAreaPerOperationAndPanel() throws {
        let svg = try ScheduleRendering.svg(try toySchedule(), epochs: 10)
        XCTAssertTrue(svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\""))
        XCTAssertTrue(svg.hasSuffix("</svg>\n"))
        XCTAssertEqual(svg.components(separatedBy: "<polygon").count - 1, 4)
        XCTAssertEqual(svg.components(separatedBy: "data-op=\"A&lt;1&gt;\"").count - 1, 2)
        XCTAssertFalse(svg.contains("A<1>"), "names are escaped")
        XCTAssertTrue(svg.contains("over 10 epochs"))
        // Probability panel: totals 0 for epochs 0–5, then 1.5 (0.5 + 1.0): the max label says so.
        XCTAssertTrue(svg.contains("probability (sum of both pairs) (max 1.50)"), svg)
        XCTAssertTrue(svg.contains("magnitude (sum of both pairs) (max 12.00)"))
        XCTAssertThrowsError(try ScheduleRendering.svg(try toySchedule(), epochs: 0))
    }

    func testAnyInputKindReadsToTheSameSegments() throws {
        let schedule = try toySchedule()
        let json = String(decoding: try schedule.jsonData(), as: UTF8.self)
        let pbaForm = try schedule.pbaSchedule().rendered()
        let log = try schedule.policyLog().rendered()
        XCTAssertEqual(ScheduleFileKind.detect(json), .scheduleJSON)
        XCTAssertEqual(ScheduleFileKind.detect(pbaForm), .pbaSchedule)
        XCTAssertEqual(ScheduleFileKind.detect("\n" + log), .policyLog)
        for (text, epochs) in [(json, nil), (pbaForm, nil), (pbaForm, 5), (log, 5)] as [(String, Int?)] {
            let read = try AugmentationSchedule(reading: text, learnedEpochs: epochs, operations: ops, context: context)
            XCTAssertEqual(read.segments, schedule.segments)
            XCTAssertEqual(read.learnedEpochs, 5)
        }
        XCTAssertThrowsError(try AugmentationSchedule(reading: log, learnedEpochs: nil, operations: ops, context: context)) { error in
            XCTAssertTrue("\(error)".contains("epoch count"), "\(error)")
        }
        XCTAssertThrowsError(try AugmentationSchedule(reading: pbaForm, learnedEpochs: 7, operations: ops, context: context)) { error in
            XCTAssertTrue("\(error)".contains("sum to 5 epochs, not 7"), "\(error)")
        }
    }

    func testProbabilitiesPrintAsTenths() throws {
        let x = OperationSet(names: ["X"])
        let policy = try Policy(values: [1, 0, 0, 0], operations: x)
        let text = try ScheduleRendering.table(AugmentationSchedule(
            pba: PBASchedule(segments: [PBAScheduleSegment(epochs: 1, policy: policy)]), operations: x, context: context))
        XCTAssertEqual(text.split(separator: "\n").last, "epochs 0-0 (1): X p=0.1 m=0")
    }
}
