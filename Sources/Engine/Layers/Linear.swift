import Tensor

/// A fully connected layer y = x·W + b, W: [in, out].
public final class Linear {
    public let inFeatures: Int, outFeatures: Int
    let store: ParameterStore
    let weightOffset: Int, biasOffset: Int
    public let output = Tensor(shape: [0])
    public let inputGradient = Tensor(shape: [0])

    public init(_ name: String, store: ParameterStore, inFeatures: Int, outFeatures: Int) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.store = store
        // PyTorch's nn.Linear default bound, 1/sqrt(in), for weights; zero bias.
        let bound = 1 / Float(inFeatures).squareRoot()
        weightOffset = store.addParameter("\(name).weight", shape: [inFeatures, outFeatures], initializer: .uniform(bound: bound))
        biasOffset = store.addParameter("\(name).bias", shape: [outFeatures], initializer: .zeros)
    }

    /// x: [n, in] → [n, out]
    @discardableResult
    public func forward(_ x: Tensor) -> Tensor {
        let n = x.shape[0]
        output.resize(to: [n, outFeatures])
        let b = store.values.pointer + biasOffset
        for i in 0..<n { (output.pointer + i * outFeatures).update(from: b, count: outFeatures) }
        BLAS.sgemm(m: n, n: outFeatures, k: inFeatures, a: x.pointer, lda: inFeatures,
                   b: store.values.pointer + weightOffset, ldb: outFeatures, beta: 1,
                   c: output.pointer, ldc: outFeatures)
        return output
    }

    @discardableResult
    public func backward(_ dy: Tensor, input x: Tensor) -> Tensor {
        let n = x.shape[0]
        inputGradient.resize(to: x.shape)
        BLAS.sgemm(transA: true, m: inFeatures, n: outFeatures, k: n, a: x.pointer, lda: inFeatures,
                   b: dy.pointer, ldb: outFeatures, beta: 1,
                   c: store.gradients.pointer + weightOffset, ldc: outFeatures)
        let db = store.gradients.pointer + biasOffset
        for i in 0..<n { let g = dy.pointer + i * outFeatures; for j in 0..<outFeatures { db[j] += g[j] } }
        BLAS.sgemm(transB: true, m: n, n: inFeatures, k: outFeatures, a: dy.pointer, lda: outFeatures,
                   b: store.values.pointer + weightOffset, ldb: outFeatures,
                   c: inputGradient.pointer, ldc: inFeatures)
        return inputGradient
    }
}

/// Mean softmax cross-entropy over a batch, with its gradient with respect to the logits.
public final class SoftmaxCrossEntropy {
    public let logitGradient = Tensor(shape: [0])
    public init() {}

    public struct Result: Sendable {
        public var loss: Double
        public var correct: Int
    }

    /// logits: [n, classes]. Returns the mean loss and the count of correct argmax predictions,
    /// and fills `logitGradient` with d(mean loss)/d(logits).
    public func forwardBackward(_ logits: Tensor, labels: [Int32]) -> Result {
        let n = logits.shape[0], k = logits.shape[1]
        logitGradient.resize(to: logits.shape)
        var loss = 0.0
        var correct = 0
        let invN = 1 / Float(n)
        for i in 0..<n {
            let z = logits.pointer + i * k, g = logitGradient.pointer + i * k
            var best = 0
            var maxZ = z[0]
            for j in 1..<k where z[j] > maxZ { maxZ = z[j]; best = j }
            var sum: Float = 0
            for j in 0..<k { let e = expf(z[j] - maxZ); g[j] = e; sum += e }
            let label = Int(labels[i])
            loss += Double(logf(sum) - (z[label] - maxZ))
            let inv = 1 / sum
            for j in 0..<k { g[j] = g[j] * inv * invN }
            g[label] -= invN
            if best == label { correct += 1 }
        }
        return Result(loss: loss / Double(n), correct: correct)
    }

    /// Count of correct argmax predictions, without a gradient (evaluation).
    public static func correctCount(_ logits: Tensor, labels: [Int32]) -> Int {
        let n = logits.shape[0], k = logits.shape[1]
        var correct = 0
        for i in 0..<n {
            let z = logits.pointer + i * k
            var best = 0
            for j in 1..<k where z[j] > z[best] { best = j }
            if best == Int(labels[i]) { correct += 1 }
        }
        return correct
    }
}

#if canImport(Glibc)
import Glibc
#endif
