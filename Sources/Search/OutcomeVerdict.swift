import Augment
import Foundation

/// What a finished search can honestly say about its schedule from validation data alone, in
/// words a newcomer understands: is the schedule empty, did it change from its start, and did it
/// beat the free baseline that trained beside it.
///
/// The comparison is with the best member whose whole lineage kept the zero policy on one
/// foundation (with the run's base augmentation that is exactly a free baseline: `base`, or
/// AutoAugment & co. for members started on them; `.mixed` starts keep such members in the
/// population). The winner was picked on the same validation images, which flatters it,
/// so the strongest word here is "likely": the test is `pba evaluate`.
public struct OutcomeVerdict: Hashable, Sendable {
    public enum Expectation: String, Hashable, Sendable {
        /// The winner's schedule is empty: the base augmentation alone did best.
        case no
        /// Ahead of the free baseline by less than two standard errors.
        case unclear
        /// Ahead by two standard errors or more (on the validation set it was chosen on).
        case likely
        /// No member trained with the base augmentation alone to the end.
        case unknown
    }

    public var expectation: Expectation
    public var winner: Int
    public var winnerAccuracy: Double
    /// Every epoch of the winner's lineage used the zero policy: the winner is a free baseline.
    public var scheduleIsEmpty: Bool
    /// That baseline's foundation when it is a member's own (nil: the run's base augmentation or
    /// foundation): the baseline to train with instead of a schedule.
    public var winnerFoundation: Baseline?
    /// The winner's lineage went through at least one perturbation, or its policy differs from
    /// the one it started with.
    public var changedFromStart: Bool
    public var startedAtZero: Bool
    public var copies: Int
    /// The best member whose lineage kept the zero policy throughout, and its accuracy.
    public var baselineMember: Int?
    public var baselineAccuracy: Double?
    /// Its foundation (nil: the run's own base augmentation or foundation).
    public var baselineFoundation: Baseline?
    /// Winner minus baseline member (fraction) and its standard error.
    public var gap: Double?
    public var standardError: Double?
    /// Zero-policy members were part of the start (zero or mixed), so "unknown" means they were
    /// all overtaken and copied better members.
    public var hadZeroStart: Bool

    public init?(search: PopulationSearch) {
        guard let outcome = search.outcome else { return nil }
        let members = search.members
        let winner = members[outcome.bestMember]
        let policies = outcome.lineage.segments.map(\.policy)
        func isZero(_ p: Policy) -> Bool { p.isZero }
        /// Zero everywhere: a free baseline, not a schedule (a lineage keeps one foundation
        /// throughout, its first member's: copies inherit it and explore keeps it).
        func isBaseline(_ segments: [PolicySegment]) -> Bool { segments.allSatisfy { isZero($0.policy) } }
        self.winner = outcome.bestMember
        hadZeroStart = search.configuration.initialPolicy != .sampled || search.configuration.controlMembers > 0
        winnerAccuracy = outcome.validationAccuracy
        let trained = outcome.lineage.segments.filter { $0.epochCount > 0 }
        scheduleIsEmpty = isBaseline(trained)
        winnerFoundation = scheduleIsEmpty ? trained.first?.policy.foundation : nil
        startedAtZero = policies.first.map(isZero) ?? true
        copies = outcome.lineage.perturbations.count
        changedFromStart = copies > 0 || Set(policies).count > 1
        var best: PopulationMember?
        for m in members {
            guard let a = m.latestAccuracy, a.isFinite, isBaseline(m.lineage.segments) else { continue }
            if let b = best?.latestAccuracy, b >= a { continue }
            best = m
        }
        baselineMember = best?.index
        baselineAccuracy = best?.latestAccuracy
        baselineFoundation = best?.lineage.segments.first?.policy.foundation
        if scheduleIsEmpty {
            expectation = .no
        } else if let best, let b = best.latestAccuracy {
            let g = outcome.validationAccuracy - b
            gap = g
            standardError = RankingNoise.gapStandardError(outcome.validationAccuracy, winner.latestCorrect, b, best.latestCorrect)?.value
            if let se = standardError, se > 0 {
                expectation = g >= 2 * se ? .likely : .unclear
            } else {
                expectation = g > 0 ? .unclear : .no
            }
        } else {
            expectation = .unknown
        }
    }

    /// One line: whether the learned schedule is expected to help, and why. `baseline` is the
    /// `pba evaluate` baseline the zero policy equals: `base`, or the run's foundation (a search
    /// stacked on AutoAugment is checked against `autoaugment`, not against pad-crop-flip).
    public func line(base: String, baseline: String = "base") -> String {
        func points(_ x: Double) -> String { String(format: "%.1f", 100 * x) }
        /// What the comparison member trained: a member's own foundation names its baseline.
        let against = baselineFoundation.map { "the \($0.name) baseline" } ?? "the base augmentation alone (\(base))"
        switch expectation {
        case .no:
            if scheduleIsEmpty {
                if let f = winnerFoundation {
                    return "Expected to help: no. The best member trained with the \(f.name) baseline alone (on \(base)); "
                        + "nothing the search tried beat it on validation, so train with the \(f.name) baseline and no schedule."
                }
                return "Expected to help: no. The best member trained with the base augmentation alone (\(base)); "
                    + "nothing the search tried beat it on validation, so "
                    + (baseline == "base" ? "train without a schedule." : "train with the \(baseline) baseline and no schedule.")
            }
            return "Expected to help: no. The schedule did not beat \(against) on validation."
        case .unclear:
            let se = standardError.map { ", one standard error is \(points($0))" } ?? ""
            return "Expected to help: unclear. The schedule is \(points(gap ?? 0)) points ahead of \(against) "
                + "on validation, within noise\(se); check with `pba evaluate` before relying on it."
        case .likely:
            return "Expected to help: likely. The schedule beat \(against) by \(points(gap ?? 0)) points "
                + "on validation (\(String(format: "%.1f", (gap ?? 0) / (standardError ?? 1))) standard errors, on the images it was chosen on); confirm with `pba evaluate`."
        case .unknown:
            if hadZeroStart {
                return "Expected to help: unknown, leaning yes. Every member that started with the base augmentation alone (\(base)) "
                    + "fell into the bottom quarter and copied an augmented one, so none reached the end to compare with; "
                    + "`pba evaluate --baselines \(baseline)` tells."
            }
            return "Expected to help: unknown. No member trained with the base augmentation alone (\(base)) to the end to compare with "
                + "(search with --control-members 1); `pba evaluate --baselines \(baseline)` tells."
        }
    }
}
