import Augment
import Foundation
import Search
import Tensor
import XCTest

final class PB2Tests: XCTestCase {
    // MARK: - GP posterior by hand

    /// One training point (x0 = 0.2, t0 = 0, y = 1.5), variance 2, noise 0.1, lengthscale 0.5,
    /// epsilon 0.1: mean = k*/(k + noise)·y, variance = k(x,x) − k*²/(k + noise).
    func testPosteriorOfOnePointMatchesHandComputation() throws {
        let gp = try TimeVaryingGP(inputs: [[0.2]], times: [0], targets: [1.5],
                                   lengthscale: 0.5, epsilon: 0.1, variance: 2, noise: 0.1)
        let kStar = 2 * exp(-(0.3 * 0.3) / 0.5)
        let p = gp.predict([0.5], time: 0)
        XCTAssertEqual(p.mean, kStar / (2 + 0.1) * 1.5, accuracy: 1e-12)
        XCTAssertEqual(p.variance, 2 - kStar * kStar / (2 + 0.1), accuracy: 1e-12)

        // At the training point itself the mean shrinks towards 0 by k/(k + noise).
        let atPoint = gp.predict([0.2], time: 0)
        XCTAssertEqual(atPoint.mean, 2 / 2.1 * 1.5, accuracy: 1e-12)
        XCTAssertEqual(atPoint.variance, 2 - 4 / 2.1, accuracy: 1e-12)
    }

    /// Four epochs later the correlation with the training point is multiplied by
    /// (1 − 0.1)^(4/2) = 0.81; very far in time the posterior is the prior.
    func testTimeDecayMultipliesCorrelation() throws {
        let gp = try TimeVaryingGP(inputs: [[0.2]], times: [0], targets: [1.5],
                                   lengthscale: 0.5, epsilon: 0.1, variance: 2, noise: 0.1)
        let kStar = 2 * exp(-(0.3 * 0.3) / 0.5) * 0.81
        let later = gp.predict([0.5], time: 4)
        XCTAssertEqual(later.mean, kStar / 2.1 * 1.5, accuracy: 1e-12)
        XCTAssertEqual(later.variance, 2 - kStar * kStar / 2.1, accuracy: 1e-12)
        // |dt| counts both ways.
        let earlier = gp.predict([0.5], time: -4)
        XCTAssertEqual(earlier.mean, later.mean, accuracy: 1e-12)

        let far = gp.predict([0.5], time: 5000)
        XCTAssertEqual(far.mean, 0, accuracy: 1e-12)
        XCTAssertEqual(far.variance, 2, accuracy: 1e-12)
    }

    /// Two points x = 0, 1 at t = 0, 2 (variance 1, noise 0.5, lengthscale 1, epsilon 0.2):
    /// K + noise·I = [[a, b], [b, a]] with a = 1.5, b = e^−1 · 0.8^1, inverse
    /// [[a, −b], [−b, a]] / (a² − b²).
    func testPosteriorOfTwoPointsMatchesHandComputation() throws {
        let gp = try TimeVaryingGP(inputs: [[0], [1]], times: [0, 2], targets: [1, -0.5],
                                   lengthscale: 1, epsilon: 0.2, variance: 1, noise: 0.5)
        let a = 1.5, b = exp(-1.0) * 0.8
        let det = a * a - b * b
        let y = (1.0, -0.5)
        // Query x = 0.25 at t = 1: one epoch from each point.
        let k1 = exp(-0.0625) * sqrt(0.8), k2 = exp(-0.5625) * sqrt(0.8)
        let w1 = (a * k1 - b * k2) / det, w2 = (-b * k1 + a * k2) / det   // (K + σ²I)⁻¹ k*
        let p = gp.predict([0.25], time: 1)
        XCTAssertEqual(p.mean, w1 * y.0 + w2 * y.1, accuracy: 1e-12)
        XCTAssertEqual(p.variance, 1 - (k1 * w1 + k2 * w2), accuracy: 1e-12)
    }

    func testLogMarginalLikelihoodMatchesHandComputation() throws {
        // One point: y ~ N(0, variance + noise).
        let one = try TimeVaryingGP(inputs: [[0.2]], times: [0], targets: [1.5],
                                    lengthscale: 0.5, epsilon: 0.1, variance: 2, noise: 0.1)
        XCTAssertEqual(one.logMarginalLikelihood,
                       -0.5 * 1.5 * 1.5 / 2.1 - 0.5 * log(2.1) - 0.5 * log(2 * Double.pi), accuracy: 1e-12)

        // Two points, the matrix of the posterior test.
        let two = try TimeVaryingGP(inputs: [[0], [1]], times: [0, 2], targets: [1, -0.5],
                                    lengthscale: 1, epsilon: 0.2, variance: 1, noise: 0.5)
        let a = 1.5, b = exp(-1.0) * 0.8
        let det = a * a - b * b
        let quadratic = (a * 1 * 1 - 2 * b * 1 * -0.5 + a * 0.25) / det
        XCTAssertEqual(two.logMarginalLikelihood,
                       -0.5 * quadratic - 0.5 * log(det) - log(2 * Double.pi), accuracy: 1e-12)
    }

    /// Several-dimensional inputs: the kernel uses the squared Euclidean distance over all
    /// coordinates, divided by the lengthscale (no factor 2).
    func testKernelUsesSquaredDistanceOverAllCoordinates() throws {
        let gp = try TimeVaryingGP(inputs: [[0, 0, 1]], times: [3], targets: [1],
                                   lengthscale: 2, epsilon: 0, variance: 1, noise: 0)
        // ‖(1, 1, 0) − (0, 0, 1)‖² = 3; noise 0 so (K)⁻¹y = 1.
        XCTAssertEqual(gp.predict([1, 1, 0], time: 100).mean, exp(-3.0 / 2), accuracy: 1e-12)
    }

    func testFittedMaximisesLikelihoodOverTheGrid() throws {
        var g = SeededGenerator(seed: 11)
        let inputs = (0..<20).map { _ in (0..<5).map { _ in g.nextUniform() } }
        let times = (0..<20).map { Double($0 / 4 * 3) }
        let targets = inputs.map { sin(4 * $0[0]) + 0.1 * g.nextUniform() }
        let fitted = try TimeVaryingGP.fitted(inputs: inputs, times: times, targets: targets)
        XCTAssertTrue(TimeVaryingGP.lengthscaleGrid.contains(fitted.lengthscale))
        XCTAssertTrue(TimeVaryingGP.epsilonGrid.contains(fitted.epsilon))
        XCTAssertEqual(fitted.variance, 1)
        XCTAssertEqual(fitted.noise, 0.1)
        for l in TimeVaryingGP.lengthscaleGrid {
            for e in TimeVaryingGP.epsilonGrid {
                let gp = try TimeVaryingGP(inputs: inputs, times: times, targets: targets,
                                           lengthscale: l, epsilon: e, variance: 1, noise: 0.1)
                XCTAssertGreaterThanOrEqual(fitted.logMarginalLikelihood, gp.logMarginalLikelihood)
            }
        }
    }

    /// The same inputs observed at epochs 0 and 30: if the targets keep their values the fit
    /// should believe time matters little (small epsilon); if they flip sign, a lot.
    func testFittedEpsilonTracksDrift() throws {
        var g = SeededGenerator(seed: 5)
        let xs = (0..<12).map { _ in (0..<3).map { _ in g.nextUniform() } }
        let ys = xs.map { 2 * $0[0] - 1 }
        let inputs = xs + xs, times = Array(repeating: 0.0, count: 12) + Array(repeating: 30.0, count: 12)
        let stationary = try TimeVaryingGP.fitted(inputs: inputs, times: times, targets: ys + ys)
        let drifting = try TimeVaryingGP.fitted(inputs: inputs, times: times, targets: ys + ys.map { -$0 })
        XCTAssertLessThan(stationary.epsilon, drifting.epsilon)
    }

    func testRejectsBadTrainingSets() {
        XCTAssertThrowsError(try TimeVaryingGP(inputs: [[0], [1]], times: [0], targets: [1, 2],
                                               lengthscale: 1, epsilon: 0.1, variance: 1, noise: 0.1)) {
            XCTAssertEqual($0 as? PB2Error, .countMismatch(inputs: 2, times: 1, targets: 2))
        }
        XCTAssertThrowsError(try TimeVaryingGP(inputs: [[0, 1], [1]], times: [0, 0], targets: [1, 2],
                                               lengthscale: 1, epsilon: 0.1, variance: 1, noise: 0.1)) {
            XCTAssertEqual($0 as? PB2Error, .dimensionMismatch(index: 1, expected: 2, got: 1))
        }
        XCTAssertThrowsError(try TimeVaryingGP(inputs: [[0], [1]], times: [0, 0], targets: [1, .nan],
                                               lengthscale: 1, epsilon: 0.1, variance: 1, noise: 0.1)) {
            XCTAssertEqual($0 as? PB2Error, .nonFinite(field: "target", index: 1))
        }
        XCTAssertThrowsError(try TimeVaryingGP(inputs: [[0]], times: [0], targets: [1],
                                               lengthscale: -1, epsilon: 0.1, variance: 1, noise: 0.1)) {
            XCTAssertEqual($0 as? PB2Error, .invalidHyperparameter(name: "lengthscale", value: -1))
        }
        // Two identical points without noise: K = [[1, 1], [1, 1]] is singular, second pivot 0.
        XCTAssertThrowsError(try TimeVaryingGP(inputs: [[0.5], [0.5]], times: [1, 1], targets: [1, 2],
                                               lengthscale: 1, epsilon: 0.1, variance: 1, noise: 0)) {
            guard case .notPositiveDefinite(row: 1, _)? = $0 as? PB2Error else {
                return XCTFail("expected notPositiveDefinite at row 1, got \($0)")
            }
        }
    }

    // MARK: - Acquisition weight and inputs

    func testKappaFollowsTheReferenceSchedule() {
        XCTAssertEqual(PB2Explore.kappa(observations: 10), sqrt(0.2 * log(4.0)), accuracy: 1e-12)
        XCTAssertEqual(PB2Explore.kappa(observations: 64), sqrt(0.2 * log(25.6)), accuracy: 1e-12)
        XCTAssertEqual(PB2Explore.kappa(observations: 3), sqrt(0.2 * log(1.2)), accuracy: 1e-12)
        // 0.4·n < 1: beta_t is negative, kappa 0.
        XCTAssertEqual(PB2Explore.kappa(observations: 2), 0)
        XCTAssertEqual(PB2Explore.kappa(observations: 1), 0)
        XCTAssertEqual(PB2Explore.kappa(observations: 0), 0)
    }

    /// The bound adds kappa standard deviations (GP-UCB), not kappa variances (PB2's code):
    /// with variance 0.25 the two differ by a factor of 2.
    func testUpperConfidenceBoundUsesStandardDeviation() {
        XCTAssertEqual(PB2Explore.upperConfidenceBound(mean: 0.1, variance: 0.25, kappa: 2), 0.1 + 2 * 0.5, accuracy: 1e-15)
        XCTAssertEqual(PB2Explore.upperConfidenceBound(mean: -1, variance: 4, kappa: 0.5), -1 + 0.5 * 2, accuracy: 1e-15)
        XCTAssertEqual(PB2Explore.upperConfidenceBound(mean: 0.3, variance: 1, kappa: 0), 0.3)
    }

    func testInputsAreNormalisedByRange() throws {
        var values = Array(repeating: 0, count: 60)
        values[0] = 10; values[1] = 9; values[2] = 5; values[3] = 3
        let x = PB2Explore.normalisedInput(try Policy(values: values))
        XCTAssertEqual(x.count, 60)
        XCTAssertEqual(Array(x[0..<4]), [1, 1, 0.5, 3.0 / 9])
        XCTAssertTrue(x[4...].allSatisfy { $0 == 0 })
    }

    func testTargetsAreStandardisedAndClipped() throws {
        // mean 1, population std 3: the 10 becomes 3, clipped to 2; the zeros −1/3.
        let t = try XCTUnwrap(PB2Explore.standardisedTargets(Array(repeating: 0, count: 9) + [10]))
        XCTAssertEqual(t[9], 2)
        for v in t[0..<9] { XCTAssertEqual(v, -1.0 / (3 + 1e-8), accuracy: 1e-12) }
        XCTAssertNil(PB2Explore.standardisedTargets([0.25, 0.25, 0.25]))
    }

    // MARK: - Explore

    /// Improvement grows with the probabilities of operation 0 (both pairs, indices 0 and 30)
    /// and ignores the rest. A random pick among the candidates would give that sum about 4
    /// (perturbations of a source at 2 + 2) to 10 (uniform samples); the bandit must find ≥ 14.
    func testExploreFindsTheOperationThatHelps() throws {
        var sum = 0
        let seeds: [UInt64] = [1, 2, 3, 4, 5, 6, 7, 8]
        for seed in seeds {
            let chosen = exploreOnSyntheticSignal(seed: seed, signalIndices: [0, 30])
            sum += chosen.values[0] + chosen.values[30]
        }
        XCTAssertGreaterThanOrEqual(Double(sum) / Double(seeds.count), 14)
    }

    /// The same with the signal on another operation's magnitudes: the choice follows the data.
    func testExploreFollowsTheSignalWhereverItIs() throws {
        var sum = 0
        let seeds: [UInt64] = [21, 22, 23, 24, 25, 26, 27, 28]
        for seed in seeds {
            let chosen = exploreOnSyntheticSignal(seed: seed, signalIndices: [9, 39])
            sum += chosen.values[9] + chosen.values[39]
        }
        XCTAssertGreaterThanOrEqual(Double(sum) / Double(seeds.count), 12.5)   // of 18
    }

    func testExploreIsDeterministicAndInRange() throws {
        for seed: UInt64 in 0..<6 {
            let a = exploreOnSyntheticSignal(seed: seed, signalIndices: [4])
            let b = exploreOnSyntheticSignal(seed: seed, signalIndices: [4])
            XCTAssertEqual(a, b)
            XCTAssertEqual(a.values.count, 60)
            XCTAssertEqual(a.operations, .pba)
            for (i, v) in a.values.enumerated() { XCTAssertTrue(Policy.range(ofIndex: i).contains(v), "index \(i): \(v)") }
        }
        // Odd and minimal candidate counts still return an in-range policy.
        for candidates in [1, 3] {
            var g = SeededGenerator(seed: 9)
            let observations = syntheticObservations(count: 10, signalIndices: [0], using: &g)
            let p = PB2Explore.explore(source: Policy(zeroFor: .pba), observations: observations, epoch: 12,
                                       settings: PB2Settings(candidates: candidates, window: 64),
                                       fallback: .pba, using: &g)
            for (i, v) in p.values.enumerated() { XCTAssertTrue(Policy.range(ofIndex: i).contains(v)) }
        }
    }

    /// The documented contract, recomputed from its parts: candidates in the stated draw order
    /// from the same random state, targets standardised by hand, the fitted GP, mean + kappa·sd,
    /// first maximum. Observations are passed out of epoch order, more than the window.
    func testChoiceIsTheUCBArgmaxOfTheDocumentedCandidates() throws {
        for seed: UInt64 in 70..<82 {
            var g = SeededGenerator(seed: seed)
            var observations = syntheticObservations(count: 15, signalIndices: [2, 6], using: &g)
            observations.reverse()
            let source = PolicyExploration.sample(operations: .pba, using: &g)
            let settings = PB2Settings(candidates: 41, window: 10)
            let rules = ExplorationRules.pba

            var r1 = SeededGenerator(seed: seed &* 1000)
            let chosen = PB2Explore.explore(source: source, observations: observations, epoch: 15,
                                            settings: settings, fallback: rules, using: &r1)

            var r2 = SeededGenerator(seed: seed &* 1000)
            var candidates = (0..<21).map { _ in PolicyExploration.explore(source, rules: rules, using: &r2) }
            candidates += (0..<20).map { _ in PolicyExploration.sample(operations: .pba, using: &r2) }
            XCTAssertEqual(r1, r2, "explore should draw exactly the candidates (seed \(seed))")

            let recent = observations.sorted { $0.epoch < $1.epoch }.suffix(10)
            let y = recent.map(\.improvement)
            let mean = y.reduce(0, +) / 10
            let std = sqrt(y.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 10)
            let targets = y.map { min(2, max(-2, ($0 - mean) / (std + 1e-8))) }
            func input(_ p: Policy) -> [Double] {
                p.values.enumerated().map { i, v in Double(v) / (i % 2 == 0 ? 10 : 9) }
            }
            let gp = try TimeVaryingGP.fitted(inputs: recent.map { input($0.policy) },
                                              times: recent.map { Double($0.epoch) }, targets: targets)
            let kappa = sqrt(0.2 * log(0.4 * 10))
            let scores = candidates.map { c -> Double in
                let p = gp.predict(input(c), time: 15)
                return p.mean + kappa * sqrt(p.variance)
            }
            let best = scores.firstIndex(of: scores.max()!)!
            XCTAssertEqual(chosen, candidates[best], "seed \(seed)")
        }
    }

    /// Observations older than the window do not change the decision.
    func testOnlyTheWindowIsUsed() {
        var g = SeededGenerator(seed: 3)
        let old = syntheticObservations(count: 30, signalIndices: [0], using: &g).map {
            PB2Observation(epoch: $0.epoch - 100, policy: $0.policy, improvement: -$0.improvement)
        }
        let recent = syntheticObservations(count: 12, signalIndices: [0], using: &g)
        let settings = PB2Settings(candidates: 64, window: 12)
        var r1 = SeededGenerator(seed: 8), r2 = SeededGenerator(seed: 8)
        let withOld = PB2Explore.explore(source: Policy(zeroFor: .pba), observations: old + recent, epoch: 12,
                                         settings: settings, fallback: .pba, using: &r1)
        let without = PB2Explore.explore(source: Policy(zeroFor: .pba), observations: recent, epoch: 12,
                                         settings: settings, fallback: .pba, using: &r2)
        XCTAssertEqual(withOld, without)
    }

    /// With fewer than two observations, or nothing to tell them apart, the result is PBA's
    /// explore from the same random state, and no further draws are made.
    func testFallsBackToPBAExplore() throws {
        let source = try Policy(values: (0..<60).map { $0 % 2 == 0 ? 5 : 4 })
        let one = PB2Observation(epoch: 3, policy: source, improvement: 0.02)
        let cases: [[PB2Observation]] = [
            [],
            [one],
            [one, PB2Observation(epoch: 3, policy: Policy(zeroFor: .pba), improvement: 0.02),
             PB2Observation(epoch: 6, policy: source, improvement: 0.02)],
            // Another operation set cannot be a coordinate of this bandit: one usable observation.
            [one, PB2Observation(epoch: 3, policy: Policy(zeroFor: OperationSet(names: ["A"])), improvement: 0.5)],
        ]
        for (n, observations) in cases.enumerated() {
            var r1 = SeededGenerator(seed: 42), r2 = SeededGenerator(seed: 42)
            let pb2 = PB2Explore.explore(source: source, observations: observations, epoch: 6,
                                         settings: .standard, fallback: .pba, using: &r1)
            let pba = PolicyExploration.explore(source, rules: .pba, using: &r2)
            XCTAssertEqual(pb2, pba, "case \(n)")
            XCTAssertEqual(r1, r2, "case \(n)")
        }
    }

    // MARK: - Settings

    func testSettingsDecodeMissingKeysAsStandardAndRoundTrip() throws {
        let decoder = JSONDecoder()
        XCTAssertEqual(try decoder.decode(PB2Settings.self, from: Data("{}".utf8)), .standard)
        XCTAssertEqual(PB2Settings.standard, PB2Settings(candidates: 512, window: 64))
        XCTAssertEqual(try decoder.decode(PB2Settings.self, from: Data(#"{"window": 10}"#.utf8)),
                       PB2Settings(candidates: 512, window: 10))
        let custom = PB2Settings(candidates: 100, window: 32)
        XCTAssertEqual(try decoder.decode(PB2Settings.self, from: JSONEncoder().encode(custom)), custom)
    }

    func testSettingsValidation() {
        XCTAssertNoThrow(try PB2Settings.standard.validate())
        XCTAssertThrowsError(try PB2Settings(candidates: 0).validate()) {
            guard case .invalidConfiguration(field: "pb2.candidates", _, _)? = $0 as? SearchError else {
                return XCTFail("\($0)")
            }
        }
        XCTAssertThrowsError(try PB2Settings(window: 1).validate()) {
            guard case .invalidConfiguration(field: "pb2.window", _, _)? = $0 as? SearchError else {
                return XCTFail("\($0)")
            }
        }
    }

    // MARK: - Speed

    /// One decision at the standard settings (window 64, 512 candidates, 60 dimensions).
    /// The bound is asserted in optimised builds only.
    // MARK: - Helpers

    /// `count` observations of uniformly sampled policies, 16 per interval at epochs 3, 6, …;
    /// improvement 0.02 · (mean of the normalised values at `signalIndices`) plus uniform noise
    /// of ±0.001 (a small fraction of the signal's range).
    private func syntheticObservations(count: Int, signalIndices: [Int],
                                       using g: inout SeededGenerator) -> [PB2Observation] {
        (0..<count).map { k in
            let policy = PolicyExploration.sample(operations: .pba, using: &g)
            let signal = signalIndices.map { Double(policy.values[$0]) / Double(Policy.range(ofIndex: $0).upperBound) }
                .reduce(0, +) / Double(signalIndices.count)
            return PB2Observation(epoch: 3 * (1 + k / 16), policy: policy,
                                  improvement: 0.02 * signal + 0.002 * (g.nextUniform() - 0.5))
        }
    }

    /// 64 observations, a source with every integer 2, the standard settings, time 12.
    private func exploreOnSyntheticSignal(seed: UInt64, signalIndices: [Int]) -> Policy {
        var g = SeededGenerator(seed: seed)
        let observations = syntheticObservations(count: 64, signalIndices: signalIndices, using: &g)
        let source = try! Policy(values: Array(repeating: 2, count: 60))
        return PB2Explore.explore(source: source, observations: observations, epoch: 12,
                                  settings: .standard, fallback: .pba, using: &g)
    }
}
