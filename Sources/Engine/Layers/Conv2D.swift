import Tensor

/// Scratch memory shared by the layers of one model (im2col columns, Winograd transforms),
/// grown on demand. Layers run one after another, so one set serves them all.
public final class Workspace: @unchecked Sendable {
    let columns = Tensor(shape: [0])
    /// Upper bound on the im2col matrices a convolution's parts build at once, in floats
    /// (1 MiB, about one core's L2): with pba's register-blocked kernels, which need no large
    /// panels to amortise packing, columns written and read back while still in L2 beat
    /// 16 MiB ones (measured on WRN-10-1's stride-2 convolutions: 17 against 22 ms per step).
    var columnBudget = 1 << 18
    /// Per-part weight-gradient partials `[parts, k·k·Cin, Cout]` of the im2col path.
    let weightPartials = Tensor(shape: [0])
    /// Winograd: the two transformed-activation buffers `[36, tiles, channels]` of one chunk.
    let winogradFirst = Tensor(shape: [0]), winogradSecond = Tensor(shape: [0])
    /// Winograd: transformed weights `[36, Cin, Cout]` and their gradient.
    let winogradWeights = Tensor(shape: [0]), winogradWeightGradient = Tensor(shape: [0])
    /// im2col backward: the weights transposed, `[Cout, k·k·Cin]`.
    let transposedWeights = Tensor(shape: [0])
    /// Winograd: the rotated filters' transform `[36, Cin, Cout]` before its transposition.
    let winogradRotatedWeights = Tensor(shape: [0])
    /// Winograd: per-job scratch of the transforms.
    let winogradScratch = Tensor(shape: [0])
    /// Upper bound on the two Winograd buffers of one chunk together, in floats (1 MiB, about
    /// one core's L2: measured on WRN-40-2 the transforms slow down with larger chunks faster
    /// than the 36 GEMMs speed up; at 128 Ki floats the GEMMs get too small).
    var winogradBudget = 1 << 18
    /// Fewest tiles per Winograd chunk whatever the budget: below this the 36 GEMMs (M = tiles)
    /// lose more to packing and call overhead than the smaller buffers gain in cache (measured
    /// on the 128-channel 8×8 layers of WRN-40-2, where the budget alone gives 28-tile chunks).
    var winogradMinimumChunk = 64
    public init() {}
}

/// How a convolution is computed. Only stride-1 3×3 convolutions have a Winograd path; every
/// other shape uses im2col whatever is chosen.
public enum ConvolutionAlgorithm: String, Sendable, CaseIterable {
    /// Winograd F(4×4, 3×3) where eligible (a direct kernel for the stem's 1-4 input channels,
    /// where the C kernels take its widths), im2col + sgemm elsewhere.
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
    /// dL/dx; may be a buffer shared with other layers whose gradients are never live at the
    /// same time (see `WideResNet.shareGradientBuffers`).
    public var inputGradient = Tensor(shape: [0])
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

    /// The stem (3×3, stride 1, 1-4 input channels: the image) convolves directly where the C
    /// kernels take its widths: with K = 1-4, Winograd's 36 products are tiny and its transforms
    /// cost more than the multiplies they save (measured on WRN-10-1's 3→16 stem on a Zen 4 core:
    /// see `Sources/CKernels/DirectConvolution.c`). `.im2col` keeps the reference route.
    var usesDirect: Bool {
        usesWinograd && inChannels <= 4 && Kernels.directConvolutionSupports(inChannels: inChannels, outChannels: outChannels)
    }

    /// Images per im2col chunk of one part for an output of `oh × ow` pixels: the parts' column
    /// buffers together stay within the workspace's column budget.
    private func imagesPerChunk(_ parts: ConvolutionParts, _ oh: Int, _ ow: Int) -> Int {
        let rowFloats = kernel * kernel * inChannels
        return max(1, min(parts.perPart, workspace.columnBudget / parts.count / max(1, oh * ow * rowFloats)))
    }

    /// x: [n, h, w, inChannels] → [n, oh, ow, outChannels]
    @discardableResult
    public func forward(_ x: Tensor) -> Tensor {
        let (n, h, w) = (x.shape[0], x.shape[1], x.shape[2])
        precondition(x.shape[3] == inChannels, "Conv2D input has \(x.shape[3]) channels, expected \(inChannels)")
        let (oh, ow) = outputSize(h, w)
        output.resize(to: [n, oh, ow, outChannels])
        let kk = kernel * kernel * inChannels
        let (cin, cout) = (inChannels, outChannels)
        let xp = SendablePointer(x.pointer), yp = SendablePointer(output.pointer), wp = SendablePointer(weight)
        if usesDirect {
            ConvolutionParts(items: n, threads: ComputeThreads.count).run { _, images in
                let done = Kernels.directConvolution(xp.pointer, height: h, width: w, inChannels: cin, outChannels: cout,
                                                     weights: wp.pointer, images: images, into: yp.pointer)
                precondition(done, "direct convolution refused \(cin)→\(cout) after accepting it")
            }
            return output
        }
        if usesWinograd {
            winogradForward(x)
            return output
        }
        if isPointwise {
            ConvolutionParts(items: n * h * w, threads: ComputeThreads.count).run { _, rows in
                Kernels.sgemm(m: rows.count, n: cout, k: cin, a: xp.pointer + rows.lowerBound * cin, lda: cin,
                              b: wp.pointer, ldb: cout, c: yp.pointer + rows.lowerBound * cout, ldc: cout)
            }
            return output
        }
        let parts = ConvolutionParts(items: n, threads: ComputeThreads.count)
        let chunk = imagesPerChunk(parts, oh, ow)
        let columnFloats = chunk * oh * ow * kk
        workspace.columns.resize(to: [parts.count * columnFloats])
        let columns = SendablePointer(workspace.columns.pointer)
        parts.run { part, images in
            let cols = columns.pointer + part * columnFloats
            var first = images.lowerBound
            while first < images.upperBound {
                let count = min(chunk, images.upperBound - first)
                im2col(x, images: first..<(first + count), into: cols)
                Kernels.sgemm(m: count * oh * ow, n: cout, k: kk, a: cols, lda: kk, b: wp.pointer, ldb: cout,
                              c: yp.pointer + first * oh * ow * cout, ldc: cout)
                first += count
            }
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
        if usesDirect && !needInputGradient {  // the stem: its input is the image, which needs no gradient
            directWeightGradient(dy, input: x)
            return inputGradient
        }
        if usesWinograd {
            winogradBackward(dy, input: x, needInputGradient: needInputGradient)
            return inputGradient
        }
        let (cin, cout) = (inChannels, outChannels)
        let xp = SendablePointer(x.pointer), dyp = SendablePointer(dy.pointer)
        let dxp = SendablePointer(inputGradient.pointer)
        // dx = dy · Wᵀ as a plain product with Wᵀ `[Cout, k·k·Cin]` (the kernels take op(A) only).
        let transposed = workspace.transposedWeights
        if needInputGradient {
            transposed.resize(to: [cout * kk])
            transposeMatrix(weight, rows: kk, cols: cout, into: transposed.pointer)
        }
        let wtp = SendablePointer(transposed.pointer)
        let weightFloats = kk * cout
        // With one part dW accumulates straight into the store; with several, each part sums into
        // its own partial and the partials are added in part order (`addPartials`).
        let parts = ConvolutionParts(items: isPointwise ? n * h * w : n, threads: ComputeThreads.count)
        let single = parts.count == 1
        if !single { workspace.weightPartials.resize(to: [parts.count * weightFloats]) }
        let partials = SendablePointer(workspace.weightPartials.pointer), dwp = SendablePointer(weightGradient)
        if isPointwise {
            parts.run { part, rows in
                Kernels.sgemm(transA: true, m: cin, n: cout, k: rows.count, a: xp.pointer + rows.lowerBound * cin, lda: cin,
                              b: dyp.pointer + rows.lowerBound * cout, ldb: cout, accumulate: single,
                              c: single ? dwp.pointer : partials.pointer + part * weightFloats, ldc: cout)
                if needInputGradient {
                    Kernels.sgemm(m: rows.count, n: cin, k: cout, a: dyp.pointer + rows.lowerBound * cout, lda: cout,
                                  b: wtp.pointer, ldb: cin, c: dxp.pointer + rows.lowerBound * cin, ldc: cin)
                }
            }
            if !single { addPartials(partials.pointer, parts: parts.count, floats: weightFloats, into: weightGradient) }
            return inputGradient
        }
        let chunk = imagesPerChunk(parts, oh, ow)
        let columnFloats = chunk * oh * ow * kk
        workspace.columns.resize(to: [parts.count * columnFloats])
        let columns = SendablePointer(workspace.columns.pointer)
        parts.run { part, images in
            let cols = columns.pointer + part * columnFloats
            let dw = single ? dwp.pointer : partials.pointer + part * weightFloats
            var first = images.lowerBound
            while first < images.upperBound {
                let count = min(chunk, images.upperBound - first)
                let rows = count * oh * ow
                let dyChunk = dyp.pointer + first * oh * ow * cout
                im2col(x, images: first..<(first + count), into: cols)
                Kernels.sgemm(transA: true, m: kk, n: cout, k: rows, a: cols, lda: kk, b: dyChunk, ldb: cout,
                              accumulate: single || first > images.lowerBound, c: dw, ldc: cout)
                if needInputGradient {
                    Kernels.sgemm(m: rows, n: kk, k: cout, a: dyChunk, lda: cout,
                                  b: wtp.pointer, ldb: kk, c: cols, ldc: kk)
                    col2im(cols, images: first..<(first + count), into: inputGradient, inputShape: x.shape)
                }
                first += count
            }
        }
        if !single { addPartials(partials.pointer, parts: parts.count, floats: weightFloats, into: weightGradient) }
        return inputGradient
    }

    /// dW += Σ patch(x)ᵀ·dy by the direct kernel: one part accumulates into the store, several
    /// into partials added in part order (as the im2col path does).
    private func directWeightGradient(_ dy: Tensor, input x: Tensor) {
        let (n, h, w) = (x.shape[0], x.shape[1], x.shape[2])
        let (cin, cout) = (inChannels, outChannels)
        let weightFloats = kernel * kernel * cin * cout
        let parts = ConvolutionParts(items: n, threads: ComputeThreads.count)
        let single = parts.count == 1
        if !single { workspace.weightPartials.resize(to: [parts.count * weightFloats]) }
        let xp = SendablePointer(x.pointer), dyp = SendablePointer(dy.pointer)
        let partials = SendablePointer(workspace.weightPartials.pointer), dwp = SendablePointer(weightGradient)
        parts.run { part, images in
            let done = Kernels.directConvolutionWeightGradient(
                xp.pointer, dyp.pointer, height: h, width: w, inChannels: cin, outChannels: cout, images: images,
                accumulate: single, into: single ? dwp.pointer : partials.pointer + part * weightFloats)
            precondition(done, "direct convolution refused \(cin)→\(cout) after accepting it")
        }
        if !single { addPartials(partials.pointer, parts: parts.count, floats: weightFloats, into: weightGradient) }
    }

    /// Columns for images `images` of x: row (image, oy, ox) holds the k×k×C patch, zero outside.
    /// Runs on the calling thread (convolutions parallelise over `ConvolutionParts`). The C kernels
    /// copy whole vectors where the channel count suits them (they were written for this and, until
    /// this call, never used); the loop below is the path for other widths and the reference.
    func im2col(_ x: Tensor, images: Range<Int>, into cols: UnsafeMutablePointer<Float>) {
        let (h, w, c) = (x.shape[1], x.shape[2], inChannels)
        let (oh, ow) = outputSize(h, w)
        let (k, s, p) = (kernel, stride, padding)
        if Kernels.im2col(x.pointer, height: h, width: w, channels: c, kernel: k, stride: s, padding: p,
                          outputHeight: oh, outputWidth: ow, images: images, into: cols) { return }
        let kk = k * k * c
        let firstImage = images.lowerBound
        for job in 0..<(images.count * oh) {
            let img = firstImage + job / oh, oy = job % oh
            let xImage = x.pointer + img * h * w * c
            var row = cols + job * ow * kk
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

    /// Scatter-adds columns back into an NHWC gradient (the adjoint of im2col), overwriting the
    /// images' gradients. Runs on the calling thread; the C kernels take the widths they suit and
    /// add in the same order (tap by tap, pixel by pixel), so both paths give the same bits.
    func col2im(_ cols: UnsafeMutablePointer<Float>, images: Range<Int>, into dx: Tensor, inputShape: [Int]) {
        let (h, w, c) = (inputShape[1], inputShape[2], inChannels)
        let (oh, ow) = outputSize(h, w)
        let (k, s, p) = (kernel, stride, padding)
        if Kernels.col2im(cols, height: h, width: w, channels: c, kernel: k, stride: s, padding: p,
                          outputHeight: oh, outputWidth: ow, images: images, into: dx.pointer) { return }
        let kk = k * k * c
        let firstImage = images.lowerBound
        for j in 0..<images.count {
            let img = firstImage + j
            let dxImage = dx.pointer + img * h * w * c
            dxImage.update(repeating: 0, count: h * w * c)
            var row = cols + j * oh * ow * kk
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

/// How a convolution's independent items (images, pixel rows or Winograd tiles) are split over
/// the compute threads: `count` contiguous parts, each run start to end by one thread with its
/// own buffers and single-threaded BLAS. One fork-join per convolution pass: with the chunks a
/// convolution works in (~100 Winograd tiles, a few images) a fork-join per chunk and stage
/// costs about as much as the work it splits, and OpenBLAS's own threading of these small GEMMs
/// scales worse than running them side by side. Twice as many parts as threads, so a thread
/// slowed by other processes hands work to the other. The split depends only on the item and
/// thread counts, so reductions over parts combined in part order are deterministic.
struct ConvolutionParts {
    let items: Int, perPart: Int, count: Int

    init(items: Int, threads: Int) {
        let wanted = threads == 1 ? 1 : 2 &* threads
        self.items = items
        perPart = max(1, (items + wanted - 1) / wanted)
        count = max(1, (items + perPart - 1) / perPart)
    }

    func range(_ part: Int) -> Range<Int> { (part &* perPart)..<min(items, (part &+ 1) &* perPart) }

    /// Runs `body(part, items)` for every part, concurrently when there are several (OpenBLAS
    /// is single-threaded throughout, see `ComputeThreads`).
    func run(_ body: (Int, Range<Int>) -> Void) {
        if count == 1 { body(0, range(0)); return }
        parallelChunks(count, chunks: count) { part, _ in body(part, range(part)) }
    }
}

/// dst += Σ_p partials[p] for `parts` consecutive partials of `floats` each, added in part order
/// for every element (so the result does not depend on which thread computed which part).
func addPartials(_ partials: UnsafePointer<Float>, parts: Int, floats: Int, into dst: UnsafeMutablePointer<Float>) {
    let src = SendablePointer(UnsafeMutablePointer(mutating: partials)), d = SendablePointer(dst)
    parallelChunks(floats, chunks: ComputeThreads.count) { _, range in
        for i in range {
            var sum = src.pointer[i]
            for part in 1..<max(1, parts) { sum += src.pointer[part &* floats &+ i] }
            d.pointer[i] += sum
        }
    }
}
