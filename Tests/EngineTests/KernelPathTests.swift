import XCTest
import Tensor
@testable import Engine

/// Every convolution route (Winograd, im2col 3×3 of stride 1 and 2, 1×1 of stride 1 and 2) on
/// channel counts the C kernels take (multiples of 8 and 16), under every instruction set this
/// CPU has — AVX-512, AVX2 and plain BLAS with the Swift transforms — against float64 direct
/// loops: forward, dx and the accumulated dW.
final class KernelPathTests: XCTestCase {
    override func tearDown() { Kernels.use(.avx512) }

    struct Case { var n, h, w, cin, cout, kernel, stride: Int; var algorithm: ConvolutionAlgorithm }

    /// Forward, dx, dW of a k×k convolution with symmetric padding (k−1)/2, in float64.
    func reference(_ x: Tensor, _ w: UnsafePointer<Float>, _ dy: [Float], _ cs: Case) -> (y: [Double], dx: [Double], dw: [Double]) {
        let (n, h, wd, c, k, s) = (cs.n, cs.h, cs.w, cs.cin, cs.kernel, cs.stride)
        let p = (k - 1) / 2, oh = (h + 2 * p - k) / s + 1, ow = (wd + 2 * p - k) / s + 1
        var y = [Double](repeating: 0, count: n * oh * ow * cs.cout)
        var dx = [Double](repeating: 0, count: x.count), dw = [Double](repeating: 0, count: k * k * c * cs.cout)
        for b in 0..<n { for oy in 0..<oh { for ox in 0..<ow { for ky in 0..<k { for kx in 0..<k {
            let iy = oy * s - p + ky, ix = ox * s - p + kx
            guard iy >= 0, iy < h, ix >= 0, ix < wd else { continue }
            for ci in 0..<c {
                let xi = ((b * h + iy) * wd + ix) * c + ci, xv = Double(x[xi])
                for co in 0..<cs.cout {
                    let o = ((b * oh + oy) * ow + ox) * cs.cout + co, wi = ((ky * k + kx) * c + ci) * cs.cout + co
                    y[o] += xv * Double(w[wi])
                    dx[xi] += Double(dy[o]) * Double(w[wi])
                    dw[wi] += xv * Double(dy[o])
                }
            }
        } } } } }
        return (y, dx, dw)
    }

    func scaledError(_ a: [Float], _ b: [Double]) -> Double {
        var err = 0.0, scale = 0.0
        for (x, r) in zip(a, b) { err = max(err, abs(Double(x) - r)); scale = max(scale, abs(r)) }
        return scale == 0 ? err : err / scale
    }

    /// One convolution of case `cs` on random inputs: its forward output, dx (empty without
    /// `needInputGradient`), the dW it accumulated onto random starting values, and the float64
    /// reference. `check` sees the layer before it runs.
    func pass(_ cs: Case, needInputGradient: Bool, _ g: inout SeededGenerator, check: (Conv2D) -> Void = { _ in })
        -> (y: [Float], dx: [Float], dw: [Float], reference: (y: [Double], dx: [Double], dw: [Double])) {
        let store = ParameterStore()
        let conv = Conv2D("c", store: store, workspace: Workspace(), inChannels: cs.cin, outChannels: cs.cout,
                          kernel: cs.kernel, stride: cs.stride)
        conv.algorithm = cs.algorithm
        store.finalize(generator: &g)
        check(conv)
        let x = Tensor(shape: [cs.n, cs.h, cs.w, cs.cin])
        for i in 0..<x.count { x[i] = Float(g.nextGaussian()) }
        let y = conv.forward(x).array
        let dy = Tensor(shape: conv.output.shape)
        for i in 0..<dy.count { dy[i] = Float(g.nextGaussian()) }
        let start = (0..<store.gradients.count).map { _ in Float(g.nextGaussian()) }
        for i in 0..<start.count { store.gradients[i] = start[i] }
        let dx = conv.backward(dy, input: x, needInputGradient: needInputGradient)
        let dw = zip(store.gradients.array, start).map { $0 - $1 }
        return (y, needInputGradient ? dx.array : [], dw, reference(x, store.values.pointer, dy.array, cs))
    }

    func testEveryRouteOnEveryInstructionSet() {
        let cases = [
            Case(n: 2, h: 9, w: 7, cin: 16, cout: 16, kernel: 3, stride: 1, algorithm: .winograd),
            Case(n: 1, h: 8, w: 8, cin: 32, cout: 48, kernel: 3, stride: 1, algorithm: .winograd),
            Case(n: 3, h: 5, w: 6, cin: 8, cout: 24, kernel: 3, stride: 1, algorithm: .winograd),
            Case(n: 2, h: 4, w: 4, cin: 3, cout: 16, kernel: 3, stride: 1, algorithm: .winograd),  // the stem
            Case(n: 2, h: 9, w: 8, cin: 16, cout: 32, kernel: 3, stride: 2, algorithm: .winograd),
            Case(n: 2, h: 7, w: 7, cin: 16, cout: 16, kernel: 3, stride: 1, algorithm: .im2col),
            Case(n: 2, h: 8, w: 8, cin: 16, cout: 32, kernel: 1, stride: 2, algorithm: .winograd),
            Case(n: 2, h: 5, w: 5, cin: 32, cout: 16, kernel: 1, stride: 1, algorithm: .winograd),
        ]
        let sets = Kernels.InstructionSet.allCases.filter { $0.rawValue <= Kernels.cpuInstructionSet.rawValue }
        var g = SeededGenerator(seed: 5)
        for set in sets {
            Kernels.use(set)
            for cs in cases {
                let (y, dx, dw, r) = pass(cs, needInputGradient: true, &g)
                let label = "\(set) \(cs)"
                XCTAssertLessThan(scaledError(y, r.y), WinogradTests.tolerance, "forward \(label)")
                XCTAssertLessThan(scaledError(dx, r.dx), WinogradTests.tolerance, "dx \(label)")
                XCTAssertLessThan(scaledError(dw, r.dw), WinogradTests.tolerance, "dW \(label)")
            }
        }
    }

    /// The stem's direct route (1-4 input channels, outputs of 1, 2 or 4 vectors) at 1 and 2
    /// threads (one part accumulating into the store, several into partials) under every
    /// instruction set, against float64 direct loops: forward and the accumulated dW without dx,
    /// as the model calls it. Widths the kernel does not take (48 outputs) fall back to Winograd.
    func testDirectStemOnEveryInstructionSet() {
        let saved = ComputeThreads.count
        defer { ComputeThreads.set(saved) }
        let cases = [Case(n: 3, h: 7, w: 6, cin: 3, cout: 16, kernel: 3, stride: 1, algorithm: .winograd),
                     Case(n: 4, h: 5, w: 5, cin: 1, cout: 16, kernel: 3, stride: 1, algorithm: .winograd),
                     Case(n: 2, h: 4, w: 9, cin: 4, cout: 64, kernel: 3, stride: 1, algorithm: .winograd),
                     Case(n: 5, h: 3, w: 3, cin: 2, cout: 32, kernel: 3, stride: 1, algorithm: .winograd),
                     Case(n: 2, h: 4, w: 4, cin: 3, cout: 48, kernel: 3, stride: 1, algorithm: .winograd)]
        let sets = Kernels.InstructionSet.allCases.filter { $0.rawValue <= Kernels.cpuInstructionSet.rawValue }
        var g = SeededGenerator(seed: 8)
        var directRuns = 0
        for set in sets {
            Kernels.use(set)
            for threads in [1, 2] {
                ComputeThreads.set(threads)
                for cs in cases {
                    let direct = Kernels.directConvolutionSupports(inChannels: cs.cin, outChannels: cs.cout)
                    if direct { directRuns += 1 }
                    let (y, _, dw, r) = pass(cs, needInputGradient: false, &g) { conv in
                        XCTAssertEqual(conv.routeName, direct ? "conv3x3 direct" : "conv3x3 winograd", "\(set) \(cs)")
                    }
                    let label = "\(set) \(threads) threads \(cs)"
                    XCTAssertLessThan(scaledError(y, r.y), WinogradTests.tolerance, "forward \(label)")
                    XCTAssertLessThan(scaledError(dw, r.dw), WinogradTests.tolerance, "dW \(label)")
                }
            }
        }
        if Kernels.cpuInstructionSet != .blas { XCTAssertGreaterThan(directRuns, 0, "no case took the direct route") }
    }

    /// Batch norm + ReLU forward and backward (16, 24 and 64 channels: AVX-512 takes 16 and 64,
    /// AVX2 all three) and the residual add give the same results on every instruction set, to float
    /// rounding of fused multiply-adds.
    func testBatchNormAndAddAgreeAcrossInstructionSets() {
        let sets = Kernels.InstructionSet.allCases.filter { $0.rawValue <= Kernels.cpuInstructionSet.rawValue }
        for channels in [16, 24, 64] {
            var results: [(Kernels.InstructionSet, [Float])] = []
            for set in sets {
                Kernels.use(set)
                var g = SeededGenerator(seed: 21)
                let store = ParameterStore()
                let bn = BatchNorm("bn", store: store, channels: channels, relu: true)
                store.finalize(generator: &g)
                for i in 0..<channels { store.values[i] = Float(1 + g.nextGaussian() * 0.1) }  // γ
                let x = Tensor(shape: [3, 5, 7, channels]), dy = Tensor(shape: [3, 5, 7, channels])
                for i in 0..<x.count { x[i] = Float(g.nextGaussian() * 2 + 0.5); dy[i] = Float(g.nextGaussian()) }
                let y = bn.forward(x, training: true).array
                let dx = bn.backward(dy, input: x).array
                let sum = Tensor(shape: x.shape)
                addTensors(x, dy, into: sum)
                results.append((set, y + dx + sum.array + store.gradients.array))
            }
            for (set, r) in results.dropFirst() {
                let worst = zip(r, results[0].1).map { abs($0 - $1) }.max() ?? 0
                XCTAssertLessThan(worst, 1e-4, "\(set) against \(results[0].0) at \(channels) channels")
            }
            XCTAssertGreaterThan(results[0].1.map(abs).max() ?? 0, 0.1)
        }
    }
}
