import Foundation
import Logging
import Engine
import Augment
import Search
import Schedule
import Store
import Wire

/// A population search served by a coordinator: every decision is `PopulationSearch`'s; this
/// class commits each search event with what it causes and turns assignments into messages.
public final class SearchWork: CoordinatedWork {
    public let store: Store
    public let runId: String
    public let job: JobDescription
    let scheduleContext: ScheduleContext
    let logger: Logger
    public private(set) var search: PopulationSearch

    public init(store: Store, runId: String, search: PopulationSearch, job: JobDescription, scheduleContext: ScheduleContext, logger: Logger) {
        self.store = store; self.runId = runId; self.search = search; self.job = job
        self.scheduleContext = scheduleContext; self.logger = logger
    }

    public func finishedOutcome() throws -> SearchOutcome? {
        guard let outcome = search.outcome else { return nil }
        if try store.latestSchedule(run: runId) == nil {
            var context = scheduleContext
            context.provenance.runID = runId
            context.provenance.finalValidationAccuracy = outcome.validationAccuracy
            let schedule = AugmentationSchedule(outcome: outcome, configuration: search.configuration, context: context)
            try store.saveSchedule(run: runId, document: String(decoding: try schedule.jsonData(), as: UTF8.self))
            logger.info("run \(runId) finished: best member \(outcome.bestMember), validation accuracy \(String(format: "%.4f", outcome.validationAccuracy))")
        }
        try store.setStatus(run: runId, .finished)
        return outcome
    }

    public func stop() throws { try store.setStatus(run: runId, .stopped) }

    /// A member's policy as the worker receives it: on its own foundation when it has one.
    static func wireAugmentation(_ policy: Policy) -> AugmentationSpec {
        if let foundation = policy.foundation {
            return .policyOnFoundation(foundation: foundation.name, operations: policy.operations.names, values: policy.values)
        }
        return .policy(operations: policy.operations.names, values: policy.values)
    }

    public func nextAssignment(worker id: String) throws -> Assign? {
        let actions = search.assignmentRequested()
        guard let assignment = actions.compactMap({ if case let .train(a) = $0 { return a } else { return nil } }).first else { return nil }
        let checkpoint: CheckpointPayload
        switch assignment.checkpoint {
        case let .initial(_, weightSeed):
            checkpoint = .initial(weightSeed: weightSeed)
        case let .producedBy(source):
            do {
                let bytes = try store.checkpointBytes(run: runId, assignment: source)
                checkpoint = .bytes(bytes, sha256: SHA256.hex(SHA256.hash(bytes)))
            } catch {
                // The search must not continue from a checkpoint it cannot read: stop loudly.
                logger.critical("checkpoint of \(source) needed by member \(assignment.member) is unusable: \(error)")
                throw error
            }
        }
        try store.commit(run: runId, event: .assignmentRequested, actions: actions, worker: id)
        return Assign(assignmentId: assignment.id.rawValue, kind: .searchInterval, member: UInt32(assignment.member),
                      epochStart: UInt32(assignment.epochs.lowerBound), epochEnd: UInt32(assignment.epochs.upperBound),
                      trainingSeed: assignment.trainingSeed,
                      augmentation: Self.wireAugmentation(assignment.policy),
                      checkpoint: checkpoint)
    }

    public func record(_ r: ResultMessage, worker id: String) throws -> Bool {
        let aid = AssignmentID(rawValue: r.assignmentId)
        var correct: CorrectnessBits?
        if !r.predictions.isEmpty {
            guard r.predictions.allSatisfy({ $0 == 0 || $0 == 1 }), r.predictions.count == job.validationSize else {
                logger.warning("result for \(aid) from \(id) has malformed per-image correctness (\(r.predictions.count) values for \(job.validationSize) validation images); ignoring that part")
                return try record(r, withCorrectness: nil, worker: id)
            }
            correct = CorrectnessBits(r.predictions.map { $0 == 1 })
        }
        return try record(r, withCorrectness: correct, worker: id)
    }

    private func record(_ r: ResultMessage, withCorrectness correct: CorrectnessBits?, worker id: String) throws -> Bool {
        let aid = AssignmentID(rawValue: r.assignmentId)
        let result = IntervalResult(assignment: aid, validationAccuracy: r.accuracy, trainLoss: r.trainLoss, validationCorrect: correct)
        var probe = search
        let actions = probe.assignmentFinished(result)
        if let reason = actions.compactMap({ if case let .ignoreResult(_, why) = $0 { return why } else { return nil } }).first {
            logger.notice("ignoring result for \(aid) from \(id): \(reason)")
            return false
        }
        // The codec verified the bytes against r.sha256 when it decoded the frame.
        let produced = try store.writeCheckpoint(r.checkpoint, verifiedSHA256: r.sha256)
        let outcome = try store.commit(run: runId, event: .assignmentFinished(result), actions: actions, worker: id,
                                       checkpoint: produced, keepCheckpoints: probe.referencedCheckpoints)
        guard case .committed = outcome else {
            logger.notice("result for \(aid) was already recorded; not counted twice")
            return false
        }
        search = probe
        for action in actions {
            if case let .recordPerturbation(p) = action {
                logger.info("member \(p.target) (epoch \(p.targetEpoch)) copies member \(p.source) (epoch \(p.sourceEpoch)) and explores")
            }
        }
        return true
    }

    public func lose(_ assignmentId: UInt64, worker id: String, reason: String) throws {
        let aid = AssignmentID(rawValue: assignmentId)
        var probe = search
        _ = probe.assignmentLost(aid)
        guard probe != search else { return }
        try store.commit(run: runId, event: .assignmentLost(aid), actions: [], worker: id, keepCheckpoints: probe.referencedCheckpoints)
        search = probe
        logger.warning("\(aid) requeued: \(reason)")
    }
}
