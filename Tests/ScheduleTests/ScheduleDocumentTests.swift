import Augment
import Foundation
import Schedule
import Search
import Tensor
import XCTest

final class ScheduleDocumentTests: XCTestCase {
    let cifarContext = ScheduleContext(
        dataset: DatasetDescription(name: "reduced-cifar10", trainingImages: 4000), model: ModelDescription(name: "wrn-40-2"),
        baseAugmentation: .pbaCIFAR10, provenance: ScheduleProvenance(importedFrom: "rcifar10_16_wrn.txt"))

    func importedCIFAR() throws -> (AugmentationSchedule, String) {
        let text = try publishedSchedule("rcifar10_16_wrn.txt")
        return (try AugmentationSchedule(importingLog: text, epochs: 200, context: cifarContext), text)
    }

    func testImportedScheduleHasSegmentsAndRoundTripsThroughJSON() throws {
        let (schedule, text) = try importedCIFAR()
        XCTAssertEqual(schedule.learnedEpochs, 200)
        XCTAssertEqual(schedule.segments.count, 17)
        XCTAssertEqual(schedule.segments.first?.startEpoch, 0)
        XCTAssertEqual(schedule.segments[1].startEpoch, 12)
        XCTAssertEqual(schedule.segments.last?.endEpoch, 200)
        XCTAssertEqual(schedule.operations.map(\.name), OperationSet.pba.names)
        XCTAssertEqual(schedule.policyLayout.integersPerPolicy, 60)
        XCTAssertNil(schedule.seed)
        let data = try schedule.jsonData()
        XCTAssertEqual(try schedule.jsonData(), data, "same schedule, same bytes")
        let decoded = try AugmentationSchedule.decode(jsonData: data)
        XCTAssertEqual(decoded, schedule)
        XCTAssertEqual(try decoded.jsonData(), data)
        // JSON → Ray/PBA log gives back the published file byte for byte.
        XCTAssertEqual(try decoded.policyLog().rendered(), text)
        // JSON → PBA form equals what PBA's parser derives from the file.
        XCTAssertEqual(try decoded.pbaSchedule(), try PBASchedule(lineage: try PolicyLog(parsing: text), epochs: 200))
        // Policies are one line each.
        let json = String(decoding: data, as: UTF8.self)
        XCTAssertTrue(json.contains("\"policy\" : [0, 3, 3, 7, 1, 9,"), String(json.prefix(400)))
    }

    func testSVHNImports() throws {
        let text = try publishedSchedule("rsvhn_16_wrn.txt")
        let schedule = try AugmentationSchedule(importingLog: text, epochs: 160, context: ScheduleContext(
            dataset: DatasetDescription(name: "reduced-svhn", trainingImages: 1000), model: ModelDescription(name: "wrn-40-2")))
        XCTAssertEqual(schedule.learnedEpochs, 160)
        XCTAssertEqual(try schedule.epochPolicies(epochs: 160).count, 160)
        XCTAssertEqual(try AugmentationSchedule.decode(jsonData: schedule.jsonData()).policyLog().rendered(), text)
    }

    func testExportedDocumentsMatchTheSchema() throws {
        let validator = SchemaValidator(root: try scheduleSchema())
        let (imported, _) = try importedCIFAR()
        let searched = try searchedSchedule(seed: 4)
        var noLineage = searched
        noLineage.lineage = nil
        for schedule in [imported, searched, noLineage] {
            let document = try LiteralParser.parse(String(decoding: try schedule.jsonData(), as: UTF8.self)).value
            XCTAssertEqual(validator.validate(document), [])
        }
        // The validator can fail: a missing key, a wrong type, an out-of-range integer.
        let document = try LiteralParser.parse(String(decoding: try imported.jsonData(), as: UTF8.self)).value
        guard case var .dictionary(entries) = document else { return XCTFail() }
        entries.removeAll { $0.key == "provenance" }
        let seedIndex = try XCTUnwrap(entries.firstIndex { $0.key == "seed" })
        entries[seedIndex].value = .string("7")
        let errors = validator.validate(.dictionary(entries))
        XCTAssertTrue(errors.contains("$: missing required key 'provenance'"), "\(errors)")
        XCTAssertTrue(errors.contains { $0.hasPrefix("$.seed: expected") }, "\(errors)")
        var bad = imported
        bad.segments[2].policy[5] = 11
        let badDocument = try LiteralParser.parse(String(decoding: try JSONEncoder().encode(bad), as: UTF8.self)).value
        XCTAssertTrue(validator.validate(badDocument).contains("$.segments[2].policy[5]: 11.0 > maximum 10.0"),
                      "\(validator.validate(badDocument))")
    }

    func testInvalidDocumentsNameThePath() throws {
        let (schedule, _) = try importedCIFAR()
        func decodeError(_ edit: (inout AugmentationSchedule) -> Void) throws -> String {
            var s = schedule
            edit(&s)
            let data = try JSONEncoder().encode(s)
            do {
                _ = try AugmentationSchedule.decode(jsonData: data)
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        XCTAssertEqual(try decodeError { $0.segments[2].policy[5] = 10 },
                       "schedule field segments[2].policy[5]: policy integer 5 (TranslateY.pair1.magnitude) is 10, allowed 0...9")
        XCTAssertEqual(try decodeError { $0.formatVersion = 3 },
                       "schedule format version 3 is not supported (this pba reads versions 1...2)")
        XCTAssertEqual(try decodeError { $0.baseAugmentation.foundation = "cutout" },
                       "schedule field baseAugmentation.foundation: 'cutout' cannot be a foundation: it is a base augmentation (set it with --padding, --flip and --cutout); a foundation is one of randaugment, trivialaugment, autoaugment, randaugment(N,M)")
        XCTAssertEqual(try decodeError { $0.format = "x" }, "schedule field format: is 'x', expected 'pba-schedule'")
        // Operation names are checked against what will apply them (the document itself may
        // name operations of another registry).
        var unknown = schedule
        unknown.operations[4].name = "Colour"
        XCTAssertNoThrow(try unknown.validate())
        XCTAssertThrowsError(try unknown.validateOperations()) { error in
            XCTAssertTrue("\(error)".hasPrefix("schedule field operations[4].name: unknown operation 'Colour'"), "\(error)")
        }
        XCTAssertNoThrow(try schedule.validateOperations())
        XCTAssertEqual(try decodeError { $0.segments[3].startEpoch += 1 },
                       "schedule field segments[3].startEpoch: is 55, expected 54 (segments must be contiguous from 0)")
        XCTAssertEqual(try decodeError { $0.learnedEpochs = 150 },
                       "schedule field segments[16].endEpoch: is 200, expected learnedEpochs 150")
        XCTAssertEqual(try decodeError { $0.segments[0].policy.removeLast() },
                       "schedule field segments[0].policy: policy has 59 integers, expected 60 (4 per operation)")
        XCTAssertTrue(try decodeError { $0.lineage!.perturbations[3].newPolicy[0] = 12 }
            .hasPrefix("schedule field lineage.perturbations[3].newPolicy[0]"))
        let missing = Data(#"{"format": "pba-schedule", "formatVersion": 1}"#.utf8)
        XCTAssertThrowsError(try AugmentationSchedule.decode(jsonData: missing)) { error in
            XCTAssertEqual("\(error)", "schedule field operations: is missing")
        }
        let wrongType = String(decoding: try schedule.jsonData(), as: UTF8.self)
            .replacingOccurrences(of: "\"learnedEpochs\" : 200", with: "\"learnedEpochs\" : \"200\"")
        XCTAssertThrowsError(try AugmentationSchedule.decode(jsonData: Data(wrongType.utf8))) { error in
            XCTAssertTrue("\(error)".hasPrefix("schedule field learnedEpochs: expected Int"), "\(error)")
        }
    }

    /// A schedule with a foundation is written as version 2 (readers of version 1 refuse it
    /// instead of training without it), one without stays version 1; both match the schema,
    /// round-trip, and the foundation reaches every epoch's augmentation.
    func testFoundationNeedsVersionTwoAndReachesTheAugmentation() throws {
        let validator = SchemaValidator(root: try scheduleSchema())
        let plain = try searchedSchedule(seed: 4)
        var stacked = plain
        stacked.baseAugmentation.foundation = "autoaugment"
        stacked.formatVersion = 2
        for (schedule, version) in [(plain, 1), (stacked, 2)] {
            let text = String(decoding: try schedule.jsonData(), as: UTF8.self)
            XCTAssertTrue(text.contains("\"formatVersion\" : \(version),"), "version \(version)")
            XCTAssertEqual(text.contains("\"foundation\""), version == 2)
            XCTAssertEqual(validator.validate(try LiteralParser.parse(text).value), [])
            let decoded = try AugmentationSchedule.decode(jsonData: Data(text.utf8))
            XCTAssertEqual(decoded.baseAugmentation.foundation, schedule.baseAugmentation.foundation)
            XCTAssertEqual(decoded, schedule)
        }
        let downgraded = String(decoding: try stacked.jsonData(), as: UTF8.self)
            .replacingOccurrences(of: "\"formatVersion\" : 2", with: "\"formatVersion\" : 1")
        XCTAssertThrowsError(try AugmentationSchedule.decode(jsonData: Data(downgraded.utf8))) { error in
            XCTAssertTrue("\(error)".hasPrefix("schedule field baseAugmentation.foundation: needs formatVersion 2"), "\(error)")
        }
        let perEpoch = try stacked.perEpochAugmentation(epochs: 10, base: Augment.BaseAugmentation())
        for epoch in [0, 9] {
            guard case .autoAugment? = perEpoch(epoch).foundation else { return XCTFail("epoch \(epoch): no foundation") }
        }
        XCTAssertNil(try plain.perEpochAugmentation(epochs: 10, base: Augment.BaseAugmentation())(0).foundation)
    }

    /// A search whose zero members trained their own baselines, won by the AutoAugment member
    /// (never copied) or by a member that copied it: the schedule carries AutoAugment as its
    /// foundation (version 2), the search block names the start baselines, the schema accepts
    /// it, and training with it applies AutoAugment before every epoch's policy.
    func testScheduleOfAMemberOnItsOwnFoundationRecordsIt() throws {
        let validator = SchemaValidator(root: try scheduleSchema())
        let configuration = SearchConfiguration(populationSize: 4, epochs: 6, perturbationInterval: 3, initialPolicy: .zero,
                                                mode: .synchronous, startBaselines: ["base", "autoaugment"], seed: 2)
        var search = try PopulationSearch(configuration: configuration)
        _ = search.start()
        for round in 0..<2 {
            var batch: [Assignment] = []
            while case let .train(a)? = search.assignmentRequested().first { batch.append(a) }
            for a in batch {
                // Members on AutoAugment (1 and 3) do best; member 0 copies one of them after round 0.
                let accuracy = a.policy.foundation == .autoAugment ? 0.8 + 0.01 * Double(a.member) : 0.5 - 0.01 * Double(a.member + round)
                _ = search.assignmentFinished(IntervalResult(assignment: a.id, validationAccuracy: accuracy, trainLoss: 1))
            }
        }
        let outcome = try XCTUnwrap(search.outcome)
        XCTAssertEqual(outcome.lineage.segments.first?.policy.foundation, .autoAugment)
        let schedule = AugmentationSchedule(outcome: outcome, configuration: configuration, context: ScheduleContext(
            dataset: DatasetDescription(name: "fake"), model: ModelDescription(name: "fake"),
            provenance: ScheduleProvenance(commandLine: ["pba", "search"], pbaVersion: "0.1", runID: "r1", threads: 2)))
        XCTAssertEqual(schedule.baseAugmentation.foundation, "autoaugment")
        XCTAssertEqual(schedule.formatVersion, 2)
        XCTAssertEqual(schedule.search?.startBaselines, ["base", "autoaugment"])
        let text = String(decoding: try schedule.jsonData(), as: UTF8.self)
        XCTAssertTrue(text.contains("\"startBaselines\""))
        XCTAssertEqual(validator.validate(try LiteralParser.parse(text).value), [])
        let decoded = try AugmentationSchedule.decode(jsonData: Data(text.utf8))
        XCTAssertEqual(decoded, schedule)
        guard case .autoAugment? = try decoded.perEpochAugmentation(epochs: 6, base: Augment.BaseAugmentation())(5).foundation else {
            return XCTFail("training with the schedule must apply its foundation")
        }
        // A winner on the run's own base gives a schedule without one, as before.
        let plain = try searchedSchedule(seed: 4)
        XCTAssertNil(plain.baseAugmentation.foundation)
        XCTAssertFalse(String(decoding: try plain.jsonData(), as: UTF8.self).contains("startBaselines"))
    }

    /// A synchronous search with a deterministic fake trainer whose validation accuracy rises
    /// with the policy's total magnitude; returns its schedule.
    func searchedSchedule(seed: UInt64, epochs: Int = 24) throws -> AugmentationSchedule {
        let configuration = SearchConfiguration(populationSize: 8, epochs: epochs, perturbationInterval: 3,
                                                mode: .synchronous, seed: seed)
        var search = try PopulationSearch(configuration: configuration)
        _ = search.start()
        var noise = SeededGenerator(seed: seed)
        for _ in 0..<10_000 where search.outcome == nil {
            var batch: [Assignment] = []
            while case let .train(a)? = search.assignmentRequested().first { batch.append(a) }
            for a in batch {
                let strength = Double(a.policy.values.reduce(0, +)) / 600
                let accuracy = 0.5 + 0.3 * strength + 0.02 * noise.nextGaussian()
                _ = search.assignmentFinished(IntervalResult(assignment: a.id, validationAccuracy: accuracy, trainLoss: 1))
            }
        }
        let outcome = try XCTUnwrap(search.outcome)
        return AugmentationSchedule(outcome: outcome, configuration: configuration, context: ScheduleContext(
            dataset: DatasetDescription(name: "fake"), model: ModelDescription(name: "fake"),
            provenance: ScheduleProvenance(commandLine: ["pba", "search"], pbaVersion: "0.1", runID: "r1", threads: 2)))
    }

    /// A searched schedule's lineage log, read the way PBA reads a lineage log, gives back the
    /// schedule's own segments; the document round-trips.
    func testSearchedScheduleLineageAgreesWithPBAParser() throws {
        var checked = 0
        for seed in UInt64(1)...6 {
            let schedule = try searchedSchedule(seed: seed)
            XCTAssertEqual(schedule.seed, seed)
            XCTAssertEqual(schedule.search?.populationSize, 8)
            XCTAssertNotNil(schedule.provenance.finalValidationAccuracy)
            XCTAssertEqual(try AugmentationSchedule.decode(jsonData: schedule.jsonData()), schedule)
            let log = try schedule.policyLog()
            guard !log.entries.isEmpty else { continue }
            checked += 1
            let reparsed = try PBASchedule(lineage: try PolicyLog(parsing: log.rendered()), epochs: 24)
            XCTAssertEqual(reparsed, try schedule.pbaSchedule(), "seed \(seed)")
            XCTAssertEqual(try PolicyLog(parsing: log.rendered()).entries.first?.targetTag, log.entries.first?.targetTag)
        }
        XCTAssertGreaterThan(checked, 3)
    }

    func testSameSeedSameBytes() throws {
        XCTAssertEqual(try searchedSchedule(seed: 3).jsonData(), try searchedSchedule(seed: 3).jsonData())
        XCTAssertNotEqual(try searchedSchedule(seed: 3).jsonData(), try searchedSchedule(seed: 5).jsonData())
    }
}
