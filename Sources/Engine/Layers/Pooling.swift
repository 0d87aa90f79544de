import Tensor

/// Global average pooling: [n, h, w, c] → [n, c].
public final class GlobalAveragePool {
    public let output = Tensor(shape: [0])
    public let inputGradient = Tensor(shape: [0])
    public init() {}

    @discardableResult
    public func forward(_ x: Tensor) -> Tensor {
        let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        output.resize(to: [n, c])
        let scale = 1 / Float(h * w)
        let xp = SendablePointer(x.pointer), yp = SendablePointer(output.pointer)
        parallelFor(n) { i in
            let y = yp.pointer + i * c
            y.update(repeating: 0, count: c)
            var px = xp.pointer + i * h * w * c
            for _ in 0..<(h * w) {
                for ch in 0..<c { y[ch] += px[ch] }
                px += c
            }
            for ch in 0..<c { y[ch] *= scale }
        }
        return output
    }

    @discardableResult
    public func backward(_ dy: Tensor, inputShape: [Int]) -> Tensor {
        let (n, h, w, c) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
        inputGradient.resize(to: inputShape)
        let scale = 1 / Float(h * w)
        let dyp = SendablePointer(dy.pointer), dxp = SendablePointer(inputGradient.pointer)
        parallelFor(n) { i in
            let g = dyp.pointer + i * c
            var d = dxp.pointer + i * h * w * c
            for _ in 0..<(h * w) {
                for ch in 0..<c { d[ch] = g[ch] * scale }
                d += c
            }
        }
        return inputGradient
    }
}

/// PBA's parameter-free shortcut for a change of shape: average pooling by the stride (window =
/// stride, averaging only pixels inside the image, so odd sizes give ceil(h/stride) like the
/// stride-2 convolutions) followed by zero channels padded equally on both sides, as
/// AutoAugment's `zero_pad` does.
public final class PoolPadShortcut {
    public let inChannels: Int, outChannels: Int, stride: Int
    public let output = Tensor(shape: [0])
    public let inputGradient = Tensor(shape: [0])

    public init(inChannels: Int, outChannels: Int, stride: Int) {
        precondition(outChannels >= inChannels && (outChannels - inChannels) % 2 == 0,
                     "zero-padding shortcut needs an even channel increase, got \(inChannels)→\(outChannels)")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.stride = stride
    }

    var channelOffset: Int { (outChannels - inChannels) / 2 }

    /// The pooled, zero-padded input in `output` (a buffer of its own; the model's shortcuts use
    /// `addForward` instead).
    @discardableResult
    public func forward(_ x: Tensor) -> Tensor {
        let s = stride
        output.resize(to: [x.shape[0], (x.shape[1] + s - 1) / s, (x.shape[2] + s - 1) / s, outChannels])
        output.zero()
        addForward(x, into: output)  // 0 + sum is the sum: the same bits as pooling into zeros
        return output
    }

    @discardableResult
    public func backward(_ dy: Tensor, inputShape: [Int]) -> Tensor {
        gradientPass(dy, inputShape: inputShape, adding: nil, into: inputGradient)
        return inputGradient
    }

    /// `top += forward(x)` in one pass over `top`, for the group and stem shortcuts, which add the
    /// pooled input into the residual sum at once: no zeroed output, no second pass for the add,
    /// and the padded channels (zeros) are not touched. Bit-identical to the two-step form: each
    /// channel's window sum is formed in the same order and scaled before it is added. At stride 1
    /// without padding it is the residual add itself (the shortcut is the identity there).
    /// Rows go through the C kernels (`Kernels.poolPadAdd`, same order per lane, same bits) where
    /// the channel count suits them; the loop is the path for other widths.
    public func addForward(_ x: Tensor, into top: Tensor) {
        let (n, h, w) = (x.shape[0], x.shape[1], x.shape[2])
        let s = stride, ci = inChannels, co = outChannels, off = channelOffset
        let oh = (h + s - 1) / s, ow = (w + s - 1) / s
        precondition(top.shape == [n, oh, ow, co], "shortcut of \(x.shape) added into \(top.shape)")
        if s == 1 && ci == co { addTensors(top, x, into: top); return }
        let xp = SendablePointer(x.pointer), tp = SendablePointer(top.pointer)
        parallelFor(n * oh) { job in
            let img = job / oh, oy = job % oh
            if Kernels.poolPadAdd(xp.pointer, height: h, width: w, inChannels: ci, stride: s, outChannels: co,
                                  offset: off, image: img, row: oy, into: tp.pointer) { return }
            let y0 = oy * s, y1 = min(h, y0 + s)
            withUnsafeTemporaryAllocation(of: Float.self, capacity: ci) { sum in
                for ox in 0..<ow {
                    let x0 = ox * s, x1 = min(w, x0 + s)
                    let dst = tp.pointer + ((img * oh + oy) * ow + ox) * co + off
                    sum.update(repeating: 0)
                    for iy in y0..<y1 {
                        for ix in x0..<x1 {
                            let src = xp.pointer + ((img * h + iy) * w + ix) * ci
                            for ch in 0..<ci { sum[ch] += src[ch] }
                        }
                    }
                    let scale = 1 / Float((y1 - y0) * (x1 - x0))
                    if scale != 1 { for ch in 0..<ci { sum[ch] *= scale } }
                    for ch in 0..<ci { dst[ch] += sum[ch] }
                }
            }
        }
    }

    /// `out = d + backward(dy)` in one pass (`out` takes the input's shape; `d` has it already):
    /// the backward of `addForward`, adding the shortcut's gradient to the one that came through
    /// the blocks without a separate buffer for it. Bit-identical to the two-step form.
    public func addBackward(_ dy: Tensor, adding d: Tensor, into out: Tensor) {
        if stride == 1 && inChannels == outChannels {
            precondition(dy.shape == d.shape, "shortcut gradient \(dy.shape) for input \(d.shape)")
            addTensors(d, dy, into: out)
            return
        }
        gradientPass(dy, inputShape: d.shape, adding: d, into: out)
    }

    /// `out = (d +) backward(dy)`: each input pixel gets its window's output gradient, scaled by
    /// the window's size, from the unpadded channels.
    /// By `Kernels.poolPadGradient` where the channel count suits it, else the loop.
    private func gradientPass(_ dy: Tensor, inputShape: [Int], adding d: Tensor?, into out: Tensor) {
        let (n, h, w) = (inputShape[0], inputShape[1], inputShape[2])
        let s = stride, ci = inChannels, co = outChannels, off = channelOffset
        let oh = (h + s - 1) / s, ow = (w + s - 1) / s
        precondition(dy.shape == [n, oh, ow, co], "shortcut gradient \(dy.shape) for input \(inputShape)")
        if out !== d { out.resize(to: inputShape) }
        let dyp = SendablePointer(dy.pointer), op = SendablePointer(out.pointer)
        let dp = d.map { SendablePointer($0.pointer) }
        parallelFor(n * h) { job in
            let img = job / h, iy = job % h
            if Kernels.poolPadGradient(dyp.pointer, adding: dp.map { UnsafePointer($0.pointer) }, height: h, width: w,
                                       inChannels: ci, stride: s, outChannels: co, offset: off, image: img, row: iy,
                                       into: op.pointer) { return }
            let oy = iy / s
            let wy = min(h, oy * s + s) - oy * s
            for ix in 0..<w {
                let ox = ix / s
                let wx = min(w, ox * s + s) - ox * s
                let scale = 1 / Float(wy * wx)
                let g = dyp.pointer + ((img * oh + oy) * ow + ox) * co + off
                let at = ((img * h + iy) * w + ix) * ci
                let o = op.pointer + at
                if let dp {
                    let a = dp.pointer + at
                    for ch in 0..<ci { o[ch] = a[ch] + g[ch] * scale }
                } else {
                    for ch in 0..<ci { o[ch] = g[ch] * scale }
                }
            }
        }
    }
}
