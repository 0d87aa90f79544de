import XCTest
import Tensor
@testable import Engine

/// The fused shortcut passes (`addForward`, `addBackward`) against the two-step form they replace
/// (`forward` then a residual add; `backward` then an add): bit-identical, so fusing them changed
/// no trained number.
final class PoolPadShortcutTests: XCTestCase {
    func random(_ shape: [Int], _ g: inout SeededGenerator) -> Tensor {
        let t = Tensor(shape: shape)
        for i in 0..<t.count { t[i] = Float(g.nextGaussian()) }
        return t
    }

    func bits(_ t: Tensor) -> [UInt32] { t.array.map(\.bitPattern) }

    func testFusedPassesAreBitIdenticalToTheTwoStepForm() {
        var g = SeededGenerator(seed: 21)
        // (in channels, out channels, stride, height, width): identity, padded stride 1, odd sizes
        // at strides 2 and 4 (partial windows at the edges), as in the group and stem shortcuts.
        let cases = [(4, 4, 1, 3, 3), (2, 4, 1, 3, 2), (2, 6, 2, 5, 4), (3, 9, 2, 4, 4), (2, 8, 4, 9, 7), (16, 64, 4, 8, 8)]
        for (ci, co, s, h, w) in cases {
            let shortcut = PoolPadShortcut(inChannels: ci, outChannels: co, stride: s)
            let x = random([2, h, w, ci], &g)
            let pooled = shortcut.forward(x)
            let top = random(pooled.shape, &g)
            let expected = Tensor(shape: top.shape)
            addTensors(top, pooled, into: expected)
            shortcut.addForward(x, into: top)
            XCTAssertEqual(bits(top), bits(expected), "forward \(ci)→\(co) stride \(s) \(h)×\(w)")

            let dy = random(pooled.shape, &g)
            let d = random(x.shape, &g)
            let expectedGradient = Tensor(shape: x.shape)
            addTensors(d, shortcut.backward(dy, inputShape: x.shape), into: expectedGradient)
            let out = Tensor(shape: [0])
            shortcut.addBackward(dy, adding: d, into: out)
            XCTAssertEqual(out.shape, x.shape)
            XCTAssertEqual(bits(out), bits(expectedGradient), "backward \(ci)→\(co) stride \(s) \(h)×\(w)")
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
