import Foundation
import Augment
import Schedule
import Search
import Store

/// Everything the dashboard shows about one run, read from the store at one moment. The
/// search state is rebuilt from the run's events exactly as a restarting coordinator does, so
/// the page shows what the coordinator knows, not an approximation of it.
public struct RunSnapshot: Sendable {
    public var record: RunRecord
    public var configuration: SearchConfiguration
    public var search: PopulationSearch
    public var intervals: [IntervalRecord]
    public var perturbations: [PerturbationRow]
    public var checkpoints: [CheckpointRecord]
    /// The latest schedule document the run stored (when it finished), if any.
    public var scheduleDocument: String?
    public var setup: RunSetupSummary
    /// The coordinator's worker sessions (joined, last heard from, left); they change without a
    /// search event, so `DashboardData` reads them on every request.
    public var workerSessions: [WorkerSessionRecord]

    public init(record: RunRecord, configuration: SearchConfiguration, search: PopulationSearch, intervals: [IntervalRecord],
                perturbations: [PerturbationRow], checkpoints: [CheckpointRecord], scheduleDocument: String?,
                workerSessions: [WorkerSessionRecord] = []) {
        self.record = record; self.configuration = configuration; self.search = search; self.intervals = intervals
        self.perturbations = perturbations; self.checkpoints = checkpoints; self.scheduleDocument = scheduleDocument
        self.workerSessions = workerSessions
        self.setup = RunSetupSummary(trainingConfiguration: record.trainingConfiguration)
    }
}

/// What the run's stored training configuration says in a few words. The store keeps that JSON
/// opaque (the `pba` command owns its shape), so it is read loosely: a field that is missing or
/// of another shape is shown as unknown rather than failing the page.
public struct RunSetupSummary: Hashable, Sendable, Codable {
    public var preset: String?
    public var data: String?
    public var model: String?
    public var trainImages: Int?
    public var validationImages: Int?

    public init(trainingConfiguration json: String) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else { return }
        let plan = object["plan"] as? [String: Any]
        let job = object["job"] as? [String: Any]
        preset = plan?["preset"] as? String
        data = job?["data"] as? String
        trainImages = job?["trainSize"] as? Int
        validationImages = job?["validationSize"] as? Int
        if let model = job?["model"] as? [String: Any], let depth = model["depth"] as? Int, let widen = model["widen"] as? Int {
            let form = (model["form"] as? String).map { " (\($0))" } ?? ""
            self.model = "wrn-\(depth)-\(widen)\(form)"
        }
    }
}

/// A policy in a few words: the operations that can apply, strongest first.
public struct PolicySummary: Hashable, Sendable, Codable {
    public struct Tuple: Hashable, Sendable, Codable {
        public var operation: String
        /// 0…1.
        public var probability: Double
        public var magnitude: Int
    }
    /// Tuples with probability > 0, by probability then layout order.
    public var active: [Tuple]
    public var values: [Int]
    /// The member's own foundation (`Policy.foundation`); nil, and absent from the JSON: the run's.
    public var foundation: String?

    public init(_ policy: Policy) {
        values = policy.values
        foundation = policy.foundation?.name
        active = policy.tuples.filter { $0.probability > 0 }
            .sorted { $0.probability != $1.probability ? $0.probability > $1.probability : $0.operation < $1.operation }
            .map { Tuple(operation: policy.operations.names[$0.operation], probability: Double($0.probability) / 10, magnitude: $0.magnitude) }
    }

    /// "Rotate p0.3 m7, Cutout p0.2 m4 +3 more", or "no operation" for the zero policy.
    /// On a member's own foundation: "autoaugment + Rotate p0.3 m7", "autoaugment alone".
    public func text(limit: Int = 3) -> String {
        guard !active.isEmpty else { return foundation.map { "\($0) alone" } ?? "no operation" }
        let shown = active.prefix(limit).map { "\($0.operation) p\(String(format: "%.1f", $0.probability)) m\($0.magnitude)" }
        return (foundation.map { "\($0) + " } ?? "") + shown.joined(separator: ", ") + (active.count > limit ? " +\(active.count - limit) more" : "")
    }
}

/// One member's row of the population table.
public struct MemberRow: Hashable, Sendable, Codable {
    public var member: Int
    public var completedEpochs: Int
    public var latestValidationAccuracy: Double?
    /// ready, training, waiting, finished.
    public var activity: String
    /// The assignment it trains now and on which worker, when training.
    public var assignment: Int64?
    public var worker: String?
    public var copies: Int
    public var policy: PolicySummary
}

/// A member's validation accuracy after each of its finished intervals.
public struct AccuracyPoint: Hashable, Sendable, Codable {
    public var epoch: Int
    public var accuracy: Double
}

/// One perturbation as the log shows it.
public struct PerturbationEntry: Hashable, Sendable, Codable {
    public var sequence: Int64
    public var recordedAt: Date
    public var target: Int
    public var source: Int
    public var targetEpoch: Int
    public var sourceEpoch: Int
    /// The target's accuracy when it was replaced and the source's it copied (nil when unknown).
    public var targetAccuracy: Double?
    public var sourceAccuracy: Double?
    public var sourcePolicy: PolicySummary
    public var newPolicy: PolicySummary
    /// Operations whose integers explore changed.
    public var changedOperations: [String]
}

/// One stretch of the current best member's history: which member's weights trained which
/// epochs with which policy (a lineage is a path through the population, segment by segment).
public struct LineageStep: Hashable, Sendable, Codable {
    public var member: Int
    public var startEpoch: Int
    public var endEpoch: Int
    public var policy: PolicySummary
}

/// What the store says about a worker: its session with the coordinator (host, kind, threads,
/// last heard from, whether and why it left) and the intervals it was given (throughput, idle).
/// Without a session (a store from before sessions were recorded) the host is read from the id,
/// HOSTNAME-PID (remote) or local-PID-N (a `pba search` child).
public struct WorkerRow: Hashable, Sendable, Codable {
    public var id: String
    public var host: String
    /// The worker kind it declared ("swift", "pytorch"); "unknown" without a session.
    public var kind: String
    public var threads: Int?
    public var status: Status
    /// Where the worker stands with its coordinator, from its session (a string in the JSON API).
    public enum Status: String, Hashable, Sendable, Codable {
        /// Heard from within `WorkerRow.silentAfter`.
        case connected
        /// An open session not heard from since: the coordinator or the worker may be gone.
        case silent
        /// The session was closed (see `leftReason`).
        case left
        /// No session recorded (a store from before sessions were).
        case unknown
    }
    public var leftReason: String?
    /// The latest message the coordinator recorded from it (heartbeats included).
    public var lastHeartbeat: Date?
    public var finished: Int
    public var inHand: Int
    public var epochsPerMinute: Double?
    /// Fraction of its span (first assignment to latest activity) outside assignments:
    /// waiting for work and transfers.
    public var idleFraction: Double?
    public var lastActivity: Date

    /// An open session not heard from for this long is "silent": three session writes missed,
    /// and more than the coordinator's 15 s worker timeout.
    public static let silentAfter: TimeInterval = 20
}

/// The run page's content: pure values computed from a snapshot at `now`.
public struct RunView: Sendable {
    public var snapshot: RunSnapshot
    public var now: Date
    public var members: [MemberRow]
    /// Per member, in epoch order.
    public var curves: [Int: [AccuracyPoint]]
    public var perturbations: [PerturbationEntry]
    public var bestMember: Int?
    public var bestAccuracy: Double?
    public var lineage: [LineageStep]
    /// The policy of every epoch the current best member's weights were trained with: the
    /// schedule so far.
    public var schedule: [Policy]
    public var workers: [WorkerRow]
    public var progress: Progress

    public struct Progress: Hashable, Sendable, Codable {
        public var memberEpochsDone: Int
        public var memberEpochsTotal: Int
        public var intervalsFinished: Int
        public var intervalsInFlight: Int
        /// Member-epochs per second over the latest finished intervals.
        public var rate: Double?
        public var etaSeconds: Double?
        public var fraction: Double { memberEpochsTotal > 0 ? Double(memberEpochsDone) / Double(memberEpochsTotal) : 0 }
    }

    public var operationNames: [String] { snapshot.configuration.operations.names }

    public init(_ snapshot: RunSnapshot, now: Date) {
        self.snapshot = snapshot
        self.now = now
        let search = snapshot.search
        let inFlight = Dictionary(snapshot.intervals.filter { $0.finishedAt == nil }.map { ($0.assignmentId, $0) }, uniquingKeysWith: { a, _ in a })
        members = search.members.map { m in
            var activity = "ready", assignment: Int64?, worker: String?
            switch m.activity {
            case .ready: activity = "ready"
            case let .training(id):
                activity = "training"
                assignment = Int64(bitPattern: id.rawValue)
                worker = inFlight[Int64(bitPattern: id.rawValue)]?.worker
            case .waitingForPopulation: activity = "waiting"
            case .finished: activity = "finished"
            }
            let accuracy = m.latestAccuracy.flatMap { $0.isFinite ? $0 : nil }
            return MemberRow(member: m.index, completedEpochs: m.completedEpochs, latestValidationAccuracy: accuracy, activity: activity,
                             assignment: assignment, worker: worker, copies: m.perturbationCount, policy: PolicySummary(m.policy))
        }
        var curves: [Int: [AccuracyPoint]] = [:]
        for i in snapshot.intervals {
            guard i.finishedAt != nil, let a = i.validationAccuracy, a.isFinite else { continue }
            curves[i.member, default: []].append(AccuracyPoint(epoch: i.epochEnd, accuracy: a))
        }
        for k in curves.keys { curves[k]!.sort { $0.epoch < $1.epoch } }
        self.curves = curves
        func accuracy(_ member: Int, at epoch: Int) -> Double? { curves[member]?.last { $0.epoch == epoch }?.accuracy }
        let operations = snapshot.configuration.operations
        perturbations = snapshot.perturbations.map { p in
            let old = Self.policy(p.sourcePolicy, operations), new = Self.policy(p.newPolicy, operations)
            var changed: [String] = []
            if let old, let new {
                let n = operations.count
                for op in 0..<n where [2 * op, 2 * op + 1, 2 * n + 2 * op, 2 * n + 2 * op + 1].contains(where: { old.values[$0] != new.values[$0] }) {
                    changed.append(operations.names[op])
                }
            }
            return PerturbationEntry(sequence: p.sequence, recordedAt: p.recordedAt, target: p.target, source: p.source,
                                     targetEpoch: p.targetEpoch, sourceEpoch: p.sourceEpoch,
                                     targetAccuracy: accuracy(p.target, at: p.targetEpoch), sourceAccuracy: accuracy(p.source, at: p.sourceEpoch),
                                     sourcePolicy: PolicySummary(old ?? Policy(zeroFor: operations)),
                                     newPolicy: PolicySummary(new ?? Policy(zeroFor: operations)), changedOperations: changed)
        }
        // The current best: the search's outcome once finished, else the member with the best
        // latest validation accuracy (ties: lowest index, as the outcome breaks them).
        let best: PopulationMember?
        if let outcome = search.outcome {
            best = search.members.first { $0.index == outcome.bestMember }
            bestAccuracy = outcome.validationAccuracy
        } else {
            best = search.members.filter { $0.latestAccuracy?.isFinite == true }
                .max { ($0.latestAccuracy!, -$0.index) < ($1.latestAccuracy!, -$1.index) }
            bestAccuracy = best?.latestAccuracy
        }
        bestMember = best?.index
        if let best {
            let lineage = search.outcome?.lineage ?? best.lineage
            schedule = lineage.epochPolicies
            var steps: [LineageStep] = []
            for (i, segment) in lineage.segments.enumerated() where segment.epochCount > 0 || i == lineage.segments.count - 1 {
                // Segment 0 was trained by the first copy's source; segment i > 0 by copy i's target.
                let trainer = i == 0 ? (lineage.perturbations.first?.source ?? best.index) : lineage.perturbations[i - 1].target
                steps.append(LineageStep(member: trainer, startEpoch: segment.startEpoch, endEpoch: segment.endEpoch, policy: PolicySummary(segment.policy)))
            }
            self.lineage = steps
        } else {
            schedule = []
            lineage = []
        }
        workers = Self.workers(snapshot.intervals, sessions: snapshot.workerSessions, now: now)
        let done = search.members.map(\.completedEpochs).reduce(0, +)
        let total = snapshot.configuration.populationSize * snapshot.configuration.epochs
        let finished = snapshot.intervals.filter { $0.finishedAt != nil }
        let running = snapshot.record.status == .running
        // The rate over the latest 32 finished intervals: a resumed run's stopped hours and a
        // slow first interval (data loading) do not skew the estimate for long.
        let recent = finished.sorted { $0.finishedAt! < $1.finishedAt! }.suffix(32)
        var rate: Double?
        if let first = recent.map(\.startedAt).min(), let last = recent.last?.finishedAt, last > first {
            rate = Double(recent.map { $0.epochEnd - $0.epochStart }.reduce(0, +)) / last.timeIntervalSince(first)
        }
        let eta = running && search.outcome == nil ? rate.map { Double(max(0, total - done)) / $0 } : nil
        progress = Progress(memberEpochsDone: done, memberEpochsTotal: total, intervalsFinished: finished.count,
                            intervalsInFlight: running ? search.assignments.filter { $0.status == .inFlight }.count : 0,
                            rate: rate, etaSeconds: eta)
    }

    static func policy(_ json: String, _ operations: OperationSet) -> Policy? {
        guard let values = try? JSONDecoder().decode([Int].self, from: Data(json.utf8)) else { return nil }
        return try? Policy(values: values, operations: operations)
    }

    /// Workers as their sessions and intervals describe them: connected ones first, then the
    /// most recently active.
    static func workers(_ intervals: [IntervalRecord], sessions: [WorkerSessionRecord], now: Date) -> [WorkerRow] {
        var rows: [WorkerRow] = []
        let byWorker = Dictionary(grouping: intervals.filter { $0.worker != nil }, by: { $0.worker! })
        let sessionOf = Dictionary(sessions.map { ($0.workerId, $0) }, uniquingKeysWith: { a, _ in a })
        for id in Set(byWorker.keys).union(sessionOf.keys) {
            let given = byWorker[id] ?? []
            let session = sessionOf[id]
            let finished = given.filter { $0.finishedAt != nil }
            let last = given.map { $0.finishedAt ?? $0.startedAt }.max() ?? session?.lastSeenAt ?? now
            let first = given.map(\.startedAt).min() ?? now
            let busy = finished.map { $0.finishedAt!.timeIntervalSince($0.startedAt) }.reduce(0, +)
                + given.filter { $0.finishedAt == nil }.map { now.timeIntervalSince($0.startedAt) }.reduce(0, +)
            let span = (given.contains { $0.finishedAt == nil } ? now : last).timeIntervalSince(first)
            let epochs = finished.map { $0.epochEnd - $0.epochStart }.reduce(0, +)
            let status: WorkerRow.Status
            if let session {
                status = session.leftAt != nil ? .left : now.timeIntervalSince(session.lastSeenAt) > WorkerRow.silentAfter ? .silent : .connected
            } else {
                status = .unknown
            }
            rows.append(WorkerRow(id: id, host: session?.hostname ?? host(ofWorker: id), kind: session?.kind ?? "unknown",
                                  threads: session?.threads, status: status, leftReason: session?.leftReason,
                                  lastHeartbeat: session?.lastSeenAt, finished: finished.count,
                                  inHand: given.count - finished.count,
                                  epochsPerMinute: span > 0 && !finished.isEmpty ? Double(epochs) / span * 60 : nil,
                                  idleFraction: span > 0 ? min(1, max(0, 1 - busy / span)) : nil,
                                  lastActivity: last))
        }
        return rows.sorted {
            let (a, b) = ($0.status == .connected, $1.status == .connected)
            if a != b { return a }
            return $0.lastActivity != $1.lastActivity ? $0.lastActivity > $1.lastActivity : $0.id < $1.id
        }
    }

    /// HOSTNAME-PID → HOSTNAME; local-PID-N → "this machine (local)"; anything else as is.
    public static func host(ofWorker id: String) -> String {
        if id.hasPrefix("local-") { return "local (the search's machine)" }
        if let dash = id.lastIndex(of: "-"), id[id.index(after: dash)...].allSatisfy(\.isNumber), dash != id.startIndex {
            return String(id[..<dash])
        }
        return id
    }
}

/// One line of the runs list.
public struct RunSummary: Hashable, Sendable, Codable {
    public var id: String
    public var status: String
    public var createdAt: Date
    public var finishedAt: Date?
    public var setup: RunSetupSummary
    public var members: Int
    public var epochs: Int
    public var progress: RunView.Progress
    public var bestMember: Int?
    public var bestValidationAccuracy: Double?

    public init(_ view: RunView) {
        let s = view.snapshot
        id = s.record.id; status = s.record.status.rawValue; createdAt = s.record.createdAt; finishedAt = s.record.finishedAt
        setup = s.setup; members = s.configuration.populationSize; epochs = s.configuration.epochs
        progress = view.progress; bestMember = view.bestMember; bestValidationAccuracy = view.bestAccuracy
    }
}
