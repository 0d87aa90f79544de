import XCTest
import Tensor
@testable import Engine

/// The fused shortcut passes (`addForward`, `addBackward`) and the plain ones against the two-step
/// form they replaced (pool into zeros, then a residual add; gradient, then an add), written out
/// as plain loops: bit-identical, so fusing them changed no trained number.
final class PoolPadShortcutTests: XCTestCase {
    func random(_ shape: [Int], _ g: inout SeededGenerator) -> Tensor {
        let t = Tensor(shape: shape)
        for i in 0..<t.count { t[i] = Float(g.nextGaussian()) }
        return t
    }

    func bits(_ t: Tensor) -> [UInt32] { t.array.map(\.bitPattern) }

    /// The two-step form, written out plainly: pool each window into zeros in input order, scale
    /// by the window's size, pad with zero channels, then add elementwise.
    func pooledThenAdded(_ x: Tensor, into top: Tensor, ci: Int, co: Int, stride s: Int) -> [Float] {
        let (n, h, w) = (x.shape[0], x.shape[1], x.shape[2])
        let oh = (h + s - 1) / s, ow = (w + s - 1) / s, off = (co - ci) / 2
        var pooled = [Float](repeating: 0, count: n * oh * ow * co)
        for i in 0..<n { for oy in 0..<oh { for ox in 0..<ow { for ch in 0..<ci {
            var sum: Float = 0
            for iy in (oy * s)..<min(h, oy * s + s) { for ix in (ox * s)..<min(w, ox * s + s) { sum += x[((i * h + iy) * w + ix) * ci + ch] } }
            let size = (min(h, oy * s + s) - oy * s) * (min(w, ox * s + s) - ox * s)
            if size != 1 { sum *= 1 / Float(size) }
            pooled[((i * oh + oy) * ow + ox) * co + off + ch] = sum
        } } } }
        return (0..<top.count).map { top[$0] + pooled[$0] }
    }

    /// Its backward: each input pixel's gradient is its window's output gradient (unpadded
    /// channels) times 1/size, then the other gradient is added.
    func gradientThenAdded(_ dy: Tensor, _ d: Tensor, ci: Int, co: Int, stride s: Int) -> [Float] {
        let (n, h, w) = (d.shape[0], d.shape[1], d.shape[2])
        let oh = (h + s - 1) / s, ow = (w + s - 1) / s, off = (co - ci) / 2
        var out = [Float](repeating: 0, count: d.count)
        for i in 0..<n { for iy in 0..<h { for ix in 0..<w { for ch in 0..<ci {
            let oy = iy / s, ox = ix / s
            let size = (min(h, oy * s + s) - oy * s) * (min(w, ox * s + s) - ox * s)
            let at = ((i * h + iy) * w + ix) * ci + ch
            out[at] = d[at] + dy[((i * oh + oy) * ow + ox) * co + off + ch] * (1 / Float(size))
        } } } }
        return out
    }

    /// Every pass of the shortcut for each (in channels, out channels, stride, height, width) on
    /// `images` random images, against the plain two-step form, bit for bit: `addForward`,
    /// `forward`, `addBackward` into a new tensor and in place (as the model's group shortcuts
    /// call it), and `backward`.
    func checkAgainstTwoStepForm(_ cases: [(Int, Int, Int, Int, Int)], images: Int, label: String, _ g: inout SeededGenerator) {
        for (ci, co, s, h, w) in cases {
            let name = "\(label)\(ci)→\(co) stride \(s) \(h)×\(w)"
            let shortcut = PoolPadShortcut(inChannels: ci, outChannels: co, stride: s)
            let x = random([images, h, w, ci], &g)
            let outShape = [images, (h + s - 1) / s, (w + s - 1) / s, co]
            let top = random(outShape, &g)
            let expected = pooledThenAdded(x, into: top, ci: ci, co: co, stride: s)
            shortcut.addForward(x, into: top)
            XCTAssertEqual(bits(top), expected.map(\.bitPattern), "forward \(name)")
            let zeros = Tensor(shape: outShape)
            zeros.zero()
            XCTAssertEqual(bits(shortcut.forward(x)), pooledThenAdded(x, into: zeros, ci: ci, co: co, stride: s).map(\.bitPattern),
                           "plain forward \(name)")

            let dy = random(outShape, &g)
            let d = random(x.shape, &g)
            let want = gradientThenAdded(dy, d, ci: ci, co: co, stride: s).map(\.bitPattern)
            let out = Tensor(shape: [0])
            shortcut.addBackward(dy, adding: d, into: out)
            XCTAssertEqual(out.shape, x.shape)
            XCTAssertEqual(bits(out), want, "backward \(name)")
            shortcut.addBackward(dy, adding: d, into: d)
            XCTAssertEqual(bits(d), want, "backward in place \(name)")
            d.zero()
            XCTAssertEqual(bits(shortcut.backward(dy, inputShape: x.shape)), gradientThenAdded(dy, d, ci: ci, co: co, stride: s).map(\.bitPattern),
                           "plain backward \(name)")
        }
    }

    func testFusedPassesAreBitIdenticalToTheTwoStepForm() {
        var g = SeededGenerator(seed: 21)
        // (in channels, out channels, stride, height, width): identity, padded stride 1, odd sizes
        // at strides 2 and 4 (partial windows at the edges), as in the group and stem shortcuts.
        let cases = [(4, 4, 1, 3, 3), (2, 4, 1, 3, 2), (2, 6, 2, 5, 4), (3, 9, 2, 4, 4), (2, 8, 4, 9, 7), (16, 64, 4, 8, 8)]
        checkAgainstTwoStepForm(cases, images: 2, label: "", &g)
    }

    /// The C kernels (taken at channel counts that are multiples of the vector width) give the
    /// bits of the plain form on every instruction set this CPU has, the Swift loop included.
    func testKernelPathsAreBitIdenticalOnEveryInstructionSet() {
        defer { Kernels.use(.avx512) }
        var g = SeededGenerator(seed: 22)
        let cases = [(16, 32, 2, 8, 8), (16, 64, 4, 9, 7), (32, 64, 2, 5, 6), (8, 24, 2, 4, 3), (48, 48, 1, 3, 3), (16, 32, 1, 3, 4)]
        for set in Kernels.InstructionSet.allCases where set.rawValue <= Kernels.cpuInstructionSet.rawValue {
            XCTAssertEqual(Kernels.use(set), set)
            checkAgainstTwoStepForm(cases, images: 3, label: "\(set) ", &g)
        }
    }

    func testFusedForwardAddsThePoolIntoTheMiddleChannelsOnly() {
        // 1 image, 2×2 input, 1 channel, stride 2, padded to 3 channels: the one output pixel's
        // middle channel gains the mean of the four inputs; the padded ones are left as they were.
        let shortcut = PoolPadShortcut(inChannels: 1, outChannels: 3, stride: 2)
        let x = Tensor(shape: [1, 2, 2, 1])
        for (i, v) in [1, 2, 3, 6].enumerated() { x[i] = Float(v) }
        let top = Tensor(shape: [1, 1, 1, 3])
        for (i, v) in [10, 20, 30].enumerated() { top[i] = Float(v) }
        shortcut.addForward(x, into: top)
        XCTAssertEqual(top.array, [10, 23, 30])
        let dy = Tensor(shape: [1, 1, 1, 3])
        for (i, v) in [5, 8, 7].enumerated() { dy[i] = Float(v) }
        let d = Tensor(shape: [1, 2, 2, 1])
        for (i, v) in [1, 1, 1, 1].enumerated() { d[i] = Float(v) }
        let out = Tensor(shape: [0])
        shortcut.addBackward(dy, adding: d, into: out)
        XCTAssertEqual(out.array, [3, 3, 3, 3], "each input gets 1 + 8/4")
    }
}
