import Augment

/// How a population searches: PBA's rules are the defaults, each one configurable.
///
/// The configuration is part of a run's identity: replaying a run's events needs the same
/// configuration, and a schedule records the one it was learned with.
public struct SearchConfiguration: Hashable, Codable, Sendable {
    /// When decisions are made.
    public enum Mode: String, Hashable, Codable, Sendable, CaseIterable {
        /// A member decides as soon as it reports (Ray Tune's PBT): no worker waits for others.
        case asynchronous
        /// Every member finishes interval i before any decision for i; the search is then a
        /// deterministic function of the seed and the results.
        case synchronous
    }

    /// How the members' first policies are chosen.
    public enum InitialPolicy: String, Hashable, Codable, Sendable, CaseIterable {
        /// Every probability and magnitude zero (PBA): with the run's base augmentation this is
        /// exactly the free baseline of that base.
        case zero
        /// Every integer uniform in its range, from a stream derived from (seed, member).
        case sampled
        /// The first `mixedZeroMembers` members at zero, the rest sampled: the free baseline
        /// stays in the population, so a search whose honest answer is "nothing beyond the base"
        /// can return it, and exploitation cannot end below the best start on validation.
        case mixed
    }

    /// What explore does to a copied policy.
    public enum ExploreAlgorithm: String, Hashable, Codable, Sendable, CaseIterable {
        /// PBA's random resample/shift (`exploration`).
        case pba
        /// PB2's time-varying GP bandit over the population's recent (policy, improvement) data
        /// (`pb2`), falling back to PBA's rule until it has data.
        case pb2
    }

    /// Members trained in parallel.
    public var populationSize: Int
    /// Epochs every member trains in total; the search ends when all have reached it.
    public var epochs: Int
    /// Epochs between two decisions of a member (one assignment trains this many).
    public var perturbationInterval: Int
    /// Fraction of the ranked members that forms the bottom (copies) and the top (is copied).
    public var quantileFraction: Double
    /// How a copied policy is perturbed (PBA's rule; PB2's fallback and candidate generator).
    public var exploration: ExplorationRules
    public var explore: ExploreAlgorithm
    public var pb2: PB2Settings
    /// How members are ranked and when a bottom member copies.
    public var selection: SelectionRules
    public var initialPolicy: InitialPolicy
    public var mode: Mode
    /// Off turns the search into independent training of the initial policies (the baseline
    /// PBT is compared with).
    public var exploitAndExplore: Bool
    /// The operations a policy is made of.
    public var operations: OperationSet
    /// The run seed every random choice of the search derives from.
    public var seed: UInt64
    /// Members 0..<controlMembers train the zero policy (with the run's base augmentation: the
    /// free baseline) to the end and take no part in exploit: never ranked, never copied, never
    /// copying. They cost their share of the budget and buy a comparison that cannot disappear:
    /// without one, the zero-policy members of a mixed start are often all overtaken and copy
    /// augmented ones, and the verdict has nothing to compare the winner with ("unknown").
    public var controlMembers: Int
    /// The free baselines the zero-policy members of a zero or mixed start train, by name
    /// (`base`, `autoaugment`, `trivialaugment`, `randaugment`, `randaugment(N,M)`): zero member
    /// i takes entry i mod count, so control member 0 takes the first. `base` is the run's own
    /// free baseline (its base augmentation, on its foundation if it has one); the others
    /// become that member's foundation (`Policy.foundation`), which copies inherit and explore
    /// keeps. With every baseline a member, exploit cannot end below the best of them on
    /// validation, and a winner that kept one of them unchanged names the baseline to use.
    /// `none` and `cutout` are not members: they differ in the base augmentation, which is the
    /// run's (a Cutout operation in the policy covers `cutout`).
    public var startBaselines: [String]

    public init(populationSize: Int = 16, epochs: Int = 200, perturbationInterval: Int = 3,
                quantileFraction: Double = 0.25, exploration: ExplorationRules = .pba,
                explore: ExploreAlgorithm = .pba, pb2: PB2Settings = .standard, selection: SelectionRules = .pba,
                initialPolicy: InitialPolicy = .zero, mode: Mode = .asynchronous,
                exploitAndExplore: Bool = true, operations: OperationSet = .pba, controlMembers: Int = 0,
                startBaselines: [String] = ["base"], seed: UInt64) {
        self.populationSize = populationSize
        self.epochs = epochs
        self.perturbationInterval = perturbationInterval
        self.quantileFraction = quantileFraction
        self.exploration = exploration
        self.explore = explore
        self.pb2 = pb2
        self.selection = selection
        self.initialPolicy = initialPolicy
        self.mode = mode
        self.exploitAndExplore = exploitAndExplore
        self.operations = operations
        self.controlMembers = controlMembers
        self.startBaselines = startBaselines
        self.seed = seed
    }

    private enum CodingKeys: String, CodingKey {
        case populationSize, epochs, perturbationInterval, quantileFraction, exploration, explore, pb2, selection
        case initialPolicy, mode, exploitAndExplore, operations, controlMembers, startBaselines, seed
    }

    /// `startBaselines` is written only when it is not the default, so configurations (and the
    /// schedules that embed them) from before it keep their bytes.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(populationSize, forKey: .populationSize)
        try c.encode(epochs, forKey: .epochs)
        try c.encode(perturbationInterval, forKey: .perturbationInterval)
        try c.encode(quantileFraction, forKey: .quantileFraction)
        try c.encode(exploration, forKey: .exploration)
        try c.encode(explore, forKey: .explore)
        try c.encode(pb2, forKey: .pb2)
        try c.encode(selection, forKey: .selection)
        try c.encode(initialPolicy, forKey: .initialPolicy)
        try c.encode(mode, forKey: .mode)
        try c.encode(exploitAndExplore, forKey: .exploitAndExplore)
        try c.encode(operations, forKey: .operations)
        try c.encode(controlMembers, forKey: .controlMembers)
        if startBaselines != ["base"] { try c.encode(startBaselines, forKey: .startBaselines) }
        try c.encode(seed, forKey: .seed)
    }

    /// Missing keys take PBA's defaults, so a configuration file names only what it changes;
    /// `seed` is required.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = SearchConfiguration(seed: 0)
        self.init(
            populationSize: try c.decodeIfPresent(Int.self, forKey: .populationSize) ?? defaults.populationSize,
            epochs: try c.decodeIfPresent(Int.self, forKey: .epochs) ?? defaults.epochs,
            perturbationInterval: try c.decodeIfPresent(Int.self, forKey: .perturbationInterval) ?? defaults.perturbationInterval,
            quantileFraction: try c.decodeIfPresent(Double.self, forKey: .quantileFraction) ?? defaults.quantileFraction,
            exploration: try c.decodeIfPresent(ExplorationRules.self, forKey: .exploration) ?? defaults.exploration,
            explore: try c.decodeIfPresent(ExploreAlgorithm.self, forKey: .explore) ?? defaults.explore,
            pb2: try c.decodeIfPresent(PB2Settings.self, forKey: .pb2) ?? defaults.pb2,
            selection: try c.decodeIfPresent(SelectionRules.self, forKey: .selection) ?? defaults.selection,
            initialPolicy: try c.decodeIfPresent(InitialPolicy.self, forKey: .initialPolicy) ?? defaults.initialPolicy,
            mode: try c.decodeIfPresent(Mode.self, forKey: .mode) ?? defaults.mode,
            exploitAndExplore: try c.decodeIfPresent(Bool.self, forKey: .exploitAndExplore) ?? defaults.exploitAndExplore,
            operations: try c.decodeIfPresent(OperationSet.self, forKey: .operations) ?? defaults.operations,
            controlMembers: try c.decodeIfPresent(Int.self, forKey: .controlMembers) ?? defaults.controlMembers,
            startBaselines: try c.decodeIfPresent([String].self, forKey: .startBaselines) ?? defaults.startBaselines,
            seed: try c.decode(UInt64.self, forKey: .seed))
    }

    /// Checks every field; the error names the first bad one.
    public func validate() throws(SearchError) {
        func bad(_ field: String, _ value: String, _ expected: String) -> SearchError {
            .invalidConfiguration(field: field, value: value, expected: expected)
        }
        guard populationSize >= 1 else { throw bad("populationSize", "\(populationSize)", "at least 1") }
        guard epochs >= 1 else { throw bad("epochs", "\(epochs)", "at least 1") }
        guard perturbationInterval >= 1 else {
            throw bad("perturbationInterval", "\(perturbationInterval)", "at least 1")
        }
        guard quantileFraction > 0, quantileFraction <= 0.5 else {
            throw bad("quantileFraction", "\(quantileFraction)", "in (0, 0.5]")
        }
        guard exploration.resampleProbability >= 0, exploration.resampleProbability <= 1 else {
            throw bad("exploration.resampleProbability", "\(exploration.resampleProbability)", "in [0, 1]")
        }
        guard !exploration.shiftAmounts.isEmpty else {
            throw bad("exploration.shiftAmounts", "[]", "at least one amount")
        }
        for (i, amount) in exploration.shiftAmounts.enumerated() where amount < 0 {
            throw bad("exploration.shiftAmounts[\(i)]", "\(amount)", "a non-negative integer")
        }
        guard controlMembers >= 0, controlMembers < populationSize else {
            throw bad("controlMembers", "\(controlMembers)", "0 to \(populationSize - 1) (fewer than the population)")
        }
        guard operations.count >= 1 else { throw bad("operations", "[]", "at least one operation") }
        guard !startBaselines.isEmpty else { throw bad("startBaselines", "[]", "at least one baseline (base)") }
        guard startBaselines.count <= populationSize else {
            throw bad("startBaselines", "\(startBaselines.count) baselines", "at most the population (\(populationSize))")
        }
        var seenBaselines = Set<String>()
        for (i, name) in startBaselines.enumerated() {
            let expected = "base or a foundation (\(Baseline.foundationNames.joined(separator: ", ")))"
            guard let b = try? Baseline(name: name), b == .base || b.foundationStage != nil else {
                throw bad("startBaselines[\(i)]", "'\(name)'", expected)
            }
            guard seenBaselines.insert(b.name).inserted else { throw bad("startBaselines[\(i)]", "'\(name)'", "each baseline once") }
        }
        if initialPolicy == .sampled, startBaselines != ["base"], controlMembers < startBaselines.count {
            throw bad("startBaselines", startBaselines.joined(separator: ","),
                      "only base with a sampled start (zero members train the baselines: use the mixed or zero start, or as many control members)")
        }
        guard selection.margin >= 0, selection.margin.isFinite else {
            throw bad("selection.margin", "\(selection.margin)", "a non-negative number of standard errors")
        }
        guard selection.smoothing > 0, selection.smoothing <= 1 else {
            throw bad("selection.smoothing", "\(selection.smoothing)", "in (0, 1]")
        }
        try pb2.validate()
    }

    /// Members that start at the zero policy under `.mixed`: a quarter (rounded up), at least one.
    /// Control members are among them when there are fewer controls than that.
    /// With more start baselines than that, one member per baseline.
    public var mixedZeroMembers: Int { min(populationSize, max(1, (populationSize + 3) / 4, startBaselines.count)) }

    /// The foundation zero member `member` trains on (`startBaselines`, cycling); nil for `base`.
    public func startFoundation(ofZeroMember member: Int) -> Baseline? {
        guard !startBaselines.isEmpty, let b = try? Baseline(name: startBaselines[member % startBaselines.count]) else { return nil }
        return b.foundationStage == nil ? nil : b
    }

    /// Whether `member` is a control (see `controlMembers`).
    public func isControl(_ member: Int) -> Bool { member < controlMembers }

    /// "zero members train base, autoaugment, ...", or nil for the default (base alone).
    public var startSummary: String? {
        startBaselines == ["base"] ? nil : "zero members train \(startBaselines.joined(separator: ", "))"
    }

    /// "control member 0 (zero policy, never exploited)", "control members 0-2 (...)", or nil.
    public var controlSummary: String? {
        switch controlMembers {
        case 0: return nil
        case 1: return "control member 0 (zero policy, never exploited)"
        default: return "control members 0-\(controlMembers - 1) (zero policy, never exploited)"
        }
    }
}

/// How the exploit step ranks members and when a bottom member copies a top one.
///
/// PBA ranks by each member's latest validation accuracy and always copies. On ~1 000
/// validation images one standard error of an accuracy is ~1.5 points, the size of the gaps
/// exploit acts on, so both can be made noise-aware; the defaults are PBA's.
public struct SelectionRules: Hashable, Codable, Sendable {
    public enum Ranking: String, Hashable, Codable, Sendable, CaseIterable {
        /// The latest validation accuracy (PBA, Ray Tune).
        case latest
        /// An exponential moving average of the member's results (`smoothing` weighs the newest);
        /// a copy inherits its source's average along with its weights.
        case smoothed
    }

    public var ranking: Ranking
    /// Weight of the newest result in the smoothed ranking, in (0, 1].
    public var smoothing: Double
    /// A bottom member copies only when its source's latest accuracy exceeds its own by at least
    /// this many standard errors of the difference (paired over validation images when both
    /// results carry per-image correctness); 0 always copies (PBA).
    public var margin: Double

    public init(ranking: Ranking = .latest, smoothing: Double = 0.5, margin: Double = 0) {
        self.ranking = ranking
        self.smoothing = smoothing
        self.margin = margin
    }

    public static let pba = SelectionRules()

    private enum CodingKeys: String, CodingKey { case ranking, smoothing, margin }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(ranking: try c.decodeIfPresent(Ranking.self, forKey: .ranking) ?? .latest,
                  smoothing: try c.decodeIfPresent(Double.self, forKey: .smoothing) ?? 0.5,
                  margin: try c.decodeIfPresent(Double.self, forKey: .margin) ?? 0)
    }
}

/// PBA's explore step: each policy integer is either resampled or shifted and clamped.
public struct ExplorationRules: Hashable, Codable, Sendable {
    /// Probability that an integer is resampled uniformly in its whole range.
    public var resampleProbability: Double
    /// Otherwise it moves by one of these amounts (uniform choice) in a random direction.
    public var shiftAmounts: [Int]

    public init(resampleProbability: Double, shiftAmounts: [Int]) {
        self.resampleProbability = resampleProbability
        self.shiftAmounts = shiftAmounts
    }

    /// PBA's `explore` for CIFAR-10: resample with probability 0.2, else shift by {0, 1, 2, 3}.
    public static let pba = ExplorationRules(resampleProbability: 0.2, shiftAmounts: [0, 1, 2, 3])
}
