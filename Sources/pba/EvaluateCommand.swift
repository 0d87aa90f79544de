import ArgumentParser
import Foundation
import Logging
import Augment
import Coordinator
import Engine
import Evaluation
import Schedule
import Store
import Wire

struct EvaluateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Train every schedule and baseline with the same seeds and test them: is the learned schedule worth it?",
        discussion: """
        Every candidate (each --schedule, its ablations with --ablations, each baseline) is trained \
        from scratch once per seed — same seeds, same training images, same model, optimiser and \
        epochs — on the training set (all of it unless --train-size), and tested on the test set, \
        which a search never sees. A schedule learned over another number of epochs is stretched \
        as PBA does. Schedules get the base augmentation (--padding, --cutout, flip); baselines \
        are their own recipes (see `pba train --help`).
        Cells run on local worker processes (--workers) and on any `pba worker` that connects to \
        --bind. Finished cells are kept in --db under a key of the exact training setup: rerun the \
        same command after a crash or Ctrl-C and only missing cells train; add a candidate and \
        only it trains.
        Writes report.md, summary.csv, comparisons.csv, cells.csv, chart.svg and cells.json (every \
        finished cell with its predictions; also written when stopped part-way) to --out. \
        --import-cells FILE reads such a cells.json back, so an evaluation too long for one machine \
        or session is trained in parts: commit cells.json, rerun the same command elsewhere with \
        --import-cells, and only the missing cells train; the report says how many were imported.
        Example (the cifar10-mini recipe of schedules/README.md; `make evaluate` runs it):
          pba evaluate --data cifar10:../shared/data/cifar10-mini --form zagoruyko --epochs 30 --seeds 3 \
        --schedule schedules/pba-rcifar10/schedule.json --ablations --out runs/eval
        """)

    @Option(name: .customLong("schedule"), help: "A schedule to evaluate: FILE or NAME=FILE (schedule JSON, PBA policy log or [[n, policy], ...]); repeatable.")
    var schedules: [String] = []
    @Option(help: "Epochs a policy-log schedule was learned over (PBA: 200 for reduced CIFAR-10).")
    var scheduleEpochs: Int?
    @Option(help: "Comma-separated baselines: none, base, cutout, randaugment, trivialaugment, autoaugment, randaugment(N,M); '' for none.")
    var baselines: String = Baseline.names.joined(separator: ",")
    @Flag(help: "Also evaluate each schedule's time-averaged fixed policy and its reversed schedule.")
    var ablations = false

    @Option(help: "Data set: fashion-mnist | cifar10:DIR | cifar100:DIR | npy:DIR.")
    var data: String = "fashion-mnist"
    @Option(help: "Model: wrn-DEPTH-WIDEN.")
    var model: String = "wrn-10-1"
    @Option(help: "Architecture form: pba or zagoruyko.")
    var form: String = "zagoruyko"
    @Option(help: "Epochs each cell trains (cosine learning rate over all of them).")
    var epochs: Int = 30
    @Option(help: "Seeds every candidate trains with: a count K (seeds 1...K), a range A-B, or a list A,B,C (items may be ranges). Each seed fixes weights, data order and augmentation draws.")
    var seeds: String = "3"
    @Option(help: "Training images (default: the whole training set).")
    var trainSize: Int?
    @Option(help: "Score on this many held-out training images (the next ones of the seed-0 shuffle after --train-size) instead of the test set: for choosing a regime or settings without touching the test set.")
    var validationSize: Int?
    @Option(help: "Batch size.")
    var batchSize: Int = 128
    @Option(help: "Initial learning rate (cosine decay to 0 per step).")
    var learningRate: Double = 0.1
    @OptionGroup var base: BaseAugmentationOptions
    @Option(help: "Cutout side after the schedules' policies (0 = none). Default: the schedules' own (what they were learned with) when they agree, else --cutout. The cutout, randaugment, trivialaugment and autoaugment baselines always use --cutout.")
    var scheduleCutout: Int?

    @Option(name: .customLong("import-cells"), help: "A cells.json of an earlier run of this evaluation (same data, model, epochs, recipe and held-out images): its cells count as finished; repeatable.")
    var importCells: [String] = []

    @OptionGroup var store: StoreOptions
    @Option(help: "Directory for the report files.")
    var out: String = "runs/evaluation"
    @Option(help: "Report title.")
    var title: String = "Evaluation"
    @Option(help: "Bootstrap resamples for the confidence intervals.")
    var bootstrapResamples: Int = 2000
    @Option(name: .customLong("workers"), help: "Local worker processes (default: one per core; 0 = only remote workers; none for --worker-kind pytorch).")
    var workersOption: Int?
    var workers: Int { workersOption ?? (((try? workerIdentity.identity()) ?? nil) == nil ? ProcessInfo.processInfo.activeProcessorCount : 0) }
    @OptionGroup var workerIdentity: WorkerIdentityOptions
    @Option(help: "Threads per local worker.")
    var workerThreads: Int = 1
    @Option(help: "Endpoint remote `pba worker`s connect to (default: a free loopback port, local workers only).")
    var bind: String = "tcp://127.0.0.1:*"
    @OptionGroup var security: ListenSecurityOptions
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        guard epochs >= 1 else { throw ValidationError("--epochs must be ≥ 1, got \(epochs)") }
        do { _ = try SeedList.parse(seeds) } catch { throw ValidationError("--seeds: \(error)") }
        if let v = validationSize {
            guard v >= 1 else { throw ValidationError("--validation-size must be ≥ 1, got \(v)") }
            guard trainSize != nil else { throw ValidationError("--validation-size needs --train-size: the held-out images are the ones after the training images") }
        }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be ≥ 1, got \(batchSize)") }
        guard learningRate > 0, learningRate.isFinite else { throw ValidationError("--learning-rate must be > 0, got \(learningRate)") }
        guard (0...256).contains(workers) else { throw ValidationError("--workers must be 0...256, got \(workers)") }
        if workers > 0, let identity = try workerIdentity.identity() {
            throw ValidationError("--workers \(workers): local workers are `pba worker` (Swift), which a --worker-kind \(identity.kind) evaluation refuses; use --workers 0 and start `python -m pba_worker --connect ENDPOINT`")
        }
        guard workerThreads >= 1 else { throw ValidationError("--worker-threads must be ≥ 1") }
        if let c = scheduleCutout, !(0...1024).contains(c) { throw ValidationError("--schedule-cutout must be 0...1024, got \(c)") }
        guard bootstrapResamples >= 100 else { throw ValidationError("--bootstrap-resamples must be ≥ 100, got \(bootstrapResamples)") }
        guard ModelSpec.Form(rawValue: form) != nil else { throw ValidationError("--form must be pba or zagoruyko, got '\(form)'") }
        if let t = trainSize, t < 1 { throw ValidationError("--train-size must be ≥ 1, got \(t)") }
        try security.check(bind: bind)
        if schedules.isEmpty && parsedBaselineNames.isEmpty { throw ValidationError("nothing to evaluate: give --schedule or --baselines") }
    }

    var parsedBaselineNames: [String] {
        // Split on commas outside parentheses, so randaugment(2,9) stays whole.
        var names: [String] = [], current = "", depth = 0
        for ch in baselines {
            if ch == "(" { depth += 1 } else if ch == ")" { depth -= 1 }
            if ch == ",", depth == 0 { names.append(current); current = "" } else { current.append(ch) }
        }
        names.append(current)
        return names.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    func run() async throws {
        let logger = compute.apply(label: "pba.evaluate")
        installStopHandlers(logger)
        let code = try await withFailureLogged(logger) { try evaluate(logger) }
        if code != 0 { throw ExitCode(code) }
    }

    /// The candidates, in report order: schedules (each followed by its ablations), then baselines.
    /// The Cutout the schedules train with: --schedule-cutout, else the one every schedule
    /// document was learned with, else --cutout.
    func resolvedScheduleCutout(_ documents: [AugmentationSchedule]) -> Int {
        if let scheduleCutout { return scheduleCutout }
        let own = Set(documents.map(\.baseAugmentation.cutoutSize))
        return own.count == 1 ? own.first! : base.value.cutout
    }

    func candidatesAndDocuments(logger: Logger? = nil) throws -> (candidates: [Candidate], documents: [AugmentationSchedule]) {
        var result: [Candidate] = []
        var documents: [AugmentationSchedule] = []
        var names = Set<String>()
        for argument in schedules {
            var name: String, path: String
            if let eq = argument.firstIndex(of: "="), !FileManager.default.fileExists(atPath: argument) {
                name = String(argument[..<eq]); path = String(argument[argument.index(after: eq)...])
            } else {
                path = argument
                name = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
            }
            guard !name.isEmpty else { throw ValidationError("--schedule \(argument): empty name") }
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw ValidationError("--schedule: cannot read \(path)") }
            let context = ScheduleContext(dataset: DatasetDescription(name: "unknown"), model: ModelDescription(name: "unknown"))
            let schedule: AugmentationSchedule
            do {
                schedule = try AugmentationSchedule(reading: text, learnedEpochs: scheduleEpochs, context: context)
                try schedule.validateOperations()
            } catch {
                throw ValidationError("--schedule \(path): \(error)")
            }
            if text.trimmingCharacters(in: .whitespacesAndNewlines).hasPrefix("{") { documents.append(schedule) }
            for c in try Candidate.withAblations(schedule, name: name, epochs: epochs, ablations: ablations) {
                guard names.insert(c.name).inserted else { throw ValidationError("two candidates are named '\(c.name)': use NAME=FILE") }
                result.append(c)
            }
        }
        for name in parsedBaselineNames {
            let b: Baseline
            do { b = try Baseline(name: name) } catch { throw ValidationError("--baselines: \(error)") }
            guard names.insert(b.name).inserted else { throw ValidationError("candidate '\(b.name)' is given twice") }
            result.append(.baseline(b))
        }
        // Every schedule of an evaluation shares one base augmentation; say so when a schedule
        // was learned with another one.
        let used = base.value, cutout = resolvedScheduleCutout(documents)
        for (document, candidate) in zip(documents, result.filter { $0.kind == .schedule }) {
            let own = document.baseAugmentation
            if own.padding != used.padding || own.horizontalFlip != used.flip || own.cutoutSize != cutout {
                logger?.warning("schedule \(candidate.name) was learned with pad \(own.padding), flip \(own.horizontalFlip), Cutout \(own.cutoutSize); this evaluation trains it with pad \(used.padding), flip \(used.flip), Cutout \(cutout) (--padding, --flip, --schedule-cutout set it)")
            }
        }
        return (result, documents)
    }

    /// "; c1k-aa and its ablations stack their policies on autoaugment" for schedules learned on
    /// a foundation, which they carry and apply (so they are not the same recipe as the others).
    func foundationNote(candidates: [Candidate], documents: [AugmentationSchedule]) -> String {
        let scheduleNames = candidates.filter { $0.kind == .schedule }.map(\.name)
        var notes: [String] = []
        for (document, name) in zip(documents, scheduleNames) {
            if let f = document.baseAugmentation.foundation { notes.append("\(name) and its ablations stack their policies on \(f)") }
        }
        return notes.isEmpty ? "" : "; " + notes.joined(separator: "; ")
    }

    func evaluate(_ logger: Logger) throws -> Int32 {
        let (candidates, documents) = try candidatesAndDocuments(logger: logger)
        logger.info("loading \(data)")
        let (train, test) = try DataSource(parsing: data).load()
        let trainImages = trainSize ?? train.count
        guard trainImages + (validationSize ?? 0) <= train.count else {
            throw ValidationError("--train-size \(trainImages)\(validationSize.map { " + --validation-size \($0)" } ?? "") exceeds the \(train.count) training images of \(data)")
        }
        // Scored on held-out training images when asked, else on the test set.
        let heldOutLabels: [Int32]
        if let v = validationSize {
            heldOutLabels = try DataSplit(train, trainSize: trainImages, validationSize: v, seed: 0).validation.labels
        } else {
            heldOutLabels = test.labels
        }
        let parsed = try ModelSpec.parse(model, form: ModelSpec.Form(rawValue: form))
        let spec = try ModelSpec(depth: parsed.depth, widen: parsed.widen, form: parsed.form, height: train.height, width: train.width,
                                 channels: train.channels, classes: train.classCount)
        var options = TrainingOptions()
        options.epochs = epochs
        options.batchSize = batchSize
        options.sgd.learningRate = learningRate
        let b = base.value
        let scheduleCutoutUsed = resolvedScheduleCutout(documents)
        var job = JobDescription(data: data, trainSize: trainImages, validationSize: validationSize ?? 0, splitSeed: 0, model: spec, options: options,
                                 padding: b.padding, flip: b.flip, cutout: b.cutout, dataFingerprint: dataFingerprint(train: train, test: test))
        if scheduleCutoutUsed != b.cutout { job.scheduleCutout = scheduleCutoutUsed }
        job.worker = try workerIdentity.identity()
        let seedList = try SeedList.parse(seeds)
        let db = try store.open()
        let runId = "evaluation of \(candidates.count) candidates × \(seedList.count) seeds"
        let work = try EvaluationWork(store: db, runId: runId, job: job, candidates: candidates, seeds: seedList, logger: logger)
        let total = work.cells.count
        let machine = machineDescription()
        let localPrefix = "local-\(ProcessInfo.processInfo.processIdentifier)-"
        work.workerLabel = { $0.hasPrefix(localPrefix) ? "\($0) on \(machine)" : $0 }
        var importedCells = 0
        for path in importCells {
            guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("--import-cells: cannot read \(path)") }
            let archive = try CellArchive.read(data, source: path, expectedClasses: spec.classes, heldOutImages: heldOutLabels.count)
            let (imported, skipped) = try work.importCells(archive, source: path)
            importedCells += imported
            logger.info("imported \(imported) cells from \(path)\(skipped > 0 ? " (\(skipped) skipped: already here, or not a candidate and seed of this evaluation)" : "")")
        }
        func writeArchive() throws {
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            try work.archive().jsonData().write(to: URL(fileURLWithPath: out).appendingPathComponent("cells.json"))
        }
        logger.info("\(candidates.count) candidates (\(candidates.map(\.name).joined(separator: ", "))) × \(seedList.count) seeds (\(seedList.map(String.init).joined(separator: ","))) = \(total) cells; \(work.alreadyDone) already in \(store.db) (job key \(work.jobKey))")
        let started = Date()
        var trainedHere = 0
        work.onCellFinished = { cell, result in
            trainedHere += 1
            let done = work.finished.count
            let rate = Date().timeIntervalSince(started) / Double(trainedHere)
            logger.info("\(done)/\(total): \(cell.candidate.name) seed \(cell.seed): \(validationSize == nil ? "test" : "validation") error \(String(format: "%.2f", 100 * (1 - result.testAccuracy)))% (\(formatDuration(result.seconds)) on \(result.worker ?? "?")); ETA \(formatDuration(rate * Double(total - done)))")
        }
        if work.finished.count < total {
            let settings = coordinatorSettings(bind: bind, heartbeatMs: 1000, workerTimeoutMs: 15_000,
                                               maxFrameBytes: WireCodec.defaultMaximumFrameSize, curve: try security.curve())
            let coordinator = try CoordinatorService(work: work, settings: settings, logger: logger)
            try coordinator.bind()
            if let identity = job.worker { logger.notice("cells take \(identity): start `\(identity.startCommand(endpoint: coordinator.boundEndpoint))`") }
            let children = try LocalWorkers(count: workers, endpoint: coordinator.boundEndpoint, threads: workerThreads, logger: logger)
            defer { children.finish() }
            if case .stopped = try coordinator.run(stopRequested: { stopRequested.load(ordering: .relaxed) }) {
                try writeArchive()
                logger.notice("stopped with \(work.finished.count)/\(total) cells done; the same command resumes (finished cells are kept in \(store.db), and in \(out)/cells.json for --import-cells elsewhere)")
                return 0
            }
        }
        var recipe = EvaluationRecipe(
            data: data, model: spec.name, epochs: epochs, trainingImages: trainImages,
            trainingImagesDescription: trainImages == train.count ? "the full training set"
                : "the first \(trainImages) of the training set's seed-0 shuffle: the train + validation images of a seed-0 search of that size",
            testImages: heldOutLabels.count,
            baseAugmentation: "pad \(b.padding) + random crop, \(b.flip ? "horizontal flip" : "no flip"), Cutout \(b.cutout)"
                + (job.scheduleCutout.map { "; schedules and their ablations: Cutout \($0 == 0 ? "none" : String($0)) (what they were learned with)" } ?? "")
                + foundationNote(candidates: candidates, documents: documents),
            optimizer: "SGD Nesterov lr \(learningRate) cosine to 0 per step, weight decay \(options.sgd.weightDecay), batch \(batchSize)",
            heldOut: validationSize == nil ? .test : .validation,
            commandLine: shellCommandLine(CommandLine.arguments), gitRevision: GitRevision.current)
        if importedCells > 0 {
            recipe.cellSources = "\(importedCells) of \(total) imported with --import-cells (trained by an earlier run of this evaluation), \(total - importedCells) trained or found in the store by this one; cells.csv names each cell's worker and, for local workers, its CPU"
        }
        let report = try EvaluationReport(recipe: recipe, candidates: candidates, seeds: seedList, results: work.finished.values.map { $0 },
                                          labels: heldOutLabels, bootstrapResamples: bootstrapResamples)
        try report.write(to: out, title: title, cells: work.results)
        try writeArchive()
        print(report.markdown(title: title))
        print("report: \(out)/report.md (also summary.csv, comparisons.csv, cells.csv, chart.svg, cells.json)")
        return 0
    }
}
