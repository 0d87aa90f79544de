import Augment
import Search
import Tensor

/// A noisy fake trainer: the validation accuracy of a model is a known function of the
/// policies it was trained with, epoch by epoch, plus Gaussian noise.
///
/// strength(p) = mean over the tuples of (probability / 10) · (magnitude / 9), in [0, 1]: how
/// hard a policy augments. The best strength rises over training (PBA's finding that
/// augmentation should grow over a schedule): target(e) = 0.3 + 0.3 · e / epochs.
/// quality(p, e) = 1 − 2 · |strength(p) − target(e)|;
/// accuracy(history) = 0.1 + 0.8 · (1 − e^(−k/10)) · q̄, where q̄ is the exponential moving
/// average (weight `memory` on the past) of quality(p_e, e) over the k epochs trained.
struct FakeTrainer {
    var epochs: Int
    var noise: Double
    var memory = 0.7

    static func standard(epochs: Int = 30, noise: Double = 0.01) -> FakeTrainer {
        FakeTrainer(epochs: epochs, noise: noise)
    }

    func strength(_ policy: Policy) -> Double {
        let tuples = policy.tuples
        let sum = tuples.reduce(0.0) { $0 + Double($1.probability) / 10 * Double($1.magnitude) / 9 }
        return sum / Double(tuples.count)
    }

    func quality(_ policy: Policy, epoch: Int) -> Double {
        let target = 0.3 + 0.3 * Double(epoch) / Double(epochs)
        return 1 - 2 * abs(strength(policy) - target)
    }

    func trueAccuracy(history: [Policy]) -> Double {
        guard !history.isEmpty else { return 0.1 }
        let k = Double(history.count)
        var average = quality(history[0], epoch: 0)
        for (e, p) in history.enumerated().dropFirst() {
            average = memory * average + (1 - memory) * quality(p, epoch: e)
        }
        return 0.1 + 0.8 * (1 - _exp(-k / 10)) * average
    }

    func measuredAccuracy(history: [Policy], noiseSeed: UInt64) -> Double {
        var g = SeededGenerator(seed: noiseSeed)
        return trueAccuracy(history: history) + noise * g.nextGaussian()
    }
}

#if canImport(Glibc)
import Glibc
private func _exp(_ x: Double) -> Double { Glibc.exp(x) }
#else
import Foundation
private func _exp(_ x: Double) -> Double { Foundation.exp(x) }
#endif

/// Drives a `PopulationSearch` as a coordinator with `workers` workers would, with simulated
/// durations; records every event so tests can replay them. Tracks each checkpoint's policy
/// history independently of the search, as the workers' weights would.
struct SimulatedRun {
    var search: PopulationSearch
    var events: [SearchEvent] = []
    /// State after each event: `states[i]` follows `events[0...i]`.
    var states: [PopulationSearch] = []
    var actions: [[SearchAction]] = []
    var histories: [AssignmentID: [Policy]] = [:]
    let trainer: FakeTrainer
    /// Noise seed depends only on what was trained (member, epochs, history), never on
    /// assignment ids or arrival order: deterministic training.
    var deterministicNoise = false
    let recordStates: Bool

    init(configuration: SearchConfiguration, trainer: FakeTrainer, recordStates: Bool = false) throws {
        search = try PopulationSearch(configuration: configuration)
        self.trainer = trainer
        self.recordStates = recordStates
    }

    @discardableResult
    mutating func send(_ event: SearchEvent) -> [SearchAction] {
        let result = search.apply(event)
        events.append(event)
        actions.append(result)
        if recordStates { states.append(search) }
        return result
    }

    func history(of checkpoint: CheckpointReference) -> [Policy] {
        switch checkpoint {
        case .initial: return []
        case let .producedBy(id): return histories[id] ?? []
        }
    }

    mutating func result(for assignment: Assignment, noiseSeed: UInt64) -> IntervalResult {
        let history = self.history(of: assignment.checkpoint)
            + Array(repeating: assignment.policy, count: assignment.epochs.count)
        histories[assignment.id] = history
        var seed = noiseSeed
        if deterministicNoise {
            var h: UInt64 = 1469598103934665603
            for p in history { for v in p.values { h = (h ^ UInt64(v)) &* 1099511628211 } }
            seed = h ^ (UInt64(assignment.member) &* 31) ^ (UInt64(assignment.epochs.lowerBound) << 32)
        }
        let accuracy = trainer.measuredAccuracy(history: history, noiseSeed: seed)
        return IntervalResult(assignment: assignment.id, validationAccuracy: accuracy, trainLoss: 1 - accuracy)
    }

    /// Runs to the end with `workers` workers whose assignments finish after random durations
    /// drawn from `timing`. `faults` (if given) decides after each result whether to lose an
    /// in-flight assignment or to duplicate a result.
    mutating func run(workers: Int, timing: inout SeededGenerator, faults: UInt64? = nil) {
        if !search.isStarted { send(.started) }
        var inFlight: [(finish: Double, assignment: Assignment)] = search.assignments
            .filter { $0.status == .inFlight }
            .map { (0, $0.assignment) }
        var faultRandom = faults.map { SeededGenerator(seed: $0) }
        var now = 0.0
        var steps = 0
        while search.outcome == nil, steps < 100_000 {
            steps += 1
            while inFlight.count < workers {
                let out = send(.assignmentRequested)
                guard case let .train(a)? = out.first else { break }
                inFlight.append((now + Double(a.epochs.count) * (0.5 + timing.nextUniform()), a))
            }
            guard let next = inFlight.indices.min(by: { inFlight[$0].finish < inFlight[$1].finish }) else { break }
            let (finish, assignment) = inFlight.remove(at: next)
            now = finish
            if let u = faultRandom?.nextUniform(), u < 0.05 {
                send(.assignmentLost(assignment.id))
                continue
            }
            let r = result(for: assignment, noiseSeed: assignment.id.rawValue &* 0x9E37_79B9 ^ search.configuration.seed)
            send(.assignmentFinished(r))
            if let u = faultRandom?.nextUniform(), u < 0.05 { send(.assignmentFinished(r)) }
        }
    }
}
