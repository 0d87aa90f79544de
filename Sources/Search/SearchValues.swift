import Augment

/// Identifies one assignment (member, epoch range) handed to a worker. Allocated by the search
/// in increasing order from 1; never reused, so a late or duplicated result is recognised by it.
public struct AssignmentID: RawRepresentable, Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64

    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public static func < (a: AssignmentID, b: AssignmentID) -> Bool { a.rawValue < b.rawValue }

    public var description: String { "assignment \(rawValue)" }
}

/// Which weights an assignment starts from.
public enum CheckpointReference: Hashable, Codable, Sendable {
    /// Freshly initialised weights (with this seed) at epoch 0.
    case initial(member: Int, weightSeed: UInt64)
    /// The checkpoint written at the end of this assignment.
    case producedBy(AssignmentID)
}

/// Work for a worker: train `member` for `epochs` with `policy`, starting from `checkpoint`.
public struct Assignment: Hashable, Sendable {
    public var id: AssignmentID
    public var member: Int
    public var epochs: Range<Int>
    public var policy: Policy
    public var checkpoint: CheckpointReference
    /// Seeds the generator the worker augments and shuffles with for this assignment.
    public var trainingSeed: UInt64

    public init(id: AssignmentID, member: Int, epochs: Range<Int>, policy: Policy,
                checkpoint: CheckpointReference, trainingSeed: UInt64) {
        self.id = id
        self.member = member
        self.epochs = epochs
        self.policy = policy
        self.checkpoint = checkpoint
        self.trainingSeed = trainingSeed
    }
}

/// What a worker reports when it has trained an assignment.
public struct IntervalResult: Hashable, Codable, Sendable {
    public var assignment: AssignmentID
    public var validationAccuracy: Double
    public var trainLoss: Double
    /// Per validation image, whether it was classified correctly (nil from workers that do not
    /// send it): lets the exploit step weigh a gap against its noise.
    public var validationCorrect: CorrectnessBits?

    public init(assignment: AssignmentID, validationAccuracy: Double, trainLoss: Double,
                validationCorrect: CorrectnessBits? = nil) {
        self.assignment = assignment
        self.validationAccuracy = validationAccuracy
        self.trainLoss = trainLoss
        self.validationCorrect = validationCorrect
    }
}

/// Why a reported result changed nothing.
public enum ResultRejection: Hashable, Sendable, CustomStringConvertible {
    /// The search never handed out this assignment.
    case unknownAssignment
    /// A result for this assignment was already recorded.
    case alreadyRecorded
    /// The assignment was given up (worker lost or coordinator restarted) and handed out again.
    case assignmentLost

    public var description: String {
        switch self {
        case .unknownAssignment: return "no such assignment was handed out"
        case .alreadyRecorded: return "a result for this assignment was already recorded"
        case .assignmentLost: return "the assignment was given up and handed out again"
        }
    }
}

/// A member's weights replaced by a copy of another's (PBT's exploit).
public struct MemberCopy: Hashable, Sendable {
    public var source: Int
    public var target: Int
    /// The source's checkpoint the target continues from.
    public var checkpoint: CheckpointReference
    public var sourceEpoch: Int

    public init(source: Int, target: Int, checkpoint: CheckpointReference, sourceEpoch: Int) {
        self.source = source
        self.target = target
        self.checkpoint = checkpoint
        self.sourceEpoch = sourceEpoch
    }
}

/// A member as the search begins it.
public struct MemberInitialization: Hashable, Sendable {
    public var member: Int
    public var policy: Policy
    public var checkpoint: CheckpointReference

    public init(member: Int, policy: Policy, checkpoint: CheckpointReference) {
        self.member = member
        self.policy = policy
        self.checkpoint = checkpoint
    }
}

/// The product of a finished search.
public struct SearchOutcome: Hashable, Sendable {
    /// The member with the highest final validation accuracy (ties: lowest index).
    public var bestMember: Int
    public var validationAccuracy: Double
    /// The policy of each epoch of the best member, through the members it copied.
    public var lineage: PolicyLineage
    public var epochs: Int

    public init(bestMember: Int, validationAccuracy: Double, lineage: PolicyLineage, epochs: Int) {
        self.bestMember = bestMember
        self.validationAccuracy = validationAccuracy
        self.lineage = lineage
        self.epochs = epochs
    }
}

/// What the coordinator must do; it performs the actions in order.
public enum SearchAction: Hashable, Sendable {
    /// Record a member of the population (emitted by `start`).
    case initializeMember(MemberInitialization)
    /// Hand this assignment to the worker that asked.
    case train(Assignment)
    /// The target now continues from the source's checkpoint.
    case copyMember(MemberCopy)
    /// Append this perturbation to the run's log (in the same transaction as the result).
    case recordPerturbation(PerturbationRecord)
    /// The reported result changed nothing; log why.
    case ignoreResult(AssignmentID, ResultRejection)
    /// Every member has trained all epochs.
    case finish(SearchOutcome)
}

/// Everything that changes the search, in the order it happened. Replaying a run's events
/// through `PopulationSearch.apply` rebuilds its state exactly.
public enum SearchEvent: Hashable, Codable, Sendable {
    case started
    /// A worker asked for work.
    case assignmentRequested
    case assignmentFinished(IntervalResult)
    /// The worker of this assignment is gone; the member is trained again.
    case assignmentLost(AssignmentID)
    /// The coordinator restarted: every assignment in flight is given up.
    case resumed
}
