import Foundation
import Engine
import Search
import Schedule
import Wire
import Tensor
import Augment

/// A search to run: a preset plus overrides, turned into the job every worker trains and the
/// search configuration. `pba search` and `pba coordinator --config` read the same fields.
public struct RunPlan: Codable, Hashable, Sendable {
    public enum Preset: String, Codable, Sendable, CaseIterable {
        /// Fashion-MNIST, WRN-10-1, 16 members, 30 epochs on 2 000 images, mixed start, no
        /// fixed Cutout: minutes on 2 cores.
        case demo
        /// cifar10-mini-sized reduced CIFAR-10 on CPU: WRN-10-1, 16 members, 30 epochs on 4 000
        /// images, mixed start, no fixed Cutout.
        case reducedCIFAR10 = "reduced-cifar10"
        /// PBA's configuration: reduced CIFAR-10 (4 000 images), WRN-40-2, 16 members, interval 3, 200 epochs.
        case paper
    }

    public var preset: Preset = .demo
    public var data: String?
    public var model: String?
    public var form: String?
    public var trainSize: Int?
    public var validationSize: Int?
    public var population: Int?
    public var epochs: Int?
    public var interval: Int?
    public var mode: SearchConfiguration.Mode?
    public var initialPolicy: SearchConfiguration.InitialPolicy?
    public var explore: SearchConfiguration.ExploreAlgorithm?
    public var ranking: SelectionRules.Ranking?
    public var smoothing: Double?
    public var exploitMargin: Double?
    /// Members kept at the zero policy and out of exploit (`SearchConfiguration.controlMembers`).
    public var controlMembers: Int?
    /// The free baselines the zero members train (`SearchConfiguration.startBaselines`); nil: base.
    public var startBaselines: [String]?
    public var batchSize: Int?
    public var learningRate: Double?
    /// Base augmentation after every policy: pad (+ random crop), flip, Cutout side (0 = off).
    public var padding: Int?
    public var cutout: Int?
    public var flip: Bool?
    /// A baseline recipe every policy is stacked on (`JobDescription.foundation`).
    public var foundation: String?
    public var seed: UInt64?
    /// The workers the run accepts; nil: Swift workers (`JobDescription.worker`).
    public var worker: WorkerIdentity?

    public init(preset: Preset = .demo) { self.preset = preset }

    /// The start the run uses: the one asked for, else zero when there is a foundation (a mixed or
    /// sampled start stacks random policies on it, and in `schedules/c1k-cifar10-aa` those won the
    /// early, luck-dominated intervals and made the schedule 4.6 points worse than the foundation
    /// alone), else the preset's.
    public var resolvedInitialPolicy: SearchConfiguration.InitialPolicy {
        initialPolicy ?? (foundation != nil ? .zero : defaults.initialPolicy)
    }

    struct Defaults {
        var data: String, model: String, trainSize: Int, validationSize: Int, population: Int, epochs: Int,
            interval: Int, cutout: Int, flip: Bool, initialPolicy: SearchConfiguration.InitialPolicy = .zero,
            controlMembers: Int = 0
    }

    var defaults: Defaults {
        switch preset {
        case .demo:
            // No fixed Cutout: Cutout is one of the policy's operations, so the zero policy is
            // exactly the free baseline (pad-crop-flip) and the search can choose less than the
            // old fixed Cutout 8, which cost ~1.4 points here (schedules/evaluation-fashion-mnist).
            // Mixed start: a quarter of the members at that baseline, the rest sampled, so the
            // schedule is not empty by construction and "nothing beyond base" stays reachable.
            // One of them is a control that never copies: in session 12's demo every zero member
            // was overtaken and copied, and the verdict could only say "unknown".
            return Defaults(data: "fashion-mnist", model: "wrn-10-1", trainSize: 2000, validationSize: 500, population: 16,
                            epochs: 30, interval: 3, cutout: 0, flip: true, initialPolicy: .mixed, controlMembers: 1)
        case .reducedCIFAR10:
            // As the demo: Cutout 16 alone cost ~3 points on cifar10-mini at this scale.
            return Defaults(data: "cifar10:../shared/data/cifar10-mini", model: "wrn-10-1", trainSize: 4000, validationSize: 1085,
                            population: 16, epochs: 30, interval: 3, cutout: 0, flip: true, initialPolicy: .mixed, controlMembers: 1)
        case .paper:
            return Defaults(data: "cifar10:cifar-10-batches-bin", model: "wrn-40-2", trainSize: 4000, validationSize: 1000,
                            population: 16, epochs: 200, interval: 3, cutout: 16, flip: true)
        }
    }

    /// The data source string this plan loads.
    public var dataSource: String { data ?? defaults.data }

    /// Builds the job and search configuration for data already loaded (its fingerprint binds
    /// the workers to the same data).
    public func resolve(train: Dataset, test: Dataset) throws -> (job: JobDescription, search: SearchConfiguration) {
        let d = defaults
        if let padding, !(0...64).contains(padding) { throw RunPlanError("padding must be 0...64 pixels, got \(padding)") }
        if let cutout, !(0...1024).contains(cutout) { throw RunPlanError("cutout must be 0...1024 pixels (0 = off), got \(cutout)") }
        let parsed = try ModelSpec.parse(model ?? d.model, form: form.flatMap { ModelSpec.Form(rawValue: $0) })
        let spec = try ModelSpec(depth: parsed.depth, widen: parsed.widen, form: parsed.form, height: train.height,
                                 width: train.width, channels: train.channels, classes: train.classCount)
        let runSeed = seed ?? 0
        var options = TrainingOptions()
        options.epochs = epochs ?? d.epochs
        options.batchSize = batchSize ?? options.batchSize
        if let lr = learningRate { options.sgd.learningRate = lr }
        options.seed = runSeed
        var job = JobDescription(data: dataSource, trainSize: trainSize ?? d.trainSize, validationSize: validationSize ?? d.validationSize,
                                 splitSeed: runSeed, model: spec, options: options, padding: padding ?? 4, flip: flip ?? d.flip,
                                 cutout: cutout ?? d.cutout, dataFingerprint: dataFingerprint(train: train, test: test))
        job.worker = worker == .swift ? nil : worker
        if let foundation {
            do { _ = try Baseline.foundation(named: foundation) } catch { throw RunPlanError("foundation: \(error)") }
            job.foundation = foundation
        }
        if let startBaselines, job.foundation != nil, startBaselines != ["base"] {
            throw RunPlanError("startBaselines \(startBaselines.joined(separator: ",")) with foundation \(job.foundation!): a member's own foundation replaces the run's, so give one or the other (startBaselines base,\(job.foundation!),... holds the run's foundation as one baseline among them)")
        }
        guard job.trainSize + job.validationSize <= train.count else {
            throw RunPlanError("\(dataSource) has \(train.count) training images; train \(job.trainSize) + validation \(job.validationSize) do not fit")
        }
        var selection = SelectionRules.pba
        if let ranking { selection.ranking = ranking }
        if let smoothing { selection.smoothing = smoothing }
        if let exploitMargin { selection.margin = exploitMargin }
        let search = SearchConfiguration(populationSize: population ?? d.population, epochs: options.epochs,
                                         perturbationInterval: interval ?? d.interval, explore: explore ?? .pba, selection: selection,
                                         initialPolicy: resolvedInitialPolicy, mode: mode ?? .asynchronous,
                                         controlMembers: controlMembers ?? d.controlMembers,
                                         startBaselines: startBaselines ?? ["base"], seed: runSeed)
        try search.validate()
        return (job, search)
    }
}

public struct RunPlanError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// The schedule context (data set, model, base augmentation, provenance) of a job.
public func scheduleContext(job: JobDescription, normalization: Normalization, commandLine: [String], threads: Int) -> ScheduleContext {
    ScheduleContext(
        dataset: DatasetDescription(name: job.data, trainingImages: job.trainSize),
        model: ModelDescription(name: job.model.name),
        baseAugmentation: Schedule.BaseAugmentation(padding: job.padding, randomCrop: job.padding > 0, horizontalFlip: job.flip,
                                                    cutoutSize: job.cutout, fill: "dataset-mean",
                                                    normalizationMean: normalization.mean.map(Double.init),
                                                    normalizationStd: normalization.std.map(Double.init),
                                                    foundation: job.foundation),
        provenance: ScheduleProvenance(commandLine: commandLine, pbaVersion: PBARelease.version, gitRevision: GitRevision.current,
                                       cpu: cpuModelName(), blas: BLAS.coreName, threads: threads))
}

/// This machine's CPU in the words that tell its kernels apart: "AMD EPYC (family 25 model 1,
/// AVX2)". Cells and timings of one kind reproduce; across kinds they differ.
public func machineDescription() -> String {
    guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown CPU" }
    var fields: [String: String] = [:]
    for line in text.split(separator: "\n") {
        if line.isEmpty { break }
        let parts = line.split(separator: ":", maxSplits: 1)
        guard parts.count == 2 else { continue }
        fields[parts[0].trimmingCharacters(in: .whitespaces)] = parts[1].trimmingCharacters(in: .whitespaces)
    }
    let flags = Set((fields["flags"] ?? "").split(separator: " ").map(String.init))
    let isa = flags.contains("avx512f") ? "AVX-512" : flags.contains("avx2") ? "AVX2" : "no AVX2"
    let family = fields["cpu family"].map { "family \($0) model \(fields["model"] ?? "?"), " } ?? ""
    return "\(fields["model name"] ?? "unknown CPU") (\(family)\(isa))"
}

func cpuModelName() -> String? {
    guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix("model name") {
        return line.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) }
    }
    return nil
}

/// The git revision pba was built from, when built inside a checkout (`PBA_GIT_REVISION` wins).
public enum GitRevision {
    public static let current: String? = {
        if let env = ProcessInfo.processInfo.environment["PBA_GIT_REVISION"], !env.isEmpty { return env }
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/git")
        process.arguments = ["-C", executable.path, "rev-parse", "--short=12", "HEAD"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }()
}
