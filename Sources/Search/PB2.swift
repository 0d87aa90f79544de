import Augment
import Foundation

// PB2's explore step (Parker-Holder et al. 2020, "Provably efficient online hyperparameter
// optimization with population-based bandits"): instead of perturbing a copied policy at random,
// fit a Gaussian process to how much recent intervals improved accuracy as a function of
// (policy, time), and train next with the policy that maximises an upper confidence bound.
// Everything here is a pure function of its arguments and an injected random source.

/// One observation of PB2's bandit: during the interval that ended at `epoch`, a member trained
/// with `policy` and its validation accuracy changed by `improvement` (accuracy at the end minus
/// the accuracy of the weights it started the interval from).
public struct PB2Observation: Hashable, Sendable {
    public var epoch: Int
    public var policy: Policy
    public var improvement: Double

    public init(epoch: Int, policy: Policy, improvement: Double) {
        self.epoch = epoch
        self.policy = policy
        self.improvement = improvement
    }
}

/// PB2's settings; part of the stored search configuration, so Codable with every key optional
/// on decode (missing keys take `standard`'s values).
public struct PB2Settings: Hashable, Codable, Sendable {
    /// Candidate policies scored by the acquisition per decision. PB2 maximises the acquisition
    /// over a continuous box; a policy is 60 small integers, so we score a finite sample instead.
    public var candidates: Int
    /// The most recent observations the GP is fit on. Old intervals say little about the
    /// current stage of training (the time kernel discounts them anyway) and the fit is cubic in
    /// this number.
    public var window: Int

    public static let standard = PB2Settings()

    public init(candidates: Int = 512, window: Int = 64) {
        self.candidates = candidates
        self.window = window
    }

    private enum CodingKeys: String, CodingKey { case candidates, window }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(candidates: try c.decodeIfPresent(Int.self, forKey: .candidates) ?? PB2Settings.standard.candidates,
                  window: try c.decodeIfPresent(Int.self, forKey: .window) ?? PB2Settings.standard.window)
    }

    /// Checks both fields; `field` names are prefixed with `prefix` (the key the settings are
    /// stored under in the configuration).
    public func validate(prefix: String = "pb2") throws(SearchError) {
        guard candidates >= 1 else {
            throw .invalidConfiguration(field: "\(prefix).candidates", value: "\(candidates)", expected: "at least 1")
        }
        guard window >= 2 else {
            throw .invalidConfiguration(field: "\(prefix).window", value: "\(window)",
                                        expected: "at least 2 (a GP needs two observations to compare)")
        }
    }
}

/// What the GP refuses; each case says which input was wrong.
public enum PB2Error: Error, Equatable, CustomStringConvertible {
    /// `inputs`, `times` and `targets` must have one entry per observation.
    case countMismatch(inputs: Int, times: Int, targets: Int)
    /// Every input must have the dimension of the first.
    case dimensionMismatch(index: Int, expected: Int, got: Int)
    /// An input coordinate, time or target is NaN or infinite.
    case nonFinite(field: String, index: Int)
    /// A kernel hyper-parameter outside its domain.
    case invalidHyperparameter(name: String, value: Double)
    /// The Cholesky factorisation of K + noise·I met a non-positive pivot at `row`.
    case notPositiveDefinite(row: Int, pivot: Double)

    public var description: String {
        switch self {
        case let .countMismatch(inputs, times, targets):
            return "GP training set has \(inputs) inputs, \(times) times and \(targets) targets; expected equal counts"
        case let .dimensionMismatch(index, expected, got):
            return "GP input \(index) has \(got) coordinates, expected \(expected) (the first input's)"
        case let .nonFinite(field, index):
            return "GP \(field) \(index) is not finite"
        case let .invalidHyperparameter(name, value):
            return "GP hyper-parameter \(name) is \(value), outside its domain"
        case let .notPositiveDefinite(row, pivot):
            return "GP covariance is not positive definite: Cholesky pivot \(row) is \(pivot)"
        }
    }
}

/// Gaussian process with PB2's time-varying squared-exponential kernel
///   k((x,t),(x',t')) = variance · exp(−‖x − x'‖² / lengthscale) · (1 − epsilon)^(|t − t'| / 2)
/// (the form of Ray Tune's TV_SquaredExp), plus `noise` on the diagonal. Inputs are already
/// normalised. The time factor lets the objective drift: observations `|t − t'|` apart are only
/// `(1 − epsilon)^(|t − t'|/2)` as informative, so the bandit tracks the best policy *now*.
///
/// The factorisation is done once at construction (O(n³)); `predict` is O(n·d + n²).
public struct TimeVaryingGP: Sendable {
    public let lengthscale: Double
    public let epsilon: Double
    public let variance: Double
    public let noise: Double
    /// log p(y | X, t, θ) = −½ yᵀ(K + σ²I)⁻¹y − ½ log det(K + σ²I) − (n/2) log 2π.
    public let logMarginalLikelihood: Double
    /// Number of training points.
    public let count: Int
    /// Coordinates per input.
    public let dimension: Int

    private let inputs: [Double]   // (count, dimension) row-major
    private let times: [Double]    // (count)
    private let factor: [Double]   // (count, count) row-major, lower Cholesky factor L of K + noise·I
    private let weights: [Double]  // (count) (K + noise·I)⁻¹ y

    /// Lengthscales tried by `fitted`. They divide squared distances of 60-dimensional [0,1]
    /// vectors: two uniform random policies are ≈ 60/6 = 10 apart, one integer step is
    /// ≈ 0.01, so the grid spans "only near neighbours correlate" (1) to "the whole box is
    /// smooth" (40).
    public static let lengthscaleGrid: [Double] = [1, 2, 5, 10, 20, 40]
    /// Epsilons tried by `fitted`, time in epochs: with 0.1, an interval of 3 epochs keeps
    /// 0.9^1.5 ≈ 0.85 of the correlation; 0.4 forgets within a few intervals, 0.01 almost never.
    /// Ray's kernel caps epsilon at 0.5.
    public static let epsilonGrid: [Double] = [0.01, 0.05, 0.1, 0.2, 0.4]
    /// Targets are standardised, so unit signal variance.
    public static let standardVariance = 1.0
    /// Observation noise variance for standardised targets: a tenth of the target variance.
    /// PB2's reference fits it by maximum likelihood; fixing it keeps a 64-point window from
    /// explaining every difference as noise (a flat GP would make the decision pure exploration)
    /// and keeps K + noise·I well conditioned (its smallest eigenvalue is at least 0.1).
    public static let standardNoise = 0.1

    public init(inputs: [[Double]], times: [Double], targets: [Double], lengthscale: Double,
                epsilon: Double, variance: Double, noise: Double) throws(PB2Error) {
        let set = try TrainingSet(inputs: inputs, times: times, targets: targets)
        try self.init(set, lengthscale: lengthscale, epsilon: epsilon, variance: variance, noise: noise)
    }

    /// Chooses (lengthscale, epsilon) on `lengthscaleGrid` × `epsilonGrid` by maximum log
    /// marginal likelihood (first in grid order on ties), with `variance` and `noise` fixed.
    /// A grid instead of gradient ascent: the result is deterministic and cheap (30 factorisations
    /// of a 64 × 64 matrix), and the acquisition is not sensitive to finer choices.
    public static func fitted(inputs: [[Double]], times: [Double], targets: [Double],
                              variance: Double = standardVariance, noise: Double = standardNoise,
                              lengthscales: [Double] = lengthscaleGrid,
                              epsilons: [Double] = epsilonGrid) throws(PB2Error) -> TimeVaryingGP {
        let set = try TrainingSet(inputs: inputs, times: times, targets: targets)
        var best: TimeVaryingGP?
        var lastError = PB2Error.invalidHyperparameter(name: "grid", value: Double(lengthscales.count * epsilons.count))
        for l in lengthscales {
            for e in epsilons {
                do {
                    let gp = try TimeVaryingGP(set, lengthscale: l, epsilon: e, variance: variance, noise: noise)
                    if let incumbent = best, incumbent.logMarginalLikelihood >= gp.logMarginalLikelihood { continue }
                    best = gp
                } catch {
                    lastError = error
                }
            }
        }
        guard let best else { throw lastError }
        return best
    }

    /// Posterior of the latent function at (x, time): mean k*ᵀ(K + σ²I)⁻¹y and variance
    /// k(x,x) − k*ᵀ(K + σ²I)⁻¹k* (without the observation noise), the latter by one forward
    /// substitution with the stored factor. `x` must have `dimension` coordinates.
    public func predict(_ x: [Double], time: Double) -> (mean: Double, variance: Double) {
        precondition(count == 0 || x.count == dimension,
                     "GP query has \(x.count) coordinates, expected \(dimension)")
        let n = count, d = dimension
        guard n > 0 else { return (0, variance) }
        let logDecay = 0.5 * Self.log1mEpsilon(epsilon)
        var v = [Double](repeating: 0, count: n)
        var mean = 0.0, explained = 0.0
        x.withUnsafeBufferPointer { q in
            inputs.withUnsafeBufferPointer { xs in
                times.withUnsafeBufferPointer { ts in
                    weights.withUnsafeBufferPointer { w in
                        factor.withUnsafeBufferPointer { l in
                            v.withUnsafeMutableBufferPointer { v in
                                for i in 0..<n {
                                    var sq = 0.0
                                    let row = i &* d
                                    for j in 0..<d {
                                        let diff = q[j] - xs[row &+ j]
                                        sq += diff * diff
                                    }
                                    let k = variance * Self.exp(-sq / lengthscale + logDecay * abs(time - ts[i]))
                                    mean += k * w[i]
                                    // Forward substitution, row i of L v = k*.
                                    var s = k
                                    let lrow = i &* n
                                    for j in 0..<i { s -= l[lrow &+ j] * v[j] }
                                    let vi = s / l[lrow &+ i]
                                    v[i] = vi
                                    explained += vi * vi
                                }
                            }
                        }
                    }
                }
            }
        }
        return (mean, max(0, variance - explained))
    }

    // MARK: - Construction

    /// A validated training set with its pairwise squared distances and time gaps, which every
    /// grid point of `fitted` shares.
    private struct TrainingSet {
        let inputs: [Double]        // (n, d)
        let times: [Double]         // (n)
        let targets: [Double]       // (n)
        let squaredDistances: [Double]  // (n, n)
        let timeGaps: [Double]      // (n, n) |t_i − t_j|
        let count: Int
        let dimension: Int

        init(inputs rows: [[Double]], times: [Double], targets: [Double]) throws(PB2Error) {
            guard rows.count == times.count, rows.count == targets.count else {
                throw .countMismatch(inputs: rows.count, times: times.count, targets: targets.count)
            }
            let n = rows.count, d = rows.first?.count ?? 0
            var flat = [Double]()
            flat.reserveCapacity(n * d)
            for (i, row) in rows.enumerated() {
                guard row.count == d else { throw .dimensionMismatch(index: i, expected: d, got: row.count) }
                guard row.allSatisfy(\.isFinite) else { throw .nonFinite(field: "input", index: i) }
                flat.append(contentsOf: row)
            }
            if let i = times.firstIndex(where: { !$0.isFinite }) { throw .nonFinite(field: "time", index: i) }
            if let i = targets.firstIndex(where: { !$0.isFinite }) { throw .nonFinite(field: "target", index: i) }
            var sq = [Double](repeating: 0, count: n * n)
            var gaps = [Double](repeating: 0, count: n * n)
            for i in 0..<n {
                for j in 0..<i {
                    var s = 0.0
                    for c in 0..<d {
                        let diff = flat[i * d + c] - flat[j * d + c]
                        s += diff * diff
                    }
                    sq[i * n + j] = s; sq[j * n + i] = s
                    let g = abs(times[i] - times[j])
                    gaps[i * n + j] = g; gaps[j * n + i] = g
                }
            }
            self.inputs = flat
            self.times = times
            self.targets = targets
            self.squaredDistances = sq
            self.timeGaps = gaps
            self.count = n
            self.dimension = d
        }
    }

    private init(_ set: TrainingSet, lengthscale: Double, epsilon: Double, variance: Double,
                 noise: Double) throws(PB2Error) {
        guard lengthscale > 0, lengthscale.isFinite else {
            throw .invalidHyperparameter(name: "lengthscale", value: lengthscale)
        }
        guard epsilon >= 0, epsilon < 1 else { throw .invalidHyperparameter(name: "epsilon", value: epsilon) }
        guard variance > 0, variance.isFinite else { throw .invalidHyperparameter(name: "variance", value: variance) }
        guard noise >= 0, noise.isFinite else { throw .invalidHyperparameter(name: "noise", value: noise) }
        let n = set.count
        let logDecay = 0.5 * Self.log1mEpsilon(epsilon)
        // L, row-major lower triangle, Cholesky–Crout, reading K + noise·I entry by entry.
        var l = [Double](repeating: 0, count: n * n)
        var failure: PB2Error?
        l.withUnsafeMutableBufferPointer { l in
            set.squaredDistances.withUnsafeBufferPointer { sq in
                set.timeGaps.withUnsafeBufferPointer { gaps in
                    func covariance(_ i: Int, _ j: Int) -> Double {
                        let ij = i &* n &+ j
                        let k = variance * Self.exp(-sq[ij] / lengthscale + logDecay * gaps[ij])
                        return i == j ? k + noise : k
                    }
                    for j in 0..<n {
                        let jrow = j &* n
                        var pivot = covariance(j, j)
                        for c in 0..<j { pivot -= l[jrow &+ c] * l[jrow &+ c] }
                        guard pivot > 0, pivot.isFinite else {
                            failure = .notPositiveDefinite(row: j, pivot: pivot)
                            return
                        }
                        let diagonal = pivot.squareRoot()
                        l[jrow &+ j] = diagonal
                        for i in (j + 1)..<max(n, j + 1) {
                            let irow = i &* n
                            var s = covariance(i, j)
                            for c in 0..<j { s -= l[irow &+ c] * l[jrow &+ c] }
                            l[irow &+ j] = s / diagonal
                        }
                    }
                }
            }
        }
        if let failure { throw failure }
        // α = Lᵀ⁻¹ L⁻¹ y.
        var z = set.targets
        for i in 0..<n {
            var s = z[i]
            for c in 0..<i { s -= l[i * n + c] * z[c] }
            z[i] = s / l[i * n + i]
        }
        let fit = z.reduce(0) { $0 + $1 * $1 }  // yᵀ(K + σ²I)⁻¹y = ‖L⁻¹y‖²
        var alpha = z
        for i in stride(from: n - 1, through: 0, by: -1) {
            var s = alpha[i]
            for r in (i + 1)..<max(n, i + 1) { s -= l[r * n + i] * alpha[r] }
            alpha[i] = s / l[i * n + i]
        }
        var logDeterminant = 0.0
        for i in 0..<n { logDeterminant += 2 * Self.log(l[i * n + i]) }
        self.lengthscale = lengthscale
        self.epsilon = epsilon
        self.variance = variance
        self.noise = noise
        self.count = n
        self.dimension = set.dimension
        self.inputs = set.inputs
        self.times = set.times
        self.factor = l
        self.weights = alpha
        self.logMarginalLikelihood = -0.5 * fit - 0.5 * logDeterminant
            - 0.5 * Double(n) * Self.log(2 * Double.pi)
    }

    @inline(__always) static func exp(_ x: Double) -> Double { Foundation.exp(x) }
    @inline(__always) static func log(_ x: Double) -> Double { Foundation.log(x) }
    /// log(1 − ε), 0 for ε = 0.
    @inline(__always) static func log1mEpsilon(_ e: Double) -> Double { Foundation.log1p(-e) }
}

/// PB2's explore step as a pure function of the copied policy, the bandit's observations and
/// a random source.
public enum PB2Explore {
    /// The policy a target that copied `source` at `epoch` trains with next.
    ///
    /// 1. Observations whose policy has another operation set or another foundation (the same
    ///    integers stacked on AutoAugment are another bandit arm), or whose improvement is not
    ///    finite, are dropped; the rest are ordered by epoch (stable) and the last `settings.window` kept.
    /// 2. With fewer than 2, or with all improvements equal, the bandit has nothing to learn from,
    ///    and the result is `PolicyExploration.explore(source, rules: fallback, using: &random)`
    ///    (PBA's explore), drawn from `random` as it was passed in.
    /// 3. Improvements are standardised (mean 0, divided by std + 1e-8, clipped to [−2, 2], as
    ///    PB2's reference does, so one outlier interval cannot dominate the fit); policies are
    ///    normalised by `normalisedInput`; time is the epoch. `TimeVaryingGP.fitted` fits the GP.
    /// 4. Candidates, drawn from `random` in this order: `candidates − candidates/2` PBA-explore
    ///    perturbations of `source`, then `candidates/2` uniform samples (on `source`'s foundation). Local perturbations
    ///    exploit what the source already does well, uniform ones reach the rest of the box.
    /// 5. Each is scored at time `epoch` by mean + kappa · sd and the first maximum returned
    ///    (a tie goes to a perturbation, the candidate nearer to the policy that just won).
    ///
    /// The acquisition is `upperConfidenceBound`.
    public static func explore<R: SearchRandomSource>(
        source: Policy, observations: [PB2Observation], epoch: Int,
        settings: PB2Settings, fallback: ExplorationRules, using random: inout R
    ) -> Policy {
        let usable = observations
            .filter { $0.policy.operations == source.operations && $0.policy.foundation == source.foundation && $0.improvement.isFinite }
            .sorted { $0.epoch < $1.epoch }
        let recent = usable.suffix(max(0, settings.window))
        guard recent.count >= 2, let targets = standardisedTargets(recent.map(\.improvement)),
              let gp = try? TimeVaryingGP.fitted(inputs: recent.map { normalisedInput($0.policy) },
                                                 times: recent.map { Double($0.epoch) },
                                                 targets: targets)
        else {
            return PolicyExploration.explore(source, rules: fallback, using: &random)
        }
        let total = max(1, settings.candidates)
        let uniform = total / 2
        var candidates = [Policy]()
        candidates.reserveCapacity(total)
        for _ in 0..<(total - uniform) {
            candidates.append(PolicyExploration.explore(source, rules: fallback, using: &random))
        }
        for _ in 0..<uniform {
            candidates.append(PolicyExploration.sample(operations: source.operations, using: &random).on(foundation: source.foundation))
        }
        let weight = kappa(observations: recent.count)
        let time = Double(epoch)
        var best = 0
        var bestScore = -Double.infinity
        for (i, candidate) in candidates.enumerated() {
            let posterior = gp.predict(normalisedInput(candidate), time: time)
            let score = upperConfidenceBound(mean: posterior.mean, variance: posterior.variance, kappa: weight)
            if score > bestScore {
                best = i
                bestScore = score
            }
        }
        return candidates[best]
    }

    /// mean + kappa · sqrt(variance). PB2's reference code adds kappa times the posterior
    /// *variance*; GP-UCB's regret bound (and the paper's, which builds on it) is for the
    /// standard deviation, which is also on the scale of the mean, so we use sqrt(variance).
    public static func upperConfidenceBound(mean: Double, variance: Double, kappa: Double) -> Double {
        mean + kappa * max(0, variance).squareRoot()
    }

    /// UCB exploration weight for n observations: PB2's reference schedule
    /// beta_t = 0.2 · ln(0.4 · n), kappa = sqrt(max(beta_t, 0)); growing like sqrt(log n) as
    /// GP-UCB's regret bound requires. 0 for n ≤ 2, where the log is negative.
    public static func kappa(observations n: Int) -> Double {
        guard n > 0 else { return 0 }
        let beta = 0.2 * TimeVaryingGP.log(0.4 * Double(n))
        return max(beta, 0).squareRoot()
    }

    /// Each policy integer divided by its range (probabilities / 10, magnitudes / 9), so every
    /// coordinate of the GP input is in [0, 1] and counts equally in the kernel's distance.
    public static func normalisedInput(_ policy: Policy) -> [Double] {
        policy.values.enumerated().map { i, v in
            let r = Policy.range(ofIndex: i)
            return Double(v - r.lowerBound) / Double(r.upperBound - r.lowerBound)
        }
    }

    /// (y − mean) / (std + 1e-8) clipped to [−2, 2], population std; nil when the values are
    /// (numerically) all equal, so there is nothing to fit.
    public static func standardisedTargets(_ values: [Double]) -> [Double]? {
        guard !values.isEmpty else { return nil }
        let n = Double(values.count)
        let mean = values.reduce(0, +) / n
        let std = (values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / n).squareRoot()
        guard std.isFinite, std > 1e-12 * max(1, abs(mean)) else { return nil }
        return values.map { min(2, max(-2, ($0 - mean) / (std + 1e-8))) }
    }
}
