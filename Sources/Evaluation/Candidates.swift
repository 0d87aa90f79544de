import Foundation
import Augment
import Engine
import Schedule

/// One augmentation an evaluation trains and tests: a named baseline, a schedule, or one of a
/// schedule's two ablations (PBA's paper: do the learned values matter, and does their order
/// over time?).
public struct Candidate: Hashable, Sendable {
    public enum Kind: String, Codable, Sendable {
        case baseline
        case schedule
        /// The schedule's per-epoch policies averaged over the evaluation's epochs: one fixed policy.
        case timeAveraged = "time-averaged"
        /// The schedule's per-epoch policies in reverse order.
        case reversed
    }

    /// How the cell's training batches are augmented (what a worker is sent).
    public enum Augmentation: Hashable, Sendable {
        case baseline(name: String)
        /// A schedule document (JSON), stretched by the worker to the evaluation's epochs.
        case schedule(json: String)
    }

    /// Shown in reports: the baseline's name, the schedule's name, or "NAME:averaged" / "NAME:reversed".
    public var name: String
    public var kind: Kind
    /// For ablations, the schedule they are derived from.
    public var source: String?
    public var augmentation: Augmentation
    /// Identifies what is trained, independent of the name: finished cells are kept in the store
    /// under it, so renaming a schedule file or adding candidates retrains nothing.
    public var key: String

    /// A candidate as stored elsewhere (a reader of the store rebuilding a report from cells).
    public init(name: String, kind: Kind, source: String?, augmentation: Augmentation, key: String) {
        self.name = name; self.kind = kind; self.source = source; self.augmentation = augmentation; self.key = key
    }

    public static func baseline(_ b: Baseline) -> Candidate {
        Candidate(name: b.name, kind: .baseline, source: nil, augmentation: .baseline(name: b.name), key: "baseline:\(b.name)")
    }

    /// A schedule as trained over `epochs` epochs; its key hashes the stretched per-epoch
    /// policies, so two files with the same schedule (different provenance) share cells.
    public static func schedule(_ s: AugmentationSchedule, name: String, epochs: Int, kind: Kind = .schedule,
                                source: String? = nil) throws -> Candidate {
        let policies = try s.epochPolicies(epochs: epochs)
        var text = s.operationSet.names.joined(separator: ",") + "\n"
        for p in policies { text += p.values.map(String.init).joined(separator: ",") + "\n" }
        let key = "schedule:" + SHA256.hex(SHA256.hash(Array(text.utf8)))
        let json = String(decoding: try s.jsonData(), as: UTF8.self)
        return Candidate(name: name, kind: kind, source: source, augmentation: .schedule(json: json), key: key)
    }

    /// The schedule followed by its ablations, when asked for.
    public static func withAblations(_ s: AugmentationSchedule, name: String, epochs: Int, ablations: Bool) throws -> [Candidate] {
        var result = [try schedule(s, name: name, epochs: epochs)]
        if ablations {
            result.append(try schedule(try ScheduleAblation.timeAveraged(s, epochs: epochs), name: name + ":averaged", epochs: epochs,
                                       kind: .timeAveraged, source: name))
            result.append(try schedule(try ScheduleAblation.reversed(s, epochs: epochs), name: name + ":reversed", epochs: epochs,
                                       kind: .reversed, source: name))
        }
        return result
    }
}

/// The ablated forms of a schedule, built over the epochs it is evaluated for.
public enum ScheduleAblation {
    /// One segment whose policy is the time average of the stretched per-epoch policies, each
    /// integer rounded half up (the schedule's integers are PBA's discrete steps, so an average
    /// has to land on one).
    public static func timeAveraged(_ s: AugmentationSchedule, epochs: Int) throws -> AugmentationSchedule {
        let policies = try s.epochPolicies(epochs: epochs)
        guard let first = policies.first else { throw ScheduleError.invalidSchedule(path: "segments", message: "is empty") }
        var averaged = [Int](repeating: 0, count: first.values.count)
        for i in averaged.indices {
            let sum = policies.reduce(0) { $0 + $1.values[i] }
            averaged[i] = (2 * sum + policies.count) / (2 * policies.count)
        }
        return rebuilt(s, epochs: epochs, perEpoch: [[Int]](repeating: averaged, count: epochs))
    }

    /// The stretched per-epoch policies in reverse order: same policies for the same number of
    /// epochs, opposite order in time.
    public static func reversed(_ s: AugmentationSchedule, epochs: Int) throws -> AugmentationSchedule {
        rebuilt(s, epochs: epochs, perEpoch: try s.epochPolicies(epochs: epochs).reversed().map(\.values))
    }

    /// `s` with its segments replaced by runs of equal per-epoch policies over `epochs` epochs.
    static func rebuilt(_ s: AugmentationSchedule, epochs: Int, perEpoch: [[Int]]) -> AugmentationSchedule {
        var segments: [ScheduleSegment] = []
        for (epoch, values) in perEpoch.enumerated() {
            if let last = segments.last, last.policy == values {
                segments[segments.count - 1].endEpoch = epoch + 1
            } else {
                segments.append(ScheduleSegment(startEpoch: epoch, endEpoch: epoch + 1, policy: values))
            }
        }
        var result = s
        result.learnedEpochs = epochs
        result.segments = segments
        result.lineage = nil
        return result
    }
}
