import Tensor
@testable import Engine

/// A naive float64 forward pass of a `WideResNet`, written from the architecture description with
/// plain loops and reading the model's parameters by name. It is the algorithmic reference: the
/// fast path's logits must match it, and finite differences of its loss (smooth enough in double
/// to use tiny steps) check the fast path's float32 gradients.
struct ReferenceModel {
    typealias Image = (n: Int, h: Int, w: Int, c: Int, v: [Double])
    let spec: ModelSpec
    let params: [String: [Double]]
    let epsilon: Double

    init(_ model: WideResNet, overrides: [Double]? = nil, epsilon: Double = 1e-3) {
        spec = model.spec
        var p: [String: [Double]] = [:]
        let values = overrides ?? model.parameters.values.array.map(Double.init)
        for s in model.parameters.slices { p[s.name] = Array(values[s.offset..<(s.offset + s.count)]) }
        params = p
        self.epsilon = epsilon
    }

    func conv(_ x: Image, _ name: String, cout: Int, k: Int, stride: Int) -> Image {
        let w = params[name + ".weight"]!
        let pad = (k - 1) / 2
        let oh = (x.h + 2 * pad - k) / stride + 1, ow = (x.w + 2 * pad - k) / stride + 1
        var y = [Double](repeating: 0, count: x.n * oh * ow * cout)
        for n in 0..<x.n { for oy in 0..<oh { for ox in 0..<ow { for co in 0..<cout {
            var s = 0.0
            for ky in 0..<k { for kx in 0..<k {
                let iy = oy * stride - pad + ky, ix = ox * stride - pad + kx
                guard iy >= 0, iy < x.h, ix >= 0, ix < x.w else { continue }
                for ci in 0..<x.c { s += x.v[((n * x.h + iy) * x.w + ix) * x.c + ci] * w[((ky * k + kx) * x.c + ci) * cout + co] }
            } }
            y[((n * oh + oy) * ow + ox) * cout + co] = s
        } } } }
        return (x.n, oh, ow, cout, y)
    }

    func bnRelu(_ x: Image, _ name: String) -> Image {
        let g = params[name + ".gamma"]!, b = params[name + ".beta"]!
        let rows = x.n * x.h * x.w
        var y = x.v
        for c in 0..<x.c {
            var mean = 0.0
            for r in 0..<rows { mean += x.v[r * x.c + c] }
            mean /= Double(rows)
            var v = 0.0
            for r in 0..<rows { let d = x.v[r * x.c + c] - mean; v += d * d }
            v /= Double(rows)
            let rstd = 1 / (v + epsilon).squareRoot()
            for r in 0..<rows { y[r * x.c + c] = max(0, (x.v[r * x.c + c] - mean) * rstd * g[c] + b[c]) }
        }
        return (x.n, x.h, x.w, x.c, y)
    }

    func poolPad(_ x: Image, cout: Int, stride s: Int) -> Image {
        let oh = (x.h + s - 1) / s, ow = (x.w + s - 1) / s, off = (cout - x.c) / 2
        var y = [Double](repeating: 0, count: x.n * oh * ow * cout)
        for n in 0..<x.n { for oy in 0..<oh { for ox in 0..<ow {
            var cnt = 0.0
            var acc = [Double](repeating: 0, count: x.c)
            for iy in (oy * s)..<min(x.h, oy * s + s) { for ix in (ox * s)..<min(x.w, ox * s + s) {
                cnt += 1
                for c in 0..<x.c { acc[c] += x.v[((n * x.h + iy) * x.w + ix) * x.c + c] }
            } }
            for c in 0..<x.c { y[((n * oh + oy) * ow + ox) * cout + off + c] = acc[c] / cnt }
        } } }
        return (x.n, oh, ow, cout, y)
    }

    func add(_ a: Image, _ b: Image) -> Image { (a.n, a.h, a.w, a.c, zip(a.v, b.v).map { $0 + $1 }) }

    func logits(_ input: Tensor) -> [Double] {
        var x: Image = (input.shape[0], input.shape[1], input.shape[2], input.shape[3], input.array.map(Double.init))
        x = conv(x, "stem", cout: spec.stemChannels, k: 3, stride: 1)
        let stemOut = x
        for (g, width) in spec.groupWidths.enumerated() {
            let groupIn = x
            for b in 0..<spec.blocksPerGroup {
                let name = "group\(g + 1).block\(b)"
                let stride = (b == 0 && g > 0) ? 2 : 1
                let cin = x.c
                let abr = spec.form == .pba ? (g == 0 && b == 0) : (cin != width)
                let act = bnRelu(x, name + ".bn1")
                let shortIn = abr ? act : x
                var h = conv(act, name + ".conv1", cout: width, k: 3, stride: stride)
                h = conv(bnRelu(h, name + ".bn2"), name + ".conv2", cout: width, k: 3, stride: 1)
                let short: Image
                if cin == width && stride == 1 { short = shortIn }
                else if spec.form == .pba { short = poolPad(shortIn, cout: width, stride: stride) }
                else { short = conv(shortIn, name + ".shortcut", cout: width, k: 1, stride: stride) }
                x = add(h, short)
            }
            if spec.form == .pba { x = add(x, poolPad(groupIn, cout: width, stride: g == 0 ? 1 : 2)) }
        }
        if spec.form == .pba { x = add(x, poolPad(stemOut, cout: x.c, stride: 4)) }
        x = bnRelu(x, "final.bn")
        let w = params["fc.weight"]!, bias = params["fc.bias"]!
        var out = [Double](repeating: 0, count: x.n * spec.classes)
        for n in 0..<x.n {
            var pooled = [Double](repeating: 0, count: x.c)
            for p in 0..<(x.h * x.w) { for c in 0..<x.c { pooled[c] += x.v[(n * x.h * x.w + p) * x.c + c] } }
            for j in 0..<spec.classes {
                var s = bias[j]
                for c in 0..<x.c { s += pooled[c] / Double(x.h * x.w) * w[c * spec.classes + j] }
                out[n * spec.classes + j] = s
            }
        }
        return out
    }

    /// Mean softmax cross-entropy in double.
    func loss(_ input: Tensor, labels: [Int32]) -> Double {
        let z = logits(input), k = spec.classes
        var total = 0.0
        for n in 0..<labels.count {
            let row = z[(n * k)..<(n * k + k)]
            let m = row.max()!
            let lse = m + row.map { _exp($0 - m) }.reduce(0, +).logValue
            total += lse - z[n * k + Int(labels[n])]
        }
        return total / Double(labels.count)
    }
}

#if canImport(Glibc)
import Glibc
private func _exp(_ x: Double) -> Double { Glibc.exp(x) }
private extension Double { var logValue: Double { Glibc.log(self) } }
#endif
