import XCTest
import Tensor
@testable import Engine

/// The im2col + sgemm convolution and the linear layer against direct loops on random shapes.
final class ConvolutionReferenceTests: XCTestCase {
    func naiveConv(_ x: Tensor, _ w: UnsafePointer<Float>, cout: Int, k: Int, stride: Int) -> [Double] {
        let (n, h, wd, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let pad = (k - 1) / 2
        let oh = (h + 2 * pad - k) / stride + 1, ow = (wd + 2 * pad - k) / stride + 1
        var y = [Double](repeating: 0, count: n * oh * ow * cout)
        for b in 0..<n { for oy in 0..<oh { for ox in 0..<ow { for co in 0..<cout {
            var s = 0.0
            for ky in 0..<k { for kx in 0..<k {
                let iy = oy * stride - pad + ky, ix = ox * stride - pad + kx
                guard iy >= 0, iy < h, ix >= 0, ix < wd else { continue }
                for ci in 0..<c { s += Double(x[((b * h + iy) * wd + ix) * c + ci]) * Double(w[((ky * k + kx) * c + ci) * cout + co]) }
            } }
            y[((b * oh + oy) * ow + ox) * cout + co] = s
        } } } }
        return y
    }

    func testConvolutionMatchesDirectLoopsOnRandomShapes() {
        var g = SeededGenerator(seed: 2024)
        for trial in 0..<24 {
            let k = g.nextInt(below: 2) == 0 ? 1 : 3
            let stride = 1 + g.nextInt(below: 2)
            let (n, h, w) = (1 + g.nextInt(below: 3), 1 + g.nextInt(below: 9), 1 + g.nextInt(below: 9))
            let (cin, cout) = (1 + g.nextInt(below: 7), 1 + g.nextInt(below: 7))
            let store = ParameterStore()
            let ws = Workspace()
            ws.columnBudget = 1 + g.nextInt(below: 400)  // force several chunks sometimes
            let conv = Conv2D("c", store: store, workspace: ws, inChannels: cin, outChannels: cout, kernel: k, stride: stride)
            store.finalize(generator: &g)
            let x = Tensor(shape: [n, h, w, cin])
            for i in 0..<x.count { x[i] = Float(g.nextGaussian()) }
            let fast = conv.forward(x).array
            let reference = naiveConv(x, store.values.pointer, cout: cout, k: k, stride: stride)
            XCTAssertEqual(fast.count, reference.count, "trial \(trial)")
            for (a, b) in zip(fast, reference) { XCTAssertEqual(Double(a), b, accuracy: 1e-4 * max(1, abs(b)), "trial \(trial)") }
        }
    }

    /// With two threads every convolution splits its images (or pixel rows, or tiles) into
    /// parts with per-part dW partials: same results as one thread up to rounding, and
    /// bit-identical from run to run.
    func testTwoThreadPartsMatchOneThreadAndAreDeterministic() {
        let saved = ComputeThreads.count
        defer { ComputeThreads.set(saved) }
        let shapes: [(k: Int, s: Int, algorithm: ConvolutionAlgorithm)] =
            [(3, 2, .im2col), (1, 1, .im2col), (1, 2, .im2col), (3, 1, .im2col), (3, 1, .winograd)]
        for (trial, shape) in shapes.enumerated() {
            func run(threads: Int) -> (y: [Float], dx: [Float], dw: [Float]) {
                ComputeThreads.set(threads)
                var g = SeededGenerator(seed: UInt64(70 + trial))
                let store = ParameterStore()
                let ws = Workspace()
                ws.columnBudget = 500  // several chunks per part
                ws.winogradBudget = 2000
                ws.winogradMinimumChunk = 1
                let conv = Conv2D("c", store: store, workspace: ws, inChannels: 5, outChannels: 7,
                                  kernel: shape.k, stride: shape.s)
                conv.algorithm = shape.algorithm
                store.finalize(generator: &g)
                let x = Tensor(shape: [5, 9, 7, 5])
                for i in 0..<x.count { x[i] = Float(g.nextGaussian()) }
                let y = conv.forward(x).array
                let dy = Tensor(shape: conv.output.shape)
                for i in 0..<dy.count { dy[i] = Float(g.nextGaussian()) }
                store.zeroGradients()
                let dx = conv.backward(dy, input: x).array
                return (y, dx, store.gradients.array)
            }
            let one = run(threads: 1), two = run(threads: 2), again = run(threads: 2)
            XCTAssertEqual(two.y, again.y, "trial \(trial) forward")
            XCTAssertEqual(two.dx, again.dx, "trial \(trial) dx")
            XCTAssertEqual(two.dw, again.dw, "trial \(trial) dW")
            for (a, b) in zip(one.y + one.dx + one.dw, two.y + two.dx + two.dw) {
                XCTAssertEqual(a, b, accuracy: 1e-4 * max(1, abs(a)), "trial \(trial) \(shape)")
            }
        }
    }

    func testLinearMatchesDirectLoops() {
        var g = SeededGenerator(seed: 5)
        let store = ParameterStore()
        let fc = Linear("fc", store: store, inFeatures: 7, outFeatures: 3)
        store.finalize(generator: &g)
        for i in 0..<store.values.count { store.values[i] = Float(g.nextGaussian()) }
        let x = Tensor(shape: [5, 7])
        for i in 0..<x.count { x[i] = Float(g.nextGaussian()) }
        let y = fc.forward(x)
        let w = store.values.pointer, b = store.values.pointer + 21
        for r in 0..<5 { for j in 0..<3 {
            var s = Double(b[j])
            for i in 0..<7 { s += Double(x[r * 7 + i]) * Double(w[i * 3 + j]) }
            XCTAssertEqual(Double(y[r * 3 + j]), s, accuracy: 1e-4)
        } }
    }
}
