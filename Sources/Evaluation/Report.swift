import Foundation

/// What one finished (candidate, seed) cell measured.
public struct CellResult: Hashable, Sendable {
    public var candidateKey: String
    public var seed: UInt64
    public var testAccuracy: Double
    public var trainLoss: Double
    public var seconds: Double
    /// Predicted class per test image, in the test set's order.
    public var predictions: [Int32]
    public var worker: String?

    public init(candidateKey: String, seed: UInt64, testAccuracy: Double, trainLoss: Double, seconds: Double,
                predictions: [Int32], worker: String? = nil) {
        self.candidateKey = candidateKey; self.seed = seed; self.testAccuracy = testAccuracy; self.trainLoss = trainLoss
        self.seconds = seconds; self.predictions = predictions; self.worker = worker
    }
}

/// How the candidates were trained, for the report's header.
public struct EvaluationRecipe: Hashable, Sendable {
    public var data: String
    public var model: String
    public var epochs: Int
    public var trainingImages: Int
    /// Which training images: "the full training set" or "the search's train + validation images".
    public var trainingImagesDescription: String
    public var testImages: Int
    public var baseAugmentation: String
    public var optimizer: String
    /// What the candidates were scored on: the test set, or held-out training images (for
    /// choosing a regime or settings without looking at the test set).
    public var heldOut: HeldOutSet
    /// The command line that reproduces the report, and the git revision of the binary that ran it.
    public var commandLine: String?
    public var gitRevision: String?
    /// Where the cells came from when not all were trained by the command that wrote the
    /// report (`pba evaluate --import-cells`); nil: all trained here.
    public var cellSources: String?

    public enum HeldOutSet: String, Hashable, Sendable {
        case test
        case validation
    }

    public init(data: String, model: String, epochs: Int, trainingImages: Int, trainingImagesDescription: String,
                testImages: Int, baseAugmentation: String, optimizer: String, heldOut: HeldOutSet = .test,
                commandLine: String? = nil, gitRevision: String? = nil) {
        self.data = data; self.model = model; self.epochs = epochs; self.trainingImages = trainingImages
        self.trainingImagesDescription = trainingImagesDescription; self.testImages = testImages
        self.baseAugmentation = baseAugmentation; self.optimizer = optimizer
        self.heldOut = heldOut; self.commandLine = commandLine; self.gitRevision = gitRevision
    }
}

/// The evaluation's findings: per-candidate test error and paired comparisons of every schedule
/// against every baseline and against its own ablations. Built from finished cells only; pure.
public struct EvaluationReport: Sendable {
    public struct CandidateSummary: Sendable {
        public var candidate: Candidate
        /// Test error in percent, per seed in the evaluation's seed order.
        public var errors: [Double]
        public var mean: Double
        public var standardDeviation: Double
        /// Training time summed over seeds.
        public var seconds: Double
    }

    public struct Comparison: Sendable {
        public var candidate: String
        public var reference: String
        /// Mean over seeds of (candidate error − reference error), in points; negative is better.
        public var meanDifference: Double
        public var t: Double?
        public var p: Double?
        public var holmP: Double?
        /// 95% bootstrap interval of the difference, in points (seeds and test images resampled).
        public var interval: Statistics.Interval?
        public var verdict: Verdict
    }

    public enum Verdict: String, Sendable {
        /// The corrected t-test and the bootstrap interval agree.
        case better, worse
        /// Only the bootstrap interval excludes 0: with few seeds the corrected t-test has
        /// little power, so this is a lead, not a finding.
        case likelyBetter = "likely better"
        case likelyWorse = "likely worse"
        case withinNoise = "within noise"
        /// Too few seeds for a test.
        case undetermined
    }

    public var recipe: EvaluationRecipe
    public var seeds: [UInt64]
    public var summaries: [CandidateSummary]
    public var comparisons: [Comparison]
    /// One standard error of a single model's test error at the mean error, in points: how far
    /// the test set alone moves a number.
    public var testStandardError: Double
    public var significanceLevel = 0.05

    /// `results` must hold every (candidate, seed) cell; `labels` are the test labels.
    public init(recipe: EvaluationRecipe, candidates: [Candidate], seeds: [UInt64], results: [CellResult], labels: [Int32],
                bootstrapResamples: Int = 2000) throws {
        self.recipe = recipe
        self.seeds = seeds
        var byKey: [String: [UInt64: CellResult]] = [:]
        for r in results { byKey[r.candidateKey, default: [:]][r.seed] = r }
        var summaries: [CandidateSummary] = []
        var correct: [String: [[Bool]]] = [:]
        for c in candidates {
            var errors: [Double] = [], seconds = 0.0, hits: [[Bool]] = []
            for s in seeds {
                guard let r = byKey[c.key]?[s] else { throw EvaluationError.missingCell(candidate: c.name, seed: s) }
                guard r.predictions.count == labels.count else {
                    throw EvaluationError.badCell(candidate: c.name, seed: s,
                                                  reason: "\(r.predictions.count) predictions for \(labels.count) test images")
                }
                let h = zip(r.predictions, labels).map { $0 == $1 }
                hits.append(h)
                errors.append(100 * Double(h.filter { !$0 }.count) / Double(max(1, labels.count)))
                seconds += r.seconds
            }
            correct[c.key] = hits
            summaries.append(CandidateSummary(candidate: c, errors: errors, mean: Statistics.mean(errors),
                                              standardDeviation: Statistics.standardDeviation(errors), seconds: seconds))
        }
        self.summaries = summaries
        let overall = Statistics.mean(summaries.map(\.mean)) / 100
        testStandardError = labels.isEmpty || overall.isNaN ? .nan : 100 * (overall * (1 - overall) / Double(labels.count)).squareRoot()
        comparisons = Self.comparisons(candidates: candidates, summaries: summaries, correct: correct,
                                       bootstrapResamples: bootstrapResamples, level: significanceLevel)
    }

    /// A report from stored test accuracies alone, without the test labels: what a reader of
    /// the store (the dashboard) can rebuild. Summaries and paired t-tests with Holm's
    /// correction are as in the full report; the bootstrap over test images needs each image's
    /// correctness, so intervals are absent and every verdict is `.undetermined`.
    /// `accuracies[candidate.key][seed]` must hold every (candidate, seed) cell.
    public init(recipe: EvaluationRecipe, candidates: [Candidate], seeds: [UInt64], accuracies: [String: [UInt64: Double]],
                seconds: [String: Double] = [:]) throws {
        self.recipe = recipe
        self.seeds = seeds
        var summaries: [CandidateSummary] = []
        for c in candidates {
            var errors: [Double] = []
            for s in seeds {
                guard let a = accuracies[c.key]?[s] else { throw EvaluationError.missingCell(candidate: c.name, seed: s) }
                errors.append(100 * (1 - a))
            }
            summaries.append(CandidateSummary(candidate: c, errors: errors, mean: Statistics.mean(errors),
                                              standardDeviation: Statistics.standardDeviation(errors), seconds: seconds[c.key] ?? 0))
        }
        self.summaries = summaries
        let overall = Statistics.mean(summaries.map(\.mean)) / 100
        testStandardError = recipe.testImages <= 0 || overall.isNaN ? .nan : 100 * (overall * (1 - overall) / Double(recipe.testImages)).squareRoot()
        comparisons = Self.comparisons(candidates: candidates, summaries: summaries, correct: nil, bootstrapResamples: 0, level: significanceLevel)
    }

    /// Every schedule against every baseline and against its own ablations; with per-image
    /// correctness (`correct[key]`, one array per seed) a bootstrap interval for each.
    static func comparisons(candidates: [Candidate], summaries: [CandidateSummary], correct: [String: [[Bool]]]?,
                            bootstrapResamples: Int, level: Double) -> [Comparison] {
        var pairs: [(Candidate, Candidate)] = []
        let baselines = candidates.filter { $0.kind == .baseline }
        for c in candidates where c.kind == .schedule {
            for b in baselines { pairs.append((c, b)) }
            for a in candidates where a.source == c.name { pairs.append((c, a)) }
        }
        let summaryByKey = Dictionary(summaries.map { ($0.candidate.key, $0) }, uniquingKeysWith: { a, _ in a })
        var comparisons: [Comparison] = []
        for (a, b) in pairs {
            let ea = summaryByKey[a.key]!.errors, eb = summaryByKey[b.key]!.errors
            let test = Statistics.pairedTTest(ea, eb)
            let interval = correct.flatMap { correct in
                Statistics.pairedBootstrap(correctA: correct[a.key]!, correctB: correct[b.key]!, resamples: bootstrapResamples)
                    .map { Statistics.Interval(low: 100 * $0.low, high: 100 * $0.high) }
            }
            comparisons.append(Comparison(candidate: a.name, reference: b.name, meanDifference: Statistics.mean(zip(ea, eb).map { $0 - $1 }),
                                          t: test?.t, p: test?.p, holmP: nil, interval: interval, verdict: .undetermined))
        }
        let adjusted = Statistics.holm(comparisons.map { $0.p ?? .nan })
        for i in comparisons.indices {
            let holm = adjusted[i].isNaN ? nil : adjusted[i]
            comparisons[i].holmP = holm
            comparisons[i].verdict = verdict(difference: comparisons[i].meanDifference, holmP: holm,
                                             interval: comparisons[i].interval, level: level)
        }
        return comparisons
    }

    /// A difference counts when the Holm-corrected t-test and the bootstrap interval agree that it
    /// is not zero; when only the interval excludes zero it is reported as likely; anything else
    /// is within noise.
    static func verdict(difference: Double, holmP: Double?, interval: Statistics.Interval?, level: Double) -> Verdict {
        guard let holmP, let interval else { return .undetermined }
        guard !interval.contains(0) else { return .withinNoise }
        if holmP < level { return difference < 0 ? .better : .worse }
        return difference < 0 ? .likelyBetter : .likelyWorse
    }

    /// The best baseline by mean test error (the bar a schedule has to clear).
    public var bestBaseline: CandidateSummary? {
        summaries.filter { $0.candidate.kind == .baseline }.min { $0.mean < $1.mean }
    }
}

public enum EvaluationError: Error, CustomStringConvertible, Equatable {
    case missingCell(candidate: String, seed: UInt64)
    case badCell(candidate: String, seed: UInt64, reason: String)
    case badReport(file: String, line: Int, reason: String)

    public var description: String {
        switch self {
        case let .missingCell(c, s): return "no result for candidate \(c), seed \(s)"
        case let .badCell(c, s, reason): return "candidate \(c), seed \(s): \(reason)"
        case let .badReport(file, line, reason): return "\(file):\(line): \(reason)"
        }
    }
}
