import Tensor

/// Batch normalisation over the channel axis of an NHWC tensor, optionally followed by ReLU.
///
/// Training mode normalises with the batch's statistics (biased variance) and updates the
/// running statistics with PyTorch's convention, `running = (1 - momentum)·running +
/// momentum·batch` using the unbiased variance; evaluation mode uses the running statistics.
/// The ReLU is fused because every batch norm in a pre-activation WRN is followed by one: the
/// backward pass then needs only the input (kept by the layer before) and this layer's output
/// (kept for the convolution after), so the fusion costs no extra memory; the C kernels need not
/// even read the output: they recompute the ReLU's mask from the input and the forward's affine map.
///
/// Reductions run over fixed row chunks combined in order, in double precision, so results do
/// not depend on the thread count.
public final class BatchNorm {
    public let channels: Int
    public let relu: Bool
    public var momentum: Float
    public var epsilon: Float
    let store: ParameterStore
    let gammaOffset: Int, betaOffset: Int, meanOffset: Int, varianceOffset: Int
    public let output = Tensor(shape: [0])
    /// dL/dx; may be shared like `Conv2D.inputGradient`.
    public var inputGradient = Tensor(shape: [0])
    /// Per-channel scratch: the statistics the last forward used, and the coefficients of the
    /// affine map the backward applies besides `forwardScale` ([channels] each).
    private let batchMean: Tensor, batchInvStd: Tensor, coefB: Tensor, coefC: Tensor
    /// The last forward's y = x·scale + shift per channel, kept for the backward: the C kernels
    /// recompute the ReLU's mask from x with them instead of reading the output (one pass fewer),
    /// and scale = γ·rstd is also the backward's leading factor.
    private let forwardScale: Tensor, forwardShift: Tensor
    /// Fixed number of reduction chunks: part of the arithmetic, not a tuning knob per run.
    static let reductionChunks = 16

    public init(_ name: String, store: ParameterStore, channels: Int, relu: Bool,
                momentum: Float = 0.1, epsilon: Float = 1e-3) {
        self.channels = channels
        self.relu = relu
        self.momentum = momentum
        self.epsilon = epsilon
        self.store = store
        gammaOffset = store.addParameter("\(name).gamma", shape: [channels], initializer: .ones)
        betaOffset = store.addParameter("\(name).beta", shape: [channels], initializer: .zeros)
        meanOffset = store.addStatistic("\(name).running_mean", count: channels, initializer: .zeros)
        varianceOffset = store.addStatistic("\(name).running_var", count: channels, initializer: .ones)
        batchMean = Tensor(shape: [channels]); batchInvStd = Tensor(shape: [channels])
        coefB = Tensor(shape: [channels]); coefC = Tensor(shape: [channels])
        forwardScale = Tensor(shape: [channels]); forwardShift = Tensor(shape: [channels])
    }

    /// Per-channel sums over the rows of a [rows, channels] matrix: fixed chunks, combined in order.
    /// `accumulate(r, sums)` adds row r's `count` terms into float sums; within a chunk these run
    /// over blocks of `blockRows` rows and each block is then added into double accumulators, so
    /// no float sum covers more than `blockRows` values.
    /// `kernel(range, acc)`, when it returns true, has added a chunk's sums the same way (the C
    /// kernels, `Kernels.batchNormSums`).
    private func channelSums(rows: Int, count: Int,
                             kernel: (Range<Int>, UnsafeMutablePointer<Double>) -> Bool = { _, _ in false },
                             _ accumulate: (Int, UnsafeMutablePointer<Float>) -> Void) -> [Double] {
        let chunks = BatchNorm.reductionChunks, block = BatchNorm.blockRows
        var partial = [Double](repeating: 0, count: chunks * count)
        partial.withUnsafeMutableBufferPointer { pb in
            let p = SendablePointer(pb.baseAddress!)
            parallelChunks(rows, chunks: chunks) { chunk, range in
                if kernel(range, p.pointer + chunk * count) { return }
                withUnsafeTemporaryAllocation(of: Float.self, capacity: count) { fb in
                    let f = fb.baseAddress!
                    let acc = p.pointer + chunk * count
                    var r = range.lowerBound
                    while r < range.upperBound {
                        let end = min(range.upperBound, r &+ block)
                        f.update(repeating: 0, count: count)
                        while r < end { accumulate(r, f); r &+= 1 }
                        for i in 0..<count { acc[i] += Double(f[i]) }
                    }
                }
            }
        }
        var total = [Double](repeating: 0, count: count)
        for k in 0..<chunks { for i in 0..<count { total[i] += partial[k * count + i] } }
        return total
    }

    /// Rows per float partial sum in `channelSums`.
    static let blockRows = 32

    /// x: [n, h, w, channels] → same shape.
    @discardableResult
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let c = channels
        precondition(x.shape.last == c, "BatchNorm got \(x.shape.last ?? 0) channels, expected \(c)")
        output.resize(to: x.shape)
        let rows = x.count / c
        let xp = SendablePointer(x.pointer)
        let stats = store.statistics.pointer
        if training {
            let sums = channelSums(rows: rows, count: c, kernel: { range, acc in
                Kernels.batchNormSums(.values, relu: false, x: xp.pointer, dy: nil, scale: nil, shift: nil, mean: nil, invStd: nil,
                                      channels: c, rows: range, into: acc)
            }) { r, acc in
                let row = UnsafePointer(xp.pointer + r &* c)
                @inline(__always) func lane<L: FloatLanes>(_ ch: Int, _: L.Type) {
                    (L.load(acc + ch) + L.load(row + ch)).store(acc + ch)
                }
                forEachLane(c, lane, lane)
            }
            let mean = sums.map { $0 / Double(rows) }
            for ch in 0..<c { batchMean[ch] = Float(mean[ch]) }
            let mp = UnsafePointer(batchMean.pointer)
            let centred = channelSums(rows: rows, count: c, kernel: { range, acc in
                Kernels.batchNormSums(.centredSquares, relu: false, x: xp.pointer, dy: nil, scale: nil, shift: nil, mean: mp,
                                      invStd: nil, channels: c, rows: range, into: acc)
            }) { r, acc in
                let row = UnsafePointer(xp.pointer + r &* c)
                @inline(__always) func lane<L: FloatLanes>(_ ch: Int, _: L.Type) {
                    let d = L.load(row + ch) - L.load(mp + ch)
                    (L.load(acc + ch) + d * d).store(acc + ch)
                }
                forEachLane(c, lane, lane)
            }
            for ch in 0..<c {
                let variance = centred[ch] / Double(rows)
                batchInvStd[ch] = Float(1 / (variance + Double(epsilon)).squareRoot())
                let unbiased = rows > 1 ? centred[ch] / Double(rows - 1) : variance
                stats[meanOffset + ch] = (1 - momentum) * stats[meanOffset + ch] + momentum * Float(mean[ch])
                stats[varianceOffset + ch] = (1 - momentum) * stats[varianceOffset + ch] + momentum * Float(unbiased)
            }
        } else {
            for ch in 0..<c {
                batchMean[ch] = stats[meanOffset + ch]
                batchInvStd[ch] = 1 / (stats[varianceOffset + ch] + epsilon).squareRoot()
            }
        }
        // y = x·scale + shift, scale = γ·rstd, shift = β − mean·scale
        let gamma = store.values.pointer + gammaOffset, beta = store.values.pointer + betaOffset
        let scale = SendablePointer(forwardScale.pointer), shift = SendablePointer(forwardShift.pointer)
        for ch in 0..<c {
            scale.pointer[ch] = gamma[ch] * batchInvStd[ch]
            shift.pointer[ch] = beta[ch] - batchMean[ch] * scale.pointer[ch]
        }
        let yp = SendablePointer(output.pointer)
        let applyRelu = relu
        parallelChunks(rows, chunks: ComputeThreads.count * 4) { _, range in
            let sc = UnsafePointer(scale.pointer), sh = UnsafePointer(shift.pointer)
            if Kernels.batchNormApply(relu: applyRelu, x: xp.pointer, scale: sc, shift: sh, channels: c, rows: range,
                                      into: yp.pointer) { return }
            for r in range {
                let xr = UnsafePointer(xp.pointer + r &* c), yr = yp.pointer + r &* c
                if applyRelu {
                    @inline(__always) func lane<L: FloatLanes>(_ ch: Int, _: L.Type) {
                        (L.load(xr + ch) * L.load(sc + ch) + L.load(sh + ch)).relu.store(yr + ch)
                    }
                    forEachLane(c, lane, lane)
                } else {
                    @inline(__always) func lane<L: FloatLanes>(_ ch: Int, _: L.Type) {
                        (L.load(xr + ch) * L.load(sc + ch) + L.load(sh + ch)).store(yr + ch)
                    }
                    forEachLane(c, lane, lane)
                }
            }
        }
        return output
    }

    /// Backward of a training-mode forward. x is the forward input; dy the gradient of `output`.
    /// Accumulates dγ, dβ into the store and returns dL/dx.
    @discardableResult
    public func backward(_ dy: Tensor, input x: Tensor) -> Tensor {
        let c = channels
        let rows = x.count / c
        inputGradient.resize(to: x.shape)
        let xp = SendablePointer(x.pointer), yp = SendablePointer(output.pointer)
        let dyp = SendablePointer(dy.pointer), dxp = SendablePointer(inputGradient.pointer)
        let applyRelu = relu
        let m = SendablePointer(batchMean.pointer), s = SendablePointer(batchInvStd.pointer)
        // Σ dz and Σ dz·x̂ per channel, with dz = dy·[y > 0].
        let mean = UnsafePointer(m.pointer), invStd = UnsafePointer(s.pointer)
        let scale = UnsafePointer(forwardScale.pointer), shift = UnsafePointer(forwardShift.pointer)
        let sums = channelSums(rows: rows, count: 2 * c, kernel: { range, acc in
            Kernels.batchNormSums(.gradients, relu: applyRelu, x: xp.pointer, dy: dyp.pointer, scale: scale, shift: shift,
                                  mean: mean, invStd: invStd, channels: c, rows: range, into: acc)
        }) { r, acc in
            let o = r &* c
            let dyr = UnsafePointer(dyp.pointer + o), yr = UnsafePointer(yp.pointer + o), xr = UnsafePointer(xp.pointer + o)
            let accXhat = acc + c
            @inline(__always) func lane<L: FloatLanes>(_ ch: Int, _: L.Type) {
                var g = L.load(dyr + ch)
                if applyRelu { g = g.passing(where: L.load(yr + ch)) }
                let xhat = (L.load(xr + ch) - L.load(mean + ch)) * L.load(invStd + ch)
                (L.load(acc + ch) + g).store(acc + ch)
                (L.load(accXhat + ch) + g * xhat).store(accXhat + ch)
            }
            forEachLane(c, lane, lane)
        }
        let sumDz = Array(sums[0..<c]), sumDzXhat = Array(sums[c...])
        let dGamma = store.gradients.pointer + gammaOffset, dBeta = store.gradients.pointer + betaOffset
        // dx = γ·rstd·(dz − mean(dz) − x̂·mean(dz·x̂)) = A·(dz − B − x̂·C), A the forward's scale
        let pb = SendablePointer(coefB.pointer), pc = SendablePointer(coefC.pointer)
        let invRows = 1 / Double(rows)
        for ch in 0..<c {
            dGamma[ch] += Float(sumDzXhat[ch])
            dBeta[ch] += Float(sumDz[ch])
            pb.pointer[ch] = Float(sumDz[ch] * invRows)
            pc.pointer[ch] = Float(sumDzXhat[ch] * invRows)
        }
        let ca = scale, cb = UnsafePointer(pb.pointer), cc = UnsafePointer(pc.pointer)
        parallelChunks(rows, chunks: ComputeThreads.count * 4) { _, range in
            if Kernels.batchNormBackward(relu: applyRelu, dy: dyp.pointer, scale: scale, shift: shift, x: xp.pointer, mean: mean,
                                         invStd: invStd, a: ca, b: cb, c: cc, channels: c, rows: range, into: dxp.pointer) { return }
            for r in range {
                let o = r &* c
                let dyr = UnsafePointer(dyp.pointer + o), yr = UnsafePointer(yp.pointer + o)
                let xr = UnsafePointer(xp.pointer + o), dxr = dxp.pointer + o
                @inline(__always) func lane<L: FloatLanes>(_ ch: Int, _: L.Type) {
                    var g = L.load(dyr + ch)
                    if applyRelu { g = g.passing(where: L.load(yr + ch)) }
                    let xhat = (L.load(xr + ch) - L.load(mean + ch)) * L.load(invStd + ch)
                    (L.load(ca + ch) * (g - L.load(cb + ch) - xhat * L.load(cc + ch))).store(dxr + ch)
                }
                forEachLane(c, lane, lane)
            }
        }
        return inputGradient
    }
}
