import Augment

/// What a member is doing.
public enum MemberActivity: Hashable, Sendable {
    /// Can be handed an assignment.
    case ready
    case training(AssignmentID)
    /// Synchronous mode: finished the current interval, waits for the rest of the population.
    case waitingForPopulation
    /// Has trained every epoch.
    case finished
}

/// One member of the population: the state of its current weights.
public struct PopulationMember: Hashable, Sendable {
    public let index: Int
    /// Epochs its current weights have been trained for.
    public internal(set) var completedEpochs: Int
    /// The policy it trains with next.
    public internal(set) var policy: Policy
    public internal(set) var checkpoint: CheckpointReference
    /// Its own latest validation accuracy (kept across a copy until it reports again, as Ray
    /// Tune does); nil before its first result. A NaN report is stored as -infinity.
    public internal(set) var latestAccuracy: Double?
    /// Per-image correctness of that latest result, when the worker sent it.
    public internal(set) var latestCorrect: CorrectnessBits?
    /// What the exploit step ranks by: the latest accuracy, or its moving average
    /// (`SelectionRules.ranking`).
    public internal(set) var rankingScore: Double?
    /// Validation accuracy of the weights it started its current interval from (nil before a
    /// first result): the baseline of PB2's improvement.
    public internal(set) var startAccuracy: Double?
    public internal(set) var latestTrainLoss: Double?
    public internal(set) var activity: MemberActivity
    /// Copies it has made so far.
    public internal(set) var perturbationCount: Int
    public internal(set) var lineage: PolicyLineage
    /// Its latest assignment; nil before the first.
    public internal(set) var lastAssignment: AssignmentID?
}

/// The status of an assignment ever handed out.
public enum AssignmentStatus: Hashable, Sendable {
    case inFlight
    case finished(IntervalResult)
    case lost
}

/// An assignment with its status.
public struct AssignmentRecord: Hashable, Sendable {
    public var assignment: Assignment
    public var status: AssignmentStatus
}

/// Population Based Training as a state machine over values (swift-nio style): every event is
/// a `mutating func` returning the actions the coordinator performs; no I/O, no clock.
///
/// Determinism: every random draw comes from a stream derived from the run seed and what the
/// draw decides (`SearchStreams`), so the state is a function of the configuration and the
/// event sequence, and replaying the stored events (`replay`) rebuilds it exactly. In
/// synchronous mode the decisions of an interval are made together, in member order, once every
/// member has reported it, so the outcome does not depend on the order results arrive in.
///
/// How a coordinator drives it: `start()` once (record the members it initialises); when a
/// worker is idle, `assignmentRequested()` (a `.train` to send, or nothing: ask again after the
/// next result); on a worker's result, `assignmentFinished(_:)` and perform the actions in
/// order (`.copyMember`, `.recordPerturbation`, `.finish`, or `.ignoreResult` to log); on a
/// worker lost, `assignmentLost(_:)`; after a restart, `replay(configuration:events:)` then
/// `resume()`. Store every event (`SearchEvent`) in order, in the same transaction as what its
/// actions record; an `assignmentRequested` that returned nothing and an ignored result change
/// nothing and need not be stored. Checkpoints outside `referencedCheckpoints` may be deleted.
public struct PopulationSearch: Hashable, Sendable {
    public let configuration: SearchConfiguration
    private var state: State

    private enum State: Hashable, Sendable {
        case notStarted
        case running(Population)
        case finished(Population, SearchOutcome)
    }

    private struct Population: Hashable, Sendable {
        var members: [PopulationMember]
        /// Indexed by `AssignmentID.rawValue - 1`.
        var assignments: [AssignmentRecord]
        /// Every perturbation of the run, in order.
        var perturbations: [PerturbationRecord]
        /// Every copy decision with its noise, held ones included, in order.
        var exploitChecks: [ExploitCheck] = []
        /// PB2's data: each result's (policy, improvement), in order.
        var observations: [PB2Observation] = []
    }

    public init(configuration: SearchConfiguration) throws(SearchError) {
        try configuration.validate()
        self.configuration = configuration
        self.state = .notStarted
    }

    /// Rebuilds a search from its recorded events; the error names the first event that could
    /// not have happened in this order (a result or loss for an assignment never handed out is
    /// not such an event: it is ignored live as well).
    public static func replay(configuration: SearchConfiguration,
                              events: some Sequence<SearchEvent>) throws(SearchError) -> PopulationSearch {
        var search = try PopulationSearch(configuration: configuration)
        for (i, event) in events.enumerated() {
            if case .notStarted = search.state, event != .started {
                throw .replayEventNotApplicable(index: i, event: "\(event)", reason: "the search was not started")
            }
            _ = search.apply(event)
        }
        return search
    }

    // MARK: Read-only views

    public var isStarted: Bool {
        if case .notStarted = state { return false }
        return true
    }

    private var population: Population? {
        switch state {
        case .notStarted: return nil
        case let .running(p), let .finished(p, _): return p
        }
    }

    public var outcome: SearchOutcome? {
        if case let .finished(_, outcome) = state { return outcome }
        return nil
    }

    public var members: [PopulationMember] { population?.members ?? [] }

    public var assignments: [AssignmentRecord] { population?.assignments ?? [] }

    public var perturbations: [PerturbationRecord] { population?.perturbations ?? [] }

    /// Every decision where a bottom member was told to copy, with the gap's noise.
    public var exploitChecks: [ExploitCheck] { population?.exploitChecks ?? [] }

    /// The (policy, improvement) data PB2's explore fits.
    public var observations: [PB2Observation] { population?.observations ?? [] }

    /// Checkpoints that future assignments or copies can start from: each member's current one.
    /// Any other checkpoint may be garbage-collected.
    public var referencedCheckpoints: Set<AssignmentID> {
        Set(members.compactMap { member in
            if case let .producedBy(id) = member.checkpoint { return id }
            return nil
        })
    }

    // MARK: Events

    public mutating func apply(_ event: SearchEvent) -> [SearchAction] {
        switch event {
        case .started: return start()
        case .assignmentRequested: return assignmentRequested()
        case let .assignmentFinished(result): return assignmentFinished(result)
        case let .assignmentLost(id): return assignmentLost(id)
        case .resumed: return resume()
        }
    }

    /// Creates the population. A second call does nothing.
    public mutating func start() -> [SearchAction] {
        guard case .notStarted = state else { return [] }
        let c = configuration
        var members: [PopulationMember] = []
        for m in 0..<c.populationSize {
            let policy: Policy
            switch c.initialPolicy {
            case .zero, _ where c.isControl(m):
                policy = Policy(zeroFor: c.operations, foundation: c.startFoundation(ofZeroMember: m))
            case .sampled:
                var random = SearchStreams.initialPolicy(seed: c.seed, member: m)
                policy = PolicyExploration.sample(operations: c.operations, using: &random)
            case .mixed:
                if m < c.mixedZeroMembers {
                    policy = Policy(zeroFor: c.operations, foundation: c.startFoundation(ofZeroMember: m))
                } else {
                    var random = SearchStreams.initialPolicy(seed: c.seed, member: m)
                    policy = PolicyExploration.sample(operations: c.operations, using: &random)
                }
            }
            members.append(PopulationMember(
                index: m, completedEpochs: 0, policy: policy,
                checkpoint: .initial(member: m, weightSeed: SearchStreams.weightSeed(seed: c.seed, member: m)),
                latestAccuracy: nil, latestCorrect: nil, rankingScore: nil, startAccuracy: nil,
                latestTrainLoss: nil, activity: .ready, perturbationCount: 0,
                lineage: PolicyLineage(initialPolicy: policy), lastAssignment: nil))
        }
        state = .running(Population(members: members, assignments: [], perturbations: []))
        return members.map {
            .initializeMember(MemberInitialization(member: $0.index, policy: $0.policy, checkpoint: $0.checkpoint))
        }
    }

    /// A worker asks for work: the ready member with the fewest completed epochs is assigned
    /// its next interval; ties go to the member that has waited longest (earliest latest
    /// assignment, never-assigned first, then lowest index). Without that fairness a member that
    /// keeps copying a member behind it could be handed out forever while its source waits. Nothing is returned when no member is ready
    /// (all in flight, or waiting for the population in synchronous mode) or the search is over.
    public mutating func assignmentRequested() -> [SearchAction] {
        guard case var .running(population) = state else { return [] }
        let candidates = population.members.filter { $0.activity == .ready }
        guard let member = candidates.min(by: { a, b in
            if a.completedEpochs != b.completedEpochs { return a.completedEpochs < b.completedEpochs }
            let x = a.lastAssignment?.rawValue ?? 0, y = b.lastAssignment?.rawValue ?? 0
            return x != y ? x < y : a.index < b.index
        }) else { return [] }
        let start = member.completedEpochs
        let end = min(start + configuration.perturbationInterval, configuration.epochs)
        let assignment = Assignment(
            id: AssignmentID(rawValue: UInt64(population.assignments.count + 1)),
            member: member.index, epochs: start..<end, policy: member.policy, checkpoint: member.checkpoint,
            trainingSeed: SearchStreams.trainingSeed(seed: configuration.seed, member: member.index,
                                                     epoch: start, perturbation: member.perturbationCount))
        population.assignments.append(AssignmentRecord(assignment: assignment, status: .inFlight))
        population.members[member.index].activity = .training(assignment.id)
        population.members[member.index].lastAssignment = assignment.id
        state = .running(population)
        return [.train(assignment)]
    }

    /// A worker reports an assignment. Recorded once per assignment id: a duplicate, a result
    /// for an assignment given up, or for one never handed out, is ignored (and said so).
    public mutating func assignmentFinished(_ result: IntervalResult) -> [SearchAction] {
        let population: Population
        switch state {
        case .notStarted:
            return [.ignoreResult(result.assignment, .unknownAssignment)]
        case let .finished(p, _):
            return [.ignoreResult(result.assignment, Self.rejection(of: result.assignment, in: p) ?? .alreadyRecorded)]
        case let .running(p):
            population = p
        }
        if let rejection = Self.rejection(of: result.assignment, in: population) {
            return [.ignoreResult(result.assignment, rejection)]
        }
        var p = population
        let index = Int(result.assignment.rawValue - 1)
        let assignment = p.assignments[index].assignment
        var recorded = result
        if recorded.validationAccuracy.isNaN { recorded.validationAccuracy = -.infinity }
        if recorded.trainLoss.isNaN { recorded.trainLoss = .infinity }
        p.assignments[index].status = .finished(recorded)

        let m = assignment.member
        let accuracy = recorded.validationAccuracy
        if let before = p.members[m].startAccuracy, before.isFinite, accuracy.isFinite {
            p.observations.append(PB2Observation(epoch: assignment.epochs.upperBound, policy: assignment.policy,
                                                 improvement: accuracy - before))
        }
        p.members[m].completedEpochs = assignment.epochs.upperBound
        p.members[m].checkpoint = .producedBy(assignment.id)
        p.members[m].latestAccuracy = accuracy
        p.members[m].latestCorrect = recorded.validationCorrect
        p.members[m].startAccuracy = accuracy
        switch configuration.selection.ranking {
        case .latest:
            p.members[m].rankingScore = accuracy
        case .smoothed:
            let w = configuration.selection.smoothing
            if let previous = p.members[m].rankingScore, previous.isFinite, accuracy.isFinite {
                p.members[m].rankingScore = w * accuracy + (1 - w) * previous
            } else {
                p.members[m].rankingScore = accuracy
            }
        }
        p.members[m].latestTrainLoss = recorded.trainLoss
        p.members[m].lineage.extend(to: assignment.epochs.upperBound)

        var actions: [SearchAction] = []
        if p.members[m].completedEpochs >= configuration.epochs {
            p.members[m].activity = .finished
        } else {
            switch configuration.mode {
            case .asynchronous:
                p.members[m].activity = .ready
                if configuration.exploitAndExplore {
                    let scores = p.members.compactMap { member -> MemberScore? in
                        guard member.activity != .finished, !configuration.isControl(member.index),
                              let score = member.rankingScore else { return nil }
                        return MemberScore(member: member.index, accuracy: score)
                    }
                    let quantiles = PopulationQuantiles(scores: scores, fraction: configuration.quantileFraction)
                    actions += decide(member: m, quantiles: quantiles, in: &p)
                }
            case .synchronous:
                p.members[m].activity = .waitingForPopulation
                let intervalDone = p.members.allSatisfy {
                    $0.activity == .waitingForPopulation || $0.activity == .finished
                }
                if intervalDone {
                    actions += decideInterval(in: &p)
                }
            }
        }

        if p.members.allSatisfy({ $0.activity == .finished }) {
            let best = p.members.max { a, b in
                let x = a.latestAccuracy ?? -.infinity
                let y = b.latestAccuracy ?? -.infinity
                return x != y ? x < y : a.index > b.index
            }!  // the population has at least one member (validated)
            let outcome = SearchOutcome(bestMember: best.index, validationAccuracy: best.latestAccuracy ?? -.infinity,
                                        lineage: best.lineage, epochs: configuration.epochs)
            state = .finished(p, outcome)
            actions.append(.finish(outcome))
        } else {
            state = .running(p)
        }
        return actions
    }

    /// The worker of an assignment is gone: the member becomes ready to be assigned again
    /// (under a new id). Unknown or already settled assignments are left alone.
    public mutating func assignmentLost(_ id: AssignmentID) -> [SearchAction] {
        guard case var .running(p) = state, Self.rejection(of: id, in: p) == nil else { return [] }
        let index = Int(id.rawValue - 1)
        p.assignments[index].status = .lost
        p.members[p.assignments[index].assignment.member].activity = .ready
        state = .running(p)
        return []
    }

    /// After a restart: every assignment in flight is given up and its member made ready, so
    /// it is handed out again; late results for the old ids are ignored.
    public mutating func resume() -> [SearchAction] {
        guard case let .running(p) = state else { return [] }
        var actions: [SearchAction] = []
        for record in p.assignments where record.status == .inFlight {
            actions += assignmentLost(record.assignment.id)
        }
        return actions
    }

    // MARK: Decisions

    /// The gap between a source and the target told to copy it, with its noise.
    static func check(source: PopulationMember, target: PopulationMember) -> ExploitCheck {
        let a = source.latestAccuracy ?? -.infinity, b = target.latestAccuracy ?? -.infinity
        let gap = a - b
        let error = RankingNoise.gapStandardError(a, source.latestCorrect, b, target.latestCorrect)
        let se = error?.value, paired = error?.paired ?? false
        var halves: Bool?
        if paired, let x = source.latestCorrect, let y = target.latestCorrect { halves = RankingNoise.halvesDisagree(x, y) }
        let reversal = gap.isFinite ? se.map { RankingNoise.reversalProbability(gap: gap, standardError: $0) } : nil
        return ExploitCheck(target: target.index, source: source.index, targetEpoch: target.completedEpochs, gap: gap,
                            standardError: se, paired: paired, reversalProbability: reversal, halvesDisagree: halves, copied: true)
    }

    private static func rejection(of id: AssignmentID, in p: Population) -> ResultRejection? {
        guard id.rawValue >= 1, id.rawValue <= UInt64(p.assignments.count) else { return .unknownAssignment }
        switch p.assignments[Int(id.rawValue - 1)].status {
        case .inFlight: return nil
        case .finished: return .alreadyRecorded
        case .lost: return .assignmentLost
        }
    }

    /// Synchronous mode: every member has reported the interval; decide for each in member
    /// order, ranking by the interval's results only, then make all ready.
    private func decideInterval(in p: inout Population) -> [SearchAction] {
        var actions: [SearchAction] = []
        let active = p.members.filter { $0.activity == .waitingForPopulation }
        if configuration.exploitAndExplore {
            let scores = active.filter { !configuration.isControl($0.index) }
                .map { MemberScore(member: $0.index, accuracy: $0.rankingScore ?? -.infinity) }
            let quantiles = PopulationQuantiles(scores: scores, fraction: configuration.quantileFraction)
            // Sources are in the top quantile and targets in the bottom: no member is both, so
            // deciding in order sees every source as it was at the end of the interval.
            for member in active {
                actions += decide(member: member.index, quantiles: quantiles, in: &p)
            }
        }
        for member in active {
            p.members[member.index].activity = .ready
        }
        return actions
    }

    /// PBT's exploit then explore for one member at its interval boundary.
    private func decide(member m: Int, quantiles: PopulationQuantiles, in p: inout Population) -> [SearchAction] {
        let target = p.members[m]
        var random = SearchStreams.decision(seed: configuration.seed, member: m, epoch: target.completedEpochs,
                                            perturbation: target.perturbationCount)
        guard case let .copy(s) = ExploitDecision.decide(member: m, quantiles: quantiles, using: &random) else {
            return []
        }
        let source = p.members[s]
        var check = Self.check(source: source, target: target)
        let margin = configuration.selection.margin
        if margin > 0, let se = check.standardError, check.gap < margin * se {
            // Within the noise: the target keeps its own weights and policy.
            check.copied = false
            p.exploitChecks.append(check)
            return []
        }
        p.exploitChecks.append(check)
        let newPolicy: Policy
        switch configuration.explore {
        case .pba:
            newPolicy = PolicyExploration.explore(source.policy, rules: configuration.exploration, using: &random)
        case .pb2:
            newPolicy = PB2Explore.explore(source: source.policy, observations: p.observations, epoch: source.completedEpochs,
                                           settings: configuration.pb2, fallback: configuration.exploration, using: &random)
        }
        let record = PerturbationRecord(target: m, source: s, targetEpoch: target.completedEpochs,
                                        sourceEpoch: source.completedEpochs,
                                        sourcePolicy: source.policy, newPolicy: newPolicy)
        p.members[m].completedEpochs = source.completedEpochs
        p.members[m].checkpoint = source.checkpoint
        p.members[m].startAccuracy = source.latestAccuracy
        if configuration.selection.ranking == .smoothed {
            // The average describes weights, and the target now has the source's.
            p.members[m].rankingScore = source.rankingScore
        }
        p.members[m].policy = newPolicy
        p.members[m].perturbationCount += 1
        p.members[m].lineage = source.lineage.inherited(by: record)
        p.perturbations.append(record)
        return [
            .copyMember(MemberCopy(source: s, target: m, checkpoint: source.checkpoint, sourceEpoch: source.completedEpochs)),
            .recordPerturbation(record),
        ]
    }
}
