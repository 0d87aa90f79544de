import ArgumentParser
import Foundation
import Logging
import Coordinator
import Augment
import Engine
import Schedule
import Search
import Store
import Wire

/// What `trainingConfiguration` of a run record holds: enough to resume without the data.
struct StoredRunSetup: Codable {
    var plan: RunPlan
    var job: JobDescription
    var normalization: Normalization
    var commandLine: [String]
}

/// A run ready to be served: its id, job, search state (started or resumed) and schedule context.
struct PreparedRun {
    var runId: String
    var job: JobDescription
    var search: PopulationSearch
    var context: ScheduleContext
    var resumed: Bool
}

/// Options naming the database, shared by search, coordinator, status and runs.
struct StoreOptions: ParsableArguments {
    @Option(help: "SQLite database of runs (checkpoints go in FILE.checkpoints/).")
    var db: String = "runs/pba.sqlite"

    func open() throws -> Store {
        let dir = (db as NSString).deletingLastPathComponent
        if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        return try Store(path: db)
    }
}

/// Options describing a search (a preset plus overrides).
struct PlanOptions: ParsableArguments {
    @Option(help: "Preset: demo (Fashion-MNIST, minutes on 2 cores), reduced-cifar10 (CPU-sized), paper (PBA's setup, big machines).")
    var preset: String = "demo"
    @Option(help: "Override the data source (fashion-mnist | cifar10:DIR | cifar100:DIR | npy:DIR).")
    var data: String?
    @Option(help: "Override the model, e.g. wrn-40-2.")
    var model: String?
    @Option(help: "Override the architecture form: pba (PBA's WRN, the default) or zagoruyko (1×1 projection shortcuts).")
    var form: String?
    @Option(help: "Override the population size.")
    var population: Int?
    @Option(help: "Override the search's epochs.")
    var epochs: Int?
    @Option(help: "Override the perturbation interval (epochs).")
    var interval: Int?
    @Option(help: "Override the training images of the search.")
    var trainSize: Int?
    @Option(help: "Override the validation images (the ranking signal).")
    var validationSize: Int?
    @Option(help: "asynchronous (no idle workers) or synchronous (deterministic given seed and results).")
    var mode: String?
    @Option(help: "Initial policies: zero (PBA; with the base augmentation exactly the free baseline), sampled (uniform random), or mixed (a quarter of the members at zero, the rest sampled; the demo and reduced-cifar10 default).")
    var initialPolicy: String?
    @Option(help: "Explore step: pba (random resample/shift) or pb2 (PB2's time-varying GP bandit over the population's recent policy/improvement data).")
    var explore: String?
    @Option(help: "Exploit ranking: latest (PBA: the latest validation accuracy) or smoothed (a moving average of each member's results).")
    var ranking: String?
    @Option(help: "Weight of the newest result in --ranking smoothed, in (0, 1] (default 0.5).")
    var smoothing: Double?
    @Option(help: "Copy only when the source's validation accuracy leads the target's by at least this many standard errors of the gap (paired over validation images); 0 = always (PBA).")
    var exploitMargin: Double?
    @Option(help: "Members that train the zero policy (the free baseline) to the end and take no part in exploit, so the final verdict always has the baseline to compare the winner with (default 1 for demo and reduced-cifar10, 0 for paper: PBA's setup).")
    var controlMembers: Int?
    @Option(help: "The free baselines the zero-policy members of a zero or mixed start train, comma-separated: base and any of autoaugment, trivialaugment, randaugment, randaugment(N,M); `all` = base,autoaugment,trivialaugment,randaugment (default: base). Zero member i trains entry i mod count (control member 0 the first); a baseline other than base becomes that member's foundation, which copies inherit, so exploit cannot end below the best of them on validation and a winner that kept one unchanged names the baseline to use. Not with --foundation.")
    var startBaselines: String?
    @Option(help: "Base augmentation after every policy: padding before the random crop (0 = no crop; default 4).")
    var padding: Int?
    @Option(help: "Base augmentation: a fixed Cutout side after every policy (0 = none, the demo and reduced-cifar10 default: Cutout is one of the policy's operations; paper: 16).")
    var cutout: Int?
    @Option(help: "Base augmentation: horizontal flip, true or false (default true).")
    var flip: Bool?
    @Option(help: "Stack every policy on a baseline recipe: autoaugment, trivialaugment, randaugment or randaugment(N,M) (default: none). The zero policy then means that baseline, so the search starts from it and can only add to it (the start defaults to zero: random policies stacked on a strong recipe are far too strong); the schedule records it, and `pba train`/`pba evaluate` apply it before each epoch's policy. Choose it by measurement: the best baseline of `pba evaluate --validation-size` on your data.")
    var foundation: String?
    @Option(help: "Run seed.")
    var seed: UInt64?
    @OptionGroup var workerIdentity: WorkerIdentityOptions
    @Option(help: "A JSON file with the same fields (preset, data, model, population, epochs, interval, trainSize, validationSize, mode, initialPolicy, explore, ranking, smoothing, exploitMargin, controlMembers, startBaselines, seed, batchSize, learningRate, padding, cutout, flip, foundation); options override it.")
    var config: String?

    func plan() throws -> RunPlan {
        var plan: RunPlan
        if let config {
            guard let data = FileManager.default.contents(atPath: config) else { throw ValidationError("--config: cannot read \(config)") }
            do { plan = try JSONDecoder().decode(RunPlan.self, from: data) } catch {
                throw ValidationError("--config \(config): \(error)")
            }
        } else {
            guard let p = RunPlan.Preset(rawValue: preset) else {
                throw ValidationError("--preset must be one of \(RunPlan.Preset.allCases.map(\.rawValue).joined(separator: ", ")), got '\(preset)'")
            }
            plan = RunPlan(preset: p)
        }
        if let data { plan.data = data }
        if let model { plan.model = model }
        if let form {
            guard ModelSpec.Form(rawValue: form) != nil else { throw ValidationError("--form must be pba or zagoruyko, got '\(form)'") }
            plan.form = form
        }
        if let population { plan.population = population }
        if let epochs { plan.epochs = epochs }
        if let interval { plan.interval = interval }
        if let trainSize { plan.trainSize = trainSize }
        if let validationSize { plan.validationSize = validationSize }
        if let mode { plan.mode = try choice(mode, option: "--mode") }
        if let initialPolicy { plan.initialPolicy = try choice(initialPolicy, option: "--initial-policy") }
        if let explore { plan.explore = try choice(explore, option: "--explore") }
        if let ranking { plan.ranking = try choice(ranking, option: "--ranking") }
        if let smoothing {
            guard smoothing > 0, smoothing <= 1 else { throw ValidationError("--smoothing must be in (0, 1], got \(smoothing)") }
            plan.smoothing = smoothing
        }
        if let exploitMargin {
            guard exploitMargin >= 0, exploitMargin.isFinite else { throw ValidationError("--exploit-margin must be ≥ 0, got \(exploitMargin)") }
            plan.exploitMargin = exploitMargin
        }
        if let controlMembers {
            guard controlMembers >= 0 else { throw ValidationError("--control-members must be ≥ 0, got \(controlMembers)") }
            plan.controlMembers = controlMembers
        }
        if let startBaselines { plan.startBaselines = try Self.parseStartBaselines(startBaselines) }
        if let padding { plan.padding = padding }
        if let cutout { plan.cutout = cutout }
        if let flip { plan.flip = flip }
        if let foundation {
            do { _ = try Baseline.foundation(named: foundation) } catch { throw ValidationError("--foundation: \(error)") }
            plan.foundation = foundation
        }
        if let seed { plan.seed = seed }
        if let identity = try workerIdentity.identity() { plan.worker = identity }
        return plan
    }

    /// "all", or names separated by commas outside parentheses (randaugment(2,9) is one name).
    static func parseStartBaselines(_ text: String) throws -> [String] {
        if text.trimmingCharacters(in: .whitespaces) == "all" { return ["base", "autoaugment", "trivialaugment", "randaugment"] }
        var names: [String] = [], current = "", depth = 0
        for ch in text {
            if ch == "(" { depth += 1 } else if ch == ")" { depth -= 1 }
            if ch == ",", depth == 0 { names.append(current); current = "" } else { current.append(ch) }
        }
        names.append(current)
        names = names.map { $0.trimmingCharacters(in: .whitespaces) }
        for (i, name) in names.enumerated() {
            guard let b = try? Baseline(name: name), b == .base || b.foundationStage != nil else {
                throw ValidationError("--start-baselines: entry \(i + 1) '\(name)' is not base or a foundation (\(Baseline.foundationNames.joined(separator: ", ")))")
            }
        }
        return names
    }
}

/// One of an option's named values, or an error listing them all ("--x must be a, b or c, got 'd'").
func choice<T: RawRepresentable & CaseIterable>(_ value: String, option: String) throws -> T where T.RawValue == String {
    if let v = T(rawValue: value) { return v }
    let names = T.allCases.map(\.rawValue)
    let list = names.count > 1 ? names.dropLast().joined(separator: ", ") + " or " + names.last! : names.joined()
    throw ValidationError("\(option) must be \(list), got '\(value)'")
}

enum RunSetup {
    /// Resumes the newest unfinished run in the store, or creates one from `plan`.
    static func prepare(store: Store, plan: RunPlan, threads: Int, logger: Logger) throws -> PreparedRun {
        if let existing = try store.unfinishedRun() {
            guard let setup = try? JSONDecoder().decode(StoredRunSetup.self, from: Data(existing.trainingConfiguration.utf8)),
                  let configuration = try? JSONDecoder().decode(SearchConfiguration.self, from: Data(existing.searchConfiguration.utf8)) else {
                throw ValidationError("run \(existing.id) in the database has an unreadable configuration; remove it with `pba runs rm \(existing.id)`")
            }
            var search = try PopulationSearch.replay(configuration: configuration, events: try store.events(run: existing.id))
            if search.isStarted {
                let actions = search.resume()
                try store.commit(run: existing.id, event: .resumed, actions: actions, keepCheckpoints: search.referencedCheckpoints)
            } else {
                try store.commit(run: existing.id, event: .started, actions: search.start())
            }
            try store.setStatus(run: existing.id, .running)
            let done = search.members.map(\.completedEpochs).reduce(0, +)
            logger.info("resuming run \(existing.id): \(done) of \(configuration.populationSize * configuration.epochs) member-epochs done")
            let context = scheduleContext(job: setup.job, normalization: setup.normalization, commandLine: setup.commandLine, threads: threads)
            return PreparedRun(runId: existing.id, job: setup.job, search: search, context: context, resumed: true)
        }
        logger.info("loading \(plan.dataSource)")
        let (train, test) = try DataSource(parsing: plan.dataSource).load()
        let (job, configuration) = try plan.resolve(train: train, test: test)
        let split = try DataSplit(train, trainSize: job.trainSize, validationSize: job.validationSize, seed: job.splitSeed)
        let stats = split.train.channelStatistics()
        let normalization = Normalization(mean: stats.mean, std: stats.std)
        let runId = newRunId()
        let commandLine = CommandLine.arguments
        let setup = StoredRunSetup(plan: plan, job: job, normalization: normalization, commandLine: commandLine)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try store.createRun(RunRecord(id: runId, createdAt: Date(), status: .running,
                                      searchConfiguration: String(decoding: try encoder.encode(configuration), as: UTF8.self),
                                      trainingConfiguration: String(decoding: try encoder.encode(setup), as: UTF8.self),
                                      seed: configuration.seed, pbaVersion: PBARelease.version, gitRevision: GitRevision.current ?? "unknown",
                                      commandLine: commandLine.joined(separator: " ")))
        var search = try PopulationSearch(configuration: configuration)
        try store.commit(run: runId, event: .started, actions: search.start())
        if let foundation = job.foundation, configuration.initialPolicy != .zero {
            logger.warning("--initial-policy \(configuration.initialPolicy.rawValue) on a foundation stacks random policies on \(foundation): they tend to win the first, luck-dominated intervals and give a schedule far stronger than the foundation alone (schedules/c1k-cifar10-aa); --initial-policy zero is the tested start")
        }
        logger.info("created run \(runId): \(configuration.populationSize) × \(job.model.name) on \(job.data), \(configuration.epochs) epochs, interval \(configuration.perturbationInterval), \(configuration.mode.rawValue); every policy runs on \(baseDescription(job))")
        let context = scheduleContext(job: job, normalization: normalization, commandLine: commandLine, threads: threads)
        return PreparedRun(runId: runId, job: job, search: search, context: context, resumed: false)
    }

    static func newRunId() -> String {
        let f = DateFormatter()
        f.dateFormat = "yyyyMMdd-HHmmss"
        f.timeZone = TimeZone(identifier: "UTC")
        return "run-\(f.string(from: Date()))-\(String(UInt32.random(in: 0...0xFFFF), radix: 16))"
    }
}

/// A command line as a POSIX shell would need it typed: arguments with spaces or shell
/// metacharacters in single quotes, so a report's "reproduce" line can be pasted as it is.
func shellCommandLine(_ arguments: [String]) -> String {
    let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%")
    return arguments.enumerated().map { i, a in
        let word = i == 0 ? ((a as NSString).lastPathComponent == "pba" ? "pba" : a) : a
        if !word.isEmpty && word.allSatisfy({ safe.contains($0) }) { return word }
        return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }.joined(separator: " ")
}

/// Which workers a new run accepts (`--worker-kind`, `--worker-model`): shared by `pba search`,
/// `pba coordinator` and `pba evaluate`. A resumed run keeps the identity it was created with.
struct WorkerIdentityOptions: ParsableArguments {
    @Option(help: "Workers this run accepts: swift (`pba worker`, the default) or pytorch (`python -m pba_worker`, e.g. on GPU boxes). Checkpoints are not shared between kinds, so a run takes one kind.")
    var workerKind: String?
    @Option(help: "With --worker-kind pytorch: the model identity a user's own trainable declares (`python -m pba_worker --trainable`); default wrn, the run's WRN.")
    var workerModel: String?

    /// Nil for the default (Swift workers, the job's WRN).
    func identity() throws -> WorkerIdentity? {
        let kind = workerKind ?? WorkerIdentity.swift.kind
        guard WorkerIdentity.kinds.contains(kind) else {
            throw ValidationError("--worker-kind must be one of \(WorkerIdentity.kinds.joined(separator: ", ")), got '\(kind)'")
        }
        let model = workerModel ?? WorkerIdentity.builtInModel
        guard !model.isEmpty, model.utf8.count <= 200, !model.contains(where: { $0.isWhitespace }) else {
            throw ValidationError("--worker-model must be a non-empty name without spaces (≤ 200 bytes), got '\(model)'")
        }
        if kind == "swift" && model != WorkerIdentity.builtInModel {
            throw ValidationError("--worker-model '\(model)': Swift workers train only the built-in WRN; a model of your own needs --worker-kind pytorch")
        }
        let identity = WorkerIdentity(kind: kind, model: model)
        return identity == .swift ? nil : identity
    }
}
