import Foundation
import Engine
import Augment
import Tensor
import Wire
import Schedule

public enum WorkerError: Error, CustomStringConvertible {
    case badAssignment(String)
    case checkpoint(String)
    case data(String)
    public var description: String {
        switch self {
        case let .badAssignment(m): return "bad assignment: \(m)"
        case let .checkpoint(m): return "checkpoint: \(m)"
        case let .data(m): return "data: \(m)"
        }
    }
}

/// What a worker's compute backend does: train one assignment and return its result and new
/// training state (checkpoint-file bytes). `IntervalTrainer` is the CPU/BLAS backend; a GPU
/// backend implements the same protocol and the worker's protocol handling stays as it is.
public protocol AssignmentBackend: AnyObject {
    /// Polled between training steps; true stops the assignment (run returns nil).
    var shouldStop: @Sendable () -> Bool { get set }
    func run(_ assignment: Assign) throws -> AssignmentOutcome?
}

/// An assignment's result as a backend reports it.
public struct AssignmentOutcome: Sendable {
    public var accuracy: Double
    public var trainLoss: Double
    public var seconds: Double
    public var checkpoint: [UInt8]
    /// Predicted class per test image (evaluation cells only).
    public var predictions: [Int32] = []
}

/// The CPU backend: trains assignments of a job on data loaded once — restore or initialise the
/// model, train the epoch range with the assignment's augmentation, evaluate, and return the
/// result with the new training state.
public final class IntervalTrainer: AssignmentBackend {
    public let job: JobDescription
    public let split: DataSplit
    public let test: Dataset
    public let normalization: Normalization
    let shape: ImageShape
    let fill: FillColor
    public var shouldStop: @Sendable () -> Bool = { false }

    public init(job: JobDescription, train: Dataset, test: Dataset) throws {
        self.job = job
        do {
            split = try DataSplit(train, trainSize: job.trainSize, validationSize: job.validationSize, seed: job.splitSeed)
        } catch { throw WorkerError.data("\(error)") }
        self.test = test
        let stats = split.train.channelStatistics()
        normalization = Normalization(mean: stats.mean, std: stats.std)
        do {
            shape = try ImageShape(width: train.width, height: train.height, channels: train.channels)
            // Uncovered pixels take the data set's per-channel mean (PBA's intended fill).
            fill = try FillColor(datasetMean: stats.mean)
        } catch { throw WorkerError.data("\(error)") }
    }

    /// The augmentation an assignment asks for, per epoch.
    func augmentation(for spec: AugmentationSpec) throws -> @Sendable (Int) -> Augmentation {
        let base = job.scheduleBase
        switch spec {
        case let .policy(operations, values), let .policyOnFoundation(_, operations, values):
            let policy: Policy
            do { policy = try Policy(values: values, operations: OperationSet(names: operations)) } catch {
                throw WorkerError.badAssignment("\(error)")
            }
            let resolved: ResolvedPolicy
            do { resolved = try ResolvedPolicy(policy) } catch { throw WorkerError.badAssignment("\(error)") }
            let foundation: AugmentationStage?
            if case let .policyOnFoundation(name, _, _) = spec {
                // The member's own foundation replaces the job's (a search refuses both).
                do { foundation = try Baseline.foundation(named: name) } catch {
                    throw WorkerError.badAssignment("member foundation: \(error)")
                }
            } else {
                do { foundation = try job.foundationStage() } catch { throw WorkerError.badAssignment("job foundation: \(error)") }
            }
            let a = Augmentation(policy: resolved, base: base, foundation: foundation)
            return { _ in a }
        case let .baseline(name):
            let b: Baseline
            do { b = try Baseline(name: name) } catch { throw WorkerError.badAssignment("\(error)") }
            let a = Augmentation(baseline: b, base: job.base)
            return { _ in a }
        case let .schedule(json):
            // Stretched over the job's epochs, as PBA does; the job's base augmentation applies
            // (every candidate of an evaluation gets the same base), after the schedule's own
            // foundation if it has one (it was learned on top of it).
            do {
                let context = ScheduleContext(dataset: DatasetDescription(name: job.data), model: ModelDescription(name: job.model.name))
                return try AugmentationSchedule(reading: json, learnedEpochs: nil, context: context)
                    .perEpochAugmentation(epochs: job.options.epochs, base: base)
            } catch { throw WorkerError.badAssignment("schedule: \(error)") }
        }
    }

    /// Trains one assignment. Returns nil if stopped part-way.
    public func run(_ a: Assign) throws -> AssignmentOutcome? {
        let start = Date()
        let trainer: Trainer
        switch a.checkpoint {
        case let .initial(weightSeed):
            var options = job.options
            options.seed = weightSeed
            trainer = Trainer(spec: job.model, options: options)
        case let .bytes(bytes, _):
            let file: CheckpointFile
            do { file = try CheckpointFile(decoding: bytes, path: "assignment \(a.assignmentId)") } catch {
                throw WorkerError.checkpoint("\(error)")
            }
            trainer = try TrainingCheckpoint.restore(from: file, source: "assignment \(a.assignmentId)").trainer
        }
        guard trainer.model.spec == job.model else { throw WorkerError.badAssignment("checkpoint model \(trainer.model.spec) is not the job's \(job.model)") }
        guard trainer.progress.epoch == Int(a.epochStart) else {
            throw WorkerError.badAssignment("checkpoint is at epoch \(trainer.progress.epoch), assignment starts at \(a.epochStart)")
        }
        trainer.shouldStop = shouldStop
        let source: AugmentedBatches
        do {
            source = try AugmentedBatches(images: split.train.images, labels: split.train.labels, shape: shape,
                                          batchSize: job.options.batchSize, seed: a.trainingSeed, normalization: normalization,
                                          fill: fill, workers: 1, augmentation: try augmentation(for: a.augmentation))
        } catch let e as WorkerError { throw e } catch { throw WorkerError.badAssignment("\(error)") }
        var lossSum = 0.0, epochs = 0
        while trainer.progress.epoch < Int(a.epochEnd) {
            guard let m = trainer.trainEpoch(source) else { return nil }
            lossSum += m.loss
            epochs += 1
        }
        let trainLoss = epochs > 0 ? lossSum / Double(epochs) : 0
        if a.kind == .evaluationCell {
            // Tested on the test set, which no search touched, unless the evaluation holds out
            // training images to choose settings on; nothing continues from the weights.
            let scored = job.validationSize > 0 ? split.validation : test
            let evaluation = trainer.evaluate(images: scored.images, labels: scored.labels, normalization: normalization)
            return AssignmentOutcome(accuracy: evaluation.accuracy, trainLoss: trainLoss, seconds: Date().timeIntervalSince(start),
                                     checkpoint: [], predictions: evaluation.predictions)
        }
        let evaluation = trainer.evaluate(images: split.validation.images, labels: split.validation.labels, normalization: normalization)
        let bytes = try TrainingCheckpoint.file(of: trainer, normalization: normalization).encoded()
        // Per validation image 1 (correct) or 0: the coordinator weighs exploit gaps against
        // their noise without holding the labels.
        let correct = zip(evaluation.predictions, split.validation.labels).map { Int32($0 == $1 ? 1 : 0) }
        return AssignmentOutcome(accuracy: evaluation.accuracy, trainLoss: trainLoss, seconds: Date().timeIntervalSince(start),
                                 checkpoint: bytes, predictions: correct)
    }
}
