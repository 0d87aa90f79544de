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
///   chunks in a fixed order.
///
/// Layouts: transformed activations are `[36, tiles, channels]` (position-major, so each GEMM
/// reads a contiguous matrix) and transformed weights `[36, Cin, Cout]`. Tiles are numbered
/// (image, tile row, tile column) over the whole batch; tiles hanging over the bottom/right edge
/// read zeros and write only their valid outputs. Every transform vectorises over the innermost,
/// contiguous channel axis.
///
/// Float32 error: the transform constants (¼, ⅙, 1/24, up to 8 in Aᵀ) amplify rounding; measured
/// against a float64 direct convolution the relative error is documented in `WinogradTests`.
enum Winograd {
    static let positions = 36
    static let outputTile = 4
    static let window = 6

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

    /// Scratch floats one parallel job needs for transforms over `channels` channels.
    static func scratchPerJob(channels: Int) -> Int { 72 &* channels }

    /// Number of parallel jobs the transforms are split into (fixed per thread count).
    static var jobs: Int { ComputeThreads.count == 1 ? 1 : ComputeThreads.count &* 4 }

    /// U = G g Gᵀ for every (Cin, Cout) pair: w HWIO `[3, 3, cin, cout]` → u `[36, cin, cout]`.
    /// With `rotated`, g is the filter turned by 180° (for the input gradient).
    static func transformWeights(_ w: UnsafePointer<Float>, cin: Int, cout: Int, rotated: Bool,
                                 into u: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        let wp = SendablePointer(UnsafeMutablePointer(mutating: w)), up = SendablePointer(u)
        let sp = SendablePointer(scratch)
        let per = scratchPerJob(channels: cout)
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
                                         into dw: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        let dup = SendablePointer(UnsafeMutablePointer(mutating: du)), dwp = SendablePointer(dw)
        let sp = SendablePointer(scratch)
        let per = scratchPerJob(channels: cout)
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
        let xp = SendablePointer(UnsafeMutablePointer(mutating: x)), vp = SendablePointer(v)
        let sp = SendablePointer(scratch)
        let per = scratchPerJob(channels: c)
        let count = tiles.count, first = tiles.lowerBound
        let (h, w) = (tiling.height, tiling.width)
        let plane = count &* c
        parallelChunks(count, chunks: jobs) { job, range in
            let patch = sp.pointer + job &* per      // [6, 6, c] zero-padded copy for edge tiles
            let tmp = patch + 36 &* c                // [6, 6, c] after the column pass
            for t in range {
                let (image, oy, ox) = tiling.origin(first &+ t)
                let y0 = oy &- 1, x0 = ox &- 1
                let image0 = xp.pointer + image &* h &* w &* c
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
                let out = vp.pointer + t &* c
                for i in 0..<6 {
                    inputTransform1D(UnsafePointer(tmp + i &* 6 &* c), c, out + i &* 6 &* plane, plane, c)
                }
            }
        }
    }

    /// Z = A dY Aᵀ for tiles `tiles` of dy `[n, h, w, channels]` (zero beyond the edges)
    /// → z `[36, tiles.count, channels]`.
    static func transformOutputGradient(_ dy: UnsafePointer<Float>, tiling: Tiling, channels c: Int, tiles: Range<Int>,
                                        into z: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        let yp = SendablePointer(UnsafeMutablePointer(mutating: dy)), zp = SendablePointer(z)
        let sp = SendablePointer(scratch)
        let per = scratchPerJob(channels: c)
        let count = tiles.count, first = tiles.lowerBound
        let (h, w) = (tiling.height, tiling.width)
        let plane = count &* c
        parallelChunks(count, chunks: jobs) { job, range in
            let patch = sp.pointer + job &* per      // [4, 4, c]
            let tmp = patch + 16 &* c                // [6, 4, c]
            for t in range {
                let (image, oy, ox) = tiling.origin(first &+ t)
                let image0 = yp.pointer + image &* h &* w &* c
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
                let out = zp.pointer + t &* c
                for i in 0..<6 {
                    outputGradientTransform1D(UnsafePointer(tmp + i &* 4 &* c), c, out + i &* 6 &* plane, plane, c)
                }
            }
        }
    }

    /// Y = Aᵀ M A: m `[36, tiles.count, channels]` → the valid pixels of tiles `tiles` of
    /// y `[n, h, w, channels]`, overwritten.
    static func transformOutput(_ m: UnsafePointer<Float>, tiling: Tiling, channels c: Int, tiles: Range<Int>,
                                into y: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        let mp = SendablePointer(UnsafeMutablePointer(mutating: m)), yp = SendablePointer(y)
        let sp = SendablePointer(scratch)
        let per = scratchPerJob(channels: c)
        let count = tiles.count, first = tiles.lowerBound
        let (h, w) = (tiling.height, tiling.width)
        let plane = count &* c
        parallelChunks(count, chunks: jobs) { job, range in
            let tmp = sp.pointer + job &* per        // [4, 6, c] after the column pass
            let row = tmp + 24 &* c                  // [4, c] one output row of an edge tile
            for t in range {
                let (image, oy, ox) = tiling.origin(first &+ t)
                let image0 = yp.pointer + image &* h &* w &* c
                let src = UnsafePointer(mp.pointer + t &* c)
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
    }

    // MARK: the 36 products

    /// For each ξ: `c[ξ] = op(a[ξ]) · op(b[ξ]) (+ c[ξ] if accumulate)`, with a, b, c given as
    /// base pointers and per-position strides. With several compute threads the positions are
    /// spread over them, each GEMM single-threaded, so every product is computed the same way
    /// whatever the timing.
    static func multiply(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                         a: UnsafePointer<Float>, lda: Int, strideA: Int,
                         b: UnsafePointer<Float>, ldb: Int, strideB: Int,
                         accumulate: Bool = false,
                         c: UnsafeMutablePointer<Float>, ldc: Int, strideC: Int) {
        let beta: Float = accumulate ? 1 : 0
        let threads = ComputeThreads.count
        if threads == 1 || !spreadProductsOverThreads {
            for xi in 0..<positions {
                BLAS.sgemm(transA: transA, transB: transB, m: m, n: n, k: k,
                           a: a + xi &* strideA, lda: lda, b: b + xi &* strideB, ldb: ldb,
                           beta: beta, c: c + xi &* strideC, ldc: ldc)
            }
            return
        }
        let ap = SendablePointer(UnsafeMutablePointer(mutating: a))
        let bp = SendablePointer(UnsafeMutablePointer(mutating: b)), cp = SendablePointer(c)
        BLAS.setThreads(1)
        parallelChunks(positions, chunks: threads) { _, range in
            for xi in range {
                BLAS.sgemm(transA: transA, transB: transB, m: m, n: n, k: k,
                           a: ap.pointer + xi &* strideA, lda: lda, b: bp.pointer + xi &* strideB, ldb: ldb,
                           beta: beta, c: cp.pointer + xi &* strideC, ldc: ldc)
            }
        }
        BLAS.setThreads(threads)
    }

    /// Whether `multiply` runs the 36 GEMMs concurrently, one single-threaded GEMM per position
    /// (true), or one after another with OpenBLAS threading each (false). A benchmark switch.
    nonisolated(unsafe) static var spreadProductsOverThreads = true
}

extension Conv2D {
    /// Whether this convolution can take the Winograd path (3×3, stride 1, pad 1).
    var isWinogradEligible: Bool { kernel == 3 && stride == 1 && padding == 1 }

    /// Tiles per chunk: the two transformed buffers `[36, tiles, max(Cin, Cout)]` stay within
    /// the workspace's Winograd budget.
    func winogradTilesPerChunk(_ total: Int) -> Int {
        let widest = max(inChannels, outChannels)
        return max(1, min(total, workspace.winogradBudget / (2 &* Winograd.positions &* widest)))
    }

    /// Prepares the workspace buffers for chunks of `chunk` tiles; returns (first, second,
    /// weights, scratch) pointers.
    private func winogradBuffers(chunk: Int) -> (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>,
                                                UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) {
        let widest = max(inChannels, outChannels)
        let ws = workspace
        ws.winogradFirst.resize(to: [Winograd.positions * chunk * widest])
        ws.winogradSecond.resize(to: [Winograd.positions * chunk * widest])
        ws.winogradWeights.resize(to: [Winograd.positions * inChannels * outChannels])
        ws.winogradScratch.resize(to: [Winograd.jobs * Winograd.scratchPerJob(channels: widest)])
        return (ws.winogradFirst.pointer, ws.winogradSecond.pointer, ws.winogradWeights.pointer, ws.winogradScratch.pointer)
    }

    /// Forward by Winograd: x `[n, h, w, Cin]` → output `[n, h, w, Cout]`.
    func winogradForward(_ x: Tensor) {
        let (n, h, w) = (x.shape[0], x.shape[1], x.shape[2])
        let (cin, cout) = (inChannels, outChannels)
        let tiling = Winograd.Tiling(images: n, height: h, width: w)
        let chunk = winogradTilesPerChunk(tiling.count)
        let (v, m, u, scratch) = winogradBuffers(chunk: chunk)
        Winograd.transformWeights(weight, cin: cin, cout: cout, rotated: false, into: u, scratch: scratch)
        var first = 0
        while first < tiling.count {
            let tiles = first..<min(tiling.count, first + chunk)
            let t = tiles.count
            Winograd.transformInput(x.pointer, tiling: tiling, channels: cin, tiles: tiles, into: v, scratch: scratch)
            Winograd.multiply(m: t, n: cout, k: cin, a: v, lda: cin, strideA: t * cin,
                              b: u, ldb: cout, strideB: cin * cout, c: m, ldc: cout, strideC: t * cout)
            Winograd.transformOutput(m, tiling: tiling, channels: cout, tiles: tiles, into: output.pointer, scratch: scratch)
            first = tiles.upperBound
        }
    }

    /// Backward by Winograd: accumulates dW into the store; writes dx into `inputGradient` if asked.
    func winogradBackward(_ dy: Tensor, input x: Tensor, needInputGradient: Bool) {
        let (n, h, w) = (x.shape[0], x.shape[1], x.shape[2])
        let (cin, cout) = (inChannels, outChannels)
        let tiling = Winograd.Tiling(images: n, height: h, width: w)
        let chunk = winogradTilesPerChunk(tiling.count)
        let (first, second, u, scratch) = winogradBuffers(chunk: chunk)
        let ws = workspace
        ws.winogradWeightGradient.resize(to: [Winograd.positions * cin * cout])
        let du = ws.winogradWeightGradient.pointer
        if needInputGradient {
            // U'ᵀ: the rotated filters' transform, laid out [36, Cin, Cout] and used transposed.
            Winograd.transformWeights(weight, cin: cin, cout: cout, rotated: true, into: u, scratch: scratch)
        }
        var start = 0
        while start < tiling.count {
            let tiles = start..<min(tiling.count, start + chunk)
            let t = tiles.count
            if needInputGradient {
                Winograd.transformInput(dy.pointer, tiling: tiling, channels: cout, tiles: tiles, into: first, scratch: scratch)
                Winograd.multiply(transB: true, m: t, n: cin, k: cout, a: first, lda: cout, strideA: t * cout,
                                  b: u, ldb: cout, strideB: cin * cout, c: second, ldc: cin, strideC: t * cin)
                Winograd.transformOutput(second, tiling: tiling, channels: cin, tiles: tiles,
                                         into: inputGradient.pointer, scratch: scratch)
            }
            Winograd.transformOutputGradient(dy.pointer, tiling: tiling, channels: cout, tiles: tiles, into: first, scratch: scratch)
            Winograd.transformInput(x.pointer, tiling: tiling, channels: cin, tiles: tiles, into: second, scratch: scratch)
            Winograd.multiply(transA: true, m: cin, n: cout, k: t, a: second, lda: cin, strideA: t * cin,
                              b: first, ldb: cout, strideB: t * cout, accumulate: start > 0,
                              c: du, ldc: cout, strideC: cin * cout)
            start = tiles.upperBound
        }
        Winograd.accumulateWeightGradient(du, cin: cin, cout: cout, into: weightGradient, scratch: scratch)
    }
}
