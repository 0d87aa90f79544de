import XCTest
import Tensor
@testable import Engine

/// Finite-difference gradient checks: every layer and whole small WRNs.
///
/// The scalar checked is L = Σ y·r for fixed random r (so dL/dy = r), summed in double. Central
/// differences in float32 with step 1e-2·max(1,|θ|); the error measure is the relative error of
/// the sampled gradient vectors, ‖g_fd − g‖ / max(‖g_fd‖, ‖g‖), which must be ≤ 1e-2.
final class GradientCheckTests: XCTestCase {
    static let tolerance = 1e-2

    func randomTensor(_ shape: [Int], _ g: inout SeededGenerator, scale: Double = 1) -> Tensor {
        let t = Tensor(shape: shape)
        for i in 0..<t.count { t[i] = Float(g.nextGaussian() * scale) }
        return t
    }

    func weightedSum(_ y: Tensor, _ r: Tensor) -> Double {
        var s = 0.0
        for i in 0..<y.count { s += Double(y[i]) * Double(r[i]) }
        return s
    }

    /// Relative error between finite-difference and analytic gradients of `loss` with respect to
    /// sampled coordinates of `values`.
    func relativeError(values: UnsafeMutablePointer<Float>, count: Int, analytic: [Float], samples: Int,
                       _ g: inout SeededGenerator, loss: () -> Double) -> Double {
        var num = 0.0, den1 = 0.0, den2 = 0.0
        let indices = count <= samples ? Array(0..<count) : (0..<samples).map { _ in g.nextInt(below: count) }
        for i in indices {
            let saved = values[i]
            let h = Float(5e-3) * max(1, abs(saved))
            values[i] = saved + h
            let plus = loss()
            values[i] = saved - h
            let minus = loss()
            values[i] = saved
            let fd = (plus - minus) / Double(2 * h)
            let an = Double(analytic[i])
            num += (fd - an) * (fd - an); den1 += fd * fd; den2 += an * an
        }
        let den = max(den1, den2).squareRoot()
        return den == 0 ? 0 : num.squareRoot() / den
    }

    // MARK: layers

    func checkConv(kernel: Int, stride: Int, n: Int, h: Int, w: Int, cin: Int, cout: Int, seed: UInt64,
                   algorithm: ConvolutionAlgorithm = .winograd) {
        var g = SeededGenerator(seed: seed)
        let store = ParameterStore()
        let conv = Conv2D("c", store: store, workspace: Workspace(), inChannels: cin, outChannels: cout, kernel: kernel, stride: stride)
        conv.algorithm = algorithm
        store.finalize(generator: &g)
        let x = randomTensor([n, h, w, cin], &g)
        let y = conv.forward(x)
        let r = randomTensor(y.shape, &g)
        store.zeroGradients()
        let dx = conv.backward(r, input: x).array
        let dw = store.gradients.array
        let loss = { self.weightedSum(conv.forward(x), r) }
        let ex = relativeError(values: x.pointer, count: x.count, analytic: dx, samples: 60, &g, loss: loss)
        let ew = relativeError(values: store.values.pointer, count: store.values.count, analytic: dw, samples: 60, &g, loss: loss)
        XCTAssertLessThan(ex, Self.tolerance, "conv k\(kernel) s\(stride) \(algorithm) dx")
        XCTAssertLessThan(ew, Self.tolerance, "conv k\(kernel) s\(stride) \(algorithm) dW")
    }

    func testConvolutionGradients() {
        checkConv(kernel: 3, stride: 1, n: 2, h: 5, w: 6, cin: 3, cout: 4, seed: 1)
        checkConv(kernel: 3, stride: 1, n: 2, h: 5, w: 6, cin: 3, cout: 4, seed: 5, algorithm: .im2col)
        checkConv(kernel: 3, stride: 2, n: 2, h: 7, w: 6, cin: 2, cout: 3, seed: 2)
        checkConv(kernel: 1, stride: 1, n: 2, h: 4, w: 3, cin: 3, cout: 5, seed: 3)
        checkConv(kernel: 1, stride: 2, n: 2, h: 5, w: 5, cin: 4, cout: 6, seed: 4)
    }

    func checkBatchNorm(relu: Bool, seed: UInt64) {
        var g = SeededGenerator(seed: seed)
        let store = ParameterStore()
        let bn = BatchNorm("bn", store: store, channels: 3, relu: relu)
        store.finalize(generator: &g)
        for i in 0..<store.values.count { store.values[i] = Float(0.5 + g.nextUniform()) }  // γ, β away from 1/0
        let x = randomTensor([3, 4, 3, 3], &g, scale: 2)
        let y = bn.forward(x, training: true)
        let r = randomTensor(y.shape, &g)
        store.zeroGradients()
        let dx = bn.backward(r, input: x).array
        let dp = store.gradients.array
        let loss = { self.weightedSum(bn.forward(x, training: true), r) }
        XCTAssertLessThan(relativeError(values: x.pointer, count: x.count, analytic: dx, samples: 108, &g, loss: loss), Self.tolerance)
        XCTAssertLessThan(relativeError(values: store.values.pointer, count: store.values.count, analytic: dp, samples: 6, &g, loss: loss), Self.tolerance)
    }

    func testBatchNormGradients() {
        checkBatchNorm(relu: false, seed: 5)
        checkBatchNorm(relu: true, seed: 6)
    }

    func testPoolPadAndGlobalPoolGradients() {
        var g = SeededGenerator(seed: 7)
        let s = PoolPadShortcut(inChannels: 2, outChannels: 6, stride: 2)
        let x = randomTensor([2, 5, 4, 2], &g)
        let r = randomTensor(s.forward(x).shape, &g)
        let dx = s.backward(r, inputShape: x.shape).array
        XCTAssertLessThan(relativeError(values: x.pointer, count: x.count, analytic: dx, samples: 80, &g) {
            self.weightedSum(s.forward(x), r)
        }, Self.tolerance)

        let p = GlobalAveragePool()
        let r2 = randomTensor(p.forward(x).shape, &g)
        let dx2 = p.backward(r2, inputShape: x.shape).array
        XCTAssertLessThan(relativeError(values: x.pointer, count: x.count, analytic: dx2, samples: 80, &g) {
            self.weightedSum(p.forward(x), r2)
        }, Self.tolerance)
    }

    func testLinearAndCrossEntropyGradients() {
        var g = SeededGenerator(seed: 8)
        let store = ParameterStore()
        let fc = Linear("fc", store: store, inFeatures: 5, outFeatures: 4)
        store.finalize(generator: &g)
        let ce = SoftmaxCrossEntropy()
        let x = randomTensor([3, 5], &g)
        let labels: [Int32] = [0, 3, 2]
        _ = ce.forwardBackward(fc.forward(x), labels: labels)
        store.zeroGradients()
        let dx = fc.backward(ce.logitGradient, input: x).array
        let dp = store.gradients.array
        let loss = { ce.forwardBackward(fc.forward(x), labels: labels).loss }
        XCTAssertLessThan(relativeError(values: x.pointer, count: x.count, analytic: dx, samples: 15, &g, loss: loss), Self.tolerance)
        XCTAssertLessThan(relativeError(values: store.values.pointer, count: store.values.count, analytic: dp, samples: 24, &g, loss: loss), Self.tolerance)
    }

    // MARK: whole models

    /// Sampled float32 parameter gradients of the fast path and central differences (step 1e-5)
    /// of the float64 reference model's loss, which is smooth enough in double for tiny steps.
    func wrnGradientSamples(form: ModelSpec.Form, seed: UInt64, samples: Int = 80) throws -> (fd: [Double], analytic: [Double]) {
        var g = SeededGenerator(seed: seed)
        let spec = try ModelSpec(depth: 10, widen: 2, form: form, height: 8, width: 7, channels: 3, classes: 5)
        let model = WideResNet(spec: spec, seed: seed)
        let x = randomTensor([4, 8, 7, 3], &g)
        let labels: [Int32] = [0, 1, 4, 2]
        model.parameters.zeroGradients()
        _ = model.loss.forwardBackward(model.forward(x, training: true), labels: labels)
        model.backward(model.loss.logitGradient)
        let analytic = model.parameters.gradients.array
        var theta = model.parameters.values.array.map(Double.init)
        var fd: [Double] = [], an: [Double] = []
        for _ in 0..<samples {
            let i = g.nextInt(below: theta.count)
            let saved = theta[i], h = 1e-5
            theta[i] = saved + h
            let plus = ReferenceModel(model, overrides: theta).loss(x, labels: labels)
            theta[i] = saved - h
            let minus = ReferenceModel(model, overrides: theta).loss(x, labels: labels)
            theta[i] = saved
            fd.append((plus - minus) / (2 * h)); an.append(Double(analytic[i]))
        }
        return (fd, an)
    }

    func relativeError(_ a: [Double], _ b: [Double]) -> Double {
        let num = zip(a, b).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
        let den = max(a.map { $0 * $0 }.reduce(0, +), b.map { $0 * $0 }.reduce(0, +)).squareRoot()
        return den == 0 ? 0 : num / den
    }

    func testFastForwardMatchesReference() throws {
        var g = SeededGenerator(seed: 12)
        for form in ModelSpec.Form.allCases {
            let spec = try ModelSpec(depth: 10, widen: 2, form: form, height: 9, width: 8, channels: 3, classes: 4)
            let model = WideResNet(spec: spec, seed: 3)
            let x = randomTensor([3, 9, 8, 3], &g)
            let fast = model.forward(x, training: true).array
            let reference = ReferenceModel(model).logits(x)
            for (a, b) in zip(fast, reference) { XCTAssertEqual(Double(a), b, accuracy: 1e-3 * max(1, abs(b)), "\(form)") }
        }
    }

    func testWholeWideResNetGradients() throws {
        for form in ModelSpec.Form.allCases {
            let (fd, analytic) = try wrnGradientSamples(form: form, seed: 11)
            let e = relativeError(fd, analytic)
            XCTAssertLessThan(e, 2e-3, "\(form) WRN-10-2 gradient relative error \(e)")
            // The check has teeth: the same gradients off by ±1% (random sign per entry) fail it.
            var g = SeededGenerator(seed: 99)
            let corrupted = analytic.map { $0 * (g.nextInt(below: 2) == 0 ? 1.01 : 0.99) }
            let ec = relativeError(fd, corrupted)
            XCTAssertGreaterThan(ec, 2e-3, "a 1% corrupted gradient passed the check (error \(ec))")
        }
    }
}
