import Foundation
import Evaluation
import Store

/// An evaluation job's report as far as the store can rebuild it. The store keeps each cell's
/// test accuracy, time and predictions under a key of the training setup, but not the test
/// labels nor the command's recipe: the tables and chart are `EvaluationReport`'s own (the ones
/// `pba evaluate` writes), with t-tests and Holm's correction over seeds and without the
/// bootstrap over test images, so no verdict is drawn here (`pba evaluate` draws them).
public struct EvaluationView: Sendable {
    public var job: EvaluationJobSummary
    public var report: EvaluationReport
    /// Candidates left out because they lack one of the seeds the others share.
    public var incomplete: [String]
    public var workers: [String]

    public enum BuildError: Error, CustomStringConvertible, Equatable {
        case noCells(String)
        public var description: String {
            switch self { case let .noCells(key): return "no evaluation cells under job \(key)" }
        }
    }

    public init(job: EvaluationJobSummary, cells: [EvaluationCellRecord]) throws {
        guard !cells.isEmpty else { throw BuildError.noCells(job.jobKey) }
        self.job = job
        let byCandidate = Dictionary(grouping: cells, by: \.candidateKey)
        // The seeds of the most common seed set (ties: the larger set); candidates lacking one of
        // them are listed apart rather than compared on fewer seeds.
        let seedSets = byCandidate.mapValues { Set($0.map(\.seedValue)) }
        let counts = Dictionary(grouping: seedSets.values, by: { $0 }).mapValues(\.count)
        let chosen = counts.max { $0.value != $1.value ? $0.value < $1.value : $0.key.count < $1.key.count }!.key
        let seeds = chosen.sorted()
        let keep = byCandidate.keys.filter { chosen.isSubset(of: seedSets[$0]!) }
        incomplete = byCandidate.keys.filter { !keep.contains($0) }.map { byCandidate[$0]!.first!.candidate }.sorted()
        var candidates: [Candidate] = []
        for key in keep {
            let name = byCandidate[key]!.max { $0.finishedAt < $1.finishedAt }!.candidate
            candidates.append(Self.candidate(key: key, name: name))
        }
        // Report order as `pba evaluate` builds it: schedules, each followed by its ablations, then baselines.
        let schedules = candidates.filter { $0.kind == .schedule }.sorted { $0.name < $1.name }
        var ordered: [Candidate] = []
        for s in schedules {
            ordered.append(s)
            ordered += candidates.filter { $0.source == s.name }.sorted { $0.name < $1.name }
        }
        ordered += candidates.filter { !ordered.contains($0) && $0.kind != .baseline }.sorted { $0.name < $1.name }
        ordered += candidates.filter { $0.kind == .baseline }.sorted { $0.name < $1.name }
        var accuracies: [String: [UInt64: Double]] = [:], seconds: [String: Double] = [:]
        for c in ordered {
            for cell in byCandidate[c.key]! where seeds.contains(cell.seedValue) {
                accuracies[c.key, default: [:]][cell.seedValue] = cell.testAccuracy
                seconds[c.key, default: 0] += cell.seconds
            }
        }
        let testImages = cells.first!.predictions.count / 4
        let recipe = EvaluationRecipe(data: "(not stored)", model: "(not stored)", epochs: 0, trainingImages: 0,
                                      trainingImagesDescription: "not stored", testImages: testImages,
                                      baseAugmentation: "(not stored)", optimizer: "(not stored)")
        report = try EvaluationReport(recipe: recipe, candidates: ordered, seeds: seeds, accuracies: accuracies, seconds: seconds)
        workers = Array(Set(cells.compactMap(\.worker))).sorted()
    }

    /// What a stored cell was: its key says baseline or schedule; a schedule's ablations are
    /// named NAME:averaged / NAME:reversed by `pba evaluate` (the only place the store keeps it).
    static func candidate(key: String, name: String) -> Candidate {
        if key.hasPrefix("baseline:") {
            return Candidate(name: name, kind: .baseline, source: nil, augmentation: .baseline(name: name), key: key)
        }
        for (suffix, kind) in [(":averaged", Candidate.Kind.timeAveraged), (":reversed", .reversed)] where name.hasSuffix(suffix) {
            return Candidate(name: name, kind: kind, source: String(name.dropLast(suffix.count)), augmentation: .schedule(json: ""), key: key)
        }
        return Candidate(name: name, kind: .schedule, source: nil, augmentation: .schedule(json: ""), key: key)
    }
}
