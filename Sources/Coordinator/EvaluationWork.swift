import Foundation
import Logging
import Engine
import Evaluation
import Store
import Wire

/// An evaluation served by a coordinator: every (candidate, seed) cell is one assignment of kind
/// `evaluationCell` — full training from fresh weights, then the test set. Finished cells are
/// stored as they arrive, under the job's key, so a restarted evaluation trains only what is
/// missing; there is nothing to decide beyond handing out the missing cells in order.
public final class EvaluationWork: CoordinatedWork {
    public struct Cell: Hashable, Sendable {
        public var candidate: Candidate
        public var seed: UInt64
        /// What is trained: equal for cells that would train the same model.
        var identity: String { "\(candidate.key)#\(seed)" }
    }

    public let store: Store
    public let runId: String
    public let job: JobDescription
    /// Hash of the job (data fingerprint, model, options, base augmentation): cells are stored under it.
    public let jobKey: String
    public let cells: [Cell]
    let logger: Logger
    public private(set) var finished: [Int: CellResult] = [:]
    private var inFlight: [UInt64: Int] = [:]
    /// Assignment ids of this process start at a random high base, so a result from a worker of
    /// an earlier coordinator process can never be taken for a current assignment.
    private var nextId: UInt64 = (UInt64.random(in: 1...0xFFFF_FFFF) << 24)
    public private(set) var alreadyDone = 0
    /// Called after each stored cell (progress and logs).
    public var onCellFinished: ((Cell, CellResult) -> Void)?
    /// What is stored as a cell's worker, given the worker's name (`pba evaluate` adds the CPU
    /// to its local workers' names, so an exported cell says which machine kind trained it).
    public var workerLabel: (String) -> String = { $0 }

    public init(store: Store, runId: String, job: JobDescription, candidates: [Candidate], seeds: [UInt64], logger: Logger) throws {
        // validationSize > 0: cells are scored on those held-out training images instead of the
        // test set (choosing settings without touching it); it is part of the job key.
        self.store = store; self.runId = runId; self.job = job; self.logger = logger
        jobKey = try Self.key(of: job)
        var cells: [Cell] = []
        for seed in seeds { for c in candidates { cells.append(Cell(candidate: c, seed: seed)) } }
        self.cells = cells
        let stored = try store.evaluationCells(jobKey: jobKey)
        let index = Dictionary(stored.map { ("\($0.candidateKey)#\($0.seedValue)", $0) }, uniquingKeysWith: { a, _ in a })
        for (i, cell) in cells.enumerated() {
            guard let row = index[cell.identity] else { continue }
            guard let predictions = row.decodedPredictions else {
                logger.warning("stored cell \(cell.candidate.name) seed \(cell.seed) has corrupt predictions; training it again")
                continue
            }
            finished[i] = CellResult(candidateKey: row.candidateKey, seed: row.seedValue, testAccuracy: row.testAccuracy,
                                     trainLoss: row.trainLoss, seconds: row.seconds, predictions: predictions, worker: row.worker)
        }
        alreadyDone = finished.count
    }

    /// The job's identity for stored cells: its JSON with sorted keys, hashed, without the data's
    /// path — the data fingerprint already names the data, and moving it should not retrain.
    public static func key(of job: JobDescription) throws -> String {
        var job = job
        job.data = ""
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return SHA256.hex(SHA256.hash(Array(try encoder.encode(job))))
    }

    /// Stores an archive's cells that belong to this evaluation (same job key, one of its
    /// candidates and seeds) and are not already here, and marks them finished. Cells of other
    /// candidates or seeds are skipped (an archive may hold more than one evaluation asks
    /// for); an archive of another training setup is refused.
    public func importCells(_ archive: CellArchive, source: String) throws -> (imported: Int, skipped: Int) {
        guard archive.jobKey == jobKey else {
            throw EvaluationWorkError("\(source) holds cells of another training setup (job key \(archive.jobKey.prefix(12))…, this evaluation's is \(jobKey.prefix(12))…): the data, model, epochs, optimiser, base augmentation, held-out images and worker kind must all be the same")
        }
        var imported = 0, skipped = 0
        for c in archive.cells {
            let identity = "\(c.candidateKey)#\(c.seed)"
            let indices = cells.indices.filter { cells[$0].identity == identity }
            guard let first = indices.first else { skipped += 1; continue }
            guard finished[first] == nil else { skipped += 1; continue }
            try store.saveEvaluationCell(EvaluationCellRecord(jobKey: jobKey, candidateKey: c.candidateKey, seed: c.seed, candidate: c.candidate,
                                                              testAccuracy: c.testAccuracy, trainLoss: c.trainLoss, seconds: c.seconds,
                                                              predictions: c.predictions, worker: c.worker, pbaVersion: c.pbaVersion,
                                                              finishedAt: c.finishedAt))
            let result = CellResult(candidateKey: c.candidateKey, seed: c.seed, testAccuracy: c.testAccuracy, trainLoss: c.trainLoss,
                                    seconds: c.seconds, predictions: c.predictions, worker: c.worker)
            for i in indices { finished[i] = result }
            imported += 1
        }
        return (imported, skipped)
    }

    /// This evaluation's finished cells, each once, as an archive (from the store, so each
    /// keeps when and by which pba it was trained).
    public func archive() throws -> CellArchive {
        let wanted = Set(cells.indices.filter { finished[$0] != nil }.map { cells[$0].identity })
        let rows = try store.evaluationCells(jobKey: jobKey).filter { wanted.contains("\($0.candidateKey)#\($0.seedValue)") }
        let order = Dictionary(cells.enumerated().map { ($1.identity, $0) }, uniquingKeysWith: { a, _ in a })
        let sorted = rows.sorted { order["\($0.candidateKey)#\($0.seedValue)"] ?? 0 < order["\($1.candidateKey)#\($1.seedValue)"] ?? 0 }
        return CellArchive(jobKey: jobKey, cells: sorted.compactMap { row in
            row.decodedPredictions.map {
                CellArchive.Cell(candidate: row.candidate, candidateKey: row.candidateKey, seed: row.seedValue, testAccuracy: row.testAccuracy,
                                 trainLoss: row.trainLoss, seconds: row.seconds, worker: row.worker, pbaVersion: row.pbaVersion,
                                 finishedAt: row.finishedAt, predictions: $0)
            }
        })
    }

    public var results: [(candidate: Candidate, result: CellResult)] {
        cells.indices.compactMap { i in finished[i].map { (cells[i].candidate, $0) } }
    }

    public func finishedOutcome() throws -> [CellResult]? {
        finished.count == cells.count ? cells.indices.map { finished[$0]! } : nil
    }

    public func stop() throws {}

    public func nextAssignment(worker: String) throws -> Assign? {
        // Two candidates that train the same thing (a one-segment schedule and its time average)
        // share a key: one cell serves both.
        let busy = Set(inFlight.values.map { cells[$0].identity })
        guard let i = cells.indices.first(where: { finished[$0] == nil && !busy.contains(cells[$0].identity) }) else { return nil }
        nextId &+= 1
        inFlight[nextId] = i
        let cell = cells[i]
        let augmentation: AugmentationSpec
        switch cell.candidate.augmentation {
        case let .baseline(name): augmentation = .baseline(name: name)
        case let .schedule(json): augmentation = .schedule(json: json)
        }
        logger.info("cell \(cell.candidate.name) seed \(cell.seed) → \(worker)")
        // Same seed for weights and for data order/augmentation draws: candidates differ only in augmentation.
        return Assign(assignmentId: nextId, kind: .evaluationCell, member: UInt32(i), epochStart: 0,
                      epochEnd: UInt32(job.options.epochs), trainingSeed: cell.seed, augmentation: augmentation,
                      checkpoint: .initial(weightSeed: cell.seed))
    }

    public func record(_ r: ResultMessage, worker: String) throws -> Bool {
        guard let i = inFlight.removeValue(forKey: r.assignmentId) else {
            logger.notice("ignoring result for unknown assignment \(r.assignmentId) from \(worker)")
            return false
        }
        let cell = cells[i]
        guard finished[i] == nil else { return false }
        guard r.accuracy.isFinite, (0...1).contains(r.accuracy), !r.predictions.isEmpty else {
            logger.warning("result for \(cell.candidate.name) seed \(cell.seed) from \(worker) is malformed (accuracy \(r.accuracy), \(r.predictions.count) predictions); training it again")
            return false
        }
        let label = workerLabel(worker)
        let result = CellResult(candidateKey: cell.candidate.key, seed: cell.seed, testAccuracy: r.accuracy, trainLoss: r.trainLoss,
                                seconds: r.seconds, predictions: r.predictions, worker: label)
        try store.saveEvaluationCell(EvaluationCellRecord(jobKey: jobKey, candidateKey: cell.candidate.key, seed: cell.seed,
                                                          candidate: cell.candidate.name, testAccuracy: r.accuracy, trainLoss: r.trainLoss,
                                                          seconds: r.seconds, predictions: r.predictions, worker: label,
                                                          pbaVersion: PBARelease.version, finishedAt: Date()))
        for j in cells.indices where cells[j].identity == cell.identity && finished[j] == nil { finished[j] = result }
        onCellFinished?(cell, result)
        return true
    }

    public func lose(_ assignmentId: UInt64, worker: String, reason: String) throws {
        guard let i = inFlight.removeValue(forKey: assignmentId) else { return }
        logger.warning("cell \(cells[i].candidate.name) seed \(cells[i].seed) requeued: \(reason)")
    }
}

public struct EvaluationWorkError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}
