import Foundation
import GRDB
import Search
import Augment

/// The memory of pba: runs, their search events and everything derived from them, in SQLite.
///
/// A run's search state is rebuilt by replaying its events (`PopulationSearch.replay`); the
/// other tables (intervals, perturbations, checkpoints) are written in the same transaction as the
/// event that caused them, so a coordinator killed at any moment restarts from exactly the last
/// committed state. Production uses a `DatabasePool` in WAL mode; tests use an in-memory queue.
public final class Store: @unchecked Sendable {
    public let database: any DatabaseWriter
    public let checkpoints: CheckpointFiles
    /// Checkpoint files written but not yet referenced by a committed row: the sweep keeps them.
    private var pending: Set<String> = []
    private let lock = NSLock()

    /// Opens (creating if needed) a store at `path`, checkpoints in `path + ".checkpoints"`.
    public init(path: String) throws(StoreError) {
        var config = Configuration()
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            try db.execute(sql: "PRAGMA foreign_keys = ON")
        }
        config.busyMode = .timeout(10)
        do {
            let pool = try DatabasePool(path: path, configuration: config)
            try StoreMigrations.migrator.migrate(pool)
            database = pool
        } catch {
            throw .database("cannot open \(path): \(error)")
        }
        checkpoints = try CheckpointFiles(directory: path + ".checkpoints")
    }

    /// Opens an existing store for reading only (the dashboard, next to a live coordinator).
    ///
    /// SQLite enforces it: the connections are opened read-only, so no code path through this
    /// value can write the database, and no migration runs. In WAL mode readers see the last
    /// committed transaction and never block the writer (nor it them). A database whose schema
    /// is older or newer than this build's is refused rather than misread.
    public init(readOnlyPath path: String) throws(StoreError) {
        guard FileManager.default.fileExists(atPath: path) else { throw .io(path: path, reason: "no database here") }
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(10)
        do {
            let pool = try DatabasePool(path: path, configuration: config)
            let migrator = StoreMigrations.migrator
            let (applied, known) = try pool.read { db in (try migrator.appliedIdentifiers(db), migrator.migrations) }
            if let missing = known.first(where: { !applied.contains($0) }) {
                throw StoreError.database("\(path) has an older schema (missing migration '\(missing)'); open it once with `pba search` or `pba status` from this build")
            }
            if let unknown = applied.first(where: { !known.contains($0) }) {
                throw StoreError.database("\(path) was written by a newer pba (migration '\(unknown)')")
            }
            database = pool
        } catch let e as StoreError {
            throw e
        } catch {
            throw .database("cannot open \(path) read-only: \(error)")
        }
        checkpoints = CheckpointFiles(existingDirectory: path + ".checkpoints")
    }

    /// An in-memory store (tests), with checkpoint files in `checkpointDirectory`.
    public init(inMemoryWithCheckpointDirectory checkpointDirectory: String) throws(StoreError) {
        do {
            let queue = try DatabaseQueue()
            try StoreMigrations.migrator.migrate(queue)
            database = queue
        } catch {
            throw .database("\(error)")
        }
        checkpoints = try CheckpointFiles(directory: checkpointDirectory)
    }

    private func wrap<T>(_ body: () throws -> T) throws(StoreError) -> T {
        do { return try body() } catch let e as StoreError { throw e } catch { throw .database("\(error)") }
    }

    // MARK: runs

    public func createRun(_ run: RunRecord) throws(StoreError) {
        try wrap { try database.write { db in try run.insert(db) } }
    }

    public func runs() throws(StoreError) -> [RunRecord] {
        try wrap { try database.read { db in try RunRecord.order(RunRecord.Columns.createdAt).fetchAll(db) } }
    }

    public func run(id: String) throws(StoreError) -> RunRecord {
        let found = try wrap { try database.read { db in try RunRecord.fetchOne(db, key: id) } }
        guard let found else { throw .unknownRun(id) }
        return found
    }

    /// The most recent run still marked running or stopped, if any (what `pba search` resumes).
    public func unfinishedRun() throws(StoreError) -> RunRecord? {
        try wrap { try database.read { db in
            try RunRecord.filter([RunRecord.Status.running.rawValue, RunRecord.Status.stopped.rawValue].contains(RunRecord.Columns.status))
                .order(RunRecord.Columns.createdAt.desc).fetchOne(db)
        } }
    }

    public func setStatus(run id: String, _ status: RunRecord.Status, at date: Date = Date()) throws(StoreError) {
        try wrap { try database.write { db in
            guard var r = try RunRecord.fetchOne(db, key: id) else { throw StoreError.unknownRun(id) }
            r.status = status
            if status == .finished || status == .failed { r.finishedAt = date }
            try r.update(db)
        } }
    }

    /// Deletes a run and everything it owns; its checkpoint files go at the next sweep.
    public func deleteRun(id: String) throws(StoreError) {
        try wrap { try database.write { db in
            guard try RunRecord.deleteOne(db, key: id) else { throw StoreError.unknownRun(id) }
            try WorkerSessionRecord.filter(WorkerSessionRecord.Columns.runId == id).deleteAll(db)
        } }
        sweepCheckpointFiles()
    }

    // MARK: events

    /// What `commit` did.
    public enum CommitOutcome: Equatable, Sendable {
        case committed(sequence: Int64)
        /// A result for an assignment that already has one: nothing was written.
        case duplicateResult(AssignmentID)
    }

    /// A checkpoint produced by an assignment, already written with `writeCheckpoint`.
    public struct ProducedCheckpoint: Sendable {
        public var sha256: String
        public var size: Int
        public init(sha256: String, size: Int) { self.sha256 = sha256; self.size = size }
    }

    /// Writes checkpoint bytes durably (before the commit that references them);
    /// `verifiedSHA256` skips hashing bytes already checked against that digest.
    public func writeCheckpoint(_ bytes: [UInt8], verifiedSHA256: String? = nil) throws(StoreError) -> ProducedCheckpoint {
        lock.lock(); defer { lock.unlock() }
        let sha = try checkpoints.write(bytes, verifiedSHA256: verifiedSHA256)
        pending.insert(sha)
        return ProducedCheckpoint(sha256: sha, size: bytes.count)
    }

    /// Appends one search event with everything its actions imply, in one transaction:
    /// new intervals for `.train`, perturbations, the result and checkpoint of a finished
    /// assignment, the run's status on `.finish`, and deletion of checkpoint rows no longer in
    /// `keepCheckpoints` (the search's `referencedCheckpoints` after the event).
    @discardableResult
    public func commit(run runId: String, event: SearchEvent, actions: [SearchAction], worker: String? = nil,
                       checkpoint: ProducedCheckpoint? = nil, keepCheckpoints: Set<AssignmentID>? = nil,
                       at now: Date = Date()) throws(StoreError) -> CommitOutcome {
        let payload = try encodeEvent(event)
        let outcome: CommitOutcome = try wrap { try database.write { db -> CommitOutcome in
            var finishedRow: Row?
            if case let .assignmentFinished(result) = event {
                let id = Int64(bitPattern: result.assignment.rawValue)
                finishedRow = try Row.fetchOne(db.cachedStatement(sql: "SELECT finishedAt, member, epochEnd FROM interval WHERE runId = ? AND assignmentId = ?"),
                                               arguments: [runId, id])
                if let row = finishedRow, row["finishedAt"] as DatabaseValue? != .null {
                    return .duplicateResult(result.assignment)
                }
            }
            let last = try Int64.fetchOne(db.cachedStatement(sql: "SELECT MAX(sequence) FROM searchEvent WHERE runId = ?"), arguments: [runId]) ?? 0
            let sequence = last + 1
            try db.cachedStatement(sql: "INSERT INTO searchEvent (runId, sequence, kind, payload, recordedAt) VALUES (?, ?, ?, ?, ?)")
                .execute(arguments: [runId, sequence, Self.kind(of: event), payload, now])
            if case let .assignmentFinished(result) = event, let row = finishedRow {
                let id = Int64(bitPattern: result.assignment.rawValue)
                try db.cachedStatement(sql: """
                    UPDATE interval SET finishedAt = ?, validationAccuracy = ?, trainLoss = ?, checkpointSha256 = ?
                    WHERE runId = ? AND assignmentId = ?
                    """).execute(arguments: [now, result.validationAccuracy.isFinite ? result.validationAccuracy : nil,
                                             result.trainLoss.isFinite ? result.trainLoss : nil, checkpoint?.sha256, runId, id])
                if let checkpoint {
                    try CheckpointRecord(runId: runId, assignmentId: id, member: row["member"], epoch: row["epochEnd"],
                                         sha256: checkpoint.sha256, size: Int64(checkpoint.size), createdAt: now).save(db)
                }
            }
            var perturbationSequence: Int64?
            for action in actions {
                switch action {
                case let .train(a):
                    try IntervalRecord(runId: runId, assignmentId: Int64(bitPattern: a.id.rawValue), member: a.member,
                                       epochStart: a.epochs.lowerBound, epochEnd: a.epochs.upperBound,
                                       policy: Self.encodePolicy(a.policy), trainingSeed: Int64(bitPattern: a.trainingSeed),
                                       worker: worker, startedAt: now).save(db)
                case let .recordPerturbation(p):
                    let next = try (perturbationSequence
                        ?? Int64.fetchOne(db, sql: "SELECT MAX(sequence) FROM perturbation WHERE runId = ?", arguments: [runId]) ?? 0) + 1
                    perturbationSequence = next
                    try PerturbationRow(runId: runId, sequence: next, target: p.target, source: p.source,
                                        targetEpoch: p.targetEpoch, sourceEpoch: p.sourceEpoch,
                                        sourcePolicy: Self.encodePolicy(p.sourcePolicy), newPolicy: Self.encodePolicy(p.newPolicy),
                                        recordedAt: now).insert(db)
                case .finish:
                    try db.execute(sql: "UPDATE run SET status = ?, finishedAt = ? WHERE id = ?",
                                   arguments: [RunRecord.Status.finished.rawValue, now, runId])
                case .initializeMember, .copyMember, .ignoreResult:
                    break
                }
            }
            if let keep = keepCheckpoints {
                let ids = keep.map { Int64(bitPattern: $0.rawValue) }
                try CheckpointRecord.filter(CheckpointRecord.Columns.runId == runId)
                    .filter(!ids.contains(CheckpointRecord.Columns.assignmentId)).deleteAll(db)
            }
            return .committed(sequence: sequence)
        } }
        if let checkpoint {
            lock.lock(); pending.remove(checkpoint.sha256); lock.unlock()
        }
        if keepCheckpoints != nil { sweepCheckpointFiles() }
        return outcome
    }

    /// The run's events in order.
    public func events(run runId: String) throws(StoreError) -> [SearchEvent] {
        let rows = try wrap { try database.read { db in
            try SearchEventRecord.filter(SearchEventRecord.Columns.runId == runId).order(SearchEventRecord.Columns.sequence).fetchAll(db)
        } }
        var events: [SearchEvent] = []
        events.reserveCapacity(rows.count)
        for row in rows {
            guard let e = try? JSONDecoder().decode(SearchEvent.self, from: Data(row.payload.utf8)) else {
                throw .corruptRow(table: "searchEvent", detail: "run \(runId) event \(row.sequence) is not a valid search event")
            }
            events.append(e)
        }
        return events
    }

    public func intervals(run runId: String) throws(StoreError) -> [IntervalRecord] {
        try wrap { try database.read { db in
            try IntervalRecord.filter(IntervalRecord.Columns.runId == runId).order(IntervalRecord.Columns.assignmentId).fetchAll(db)
        } }
    }

    public func perturbations(run runId: String) throws(StoreError) -> [PerturbationRow] {
        try wrap { try database.read { db in
            try PerturbationRow.filter(PerturbationRow.Columns.runId == runId).order(PerturbationRow.Columns.sequence).fetchAll(db)
        } }
    }

    public func checkpointRecords(run runId: String) throws(StoreError) -> [CheckpointRecord] {
        try wrap { try database.read { db in
            try CheckpointRecord.filter(CheckpointRecord.Columns.runId == runId).order(CheckpointRecord.Columns.assignmentId).fetchAll(db)
        } }
    }

    /// The bytes of the checkpoint an assignment produced, verified against its SHA-256.
    public func checkpointBytes(run runId: String, assignment: AssignmentID) throws(StoreError) -> [UInt8] {
        let key: [String: (any DatabaseValueConvertible)?] = ["runId": runId, "assignmentId": Int64(bitPattern: assignment.rawValue)]
        let record = try wrap { try database.read { db in try CheckpointRecord.fetchOne(db, key: key) } }
        guard let record else { throw .missingCheckpoint(path: "run \(runId), \(assignment)") }
        return try checkpoints.read(sha256: record.sha256)
    }

    /// Removes checkpoint files that no row references (and that are not pending a commit).
    @discardableResult
    public func sweepCheckpointFiles() -> Int {
        lock.lock(); defer { lock.unlock() }
        guard let referenced = try? database.read({ db in try String.fetchAll(db, sql: "SELECT DISTINCT sha256 FROM checkpoint") }) else { return 0 }
        return checkpoints.sweep(keeping: Set(referenced).union(pending))
    }

    // MARK: schedules

    public func saveSchedule(run runId: String, document: String, at now: Date = Date()) throws(StoreError) {
        try wrap { try database.write { db in try ScheduleRecord(runId: runId, createdAt: now, document: document).insert(db) } }
    }

    public func latestSchedule(run runId: String) throws(StoreError) -> String? {
        try wrap { try database.read { db in
            try String.fetchOne(db, sql: "SELECT document FROM schedule WHERE runId = ? ORDER BY rowid DESC LIMIT 1", arguments: [runId])
        } }
    }

    // MARK: worker sessions

    /// A worker joined (or joined again under the same id: the row starts over).
    public func workerJoined(_ session: WorkerSessionRecord) throws(StoreError) {
        try wrap { try database.write { db in try session.save(db) } }
    }

    /// The workers were heard from at the given times (open sessions only).
    public func workersSeen(run runId: String, _ seen: [(worker: String, at: Date)]) throws(StoreError) {
        guard !seen.isEmpty else { return }
        try wrap { try database.write { db in
            for (worker, at) in seen {
                try db.execute(sql: "UPDATE workerSession SET lastSeenAt = ? WHERE runId = ? AND workerId = ? AND leftAt IS NULL",
                               arguments: [at, runId, worker])
            }
        } }
    }

    /// A worker left, was dropped or refused; `worker` nil closes every open session of the run
    /// (the coordinator stops, finishes, or restarts after being killed).
    public func workerLeft(run runId: String, worker: String?, reason: String, at now: Date = Date()) throws(StoreError) {
        try wrap { try database.write { db in
            if let worker {
                try db.execute(sql: "UPDATE workerSession SET leftAt = ?, leftReason = ? WHERE runId = ? AND workerId = ? AND leftAt IS NULL",
                               arguments: [now, reason, runId, worker])
            } else {
                try db.execute(sql: "UPDATE workerSession SET leftAt = ?, leftReason = ? WHERE runId = ? AND leftAt IS NULL",
                               arguments: [now, reason, runId])
            }
        } }
    }

    /// Every worker session of a run, by worker id.
    public func workerSessions(run runId: String) throws(StoreError) -> [WorkerSessionRecord] {
        try wrap { try database.read { db in
            try WorkerSessionRecord.filter(WorkerSessionRecord.Columns.runId == runId).order(WorkerSessionRecord.Columns.workerId).fetchAll(db)
        } }
    }

    // MARK: evaluation cells

    /// Records a finished cell; a cell already recorded is kept as it was (first result wins).
    /// Returns whether this call wrote it.
    @discardableResult
    public func saveEvaluationCell(_ cell: EvaluationCellRecord) throws(StoreError) -> Bool {
        try wrap { try database.write { db in
            try db.execute(sql: """
                INSERT OR IGNORE INTO evaluationCell
                (jobKey, candidateKey, seed, candidate, testAccuracy, trainLoss, seconds, predictions, worker, pbaVersion, finishedAt)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [cell.jobKey, cell.candidateKey, cell.seed, cell.candidate, cell.testAccuracy, cell.trainLoss,
                                  cell.seconds, cell.predictions, cell.worker, cell.pbaVersion, cell.finishedAt])
            return db.changesCount > 0
        } }
    }

    /// Every finished cell trained under `jobKey`.
    public func evaluationCells(jobKey: String) throws(StoreError) -> [EvaluationCellRecord] {
        try wrap { try database.read { db in
            try EvaluationCellRecord.filter(EvaluationCellRecord.Columns.jobKey == jobKey).fetchAll(db)
        } }
    }

    /// The evaluation jobs that have cells: key, cell count and the latest finish, newest first.
    public func evaluationJobs() throws(StoreError) -> [EvaluationJobSummary] {
        try wrap { try database.read { db in
            try Row.fetchAll(db, sql: """
                SELECT jobKey, COUNT(*) AS cells, COUNT(DISTINCT candidateKey) AS candidates, COUNT(DISTINCT seed) AS seeds,
                       MIN(finishedAt) AS firstFinishedAt, MAX(finishedAt) AS lastFinishedAt
                FROM evaluationCell GROUP BY jobKey ORDER BY lastFinishedAt DESC
                """).map { row in
                EvaluationJobSummary(jobKey: row["jobKey"], cells: row["cells"], candidates: row["candidates"], seeds: row["seeds"],
                                     firstFinishedAt: row["firstFinishedAt"], lastFinishedAt: row["lastFinishedAt"])
            }
        } }
    }

    /// Per run: intervals finished and not (yet) finished, without loading them.
    public func intervalCounts() throws(StoreError) -> [String: (finished: Int, unfinished: Int)] {
        try wrap { try database.read { db in
            var counts: [String: (finished: Int, unfinished: Int)] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT runId, COUNT(finishedAt) AS finished, COUNT(*) - COUNT(finishedAt) AS unfinished FROM interval GROUP BY runId
                """) {
                counts[row["runId"]] = (row["finished"], row["unfinished"])
            }
            return counts
        } }
    }

    /// The number of the run's latest event (0 before any): a cheap "has anything changed" check.
    public func latestEventSequence(run runId: String) throws(StoreError) -> Int64 {
        try wrap { try database.read { db in
            try Int64.fetchOne(db, sql: "SELECT MAX(sequence) FROM searchEvent WHERE runId = ?", arguments: [runId]) ?? 0
        } }
    }

    // MARK: encoding

    static func kind(of event: SearchEvent) -> String {
        switch event {
        case .started: return "started"
        case .assignmentRequested: return "assignmentRequested"
        case .assignmentFinished: return "assignmentFinished"
        case .assignmentLost: return "assignmentLost"
        case .resumed: return "resumed"
        }
    }

    private let eventEncoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    private func encodeEvent(_ event: SearchEvent) throws(StoreError) -> String {
        let encoder = eventEncoder
        guard let data = try? encoder.encode(event), let s = String(data: data, encoding: .utf8) else {
            throw .database("cannot encode search event \(event)")
        }
        return s
    }

    static func encodePolicy(_ p: Policy) -> String { "[" + p.values.map(String.init).joined(separator: ",") + "]" }
}
