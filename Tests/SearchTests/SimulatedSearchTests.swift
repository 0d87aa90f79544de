import Augment
import Search
import Tensor
import XCTest

final class SimulatedSearchTests: XCTestCase {
    func configuration(seed: UInt64, mode: SearchConfiguration.Mode = .asynchronous, exploit: Bool = true,
                       population: Int = 16, epochs: Int = 30) -> SearchConfiguration {
        SearchConfiguration(populationSize: population, epochs: epochs, perturbationInterval: 3,
                            initialPolicy: .sampled, mode: mode, exploitAndExplore: exploit, seed: seed)
    }

    /// Over 20 seeds, PBT's best member was trained with a better policy history than the best
    /// member of the same population (same sampled initial policies) without exploit/explore.
    func testPBTBeatsSamePopulationWithoutExploitAndExplore() throws {
        let trainer = FakeTrainer.standard()
        var wins = 0
        var margins: [Double] = []
        for seed in UInt64(1)...20 {
            func best(exploit: Bool) throws -> Double {
                var run = try SimulatedRun(configuration: configuration(seed: seed, exploit: exploit), trainer: trainer)
                var timing = SeededGenerator(seed: seed &+ 1000)
                run.run(workers: 4, timing: &timing)
                let outcome = try XCTUnwrap(run.search.outcome)
                XCTAssertEqual(outcome.lineage.epochPolicies.count, 30)
                return trainer.trueAccuracy(history: outcome.lineage.epochPolicies)
            }
            let pbt = try best(exploit: true)
            let fixed = try best(exploit: false)
            margins.append(pbt - fixed)
            if pbt > fixed { wins += 1 }
        }
        XCTAssertGreaterThanOrEqual(wins, 16, "PBT won \(wins) of 20; margins \(margins)")
    }

    /// Without exploit/explore nothing is ever copied and every member keeps its policy.
    func testSwitchedOffSearchNeverPerturbs() throws {
        var run = try SimulatedRun(configuration: configuration(seed: 3, exploit: false), trainer: .standard())
        var timing = SeededGenerator(seed: 1)
        run.run(workers: 3, timing: &timing)
        XCTAssertTrue(run.search.perturbations.isEmpty)
        XCTAssertTrue(run.search.members.allSatisfy { Set($0.lineage.epochPolicies).count == 1 })
    }

    /// The search's lineage of every member equals the history of the weights the (simulated)
    /// workers actually trained, tracked independently through checkpoints.
    func testLineageMatchesTrainedHistory() throws {
        var run = try SimulatedRun(configuration: configuration(seed: 5), trainer: .standard())
        var timing = SeededGenerator(seed: 2)
        run.run(workers: 5, timing: &timing)
        let outcome = try XCTUnwrap(run.search.outcome)
        XCTAssertFalse(run.search.perturbations.isEmpty)
        for member in run.search.members {
            XCTAssertEqual(member.lineage.epochPolicies, run.history(of: member.checkpoint), "member \(member.index)")
        }
        let best = run.search.members[outcome.bestMember]
        XCTAssertEqual(outcome.validationAccuracy, best.latestAccuracy)
        XCTAssertEqual(outcome.validationAccuracy, run.search.members.compactMap(\.latestAccuracy).max())
        // Lineage chain: every perturbation's target is the next one's source; the last's
        // target is the best member.
        let chain = outcome.lineage.perturbations
        for (a, b) in zip(chain, chain.dropFirst()) {
            XCTAssertEqual(a.target, b.source)
            XCTAssertLessThanOrEqual(a.sourceEpoch, b.sourceEpoch)
        }
        if let last = chain.last { XCTAssertEqual(last.target, outcome.bestMember) }
        // Segments break exactly at the perturbations' source epochs.
        XCTAssertEqual(outcome.lineage.segments.dropFirst().map(\.startEpoch), chain.map(\.sourceEpoch))
        XCTAssertEqual(outcome.lineage.segments.dropFirst().map(\.policy), chain.map(\.newPolicy))
    }

    /// An asynchronous search somewhere copies a member that is behind its target.
    func testAsynchronousSearchCopiesMembersBehind() throws {
        var behind = 0
        for seed in UInt64(1)...5 {
            var run = try SimulatedRun(configuration: configuration(seed: seed), trainer: .standard())
            var timing = SeededGenerator(seed: seed)
            run.run(workers: 6, timing: &timing)
            behind += run.search.perturbations.filter { $0.sourceEpoch < $0.targetEpoch }.count
            XCTAssertNotNil(run.search.outcome)
        }
        XCTAssertGreaterThan(behind, 0)
    }

    /// Synchronous mode with deterministic training: the same schedule and perturbations
    /// whatever the number of workers and the order results arrive in.
    func testSynchronousSearchIsDeterministic() throws {
        var outcomes: [SearchOutcome] = []
        var logs: [[PerturbationRecord]] = []
        for (workers, timingSeed) in [(1, 1), (4, 2), (16, 3), (7, 4)] as [(Int, UInt64)] {
            var run = try SimulatedRun(configuration: configuration(seed: 8, mode: .synchronous), trainer: .standard())
            run.deterministicNoise = true
            var timing = SeededGenerator(seed: timingSeed)
            run.run(workers: workers, timing: &timing)
            outcomes.append(try XCTUnwrap(run.search.outcome))
            logs.append(run.search.perturbations)
            for p in run.search.perturbations {
                XCTAssertEqual(p.sourceEpoch, p.targetEpoch, "synchronous decisions happen at one boundary")
            }
        }
        XCTAssertFalse(logs[0].isEmpty)
        for i in 1..<outcomes.count {
            XCTAssertEqual(outcomes[i], outcomes[0])
            XCTAssertEqual(logs[i], logs[0])
        }
        // A different seed gives a different search.
        var other = try SimulatedRun(configuration: configuration(seed: 9, mode: .synchronous), trainer: .standard())
        other.deterministicNoise = true
        var timing = SeededGenerator(seed: 1)
        other.run(workers: 4, timing: &timing)
        XCTAssertNotEqual(other.search.perturbations, logs[0])
    }

    /// Replaying any prefix of the recorded events rebuilds exactly the state reached live,
    /// including lost assignments, duplicated results and restarts.
    func testReplayOfEveryPrefixGivesTheSameState() throws {
        for mode in [SearchConfiguration.Mode.asynchronous, .synchronous] {
            let config = configuration(seed: 21, mode: mode, population: 8, epochs: 12)
            var run = try SimulatedRun(configuration: config, trainer: .standard(), recordStates: true)
            var timing = SeededGenerator(seed: 4)
            run.run(workers: 3, timing: &timing, faults: 77)
            XCTAssertNotNil(run.search.outcome)
            XCTAssertTrue(run.events.contains { if case .assignmentLost = $0 { return true } else { return false } })
            var ignored = 0
            for a in run.actions.joined() { if case .ignoreResult = a { ignored += 1 } }
            XCTAssertGreaterThan(ignored, 0, "the faults duplicated some results")
            for k in 1...run.events.count {
                let rebuilt = try PopulationSearch.replay(configuration: config, events: run.events[..<k])
                XCTAssertEqual(rebuilt, run.states[k - 1], "\(mode) prefix \(k)")
                if rebuilt != run.states[k - 1] { break }
            }
        }
    }

    /// A crash at any point: rebuild from the stored prefix, resume (in-flight work is given
    /// up) and continue; the search completes, every result counted once.
    func testCrashReplayResumeCompletes() throws {
        let config = configuration(seed: 13, population: 8, epochs: 12)
        var full = try SimulatedRun(configuration: config, trainer: .standard())
        var timing = SeededGenerator(seed: 6)
        full.run(workers: 3, timing: &timing)
        var crashPoints = SeededGenerator(seed: 99)
        for _ in 0..<10 {
            let k = 1 + crashPoints.nextInt(below: full.events.count - 1)
            var resumed = try SimulatedRun(configuration: config, trainer: .standard())
            resumed.search = try PopulationSearch.replay(configuration: config, events: full.events[..<k])
            resumed.events = Array(full.events[..<k])
            // The workers' checkpoints written before the crash survive (they are in the store).
            resumed.histories = full.histories.filter { id, _ in
                resumed.search.assignments.indices.contains(Int(id.rawValue) - 1)
                    && resumed.search.assignments[Int(id.rawValue) - 1].status != .inFlight
                    && resumed.search.assignments[Int(id.rawValue) - 1].status != .lost
            }
            resumed.send(.resumed)
            XCTAssertFalse(resumed.search.assignments.contains { $0.status == .inFlight })
            var t = SeededGenerator(seed: UInt64(k))
            resumed.run(workers: 3, timing: &t)
            let outcome = try XCTUnwrap(resumed.search.outcome, "crash at event \(k)")
            XCTAssertEqual(outcome.lineage.epochPolicies.count, 12)
            // Every member trained exactly its epochs along its lineage; finished results
            // are unique per assignment.
            let finished = resumed.search.assignments.filter { if case .finished = $0.status { return true } else { return false } }
            XCTAssertEqual(Set(finished.map(\.assignment.id)).count, finished.count)
            for member in resumed.search.members {
                XCTAssertEqual(member.lineage.epochPolicies, resumed.history(of: member.checkpoint))
            }
        }
    }
}
