import XCTest
import Tensor
@testable import Engine

/// The Winograd F(4×4, 3×3) path (forward, dx, dW) against float64 direct loops.
///
/// Error measure: for each output tensor, max |fast − reference| / max |reference| (the error
/// normalised by the tensor's scale, since Winograd's rounding error grows with the magnitudes
/// in a whole tile, not with the single output). Measured on random N(0,1) inputs and He-scaled
/// weights in float32: small random shapes forward ≈ 3e-6, dx ≈ 4e-6, dW ≈ 2e-6; a WRN-sized
/// layer (2×32×32×32 → 32) forward ≈ 6e-6, dx ≈ 4e-6, dW ≈ 5e-6 (im2col there: 6e-7, 2e-7,
/// 4e-7). `tolerance` leaves ~5× headroom; perturbing one coefficient of a transform by 0.001
/// gives ≈ 4e-4 and dropping a channel ≥ 1, both caught.
final class WinogradTests: XCTestCase {
    static let tolerance = 3e-5

    struct Case { var n, h, w, cin, cout: Int }

    func randomTensor(_ shape: [Int], _ g: inout SeededGenerator) -> Tensor {
        let t = Tensor(shape: shape)
        for i in 0..<t.count { t[i] = Float(g.nextGaussian()) }
        return t
    }

    /// Direct stride-1 pad-1 3×3 convolution, its input gradient and weight gradient in float64.
    func reference(x: Tensor, w: UnsafePointer<Float>, dy: Tensor, cout: Int) -> (y: [Double], dx: [Double], dw: [Double]) {
        let (n, h, wd, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        var y = [Double](repeating: 0, count: n * h * wd * cout)
        var dx = [Double](repeating: 0, count: x.count)
        var dw = [Double](repeating: 0, count: 9 * c * cout)
        for b in 0..<n { for oy in 0..<h { for ox in 0..<wd {
            for ky in 0..<3 { for kx in 0..<3 {
                let iy = oy - 1 + ky, ix = ox - 1 + kx
                guard iy >= 0, iy < h, ix >= 0, ix < wd else { continue }
                for ci in 0..<c {
                    let xv = Double(x[((b * h + iy) * wd + ix) * c + ci])
                    for co in 0..<cout {
                        let o = ((b * h + oy) * wd + ox) * cout + co
                        let wi = ((ky * 3 + kx) * c + ci) * cout + co
                        y[o] += xv * Double(w[wi])
                        dx[((b * h + iy) * wd + ix) * c + ci] += Double(dy[o]) * Double(w[wi])
                        dw[wi] += xv * Double(dy[o])
                    }
                }
            } }
        } } }
        return (y, dx, dw)
    }

    /// max |a − b| / max |b|.
    func scaledError(_ a: [Float], _ b: [Double]) -> Double {
        precondition(a.count == b.count)
        var err = 0.0, scale = 0.0
        for (x, r) in zip(a, b) { err = max(err, abs(Double(x) - r)); scale = max(scale, abs(r)) }
        return scale == 0 ? err : err / scale
    }

    /// Forward, dx and dW of one convolution with the given algorithm; dW starts from `dwStart`
    /// to check that it accumulates.
    func run(_ cs: Case, algorithm: ConvolutionAlgorithm, budget: Int?, seed: UInt64)
        -> (y: [Float], dx: [Float], dw: [Float], reference: (y: [Double], dx: [Double], dw: [Double])) {
        var g = SeededGenerator(seed: seed)
        let store = ParameterStore()
        let ws = Workspace()
        if let budget { ws.winogradBudget = budget; ws.winogradMinimumChunk = 1 }
        let conv = Conv2D("c", store: store, workspace: ws, inChannels: cs.cin, outChannels: cs.cout, kernel: 3, stride: 1)
        conv.algorithm = algorithm
        store.finalize(generator: &g)
        let x = randomTensor([cs.n, cs.h, cs.w, cs.cin], &g)
        let dy = randomTensor([cs.n, cs.h, cs.w, cs.cout], &g)
        let y = conv.forward(x).array
        let dwStart = (0..<store.gradients.count).map { _ in Float(g.nextGaussian()) }
        for i in 0..<dwStart.count { store.gradients[i] = dwStart[i] }
        let dx = conv.backward(dy, input: x).array
        let dw = zip(store.gradients.array, dwStart).map { $0 - $1 }
        return (y, dx, dw, reference(x: x, w: store.values.pointer, dy: dy, cout: cs.cout))
    }

    func testMatchesDirectLoopsOnRandomShapes() {
        var g = SeededGenerator(seed: 44)
        let sizes = [1, 2, 3, 4, 5, 6, 7, 8, 9, 13]
        var cases = [Case(n: 1, h: 1, w: 1, cin: 1, cout: 1), Case(n: 2, h: 2, w: 2, cin: 3, cout: 5),
                     Case(n: 1, h: 1, w: 7, cin: 4, cout: 2), Case(n: 3, h: 8, w: 8, cin: 16, cout: 16)]
        for _ in 0..<20 {
            cases.append(Case(n: 1 + g.nextInt(below: 3), h: sizes[g.nextInt(below: sizes.count)],
                              w: sizes[g.nextInt(below: sizes.count)],
                              cin: 1 + g.nextInt(below: 19), cout: 1 + g.nextInt(below: 19)))
        }
        var worst = (y: 0.0, dx: 0.0, dw: 0.0)
        for (i, cs) in cases.enumerated() {
            // Sometimes a budget so small that chunks hold one or a few tiles (and split images).
            let budget: Int? = i % 3 == 0 ? 1 + g.nextInt(below: 4000) : nil
            let r = run(cs, algorithm: .winograd, budget: budget, seed: UInt64(100 + i))
            let e = (y: scaledError(r.y, r.reference.y), dx: scaledError(r.dx, r.reference.dx),
                     dw: scaledError(r.dw, r.reference.dw))
            worst = (max(worst.y, e.y), max(worst.dx, e.dx), max(worst.dw, e.dw))
            XCTAssertLessThan(e.y, Self.tolerance, "forward \(cs) budget \(budget ?? -1)")
            XCTAssertLessThan(e.dx, Self.tolerance, "dx \(cs) budget \(budget ?? -1)")
            XCTAssertLessThan(e.dw, Self.tolerance, "dW \(cs) budget \(budget ?? -1)")
        }
        print("Winograd vs float64 direct, worst scaled error: forward \(worst.y), dx \(worst.dx), dW \(worst.dw)")
    }

    /// A WRN-sized layer (32×32 images, 32 channels): Winograd's error at the scale training
    /// sees, next to im2col's.
    func testErrorAtNetworkScale() {
        let cs = Case(n: 2, h: 32, w: 32, cin: 32, cout: 32)
        for algorithm in ConvolutionAlgorithm.allCases {
            let r = run(cs, algorithm: algorithm, budget: nil, seed: 9)
            let e = (y: scaledError(r.y, r.reference.y), dx: scaledError(r.dx, r.reference.dx),
                     dw: scaledError(r.dw, r.reference.dw))
            print("\(algorithm) vs float64 direct at \(cs): forward \(e.y), dx \(e.dx), dW \(e.dw)")
            XCTAssertLessThan(e.y, Self.tolerance)
            XCTAssertLessThan(e.dx, Self.tolerance)
            XCTAssertLessThan(e.dw, Self.tolerance)
        }
    }

    /// The stem's `needInputGradient: false` path still accumulates dW and leaves dx alone.
    func testWeightGradientWithoutInputGradient() {
        var g = SeededGenerator(seed: 3)
        let store = ParameterStore()
        let conv = Conv2D("c", store: store, workspace: Workspace(), inChannels: 3, outChannels: 4, kernel: 3, stride: 1)
        store.finalize(generator: &g)
        let x = randomTensor([2, 6, 5, 3], &g), dy = randomTensor([2, 6, 5, 4], &g)
        conv.forward(x)
        store.zeroGradients()
        conv.backward(dy, input: x, needInputGradient: false)
        let ref = reference(x: x, w: store.values.pointer, dy: dy, cout: 4)
        XCTAssertLessThan(scaledError(store.gradients.array, ref.dw), Self.tolerance)
    }

    /// Same inputs and thread count ⇒ bit-identical outputs, at 1 and 2 threads.
    func testDeterministic() {
        let saved = ComputeThreads.count
        defer { ComputeThreads.set(saved) }
        let cs = Case(n: 3, h: 11, w: 9, cin: 12, cout: 20)
        for threads in [1, 2] {
            ComputeThreads.set(threads)
            let a = run(cs, algorithm: .winograd, budget: 5000, seed: 7)
            let b = run(cs, algorithm: .winograd, budget: 5000, seed: 7)
            XCTAssertEqual(a.y, b.y, "forward at \(threads) threads")
            XCTAssertEqual(a.dx, b.dx, "dx at \(threads) threads")
            XCTAssertEqual(a.dw, b.dw, "dW at \(threads) threads")
            XCTAssertLessThan(scaledError(a.y, a.reference.y), Self.tolerance)
            XCTAssertLessThan(scaledError(a.dx, a.reference.dx), Self.tolerance)
            XCTAssertLessThan(scaledError(a.dw, a.reference.dw), Self.tolerance)
        }
    }

    /// A whole WRN step: Winograd and im2col give the same logits and parameter gradients up to
    /// float32 rounding, and at two threads the Winograd step is bit-identical run to run.
    func testWholeModelMatchesIm2colAndIsDeterministic() throws {
        let saved = ComputeThreads.count
        defer { ComputeThreads.set(saved) }
        let spec = try ModelSpec(depth: 10, widen: 2, form: .pba, height: 11, width: 9, channels: 3, classes: 5)
        func step(_ algorithm: ConvolutionAlgorithm, threads: Int) -> (logits: [Float], gradients: [Float]) {
            ComputeThreads.set(threads)
            var g = SeededGenerator(seed: 21)
            let model = WideResNet(spec: spec, seed: 4)
            model.setConvolutionAlgorithm(algorithm)
            let x = randomTensor([6, 11, 9, 3], &g)
            model.parameters.zeroGradients()
            let logits = model.forward(x, training: true).array
            _ = model.loss.forwardBackward(model.forward(x, training: true), labels: [0, 1, 2, 3, 4, 0])
            model.backward(model.loss.logitGradient)
            return (logits, model.parameters.gradients.array)
        }
        let reference = step(.im2col, threads: 1), winograd = step(.winograd, threads: 1)
        let a = step(.winograd, threads: 2), b = step(.winograd, threads: 2)
        XCTAssertEqual(a.logits, b.logits)
        XCTAssertEqual(a.gradients, b.gradients)
        for (name, run) in [("1 thread", winograd), ("2 threads", a)] {
            let logitError = scaledError(run.logits, reference.logits.map(Double.init))
            let gradientError = scaledError(run.gradients, reference.gradients.map(Double.init))
            print("whole WRN-10-2 step, Winograd (\(name)) vs im2col: logits \(logitError), gradients \(gradientError)")
            // Measured ≈ 2e-6 (logits) and 3e-6 (gradients).
            XCTAssertLessThan(logitError, Self.tolerance, "logits, \(name)")
            XCTAssertLessThan(gradientError, Self.tolerance, "gradients, \(name)")
        }
    }
}
