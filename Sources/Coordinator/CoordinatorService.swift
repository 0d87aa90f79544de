import Foundation
import Logging
import Engine
import Search
import Schedule
import Store
import Wire

/// What a coordinator serves: which assignment a worker gets next, what a result or a lost
/// assignment means, and when the work is done. A population search (`SearchWork`) and an
/// evaluation (`EvaluationWork`) are the two kinds; the worker protocol around them — hello,
/// data check, heartbeats, timeouts, requeueing — is the coordinator's and is the same for both.
public protocol CoordinatedWork: AnyObject {
    associatedtype Outcome
    var runId: String { get }
    /// Where the coordinator also keeps its worker sessions (`workerSession`), for readers.
    var store: Store { get }
    var job: JobDescription { get }
    /// Non-nil once everything is done; may commit the run's final records the first time.
    func finishedOutcome() throws -> Outcome?
    /// The next assignment for `worker`, committed as in flight; nil when none is ready now.
    func nextAssignment(worker: String) throws -> Assign?
    /// Records a result; false when it was not counted (stale, duplicate or unknown).
    func record(_ result: ResultMessage, worker: String) throws -> Bool
    /// An assignment's worker is gone: put it back in the queue.
    func lose(_ assignmentId: UInt64, worker: String, reason: String) throws
    /// The coordinator stops before the work is done.
    func stop() throws
}

/// The coordinator: owns the work's state through `Work` and hands out assignments to any
/// number of workers over ZeroMQ, collecting their results. Each event and everything it causes
/// is committed before the reply goes out, so killing the process at any point loses nothing
/// that was acknowledged.
public final class CoordinatorService<Work: CoordinatedWork> {
    public typealias Settings = CoordinatorSettings

    public enum Exit {
        case finished(Work.Outcome)
        case stopped
    }

    /// What the coordinator knows about a worker.
    public struct WorkerInfo: Sendable {
        public var id: String
        public var hostname: String
        public var threads: Int
        public var ready = false
        public var assignment: UInt64?
        public var lastSeen: Date
        public var completed = 0
        /// Training time its results reported, and the span from its first assignment to its
        /// latest result: their difference is time spent waiting for work or on transfers.
        public var busySeconds = 0.0
        public var firstAssignedAt: Date?
        public var lastResultAt: Date?
        /// The `lastSeen` last written to the store's worker session.
        var lastSeenStored: Date
    }

    /// How often a worker's latest message is written to its session: often enough for a
    /// dashboard to tell a live worker from a silent one well within the 15 s timeout, rarely
    /// enough that heartbeats cost one small transaction per interval, not one per message.
    static var sessionWriteInterval: TimeInterval { 5 }

    /// Accumulated over workers that have left or are still here.
    private var busyTotal = 0.0, spanTotal = 0.0

    /// Fraction of worker time (first assignment to latest result) not spent training.
    public var workerWaitingFraction: Double? {
        var busy = busyTotal, span = spanTotal
        for w in workers.values {
            if let a = w.firstAssignedAt, let b = w.lastResultAt { busy += w.busySeconds; span += b.timeIntervalSince(a) }
        }
        return span > 0 ? max(0, 1 - busy / span) : nil
    }

    public let work: Work
    let jobJSON: String
    let settings: Settings
    let logger: Logger
    public private(set) var workers: [String: WorkerInfo] = [:]
    public private(set) var boundEndpoint = ""
    private var socket: ZMQSocket!
    private let context = ZMQContext()
    private var authenticator: ZAPAuthenticator?
    private var requestCounter: UInt64 = 0
    private var committedResults = 0
    /// Called on the coordinator's thread after every committed event (progress display).
    public var onChange: ((CoordinatorService<Work>) -> Void)?

    public init(work: Work, settings: Settings, logger: Logger) throws {
        self.work = work
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        jobJSON = String(decoding: try encoder.encode(work.job), as: UTF8.self)
        self.settings = settings
        self.logger = logger
    }

    /// Binds the socket (separately from `run`, so a caller can learn the endpoint first).
    public func bind() throws {
        socket = try ZMQSocket(context: context, kind: .router, maximumMessageSize: settings.maximumFrameSize)
        if let curve = settings.curve {
            authenticator = try ZAPAuthenticator(context: context, allowedPublicKeys: curve.allowedWorkers)
            try socket.enableCurveServer(curve.keys)
            logger.info("CURVE on: \(curve.allowedWorkers.count) worker keys allowed")
        }
        try socket.bind(settings.bind)
        boundEndpoint = socket.lastEndpoint
        logger.info("coordinator for \(work.runId) listening on \(boundEndpoint)")
    }

    /// Serves workers until the work finishes or `stopRequested()`; on stop, hands out no more
    /// work, tells workers BYE, and returns (in-flight assignments are reissued on restart).
    public func run(stopRequested: () -> Bool) throws -> Exit {
        if socket == nil { try bind() }
        // Sessions a killed coordinator left open are over: their workers will say hello again.
        storeSessions { try work.store.workerLeft(run: work.runId, worker: nil, reason: "the coordinator restarted") }
        var lastHeartbeat = Date.distantPast
        while true {
            if let outcome = try work.finishedOutcome() {
                broadcast(.bye(reason: "\(work.runId) finished"))
                storeSessions { try work.store.workerLeft(run: work.runId, worker: nil, reason: "the run finished") }
                if let waiting = workerWaitingFraction {
                    logger.info("workers spent \(String(format: "%.1f", waiting * 100))% of their time (first assignment to last result) outside assignments: waiting for work and transfers")
                }
                return .finished(outcome)
            }
            if stopRequested() {
                broadcast(.bye(reason: "coordinator stopping"))
                storeSessions { try work.store.workerLeft(run: work.runId, worker: nil, reason: "the coordinator stopped") }
                try work.stop()
                return .stopped
            }
            let now = Date()
            if now.timeIntervalSince(lastHeartbeat) * 1000 >= Double(settings.heartbeatMilliseconds) {
                lastHeartbeat = now
                broadcast(.heartbeat)
                try dropSilentWorkers(now: now)
                storeLastSeen(now: now)
            }
            if let authenticator {
                for key in authenticator.serve() { logger.warning("refused a connection with CURVE key \(key.isEmpty ? "(none)" : key): not in the allow-list") }
            }
            guard let parts = try socket.receive(timeoutMilliseconds: authenticator == nil ? 100 : 20) else { continue }
            guard parts.count == 2 else {
                logger.warning("dropping a message with \(parts.count) parts (a pba frame has a routing id and one body)")
                continue
            }
            let identity = RoutingName.name(of: parts[0])
            if let version = WireCodec.foreignVersion(parts[1]) {
                // Answered in the peer's own framing (header and ERROR are the same in every
                // version), so an older or newer worker exits with a reason instead of retrying.
                logger.warning("refusing \(identity.debugDescription): it speaks protocol \(version), this coordinator \(WireCodec.protocolVersion)")
                let message = "this coordinator (pba \(PBARelease.version)) speaks protocol \(WireCodec.protocolVersion), your worker protocol \(version): install the coordinator's pba release on the worker"
                do { try socket.send([parts[0], WireCodec.encodeRefusal(version: version, requestId: 0, code: .versionMismatch, message: message)]) } catch {
                    logger.warning("cannot send the refusal to \(identity.debugDescription): \(error)")
                }
                continue
            }
            let envelope: Envelope
            do {
                envelope = try WireCodec.decode(parts[1], maximumFrameSize: settings.maximumFrameSize)
            } catch {
                logger.warning("rejected frame from \(identity.debugDescription): \(error)")
                reply(identity, 0, .error(ErrorMessage(code: .badMessage, message: "\(error)")))
                continue
            }
            try handle(envelope, from: identity)
        }
    }

    func handle(_ envelope: Envelope, from id: String) throws {
        workers[id]?.lastSeen = Date()
        let rid = envelope.requestId
        switch envelope.message {
        case let .hello(h):
            if let refusal = WorkerAdmission.refusal(of: h, job: work.job, runId: work.runId, endpoint: boundEndpoint) {
                logger.warning("refusing worker \(id) (\(h.identity.kind), model \(h.identity.model), pba \(h.pbaVersion) protocol \(h.protocolVersion)): \(refusal.message)")
                reply(id, rid, .error(refusal))
                return
            }
            if let previous = workers[id]?.assignment { try lose(previous, worker: id, reason: "worker said hello again") }
            if let old = workers[id] { retire(old) }
            let joined = Date()
            workers[id] = WorkerInfo(id: id, hostname: h.hostname, threads: Int(h.threads), lastSeen: joined, lastSeenStored: joined)
            storeSessions {
                try work.store.workerJoined(WorkerSessionRecord(runId: work.runId, workerId: id, hostname: h.hostname,
                                                                kind: h.identity.kind, threads: Int(h.threads), joinedAt: joined))
            }
            logger.info("worker \(id) on \(h.hostname) (\(h.identity.kind), \(h.threads) threads) joined")
            reply(id, rid, .welcome(Welcome(runId: work.runId, job: jobJSON, heartbeatMilliseconds: UInt32(settings.heartbeatMilliseconds))))
        case let .ready(r):
            guard workers[id] != nil else { return refuseUnknown(id, rid) }
            guard r.dataFingerprint == work.job.dataFingerprint else {
                logger.warning("refusing worker \(id): its data fingerprint \(r.dataFingerprint.prefix(12)) ≠ the run's \(work.job.dataFingerprint.prefix(12))")
                reply(id, rid, .error(ErrorMessage(code: .dataMismatch,
                    message: "the data you loaded (fingerprint \(r.dataFingerprint.prefix(16))) is not this run's (\(work.job.dataFingerprint.prefix(16)))")))
                workers[id] = nil
                storeSessions { try work.store.workerLeft(run: work.runId, worker: id, reason: "refused: its data is not the run's") }
                return
            }
            workers[id]?.ready = true
        case .request:
            guard let w = workers[id], w.ready else { return refuseUnknown(id, rid) }
            if w.assignment != nil {
                reply(id, rid, .noWork(retryAfterMilliseconds: 500))
                return
            }
            try assignWork(to: id, rid)
        case let .result(r):
            guard workers[id] != nil else { return refuseUnknown(id, rid) }
            try record(r, from: id)
        case .heartbeat:
            break
        case let .error(e):
            logger.warning("worker \(id) reports: \(e.message)")
            if let a = workers[id]?.assignment { try lose(a, worker: id, reason: "worker reported an error") }
        case let .bye(reason):
            logger.info("worker \(id) left: \(reason)")
            if let a = workers[id]?.assignment { try lose(a, worker: id, reason: "worker left") }
            if let old = workers[id] { retire(old) }
            workers[id] = nil
            storeSessions { try work.store.workerLeft(run: work.runId, worker: id, reason: "left: \(reason)") }
        case .welcome, .assign, .noWork:
            reply(id, rid, .error(ErrorMessage(code: .badMessage, message: "\(envelope.message.type) is not a worker's message")))
        }
    }

    /// Keeps a departing worker's time in the totals.
    private func retire(_ w: WorkerInfo) {
        if let a = w.firstAssignedAt, let b = w.lastResultAt { busyTotal += w.busySeconds; spanTotal += b.timeIntervalSince(a) }
    }

    private func refuseUnknown(_ id: String, _ rid: UInt64) {
        reply(id, rid, .error(ErrorMessage(code: .badMessage, message: "say HELLO and READY first")))
    }

    private func assignWork(to id: String, _ rid: UInt64) throws {
        guard let assignment = try work.nextAssignment(worker: id) else {
            reply(id, rid, .noWork(retryAfterMilliseconds: 300))
            return
        }
        workers[id]?.assignment = assignment.assignmentId
        if workers[id]?.firstAssignedAt == nil { workers[id]?.firstAssignedAt = Date() }
        reply(id, rid, .assign(assignment))
        onChange?(self)
    }

    private func record(_ r: ResultMessage, from id: String) throws {
        if workers[id]?.assignment == r.assignmentId {
            workers[id]?.assignment = nil
            workers[id]?.completed += 1
            workers[id]?.busySeconds += r.seconds
            workers[id]?.lastResultAt = Date()
        }
        guard try work.record(r, worker: id) else { return }
        committedResults += 1
        onChange?(self)
        if let limit = settings.exitAfterResults, committedResults >= limit {
            logger.critical("fault injection: exiting after \(committedResults) committed results")
            exit(99)
        }
    }

    private func lose(_ aid: UInt64, worker id: String, reason: String) throws {
        workers[id]?.assignment = nil
        try work.lose(aid, worker: id, reason: reason)
        onChange?(self)
    }

    private func dropSilentWorkers(now: Date) throws {
        for (id, w) in workers where now.timeIntervalSince(w.lastSeen) * 1000 > Double(settings.workerTimeoutMilliseconds) {
            let silent = Int(now.timeIntervalSince(w.lastSeen))
            logger.warning("worker \(id) silent for \(silent) s: dropped")
            if let a = w.assignment { try lose(a, worker: id, reason: "worker \(id) timed out") }
            workers[id] = nil
            storeSessions { try work.store.workerLeft(run: work.runId, worker: id, reason: "dropped: silent for \(silent) s", at: now) }
        }
    }

    /// Writes the latest message time of workers not written for `sessionWriteInterval`.
    private func storeLastSeen(now: Date) {
        let due = workers.values.filter { $0.lastSeen > $0.lastSeenStored && now.timeIntervalSince($0.lastSeenStored) >= Self.sessionWriteInterval }
        guard !due.isEmpty else { return }
        storeSessions { try work.store.workersSeen(run: work.runId, due.map { ($0.id, $0.lastSeen) }) }
        for w in due { workers[w.id]?.lastSeenStored = w.lastSeen }
    }

    /// Worker sessions are for readers; the run does not depend on them, so a failed write is a
    /// warning, not a stop (unlike the events, which are committed before any reply).
    private func storeSessions(_ body: () throws -> Void) {
        do { try body() } catch { logger.warning("cannot record worker sessions: \(error)") }
    }

    private func reply(_ id: String, _ rid: UInt64, _ m: WireMessage) {
        do { try socket.send([RoutingName.id(of: id), WireCodec.encode(Envelope(requestId: rid, message: m))]) } catch {
            logger.warning("cannot send \(m.type) to \(id): \(error)")
        }
    }

    private func broadcast(_ m: WireMessage) {
        requestCounter &+= 1
        for id in workers.keys { reply(id, requestCounter, m) }
    }
}

/// How a coordinator listens and how patient it is with workers.
public struct CoordinatorSettings: Sendable {
    public var bind: String
    public var heartbeatMilliseconds = 1000
    /// A worker silent this long is dropped and its assignment requeued.
    public var workerTimeoutMilliseconds = 15_000
    public var maximumFrameSize = WireCodec.defaultMaximumFrameSize
    /// Test-only fault injection: exit the process right after this many committed results.
    public var exitAfterResults: Int?
    /// CURVE encryption: the coordinator's key pair and the worker public keys allowed in.
    public var curve: (keys: CurveKeyPair, allowedWorkers: [String])?
    public init(bind: String) { self.bind = bind }
}
