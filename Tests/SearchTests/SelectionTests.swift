import Augment
import Foundation
import Search
import XCTest

/// Mixed starts, noise-aware selection (margin, smoothed ranking), the ranking-noise maths and
/// the outcome verdict.
final class SelectionTests: XCTestCase {
    func search(population: Int = 4, epochs: Int = 6, initial: SearchConfiguration.InitialPolicy = .zero,
                selection: SelectionRules = .pba, mode: SearchConfiguration.Mode = .synchronous,
                controls: Int = 0) throws -> PopulationSearch {
        var s = try PopulationSearch(configuration: SearchConfiguration(
            populationSize: population, epochs: epochs, perturbationInterval: 3, selection: selection,
            initialPolicy: initial, mode: mode, controlMembers: controls, seed: 5))
        _ = s.start()
        return s
    }

    /// Per-image correctness with `correct` of `n` images right, the right ones first.
    func bits(_ correct: Int, of n: Int) -> CorrectnessBits { CorrectnessBits((0..<n).map { $0 < correct }) }

    /// Trains one synchronous interval: every member reports (accuracy, bits); returns the actions.
    func interval(_ s: inout PopulationSearch, _ results: [(Double, CorrectnessBits?)]) -> [SearchAction] {
        var assignments: [Assignment] = []
        while case let .train(a)? = s.assignmentRequested().first { assignments.append(a) }
        XCTAssertEqual(assignments.count, results.count)
        var actions: [SearchAction] = []
        for a in assignments {
            let (acc, b) = results[a.member]
            actions += s.assignmentFinished(IntervalResult(assignment: a.id, validationAccuracy: acc, trainLoss: 1, validationCorrect: b))
        }
        return actions
    }

    func copies(_ actions: [SearchAction]) -> [MemberCopy] {
        actions.compactMap { if case let .copyMember(c) = $0 { return c } else { return nil } }
    }

    func testMixedStartKeepsAQuarterAtTheZeroPolicy() throws {
        let s = try search(population: 16, initial: .mixed)
        XCTAssertEqual(s.configuration.mixedZeroMembers, 4)
        let zero = Policy(zeroFor: .pba)
        XCTAssertEqual(s.members.prefix(4).map(\.policy), Array(repeating: zero, count: 4))
        XCTAssertTrue(s.members.dropFirst(4).allSatisfy { $0.policy != zero })
        // The sampled members are those of a sampled start (same streams).
        let sampled = try search(population: 16, initial: .sampled)
        XCTAssertEqual(s.members.dropFirst(4).map(\.policy), sampled.members.dropFirst(4).map(\.policy))
        XCTAssertEqual(try search(population: 2, initial: .mixed).configuration.mixedZeroMembers, 1)
        XCTAssertEqual(try search(population: 5, initial: .mixed).configuration.mixedZeroMembers, 2)
    }

    /// Member 0 is worst, member 3 best; with 1 000 images a 1-point gap is under one paired
    /// standard error, a 20-point gap far above: the margin holds back only the first.
    func testMarginHoldsBackACopyWithinTheNoise() throws {
        let n = 1000
        // Bits with disjoint errors so the paired standard error is large for a small gap.
        func shifted(_ correct: Int, offset: Int) -> CorrectnessBits {
            CorrectnessBits((0..<n).map { (($0 + offset) % n) < correct })
        }
        let close: [(Double, CorrectnessBits?)] = [(0.60, shifted(600, offset: 0)), (0.605, shifted(605, offset: 300)),
                                                   (0.607, shifted(607, offset: 500)), (0.61, shifted(610, offset: 700))]
        var held = try search(selection: SelectionRules(margin: 1))
        XCTAssertEqual(copies(interval(&held, close)), [])
        let check = try XCTUnwrap(held.exploitChecks.first)
        XCTAssertEqual(check.target, 0)
        XCTAssertEqual(check.source, 3)
        XCTAssertFalse(check.copied)
        XCTAssertTrue(check.paired)
        XCTAssertEqual(check.gap, 0.01, accuracy: 1e-12)
        XCTAssertGreaterThan(try XCTUnwrap(check.standardError), 0.01)
        XCTAssertEqual(held.members[0].perturbationCount, 0)

        var pba = try search()
        XCTAssertEqual(copies(interval(&pba, close)).map(\.target), [0], "margin 0 copies as PBA does")
        XCTAssertEqual(pba.exploitChecks.map(\.copied), [true])

        let far: [(Double, CorrectnessBits?)] = [(0.40, bits(400, of: n)), (0.5, bits(500, of: n)), (0.55, bits(550, of: n)), (0.60, bits(600, of: n))]
        var wide = try search(selection: SelectionRules(margin: 1))
        XCTAssertEqual(copies(interval(&wide, far)).map(\.target), [0])
    }

    func testMarginWithoutPerImageDataFallsBackToTheBinomialError() throws {
        // No bits at all: no standard error, the margin cannot apply and the copy happens.
        var s = try search(selection: SelectionRules(margin: 3))
        XCTAssertEqual(copies(interval(&s, [(0.5, nil), (0.6, nil), (0.7, nil), (0.71, nil)])).map(\.target), [0])
        XCTAssertNil(s.exploitChecks.first?.standardError)
        // One side with bits: the unpaired error on its image count, sqrt((.5·.5 + .71·.29)/100) ≈ 0.0675;
        // a gap of 0.21 is 3.1 of them, above a margin of 3.
        var t = try search(selection: SelectionRules(margin: 3))
        XCTAssertEqual(copies(interval(&t, [(0.5, bits(50, of: 100)), (0.6, nil), (0.7, nil), (0.71, nil)])).map(\.target), [0])
        let c = try XCTUnwrap(t.exploitChecks.first)
        XCTAssertFalse(c.paired)
        XCTAssertEqual(try XCTUnwrap(c.standardError), ((0.25 + 0.71 * 0.29) / 100).squareRoot(), accuracy: 1e-12)
    }

    /// Smoothed ranking (weight 0.5). Interval 1: [0.9, 0.5, 0.7, 0.8]; member 1 copies member 0
    /// and, smoothed, inherits its average 0.9. Interval 2: [0.6, 0.8, 0.75, 0.7]. Latest ranking:
    /// member 0 (0.6) is the bottom. Smoothed: 0.75, 0.85, 0.725, 0.75, so member 2 is.
    func testSmoothedRankingAveragesResults() throws {
        let first: [(Double, CorrectnessBits?)] = [(0.9, nil), (0.5, nil), (0.7, nil), (0.8, nil)]
        let second: [(Double, CorrectnessBits?)] = [(0.6, nil), (0.8, nil), (0.75, nil), (0.7, nil)]
        var smoothed = try search(epochs: 9, selection: SelectionRules(ranking: .smoothed, smoothing: 0.5))
        var latest = try search(epochs: 9)
        XCTAssertEqual(copies(interval(&smoothed, first)).map(\.target), [1])
        XCTAssertEqual(copies(interval(&latest, first)).map(\.target), [1])
        XCTAssertEqual(smoothed.members[1].rankingScore, 0.9, "a copy inherits its source's average")
        XCTAssertEqual(latest.members[1].rankingScore, 0.5, "latest ranking keeps the target's own score, as Ray Tune")
        XCTAssertEqual(copies(interval(&latest, second)).map(\.target), [0])
        XCTAssertEqual(copies(interval(&smoothed, second)).map(\.target), [2])
        XCTAssertEqual(try XCTUnwrap(smoothed.members[1].rankingScore), 0.85, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(smoothed.members[0].rankingScore), 0.75, accuracy: 1e-12)
    }

    /// PB2's data: an interval's improvement is its accuracy minus that of the weights it started
    /// from (its own last result, or its source's after a copy); no observation before a first result.
    func testObservationsRecordImprovementOverTheInterval() throws {
        var s = try search(population: 2, epochs: 9)
        _ = interval(&s, [(0.3, nil), (0.5, nil)])
        XCTAssertEqual(s.observations, [])
        let policy1 = s.members[1].policy
        let policy0 = s.members[0].policy  // explored from member 1 at the copy
        _ = interval(&s, [(0.55, nil), (0.6, nil)])
        XCTAssertEqual(s.observations.count, 2)
        let byPolicy = Dictionary(s.observations.map { ($0.improvement, $0) }, uniquingKeysWith: { a, _ in a })
        XCTAssertNotNil(byPolicy.keys.first { abs($0 - 0.05) < 1e-12 }, "member 0 started from member 1's 0.5")
        XCTAssertNotNil(byPolicy.keys.first { abs($0 - 0.10) < 1e-12 }, "member 1 from its own 0.5")
        XCTAssertTrue(s.observations.allSatisfy { $0.epoch == 6 })
        XCTAssertEqual(Set(s.observations.map(\.policy)), Set([policy0, policy1]))
    }

    func testPairedStandardErrorByHand() throws {
        // d = a − b over 4 images: [1, 0, 0, -1] → mean 0, sample variance 2/3, SE = sqrt(2/3 / 4).
        let a = CorrectnessBits([true, true, false, false]), b = CorrectnessBits([false, true, false, true])
        XCTAssertEqual(try XCTUnwrap(RankingNoise.pairedStandardError(a, b)), (2.0 / 3 / 4).squareRoot(), accuracy: 1e-15)
        // d = [1, 1, 0, 0]: mean 0.5, variance (2 − 4·0.25)/3 = 1/3.
        let c = CorrectnessBits([true, true, true, false]), e = CorrectnessBits([false, false, true, false])
        XCTAssertEqual(try XCTUnwrap(RankingNoise.pairedStandardError(c, e)), (1.0 / 3 / 4).squareRoot(), accuracy: 1e-15)
        XCTAssertNil(RankingNoise.pairedStandardError(a, CorrectnessBits([true])))
        XCTAssertEqual(try XCTUnwrap(RankingNoise.unpairedStandardError(0.5, 0.5, images: 100)), 0.5 / 10 * 2.0.squareRoot(), accuracy: 1e-15)
    }

    func testReversalProbability() {
        // A gap of √2 standard errors: Φ(−1) = 0.158655...
        XCTAssertEqual(RankingNoise.reversalProbability(gap: 2.0.squareRoot() * 0.01, standardError: 0.01), 0.15865525393145707, accuracy: 1e-12)
        XCTAssertEqual(RankingNoise.reversalProbability(gap: 0, standardError: 0.01), 0.5, accuracy: 1e-15)
        XCTAssertEqual(RankingNoise.reversalProbability(gap: -0.05, standardError: 0.01),
                       RankingNoise.reversalProbability(gap: 0.05, standardError: 0.01))
        XCTAssertEqual(RankingNoise.normalCDF(1.959963984540054), 0.975, accuracy: 1e-12)
    }

    func testHalvesDisagree() {
        // Even positions favour a (a right at 0 and 2), odd positions favour b (b right at 1 and 3).
        let a = CorrectnessBits([true, false, true, false]), b = CorrectnessBits([false, true, false, true])
        XCTAssertEqual(RankingNoise.halvesDisagree(a, b), true)
        let c = CorrectnessBits([true, true, true, true, false, false]), z = CorrectnessBits(Array(repeating: false, count: 6))
        XCTAssertEqual(RankingNoise.halvesDisagree(c, z), false, "both halves favour c by 2")
        XCTAssertNil(RankingNoise.halvesDisagree(CorrectnessBits([true, true, true, true]), b), "the odd half ties")
        XCTAssertNil(RankingNoise.halvesDisagree(a, a), "a tie on a half decides nothing")
    }

    func testCorrectnessBitsRoundTripAndRejectBadInput() throws {
        let pattern = (0..<37).map { $0 % 3 == 0 || $0 == 36 }
        let b = CorrectnessBits(pattern)
        XCTAssertEqual((0..<37).map { b[$0] }, pattern)
        XCTAssertEqual(b.correctCount, pattern.filter { $0 }.count)
        let data = try JSONEncoder().encode(b)
        XCTAssertEqual(try JSONDecoder().decode(CorrectnessBits.self, from: data), b)
        XCTAssertThrowsError(try JSONDecoder().decode(CorrectnessBits.self, from: Data(#""37:AAA""#.utf8)))
        XCTAssertThrowsError(try JSONDecoder().decode(CorrectnessBits.self, from: Data(#""x:AAAA""#.utf8)))
        XCTAssertThrowsError(try CorrectnessBits(count: 9, bytes: [0]))
        // An old event without the field decodes with none.
        let old = #"{"assignment":3,"validationAccuracy":0.5,"trainLoss":1}"#
        XCTAssertNil(try JSONDecoder().decode(IntervalResult.self, from: Data(old.utf8)).validationCorrect)
    }

    func testNoiseSummaryCounts() {
        func check(_ gap: Double, _ se: Double?, halves: Bool?, copied: Bool) -> ExploitCheck {
            ExploitCheck(target: 0, source: 1, targetEpoch: 3, gap: gap, standardError: se, paired: se != nil,
                         reversalProbability: se.map { RankingNoise.reversalProbability(gap: gap, standardError: $0) },
                         halvesDisagree: halves, copied: copied)
        }
        let s = ExploitNoiseSummary([check(0.005, 0.01, halves: true, copied: false), check(0.03, 0.01, halves: false, copied: true),
                                     check(0.02, nil, halves: nil, copied: true)])
        XCTAssertEqual(s.decisions, 3)
        XCTAssertEqual(s.copies, 2)
        XCTAssertEqual(s.held, 1)
        XCTAssertEqual(s.halvesCompared, 2)
        XCTAssertEqual(s.halvesDisagreeing, 1)
        XCTAssertEqual(s.withinOneStandardError, 1)
        let expected = (RankingNoise.reversalProbability(gap: 0.005, standardError: 0.01) + RankingNoise.reversalProbability(gap: 0.03, standardError: 0.01)) / 2
        XCTAssertEqual(try XCTUnwrap(s.meanReversalProbability), expected, accuracy: 1e-15)
    }

    func testConfigurationDecodesOldRunsWithPBADefaultsAndValidatesNewFields() throws {
        let old = #"{"seed": 3, "initialPolicy": "sampled"}"#
        let c = try JSONDecoder().decode(SearchConfiguration.self, from: Data(old.utf8))
        XCTAssertEqual(c.explore, .pba)
        XCTAssertEqual(c.selection, .pba)
        XCTAssertEqual(c.pb2, .standard)
        let new = SearchConfiguration(explore: .pb2, selection: SelectionRules(ranking: .smoothed, smoothing: 0.3, margin: 1.5),
                                      initialPolicy: .mixed, seed: 4)
        XCTAssertEqual(try JSONDecoder().decode(SearchConfiguration.self, from: try JSONEncoder().encode(new)), new)
        for bad in [SelectionRules(margin: -1), SelectionRules(smoothing: 0), SelectionRules(smoothing: 1.5)] {
            XCTAssertThrowsError(try SearchConfiguration(selection: bad, seed: 1).validate())
        }
    }

    /// Runs a whole synchronous search of 4 members over 2 intervals with scripted accuracies.
    func finished(initial: SearchConfiguration.InitialPolicy, controls: Int = 0,
                  _ rounds: [[(Double, CorrectnessBits?)]]) throws -> PopulationSearch {
        var s = try search(population: 4, epochs: 3 * rounds.count, initial: initial, controls: controls)
        for r in rounds { _ = interval(&s, r) }
        XCTAssertNotNil(s.outcome)
        return s
    }

    func testVerdictSaysNoWhenTheZeroPolicyWins() throws {
        let n = 400
        let s = try finished(initial: .mixed, [[(0.9, bits(360, of: n)), (0.5, bits(200, of: n)), (0.6, bits(240, of: n)), (0.7, bits(280, of: n))]])
        let v = try XCTUnwrap(OutcomeVerdict(search: s))
        XCTAssertEqual(v.winner, 0)
        XCTAssertTrue(v.scheduleIsEmpty)
        XCTAssertEqual(v.expectation, .no)
        XCTAssertTrue(v.line(base: "pad 4 + crop, flip").hasPrefix("Expected to help: no."))
        XCTAssertTrue(v.line(base: "pad 4 + crop, flip").contains("train without a schedule"))
        XCTAssertTrue(v.line(base: "autoaugment, then pad 4 + crop, flip", baseline: "autoaugment").contains("train with the autoaugment baseline and no schedule"))
    }

    func testVerdictComparesWithTheFreeBaselineMember() throws {
        let n = 400
        // Member 0 (zero policy) ends at 60%, sampled member 3 at 80%: 20 points, many standard errors.
        let clear = try finished(initial: .mixed, [[(0.6, bits(240, of: n)), (0.5, bits(200, of: n)), (0.55, bits(220, of: n)), (0.8, bits(320, of: n))]])
        let v = try XCTUnwrap(OutcomeVerdict(search: clear))
        XCTAssertEqual(v.winner, 3)
        XCTAssertEqual(v.baselineMember, 0)
        XCTAssertFalse(v.scheduleIsEmpty)
        XCTAssertFalse(v.changedFromStart, "one interval: never perturbed")
        XCTAssertEqual(try XCTUnwrap(v.gap), 0.2, accuracy: 1e-12)
        XCTAssertEqual(v.expectation, .likely)
        // 0.5 points ahead on 400 images: within noise.
        let close = try finished(initial: .mixed, [[(0.6, bits(240, of: n)), (0.5, bits(200, of: n)), (0.55, bits(220, of: n)), (0.605, bits(242, of: n))]])
        XCTAssertEqual(OutcomeVerdict(search: close)?.expectation, .unclear)
        // A sampled start has no free baseline member.
        let none = try finished(initial: .sampled, [[(0.6, nil), (0.5, nil), (0.55, nil), (0.8, nil)]])
        XCTAssertEqual(OutcomeVerdict(search: none)?.expectation, .unknown)
        XCTAssertTrue(try XCTUnwrap(OutcomeVerdict(search: none)).line(base: "b").contains("--control-members 1"))
        // A mixed start whose zero-policy member copied a better one: unknown, but not for want of one.
        let copied = try finished(initial: .mixed, [[(0.3, bits(120, of: n)), (0.5, bits(200, of: n)), (0.55, bits(220, of: n)), (0.8, bits(320, of: n))],
                                                    [(0.82, bits(328, of: n)), (0.5, bits(200, of: n)), (0.55, bits(220, of: n)), (0.81, bits(324, of: n))]])
        let v2 = try XCTUnwrap(OutcomeVerdict(search: copied))
        XCTAssertNil(v2.baselineMember, "member 0 copied member 3 after the first interval")
        XCTAssertEqual(v2.expectation, .unknown)
        XCTAssertTrue(v2.line(base: "b").contains("leaning yes"), v2.line(base: "b"))
        XCTAssertTrue(v2.line(base: "b").contains("--baselines base`"), v2.line(base: "b"))
        // A run stacked on a foundation is checked against that baseline, not against pad-crop-flip.
        let stacked = v2.line(base: "autoaugment, then b", baseline: "autoaugment")
        XCTAssertTrue(stacked.contains("--baselines autoaugment`") && !stacked.contains("--baselines base"), stacked)
        XCTAssertNil(OutcomeVerdict(search: try search()), "no verdict before the end")
        // The same results with member 0 a control: it keeps the zero policy, so there is a comparison.
        let controlled = try finished(initial: .mixed, controls: 1,
                                      [[(0.3, bits(120, of: n)), (0.5, bits(200, of: n)), (0.55, bits(220, of: n)), (0.8, bits(320, of: n))],
                                       [(0.31, bits(124, of: n)), (0.5, bits(200, of: n)), (0.55, bits(220, of: n)), (0.81, bits(324, of: n))]])
        let v3 = try XCTUnwrap(OutcomeVerdict(search: controlled))
        XCTAssertEqual(v3.baselineMember, 0)
        XCTAssertEqual(v3.winner, 3)
        XCTAssertEqual(try XCTUnwrap(v3.gap), 0.5, accuracy: 1e-12)
        XCTAssertEqual(v3.expectation, .likely)
    }

    /// Member 0 is a control: ranked worst in the first interval and best in the second, in both
    /// modes it neither copies nor is copied, and keeps the zero policy even in a sampled start.
    func testControlMembersKeepTheZeroPolicyAndStayOutOfExploit() throws {
        let zero = Policy(zeroFor: .pba)
        for mode in SearchConfiguration.Mode.allCases {
            var s = try search(population: 4, epochs: 9, initial: .sampled, mode: mode, controls: 1)
            XCTAssertEqual(s.members[0].policy, zero)
            XCTAssertTrue(s.members.dropFirst().allSatisfy { $0.policy != zero })
            var all = interval(&s, [(0.1, nil), (0.5, nil), (0.6, nil), (0.7, nil)])
            if mode == .synchronous {
                // Without the control, member 0 would copy; among the other three the worst (1) copies the best (3).
                XCTAssertEqual(copies(all).map(\.target), [1])
                XCTAssertEqual(copies(all).map(\.source), [3])
            }
            // Until the end (asynchronously a copy moves a member's epoch, so rounds are uneven).
            while s.outcome == nil {
                var handed: [Assignment] = []
                while case let .train(a)? = s.assignmentRequested().first { handed.append(a) }
                XCTAssertFalse(handed.isEmpty)
                for a in handed {
                    let acc = [0.9, 0.5, 0.6, 0.4][a.member]
                    all += s.assignmentFinished(IntervalResult(assignment: a.id, validationAccuracy: acc, trainLoss: 1, validationCorrect: nil))
                }
            }
            XCTAssertFalse(copies(all).isEmpty, "\(mode): the other members still exploit")
            XCTAssertFalse(copies(all).contains { $0.source == 0 || $0.target == 0 }, "\(mode): \(copies(all))")
            XCTAssertEqual(s.outcome?.bestMember, 0, "\(mode): the control can still win")
            XCTAssertEqual(s.members[0].perturbationCount, 0)
            XCTAssertTrue(s.members[0].lineage.segments.allSatisfy { $0.policy == zero })
            XCTAssertFalse(s.perturbations.contains { $0.source == 0 || $0.target == 0 })
            XCTAssertEqual(OutcomeVerdict(search: s)?.expectation, .no, "the control won: nothing beat the base")
        }
        // Without controls the same first interval copies into member 0.
        var plain = try search(population: 4, epochs: 9, initial: .sampled)
        XCTAssertEqual(copies(interval(&plain, [(0.1, nil), (0.5, nil), (0.6, nil), (0.7, nil)])).map(\.target), [0])
    }

    func testControlMembersAreValidatedAndStored() throws {
        for bad in [-1, 4, 5] {
            XCTAssertThrowsError(try SearchConfiguration(populationSize: 4, controlMembers: bad, seed: 1).validate()) { error in
                XCTAssertTrue("\(error)".contains("controlMembers"), "\(error)")
            }
        }
        XCTAssertNoThrow(try SearchConfiguration(populationSize: 4, controlMembers: 3, seed: 1).validate())
        let old = try JSONDecoder().decode(SearchConfiguration.self, from: Data(#"{"seed": 3}"#.utf8))
        XCTAssertEqual(old.controlMembers, 0, "runs stored before controls replay unchanged")
        let new = SearchConfiguration(controlMembers: 2, seed: 4)
        XCTAssertEqual(try JSONDecoder().decode(SearchConfiguration.self, from: try JSONEncoder().encode(new)).controlMembers, 2)
        XCTAssertNil(old.controlSummary)
        XCTAssertEqual(SearchConfiguration(controlMembers: 1, seed: 1).controlSummary, "control member 0 (zero policy, never exploited)")
        XCTAssertEqual(new.controlSummary?.hasPrefix("control members 0-1 "), true)
    }
}
