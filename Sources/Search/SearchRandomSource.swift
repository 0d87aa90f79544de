import Tensor

/// The random draws the search makes. `SeededGenerator` is the production source; tests may
/// script the draws to check a decision by hand.
public protocol SearchRandomSource {
    /// Uniform in [0, 1).
    mutating func nextUniform() -> Double
    /// Uniform in `0..<bound`, bound > 0.
    mutating func nextInt(below bound: Int) -> Int
}

extension SearchRandomSource {
    /// Uniform in a closed range.
    public mutating func nextInt(in range: ClosedRange<Int>) -> Int {
        range.lowerBound + nextInt(below: range.upperBound - range.lowerBound + 1)
    }
}

extension SeededGenerator: SearchRandomSource {}

/// The independent random streams of a run, each derived from the run seed and a path, so a
/// decision's draws depend only on what the decision is about, never on the order events arrive
/// in or on how many draws were made before. This is what makes replay and synchronous mode
/// deterministic.
public enum SearchStreams {
    private static let initialPolicyTag: UInt64 = 1
    private static let decisionTag: UInt64 = 2
    private static let weightsTag: UInt64 = 3
    private static let trainingTag: UInt64 = 4

    /// Draws of member's sampled initial policy.
    public static func initialPolicy(seed: UInt64, member: Int) -> SeededGenerator {
        SeededGenerator(seed: seed, stream: [initialPolicyTag, UInt64(member)])
    }

    /// Draws of the exploit/explore decision of `member` at `epoch`, its `perturbation`-th
    /// decision so far that led to a copy (a member can reach an epoch again after copying a
    /// member that was behind it).
    public static func decision(seed: UInt64, member: Int, epoch: Int, perturbation: Int) -> SeededGenerator {
        SeededGenerator(seed: seed, stream: [decisionTag, UInt64(member), UInt64(epoch), UInt64(perturbation)])
    }

    /// Seed of a member's initial weights.
    public static func weightSeed(seed: UInt64, member: Int) -> UInt64 {
        var g = SeededGenerator(seed: seed, stream: [weightsTag, UInt64(member)])
        return g.next()
    }

    /// Seed of the generator a worker augments and shuffles with for an assignment starting at
    /// `epoch`: derived from (run seed, member, epoch, perturbations), never inherited from a
    /// copied member, so a target does not replay its source's augmentation draws.
    public static func trainingSeed(seed: UInt64, member: Int, epoch: Int, perturbation: Int) -> UInt64 {
        var g = SeededGenerator(seed: seed, stream: [trainingTag, UInt64(member), UInt64(epoch), UInt64(perturbation)])
        return g.next()
    }
}
