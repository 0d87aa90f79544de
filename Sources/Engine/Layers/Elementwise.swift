import Tensor

/// dst = srcᵀ: a row-major `[rows, cols]` matrix → `[cols, rows]` (the plain products of the
/// kernels take op(A) only, so a product with Bᵀ gets a transposed copy).
func transposeMatrix(_ src: UnsafePointer<Float>, rows: Int, cols: Int, into dst: UnsafeMutablePointer<Float>) {
    for r in 0..<rows {
        for c in 0..<cols { dst[c &* rows &+ r] = src[r &* cols &+ c] }
    }
}

/// out = a + b (same shapes). `out` may be `a`.
func addTensors(_ a: Tensor, _ b: Tensor, into out: Tensor) {
    precondition(a.count == b.count, "adding tensors of shapes \(a.shape) and \(b.shape)")
    if out !== a { out.resize(to: a.shape) }
    let ap = SendablePointer(a.pointer), bp = SendablePointer(b.pointer), op = SendablePointer(out.pointer)
    parallelChunks(a.count, chunks: ComputeThreads.count * 4) { _, r in
        if Kernels.add(ap.pointer + r.lowerBound, bp.pointer + r.lowerBound, into: op.pointer + r.lowerBound, count: r.count) { return }
        for i in r { op.pointer[i] = ap.pointer[i] + bp.pointer[i] }
    }
}
