/// The one random number generator of pba: xoshiro256** seeded through SplitMix64.
///
/// Every random choice in pba (weight init, shuffling, augmentation, exploration) takes one of
/// these explicitly, so that the same seed gives the same bytes. Its state is four words and can
/// be saved in a checkpoint and restored exactly. The helpers below (`nextInt(below:)`,
/// `nextUniform()`, `nextGaussian()`) are defined here rather than through the standard library's
/// `random(in:using:)` so that their outputs do not change with the Swift toolchain.
public struct SeededGenerator: RandomNumberGenerator, Sendable, Equatable {
    public private(set) var state: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var sm = seed
        func splitMix(_ x: inout UInt64) -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (splitMix(&sm), splitMix(&sm), splitMix(&sm), splitMix(&sm))
        if state == (0, 0, 0, 0) { state.0 = 1 }
    }

    /// A generator for an independent stream derived from a seed and a path of integers
    /// (e.g. run seed, member, epoch), so that streams never depend on the order they are made in.
    public init(seed: UInt64, stream: [UInt64]) {
        var h = seed ^ 0x6A09_E667_F3BC_C909
        for s in stream {
            var g = SeededGenerator(seed: h ^ (s &* 0x9E37_79B9_7F4A_7C15))
            h = g.next()
        }
        self.init(seed: h)
    }

    /// Restores a generator from a saved state (as returned by `state`).
    public init(state: (UInt64, UInt64, UInt64, UInt64)) {
        self.state = state
        if state == (0, 0, 0, 0) { self.state.0 = 1 }
    }

    public static func == (a: SeededGenerator, b: SeededGenerator) -> Bool { a.state == b.state }

    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = rotl(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotl(state.3, 45)
        return result
    }

    @inline(__always)
    private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 &- k)) }

    /// Uniform integer in `0..<bound` (Lemire's nearly-divisionless method). `bound` must be > 0.
    @inline(__always)
    public mutating func nextInt(below bound: Int) -> Int {
        precondition(bound > 0, "nextInt(below:) needs a positive bound")
        let b = UInt64(bound)
        var m = next().multipliedFullWidth(by: b)
        if m.low < b {
            let t = (0 &- b) % b
            while m.low < t { m = next().multipliedFullWidth(by: b) }
        }
        return Int(m.high)
    }

    /// Uniform integer in a closed range.
    @inline(__always)
    public mutating func nextInt(in range: ClosedRange<Int>) -> Int {
        range.lowerBound + nextInt(below: range.upperBound - range.lowerBound + 1)
    }

    /// Uniform Double in [0, 1) with 53 random bits.
    @inline(__always)
    public mutating func nextUniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// True with probability `p`.
    @inline(__always)
    public mutating func nextBool(probability p: Double) -> Bool { nextUniform() < p }

    /// Standard normal sample (Box–Muller; one of the pair is discarded to keep the state simple).
    public mutating func nextGaussian() -> Double {
        var u1 = nextUniform()
        while u1 <= 0 { u1 = nextUniform() }
        let u2 = nextUniform()
        return (-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2)
    }

    /// Fisher–Yates shuffle with this generator.
    public mutating func shuffle<T>(_ a: inout [T]) {
        guard a.count > 1 else { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) {
            let j = nextInt(below: i + 1)
            if i != j { a.swapAt(i, j) }
        }
    }
}

#if canImport(Glibc)
import Glibc
@inline(__always) private func _log(_ x: Double) -> Double { Glibc.log(x) }
@inline(__always) private func _cos(_ x: Double) -> Double { Glibc.cos(x) }
#else
import Foundation
@inline(__always) private func _log(_ x: Double) -> Double { Foundation.log(x) }
@inline(__always) private func _cos(_ x: Double) -> Double { Foundation.cos(x) }
#endif
