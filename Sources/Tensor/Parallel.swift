import Dispatch

/// pba's own loops and kernels (convolution parts, batch norm, transforms) run on this many
/// threads. OpenBLAS stays single-threaded: every product of a training step runs inside one
/// thread's part (or is as small as the classifier's), and OpenBLAS's idle workers, which spin
/// for a while after each multi-threaded call, took CPU from pba's own threads on 2 cores.
public enum ComputeThreads {
    nonisolated(unsafe) public private(set) static var count: Int = 1

    /// Sets our thread count (and OpenBLAS's to one). Call once at start-up, before training.
    public static func set(_ n: Int) {
        count = max(1, n)
        BLAS.setThreads(1)
    }
}

/// Runs `body` over `0..<total` split into `chunks` contiguous ranges, on up to
/// `ComputeThreads.count` threads. Each chunk's range depends only on `total` and `chunks`, never on
/// timing, so a computation that reduces per chunk and then combines chunks in order is
/// bit-identical whatever the thread count.
@inline(__always)
public func parallelChunks(_ total: Int, chunks: Int, _ body: (_ chunk: Int, _ range: Range<Int>) -> Void) {
    let chunks = max(1, min(chunks, total))
    guard total > 0 else { return }
    let per = (total + chunks - 1) / chunks
    let realChunks = (total + per - 1) / per
    if ComputeThreads.count == 1 || realChunks == 1 {
        for c in 0..<realChunks { body(c, (c * per)..<min(total, (c + 1) * per)) }
        return
    }
    withoutActuallyEscaping(body) { body in
        let box = UncheckedBox(body)
        DispatchQueue.concurrentPerform(iterations: realChunks) { c in
            box.value(c, (c * per)..<min(total, (c + 1) * per))
        }
    }
}

/// Runs `body(i)` for every i in `0..<total`, spread over the compute threads.
@inline(__always)
public func parallelFor(_ total: Int, _ body: (Int) -> Void) {
    parallelChunks(total, chunks: ComputeThreads.count * 4) { _, r in for i in r { body(i) } }
}

private struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ v: T) { value = v }
}
