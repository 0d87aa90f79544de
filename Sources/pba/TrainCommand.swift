import ArgumentParser
import Foundation
import Logging
import Augment
import Engine
import Schedule
import Tensor

struct TrainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train one Wide-ResNet and report its test accuracy.",
        discussion: """
        Data sources: fashion-mnist (Debian's dataset-fashion-mnist, the default), cifar10:DIR and \
        cifar100:DIR (CIFAR binary format), npy:DIR (train_images.npy, train_labels.npy, \
        test_images.npy, test_labels.npy; uint8 N×H×W×C images and integer labels).
        A seeded split takes --train-size training and --validation-size validation images from the \
        training set; the test set is only used for the final accuracy.
        Ctrl-C (SIGINT) or SIGTERM stops after the current step and, with --checkpoint, saves a \
        checkpoint that --resume continues from bit-identically.
        """)

    @Option(help: "Data set: fashion-mnist | cifar10:DIR | cifar100:DIR | npy:DIR.")
    var data: String = "fashion-mnist"

    @Option(help: "Model: wrn-DEPTH-WIDEN, e.g. wrn-40-2, wrn-28-2, wrn-16-1, wrn-10-1.")
    var model: String = "wrn-16-1"

    @Option(help: "Architecture form: pba (AutoAugment/PBA wrn.py, default) or zagoruyko (1×1 projection shortcuts).")
    var form: String = "pba"

    @Option(help: "Epochs to train (the cosine learning-rate schedule spans them all).")
    var epochs: Int = 10

    @Option(help: "Training images taken from the training set (default: all not used for validation).")
    var trainSize: Int?

    @Option(help: "Validation images held out from the training set (default: 10% up to 5000).")
    var validationSize: Int?

    @Option(help: "Batch size.")
    var batchSize: Int = 128

    @Option(help: "Initial learning rate (cosine decay to 0 per step).")
    var learningRate: Double = 0.1

    @Option(help: "Weight decay.")
    var weightDecay: Double = 5e-4

    @Option(help: "Global gradient-norm clip (0 = off).")
    var gradientClip: Double = 5.0

    @Option(help: "Batch-norm running-statistics momentum (PyTorch convention).")
    var bnMomentum: Double = 0.1

    @Option(help: "Seed for weights, split, shuffling and augmentation.")
    var seed: UInt64 = 0

    @Option(help: "Write a checkpoint here after every epoch and when stopped.")
    var checkpoint: String?

    @Option(help: "Resume from this checkpoint (its model and options are used).")
    var resume: String?

    @Option(help: "Append per-epoch metrics as JSON lines to this file.")
    var metrics: String?

    @Option(help: "Augment with this policy file ({\"operations\": [...], \"policy\": [...]} or 60 integers) plus the base augmentation.")
    var policy: String?

    @Option(help: "Augment with a baseline: \(Baseline.names.joined(separator: ", ")), or randaugment(N,M).")
    var baseline: String?

    @Option(help: "Augment with a schedule (schedule JSON, PBA policy log or [[n, policy], ...]), stretched to --epochs as PBA does.")
    var schedule: String?

    @Option(help: "Epochs a policy-log schedule was learned over (PBA: 200 for reduced CIFAR-10, 160 for SVHN).")
    var scheduleEpochs: Int?

    @OptionGroup var base: BaseAugmentationOptions

    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        guard [policy != nil, baseline != nil, schedule != nil].filter({ $0 }).count <= 1 else {
            throw ValidationError("give at most one of --policy, --baseline, --schedule")
        }

        guard epochs >= 1 else { throw ValidationError("--epochs must be ≥ 1, got \(epochs)") }
        guard batchSize >= 1, batchSize <= 65536 else { throw ValidationError("--batch-size must be 1...65536, got \(batchSize)") }
        guard learningRate > 0, learningRate.isFinite else { throw ValidationError("--learning-rate must be > 0, got \(learningRate)") }
        guard weightDecay >= 0 else { throw ValidationError("--weight-decay must be ≥ 0, got \(weightDecay)") }
        guard gradientClip >= 0 else { throw ValidationError("--gradient-clip must be ≥ 0, got \(gradientClip)") }
        guard bnMomentum > 0, bnMomentum <= 1 else { throw ValidationError("--bn-momentum must be in (0, 1], got \(bnMomentum)") }
        guard ModelSpec.Form(rawValue: form) != nil else { throw ValidationError("--form must be pba or zagoruyko, got '\(form)'") }
        do {
            let parsed = try ModelSpec.parse(model)
            _ = try ModelSpec(depth: parsed.depth, widen: parsed.widen)
        } catch { throw ValidationError("--model: \(error)") }
        if let t = trainSize, t < 1 { throw ValidationError("--train-size must be ≥ 1, got \(t)") }
        if let v = validationSize, v < 0 { throw ValidationError("--validation-size must be ≥ 0, got \(v)") }
    }

    func run() async throws {
        let logger = compute.apply(label: "pba.train")
        installStopHandlers(logger)
        do {
            try train(logger)
        } catch let e as ExitCode {
            throw e
        } catch {
            logger.error("\(error)")
            throw ExitCode.failure
        }
    }

    private func train(_ logger: Logger) throws {
        let source = try DataSource(parsing: data)
        logger.info("loading \(source)")
        let (fullTrain, test) = try source.load()
        let validation = validationSize ?? min(5000, fullTrain.count / 10)
        let training = trainSize ?? (fullTrain.count - validation)
        let split = try DataSplit(fullTrain, trainSize: training, validationSize: validation, seed: seed)
        let stats = split.train.channelStatistics()
        let normalization = Normalization(mean: stats.mean, std: stats.std)

        let trainer: Trainer
        if let resume {
            let restored = try TrainingCheckpoint.load(path: resume)
            trainer = restored.trainer
            let spec = trainer.model.spec
            guard spec.height == fullTrain.height, spec.width == fullTrain.width, spec.channels == fullTrain.channels,
                  spec.classes == fullTrain.classCount else {
                throw ValidationError("checkpoint \(resume) is for \(spec), but \(data) has \(fullTrain.height)×\(fullTrain.width)×\(fullTrain.channels) images and \(fullTrain.classCount) classes")
            }
            logger.info("resumed from \(resume) at epoch \(trainer.progress.epoch), step \(trainer.progress.step)")
        } else {
            let parsed = try ModelSpec.parse(model, form: ModelSpec.Form(rawValue: form))
            let spec = try ModelSpec(depth: parsed.depth, widen: parsed.widen, form: parsed.form, height: fullTrain.height,
                                     width: fullTrain.width, channels: fullTrain.channels, classes: fullTrain.classCount)
            var options = TrainingOptions()
            options.epochs = epochs
            options.batchSize = batchSize
            options.seed = seed
            options.sgd.learningRate = learningRate
            options.sgd.weightDecay = weightDecay
            options.sgd.gradientClipNorm = gradientClip
            options.batchNormMomentum = bnMomentum
            trainer = Trainer(spec: spec, options: options)
        }
        trainer.model.setConvolutionAlgorithm(compute.convolution)
        trainer.shouldStop = { stopRequested.load(ordering: .relaxed) }
        let options = trainer.options
        logger.info("\(trainer.model.spec): \(trainer.model.parameterCount) parameters; \(split.train.count) train, \(split.validation.count) validation, \(test.count) test images; \(options.epochs) epochs, batch \(options.batchSize), \(compute.threads) threads, \(compute.convolution) convolutions, BLAS core \(BLAS.coreName)")

        let batches = try makeBatchSource(split.train, options: options, normalization: normalization, logger: logger)
        let metricsFile = try metrics.map { try JSONLinesWriter(path: $0) }
        var elapsed = 0.0
        var epochsRun = 0
        let notes = ["data": data]
        while trainer.progress.epoch < options.epochs {
            let epoch = trainer.progress.epoch
            var lastReport = Date()
            guard let m = trainer.trainEpoch(batches, onStep: { step, total in
                if Date().timeIntervalSince(lastReport) >= 10 {
                    lastReport = Date()
                    logger.info("  epoch \(epoch + 1)/\(options.epochs): step \(step)/\(total)")
                }
            }) else {
                if let checkpoint {
                    try TrainingCheckpoint.save(trainer, normalization: normalization, to: checkpoint, notes: notes)
                    logger.notice("stopped at epoch \(epoch + 1), step \(trainer.progress.step); checkpoint written to \(checkpoint) (continue with --resume \(checkpoint))")
                } else {
                    logger.notice("stopped at epoch \(epoch + 1), step \(trainer.progress.step); no --checkpoint given, progress not saved")
                }
                throw ExitCode(130)
            }
            elapsed += m.seconds
            epochsRun += 1
            let val = split.validation.count > 0
                ? trainer.evaluate(images: split.validation.images, labels: split.validation.labels, normalization: normalization)
                : nil
            let remaining = Double(options.epochs - trainer.progress.epoch) * elapsed / Double(epochsRun)
            let valText = val.map { String(format: ", val acc %.2f%%", $0.accuracy * 100) } ?? ""
            logger.info("\(String(format: "epoch %d/%d: loss %.4f, train acc %.2f%%%@, lr %.4f, %.0f img/s, ETA %@", m.epoch + 1, options.epochs, m.loss, m.trainAccuracy * 100, valText, m.learningRate, m.imagesPerSecond, formatDuration(remaining)))")
            metricsFile?.write(EpochRecord(event: "epoch", epoch: m.epoch + 1, loss: m.loss, trainAccuracy: m.trainAccuracy,
                                           validationAccuracy: val?.accuracy, validationLoss: val?.loss,
                                           learningRate: m.learningRate, imagesPerSecond: m.imagesPerSecond, seconds: m.seconds))
            if let checkpoint { try TrainingCheckpoint.save(trainer, normalization: normalization, to: checkpoint, notes: notes) }
        }
        let result = trainer.evaluate(images: test.images, labels: test.labels, normalization: normalization)
        metricsFile?.write(EpochRecord(event: "test", epoch: options.epochs, loss: result.loss, trainAccuracy: nil,
                                       validationAccuracy: nil, validationLoss: nil, testAccuracy: result.accuracy,
                                       learningRate: nil, imagesPerSecond: nil, seconds: elapsed))
        print(String(format: "test accuracy: %.2f%% (%d images, %@ training)", result.accuracy * 100, result.images, formatDuration(elapsed)))
    }
}

extension TrainCommand {
    /// Plain shuffled batches, or the augmenting pipeline for --policy, --baseline or --schedule.
    func makeBatchSource(_ train: Dataset, options: TrainingOptions, normalization: Normalization, logger: Logger) throws -> BatchSource {
        var base = self.base.value
        var zeroFill = false
        let perEpoch: @Sendable (Int) -> Augmentation
        if let path = policy {
            guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("--policy: cannot read \(path)") }
            let a = Augmentation(policy: try ResolvedPolicy(try Policy(json: data)), base: base)
            perEpoch = { _ in a }
            logger.info("augmentation: policy \(path) + base (pad \(base.padding), flip \(base.flip), cutout \(base.cutout))")
        } else if let name = baseline {
            let a = Augmentation(baseline: try Baseline(name: name), base: base)
            perEpoch = { _ in a }
            logger.info("augmentation: baseline \(name)")
        } else if let path = schedule {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw ValidationError("--schedule: cannot read \(path)") }
            let context = ScheduleContext(dataset: DatasetDescription(name: "unknown"), model: ModelDescription(name: "unknown"))
            let s = try AugmentationSchedule(reading: text, learnedEpochs: scheduleEpochs, context: context)
            do { try s.validateOperations() } catch { throw ValidationError("--schedule \(path): \(error)") }
            // The schedule was learned with its base augmentation: replay it, unless overridden.
            base = self.base.value(following: s.baseAugmentation)
            zeroFill = s.baseAugmentation.fill == "zero"
            perEpoch = try s.perEpochAugmentation(epochs: options.epochs, base: base)
            logger.info("augmentation: \(s.baseAugmentation.foundation.map { "\($0), then " } ?? "")schedule \(path) (learned over \(s.learnedEpochs) epochs, stretched to \(options.epochs)) + base (pad \(base.padding), flip \(base.flip), cutout \(base.cutout))")
        } else {
            return ShuffledBatches(images: train.images, labels: train.labels, height: train.height, width: train.width,
                                   channels: train.channels, batchSize: options.batchSize, seed: options.seed, normalization: normalization)
        }
        let shape = try ImageShape(width: train.width, height: train.height, channels: train.channels)
        let fill = zeroFill ? FillColor(grey: 0) : try FillColor(datasetMean: normalization.mean)
        return try AugmentedBatches(images: train.images, labels: train.labels, shape: shape, batchSize: options.batchSize,
                                    seed: options.seed, normalization: normalization, fill: fill, workers: 1, augmentation: perEpoch)
    }
}

/// One JSON line of `--metrics`.
struct EpochRecord: Encodable {
    var event: String
    var epoch: Int
    var loss: Double
    var trainAccuracy: Double?
    var validationAccuracy: Double?
    var validationLoss: Double?
    var testAccuracy: Double?
    var learningRate: Double?
    var imagesPerSecond: Double?
    var seconds: Double
}
