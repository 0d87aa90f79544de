import Foundation
import Augment
import Evaluation
import Schedule
import Store

/// The JSON documents under `/api/` (documented in the README). Field names are part of the
/// API; dates are ISO 8601, accuracies fractions in 0…1, policies PBA's integers.
public enum DashboardAPI {
    public struct RunList: Codable, Sendable {
        public var runs: [RunSummary]
        public var unreadable: [String]
    }

    public struct Run: Codable, Sendable {
        public var summary: RunSummary
        public var configuration: SearchConfigurationSummary
        public var members: [MemberRow]
        public var curves: [Curve]
        public var perturbations: [PerturbationEntry]
        public var lineage: [LineageStep]
        public var schedule: ScheduleSoFar
        public var workers: [WorkerRow]
    }

    public struct SearchConfigurationSummary: Codable, Sendable {
        public var populationSize: Int
        public var epochs: Int
        public var perturbationInterval: Int
        public var mode: String
        public var explore: String
        public var initialPolicy: String
        /// Members 0..<controlMembers keep the zero policy and take no part in exploit.
        public var controlMembers: Int
        public var seed: UInt64
        public var operations: [String]
    }

    public struct Curve: Codable, Sendable {
        public var member: Int
        public var points: [AccuracyPoint]
    }

    public struct Interval: Codable, Sendable {
        public var assignment: Int64
        public var member: Int
        public var epochStart: Int
        public var epochEnd: Int
        public var policy: [Int]
        public var worker: String?
        public var startedAt: Date
        public var finishedAt: Date?
        public var validationAccuracy: Double?
        public var trainLoss: Double?
        /// Seconds from assignment to committed result (training, transfers, queueing).
        public var latencySeconds: Double?
    }

    /// The current best member's per-epoch policies so far, and the stored schedule document
    /// once the run has one.
    public struct ScheduleSoFar: Codable, Sendable {
        public var member: Int?
        public var operations: [String]
        /// Index i: the policy that trained epoch i.
        public var epochs: [[Int]]
        public var learnedSchedule: String?
    }

    public struct EvaluationList: Codable, Sendable {
        public var evaluations: [Job]
        public struct Job: Codable, Sendable {
            public var jobKey: String
            public var cells: Int
            public var candidates: Int
            public var seeds: Int
            public var lastFinishedAt: Date
        }
    }

    public struct Evaluation: Codable, Sendable {
        public var jobKey: String
        public var seeds: [UInt64]
        public var testImages: Int
        public var candidates: [Candidate]
        public var comparisons: [Comparison]
        public var incomplete: [String]
        public struct Candidate: Codable, Sendable {
            public var name: String
            public var kind: String
            public var key: String
            /// Test error in percent per seed, in `seeds` order.
            public var errors: [Double]
            public var mean: Double
            public var standardDeviation: Double
            public var seconds: Double
        }
        public struct Comparison: Codable, Sendable {
            public var candidate: String
            public var reference: String
            public var meanDifference: Double
            public var t: Double?
            public var p: Double?
            public var holmP: Double?
        }
    }

    public struct Problem: Codable, Sendable {
        public var status: Int
        public var error: String
    }

    public static func runList(_ runs: [RunSummary], unreadable: [String]) -> RunList { RunList(runs: runs, unreadable: unreadable) }

    public static func run(_ view: RunView) -> Run {
        let c = view.snapshot.configuration
        return Run(summary: RunSummary(view),
                   configuration: SearchConfigurationSummary(populationSize: c.populationSize, epochs: c.epochs, perturbationInterval: c.perturbationInterval,
                                                             mode: c.mode.rawValue, explore: c.explore.rawValue, initialPolicy: c.initialPolicy.rawValue,
                                                             controlMembers: c.controlMembers, seed: c.seed, operations: c.operations.names),
                   members: view.members, curves: curves(view), perturbations: view.perturbations, lineage: view.lineage,
                   schedule: schedule(view), workers: view.workers)
    }

    public static func curves(_ view: RunView) -> [Curve] {
        view.curves.keys.sorted().map { Curve(member: $0, points: view.curves[$0]!) }
    }

    public static func intervals(_ snapshot: RunSnapshot) -> [Interval] {
        snapshot.intervals.map { i in
            Interval(assignment: i.assignmentId, member: i.member, epochStart: i.epochStart, epochEnd: i.epochEnd,
                     policy: (try? JSONDecoder().decode([Int].self, from: Data(i.policy.utf8))) ?? [], worker: i.worker,
                     startedAt: i.startedAt, finishedAt: i.finishedAt, validationAccuracy: i.validationAccuracy, trainLoss: i.trainLoss,
                     latencySeconds: i.finishedAt.map { $0.timeIntervalSince(i.startedAt) })
        }
    }

    public static func schedule(_ view: RunView) -> ScheduleSoFar {
        ScheduleSoFar(member: view.bestMember, operations: view.operationNames, epochs: view.schedule.map(\.values),
                      learnedSchedule: view.snapshot.scheduleDocument)
    }

    public static func evaluations(_ jobs: [EvaluationJobSummary]) -> EvaluationList {
        EvaluationList(evaluations: jobs.map { .init(jobKey: $0.jobKey, cells: $0.cells, candidates: $0.candidates, seeds: $0.seeds, lastFinishedAt: $0.lastFinishedAt) })
    }

    public static func evaluation(_ view: EvaluationView) -> Evaluation {
        let r = view.report
        return Evaluation(jobKey: view.job.jobKey, seeds: r.seeds, testImages: r.recipe.testImages,
                          candidates: r.summaries.map { .init(name: $0.candidate.name, kind: $0.candidate.kind.rawValue, key: $0.candidate.key,
                                                              errors: $0.errors, mean: $0.mean, standardDeviation: $0.standardDeviation, seconds: $0.seconds) },
                          comparisons: r.comparisons.map { .init(candidate: $0.candidate, reference: $0.reference, meanDifference: $0.meanDifference,
                                                                 t: $0.t.flatMap(finite), p: $0.p.flatMap(finite), holmP: $0.holmP.flatMap(finite)) },
                          incomplete: view.incomplete)
    }

    static func finite(_ x: Double) -> Double? { x.isFinite ? x : nil }

    /// Sorted keys, ISO 8601 dates; non-finite numbers (which JSON cannot hold) become null
    /// before they get here.
    public static func encode<T: Encodable>(_ value: T) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return (try? Array(encoder.encode(value))) ?? Array("{\"status\":500,\"error\":\"cannot encode\"}".utf8)
    }
}
