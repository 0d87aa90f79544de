import Augment
import Foundation
import Search

/// A learned augmentation schedule: the versioned JSON document pba writes and reads
/// (schema: `schedules/schema/schedule-v1.schema.json`). Every key is always present;
/// unknown values (an imported schedule has no seed) are `null`.
public struct AugmentationSchedule: Hashable, Sendable {
    public static let formatName = "pba-schedule"
    /// The newest version this build reads and writes. Version 2 adds
    /// `baseAugmentation.foundation`; a document without one is still written as version 1, so
    /// readers that only know version 1 keep reading every schedule they can apply, and refuse
    /// (by version) the ones they cannot.
    public static let currentFormatVersion = 2
    /// The version a document needs: 2 with a foundation, else 1.
    public var requiredFormatVersion: Int { baseAugmentation.foundation == nil ? 1 : 2 }

    public var format: String
    public var formatVersion: Int
    public var operations: [OperationDescription]
    public var policyLayout: PolicyLayoutDescription
    /// Epochs the schedule was learned over; `segments` cover exactly these.
    public var learnedEpochs: Int
    public var segments: [ScheduleSegment]
    public var baseAugmentation: BaseAugmentation
    public var dataset: DatasetDescription
    public var model: ModelDescription
    public var seed: UInt64?
    public var search: SearchConfiguration?
    public var provenance: ScheduleProvenance
    /// The perturbations behind the segments, when known (to write the Ray Tune log back).
    public var lineage: ScheduleLineage?

    public init(operations: OperationSet, learnedEpochs: Int, segments: [ScheduleSegment],
                context: ScheduleContext, seed: UInt64? = nil, search: SearchConfiguration? = nil,
                lineage: ScheduleLineage? = nil) {
        format = Self.formatName
        formatVersion = context.baseAugmentation.foundation == nil ? 1 : 2
        self.operations = OperationDescription.describing(operations)
        policyLayout = PolicyLayoutDescription(operationCount: operations.count)
        self.learnedEpochs = learnedEpochs
        self.segments = segments
        baseAugmentation = context.baseAugmentation
        dataset = context.dataset
        model = context.model
        self.seed = seed
        self.search = search
        provenance = context.provenance
        self.lineage = lineage
    }

    /// The schedule of a finished search: the best member's lineage. When its members had their
    /// own foundations (`SearchConfiguration.startBaselines`), the winner's is the document's:
    /// a copy inherits its source's foundation with its lineage and explore keeps it, so one
    /// lineage has one foundation throughout.
    public init(outcome: SearchOutcome, configuration: SearchConfiguration, context: ScheduleContext) {
        var provenance = context.provenance
        provenance.finalValidationAccuracy = outcome.validationAccuracy.isFinite ? outcome.validationAccuracy : nil
        var context = context
        context.provenance = provenance
        if let foundation = outcome.lineage.segments.first?.policy.foundation {
            context.baseAugmentation.foundation = foundation.name
        }
        self.init(operations: configuration.operations, learnedEpochs: outcome.epochs,
                  segments: outcome.lineage.segments.map {
                      ScheduleSegment(startEpoch: $0.startEpoch, endEpoch: $0.endEpoch, policy: $0.policy.values)
                  },
                  context: context, seed: configuration.seed, search: configuration,
                  lineage: ScheduleLineage(PolicyLog(lineage: outcome.lineage)))
    }

    /// A schedule from PBA's form, with the lineage log it came from if there is one.
    public init(pba: PBASchedule, operations: OperationSet = .pba, lineage: PolicyLog? = nil, context: ScheduleContext) {
        var start = 0
        let segments = pba.segments.map { s -> ScheduleSegment in
            defer { start += s.epochs }
            return ScheduleSegment(startEpoch: start, endEpoch: start + s.epochs, policy: s.policy.values)
        }
        self.init(operations: operations, learnedEpochs: pba.epochs, segments: segments,
                  context: context, lineage: lineage.map(ScheduleLineage.init))
    }

    /// Imports a Ray Tune / PBA lineage log learned over `epochs` epochs, as PBA's parser reads it.
    public init(importingLog text: String, epochs: Int, operations: OperationSet = .pba,
                context: ScheduleContext) throws(ScheduleError) {
        let log = try PolicyLog(parsing: text, operations: operations)
        let pba = try PBASchedule(lineage: log, epochs: epochs)
        self.init(pba: pba, operations: operations, lineage: log, context: context)
    }

    public var operationSet: OperationSet { OperationSet(names: operations.map(\.name)) }

    /// The segments' policies (the document must be valid: see `validate`).
    public func policies() throws(ScheduleError) -> [Policy] {
        let set = operationSet
        var policies: [Policy] = []
        for (i, segment) in segments.enumerated() {
            do { policies.append(try Policy(values: segment.policy, operations: set)) } catch {
                throw .invalidSchedule(path: "segments[\(i)].policy", message: error.description)
            }
        }
        return policies
    }

    /// PBA's form of the segments.
    public func pbaSchedule() throws(ScheduleError) -> PBASchedule {
        try validate()
        let policies = try policies()
        return PBASchedule(segments: zip(segments, policies).map { PBAScheduleSegment(epochs: $0.0.epochCount, policy: $0.1) })
    }

    /// The Ray Tune / PBA log: the recorded lineage when there is one, else lines synthesised
    /// so that PBA's parser gives back these segments.
    public func policyLog() throws(ScheduleError) -> PolicyLog {
        try validate()
        if let lineage { return try lineage.policyLog(operations: operationSet) }
        return try pbaSchedule().lineageLog()
    }

    /// The policy of each of `epochs` epochs, stretched as PBA does (see `PBASchedule.epochPolicies`).
    public func epochPolicies(epochs: Int) throws(ScheduleError) -> [Policy] {
        try pbaSchedule().epochPolicies(targetEpochs: epochs)
    }

    // MARK: Validation

    /// Checks every field a consumer relies on; the error names the JSON path.
    public func validate() throws(ScheduleError) {
        func bad(_ path: String, _ message: String) -> ScheduleError { .invalidSchedule(path: path, message: message) }
        guard format == Self.formatName else { throw bad("format", "is '\(format)', expected '\(Self.formatName)'") }
        guard (1...Self.currentFormatVersion).contains(formatVersion) else {
            throw .unsupportedFormatVersion(found: formatVersion, supported: Self.currentFormatVersion)
        }
        if let foundation = baseAugmentation.foundation {
            guard formatVersion >= 2 else {
                throw bad("baseAugmentation.foundation", "needs formatVersion 2 (the document says \(formatVersion)): a version-1 reader would ignore it and train without it")
            }
            do { _ = try Baseline.foundation(named: foundation) } catch {
                throw bad("baseAugmentation.foundation", "\(error)")
            }
        }
        guard !operations.isEmpty else { throw bad("operations", "is empty") }
        var seen = Set<String>()
        for (i, op) in operations.enumerated() where !seen.insert(op.name).inserted {
            throw bad("operations[\(i)].name", "'\(op.name)' appears twice")
        }
        let n = operations.count
        guard policyLayout.integersPerPolicy == 4 * n else {
            throw bad("policyLayout.integersPerPolicy", "is \(policyLayout.integersPerPolicy), expected \(4 * n) (4 per operation)")
        }
        guard ["dataset-mean", "zero"].contains(baseAugmentation.fill) else {
            throw bad("baseAugmentation.fill", "is '\(baseAugmentation.fill)', expected 'dataset-mean' or 'zero'")
        }
        for (i, m) in baseAugmentation.normalizationMean.enumerated() where !(0...1).contains(m) {
            throw bad("baseAugmentation.normalizationMean[\(i)]", "is \(m), expected a fraction of 255 in 0...1")
        }
        for (i, v) in baseAugmentation.normalizationStd.enumerated() where !(v > 0 && v <= 1) {
            throw bad("baseAugmentation.normalizationStd[\(i)]", "is \(v), expected a fraction of 255 in (0, 1]")
        }
        guard learnedEpochs >= 1 else { throw bad("learnedEpochs", "is \(learnedEpochs), expected at least 1") }
        guard !segments.isEmpty else { throw bad("segments", "is empty") }
        var expectedStart = 0
        let set = operationSet
        for (i, s) in segments.enumerated() {
            guard s.startEpoch == expectedStart else {
                throw bad("segments[\(i)].startEpoch", "is \(s.startEpoch), expected \(expectedStart) (segments must be contiguous from 0)")
            }
            guard s.endEpoch >= s.startEpoch else {
                throw bad("segments[\(i)].endEpoch", "is \(s.endEpoch), before startEpoch \(s.startEpoch)")
            }
            try Self.check(s.policy, path: "segments[\(i)].policy", operations: set)
            expectedStart = s.endEpoch
        }
        guard expectedStart == learnedEpochs else {
            throw bad("segments[\(segments.count - 1)].endEpoch", "is \(expectedStart), expected learnedEpochs \(learnedEpochs)")
        }
        if let search {
            do { try search.validate() } catch {
                if case let .invalidConfiguration(field, _, _) = error { throw bad("search.\(field)", error.description) }
                throw bad("search", error.description)
            }
        }
        if let lineage {
            for (i, p) in lineage.perturbations.enumerated() {
                try Self.check(p.sourcePolicy, path: "lineage.perturbations[\(i)].sourcePolicy", operations: set)
                try Self.check(p.newPolicy, path: "lineage.perturbations[\(i)].newPolicy", operations: set)
                guard p.targetEpoch >= 0, p.sourceEpoch >= 0 else {
                    throw bad("lineage.perturbations[\(i)]", "epochs must be non-negative")
                }
            }
        }
    }

    /// Checks that every operation is one `registry` can apply: a document read from a file is
    /// caught here, with its place in the file, rather than when training starts.
    public func validateOperations(in registry: OperationRegistry = .standard) throws(ScheduleError) {
        for (i, op) in operations.enumerated() {
            do { _ = try registry.operation(named: op.name) } catch {
                throw .invalidSchedule(path: "operations[\(i)].name", message: error.description)
            }
        }
    }

    static func check(_ values: [Int], path: String, operations: OperationSet) throws(ScheduleError) {
        do {
            _ = try Policy(values: values, operations: operations)
        } catch {
            if case let .outOfRange(index, _, _, _) = error {
                throw .invalidSchedule(path: "\(path)[\(index)]", message: error.description)
            }
            throw .invalidSchedule(path: path, message: error.description)
        }
    }
}

/// Epochs `[startEpoch, endEpoch)` trained with `policy` (hp_policy integers).
public struct ScheduleSegment: Hashable, Codable, Sendable {
    public var startEpoch: Int
    public var endEpoch: Int
    public var policy: [Int]

    public init(startEpoch: Int, endEpoch: Int, policy: [Int]) {
        self.startEpoch = startEpoch
        self.endEpoch = endEpoch
        self.policy = policy
    }

    public var epochCount: Int { endEpoch - startEpoch }
}

/// The augmentation applied to every image after the policy.
public struct BaseAugmentation: Hashable, Codable, Sendable {
    /// Pixels of padding on each side before the random crop back to the image size.
    public var padding: Int
    public var randomCrop: Bool
    public var horizontalFlip: Bool
    /// Side of the Cutout square after the policy; 0 for none.
    public var cutoutSize: Int
    /// What uncovered and cut-out pixels become: "dataset-mean" (per-channel mean, PBA's
    /// intent) or "zero".
    public var fill: String
    /// Per-channel normalisation (x/255 − mean) / std.
    public var normalizationMean: [Double]
    public var normalizationStd: [Double]
    /// A baseline recipe (autoaugment, trivialaugment, randaugment(N,M)) applied before every
    /// epoch's policy: the schedule was learned on top of it and means nothing without it. Nil
    /// (and absent from the JSON): none.
    public var foundation: String?

    public init(padding: Int, randomCrop: Bool, horizontalFlip: Bool, cutoutSize: Int, fill: String,
                normalizationMean: [Double], normalizationStd: [Double], foundation: String? = nil) {
        self.foundation = foundation
        self.padding = padding
        self.randomCrop = randomCrop
        self.horizontalFlip = horizontalFlip
        self.cutoutSize = cutoutSize
        self.fill = fill
        self.normalizationMean = normalizationMean
        self.normalizationStd = normalizationStd
    }

    /// PBA's CIFAR-10 base augmentation: pad 4, random crop, flip, Cutout 16, PBA's CIFAR-10
    /// mean and std.
    public static let pbaCIFAR10 = BaseAugmentation(
        padding: 4, randomCrop: true, horizontalFlip: true, cutoutSize: 16, fill: "dataset-mean",
        normalizationMean: [0.49139968, 0.48215841, 0.44653091],
        normalizationStd: [0.24703223, 0.24348513, 0.26158784])
}

public struct DatasetDescription: Hashable, Codable, Sendable {
    /// e.g. "reduced-cifar10", "fashion-mnist".
    public var name: String
    /// Training images used by the search; nil if unknown.
    public var trainingImages: Int?

    public init(name: String, trainingImages: Int? = nil) {
        self.name = name
        self.trainingImages = trainingImages
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(trainingImages, forKey: .trainingImages)
    }
}

public struct ModelDescription: Hashable, Codable, Sendable {
    /// e.g. "wrn-40-2".
    public var name: String

    public init(name: String) { self.name = name }
}

/// Where a schedule came from. Unknown values are null.
public struct ScheduleProvenance: Hashable, Codable, Sendable {
    public var commandLine: [String]?
    public var pbaVersion: String?
    public var gitRevision: String?
    public var runID: String?
    public var finalValidationAccuracy: Double?
    public var cpu: String?
    public var blas: String?
    public var threads: Int?
    /// For an imported schedule: the file it was imported from.
    public var importedFrom: String?

    public init(commandLine: [String]? = nil, pbaVersion: String? = nil, gitRevision: String? = nil,
                runID: String? = nil, finalValidationAccuracy: Double? = nil, cpu: String? = nil,
                blas: String? = nil, threads: Int? = nil, importedFrom: String? = nil) {
        self.commandLine = commandLine
        self.pbaVersion = pbaVersion
        self.gitRevision = gitRevision
        self.runID = runID
        self.finalValidationAccuracy = finalValidationAccuracy
        self.cpu = cpu
        self.blas = blas
        self.threads = threads
        self.importedFrom = importedFrom
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(commandLine, forKey: .commandLine)
        try c.encode(pbaVersion, forKey: .pbaVersion)
        try c.encode(gitRevision, forKey: .gitRevision)
        try c.encode(runID, forKey: .runID)
        try c.encode(finalValidationAccuracy, forKey: .finalValidationAccuracy)
        try c.encode(cpu, forKey: .cpu)
        try c.encode(blas, forKey: .blas)
        try c.encode(threads, forKey: .threads)
        try c.encode(importedFrom, forKey: .importedFrom)
    }
}

/// What a schedule was learned on and how it was made, beyond the policies.
public struct ScheduleContext: Hashable, Sendable {
    public var dataset: DatasetDescription
    public var model: ModelDescription
    public var baseAugmentation: BaseAugmentation
    public var provenance: ScheduleProvenance

    public init(dataset: DatasetDescription, model: ModelDescription,
                baseAugmentation: BaseAugmentation = .pbaCIFAR10, provenance: ScheduleProvenance = ScheduleProvenance()) {
        self.dataset = dataset
        self.model = model
        self.baseAugmentation = baseAugmentation
        self.provenance = provenance
    }
}

/// The perturbations behind a schedule, as a Ray Tune lineage log holds them, so the log can be
/// written back exactly (config dictionaries keep only `hp_policy`).
public struct ScheduleLineage: Hashable, Codable, Sendable {
    public struct Perturbation: Hashable, Codable, Sendable {
        public var targetTag: String
        public var sourceTag: String
        public var targetEpoch: Int
        public var sourceEpoch: Int
        public var sourcePolicy: [Int]
        public var newPolicy: [Int]
    }

    /// "bare-list" or "hp_policy": how the log wrote its configs.
    public var configForm: String
    /// "python" or "json": how the log wrote its lines.
    public var syntax: LiteralSyntax
    public var perturbations: [Perturbation]

    public init(_ log: PolicyLog) {
        if case .dictionary = log.entries.first?.cloneConfig.form { configForm = "hp_policy" } else { configForm = "bare-list" }
        syntax = log.syntax
        perturbations = log.entries.map {
            Perturbation(targetTag: $0.targetTag, sourceTag: $0.cloneTag, targetEpoch: $0.targetIteration,
                         sourceEpoch: $0.cloneIteration, sourcePolicy: $0.cloneConfig.policy.values,
                         newPolicy: $0.newConfig.policy.values)
        }
    }

    public func policyLog(operations: OperationSet) throws(ScheduleError) -> PolicyLog {
        let form: PolicyConfigForm = configForm == "hp_policy" ? .hpPolicyOnly : .bareList
        var entries: [PolicyLogEntry] = []
        for (i, p) in perturbations.enumerated() {
            func policy(_ values: [Int], _ name: String) throws(ScheduleError) -> Policy {
                do { return try Policy(values: values, operations: operations) } catch {
                    throw .invalidSchedule(path: "lineage.perturbations[\(i)].\(name)", message: error.description)
                }
            }
            entries.append(PolicyLogEntry(
                targetTag: p.targetTag, cloneTag: p.sourceTag, targetIteration: p.targetEpoch, cloneIteration: p.sourceEpoch,
                cloneConfig: PolicyConfig(policy: try policy(p.sourcePolicy, "sourcePolicy"), form: form),
                newConfig: PolicyConfig(policy: try policy(p.newPolicy, "newPolicy"), form: form)))
        }
        return PolicyLog(entries: entries, syntax: syntax, operations: operations)
    }
}

extension AugmentationSchedule {
    /// What training with this schedule applies in each epoch of an `epochs`-epoch run: the
    /// stretched policy followed by `base`. Epochs past the end keep the last policy.
    /// The schedule's foundation, if any, comes first.
    public func perEpochAugmentation(epochs: Int, base: Augment.BaseAugmentation) throws -> @Sendable (Int) -> Augmentation {
        let foundation = try baseAugmentation.foundation.map { name throws -> AugmentationStage in
            do { return try Baseline.foundation(named: name) } catch {
                throw ScheduleError.invalidSchedule(path: "baseAugmentation.foundation", message: "\(error)")
            }
        }
        let augmentations = try epochPolicies(epochs: epochs).map {
            Augmentation(policy: try ResolvedPolicy($0), base: base, foundation: foundation)
        }
        guard !augmentations.isEmpty else { throw ScheduleError.invalidSchedule(path: "segments", message: "give no policy for \(epochs) epochs") }
        return { epoch in augmentations[min(max(0, epoch), augmentations.count - 1)] }
    }
}
