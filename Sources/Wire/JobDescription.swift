import Engine
import Augment

/// What every worker of a run trains: data, split, model, optimiser, base augmentation. Sent in
/// WELCOME as JSON, so a worker needs no configuration of its own beyond where the coordinator is.
public struct JobDescription: Codable, Hashable, Sendable {
    /// A `DataSource` string (fashion-mnist, cifar10:DIR, ...). A worker may override the path
    /// locally (`pba worker --data`); the fingerprint must still match.
    public var data: String
    public var trainSize: Int
    public var validationSize: Int
    public var splitSeed: UInt64
    public var model: ModelSpec
    /// `epochs` is the whole run's: the cosine schedule spans the search, not one interval.
    public var options: TrainingOptions
    public var padding: Int
    public var flip: Bool
    public var cutout: Int
    /// An evaluation's Cutout for schedules and policies when it differs from `cutout`, which the
    /// Cutout-carrying baselines keep (a schedule learned without a fixed Cutout is evaluated
    /// without one, while `cutout` and AutoAugment keep their recipe). Nil: `cutout` for all,
    /// and absent from the JSON, so jobs written before it keep their keys.
    public var scheduleCutout: Int?
    /// A search's foundation: the baseline recipe (autoaugment, trivialaugment, randaugment(N,M))
    /// every member's policy is stacked on, so the zero policy is that baseline and exploit
    /// cannot end below it on validation. Nil: none, and absent from the JSON (old keys hold).
    public var foundation: String?
    /// SHA-256 (hex) of the loaded data set (`DataFingerprint`); workers with other data are refused.
    public var dataFingerprint: String
    /// The workers this run accepts (their checkpoints are not interchangeable). Nil: Swift
    /// workers training the job's WRN, and absent from the JSON, so jobs written before it keep
    /// their keys (and evaluation cells their job key).
    public var worker: WorkerIdentity?

    /// The identity a worker must declare in HELLO to train this job.
    public var acceptedWorker: WorkerIdentity { worker ?? .swift }

    public init(data: String, trainSize: Int, validationSize: Int, splitSeed: UInt64, model: ModelSpec,
                options: TrainingOptions, padding: Int, flip: Bool, cutout: Int, dataFingerprint: String) {
        self.data = data; self.trainSize = trainSize; self.validationSize = validationSize; self.splitSeed = splitSeed
        self.model = model; self.options = options; self.padding = padding; self.flip = flip; self.cutout = cutout
        self.dataFingerprint = dataFingerprint
    }

    public var base: BaseAugmentation { BaseAugmentation(padding: padding, flip: flip, cutout: cutout) }

    /// The foundation's stage; an unknown name is a bad job.
    public func foundationStage() throws(BaselineError) -> AugmentationStage? {
        try foundation.map { name throws(BaselineError) in try Baseline.foundation(named: name) }
    }

    /// What follows a schedule's or policy's per-epoch policy.
    public var scheduleBase: BaseAugmentation { BaseAugmentation(padding: padding, flip: flip, cutout: scheduleCutout ?? cutout) }
}

/// SHA-256 over a data set's shapes, images and labels (train then test): two processes that
/// loaded the same data compute the same value, whatever paths they loaded it from.
public func dataFingerprint(train: Dataset, test: Dataset) -> String {
    var h = SHA256()
    for d in [train, test] {
        var header = [UInt8]()
        for v in [d.height, d.width, d.channels, d.classCount, d.count] { WireCodec.appendLE(&header, UInt64(v)) }
        h.update(header)
        d.images.withUnsafeBytes { h.update($0) }
        d.labels.withUnsafeBytes { h.update($0) }
    }
    return h.finalizeHex()
}
