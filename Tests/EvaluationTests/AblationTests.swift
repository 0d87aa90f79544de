import XCTest
import Augment
import Schedule
@testable import Evaluation

final class AblationTests: XCTestCase {
    let context = ScheduleContext(dataset: DatasetDescription(name: "test"), model: ModelDescription(name: "test"))

    /// Learned over 10 epochs: 5 epochs of all-2 values, then 5 of all-5.
    func twoSegments() -> AugmentationSchedule {
        AugmentationSchedule(operations: .pba, learnedEpochs: 10, segments: [
            ScheduleSegment(startEpoch: 0, endEpoch: 5, policy: [Int](repeating: 2, count: 60)),
            ScheduleSegment(startEpoch: 5, endEpoch: 10, policy: [Int](repeating: 5, count: 60)),
        ], context: context)
    }

    func testTimeAverageRoundsHalfUpOverTheEvaluatedEpochs() throws {
        let averaged = try ScheduleAblation.timeAveraged(twoSegments(), epochs: 10)
        XCTAssertEqual(averaged.segments.count, 1)
        // (5·2 + 5·5) / 10 = 3.5 → 4.
        XCTAssertEqual(averaged.segments[0].policy, [Int](repeating: 4, count: 60))
        XCTAssertEqual(averaged.learnedEpochs, 10)
        XCTAssertNoThrow(try averaged.validate())
        // Stretched to 4 epochs first: 2 + 2 epochs → (2·2 + 2·5) / 4 = 3.5 → 4; to 3: int(1.5) = 1 of
        // the first, then 2 of the last → (2 + 10) / 3 = 4.
        XCTAssertEqual(try ScheduleAblation.timeAveraged(twoSegments(), epochs: 3).segments[0].policy[0], 4)
    }

    func testReversedPlaysTheSameEpochsBackwards() throws {
        let s = twoSegments()
        let reversed = try ScheduleAblation.reversed(s, epochs: 20)
        let forward = try s.epochPolicies(epochs: 20).map(\.values)
        let backward = try reversed.epochPolicies(epochs: 20).map(\.values)
        XCTAssertEqual(backward, forward.reversed())
        XCTAssertEqual(reversed.segments.map(\.epochCount), [10, 10])
        XCTAssertEqual(reversed.segments[0].policy.first, 5)
        XCTAssertNoThrow(try reversed.validate())
    }

    func testCandidateKeysFollowWhatIsTrained() throws {
        let s = twoSegments()
        let candidates = try Candidate.withAblations(s, name: "s", epochs: 10, ablations: true)
        XCTAssertEqual(candidates.map(\.name), ["s", "s:averaged", "s:reversed"])
        XCTAssertEqual(candidates.map(\.kind), [.schedule, .timeAveraged, .reversed])
        XCTAssertEqual(Set(candidates.map(\.key)).count, 3)
        XCTAssertEqual(candidates[1].source, "s")
        // Same schedule under another name and provenance: same key. Another epoch count: another key.
        var renamed = s
        renamed.provenance.commandLine = ["elsewhere"]
        XCTAssertEqual(try Candidate.schedule(renamed, name: "t", epochs: 10).key, candidates[0].key)
        XCTAssertNotEqual(try Candidate.schedule(s, name: "s", epochs: 12).key, candidates[0].key)
        // A one-segment schedule and its time average train the same thing.
        let flat = AugmentationSchedule(operations: .pba, learnedEpochs: 4,
                                        segments: [ScheduleSegment(startEpoch: 0, endEpoch: 4, policy: [Int](repeating: 3, count: 60))], context: context)
        let pair = try Candidate.withAblations(flat, name: "f", epochs: 8, ablations: true)
        XCTAssertEqual(pair[0].key, pair[1].key)
        XCTAssertEqual(Candidate.baseline(.cutout).key, "baseline:cutout")
    }
}
