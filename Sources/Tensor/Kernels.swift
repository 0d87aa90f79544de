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
                                     tiles: Range<Int>, into v: UnsafeMutablePointer<Float>,
                                     scratch: UnsafeMutablePointer<Float>) -> Bool {
        pba_winograd_input(x, Int32(height), Int32(width), Int32(channels), tiles.lowerBound, Int32(tiles.count), v, scratch) != 0
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
