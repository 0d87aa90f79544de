import Foundation
import Logging
import Engine
import Wire

/// A worker process: connects to a coordinator, loads the job's data once, and trains the
/// assignments it is given until the coordinator says BYE.
///
/// The socket is only touched by the thread calling `run`; training runs on a second thread, so
/// heartbeats keep flowing during a long interval.
public final class WorkerService {
    public struct Settings: Sendable {
        public var endpoint: String
        public var workerId: String
        public var threads: Int
        /// Replaces the job's data source string (same data at another path).
        public var dataOverride: String?
        public var heartbeatMilliseconds: Int = 1000
        /// Silence from the coordinator after which the worker says HELLO again.
        public var coordinatorTimeoutMilliseconds: Int = 10_000
        /// CURVE: this worker's key pair and the coordinator's public key.
        public var curve: (keys: CurveKeyPair, serverPublicKey: String)?
        public init(endpoint: String, workerId: String, threads: Int, dataOverride: String? = nil) {
            self.endpoint = endpoint; self.workerId = workerId; self.threads = threads; self.dataOverride = dataOverride
        }
    }

    public enum Exit: Equatable, Sendable {
        case finished(String)
        case stopped
        case refused(String)
    }

    let settings: Settings
    let logger: Logger
    let context = ZMQContext()
    private var socket: ZMQSocket!
    private var requestId: UInt64 = 0
    private var trainer: AssignmentBackend?
    private var job: JobDescription?
    private var training: TrainingTask?

    public init(settings: Settings, logger: Logger) {
        self.settings = settings
        self.logger = logger
    }

    /// Runs until BYE, refusal, or `stopRequested()` (then drains: finishes the assignment in hand,
    /// sends its result, says BYE). `abortRequested()` stops training at once.
    public func run(stopRequested: @escaping @Sendable () -> Bool, abortRequested: @escaping @Sendable () -> Bool = { false }) throws -> Exit {
        socket = try ZMQSocket(context: context, kind: .dealer, identity: settings.workerId)
        if let curve = settings.curve { try socket.enableCurveClient(curve.keys, serverPublicKey: curve.serverPublicKey) }
        try socket.connect(settings.endpoint)
        logger.info("worker \(settings.workerId) connecting to \(settings.endpoint)")
        try sendHello()
        var lastHeard = Date()
        var lastHeartbeat = Date()
        var requestAt: Date? = nil
        var draining = false
        while true {
            if abortRequested() { training?.stop(); return .stopped }
            if stopRequested() && !draining {
                draining = true
                if training == nil { try send(.bye(reason: "worker stopping")); return .stopped }
                logger.notice("draining: finishing assignment \(training!.assign.assignmentId) before leaving")
            }
            if let task = training, let outcome = task.outcome {
                training = nil
                switch outcome {
                case let .success(o?):
                    try send(.result(ResultMessage(assignmentId: task.assign.assignmentId, accuracy: o.accuracy, trainLoss: o.trainLoss,
                                                   seconds: o.seconds, checkpoint: o.checkpoint, sha256: SHA256.hex(SHA256.hash(o.checkpoint)),
                                                   predictions: o.predictions)))
                    logger.info("assignment \(task.assign.assignmentId) (member \(task.assign.member), epochs \(task.assign.epochStart)..<\(task.assign.epochEnd)): accuracy \(String(format: "%.4f", o.accuracy)), \(String(format: "%.1f", o.seconds)) s")
                case .success(nil):
                    logger.notice("assignment \(task.assign.assignmentId) stopped part-way")
                case let .failure(error):
                    logger.error("assignment \(task.assign.assignmentId) failed: \(error)")
                    try send(.error(ErrorMessage(code: .internalError, message: "assignment \(task.assign.assignmentId): \(error)")))
                }
                if draining { try send(.bye(reason: "worker stopping")); return .stopped }
                requestAt = Date()
            }
            if let at = requestAt, Date() >= at, training == nil, trainer != nil {
                requestAt = nil
                try send(.request)
            }
            if Date().timeIntervalSince(lastHeartbeat) * 1000 >= Double(settings.heartbeatMilliseconds) {
                lastHeartbeat = Date()
                try send(.heartbeat)
            }
            if Date().timeIntervalSince(lastHeard) * 1000 > Double(settings.coordinatorTimeoutMilliseconds) && training == nil {
                logger.warning("no word from the coordinator for \(settings.coordinatorTimeoutMilliseconds / 1000) s; saying hello again")
                lastHeard = Date()
                try sendHello()
            }
            guard let parts = try socket.receive(timeoutMilliseconds: 50), let frame = parts.last else { continue }
            if let (version, e) = WireCodec.decodeForeignError(frame) {
                logger.error("coordinator speaks protocol \(version), this worker \(WireCodec.protocolVersion): \(e.message)")
                return .refused("coordinator speaks protocol \(version) (\(e.message)); run the coordinator's pba release here")
            }
            let envelope: Envelope
            do { envelope = try WireCodec.decode(frame) } catch {
                logger.warning("ignoring malformed frame from the coordinator: \(error)")
                continue
            }
            lastHeard = Date()
            switch envelope.message {
            case let .welcome(w):
                try handleWelcome(w)
                requestAt = Date()
            case let .assign(a):
                guard let trainer, training == nil else {
                    try send(.error(ErrorMessage(code: .badMessage, message: "assignment \(a.assignmentId) while not ready or busy")))
                    continue
                }
                if draining { try send(.bye(reason: "worker stopping")); return .stopped }
                let task = TrainingTask(assign: a)
                trainer.shouldStop = { [task] in task.isStopped || abortRequested() }
                task.start(trainer)
                training = task
            case let .noWork(ms):
                requestAt = Date().addingTimeInterval(Double(ms) / 1000)
            case .heartbeat:
                break
            case let .error(e):
                logger.error("coordinator: \(e.message)")
                if [.refused, .versionMismatch, .dataMismatch].contains(e.code) { return .refused(e.message) }
            case let .bye(reason):
                training?.stop()
                logger.info("coordinator says bye: \(reason)")
                return .finished(reason)
            case .hello, .ready, .request, .result:
                logger.warning("ignoring unexpected \(envelope.message.type) from the coordinator")
            }
        }
    }

    /// Sends a message; with no coordinator connected it is dropped after the send timeout
    /// (a result then is lost, and the coordinator requeues that assignment).
    private func send(_ m: WireMessage) throws {
        requestId &+= 1
        let frame = WireCodec.encode(Envelope(requestId: requestId, message: m))
        do {
            try socket.send([frame])
        } catch {
            guard error == .wouldBlock else { throw error }
            logger.debug("coordinator unreachable: \(m.type) dropped")
        }
    }

    private func sendHello() throws {
        try send(.hello(Hello(workerId: settings.workerId, pbaVersion: PBARelease.version,
                              protocolVersion: WireCodec.protocolVersion, threads: UInt32(settings.threads),
                              hostname: ProcessInfo.processInfo.hostName)))
    }


    private func handleWelcome(_ w: Welcome) throws {
        let decoded: JobDescription
        do { decoded = try JSONDecoder().decode(JobDescription.self, from: Data(w.job.utf8)) } catch {
            try send(.error(ErrorMessage(code: .badMessage, message: "cannot read the job description: \(error)")))
            throw WorkerError.badAssignment("job description from the coordinator is invalid: \(error)")
        }
        if job != decoded || trainer == nil {
            let dataString = settings.dataOverride ?? decoded.data
            logger.info("run \(w.runId): loading \(dataString) for \(decoded.model)")
            let source = try DataSource(parsing: dataString)
            let (train, test) = try source.load()
            let fingerprint = dataFingerprint(train: train, test: test)
            trainer = try IntervalTrainer(job: decoded, train: train, test: test)
            job = decoded
            try send(.ready(Ready(dataFingerprint: fingerprint)))
        } else {
            try send(.ready(Ready(dataFingerprint: decoded.dataFingerprint)))
        }
    }
}

/// One assignment training on its own thread; the outcome is read by the socket thread.
final class TrainingTask: @unchecked Sendable {
    let assign: Assign
    private let lock = NSLock()
    private var result: Result<AssignmentOutcome?, Error>?
    private var stopped = false

    init(assign: Assign) { self.assign = assign }

    var outcome: Result<AssignmentOutcome?, Error>? { lock.lock(); defer { lock.unlock() }; return result }
    var isStopped: Bool { lock.lock(); defer { lock.unlock() }; return stopped }
    func stop() { lock.lock(); stopped = true; lock.unlock() }

    func start(_ trainer: AssignmentBackend) {
        let box = UncheckedTrainer(trainer: trainer)
        let thread = Thread { [self] in
            let r: Result<AssignmentOutcome?, Error>
            do { r = .success(try box.trainer.run(assign)) } catch { r = .failure(error) }
            lock.lock(); result = r; lock.unlock()
        }
        thread.stackSize = 8 << 20
        thread.start()
    }
}

private struct UncheckedTrainer: @unchecked Sendable { let trainer: AssignmentBackend }
