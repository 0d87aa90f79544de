import Foundation
import Tensor

/// The statistics an evaluation report rests on. Pure functions of their inputs (the bootstrap
/// takes its seed), so they are tested against textbook values.
public enum Statistics {
    public static func mean(_ x: [Double]) -> Double {
        x.isEmpty ? .nan : x.reduce(0, +) / Double(x.count)
    }

    /// Sample standard deviation (n − 1 in the denominator); 0 for a single value.
    public static func standardDeviation(_ x: [Double]) -> Double {
        guard x.count > 1 else { return x.isEmpty ? .nan : 0 }
        let m = mean(x)
        return (x.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(x.count - 1)).squareRoot()
    }

    /// A paired t-test's result.
    public struct PairedTTest: Equatable, Sendable {
        public var meanDifference: Double
        public var t: Double
        public var degreesOfFreedom: Int
        /// Two-sided.
        public var p: Double
    }

    /// Paired t-test of `a − b` (same seeds, same order). Needs two pairs; when every difference
    /// is the same, t is ±∞ (p 0) or, for all-zero differences, 0 (p 1).
    public static func pairedTTest(_ a: [Double], _ b: [Double]) -> PairedTTest? {
        guard a.count == b.count, a.count >= 2 else { return nil }
        let d = zip(a, b).map { $0 - $1 }
        let m = mean(d), s = standardDeviation(d)
        let df = d.count - 1
        if s == 0 {
            return m == 0 ? PairedTTest(meanDifference: 0, t: 0, degreesOfFreedom: df, p: 1)
                          : PairedTTest(meanDifference: m, t: m > 0 ? .infinity : -.infinity, degreesOfFreedom: df, p: 0)
        }
        let t = m / (s / Double(d.count).squareRoot())
        return PairedTTest(meanDifference: m, t: t, degreesOfFreedom: df, p: studentTTwoSidedP(t: t, degreesOfFreedom: df))
    }

    /// P(|T| ≥ |t|) for Student's t with `degreesOfFreedom`: I_{ν/(ν+t²)}(ν/2, 1/2).
    public static func studentTTwoSidedP(t: Double, degreesOfFreedom nu: Int) -> Double {
        guard t.isFinite else { return t.isNaN ? .nan : 0 }
        let v = Double(nu)
        return regularizedIncompleteBeta(x: v / (v + t * t), a: v / 2, b: 0.5)
    }

    /// I_x(a, b) by Lentz's continued fraction (the standard expansion, using the symmetry
    /// I_x(a, b) = 1 − I_{1−x}(b, a) where the fraction converges slowly).
    public static func regularizedIncompleteBeta(x: Double, a: Double, b: Double) -> Double {
        if x <= 0 { return 0 }
        if x >= 1 { return 1 }
        let logBeta: Double = lgamma(a) + lgamma(b) - lgamma(a + b)
        let logPowers: Double = a * log(x) + b * log(1 - x)
        let logFront = logPowers - logBeta
        if x > (a + 1) / (a + b + 2) {
            return 1 - exp(logFront) * betaContinuedFraction(x: 1 - x, a: b, b: a) / b
        }
        return exp(logFront) * betaContinuedFraction(x: x, a: a, b: b) / a
    }

    private static func betaContinuedFraction(x: Double, a: Double, b: Double) -> Double {
        let tiny = 1e-300, epsilon = 1e-15
        var c = 1.0
        var d = 1 - (a + b) * x / (a + 1)
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var h = d
        for m in 1...500 {
            let m = Double(m)
            // Even step.
            var numerator = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
            d = 1 + numerator * d; if abs(d) < tiny { d = tiny }
            c = 1 + numerator / c; if abs(c) < tiny { c = tiny }
            d = 1 / d
            h *= d * c
            // Odd step.
            numerator = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
            d = 1 + numerator * d; if abs(d) < tiny { d = tiny }
            c = 1 + numerator / c; if abs(c) < tiny { c = tiny }
            d = 1 / d
            let delta = d * c
            h *= delta
            if abs(delta - 1) < epsilon { break }
        }
        return h
    }

    /// Holm's step-down adjustment: the i-th smallest p is multiplied by (m − i), then made
    /// monotone and capped at 1. Returned in the input order; NaN entries stay NaN and do not count.
    public static func holm(_ p: [Double]) -> [Double] {
        let valid = p.indices.filter { !p[$0].isNaN }.sorted { p[$0] < p[$1] }
        let m = valid.count
        var adjusted = p
        var running = 0.0
        for (rank, i) in valid.enumerated() {
            running = max(running, min(1, Double(m - rank) * p[i]))
            adjusted[i] = running
        }
        return adjusted
    }

    /// A percentile bootstrap confidence interval.
    public struct Interval: Equatable, Sendable {
        public var low: Double
        public var high: Double
        public func contains(_ x: Double) -> Bool { low <= x && x <= high }
    }

    /// Bootstrap CI of the mean paired difference in error rate, (error of A) − (error of B),
    /// resampling both sources of noise: seeds (with replacement) and test images (with
    /// replacement, the same draw for every seed and both candidates, so the pairing holds).
    /// `correctA[s][i]` says whether A's seed-s model classified test image i correctly.
    public static func pairedBootstrap(correctA: [[Bool]], correctB: [[Bool]], resamples: Int = 2000,
                                       confidence: Double = 0.95, seed: UInt64 = 0x5EED) -> Interval? {
        let seeds = correctA.count
        guard seeds > 0, correctB.count == seeds, let images = correctA.first?.count, images > 0,
              correctA.allSatisfy({ $0.count == images }), correctB.allSatisfy({ $0.count == images }), resamples > 0 else { return nil }
        // d[s][i] ∈ {−1, 0, 1}: A wrong where B right counts +1 towards A's extra error.
        let d: [[Int8]] = (0..<seeds).map { s in
            (0..<images).map { i in Int8(correctB[s][i] ? 1 : 0) - Int8(correctA[s][i] ? 1 : 0) }
        }
        var generator = SeededGenerator(seed: seed)
        var sums = [Int](repeating: 0, count: seeds)
        var statistics = [Double]()
        statistics.reserveCapacity(resamples)
        for _ in 0..<resamples {
            for s in 0..<seeds { sums[s] = 0 }
            for _ in 0..<images {
                let i = generator.nextInt(below: images)
                for s in 0..<seeds { sums[s] += Int(d[s][i]) }
            }
            var total = 0
            for _ in 0..<seeds { total += sums[generator.nextInt(below: seeds)] }
            statistics.append(Double(total) / Double(seeds * images))
        }
        statistics.sort()
        let alpha = (1 - confidence) / 2
        return Interval(low: quantile(sorted: statistics, alpha), high: quantile(sorted: statistics, 1 - alpha))
    }

    /// Linear-interpolated quantile of sorted values.
    public static func quantile(sorted x: [Double], _ q: Double) -> Double {
        guard !x.isEmpty else { return .nan }
        let position = q * Double(x.count - 1)
        let lower = Int(position.rounded(.down)), upper = min(lower + 1, x.count - 1)
        let fraction = position - Double(lower)
        return x[lower] + (x[upper] - x[lower]) * fraction
    }
}
