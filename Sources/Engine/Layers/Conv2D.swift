import Tensor

/// Scratch memory shared by the layers of one model (im2col columns, Winograd transforms),
/// grown on demand. Layers run one after another, so one set serves them all.
public final class Workspace: @unchecked Sendable {
    let columns = Tensor(shape: [0])
    /// Upper bound on the im2col matrix a convolution builds at once, in floats (16 MiB):
    /// large enough for efficient GEMMs, small enough to stay in the outer caches' neighbourhood.
    var columnBudget = 4 << 20
    /// Winograd: the two transformed-activation buffers `[36, tiles, channels]` of one chunk.
    let winogradFirst = Tensor(shape: [0]), winogradSecond = Tensor(shape: [0])
    /// Winograd: transformed weights `[36, Cin, Cout]` and their gradient.
    let winogradWeights = Tensor(shape: [0]), winogradWeightGradient = Tensor(shape: [0])
    /// Winograd: per-job scratch of the transforms.
    let winogradScratch = Tensor(shape: [0])
    /// Upper bound on the two Winograd buffers of one chunk together, in floats (1 MiB, about
    /// one core's L2: measured on WRN-40-2 the transforms slow down with larger chunks faster
    /// than the 36 GEMMs speed up; at 128 Ki floats the GEMMs get too small).
    var winogradBudget = 1 << 18
    public init() {}
}

/// How a convolution is computed. Only stride-1 3×3 convolutions have a Winograd path; every
/// other shape uses im2col whatever is chosen.
public enum ConvolutionAlgorithm: String, Sendable, CaseIterable {
    /// Winograd F(4×4, 3×3) where eligible, im2col + sgemm elsewhere.
    case winograd
    /// im2col + sgemm everywhere (the reference the Winograd path is tested against).
    case im2col
}

/// A bias-free 2-D convolution over NHWC tensors: stride-1 3×3 convolutions by Winograd
/// F(4×4, 3×3) (`Winograd`, 4× fewer multiplies) unless `algorithm` is `.im2col`; every other
/// shape lowered to im2col + `sgemm`.
///
/// Weights are HWIO, i.e. a `[k*k*inChannels, outChannels]` matrix, so that one image chunk's
/// forward pass is `columns · W` and lands directly in NHWC order. Padding is symmetric
/// (`(k-1)/2` on each side, as PyTorch); TensorFlow's 'SAME' for stride 2 on even sizes pads only
/// bottom/right, which is the one geometric difference from PBA's TF model.
public final class Conv2D {
    public let inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int
    let store: ParameterStore
    let weightOffset: Int
    let workspace: Workspace
    public let output = Tensor(shape: [0])
    public let inputGradient = Tensor(shape: [0])
    /// Which algorithm eligible shapes use (see `ConvolutionAlgorithm`).
    public var algorithm: ConvolutionAlgorithm = .winograd

    public init(_ name: String, store: ParameterStore, workspace: Workspace,
                inChannels: Int, outChannels: Int, kernel: Int, stride: Int) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = (kernel - 1) / 2
        self.store = store
        self.workspace = workspace
        weightOffset = store.addParameter("\(name).weight", shape: [kernel * kernel * inChannels, outChannels],
                                          initializer: .heNormalFanOut(fanOut: kernel * kernel * outChannels))
    }

    public func outputSize(_ h: Int, _ w: Int) -> (Int, Int) {
        ((h + 2 * padding - kernel) / stride + 1, (w + 2 * padding - kernel) / stride + 1)
    }

    var weight: UnsafeMutablePointer<Float> { store.values.pointer + weightOffset }
    var weightGradient: UnsafeMutablePointer<Float> { store.gradients.pointer + weightOffset }

    private var isPointwise: Bool { kernel == 1 && stride == 1 }

    private var usesWinograd: Bool { algorithm == .winograd && isWinogradEligible }

    /// Images per im2col chunk for an output of `oh × ow` pixels.
    private func imagesPerChunk(_ n: Int, _ oh: Int, _ ow: Int) -> Int {
        let rowFloats = kernel * kernel * inChannels
        return max(1, min(n, workspace.columnBudget / max(1, oh * ow * rowFloats)))
    }

    /// x: [n, h, w, inChannels] → [n, oh, ow, outChannels]
    @discardableResult
    public func forward(_ x: Tensor) -> Tensor {
        let (n, h, w) = (x.shape[0], x.shape[1], x.shape[2])
        precondition(x.shape[3] == inChannels, "Conv2D input has \(x.shape[3]) channels, expected \(inChannels)")
        let (oh, ow) = outputSize(h, w)
        output.resize(to: [n, oh, ow, outChannels])
        let kk = kernel * kernel * inChannels
        if usesWinograd {
            winogradForward(x)
            return output
        }
        if isPointwise {
            BLAS.sgemm(m: n * h * w, n: outChannels, k: inChannels, a: x.pointer, lda: inChannels,
                       b: weight, ldb: outChannels, c: output.pointer, ldc: outChannels)
            return output
        }
        let chunk = imagesPerChunk(n, oh, ow)
        workspace.columns.resize(to: [chunk * oh * ow * kk])
        var first = 0
        while first < n {
            let count = min(chunk, n - first)
            im2col(x, images: first..<(first + count), into: workspace.columns.pointer)
            BLAS.sgemm(m: count * oh * ow, n: outChannels, k: kk, a: workspace.columns.pointer, lda: kk,
                       b: weight, ldb: outChannels,
                       c: output.pointer + first * oh * ow * outChannels, ldc: outChannels)
            first += count
        }
        return output
    }

    /// Accumulates the weight gradient into the store and, if asked, returns dL/dx.
    /// x is the input the forward pass saw; dy: [n, oh, ow, outChannels].
    @discardableResult
    public func backward(_ dy: Tensor, input x: Tensor, needInputGradient: Bool = true) -> Tensor {
        let (n, h, w) = (x.shape[0], x.shape[1], x.shape[2])
        let (oh, ow) = outputSize(h, w)
        let kk = kernel * kernel * inChannels
        if needInputGradient { inputGradient.resize(to: x.shape) }
        if usesWinograd {
            winogradBackward(dy, input: x, needInputGradient: needInputGradient)
            return inputGradient
        }
        if isPointwise {
            BLAS.sgemm(transA: true, m: inChannels, n: outChannels, k: n * h * w, a: x.pointer, lda: inChannels,
                       b: dy.pointer, ldb: outChannels, beta: 1, c: weightGradient, ldc: outChannels)
            if needInputGradient {
                BLAS.sgemm(transB: true, m: n * h * w, n: inChannels, k: outChannels, a: dy.pointer, lda: outChannels,
                           b: weight, ldb: outChannels, c: inputGradient.pointer, ldc: inChannels)
            }
            return inputGradient
        }
        let chunk = imagesPerChunk(n, oh, ow)
        workspace.columns.resize(to: [chunk * oh * ow * kk])
        let cols = workspace.columns.pointer
        var first = 0
        while first < n {
            let count = min(chunk, n - first)
            let rows = count * oh * ow
            let dyChunk = dy.pointer + first * oh * ow * outChannels
            im2col(x, images: first..<(first + count), into: cols)
            BLAS.sgemm(transA: true, m: kk, n: outChannels, k: rows, a: cols, lda: kk,
                       b: dyChunk, ldb: outChannels, beta: 1, c: weightGradient, ldc: outChannels)
            if needInputGradient {
                BLAS.sgemm(transB: true, m: rows, n: kk, k: outChannels, a: dyChunk, lda: outChannels,
                           b: weight, ldb: outChannels, c: cols, ldc: kk)
                col2im(cols, images: first..<(first + count), into: inputGradient, inputShape: x.shape)
            }
            first += count
        }
        return inputGradient
    }

    /// Columns for images `images` of x: row (image, oy, ox) holds the k×k×C patch, zero outside.
    func im2col(_ x: Tensor, images: Range<Int>, into cols: UnsafeMutablePointer<Float>) {
        let (h, w, c) = (x.shape[1], x.shape[2], inChannels)
        let (oh, ow) = outputSize(h, w)
        let (k, s, p) = (kernel, stride, padding)
        let kk = k * k * c
        let src = SendablePointer(x.pointer), dst = SendablePointer(cols)
        let firstImage = images.lowerBound
        parallelFor(images.count * oh) { job in
            let img = firstImage + job / oh, oy = job % oh
            let xImage = src.pointer + img * h * w * c
            var row = dst.pointer + job * ow * kk
            for ox in 0..<ow {
                var out = row
                for ky in 0..<k {
                    let iy = oy &* s &- p &+ ky
                    for kx in 0..<k {
                        let ix = ox &* s &- p &+ kx
                        if iy >= 0 && iy < h && ix >= 0 && ix < w {
                            out.update(from: xImage + (iy &* w &+ ix) &* c, count: c)
                        } else {
                            out.update(repeating: 0, count: c)
                        }
                        out += c
                    }
                }
                row += kk
            }
        }
    }

    /// Scatter-adds columns back into an NHWC gradient (the adjoint of im2col). Images are
    /// independent, so they run in parallel without overlapping writes.
    func col2im(_ cols: UnsafeMutablePointer<Float>, images: Range<Int>, into dx: Tensor, inputShape: [Int]) {
        let (h, w, c) = (inputShape[1], inputShape[2], inChannels)
        let (oh, ow) = outputSize(h, w)
        let (k, s, p) = (kernel, stride, padding)
        let kk = k * k * c
        let src = SendablePointer(cols), dst = SendablePointer(dx.pointer)
        let firstImage = images.lowerBound
        parallelFor(images.count) { j in
            let img = firstImage + j
            let dxImage = dst.pointer + img * h * w * c
            dxImage.update(repeating: 0, count: h * w * c)
            var row = src.pointer + j * oh * ow * kk
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var col = row
                    for ky in 0..<k {
                        let iy = oy &* s &- p &+ ky
                        for kx in 0..<k {
                            let ix = ox &* s &- p &+ kx
                            if iy >= 0 && iy < h && ix >= 0 && ix < w {
                                let d = dxImage + (iy &* w &+ ix) &* c
                                for ch in 0..<c { d[ch] += col[ch] }
                            }
                            col += c
                        }
                    }
                    row += kk
                }
            }
        }
    }
}
