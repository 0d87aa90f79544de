import Tensor

/// SGD settings: PBA's search settings by default.
public struct SGDOptions: Codable, Hashable, Sendable {
    public var learningRate: Double = 0.1
    public var momentum: Double = 0.9
    public var nesterov: Bool = true
    public var weightDecay: Double = 5e-4
    /// Clip the loss gradient to this global L2 norm before weight decay and momentum (0 = off).
    public var gradientClipNorm: Double = 5.0

    public init() {}
}

/// Cosine decay from the base rate to 0 over the whole run, evaluated per step (as PBA's
/// `cosine_lr`): lr(s) = ½·lr₀·(1 + cos(π·s / S)).
public func cosineLearningRate(base: Double, step: Int, totalSteps: Int) -> Double {
    guard totalSteps > 0 else { return base }
    let t = min(1, Double(step) / Double(totalSteps))
    return 0.5 * base * (1 + _cos(Double.pi * t))
}

/// One SGD step over the whole flat parameter buffer, in PyTorch's order: clip the loss
/// gradient by global norm, add weight decay, Nesterov momentum, update.
/// Returns the global gradient norm before clipping.
@discardableResult
public func sgdStep(_ store: ParameterStore, options: SGDOptions, learningRate: Double) -> Double {
    let n = store.values.count
    let g = store.gradients.pointer, p = store.values.pointer, m = store.momentum.pointer
    var sumSquares = 0.0
    // Fixed 8-way partial sums: the norm does not depend on thread count.
    var partial = [Double](repeating: 0, count: 8)
    partial.withUnsafeMutableBufferPointer { pb in
        let pp = SendablePointer(pb.baseAddress!), gp = SendablePointer(g)
        parallelChunks(n, chunks: 8) { c, r in
            var s = 0.0
            for i in r { let v = Double(gp.pointer[i]); s += v * v }
            pp.pointer[c] = s
        }
    }
    for s in partial { sumSquares += s }
    let norm = sumSquares.squareRoot()
    var scale: Float = 1
    if options.gradientClipNorm > 0 {
        let coefficient = options.gradientClipNorm / (norm + 1e-6)
        if coefficient < 1 { scale = Float(coefficient) }
    }
    let wd = Float(options.weightDecay), mu = Float(options.momentum), lr = Float(learningRate)
    let nesterov = options.nesterov
    let gp = SendablePointer(g), vp = SendablePointer(p), mp = SendablePointer(m)
    parallelChunks(n, chunks: ComputeThreads.count * 4) { _, r in
        for i in r {
            let grad = gp.pointer[i] * scale + wd * vp.pointer[i]
            let buf = mu * mp.pointer[i] + grad
            mp.pointer[i] = buf
            vp.pointer[i] -= lr * (nesterov ? grad + mu * buf : buf)
        }
    }
    return norm
}

#if canImport(Glibc)
import Glibc
@inline(__always) private func _cos(_ x: Double) -> Double { Glibc.cos(x) }
#endif
