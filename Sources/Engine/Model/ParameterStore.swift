import Tensor

/// How a parameter slice is initialised.
public enum ParameterInit: Sendable, Hashable {
    case zeros
    case ones
    /// Normal(0, sqrt(2 / fanOut)): He initialisation by fan-out, as PBA's and WRN's convolutions.
    case heNormalFanOut(fanOut: Int)
    /// Uniform(-bound, bound).
    case uniform(bound: Float)
}

/// One named view into a flat buffer.
public struct ParameterSlice: Sendable, Hashable {
    public let name: String
    /// Shape comment of the slice, e.g. [3*3*16, 32] for a convolution's HWIO weights.
    public let shape: [Int]
    public let offset: Int
    public let count: Int
    public let initializer: ParameterInit
}

/// All trainable parameters of a model in one contiguous buffer, with gradients and momentum in
/// buffers of the same layout, plus the batch-norm running statistics in a fourth.
///
/// Because everything lives in a handful of flat buffers, a whole model is saved, sent and
/// copied (PBT's exploit) as a few blocks of bytes, gradients are zeroed with one fill, and the
/// optimizer is one loop.
public final class ParameterStore: @unchecked Sendable {
    public private(set) var slices: [ParameterSlice] = []
    public private(set) var statisticSlices: [ParameterSlice] = []
    /// Trainable parameters, gradients and SGD momentum: same layout.
    public let values = Tensor(shape: [0])
    public let gradients = Tensor(shape: [0])
    public let momentum = Tensor(shape: [0])
    /// Batch-norm running means and variances (not trained by SGD).
    public let statistics = Tensor(shape: [0])
    public private(set) var isFinalized = false

    public init() {}

    public var parameterCount: Int { values.count }

    /// Registers a trainable slice during model construction and returns its offset.
    public func addParameter(_ name: String, shape: [Int], initializer: ParameterInit) -> Int {
        precondition(!isFinalized, "parameters added after the store was finalized")
        let offset = slices.last.map { $0.offset + $0.count } ?? 0
        let s = ParameterSlice(name: name, shape: shape, offset: offset, count: Tensor.elementCount(shape), initializer: initializer)
        slices.append(s)
        return offset
    }

    /// Registers a running-statistics slice during model construction and returns its offset.
    public func addStatistic(_ name: String, count: Int, initializer: ParameterInit) -> Int {
        precondition(!isFinalized, "statistics added after the store was finalized")
        let offset = statisticSlices.last.map { $0.offset + $0.count } ?? 0
        statisticSlices.append(ParameterSlice(name: name, shape: [count], offset: offset, count: count, initializer: initializer))
        return offset
    }

    /// Allocates the buffers and initialises every slice from `generator`.
    public func finalize(generator: inout SeededGenerator) {
        precondition(!isFinalized)
        isFinalized = true
        let n = slices.last.map { $0.offset + $0.count } ?? 0
        for t in [values, gradients, momentum] { t.resize(to: [n]); t.zero() }
        let s = statisticSlices.last.map { $0.offset + $0.count } ?? 0
        statistics.resize(to: [s])
        for slice in slices { Self.fill(values.pointer + slice.offset, slice, &generator) }
        for slice in statisticSlices { Self.fill(statistics.pointer + slice.offset, slice, &generator) }
    }

    private static func fill(_ p: UnsafeMutablePointer<Float>, _ s: ParameterSlice, _ g: inout SeededGenerator) {
        switch s.initializer {
        case .zeros: p.update(repeating: 0, count: s.count)
        case .ones: p.update(repeating: 1, count: s.count)
        case let .heNormalFanOut(fanOut):
            let std = (2.0 / Double(fanOut)).squareRoot()
            for i in 0..<s.count { p[i] = Float(g.nextGaussian() * std) }
        case let .uniform(bound):
            for i in 0..<s.count { p[i] = Float((g.nextUniform() * 2 - 1) * Double(bound)) }
        }
    }

    public func zeroGradients() { gradients.zero() }

    /// Copies weights, momentum and statistics from another store of the same layout (PBT exploit).
    public func copyState(from other: ParameterStore) {
        precondition(other.slices == slices && other.statisticSlices == statisticSlices, "layouts differ")
        values.pointer.update(from: other.values.pointer, count: values.count)
        momentum.pointer.update(from: other.momentum.pointer, count: momentum.count)
        statistics.pointer.update(from: other.statistics.pointer, count: statistics.count)
    }
}
