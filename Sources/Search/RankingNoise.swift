import Foundation

/// Which validation images a result classified correctly, one bit per image in the validation
/// set's order: what makes a gap between two members measurable against its noise (paired over
/// the same images) without shipping predictions and labels around.
///
/// Encoded as `"COUNT:BASE64"` (bit i is bit i % 8 of byte i / 8), ~170 characters for 1 000
/// images, since every result is stored as an event.
public struct CorrectnessBits: Hashable, Sendable, Codable {
    public let count: Int
    public let bytes: [UInt8]

    public init(_ correct: [Bool]) {
        var bytes = [UInt8](repeating: 0, count: (correct.count + 7) / 8)
        for (i, c) in correct.enumerated() where c { bytes[i >> 3] |= 1 << UInt8(i & 7) }
        self.count = correct.count
        self.bytes = bytes
    }

    public init(count: Int, bytes: [UInt8]) throws(RankingNoiseError) {
        guard count >= 0, bytes.count == (count + 7) / 8 else {
            throw .malformedBits("\(bytes.count) bytes cannot hold exactly \(count) bits")
        }
        self.count = count
        self.bytes = bytes
    }

    public subscript(i: Int) -> Bool { bytes[i >> 3] & (1 << UInt8(i & 7)) != 0 }

    public var correctCount: Int { (0..<count).reduce(0) { $0 + (self[$1] ? 1 : 0) } }

    public var accuracy: Double { count == 0 ? .nan : Double(correctCount) / Double(count) }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode("\(count):" + Data(bytes).base64EncodedString())
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let text = try c.decode(String.self)
        guard let colon = text.firstIndex(of: ":"), let n = Int(text[..<colon]),
              let data = Data(base64Encoded: String(text[text.index(after: colon)...])) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "correctness bits must be COUNT:BASE64")
        }
        do { self = try CorrectnessBits(count: n, bytes: [UInt8](data)) } catch {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "\(error)")
        }
    }
}

public enum RankingNoiseError: Error, Equatable, CustomStringConvertible {
    case malformedBits(String)
    public var description: String {
        switch self { case let .malformedBits(why): return "correctness bits: \(why)" }
    }
}

/// How noisy the ranking signal is: the standard error of the gap between two members'
/// accuracies and the chance that a second, independent evaluation reverses their order.
public enum RankingNoise {
    /// Standard error of accuracy(a) − accuracy(b) measured on the same images: the sample
    /// standard deviation of the per-image differences d_i ∈ {−1, 0, 1} over √n. Nil when the
    /// two were not scored on the same number of images (or on fewer than two).
    public static func pairedStandardError(_ a: CorrectnessBits, _ b: CorrectnessBits) -> Double? {
        guard a.count == b.count, a.count >= 2 else { return nil }
        let n = a.count
        var sum = 0.0, sumSquares = 0.0
        for i in 0..<n {
            let d = Double((a[i] ? 1 : 0) - (b[i] ? 1 : 0))
            sum += d
            sumSquares += d * d
        }
        let mean = sum / Double(n)
        let variance = max(0, (sumSquares - Double(n) * mean * mean) / Double(n - 1))
        return (variance / Double(n)).squareRoot()
    }

    /// Standard error of the gap when only the two accuracies and the image count are known
    /// (treating the two as independent binomials: an upper bound on the paired value when the
    /// members agree on most images).
    public static func unpairedStandardError(_ a: Double, _ b: Double, images n: Int) -> Double? {
        guard n >= 1, a.isFinite, b.isFinite else { return nil }
        return ((a * (1 - a) + b * (1 - b)) / Double(n)).squareRoot()
    }

    /// The standard error of accuracy(a) − accuracy(b): paired when both results carry
    /// per-image correctness for the same images, else unpaired on the image count one of them
    /// gives; nil when neither says how many images were scored.
    public static func gapStandardError(_ a: Double, _ aCorrect: CorrectnessBits?,
                                        _ b: Double, _ bCorrect: CorrectnessBits?) -> (value: Double, paired: Bool)? {
        if let x = aCorrect, let y = bCorrect, let s = pairedStandardError(x, y) { return (s, true) }
        guard let n = aCorrect?.count ?? bCorrect?.count, let s = unpairedStandardError(a, b, images: n) else { return nil }
        return (s, false)
    }

    /// Probability that an independent evaluation of the same size reverses the sign of an
    /// observed gap g with standard error s: with a flat prior on the true gap, the true gap is
    /// N(g, s²) and a fresh measurement N(g, 2s²), so P = Φ(−|g| / (√2·s)). 0.5 for a zero gap.
    public static func reversalProbability(gap: Double, standardError s: Double) -> Double {
        guard s > 0 else { return gap == 0 ? 0.5 : 0 }
        return normalCDF(-abs(gap) / (2.0.squareRoot() * s))
    }

    /// Two evaluations on disjoint halves of the same images (even and odd positions): whether
    /// they order a and b oppositely (nil when either half has a tie).
    public static func halvesDisagree(_ a: CorrectnessBits, _ b: CorrectnessBits) -> Bool? {
        guard a.count == b.count, a.count >= 2 else { return nil }
        var even = 0, odd = 0
        for i in 0..<a.count {
            let d = (a[i] ? 1 : 0) - (b[i] ? 1 : 0)
            if i % 2 == 0 { even += d } else { odd += d }
        }
        guard even != 0, odd != 0 else { return nil }
        return (even > 0) != (odd > 0)
    }

    /// Φ, the standard normal CDF, through erfc (exact to double precision).
    public static func normalCDF(_ x: Double) -> Double { 0.5 * erfc(-x / 2.0.squareRoot()) }
}

/// What the exploit step saw when a bottom member was told to copy a top one: the gap, its
/// noise, and what the search did. Kept for every such decision so a run can say how often its
/// exploit decisions are decided by noise.
public struct ExploitCheck: Hashable, Sendable {
    public var target: Int
    public var source: Int
    public var targetEpoch: Int
    /// Source's latest accuracy minus the target's (fraction, not points).
    public var gap: Double
    /// Of the gap: paired when both results carry per-image correctness, else unpaired.
    public var standardError: Double?
    public var paired: Bool
    /// Probability a second evaluation of the same size reverses the order.
    public var reversalProbability: Double?
    /// Two disjoint halves of the validation images order the pair oppositely.
    public var halvesDisagree: Bool?
    /// False when the selection margin held the target back.
    public var copied: Bool

    public init(target: Int, source: Int, targetEpoch: Int, gap: Double, standardError: Double?, paired: Bool,
                reversalProbability: Double?, halvesDisagree: Bool?, copied: Bool) {
        self.target = target; self.source = source; self.targetEpoch = targetEpoch; self.gap = gap
        self.standardError = standardError; self.paired = paired; self.reversalProbability = reversalProbability
        self.halvesDisagree = halvesDisagree; self.copied = copied
    }
}

/// A run's exploit decisions against their noise, for `pba search` and `pba status`.
public struct ExploitNoiseSummary: Hashable, Sendable {
    public var decisions: Int
    public var copies: Int
    /// Held back by the selection margin.
    public var held: Int
    /// Mean probability, over the decisions with a standard error, that a second evaluation
    /// would reverse the pair's order.
    public var meanReversalProbability: Double?
    /// Among decisions with per-image data: how often two disjoint halves disagree.
    public var halvesDisagreeing: Int
    public var halvesCompared: Int
    /// Decisions whose gap was under one standard error.
    public var withinOneStandardError: Int

    public init(_ checks: [ExploitCheck]) {
        decisions = checks.count
        copies = checks.filter(\.copied).count
        held = decisions - copies
        let probabilities = checks.compactMap(\.reversalProbability)
        meanReversalProbability = probabilities.isEmpty ? nil : probabilities.reduce(0, +) / Double(probabilities.count)
        let halves = checks.compactMap(\.halvesDisagree)
        halvesCompared = halves.count
        halvesDisagreeing = halves.filter { $0 }.count
        withinOneStandardError = checks.filter { c in c.standardError.map { c.gap < $0 } ?? false }.count
    }
}
