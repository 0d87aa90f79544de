import CBLAS
import CKernels

/// pba's own register-blocked kernels (`Sources/CKernels`) for the small products where OpenBLAS
/// spends as long packing as multiplying; everything they do not take goes to BLAS.
public enum Kernels {
    /// The instruction set the kernels use on this machine, after `PBA_KERNELS` and `use(_:)`.
    public enum InstructionSet: Int32, Sendable, CaseIterable, CustomStringConvertible {
        /// No kernel: every product goes to BLAS.
        case blas = 0
        case avx2 = 2
        case avx512 = 3

        public var description: String {
            switch self {
            case .blas: "blas"
            case .avx2: "avx2"
            case .avx512: "avx512"
            }
        }
    }

    /// The set in use now.
    public static var instructionSet: InstructionSet { InstructionSet(rawValue: pba_kernels_isa()) ?? .blas }

    /// The best set this CPU has.
    public static var cpuInstructionSet: InstructionSet { InstructionSet(rawValue: pba_kernels_cpu_isa()) ?? .blas }

    /// Uses at most `set` (clamped to what the CPU has) from now on; returns the set now in use.
    @discardableResult
    public static func use(_ set: InstructionSet) -> InstructionSet {
        InstructionSet(rawValue: pba_kernels_set_isa(set.rawValue)) ?? .blas
    }

    /// C = op(A)·B (+ C when `accumulate`), row-major, op(A) m×k (A, or Aᵀ of a k×m A), B k×n:
    /// by the small kernels when n is a multiple of the vector width, else by BLAS. The sum over
    /// k runs in index order in the kernels; on one machine and one instruction set the result
    /// is a function of the inputs.
    @inline(__always)
    public static func sgemm(transA: Bool = false, m: Int, n: Int, k: Int,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             accumulate: Bool = false, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if pba_sgemm_small(transA ? 1 : 0, Int32(m), Int32(n), Int32(k), a, Int32(lda), b, Int32(ldb),
                           c, Int32(ldc), accumulate ? 1 : 0) != 0 {
            return
        }
        BLAS.sgemm(transA: transA, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb,
                   beta: accumulate ? 1 : 0, c: c, ldc: ldc)
    }
}

extension Kernels {
    /// Winograd F(4×4, 3×3) transforms by the C kernels (see `CKernels.h` for layouts); each
    /// returns false, having done nothing, when `c` is not a multiple of the vector width.
    @inline(__always)
    public static func winogradInput(_ x: UnsafePointer<Float>, height: Int, width: Int, channels: Int,
                                     tiles: Range<Int>, into v: UnsafeMutablePointer<Float>) -> Bool {
        pba_winograd_input(x, Int32(height), Int32(width), Int32(channels), tiles.lowerBound, Int32(tiles.count), v) != 0
    }

    @inline(__always)
    public static func winogradOutput(_ m: UnsafePointer<Float>, height: Int, width: Int, channels: Int,
                                      tiles: Range<Int>, into y: UnsafeMutablePointer<Float>) -> Bool {
        pba_winograd_output(m, Int32(height), Int32(width), Int32(channels), tiles.lowerBound, Int32(tiles.count), y) != 0
    }

    @inline(__always)
    public static func winogradOutputGradient(_ dy: UnsafePointer<Float>, height: Int, width: Int, channels: Int,
                                              tiles: Range<Int>, into z: UnsafeMutablePointer<Float>) -> Bool {
        pba_winograd_output_gradient(dy, Int32(height), Int32(width), Int32(channels), tiles.lowerBound, Int32(tiles.count), z) != 0
    }
}

extension Kernels {
    /// im2col / col2im by the C kernels (see `CKernels.h`); false, having done nothing, when
    /// `channels` is not a multiple of the vector width.
    @inline(__always)
    public static func im2col(_ x: UnsafePointer<Float>, height h: Int, width w: Int, channels c: Int, kernel k: Int,
                              stride s: Int, padding p: Int, outputHeight oh: Int, outputWidth ow: Int,
                              images: Range<Int>, into cols: UnsafeMutablePointer<Float>) -> Bool {
        pba_im2col(x, Int32(h), Int32(w), Int32(c), Int32(k), Int32(s), Int32(p), Int32(oh), Int32(ow),
                   Int32(images.lowerBound), Int32(images.count), cols) != 0
    }

    @inline(__always)
    public static func col2im(_ cols: UnsafePointer<Float>, height h: Int, width w: Int, channels c: Int, kernel k: Int,
                              stride s: Int, padding p: Int, outputHeight oh: Int, outputWidth ow: Int,
                              images: Range<Int>, into dx: UnsafeMutablePointer<Float>) -> Bool {
        pba_col2im(cols, Int32(h), Int32(w), Int32(c), Int32(k), Int32(s), Int32(p), Int32(oh), Int32(ow),
                   Int32(images.lowerBound), Int32(images.count), dx) != 0
    }
}

extension Kernels {
    /// Batch-norm row passes by the C kernels (see `CKernels.h`); each returns false, having done
    /// nothing, when `channels` is not a multiple of the vector width.
    public enum BatchNormSum: Int32, Sendable {
        case values = 0, centredSquares = 1, gradients = 2
    }

    @inline(__always)
    public static func batchNormSums(_ kind: BatchNormSum, relu: Bool, x: UnsafePointer<Float>, dy: UnsafePointer<Float>?,
                                     scale: UnsafePointer<Float>?, shift: UnsafePointer<Float>?,
                                     mean: UnsafePointer<Float>?, invStd: UnsafePointer<Float>?,
                                     channels: Int, rows: Range<Int>, into acc: UnsafeMutablePointer<Double>) -> Bool {
        pba_bn_sums(kind.rawValue, relu ? 1 : 0, x, dy, scale, shift, mean, invStd, Int32(channels), rows.lowerBound,
                    rows.upperBound, acc) != 0
    }

    @inline(__always)
    public static func batchNormApply(relu: Bool, x: UnsafePointer<Float>, scale: UnsafePointer<Float>, shift: UnsafePointer<Float>,
                                      channels: Int, rows: Range<Int>, into out: UnsafeMutablePointer<Float>) -> Bool {
        pba_bn_apply(relu ? 1 : 0, x, scale, shift, Int32(channels), rows.lowerBound, rows.upperBound, out) != 0
    }

    @inline(__always)
    public static func batchNormBackward(relu: Bool, dy: UnsafePointer<Float>, scale: UnsafePointer<Float>, shift: UnsafePointer<Float>,
                                         x: UnsafePointer<Float>, mean: UnsafePointer<Float>, invStd: UnsafePointer<Float>,
                                         a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafePointer<Float>,
                                         channels: Int, rows: Range<Int>, into dx: UnsafeMutablePointer<Float>) -> Bool {
        pba_bn_backward(relu ? 1 : 0, dy, scale, shift, x, mean, invStd, a, b, c, Int32(channels), rows.lowerBound,
                        rows.upperBound, dx) != 0
    }

    /// out = a + b over `count` floats (out may be a or b).
    @inline(__always)
    public static func add(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int) -> Bool {
        pba_add(a, b, out, count) != 0
    }

    /// PBA's pooling shortcut for output row `row` of image `image`: `top += pool(x)` in the
    /// channels `[offset, offset + inChannels)` (see `pba_pool_pad_add`); false when the channel
    /// count does not suit the kernels and the caller must do it.
    @inline(__always)
    public static func poolPadAdd(_ x: UnsafePointer<Float>, height: Int, width: Int, inChannels: Int, stride: Int,
                                  outChannels: Int, offset: Int, image: Int, row: Int, into top: UnsafeMutablePointer<Float>) -> Bool {
        pba_pool_pad_add(x, Int32(height), Int32(width), Int32(inChannels), Int32(stride), Int32(outChannels),
                         Int32(offset), image, Int32(row), top) != 0
    }

    /// The shortcut's gradient for input row `row` of image `image`: `out = (adding +) dy·1/size`
    /// (see `pba_pool_pad_gradient`); false when the caller must do it.
    @inline(__always)
    public static func poolPadGradient(_ dy: UnsafePointer<Float>, adding d: UnsafePointer<Float>?, height: Int, width: Int,
                                       inChannels: Int, stride: Int, outChannels: Int, offset: Int, image: Int, row: Int,
                                       into out: UnsafeMutablePointer<Float>) -> Bool {
        pba_pool_pad_gradient(dy, d, Int32(height), Int32(width), Int32(inChannels), Int32(stride), Int32(outChannels),
                              Int32(offset), image, Int32(row), out) != 0
    }

    /// Whether `directConvolution` takes a 3×3 convolution from `inChannels` to `outChannels`
    /// with the instruction set in use (1-4 inputs; 1, 2 or 4 vectors of outputs).
    public static func directConvolutionSupports(inChannels: Int, outChannels: Int) -> Bool {
        pba_conv3x3_direct_supported(Int32(inChannels), Int32(outChannels)) != 0
    }

    /// y = conv3×3(x, w), stride 1, pad 1, for images `images` (see `pba_conv3x3_direct_forward`).
    @inline(__always)
    public static func directConvolution(_ x: UnsafePointer<Float>, height: Int, width: Int, inChannels: Int, outChannels: Int,
                                         weights: UnsafePointer<Float>, images: Range<Int>, into y: UnsafeMutablePointer<Float>) -> Bool {
        pba_conv3x3_direct_forward(x, Int32(height), Int32(width), Int32(inChannels), Int32(outChannels), weights,
                                   images.lowerBound, images.count, y) != 0
    }

    /// dW (+)= Σ patch(x)ᵀ·dy over the pixels of `images` (see `pba_conv3x3_direct_weight_gradient`).
    @inline(__always)
    public static func directConvolutionWeightGradient(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, height: Int, width: Int,
                                                       inChannels: Int, outChannels: Int, images: Range<Int>, accumulate: Bool,
                                                       into dw: UnsafeMutablePointer<Float>) -> Bool {
        pba_conv3x3_direct_weight_gradient(x, dy, Int32(height), Int32(width), Int32(inChannels), Int32(outChannels),
                                           images.lowerBound, images.count, dw, accumulate ? 1 : 0) != 0
    }
}
