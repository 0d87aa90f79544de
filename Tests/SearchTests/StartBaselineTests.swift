import Augment
import Foundation
import Search
import XCTest

/// Start baselines: the zero members of a mixed or zero start train every free baseline named
/// (each on its own foundation), copies inherit the foundation, explore keeps it, and the
/// verdict names the baseline that won.
final class StartBaselineTests: XCTestCase {
    static let all = ["base", "autoaugment", "trivialaugment", "randaugment"]

    func search(population: Int = 8, epochs: Int = 6, initial: SearchConfiguration.InitialPolicy = .mixed,
                baselines: [String] = all, controls: Int = 0, mode: SearchConfiguration.Mode = .synchronous,
                explore: SearchConfiguration.ExploreAlgorithm = .pba) throws -> PopulationSearch {
        var s = try PopulationSearch(configuration: SearchConfiguration(
            populationSize: population, epochs: epochs, perturbationInterval: 3, explore: explore, initialPolicy: initial,
            mode: mode, controlMembers: controls, startBaselines: baselines, seed: 11))
        _ = s.start()
        return s
    }

    /// Every member reports once (synchronous); returns the actions.
    func interval(_ s: inout PopulationSearch, _ accuracy: (Int) -> Double) -> [SearchAction] {
        var handed: [Assignment] = []
        while case let .train(a)? = s.assignmentRequested().first { handed.append(a) }
        XCTAssertFalse(handed.isEmpty)
        var actions: [SearchAction] = []
        for a in handed {
            actions += s.assignmentFinished(IntervalResult(assignment: a.id, validationAccuracy: accuracy(a.member), trainLoss: 1))
        }
        return actions
    }

    func testMixedStartTrainsEveryBaselineOnItsOwnFoundation() throws {
        let s = try search()
        XCTAssertEqual(s.configuration.mixedZeroMembers, 4, "a quarter of 8 is 2, but four baselines need four members")
        XCTAssertEqual(s.members.prefix(4).map(\.policy.foundation), [nil, .autoAugment, .trivialAugment, .defaultRandAugment])
        XCTAssertTrue(s.members.prefix(4).allSatisfy(\.policy.isZero))
        XCTAssertTrue(s.members.dropFirst(4).allSatisfy { !$0.policy.isZero && $0.policy.foundation == nil },
                      "sampled members stay on the run's own base")
        // Assignments carry the member's foundation to the worker.
        var t = s
        let handed = t.assignmentRequested()
        guard case let .train(a)? = handed.first else { return XCTFail("no assignment") }
        XCTAssertEqual(a.policy, s.members[a.member].policy)
        // A zero start cycles through them; the default is base alone (old runs unchanged).
        let zero = try search(initial: .zero, baselines: ["base", "autoaugment"])
        XCTAssertEqual(zero.members.map(\.policy.foundation), [nil, .autoAugment, nil, .autoAugment, nil, .autoAugment, nil, .autoAugment])
        let plain = try search(initial: .zero, baselines: ["base"])
        XCTAssertTrue(plain.members.allSatisfy { $0.policy == Policy(zeroFor: .pba) })
        // The member count of a mixed start grows only when the baselines need it.
        XCTAssertEqual(try search(population: 16).configuration.mixedZeroMembers, 4)
        XCTAssertEqual(try search(population: 16, baselines: ["base"]).configuration.mixedZeroMembers, 4)
        XCTAssertEqual(try search(population: 4, baselines: ["base", "autoaugment", "trivialaugment"]).configuration.mixedZeroMembers, 3)
    }

    /// Member 1 (zero policy on AutoAugment) is best, member 0 (base) worst: member 0 copies it
    /// and trains on AutoAugment from then on, in its policy, its lineage and its perturbation.
    func testCopiesInheritTheFoundationAndExploreKeepsIt() throws {
        for explore in SearchConfiguration.ExploreAlgorithm.allCases {
            var s = try search(population: 4, epochs: 9, initial: .zero, baselines: ["base", "autoaugment"], explore: explore)
            let actions = interval(&s) { [0.1, 0.9, 0.5, 0.6][$0] }
            let copies = actions.compactMap { if case let .copyMember(c) = $0 { return c } else { return nil } }
            XCTAssertEqual(copies.map(\.target), [0], "\(explore)")
            XCTAssertEqual(copies.map(\.source), [1], "\(explore)")
            XCTAssertEqual(s.members[0].policy.foundation, .autoAugment, "\(explore): the copy inherits the foundation")
            let record = try XCTUnwrap(s.perturbations.first)
            XCTAssertEqual(record.sourcePolicy.foundation, .autoAugment)
            XCTAssertEqual(record.newPolicy.foundation, .autoAugment, "\(explore): explore keeps it")
            XCTAssertEqual(s.members[0].lineage.segments.map(\.policy.foundation), [.autoAugment, .autoAugment])
            _ = interval(&s) { [0.95, 0.9, 0.5, 0.6][$0] }
            _ = interval(&s) { [0.95, 0.9, 0.5, 0.6][$0] }
            let outcome = try XCTUnwrap(s.outcome)
            XCTAssertTrue(outcome.lineage.segments.filter { $0.epochCount > 0 }.allSatisfy { $0.policy.foundation == .autoAugment })
        }
    }

    func testPolicyFoundationIsValidated() throws {
        XCTAssertThrowsError(try Policy(values: Array(repeating: 0, count: 60), foundation: .cutout)) { error in
            XCTAssertTrue("\(error)".contains("'cutout' cannot be a policy's foundation"), "\(error)")
        }
        XCTAssertEqual(try Policy(values: Array(repeating: 0, count: 60), foundation: .autoAugment).foundation, .autoAugment)
        XCTAssertNil(Policy(zeroFor: .pba, foundation: .base).foundation, "base is the run's own: nil")
        XCTAssertNotEqual(Policy(zeroFor: .pba), Policy(zeroFor: .pba, foundation: .autoAugment), "another foundation is another policy")
        XCTAssertEqual(Policy(zeroFor: .pba, foundation: .trivialAugment).on(foundation: nil), Policy(zeroFor: .pba))
    }

    func testStartBaselinesAreValidatedAndStored() throws {
        func rejects(_ baselines: [String], initial: SearchConfiguration.InitialPolicy = .mixed, controls: Int = 0,
                     population: Int = 8, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertThrowsError(try SearchConfiguration(populationSize: population, initialPolicy: initial, controlMembers: controls,
                                                         startBaselines: baselines, seed: 1).validate(), file: file, line: line) { error in
                XCTAssertTrue("\(error)".contains(fragment), "\(error)", file: file, line: line)
            }
        }
        rejects([], "startBaselines")
        rejects(["base", "none"], "startBaselines[1]")
        rejects(["cutout"], "startBaselines[0]")
        rejects(["autoaugment", "AutoAugment"], "each baseline once")
        rejects(["base", "bogus"], "startBaselines[1]")
        rejects(Self.all, population: 3, "at most the population")
        rejects(["base", "autoaugment"], initial: .sampled, "sampled start")
        XCTAssertNoThrow(try SearchConfiguration(populationSize: 8, initialPolicy: .sampled, controlMembers: 2,
                                                 startBaselines: ["base", "autoaugment"], seed: 1).validate(),
                         "with a control per baseline a sampled start holds them all")
        XCTAssertNoThrow(try SearchConfiguration(populationSize: 4, initialPolicy: .mixed, startBaselines: ["base", "randaugment(1,5)"], seed: 1).validate())

        let old = try JSONDecoder().decode(SearchConfiguration.self, from: Data(#"{"seed": 3}"#.utf8))
        XCTAssertEqual(old.startBaselines, ["base"], "runs stored before start baselines replay unchanged")
        XCTAssertFalse(String(decoding: try JSONEncoder().encode(old), as: UTF8.self).contains("startBaselines"),
                       "the default is not written, so stored configurations keep their bytes")
        let new = SearchConfiguration(startBaselines: Self.all, seed: 4)
        XCTAssertEqual(try JSONDecoder().decode(SearchConfiguration.self, from: try JSONEncoder().encode(new)), new)
        XCTAssertNil(old.startSummary)
        XCTAssertEqual(new.startSummary, "zero members train base, autoaugment, trivialaugment, randaugment")
    }

    /// Member 1 (AutoAugment alone) wins and is never copied: the schedule is "empty" in the
    /// sense that matters, the winner is a free baseline, and the verdict names it.
    func testVerdictNamesTheBaselineThatWon() throws {
        var s = try search(population: 4, epochs: 3, initial: .mixed, baselines: ["base", "autoaugment"])
        _ = interval(&s) { [0.6, 0.9, 0.5, 0.7][$0] }
        let v = try XCTUnwrap(OutcomeVerdict(search: s))
        XCTAssertEqual(v.winner, 1)
        XCTAssertTrue(v.scheduleIsEmpty)
        XCTAssertEqual(v.winnerFoundation, .autoAugment)
        XCTAssertEqual(v.expectation, .no)
        let line = v.line(base: "pad 4 + crop, flip")
        XCTAssertTrue(line.contains("train with the autoaugment baseline and no schedule"), line)
        // A sampled member beating both: compared with the best baseline member (AutoAugment), named as such.
        var t = try search(population: 4, epochs: 3, initial: .mixed, baselines: ["base", "autoaugment"])
        _ = interval(&t) { [0.6, 0.7, 0.5, 0.95][$0] }
        let w = try XCTUnwrap(OutcomeVerdict(search: t))
        XCTAssertEqual(w.winner, 3)
        XCTAssertEqual(w.baselineMember, 1)
        XCTAssertEqual(w.baselineFoundation, .autoAugment)
        XCTAssertEqual(try XCTUnwrap(w.gap), 0.25, accuracy: 1e-12)
        XCTAssertTrue(w.line(base: "b").contains("ahead of the autoaugment baseline") || w.line(base: "b").contains("beat the autoaugment baseline"),
                      w.line(base: "b"))
    }

    /// A lineage of zero policies whose foundation changed is a schedule (AutoAugment, then
    /// base), not a baseline: neither "empty" nor the comparison member.
    func testACopyOverAnotherFoundationTakesTheSourcesFoundationAndLineage() throws {
        var s = try search(population: 4, epochs: 6, initial: .zero, baselines: ["base", "autoaugment"])
        // Member 1 (AutoAugment) is worst, so it copies base member 0.
        _ = interval(&s) { [0.8, 0.1, 0.5, 0.6][$0] }
        XCTAssertNil(s.members[1].policy.foundation, "member 1 copied base member 0")
        _ = interval(&s) { [0.5, 0.99, 0.4, 0.45][$0] }
        let v = try XCTUnwrap(OutcomeVerdict(search: s))
        XCTAssertEqual(v.winner, 1)
        let segments = try XCTUnwrap(s.outcome).lineage.segments.filter { $0.epochCount > 0 }
        XCTAssertEqual(segments.map(\.policy.foundation), [nil, nil], "member 1's weights came from member 0: base throughout")
        // Its own first interval (on AutoAugment) is not part of the lineage: the copied weights'.
        XCTAssertEqual(s.members[1].lineage.perturbations.count, 1)
        if s.members[1].lineage.segments.allSatisfy(\.policy.isZero) {
            // Explore can move a zero policy away from zero; only when it stayed zero is it a baseline.
            XCTAssertTrue(v.scheduleIsEmpty)
        }
    }
}
