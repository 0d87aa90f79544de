import Augment
import Search
import Tensor
import XCTest

final class PopulationSearchTests: XCTestCase {
    func makeSearch(population: Int = 4, epochs: Int = 9, mode: SearchConfiguration.Mode = .asynchronous,
                    seed: UInt64 = 11) throws -> PopulationSearch {
        try PopulationSearch(configuration: SearchConfiguration(
            populationSize: population, epochs: epochs, perturbationInterval: 3, mode: mode, seed: seed))
    }

    func train(_ actions: [SearchAction], file: StaticString = #filePath, line: UInt = #line) -> Assignment? {
        guard actions.count == 1, case let .train(a) = actions[0] else {
            XCTFail("expected one train action, got \(actions)", file: file, line: line)
            return nil
        }
        return a
    }

    func result(_ a: Assignment, _ accuracy: Double) -> IntervalResult {
        IntervalResult(assignment: a.id, validationAccuracy: accuracy, trainLoss: 1 - accuracy)
    }

    func testStartCreatesPopulationWithPBADefaults() throws {
        var search = try PopulationSearch(configuration: SearchConfiguration(seed: 1))
        XCTAssertEqual(search.configuration.populationSize, 16)
        XCTAssertEqual(search.configuration.perturbationInterval, 3)
        XCTAssertEqual(search.configuration.quantileFraction, 0.25)
        XCTAssertEqual(search.configuration.exploration, ExplorationRules(resampleProbability: 0.2, shiftAmounts: [0, 1, 2, 3]))
        let actions = search.start()
        XCTAssertEqual(actions.count, 16)
        var weightSeeds = Set<UInt64>()
        for (m, action) in actions.enumerated() {
            guard case let .initializeMember(i) = action, case let .initial(member, seed) = i.checkpoint else {
                return XCTFail("\(action)")
            }
            XCTAssertEqual(i.member, m)
            XCTAssertEqual(member, m)
            XCTAssertEqual(i.policy, Policy(zeroFor: .pba))
            weightSeeds.insert(seed)
        }
        XCTAssertEqual(weightSeeds.count, 16)
        XCTAssertEqual(search.start(), [], "starting twice does nothing")
    }

    func testSampledInitialPoliciesDifferPerMemberAndRepeatPerSeed() throws {
        func policies(seed: UInt64) throws -> [Policy] {
            var s = try PopulationSearch(configuration: SearchConfiguration(initialPolicy: .sampled, seed: seed))
            _ = s.start()
            return s.members.map(\.policy)
        }
        let a = try policies(seed: 1)
        XCTAssertEqual(Set(a).count, 16)
        XCTAssertEqual(a, try policies(seed: 1))
        XCTAssertNotEqual(a, try policies(seed: 2))
    }

    func testAssignmentsGoToFewestEpochsThenLowestIndex() throws {
        var search = try makeSearch()
        _ = search.start()
        let first = (0..<4).compactMap { _ in train(search.assignmentRequested()) }
        XCTAssertEqual(first.map(\.member), [0, 1, 2, 3])
        XCTAssertEqual(first.map(\.epochs), Array(repeating: 0..<3, count: 4))
        XCTAssertEqual(first.map(\.id.rawValue), [1, 2, 3, 4])
        XCTAssertEqual(search.assignmentRequested(), [], "every member is in flight")
        // Member 2 reports first (alone: no ranking yet), then gets the next interval.
        XCTAssertEqual(search.assignmentFinished(result(first[2], 0.5)), [])
        let next = try XCTUnwrap(train(search.assignmentRequested()))
        XCTAssertEqual(next.member, 2)
        XCTAssertEqual(next.epochs, 3..<6)
        XCTAssertEqual(next.checkpoint, .producedBy(first[2].id))
    }

    /// Population 4, quantile 0.25: with two ranked members, n = 1. The worse one copies the
    /// better one and explores with the draws of its own decision stream.
    func testAsynchronousExploitAndExplore() throws {
        var search = try makeSearch()
        _ = search.start()
        let a = (0..<4).compactMap { _ in train(search.assignmentRequested()) }
        XCTAssertEqual(search.assignmentFinished(result(a[0], 0.5)), [])
        let actions = search.assignmentFinished(result(a[1], 0.3))
        var random = SearchStreams.decision(seed: 11, member: 1, epoch: 3, perturbation: 0)
        XCTAssertEqual(random.nextInt(below: 1), 0)  // the choice among the one top member
        let explored = PolicyExploration.explore(Policy(zeroFor: .pba), rules: .pba, using: &random)
        XCTAssertNotEqual(explored, Policy(zeroFor: .pba))
        let record = PerturbationRecord(target: 1, source: 0, targetEpoch: 3, sourceEpoch: 3,
                                        sourcePolicy: Policy(zeroFor: .pba), newPolicy: explored)
        XCTAssertEqual(actions, [
            .copyMember(MemberCopy(source: 0, target: 1, checkpoint: .producedBy(a[0].id), sourceEpoch: 3)),
            .recordPerturbation(record),
        ])
        let member = search.members[1]
        XCTAssertEqual(member.policy, explored)
        XCTAssertEqual(member.checkpoint, .producedBy(a[0].id))
        XCTAssertEqual(member.perturbationCount, 1)
        XCTAssertEqual(member.latestAccuracy, 0.3, "keeps its own score until it reports again")
        XCTAssertEqual(member.lineage.perturbations, [record])
        XCTAssertEqual(member.lineage.segments.map(\.epochCount), [3, 0])
        XCTAssertEqual(search.perturbations, [record])
        // A better result does not copy.
        XCTAssertEqual(search.assignmentFinished(result(a[2], 0.9)), [])
    }

    /// A member that is ahead can copy one that is behind, and then re-trains epochs it has
    /// passed, with a training seed of its own (not the source's).
    func testTargetCanCopySourceBehindItAndIsReseeded() throws {
        var search = try makeSearch()
        _ = search.start()
        let a = (0..<4).compactMap { _ in train(search.assignmentRequested()) }
        _ = search.assignmentFinished(result(a[0], 0.9))
        _ = search.assignmentFinished(result(a[1], 0.8))  // member 1 copies member 0 at epoch 3
        let m0 = try XCTUnwrap(train(search.assignmentRequested()))
        XCTAssertEqual(m0.member, 0)
        XCTAssertEqual(m0.epochs, 3..<6)
        let actions = search.assignmentFinished(result(m0, 0.1))
        guard case let .recordPerturbation(record)? = actions.last else { return XCTFail("\(actions)") }
        XCTAssertEqual(record.target, 0)
        XCTAssertEqual(record.source, 1)
        XCTAssertEqual(record.targetEpoch, 6)
        XCTAssertEqual(record.sourceEpoch, 3)
        XCTAssertEqual(search.members[0].completedEpochs, 3)
        // Member 1 (epoch 3, checkpoint of member 0's first interval) and member 0 (back at
        // epoch 3, same checkpoint) now train the same epochs from the same weights.
        let next1 = try XCTUnwrap(train(search.assignmentRequested()))
        let next2 = try XCTUnwrap(train(search.assignmentRequested()))
        let byMember = Dictionary(uniqueKeysWithValues: [next1, next2].map { ($0.member, $0) })
        let retrain = try XCTUnwrap(byMember[0])
        let source = try XCTUnwrap(byMember[1])
        XCTAssertEqual(retrain.epochs, 3..<6)
        XCTAssertEqual(source.epochs, 3..<6)
        XCTAssertEqual(retrain.checkpoint, source.checkpoint)
        XCTAssertNotEqual(retrain.trainingSeed, source.trainingSeed)
        XCTAssertNotEqual(retrain.trainingSeed, m0.trainingSeed, "a re-trained epoch range gets a new seed")
        XCTAssertEqual(retrain.trainingSeed,
                       SearchStreams.trainingSeed(seed: 11, member: 0, epoch: 3, perturbation: 1))
        XCTAssertEqual(search.members[0].lineage.epochPolicies.count, 3)
    }

    func testResultsAreRecordedOnceByAssignmentID() throws {
        var search = try makeSearch()
        _ = search.start()
        let a = (0..<4).compactMap { _ in train(search.assignmentRequested()) }
        _ = search.assignmentFinished(result(a[0], 0.5))
        let before = search
        XCTAssertEqual(search.assignmentFinished(result(a[0], 0.5)), [.ignoreResult(a[0].id, .alreadyRecorded)])
        XCTAssertEqual(search.assignmentFinished(result(a[0], 0.7)), [.ignoreResult(a[0].id, .alreadyRecorded)])
        let unknown = AssignmentID(rawValue: 99)
        XCTAssertEqual(search.assignmentFinished(IntervalResult(assignment: unknown, validationAccuracy: 1, trainLoss: 0)),
                       [.ignoreResult(unknown, .unknownAssignment)])
        XCTAssertEqual(search.assignmentFinished(IntervalResult(assignment: AssignmentID(rawValue: 0), validationAccuracy: 1, trainLoss: 0)),
                       [.ignoreResult(AssignmentID(rawValue: 0), .unknownAssignment)])
        XCTAssertEqual(search, before, "ignored results change nothing")

        // Lost: the member is handed out again under a new id; the late result is ignored.
        XCTAssertEqual(search.assignmentLost(a[1].id), [])
        XCTAssertEqual(search.members[1].activity, .ready)
        let again = try XCTUnwrap(train(search.assignmentRequested()))
        XCTAssertEqual(again.member, 1)
        XCTAssertEqual(again.epochs, 0..<3)
        XCTAssertNotEqual(again.id, a[1].id)
        let beforeLate = search
        XCTAssertEqual(search.assignmentFinished(result(a[1], 0.99)), [.ignoreResult(a[1].id, .assignmentLost)])
        XCTAssertEqual(search, beforeLate)
        XCTAssertEqual(search.assignmentLost(a[0].id), [], "a finished assignment cannot be lost")
        XCTAssertEqual(search.members[0].activity, .ready)
        XCTAssertEqual(search.assignmentLost(again.id), [])
        XCTAssertEqual(search.assignmentLost(again.id), [], "losing twice is harmless")
    }

    func testResumeGivesUpAssignmentsInFlight() throws {
        var search = try makeSearch()
        _ = search.start()
        let a = (0..<3).compactMap { _ in train(search.assignmentRequested()) }
        _ = search.assignmentFinished(result(a[0], 0.5))
        _ = search.resume()
        XCTAssertEqual(search.assignments.map(\.status), [
            .finished(result(a[0], 0.5)), .lost, .lost,
        ])
        XCTAssertTrue(search.members.allSatisfy { $0.activity == .ready })
        let next = try XCTUnwrap(train(search.assignmentRequested()))
        XCTAssertEqual(next.member, 3, "fewest epochs, never assigned")
        XCTAssertEqual(next.id.rawValue, 4)
        let then = try XCTUnwrap(train(search.assignmentRequested()))
        XCTAssertEqual(then.member, 1, "fewest epochs, waited longest")
        XCTAssertEqual(then.epochs, 0..<3)
        XCTAssertEqual(search.assignmentFinished(result(a[2], 0.5)), [.ignoreResult(a[2].id, .assignmentLost)])
    }

    func testNaNAccuracyRanksLastAndKeepsStateComparable() throws {
        var search = try makeSearch()
        _ = search.start()
        let a = (0..<4).compactMap { _ in train(search.assignmentRequested()) }
        _ = search.assignmentFinished(result(a[0], 0.5))
        let actions = search.assignmentFinished(IntervalResult(assignment: a[1].id, validationAccuracy: .nan, trainLoss: .nan))
        XCTAssertEqual(search.members[1].latestAccuracy, -.infinity)
        XCTAssertEqual(search.members[1].latestTrainLoss, .infinity)
        XCTAssertEqual(actions.count, 2, "the diverged member copies")
        XCTAssertEqual(search, search)
    }

    func testSearchFinishesWithBestMemberAndLineage() throws {
        var search = try makeSearch(population: 2, epochs: 6)
        _ = search.start()
        var finish: [SearchAction] = []
        var accuracy = 0.1
        for _ in 0..<100 where search.outcome == nil {
            guard let a = train(search.assignmentRequested()) else { return }
            accuracy += 0.1
            finish = search.assignmentFinished(result(a, a.member == 1 ? accuracy : accuracy / 10))
        }
        let outcome = try XCTUnwrap(search.outcome)
        XCTAssertEqual(finish.last, .finish(outcome))
        XCTAssertEqual(outcome.bestMember, 1)
        XCTAssertEqual(outcome.epochs, 6)
        XCTAssertEqual(outcome.lineage.epochPolicies.count, 6)
        XCTAssertEqual(outcome.lineage, search.members[1].lineage)
        XCTAssertEqual(search.assignmentRequested(), [], "nothing left to do")
        XCTAssertTrue(search.members.allSatisfy { $0.activity == .finished })
    }

    func testSynchronousModeWaitsForTheWholeInterval() throws {
        var search = try makeSearch(mode: .synchronous)
        _ = search.start()
        let a = (0..<4).compactMap { _ in train(search.assignmentRequested()) }
        XCTAssertEqual(search.assignmentFinished(result(a[0], 0.9)), [])
        XCTAssertEqual(search.assignmentRequested(), [], "member 0 waits for the others")
        XCTAssertEqual(search.members[0].activity, .waitingForPopulation)
        XCTAssertEqual(search.assignmentFinished(result(a[1], 0.1)), [])
        XCTAssertEqual(search.assignmentFinished(result(a[2], 0.5)), [])
        let decisions = search.assignmentFinished(result(a[3], 0.6))
        // n = ceil(4 · 0.25) = 1: member 1 (worst) copies member 0 (best).
        guard decisions.count == 2, case let .recordPerturbation(record) = decisions[1] else {
            return XCTFail("\(decisions)")
        }
        XCTAssertEqual(record.target, 1)
        XCTAssertEqual(record.source, 0)
        XCTAssertTrue(search.members.allSatisfy { $0.activity == .ready && $0.completedEpochs == 3 })
    }

    func testConfigurationValidationNamesField() {
        XCTAssertThrowsError(try PopulationSearch(configuration: SearchConfiguration(populationSize: 0, seed: 1))) { error in
            XCTAssertEqual(error as? SearchError,
                           .invalidConfiguration(field: "populationSize", value: "0", expected: "at least 1"))
            XCTAssertTrue("\(error)".contains("populationSize"))
        }
        XCTAssertThrowsError(try PopulationSearch(configuration: SearchConfiguration(quantileFraction: 0.75, seed: 1)))
        XCTAssertThrowsError(try PopulationSearch(configuration: SearchConfiguration(
            exploration: ExplorationRules(resampleProbability: 0.2, shiftAmounts: [1, -1]), seed: 1))) { error in
            XCTAssertTrue("\(error)".contains("exploration.shiftAmounts[1]"), "\(error)")
        }
    }

    func testConfigurationDecodesWithPBADefaults() throws {
        let decoded = try JSONDecoder().decode(SearchConfiguration.self, from: Data(#"{"seed": 7, "mode": "synchronous"}"#.utf8))
        XCTAssertEqual(decoded, SearchConfiguration(mode: .synchronous, seed: 7))
        let round = try JSONDecoder().decode(SearchConfiguration.self, from: JSONEncoder().encode(decoded))
        XCTAssertEqual(round, decoded)
        XCTAssertThrowsError(try JSONDecoder().decode(SearchConfiguration.self, from: Data("{}".utf8)))
    }

    func testReplayRejectsEventsBeforeStart() {
        XCTAssertThrowsError(try PopulationSearch.replay(configuration: SearchConfiguration(seed: 1),
                                                         events: [.assignmentRequested])) { error in
            XCTAssertTrue("\(error)".contains("event 0"), "\(error)")
        }
    }
}

import Foundation
