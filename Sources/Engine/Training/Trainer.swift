import Tensor

/// Everything about how a model is trained, apart from the data.
public struct TrainingOptions: Codable, Hashable, Sendable {
    /// Epochs the learning-rate schedule spans (the whole run, even when trained in intervals).
    public var epochs: Int = 10
    public var batchSize: Int = 128
    public var sgd = SGDOptions()
    /// Running-statistics momentum, PyTorch's convention (PBA's TF decay 0.999 corresponds to
    /// 0.001, which leaves running statistics ~90% at their initial values after one 3-epoch
    /// interval on 4 000 images, making early validation accuracies noise).
    public var batchNormMomentum: Double = 0.1
    public var batchNormEpsilon: Double = 1e-3
    public var seed: UInt64 = 0

    public init() {}
}

/// Where a training run is: the next epoch and step to run.
public struct TrainingProgress: Codable, Hashable, Sendable {
    public var epoch: Int = 0
    public var step: Int = 0
    public init() {}
}

public struct EpochMetrics: Codable, Sendable {
    public var epoch: Int
    public var loss: Double
    public var trainAccuracy: Double
    public var images: Int
    public var seconds: Double
    public var learningRate: Double
    public var imagesPerSecond: Double { seconds > 0 ? Double(images) / seconds : 0 }
}

public struct EvaluationMetrics: Codable, Sendable {
    public var accuracy: Double
    public var loss: Double
    public var images: Int
    /// The predicted class of each image, in order (what paired per-image statistics need).
    public var predictions: [Int32] = []
}

/// Trains a `WideResNet` with SGD, one epoch at a time, from any `BatchSource`.
public final class Trainer {
    public let model: WideResNet
    public let options: TrainingOptions
    public var progress = TrainingProgress()
    /// Set from another thread (a signal handler) to stop after the current step.
    public var shouldStop: @Sendable () -> Bool = { false }

    public init(model: WideResNet, options: TrainingOptions) {
        self.model = model
        self.options = options
        model.setBatchNorm(momentum: Float(options.batchNormMomentum), epsilon: Float(options.batchNormEpsilon))
    }

    /// A fresh model and trainer for a spec and options (weights from `options.seed`).
    public convenience init(spec: ModelSpec, options: TrainingOptions) {
        self.init(model: WideResNet(spec: spec, seed: options.seed), options: options)
    }

    /// Trains one step on a batch; returns (loss, correct).
    public func trainStep(_ batch: Batch, totalSteps: Int) -> SoftmaxCrossEntropy.Result {
        let lr = cosineLearningRate(base: options.sgd.learningRate, step: progress.step, totalSteps: totalSteps)
        let p = model.profile
        profiled(p, "zero gradients", kind: "sgd", .update) { model.parameters.zeroGradients() }
        let logits = model.forward(batch.images, training: true)
        let result = profiled(p, "loss", kind: "pool+fc+loss", .forward) { model.loss.forwardBackward(logits, labels: batch.labels) }
        model.backward(model.loss.logitGradient)
        profiled(p, "sgd", kind: "sgd", .update) { sgdStep(model.parameters, options: options.sgd, learningRate: lr) }
        p?.steps += 1
        progress.step += 1
        return result
    }

    /// Trains epoch `progress.epoch` from `source` (from the step reached, when resuming part-way)
    /// and advances to the next epoch. Returns nil if stopped part-way; `progress` then names the
    /// next step, so a checkpoint written at that point resumes exactly there.
    public func trainEpoch(_ source: BatchSource, onStep: ((Int, Int) -> Void)? = nil) -> EpochMetrics? {
        let perEpoch = source.batchesPerEpoch
        let total = perEpoch * options.epochs
        let epoch = progress.epoch
        let clock = ContinuousClock()
        let start = clock.now
        var lossSum = 0.0, correct = 0, images = 0
        let firstIndex = progress.step - epoch * perEpoch
        let lr = cosineLearningRate(base: options.sgd.learningRate, step: progress.step, totalSteps: total)
        for index in max(0, firstIndex)..<perEpoch {
            if shouldStop() { return nil }
            let batch = source.batch(epoch: epoch, index: index)
            let r = trainStep(batch, totalSteps: total)
            lossSum += r.loss * Double(batch.count)
            correct += r.correct
            images += batch.count
            onStep?(index + 1, perEpoch)
        }
        progress.epoch += 1
        let seconds = Double((clock.now - start).components.attoseconds) / 1e18 + Double((clock.now - start).components.seconds)
        return EpochMetrics(epoch: epoch, loss: images > 0 ? lossSum / Double(images) : 0,
                            trainAccuracy: images > 0 ? Double(correct) / Double(images) : 0,
                            images: images, seconds: seconds, learningRate: lr)
    }

    /// Accuracy and mean loss on uint8 HWC images in evaluation mode (running statistics).
    public func evaluate(images: [UInt8], labels: [Int32], normalization: Normalization, batchSize: Int = 256) -> EvaluationMetrics {
        let spec = model.spec
        let pixels = spec.height * spec.width * spec.channels
        let table = normalization.lookupTable()
        let buffer = Tensor(shape: [0])
        var correct = 0, lossSum = 0.0
        var start = 0
        var predictions = [Int32]()
        predictions.reserveCapacity(labels.count)
        let classes = spec.classes
        while start < labels.count {
            let n = min(batchSize, labels.count - start)
            buffer.resize(to: [n, spec.height, spec.width, spec.channels])
            images.withUnsafeBufferPointer { img in
                table.withUnsafeBufferPointer { t in
                    Normalization.apply(table: t.baseAddress!, channels: spec.channels, pixels: img.baseAddress! + start * pixels,
                                        count: n * pixels, into: buffer.pointer)
                }
            }
            let batchLabels = Array(labels[start..<(start + n)])
            let logits = model.forward(buffer, training: false)
            for row in 0..<n {
                let p = logits.pointer + row * classes
                var best = 0
                for c in 1..<classes where p[c] > p[best] { best = c }
                predictions.append(Int32(best))
            }
            let r = model.loss.forwardBackward(logits, labels: batchLabels)
            correct += r.correct
            lossSum += r.loss * Double(n)
            start += n
        }
        let n = max(1, labels.count)
        return EvaluationMetrics(accuracy: Double(correct) / Double(n), loss: lossSum / Double(n), images: labels.count,
                                 predictions: predictions)
    }
}
