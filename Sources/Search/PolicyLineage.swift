import Augment

/// A perturbation, exactly what a Ray Tune `pbt_policy` log line holds: `target` copied the
/// weights and policy of `source` and explored the policy into `newPolicy`.
public struct PerturbationRecord: Hashable, Sendable {
    public var target: Int
    public var source: Int
    /// Epochs the target had completed when it decided to copy.
    public var targetEpoch: Int
    /// Epochs the source had completed: the target resumes from here.
    public var sourceEpoch: Int
    public var sourcePolicy: Policy
    public var newPolicy: Policy

    public init(target: Int, source: Int, targetEpoch: Int, sourceEpoch: Int,
                sourcePolicy: Policy, newPolicy: Policy) {
        self.target = target
        self.source = source
        self.targetEpoch = targetEpoch
        self.sourceEpoch = sourceEpoch
        self.sourcePolicy = sourcePolicy
        self.newPolicy = newPolicy
    }
}

/// A run of epochs trained with one policy: `[startEpoch, endEpoch)`, possibly empty.
public struct PolicySegment: Hashable, Sendable {
    public var startEpoch: Int
    public var endEpoch: Int
    public var policy: Policy

    public init(startEpoch: Int, endEpoch: Int, policy: Policy) {
        self.startEpoch = startEpoch
        self.endEpoch = endEpoch
        self.policy = policy
    }

    public var epochCount: Int { endEpoch - startEpoch }
}

/// The history of a member's current weights: which policy trained each epoch, following
/// copies back through the members it inherited from, and the perturbations on that path
/// (a Ray Tune lineage policy file: every line's target is the next line's source).
///
/// Segments break exactly at perturbations (not where the policy happens to change), so the
/// segments equal what PBA's log parser derives from `perturbations`.
public struct PolicyLineage: Hashable, Sendable {
    public private(set) var segments: [PolicySegment]
    public private(set) var perturbations: [PerturbationRecord]

    /// A member that has trained nothing yet with `initialPolicy`.
    public init(initialPolicy: Policy) {
        segments = [PolicySegment(startEpoch: 0, endEpoch: 0, policy: initialPolicy)]
        perturbations = []
    }

    /// Epochs covered: the epoch count of the weights this lineage describes.
    public var epochCount: Int { segments.last?.endEpoch ?? 0 }

    /// The policy of every epoch, in order.
    public var epochPolicies: [Policy] {
        segments.flatMap { Array(repeating: $0.policy, count: $0.epochCount) }
    }

    /// The policy that trained `epoch`, nil outside the lineage.
    public func policy(forEpoch epoch: Int) -> Policy? {
        segments.first { $0.startEpoch <= epoch && epoch < $0.endEpoch }?.policy
    }

    /// The member trained its last policy up to `epoch`.
    mutating func extend(to epoch: Int) {
        segments[segments.count - 1].endEpoch = epoch
    }

    /// The lineage of a target that copied the member with this lineage (which has completed
    /// `record.sourceEpoch` epochs) and goes on with `record.newPolicy`.
    func inherited(by record: PerturbationRecord) -> PolicyLineage {
        var copy = self
        copy.perturbations.append(record)
        copy.segments.append(PolicySegment(startEpoch: record.sourceEpoch, endEpoch: record.sourceEpoch,
                                           policy: record.newPolicy))
        return copy
    }
}
