import Tensor

/// Winograd F(4×4, 3×3) for stride-1, pad-1 3×3 convolutions over NHWC tensors (Lavin & Gray,
/// "Fast Algorithms for Convolutional Neural Networks", 2016).
///
/// A 3×3 filter g over a 6×6 input window d gives a 4×4 output tile
///
///     Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A,
///
/// an elementwise product at 36 transform positions ξ. Summed over input channels, position ξ of
/// all tiles of a chunk is one GEMM `V[ξ] · U[ξ]` of shape [tiles, Cin] × [Cin, Cout]: 36 GEMMs
/// per chunk replace the im2col GEMM, with 36 instead of 144 multiplies per output tile and
/// channel pair (4× fewer).
///
/// The backward passes are the same machinery:
/// - dx is the stride-1 3×3 convolution of dy with the weights rotated by 180° and with in/out
///   channels swapped, so it is a forward pass with rotated transformed weights;
/// - dW is the adjoint of g ↦ Aᵀ[(G g Gᵀ) ⊙ V]A, i.e. `dW = Gᵀ [ Σ_tiles V ⊙ (A dY Aᵀ) ] G`: per
///   position one GEMM `V[ξ]ᵀ · Z[ξ]` of shape [Cin, tiles] × [tiles, Cout], accumulated over
///   chunks, then over parts in part order.
///
/// Layouts: transformed activations are `[36, tiles, channels]` (position-major, so each GEMM
/// reads a contiguous matrix) and transformed weights `[36, Cin, Cout]`. Tiles are numbered
/// (image, tile row, tile column) over the whole batch; tiles hanging over the bottom/right edge
/// read zeros and write only their valid outputs. Every transform vectorises over the innermost,
/// contiguous channel axis.
///
/// Work is split into `ConvolutionParts` (contiguous tile ranges, one fork-join per pass); within a
/// part, chunks of tiles sized to the workspace's budget go through input transform, 36
/// single-threaded GEMMs and output transform while still in cache.
///
/// Float32 error: the transform constants (¼, ⅙, 1/24, up to 8 in Aᵀ) amplify rounding about
/// 10× over im2col: against a float64 direct convolution, max error / max |output| ≈ 3–7e-6 for
/// forward, dx and dW (im2col: 2–6e-7); see `WinogradTests`. F(2×2, 3×3) would be more accurate
/// but needs 4 instead of 2.25 multiplies per output and channel pair (direct: 9); an error of
/// 1e-5 is far below what SGD on float32 notices.
///
/// Where the channel count is a multiple of the vector width, the transforms and products run in
/// pba's C kernels (`Kernels`, AVX-512 or AVX2 chosen at run time); the Swift code below is the
/// path for other widths (the stem's 3 input channels) and machines without either set.
///
/// Same inputs and thread count give bit-identical results: the part split depends only on the
/// tile and thread counts, each GEMM runs on one thread, and partial sums are combined in order.
enum Winograd {
    static let positions = 36

    /// How a batch of `h × w` images is cut into 4×4 output tiles.
    struct Tiling {
        let images: Int, height: Int, width: Int
        let tilesY: Int, tilesX: Int
        var tilesPerImage: Int { tilesY &* tilesX }
        var count: Int { images &* tilesPerImage }

        init(images: Int, height: Int, width: Int) {
            self.images = images
            self.height = height
            self.width = width
            tilesY = (height + 3) / 4
            tilesX = (width + 3) / 4
        }

        /// Image, top output row and left output column of tile `t`.
        @inline(__always)
        func origin(_ t: Int) -> (image: Int, y: Int, x: Int) {
            let image = t / tilesPerImage, r = t &- image &* tilesPerImage
            let ty = r / tilesX
            return (image, ty &* 4, (r &- ty &* tilesX) &* 4)
        }
    }

    // MARK: 1-D transforms over `n` contiguous channels; `ss`/`ds` are the strides between the
    // source/destination vectors. Each body runs on 8-float vectors, then single floats
    // (`FloatLanes`).

    /// Bᵀ (6 → 6).
    @inline(__always)
    static func inputTransform1D(_ s: UnsafePointer<Float>, _ ss: Int,
                                 _ d: UnsafeMutablePointer<Float>, _ ds: Int, _ n: Int) {
        let s1 = s + ss, s2 = s1 + ss, s3 = s2 + ss, s4 = s3 + ss, s5 = s4 + ss
        let d1 = d + ds, d2 = d1 + ds, d3 = d2 + ds, d4 = d3 + ds, d5 = d4 + ds
        @inline(__always) func body<L: FloatLanes>(_ c: Int, _: L.Type) {
            let x0 = L.load(s + c), x1 = L.load(s1 + c), x2 = L.load(s2 + c)
            let x3 = L.load(s3 + c), x4 = L.load(s4 + c), x5 = L.load(s5 + c)
            let f2: Float = 2, f4: Float = 4, f5: Float = 5
            let p = x1 + x2, m = x1 - x2, q = x4 - x2, r = f2 * (x3 - x1)
            let t0: L = f4 * x0 - f5 * x2 + x4
            let t5: L = f4 * x1 - f5 * x3 + x5
            t0.store(d + c)
            ((x3 + x4) - f4 * p).store(d1 + c)
            ((x4 - x3) + f4 * m).store(d2 + c)
            (q + r).store(d3 + c)
            (q - r).store(d4 + c)
            t5.store(d5 + c)
        }
        forEachLane(n, body, body)
    }

    /// Aᵀ (6 → 4).
    @inline(__always)
    static func outputTransform1D(_ s: UnsafePointer<Float>, _ ss: Int,
                                  _ d: UnsafeMutablePointer<Float>, _ ds: Int, _ n: Int) {
        let s1 = s + ss, s2 = s1 + ss, s3 = s2 + ss, s4 = s3 + ss, s5 = s4 + ss
        let d1 = d + ds, d2 = d1 + ds, d3 = d2 + ds
        @inline(__always) func body<L: FloatLanes>(_ c: Int, _: L.Type) {
            let m0 = L.load(s + c), m1 = L.load(s1 + c), m2 = L.load(s2 + c)
            let m3 = L.load(s3 + c), m4 = L.load(s4 + c), m5 = L.load(s5 + c)
            let f2: Float = 2, f4: Float = 4, f8: Float = 8
            let a = m1 + m2, b = m1 - m2, e = m3 + m4, f = m3 - m4
            (m0 + a + e).store(d + c)
            (b + f2 * f).store(d1 + c)
            (a + f4 * e).store(d2 + c)
            (b + f8 * f + m5).store(d3 + c)
        }
        forEachLane(n, body, body)
    }

    /// G (3 → 6).
    @inline(__always)
    static func weightTransform1D(_ s: UnsafePointer<Float>, _ ss: Int,
                                  _ d: UnsafeMutablePointer<Float>, _ ds: Int, _ n: Int) {
        let s1 = s + ss, s2 = s1 + ss
        let d1 = d + ds, d2 = d1 + ds, d3 = d2 + ds, d4 = d3 + ds, d5 = d4 + ds
        @inline(__always) func body<L: FloatLanes>(_ c: Int, _: L.Type) {
            let g0 = L.load(s + c), g1 = L.load(s1 + c), g2 = L.load(s2 + c)
            let quarter: Float = 0.25, sixth: Float = 1.0 / 6, twelfth: Float = 1.0 / 12, twentyFourth: Float = 1.0 / 24
            let outer = twentyFourth * g0 + sixth * g2, middle = twelfth * g1
            (quarter * g0).store(d + c)
            (-sixth * (g0 + g1 + g2)).store(d1 + c)
            (-sixth * (g0 - g1 + g2)).store(d2 + c)
            (outer + middle).store(d3 + c)
            (outer - middle).store(d4 + c)
            g2.store(d5 + c)
        }
        forEachLane(n, body, body)
    }

    /// A (4 → 6): the adjoint of Aᵀ, applied to output gradients.
    @inline(__always)
    static func outputGradientTransform1D(_ s: UnsafePointer<Float>, _ ss: Int,
                                          _ d: UnsafeMutablePointer<Float>, _ ds: Int, _ n: Int) {
        let s1 = s + ss, s2 = s1 + ss, s3 = s2 + ss
        let d1 = d + ds, d2 = d1 + ds, d3 = d2 + ds, d4 = d3 + ds, d5 = d4 + ds
        @inline(__always) func body<L: FloatLanes>(_ c: Int, _: L.Type) {
            let y0 = L.load(s + c), y1 = L.load(s1 + c), y2 = L.load(s2 + c), y3 = L.load(s3 + c)
            let f2: Float = 2, f4: Float = 4, f8: Float = 8
            let even = y0 + y2, odd = y1 + y3
            let even4 = y0 + f4 * y2, odd8 = f2 * y1 + f8 * y3
            y0.store(d + c)
            (even + odd).store(d1 + c)
            (even - odd).store(d2 + c)
            (even4 + odd8).store(d3 + c)
            (even4 - odd8).store(d4 + c)
            y3.store(d5 + c)
        }
        forEachLane(n, body, body)
    }

    /// Gᵀ (6 → 3): the adjoint of G, applied to transformed weight gradients.
    @inline(__always)
    static func weightGradientTransform1D(_ s: UnsafePointer<Float>, _ ss: Int,
                                          _ d: UnsafeMutablePointer<Float>, _ ds: Int, _ n: Int) {
        let s1 = s + ss, s2 = s1 + ss, s3 = s2 + ss, s4 = s3 + ss, s5 = s4 + ss
        let d1 = d + ds, d2 = d1 + ds
        @inline(__always) func body<L: FloatLanes>(_ c: Int, _: L.Type) {
            let u0 = L.load(s + c), u1 = L.load(s1 + c), u2 = L.load(s2 + c)
            let u3 = L.load(s3 + c), u4 = L.load(s4 + c), u5 = L.load(s5 + c)
            let quarter: Float = 0.25, sixth: Float = 1.0 / 6, twelfth: Float = 1.0 / 12, twentyFourth: Float = 1.0 / 24
            let p = u1 + u2, m = u1 - u2, q = u3 + u4, r = u3 - u4
            let w0: L = quarter * u0 - sixth * p + twentyFourth * q
            let w1: L = twelfth * r - sixth * m
            let w2: L = sixth * (q - p) + u5
            w0.store(d + c)
            w1.store(d1 + c)
            w2.store(d2 + c)
        }
        forEachLane(n, body, body)
    }

    // MARK: 2-D transforms

    /// Scratch floats one part or job needs for any transform over at most `channels` channels.
    static func scratchPerJob(channels: Int) -> Int { 72 &* channels }

    /// Number of parallel jobs the transforms are split into (fixed per thread count).
    static var jobs: Int { ComputeThreads.count == 1 ? 1 : ComputeThreads.count &* 4 }

    /// U = G g Gᵀ for every (Cin, Cout) pair: w HWIO `[3, 3, cin, cout]` → u `[36, cin, cout]`.
    /// With `rotated`, g is the filter turned by 180° (for the input gradient).
    static func transformWeights(_ w: UnsafePointer<Float>, cin: Int, cout: Int, rotated: Bool,
                                 into u: UnsafeMutablePointer<Float>,
                                 scratch: UnsafeMutablePointer<Float>, scratchPerJob per: Int) {
        let wp = SendablePointer(UnsafeMutablePointer(mutating: w)), up = SendablePointer(u)
        let sp = SendablePointer(scratch)
        let plane = cin &* cout
        parallelChunks(cin, chunks: jobs) { job, range in
            let tmp = sp.pointer + job &* per  // [6, 3, cout]
            for ci in range {
                for b in 0..<3 {
                    // column b of g, rows a = 0, 1, 2
                    let src: UnsafePointer<Float>, stride: Int
                    if rotated {
                        src = UnsafePointer(wp.pointer + ((8 &- b) &* cin &+ ci) &* cout)
                        stride = -3 &* plane
                    } else {
                        src = UnsafePointer(wp.pointer + (b &* cin &+ ci) &* cout)
                        stride = 3 &* plane
                    }
                    weightTransform1D(src, stride, tmp + b &* cout, 3 &* cout, cout)
                }
                for i in 0..<6 {
                    weightTransform1D(UnsafePointer(tmp + i &* 3 &* cout), cout,
                                      up.pointer + (i &* 6 &* cin &+ ci) &* cout, plane, cout)
                }
            }
        }
    }

    /// dW += Gᵀ dU G: du `[36, cin, cout]` → w-shaped HWIO `[3, 3, cin, cout]`, accumulated.
    static func accumulateWeightGradient(_ du: UnsafePointer<Float>, cin: Int, cout: Int,
                                         into dw: UnsafeMutablePointer<Float>,
                                         scratch: UnsafeMutablePointer<Float>, scratchPerJob per: Int) {
        let dup = SendablePointer(UnsafeMutablePointer(mutating: du)), dwp = SendablePointer(dw)
        let sp = SendablePointer(scratch)
        let plane = cin &* cout
        parallelChunks(cin, chunks: jobs) { job, range in
            let tmp = sp.pointer + job &* per        // [3, 6, cout]
            let out = tmp + 18 &* cout               // [3, cout]
            for ci in range {
                for j in 0..<6 {
                    weightGradientTransform1D(UnsafePointer(dup.pointer + (j &* cin &+ ci) &* cout), 6 &* plane,
                                              tmp + j &* cout, 6 &* cout, cout)
                }
                for a in 0..<3 {
                    weightGradientTransform1D(UnsafePointer(tmp + a &* 6 &* cout), cout, out, cout, cout)
                    for b in 0..<3 {
                        let d = dwp.pointer + ((a &* 3 &+ b) &* cin &+ ci) &* cout
                        let o = out + b &* cout
                        for c in 0..<cout { d[c] += o[c] }
                    }
                }
            }
        }
    }

    /// V = Bᵀ d B for tiles `tiles` of x `[n, h, w, channels]` → v `[36, tiles.count, channels]`.
    static func transformInput(_ x: UnsafePointer<Float>, tiling: Tiling, channels c: Int, tiles: Range<Int>,
                               into v: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        let (h, w) = (tiling.height, tiling.width)
        if Kernels.winogradInput(x, height: h, width: w, channels: c, tiles: tiles, into: v) { return }
        let count = tiles.count, first = tiles.lowerBound
        let plane = count &* c
        let patch = scratch                          // [6, 6, c] zero-padded copy for edge tiles
        let tmp = patch + 36 &* c                    // [6, 6, c] after the column pass
        for t in 0..<count {
            let (image, oy, ox) = tiling.origin(first &+ t)
            let y0 = oy &- 1, x0 = ox &- 1
            let image0 = x + image &* h &* w &* c
            var src: UnsafePointer<Float>, rowStride: Int
            if y0 >= 0 && x0 >= 0 && y0 &+ 6 <= h && x0 &+ 6 <= w {
                src = UnsafePointer(image0 + (y0 &* w &+ x0) &* c)
                rowStride = w &* c
            } else {
                for i in 0..<6 {
                    let iy = y0 &+ i
                    for j in 0..<6 {
                        let ix = x0 &+ j
                        let d = patch + (i &* 6 &+ j) &* c
                        if iy >= 0 && iy < h && ix >= 0 && ix < w {
                            d.update(from: image0 + (iy &* w &+ ix) &* c, count: c)
                        } else {
                            d.update(repeating: 0, count: c)
                        }
                    }
                }
                src = UnsafePointer(patch)
                rowStride = 6 &* c
            }
            for j in 0..<6 {
                inputTransform1D(src + j &* c, rowStride, tmp + j &* c, 6 &* c, c)
            }
            let out = v + t &* c
            for i in 0..<6 {
                inputTransform1D(UnsafePointer(tmp + i &* 6 &* c), c, out + i &* 6 &* plane, plane, c)
            }
        }
    }

    /// Z = A dY Aᵀ for tiles `tiles` of dy `[n, h, w, channels]` (zero beyond the edges)
    /// → z `[36, tiles.count, channels]`.
    static func transformOutputGradient(_ dy: UnsafePointer<Float>, tiling: Tiling, channels c: Int, tiles: Range<Int>,
                                        into z: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        let (h, w) = (tiling.height, tiling.width)
        if Kernels.winogradOutputGradient(dy, height: h, width: w, channels: c, tiles: tiles, into: z) { return }
        let count = tiles.count, first = tiles.lowerBound
        let plane = count &* c
        let patch = scratch                          // [4, 4, c] zero-padded copy for edge tiles
        let tmp = patch + 16 &* c                    // [6, 4, c] after the column pass
        for t in 0..<count {
            let (image, oy, ox) = tiling.origin(first &+ t)
            let image0 = dy + image &* h &* w &* c
            var src: UnsafePointer<Float>, rowStride: Int
            if oy &+ 4 <= h && ox &+ 4 <= w {
                src = UnsafePointer(image0 + (oy &* w &+ ox) &* c)
                rowStride = w &* c
            } else {
                for i in 0..<4 {
                    for j in 0..<4 {
                        let d = patch + (i &* 4 &+ j) &* c
                        if oy &+ i < h && ox &+ j < w {
                            d.update(from: image0 + ((oy &+ i) &* w &+ ox &+ j) &* c, count: c)
                        } else {
                            d.update(repeating: 0, count: c)
                        }
                    }
                }
                src = UnsafePointer(patch)
                rowStride = 4 &* c
            }
            for j in 0..<4 {
                outputGradientTransform1D(src + j &* c, rowStride, tmp + j &* c, 4 &* c, c)
            }
            let out = z + t &* c
            for i in 0..<6 {
                outputGradientTransform1D(UnsafePointer(tmp + i &* 4 &* c), c, out + i &* 6 &* plane, plane, c)
            }
        }
    }

    /// Y = Aᵀ M A: m `[36, tiles.count, channels]` → the valid pixels of tiles `tiles` of
    /// y `[n, h, w, channels]`, overwritten.
    static func transformOutput(_ m: UnsafePointer<Float>, tiling: Tiling, channels c: Int, tiles: Range<Int>,
                                into y: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        let (h, w) = (tiling.height, tiling.width)
        if Kernels.winogradOutput(m, height: h, width: w, channels: c, tiles: tiles, into: y) { return }
        let count = tiles.count, first = tiles.lowerBound
        let plane = count &* c
        let tmp = scratch                            // [4, 6, c] after the column pass
        let row = tmp + 24 &* c                      // [4, c] one output row of an edge tile
        for t in 0..<count {
            let (image, oy, ox) = tiling.origin(first &+ t)
            let image0 = y + image &* h &* w &* c
            let src = m + t &* c
            for j in 0..<6 {
                outputTransform1D(src + j &* plane, 6 &* plane, tmp + j &* c, 6 &* c, c)
            }
            let validX = min(4, w &- ox)
            for i in 0..<min(4, h &- oy) {
                let dst = image0 + ((oy &+ i) &* w &+ ox) &* c
                if validX == 4 {
                    outputTransform1D(UnsafePointer(tmp + i &* 6 &* c), c, dst, c, c)
                } else {
                    outputTransform1D(UnsafePointer(tmp + i &* 6 &* c), c, row, c, c)
                    dst.update(from: row, count: validX &* c)
                }
            }
        }
    }

    // MARK: the 36 products

    /// For each ξ: `c[ξ] = op(a[ξ]) · b[ξ] (+ c[ξ] if accumulate)`, with a, b, c given as
    /// base pointers and per-position strides. Runs on the calling thread (BLAS single-threaded
    /// inside `ConvolutionParts.run`). At these sizes (k or n = 3-128) pba's register-blocked
    /// kernels (`Kernels.sgemm`) replace BLAS wherever n suits the vector width: measured on
    /// WRN-10-1, OpenBLAS spent about as long packing as multiplying.
    @inline(__always)
    static func multiply(transA: Bool = false, m: Int, n: Int, k: Int,
                         a: UnsafePointer<Float>, lda: Int, strideA: Int,
                         b: UnsafePointer<Float>, ldb: Int, strideB: Int,
                         accumulate: Bool = false,
                         c: UnsafeMutablePointer<Float>, ldc: Int, strideC: Int) {
        for xi in 0..<positions {
            Kernels.sgemm(transA: transA, m: m, n: n, k: k,
                          a: a + xi &* strideA, lda: lda, b: b + xi &* strideB, ldb: ldb,
                          accumulate: accumulate, c: c + xi &* strideC, ldc: ldc)
        }
    }

    /// out[ξ] = in[ξ]ᵀ for the 36 planes: `[36, rows, cols]` → `[36, cols, rows]`.
    static func transposePlanes(_ src: UnsafePointer<Float>, rows: Int, cols: Int, into dst: UnsafeMutablePointer<Float>) {
        let plane = rows &* cols
        for xi in 0..<positions {
            transposeMatrix(src + xi &* plane, rows: rows, cols: cols, into: dst + xi &* plane)
        }
    }
}

extension Conv2D {
    /// Whether this convolution can take the Winograd path (3×3, stride 1, pad 1).
    var isWinogradEligible: Bool { kernel == 3 && stride == 1 && padding == 1 }

    /// The per-part buffers of one Winograd pass, carved from the workspace.
    private struct WinogradBuffers {
        /// Tiles per chunk: a part's two `[36, tiles, max(Cin, Cout)]` buffers stay within the
        /// workspace's Winograd budget (but at least `winogradMinimumChunk` tiles).
        let chunk: Int
        let first: SendablePointer<Float>, second: SendablePointer<Float>, scratch: SendablePointer<Float>
        let bufferFloats: Int, scratchFloats: Int
        /// Transformed weights `[36, Cin, Cout]`; and `[parts, 36, Cin, Cout]` weight-gradient partials.
        let weights: UnsafeMutablePointer<Float>, weightGradients: SendablePointer<Float>

        func first(_ part: Int) -> UnsafeMutablePointer<Float> { first.pointer + part &* bufferFloats }
        func second(_ part: Int) -> UnsafeMutablePointer<Float> { second.pointer + part &* bufferFloats }
        func scratch(_ part: Int) -> UnsafeMutablePointer<Float> { scratch.pointer + part &* scratchFloats }
    }

    private func winogradBuffers(parts: ConvolutionParts, weightGradients: Bool) -> WinogradBuffers {
        let widest = max(inChannels, outChannels)
        let budgetTiles = workspace.winogradBudget / (2 &* Winograd.positions &* widest)
        let chunk = max(1, min(parts.perPart, max(workspace.winogradMinimumChunk, budgetTiles)))
        let bufferFloats = Winograd.positions &* chunk &* widest
        let scratchFloats = Winograd.scratchPerJob(channels: widest)
        let weightFloats = Winograd.positions &* inChannels &* outChannels
        let ws = workspace
        ws.winogradFirst.resize(to: [parts.count * bufferFloats])
        ws.winogradSecond.resize(to: [parts.count * bufferFloats])
        ws.winogradScratch.resize(to: [max(parts.count, Winograd.jobs) * scratchFloats])
        ws.winogradWeights.resize(to: [weightFloats])
        if weightGradients { ws.winogradWeightGradient.resize(to: [parts.count * weightFloats]) }
        return WinogradBuffers(chunk: chunk, first: SendablePointer(ws.winogradFirst.pointer),
                               second: SendablePointer(ws.winogradSecond.pointer),
                               scratch: SendablePointer(ws.winogradScratch.pointer),
                               bufferFloats: bufferFloats, scratchFloats: scratchFloats,
                               weights: ws.winogradWeights.pointer,
                               weightGradients: SendablePointer(ws.winogradWeightGradient.pointer))
    }

    /// Forward by Winograd: x `[n, h, w, Cin]` → output `[n, h, w, Cout]`.
    func winogradForward(_ x: Tensor) {
        let (n, h, w) = (x.shape[0], x.shape[1], x.shape[2])
        let (cin, cout) = (inChannels, outChannels)
        let tiling = Winograd.Tiling(images: n, height: h, width: w)
        let parts = ConvolutionParts(items: tiling.count, threads: ComputeThreads.count)
        let b = winogradBuffers(parts: parts, weightGradients: false)
        Winograd.transformWeights(weight, cin: cin, cout: cout, rotated: false, into: b.weights,
                                  scratch: b.scratch.pointer, scratchPerJob: b.scratchFloats)
        let u = SendablePointer(b.weights), xp = SendablePointer(x.pointer), yp = SendablePointer(output.pointer)
        parts.run { part, range in
            let (v, m, scratch) = (b.first(part), b.second(part), b.scratch(part))
            var start = range.lowerBound
            while start < range.upperBound {
                let tiles = start..<min(range.upperBound, start &+ b.chunk)
                let t = tiles.count
                Winograd.transformInput(xp.pointer, tiling: tiling, channels: cin, tiles: tiles, into: v, scratch: scratch)
                Winograd.multiply(m: t, n: cout, k: cin, a: v, lda: cin, strideA: t &* cin,
                                  b: u.pointer, ldb: cout, strideB: cin &* cout, c: m, ldc: cout, strideC: t &* cout)
                Winograd.transformOutput(m, tiling: tiling, channels: cout, tiles: tiles, into: yp.pointer, scratch: scratch)
                start = tiles.upperBound
            }
        }
    }

    /// Backward by Winograd: accumulates dW into the store; writes dx into `inputGradient` if asked.
    func winogradBackward(_ dy: Tensor, input x: Tensor, needInputGradient: Bool) {
        let (n, h, w) = (x.shape[0], x.shape[1], x.shape[2])
        let (cin, cout) = (inChannels, outChannels)
        let tiling = Winograd.Tiling(images: n, height: h, width: w)
        let parts = ConvolutionParts(items: tiling.count, threads: ComputeThreads.count)
        let b = winogradBuffers(parts: parts, weightGradients: true)
        if needInputGradient {
            // U'ᵀ: the rotated filters' transform [36, Cin, Cout], transposed to [36, Cout, Cin]
            // so that dx's products are plain (the kernels take op(A) only).
            let rotated = workspace.winogradRotatedWeights
            rotated.resize(to: [Winograd.positions * cin * cout])
            Winograd.transformWeights(weight, cin: cin, cout: cout, rotated: true, into: rotated.pointer,
                                      scratch: b.scratch.pointer, scratchPerJob: b.scratchFloats)
            Winograd.transposePlanes(rotated.pointer, rows: cin, cols: cout, into: b.weights)
        }
        let u = SendablePointer(b.weights), xp = SendablePointer(x.pointer), dyp = SendablePointer(dy.pointer)
        let dxp = SendablePointer(inputGradient.pointer)
        let weightFloats = Winograd.positions &* cin &* cout
        parts.run { part, range in
            let (first, second, scratch) = (b.first(part), b.second(part), b.scratch(part))
            let du = b.weightGradients.pointer + part &* weightFloats
            var start = range.lowerBound
            while start < range.upperBound {
                let tiles = start..<min(range.upperBound, start &+ b.chunk)
                let t = tiles.count
                if needInputGradient {
                    Winograd.transformInput(dyp.pointer, tiling: tiling, channels: cout, tiles: tiles, into: first, scratch: scratch)
                    Winograd.multiply(m: t, n: cin, k: cout, a: first, lda: cout, strideA: t &* cout,
                                      b: u.pointer, ldb: cin, strideB: cin &* cout, c: second, ldc: cin, strideC: t &* cin)
                    Winograd.transformOutput(second, tiling: tiling, channels: cin, tiles: tiles, into: dxp.pointer, scratch: scratch)
                }
                Winograd.transformOutputGradient(dyp.pointer, tiling: tiling, channels: cout, tiles: tiles, into: first, scratch: scratch)
                Winograd.transformInput(xp.pointer, tiling: tiling, channels: cin, tiles: tiles, into: second, scratch: scratch)
                Winograd.multiply(transA: true, m: cin, n: cout, k: t, a: second, lda: cin, strideA: t &* cin,
                                  b: first, ldb: cout, strideB: t &* cout, accumulate: start > range.lowerBound,
                                  c: du, ldc: cout, strideC: cin &* cout)
                start = tiles.upperBound
            }
        }
        // Partials summed in part order, so dW does not depend on which thread ran which part.
        let du = b.weightGradients
        if parts.count > 1 {
            addPartials(du.pointer + weightFloats, parts: parts.count - 1, floats: weightFloats, into: du.pointer)
        }
        Winograd.accumulateWeightGradient(du.pointer, cin: cin, cout: cout, into: weightGradient,
                                          scratch: b.scratch.pointer, scratchPerJob: b.scratchFloats)
    }
}
