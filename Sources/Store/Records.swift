import Foundation
import GRDB

/// One search run: its configuration and where it stands.
public struct RunRecord: Codable, Hashable, Sendable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "run"
    public enum Status: String, Codable, Sendable { case running, finished, failed, stopped }

    public var id: String
    public var createdAt: Date
    public var status: Status
    /// `SearchConfiguration` as JSON.
    public var searchConfiguration: String
    /// Training setup (data, model, options) as JSON, opaque to the store.
    public var trainingConfiguration: String
    public var seed: Int64
    public var pbaVersion: String
    public var gitRevision: String
    public var commandLine: String
    public var finishedAt: Date?

    public init(id: String, createdAt: Date, status: Status, searchConfiguration: String, trainingConfiguration: String,
                seed: UInt64, pbaVersion: String, gitRevision: String, commandLine: String, finishedAt: Date? = nil) {
        self.id = id; self.createdAt = createdAt; self.status = status
        self.searchConfiguration = searchConfiguration; self.trainingConfiguration = trainingConfiguration
        self.seed = Int64(bitPattern: seed); self.pbaVersion = pbaVersion; self.gitRevision = gitRevision
        self.commandLine = commandLine; self.finishedAt = finishedAt
    }

    public enum Columns {
        public static let id = Column(CodingKeys.id)
        public static let status = Column(CodingKeys.status)
        public static let createdAt = Column(CodingKeys.createdAt)
    }
}

/// One event of a run's search, in order. Replaying them rebuilds the search state.
struct SearchEventRecord: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "searchEvent"
    var runId: String
    var sequence: Int64
    var kind: String
    /// `SearchEvent` as JSON.
    var payload: String
    var recordedAt: Date

    enum Columns {
        static let runId = Column(CodingKeys.runId)
        static let sequence = Column(CodingKeys.sequence)
    }
}

/// One assignment of a run: a member trained over an epoch range, and its result once back.
public struct IntervalRecord: Codable, Hashable, Sendable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "interval"
    public var runId: String
    public var assignmentId: Int64
    public var member: Int
    public var epochStart: Int
    public var epochEnd: Int
    /// The policy's integers as a JSON array.
    public var policy: String
    public var trainingSeed: Int64
    public var worker: String?
    public var startedAt: Date
    public var finishedAt: Date?
    public var validationAccuracy: Double?
    public var trainLoss: Double?
    /// SHA-256 of the checkpoint written at the end, if kept.
    public var checkpointSha256: String?

    public enum Columns {
        public static let runId = Column(CodingKeys.runId)
        public static let assignmentId = Column(CodingKeys.assignmentId)
        public static let finishedAt = Column(CodingKeys.finishedAt)
    }
}

/// A perturbation, as a Ray Tune `pbt_policy` line holds it. Append-only.
public struct PerturbationRow: Codable, Hashable, Sendable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "perturbation"
    public var runId: String
    public var sequence: Int64
    public var target: Int
    public var source: Int
    public var targetEpoch: Int
    public var sourceEpoch: Int
    public var sourcePolicy: String
    public var newPolicy: String
    public var recordedAt: Date

    public enum Columns {
        public static let runId = Column(CodingKeys.runId)
        public static let sequence = Column(CodingKeys.sequence)
    }
}

/// A checkpoint kept for a run: the training state at the end of an assignment.
/// The bytes live in a content-addressed file next to the database (see `CheckpointFiles`).
public struct CheckpointRecord: Codable, Hashable, Sendable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "checkpoint"
    public var runId: String
    public var assignmentId: Int64
    public var member: Int
    public var epoch: Int
    public var sha256: String
    public var size: Int64
    public var createdAt: Date

    public enum Columns {
        public static let runId = Column(CodingKeys.runId)
        public static let assignmentId = Column(CodingKeys.assignmentId)
        public static let sha256 = Column(CodingKeys.sha256)
    }
}

/// A schedule exported from a run.
public struct ScheduleRecord: Codable, Hashable, Sendable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "schedule"
    public var runId: String
    public var createdAt: Date
    public var document: String

    public enum Columns {
        public static let runId = Column(CodingKeys.runId)
    }
}

/// One finished evaluation cell: a model trained with one candidate augmentation and one seed,
/// then tested. `jobKey` hashes everything else that was fixed (data, model, epochs, optimiser,
/// base augmentation), so a cell is only reused for exactly the same training.
public struct EvaluationCellRecord: Codable, Hashable, Sendable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "evaluationCell"
    public var jobKey: String
    public var candidateKey: String
    public var seed: Int64
    /// The candidate's name when the cell was trained (informational).
    public var candidate: String
    public var testAccuracy: Double
    public var trainLoss: Double
    public var seconds: Double
    /// Predicted class per test image as little-endian Int32s.
    public var predictions: Data
    public var worker: String?
    public var pbaVersion: String
    public var finishedAt: Date

    public init(jobKey: String, candidateKey: String, seed: UInt64, candidate: String, testAccuracy: Double, trainLoss: Double,
                seconds: Double, predictions: [Int32], worker: String?, pbaVersion: String, finishedAt: Date) {
        self.jobKey = jobKey; self.candidateKey = candidateKey; self.seed = Int64(bitPattern: seed); self.candidate = candidate
        self.testAccuracy = testAccuracy; self.trainLoss = trainLoss; self.seconds = seconds
        var data = Data(capacity: predictions.count * 4)
        for p in predictions { withUnsafeBytes(of: p.littleEndian) { data.append(contentsOf: $0) } }
        self.predictions = data
        self.worker = worker; self.pbaVersion = pbaVersion; self.finishedAt = finishedAt
    }

    public var seedValue: UInt64 { UInt64(bitPattern: seed) }

    /// The predictions back; nil when the blob is not a whole number of Int32s (a corrupt row).
    public var decodedPredictions: [Int32]? {
        guard predictions.count % 4 == 0 else { return nil }
        var result = [Int32]()
        result.reserveCapacity(predictions.count / 4)
        let bytes = [UInt8](predictions)
        for i in stride(from: 0, to: bytes.count, by: 4) {
            result.append(Int32(bitPattern: UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24))
        }
        return result
    }

    public enum Columns {
        public static let jobKey = Column(CodingKeys.jobKey)
    }
}

/// An evaluation job as the store holds it: cells trained under one `jobKey` (one training
/// setup), from any number of `pba evaluate` invocations.
public struct EvaluationJobSummary: Hashable, Sendable {
    public var jobKey: String
    public var cells: Int
    public var candidates: Int
    public var seeds: Int
    public var firstFinishedAt: Date
    public var lastFinishedAt: Date
}

/// A worker's time with a coordinator, as the coordinator saw it: when it joined, when it was
/// last heard from (any message, heartbeats included; written every few seconds, not on every
/// message), and when and why it left. A worker that joins again under the same id starts a new
/// session in the same row.
public struct WorkerSessionRecord: Codable, Hashable, Sendable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "workerSession"
    public var runId: String
    public var workerId: String
    public var hostname: String
    /// The worker kind it declared ("swift", "pytorch").
    public var kind: String
    public var threads: Int
    public var joinedAt: Date
    public var lastSeenAt: Date
    public var leftAt: Date?
    public var leftReason: String?

    public init(runId: String, workerId: String, hostname: String, kind: String, threads: Int, joinedAt: Date,
                lastSeenAt: Date? = nil, leftAt: Date? = nil, leftReason: String? = nil) {
        self.runId = runId; self.workerId = workerId; self.hostname = hostname; self.kind = kind; self.threads = threads
        self.joinedAt = joinedAt; self.lastSeenAt = lastSeenAt ?? joinedAt; self.leftAt = leftAt; self.leftReason = leftReason
    }

    public enum Columns {
        public static let runId = Column(CodingKeys.runId)
        public static let workerId = Column(CodingKeys.workerId)
        public static let leftAt = Column(CodingKeys.leftAt)
    }
}
