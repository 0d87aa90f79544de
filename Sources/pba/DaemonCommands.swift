import ArgumentParser
import Foundation
import Logging
import Coordinator
import Engine
import Schedule
import Search
import Store
import Tensor
import Wire
import Worker

struct CoordinatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Serve a population search to workers over ZeroMQ (the systemd service).",
        discussion: """
        Resumes the newest unfinished run in --db, or creates one from the plan options. Workers \
        connect with `pba worker --connect tcp://HOST:PORT`. SIGTERM/SIGINT stop handing out work, \
        tell workers to leave, and exit 0; the run resumes when the coordinator starts again.
        """)

    @OptionGroup var store: StoreOptions
    @OptionGroup var plan: PlanOptions
    @Option(help: "ZeroMQ endpoint to bind, e.g. tcp://*:5555 or ipc:///run/pba/coordinator.")
    var bind: String = "tcp://127.0.0.1:5555"
    @Option(help: "Heartbeat interval in milliseconds.")
    var heartbeatMs: Int = 1000
    @Option(help: "Drop a worker silent this long (milliseconds) and requeue its work.")
    var workerTimeoutMs: Int = 15_000
    @Option(help: "Write the learned schedule (JSON and SVG) into this directory when the run finishes (default runs/<run-id>).")
    var out: String?
    @Option(help: "Largest frame accepted from a worker, in MiB (a peer sending more is disconnected).")
    var maxFrameMb: Int = 1024
    @OptionGroup var security: ListenSecurityOptions
    @OptionGroup var dashboard: DashboardOptions
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        guard maxFrameMb >= 1, maxFrameMb <= 4096 else { throw ValidationError("--max-frame-mb must be 1...4096, got \(maxFrameMb)") }
        guard heartbeatMs >= 10, workerTimeoutMs > heartbeatMs else { throw ValidationError("--heartbeat-ms must be ≥ 10 and below --worker-timeout-ms") }
        try security.check(bind: bind)
    }

    func run() async throws {
        let logger = compute.apply(label: "pba.coordinator")
        installStopHandlers(logger)
        let code = try await withFailureLogged(logger) {
            try serveSearch(storeOptions: store, plan: try plan.plan(), bind: bind, heartbeatMs: heartbeatMs,
                            workerTimeoutMs: workerTimeoutMs, maxFrameBytes: maxFrameMb << 20, curve: try security.curve(), out: out,
                            localWorkers: 0, workerThreads: 1, threads: compute.threads, dashboard: dashboard, logger: logger)
        }
        if code != 0 { throw ExitCode(code) }
    }
}

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Train assignments for a coordinator.",
        discussion: """
        Connects to a coordinator, loads the run's data once (the coordinator says which), and \
        trains assignments until the run ends. SIGTERM/SIGINT: finish the assignment in hand, send \
        its result, and leave (a second signal leaves at once).
        """)

    @Option(help: "Coordinator endpoint, e.g. tcp://coordinator.example:5555.")
    var connect: String
    @Option(help: "Worker id (default: HOSTNAME-PID).")
    var id: String?
    @Option(help: "Load the run's data from here instead (same data, another path); the fingerprint must match.")
    var data: String?
    @Option(help: "CURVE: this worker's key file (from `pba keygen`).")
    var curveKey: String?
    @Option(help: "CURVE: the coordinator's public key file (.pub).")
    var serverKey: String?
    /// Set by `pba search` for its local workers: leave at once when that process is gone.
    @Option(help: .hidden)
    var parentPid: Int32?

    func validate() throws {
        guard (curveKey == nil) == (serverKey == nil) else { throw ValidationError("CURVE needs both --curve-key and --server-key") }
    }
    @OptionGroup var compute: ComputeOptions

    func run() async throws {
        let logger = compute.apply(label: "pba.worker")
        installStopHandlers(logger)
        let workerId = id ?? "\(ProcessInfo.processInfo.hostName)-\(getpid())"
        var settings = WorkerService.Settings(endpoint: connect, workerId: workerId, threads: compute.threads, dataOverride: data)
        if let hb = ProcessInfo.processInfo.environment["PBA_HEARTBEAT_MS"].flatMap(Int.init) { settings.heartbeatMilliseconds = hb }
        if let curveKey, let serverKey {
            do {
                settings.curve = (try CurveKeyPair.read(path: curveKey, needSecret: true), try CurveKeyPair.read(path: serverKey, needSecret: false).publicKey)
            } catch {
                logger.error("\(error)")
                throw ExitCode.failure
            }
        }
        let service = WorkerService(settings: settings, logger: logger)
        let exit: WorkerService.Exit
        do {
            let parent = parentPid
            exit = try service.run(stopRequested: { stopRequested.load(ordering: .relaxed) },
                                   abortRequested: { abortRequested.load(ordering: .relaxed) || (parent.map { getppid() != $0 } ?? false) })
        } catch {
            logger.error("\(error)")
            throw ExitCode.failure
        }
        if case let .refused(reason) = exit {
            logger.error("refused by the coordinator: \(reason)")
            throw ExitCode.failure
        }
    }
}

struct SearchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Learn an augmentation schedule: a coordinator and local workers in one command.",
        discussion: """
        Presets:
          demo             Fashion-MNIST, WRN-10-1, 16 members, 30 epochs on 2 000 images (interval 3), mixed start, no fixed Cutout.
          reduced-cifar10  cifar10-mini (../shared/data/cifar10-mini), WRN-10-1, 16 members, 30 epochs on 4 000 images, mixed start, no fixed Cutout.
          paper            PBA's setup: reduced CIFAR-10 (4 000 images), WRN-40-2, 16 members, interval 3, 200 epochs, zero start, \
        fixed Cutout 16 (give --data cifar10:DIR); for many-core or GPU machines.
        Mixed start: a quarter of the members at the zero policy (with no fixed Cutout exactly the `base` pad-crop-flip \
        baseline), the rest sampled; Cutout is then one of the policy's operations, so "nothing beyond base" stays reachable.
        A second `pba search` on the same --db resumes the unfinished run. The schedule is written \
        to --out (default runs/<run-id>/schedule.json and .svg), never into the committed schedules/.
        """)

    @OptionGroup var store: StoreOptions
    @OptionGroup var plan: PlanOptions
    @Option(name: .customLong("workers"), help: "Local worker processes (default: one per core; none for a --worker-kind pytorch run).")
    var workersOption: Int?
    var workers: Int { workersOption ?? ProcessInfo.processInfo.activeProcessorCount }
    @Option(help: "Threads per local worker.")
    var workerThreads: Int = 1
    @Option(help: "Output directory for schedule.json and schedule.svg (default runs/<run-id>).")
    var out: String?
    @Option(help: "Endpoint for the local coordinator (default: a free loopback port).")
    var bind: String = "tcp://127.0.0.1:*"
    @Flag(help: "Print the plan and an estimated time from a short measurement, then exit.")
    var dryRun = false
    @OptionGroup var dashboard: DashboardOptions
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        guard workers >= 0, workers <= 256 else { throw ValidationError("--workers must be 0...256, got \(workers)") }
        guard workerThreads >= 1 else { throw ValidationError("--worker-threads must be ≥ 1") }
        if let n = workersOption, n > 0, let identity = try plan.workerIdentity.identity(), identity.kind != WorkerIdentity.swift.kind {
            throw ValidationError("--workers \(n): local workers are `pba worker` (Swift), which a --worker-kind \(identity.kind) run refuses; drop --workers and start `python -m pba_worker --connect ENDPOINT`")
        }
    }

    func run() async throws {
        let logger = compute.apply(label: "pba.search")
        let resolvedPlan = try plan.plan()
        if dryRun {
            try printDryRun(resolvedPlan, logger: logger)
            return
        }
        installStopHandlers(logger)
        let code = try await withFailureLogged(logger) {
            try serveSearch(storeOptions: store, plan: resolvedPlan, bind: bind, heartbeatMs: 1000, workerTimeoutMs: 15_000,
                            maxFrameBytes: WireCodec.defaultMaximumFrameSize, curve: nil, out: out, localWorkers: workers, workerThreads: workerThreads, threads: compute.threads,
                            dashboard: dashboard, logger: logger)
        }
        if code != 0 { throw ExitCode(code) }
    }

    func printDryRun(_ plan: RunPlan, logger: Logger) throws {
        let (train, test) = try DataSource(parsing: plan.dataSource).load()
        let (job, config) = try plan.resolve(train: train, test: test)
        print("plan: \(plan.preset.rawValue) — \(config.populationSize) × \(job.model) on \(job.data)")
        print("      \(job.trainSize) training and \(job.validationSize) validation images, \(config.epochs) epochs, interval \(config.perturbationInterval), \(config.mode.rawValue), seed \(config.seed)")
        print("      batch \(job.options.batchSize), lr \(job.options.sgd.learningRate) cosine, base augmentation pad \(job.padding) flip \(job.flip) cutout \(job.cutout)")
        print("      \(workers) local workers × \(workerThreads) thread(s)")
        ComputeThreads.set(workerThreads)
        let trainer = Trainer(spec: job.model, options: job.options)
        let x = Tensor(shape: [job.options.batchSize, job.model.height, job.model.width, job.model.channels])
        var g = SeededGenerator(seed: 1)
        for i in 0..<x.count { x[i] = Float(g.nextGaussian()) }
        let batch = Batch(images: x, labels: (0..<job.options.batchSize).map { _ in Int32(g.nextInt(below: job.model.classes)) })
        _ = trainer.trainStep(batch, totalSteps: 100)
        let clock = ContinuousClock()
        let start = clock.now
        for _ in 0..<3 { _ = trainer.trainStep(batch, totalSteps: 100) }
        let perImage = seconds(clock.now - start) / Double(3 * job.options.batchSize)
        let trainImages = Double(config.populationSize * config.epochs * job.trainSize)
        let evalImages = Double(config.populationSize * ((config.epochs + config.perturbationInterval - 1) / config.perturbationInterval) * job.validationSize) / 3
        let total = (trainImages + evalImages) * perImage / Double(max(1, workers))
        print(String(format: "measured: %.0f img/s per worker (training step, %d thread(s))", 1 / perImage, workerThreads))
        print("estimate: \(formatDuration(total)) with \(workers) workers (augmentation and transfers not included)")
    }
}

/// True for ipc://, inproc:// and TCP endpoints on a loopback address.
func isLocalEndpoint(_ endpoint: String) -> Bool {
    if endpoint.hasPrefix("ipc://") || endpoint.hasPrefix("inproc://") { return true }
    guard endpoint.hasPrefix("tcp://") else { return false }
    let host = endpoint.dropFirst(6).split(separator: ":").dropLast().joined(separator: ":")
    return host.hasPrefix("127.") || host == "localhost" || host == "[::1]" || host == "::1"
}

/// How a coordinator's socket is protected when workers on other machines may connect: CURVE
/// keys, or an explicit --insecure (shared by `pba coordinator` and `pba evaluate`).
struct ListenSecurityOptions: ParsableArguments {
    @Option(help: "CURVE: the coordinator's key file (from `pba keygen`); turns encryption on.")
    var curveKey: String?
    @Option(help: "CURVE: allowed worker public keys, a .pub file or a directory of them (repeatable).")
    var allow: [String] = []
    @Flag(help: "Allow an unencrypted bind on a non-loopback address.")
    var insecure = false

    func check(bind: String) throws {
        if curveKey == nil && !insecure && !isLocalEndpoint(bind) {
            throw ValidationError("--bind \(bind) is reachable from other machines: give --curve-key and --allow (see `pba keygen`), or --insecure on a trusted network")
        }
        if curveKey != nil && allow.isEmpty { throw ValidationError("--curve-key needs at least one --allow with worker public keys") }
    }

    func curve() throws -> (keys: CurveKeyPair, allowedWorkers: [String])? {
        guard let curveKey else { return nil }
        return (try CurveKeyPair.read(path: curveKey, needSecret: true), try allowedKeys(allow))
    }
}

/// Public keys from .pub files or directories of them.
func allowedKeys(_ paths: [String]) throws -> [String] {
    var keys: [String] = []
    for path in paths {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw ValidationError("--allow: \(path) does not exist") }
        let files = isDirectory.boolValue
            ? try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".pub") }.map { path + "/" + $0 }
            : [path]
        for f in files { keys.append(try CurveKeyPair.read(path: f, needSecret: false).publicKey) }
    }
    return keys
}

struct KeygenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Write a CURVE key pair: NAME.key (secret, mode 0600) and NAME.pub (give to the other side).")
    @Argument(help: "Path prefix, e.g. /etc/pba/coordinator.") var name: String
    func run() async throws {
        let pair = try CurveKeyPair.generate()
        let keyPath = name + ".key", pubPath = name + ".pub"
        guard !FileManager.default.fileExists(atPath: keyPath) else { throw ValidationError("\(keyPath) exists; not overwriting a key") }
        guard FileManager.default.createFile(atPath: keyPath, contents: Data(pair.fileText.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw ValidationError("cannot write \(keyPath)")
        }
        try Data(pair.publicFileText.utf8).write(to: URL(fileURLWithPath: pubPath))
        print("wrote \(keyPath) (secret) and \(pubPath) (public: \(pair.publicKey))")
    }
}

/// Runs `body`, logging a thrown error and turning it into exit code 1.
func withFailureLogged(_ logger: Logger, _ body: () throws -> Int32) async throws -> Int32 {
    do { return try body() } catch let e as ExitCode { throw e } catch let e as ValidationError {
        logger.error("\(e.message)")
        return 1
    } catch {
        logger.error("\(error)")
        return 1
    }
}

/// The body of `pba search` and `pba coordinator`: prepare the run, start local workers, serve
/// until done or stopped, write the schedule. Returns the process exit code.
func serveSearch(storeOptions: StoreOptions, plan: RunPlan, bind: String, heartbeatMs: Int, workerTimeoutMs: Int, maxFrameBytes: Int,
                 curve: (keys: CurveKeyPair, allowedWorkers: [String])?, out: String?,
                 localWorkers: Int, workerThreads: Int, threads: Int, dashboard: DashboardOptions, logger: Logger) throws -> Int32 {
    let store = try storeOptions.open()
    let prepared = try RunSetup.prepare(store: store, plan: plan, threads: threads, logger: logger)
    // The dashboard reads the store on its own read-only connections, as `pba dashboard` does.
    let dashboardTask = try dashboard.start(db: storeOptions.db, logger: logger)
    defer { dashboardTask?.cancel() }
    let settings = coordinatorSettings(bind: bind, heartbeatMs: heartbeatMs, workerTimeoutMs: workerTimeoutMs,
                                       maxFrameBytes: maxFrameBytes, curve: curve)
    let work = SearchWork(store: store, runId: prepared.runId, search: prepared.search, job: prepared.job,
                          scheduleContext: prepared.context, logger: logger)
    let coordinator = try CoordinatorService(work: work, settings: settings, logger: logger)
    try coordinator.bind()
    let progress = ProgressReporter(total: prepared.search.configuration.populationSize * prepared.search.configuration.epochs,
                                    alreadyDone: prepared.search.members.map(\.completedEpochs).reduce(0, +))
    coordinator.onChange = { progress.update($0) }
    let accepted = prepared.job.acceptedWorker
    if accepted != .swift {
        logger.notice("run \(prepared.runId) takes \(accepted): start `\(accepted.startCommand(endpoint: coordinator.boundEndpoint))` (no local Swift workers)")
    }
    let children = try LocalWorkers(count: accepted == .swift ? localWorkers : 0, endpoint: coordinator.boundEndpoint, threads: workerThreads, logger: logger)
    defer { children.finish() }
    let exit = try coordinator.run(stopRequested: { stopRequested.load(ordering: .relaxed) })
    switch exit {
    case .stopped:
        logger.notice("stopped; run \(prepared.runId) resumes with the same --db")
        return 0
    case let .finished(outcome):
        guard let document = try store.latestSchedule(run: prepared.runId) else { return 1 }
        let dir = out ?? ((storeOptions.db as NSString).deletingLastPathComponent.isEmpty ? "runs/\(prepared.runId)"
                                                                                           : (storeOptions.db as NSString).deletingLastPathComponent + "/\(prepared.runId)")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data(document.utf8).write(to: URL(fileURLWithPath: dir + "/schedule.json"))
        let schedule = try AugmentationSchedule.decode(jsonData: Data(document.utf8))
        try Data(try ScheduleRendering.svg(schedule).utf8).write(to: URL(fileURLWithPath: dir + "/schedule.svg"))
        print(try ScheduleRendering.table(schedule))
        print(String(format: "best member %d, validation accuracy %.2f%%", outcome.bestMember, outcome.validationAccuracy * 100))
        let search = work.search
        if let verdict = OutcomeVerdict(search: search) {
            print(winnerSummary(verdict, search: search))
        }
        print(exploitNoiseLine(ExploitNoiseSummary(search.exploitChecks)))
        print("schedule: \(dir)/schedule.json")
        print("plot:     \(dir)/schedule.svg")
        if let verdict = OutcomeVerdict(search: search) {
            print(verdictLine(verdict, job: prepared.job))
        }
        return 0
    }
}

func coordinatorSettings(bind: String, heartbeatMs: Int, workerTimeoutMs: Int, maxFrameBytes: Int,
                         curve: (keys: CurveKeyPair, allowedWorkers: [String])?) -> CoordinatorSettings {
    var settings = CoordinatorSettings(bind: bind)
    settings.heartbeatMilliseconds = heartbeatMs
    settings.workerTimeoutMilliseconds = workerTimeoutMs
    settings.maximumFrameSize = maxFrameBytes
    settings.curve = curve
    if let n = ProcessInfo.processInfo.environment["PBA_FAULT_EXIT_AFTER_RESULTS"].flatMap(Int.init) { settings.exitAfterResults = n }
    return settings
}

/// `pba worker` processes started next to an in-process coordinator, on this machine's cores.
struct LocalWorkers {
    var children: [Process] = []

    init(count: Int, endpoint: String, threads: Int, logger: Logger) throws {
        for i in 0..<count {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            p.arguments = ["worker", "--connect", endpoint, "--id", "local-\(getpid())-\(i)",
                           "--threads", "\(threads)", "--log-level", "warning", "--parent-pid", "\(getpid())"]
            try p.run()
            children.append(p)
        }
        if count > 0 { logger.info("started \(count) local workers (\(threads) thread(s) each)") }
    }

    /// Workers leave on the coordinator's BYE; give them a moment before asking again.
    func finish() {
        let deadline = Date().addingTimeInterval(5)
        while children.contains(where: \.isRunning) && Date() < deadline { usleep(50_000) }
        for c in children where c.isRunning { c.terminate() }
        for c in children { c.waitUntilExit() }
    }
}

/// Prints the population table every few seconds while a search runs.
final class ProgressReporter: @unchecked Sendable {
    let total: Int
    let alreadyDone: Int
    let started = Date()
    var lastPrint = Date.distantPast

    init(total: Int, alreadyDone: Int) {
        self.total = total
        self.alreadyDone = alreadyDone
    }

    func update(_ c: CoordinatorService<SearchWork>) {
        let now = Date()
        let search = c.work.search
        guard now.timeIntervalSince(lastPrint) >= 10 || search.outcome != nil else { return }
        lastPrint = now
        let members = search.members
        let done = members.map(\.completedEpochs).reduce(0, +)
        let rate = Double(done - alreadyDone) / max(1, now.timeIntervalSince(started))
        let eta = rate > 0 ? Double(total - done) / rate : .infinity
        var lines = [String(format: "progress: %d/%d member-epochs (%.0f%%), %d workers, %d perturbations, ETA %@",
                            done, total, 100 * Double(done) / Double(max(1, total)), c.workers.count, search.perturbations.count, formatDuration(eta))]
        lines.append("  member  epoch  val acc  active ops  mean p  mean m")
        for m in members {
            let tuples = m.policy.tuples.filter { $0.probability > 0 }
            let meanP = tuples.isEmpty ? 0 : Double(tuples.map(\.probability).reduce(0, +)) / Double(tuples.count) / 10
            let meanM = tuples.isEmpty ? 0 : Double(tuples.map(\.magnitude).reduce(0, +)) / Double(tuples.count)
            let acc = m.latestAccuracy.map { String(format: "%6.2f%%", $0 * 100) } ?? "     - "
            lines.append(String(format: "  %6d  %5d  %@  %10d  %6.2f  %6.1f", m.index, m.completedEpochs, acc, tuples.count, meanP, meanM))
        }
        FileHandle.standardError.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    }
}

/// The base augmentation of a job in a few words, e.g. "pad 4 + crop, flip, no Cutout", with
/// the foundation first when there is one ("autoaugment, then pad 4 + crop, ..."): the zero
/// policy of such a run is that baseline.
func baseDescription(_ job: JobDescription) -> String {
    var parts: [String] = []
    if let f = job.foundation { parts.append("\(f), then") }
    parts.append(job.padding > 0 ? "pad \(job.padding) + crop" : "no crop")
    parts.append(job.flip ? "flip" : "no flip")
    parts.append(job.cutout > 0 ? "Cutout \(job.cutout)" : "no Cutout")
    return parts.joined(separator: ", ").replacingOccurrences(of: "then,", with: "then")
}

/// The verdict line of a run: against its base augmentation, and against the `pba evaluate`
/// baseline its zero policy equals (its foundation, else `base`).
func verdictLine(_ v: OutcomeVerdict, job: JobDescription) -> String {
    v.line(base: baseDescription(job), baseline: job.foundation ?? "base")
}

/// Where the winner came from and whether its schedule differs from its start.
func winnerSummary(_ v: OutcomeVerdict, search: PopulationSearch) -> String {
    var start = v.startedAtZero ? "the zero policy" : "a sampled policy"
    if let f = search.outcome?.lineage.segments.first?.policy.foundation { start += " on \(f.name)" }
    var line = "winner: member \(v.winner), started from \(start), \(v.copies) cop\(v.copies == 1 ? "y" : "ies") in its lineage; "
    if v.scheduleIsEmpty {
        line += v.winnerFoundation.map { "its schedule is empty: the \($0.name) baseline alone (zero policy on it every epoch)" }
            ?? "its schedule is empty (zero policy every epoch)"
    } else if !v.changedFromStart {
        line += "its schedule is its starting policy unchanged (the search never perturbed it)"
    } else {
        line += "its schedule differs from its start"
    }
    if let b = v.baselineMember, let a = v.baselineAccuracy {
        var role = search.configuration.isControl(b) ? "the control: zero policy throughout, never exploited" : "zero policy throughout"
        if let f = v.baselineFoundation { role = "\(f.name), " + role }
        line += String(format: "\nfree baseline in the population: member %d (%@), validation accuracy %.2f%%", b, role, 100 * a)
    }
    return line
}

/// How many exploit decisions were decided by noise.
func exploitNoiseLine(_ s: ExploitNoiseSummary) -> String {
    guard s.decisions > 0 else { return "exploit: no copy decisions" }
    var line = "exploit: \(s.decisions) decisions, \(s.copies) copies, \(s.held) held back by the margin"
    if let p = s.meanReversalProbability {
        line += String(format: "; a second evaluation would reverse an estimated %.0f%% of them", 100 * p)
    }
    if s.halvesCompared > 0 {
        line += String(format: "; two halves of the validation set disagreed on %d of %d (%.0f%%)", s.halvesDisagreeing, s.halvesCompared,
                       100 * Double(s.halvesDisagreeing) / Double(s.halvesCompared))
    }
    line += "; \(s.withinOneStandardError) gaps were under one standard error"
    return line
}
