/// The messages coordinator and workers exchange. The codec (`WireCodec`) is pure; the transport
/// (`ZMQSocket`) only moves the resulting bytes.
public enum WireMessage: Equatable, Sendable {
    /// Worker → coordinator, first message: who it is.
    case hello(Hello)
    /// Coordinator → worker: accepted; what to load and how to train.
    case welcome(Welcome)
    /// Worker → coordinator: data loaded (fingerprint), ready for work.
    case ready(Ready)
    /// Worker → coordinator: give me work.
    case request
    /// Coordinator → worker: train this.
    case assign(Assign)
    /// Coordinator → worker: nothing to do now; ask again after the delay.
    case noWork(retryAfterMilliseconds: UInt32)
    /// Worker → coordinator: an assignment's result and new checkpoint.
    case result(ResultMessage)
    /// Either way: still alive.
    case heartbeat
    /// Either way: refused or failed, with a reason to log.
    case error(ErrorMessage)
    /// Either way: leaving (the coordinator sends it when the run is over).
    case bye(reason: String)

    public var type: MessageType {
        switch self {
        case .hello: return .hello
        case .welcome: return .welcome
        case .ready: return .ready
        case .request: return .request
        case .assign: return .assign
        case .noWork: return .noWork
        case .result: return .result
        case .heartbeat: return .heartbeat
        case .error: return .error
        case .bye: return .bye
        }
    }
}

public enum MessageType: UInt8, Sendable, CaseIterable {
    case hello = 1, welcome = 2, ready = 3, request = 4, assign = 5, noWork = 6, result = 7, heartbeat = 8, error = 9, bye = 10
}

public struct Hello: Equatable, Sendable {
    public var workerId: String
    public var pbaVersion: String
    public var protocolVersion: UInt16
    public var threads: UInt32
    public var hostname: String
    /// What trains here and what its checkpoints are (protocol 3): a run accepts one identity.
    public var identity: WorkerIdentity
    public init(workerId: String, pbaVersion: String, protocolVersion: UInt16, threads: UInt32, hostname: String,
                identity: WorkerIdentity = .swift) {
        self.workerId = workerId; self.pbaVersion = pbaVersion; self.protocolVersion = protocolVersion
        self.threads = threads; self.hostname = hostname; self.identity = identity
    }
}

/// Which kind of worker trains a run, and which model: the checkpoints a worker writes are
/// opaque to the coordinator but readable only by a worker of the same kind training the same
/// model, so a run accepts exactly one identity (`JobDescription.worker`) and refuses the rest.
public struct WorkerIdentity: Codable, Hashable, Sendable, CustomStringConvertible {
    /// "swift" (`pba worker`, the engine's checkpoint format) or "pytorch" (`python -m pba_worker`,
    /// PyTorch state dicts); other kinds are refused by every run.
    public var kind: String
    /// "wrn": the job's Wide-ResNet (`JobDescription.model`), built by the worker; anything else
    /// names a user's own model (`python -m pba_worker --trainable`), which only workers
    /// declaring the same name may train.
    public var model: String

    public init(kind: String, model: String) { self.kind = kind; self.model = model }

    public static let swift = WorkerIdentity(kind: "swift", model: WorkerIdentity.builtInModel)
    public static let pytorch = WorkerIdentity(kind: "pytorch", model: WorkerIdentity.builtInModel)
    public static let builtInModel = "wrn"
    public static let kinds = ["swift", "pytorch"]

    public var description: String { model == Self.builtInModel ? "\(kind) workers (the job's WRN)" : "\(kind) workers with model '\(model)'" }

    /// The command that starts a worker of this identity, for refusal messages and logs.
    public func startCommand(endpoint: String) -> String {
        switch kind {
        case "swift": return "pba worker --connect \(endpoint)"
        default:
            return "python -m pba_worker --connect \(endpoint)" + (model == Self.builtInModel ? "" : " --trainable MODULE:FACTORY (declaring model '\(model)')")
        }
    }
}

public struct Welcome: Equatable, Sendable {
    public var runId: String
    /// The job description (data, model, training options) as JSON, decoded by the worker.
    public var job: String
    public var heartbeatMilliseconds: UInt32
    public init(runId: String, job: String, heartbeatMilliseconds: UInt32) {
        self.runId = runId; self.job = job; self.heartbeatMilliseconds = heartbeatMilliseconds
    }
}

public struct Ready: Equatable, Sendable {
    /// SHA-256 (hex) of the data the worker loaded; must equal the run's.
    public var dataFingerprint: String
    public init(dataFingerprint: String) { self.dataFingerprint = dataFingerprint }
}

/// What kind of work an assignment is.
public enum JobKind: UInt8, Sendable {
    /// An interval of a population search: train, report validation accuracy.
    case searchInterval = 1
    /// One (candidate, seed) cell of an evaluation: train, report test accuracy.
    case evaluationCell = 2
}

/// How training batches are augmented, as a tagged value.
public enum AugmentationSpec: Equatable, Sendable {
    /// A policy: operation names and the 4·n integers.
    case policy(operations: [String], values: [Int])
    /// A policy stacked on a member's own foundation (a baseline recipe name, applied first,
    /// instead of the job's): a search whose start holds every free baseline as a member.
    /// Sent only for such members, so older workers keep reading every other assignment.
    case policyOnFoundation(foundation: String, operations: [String], values: [Int])
    /// A schedule document (JSON), stretched to the job's epochs.
    case schedule(json: String)
    /// A named baseline (none, base, cutout, randaugment, trivialaugment, autoaugment).
    case baseline(name: String)
}

/// Where the assignment's weights start from.
public enum CheckpointPayload: Equatable, Sendable {
    /// Fresh weights from this seed.
    case initial(weightSeed: UInt64)
    /// A training-state checkpoint file's bytes, with their SHA-256 (hex).
    case bytes([UInt8], sha256: String)
}

public struct Assign: Equatable, Sendable {
    public var assignmentId: UInt64
    public var kind: JobKind
    public var member: UInt32
    public var epochStart: UInt32
    public var epochEnd: UInt32
    public var trainingSeed: UInt64
    public var augmentation: AugmentationSpec
    public var checkpoint: CheckpointPayload
    public init(assignmentId: UInt64, kind: JobKind, member: UInt32, epochStart: UInt32, epochEnd: UInt32,
                trainingSeed: UInt64, augmentation: AugmentationSpec, checkpoint: CheckpointPayload) {
        self.assignmentId = assignmentId; self.kind = kind; self.member = member
        self.epochStart = epochStart; self.epochEnd = epochEnd; self.trainingSeed = trainingSeed
        self.augmentation = augmentation; self.checkpoint = checkpoint
    }
}

public struct ResultMessage: Equatable, Sendable {
    public var assignmentId: UInt64
    public var accuracy: Double
    public var trainLoss: Double
    public var seconds: Double
    /// The training state at the end, checkpoint-file bytes, with their SHA-256 (hex). Empty for
    /// an evaluation cell: nothing continues from it.
    public var checkpoint: [UInt8]
    public var sha256: String
    /// An evaluation cell's predicted class for each test image, in order (the paired per-image
    /// statistics resample them). A search interval's 1 (correct) or 0 for each validation
    /// image, in order (the exploit step weighs gaps against their noise); workers before this
    /// field was filled for intervals send it empty, which the coordinator accepts.
    public var predictions: [Int32]
    public init(assignmentId: UInt64, accuracy: Double, trainLoss: Double, seconds: Double, checkpoint: [UInt8], sha256: String,
                predictions: [Int32] = []) {
        self.assignmentId = assignmentId; self.accuracy = accuracy; self.trainLoss = trainLoss
        self.seconds = seconds; self.checkpoint = checkpoint; self.sha256 = sha256; self.predictions = predictions
    }
}

public struct ErrorMessage: Equatable, Sendable {
    public enum Code: UInt16, Sendable {
        case refused = 1, badMessage = 2, versionMismatch = 3, dataMismatch = 4, checksumMismatch = 5, internalError = 6
        case unknown = 0xFFFF
    }
    public var code: Code
    public var message: String
    public init(code: Code, message: String) { self.code = code; self.message = message }
}

/// The pba release a process runs: workers and coordinators of different releases refuse each other.
public enum PBARelease {
    public static let version = "0.1.0"
}
