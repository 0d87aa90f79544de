import Augment

/// How a population searches: PBA's rules are the defaults, each one configurable.
///
/// The configuration is part of a run's identity: replaying a run's events needs the same
/// configuration, and a schedule records the one it was learned with.
public struct SearchConfiguration: Hashable, Codable, Sendable {
    /// When decisions are made.
    public enum Mode: String, Hashable, Codable, Sendable {
        /// A member decides as soon as it reports (Ray Tune's PBT): no worker waits for others.
        case asynchronous
        /// Every member finishes interval i before any decision for i; the search is then a
        /// deterministic function of the seed and the results.
        case synchronous
    }

    /// How the members' first policies are chosen.
    public enum InitialPolicy: String, Hashable, Codable, Sendable {
        /// Every probability and magnitude zero (PBA).
        case zero
        /// Every integer uniform in its range, from a stream derived from (seed, member).
        case sampled
    }

    /// Members trained in parallel.
    public var populationSize: Int
    /// Epochs every member trains in total; the search ends when all have reached it.
    public var epochs: Int
    /// Epochs between two decisions of a member (one assignment trains this many).
    public var perturbationInterval: Int
    /// Fraction of the ranked members that forms the bottom (copies) and the top (is copied).
    public var quantileFraction: Double
    /// How a copied policy is perturbed.
    public var exploration: ExplorationRules
    public var initialPolicy: InitialPolicy
    public var mode: Mode
    /// Off turns the search into independent training of the initial policies (the baseline
    /// PBT is compared with).
    public var exploitAndExplore: Bool
    /// The operations a policy is made of.
    public var operations: OperationSet
    /// The run seed every random choice of the search derives from.
    public var seed: UInt64

    public init(populationSize: Int = 16, epochs: Int = 200, perturbationInterval: Int = 3,
                quantileFraction: Double = 0.25, exploration: ExplorationRules = .pba,
                initialPolicy: InitialPolicy = .zero, mode: Mode = .asynchronous,
                exploitAndExplore: Bool = true, operations: OperationSet = .pba, seed: UInt64) {
        self.populationSize = populationSize
        self.epochs = epochs
        self.perturbationInterval = perturbationInterval
        self.quantileFraction = quantileFraction
        self.exploration = exploration
        self.initialPolicy = initialPolicy
        self.mode = mode
        self.exploitAndExplore = exploitAndExplore
        self.operations = operations
        self.seed = seed
    }

    private enum CodingKeys: String, CodingKey {
        case populationSize, epochs, perturbationInterval, quantileFraction, exploration
        case initialPolicy, mode, exploitAndExplore, operations, seed
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
            initialPolicy: try c.decodeIfPresent(InitialPolicy.self, forKey: .initialPolicy) ?? defaults.initialPolicy,
            mode: try c.decodeIfPresent(Mode.self, forKey: .mode) ?? defaults.mode,
            exploitAndExplore: try c.decodeIfPresent(Bool.self, forKey: .exploitAndExplore) ?? defaults.exploitAndExplore,
            operations: try c.decodeIfPresent(OperationSet.self, forKey: .operations) ?? defaults.operations,
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
        guard operations.count >= 1 else { throw bad("operations", "[]", "at least one operation") }
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
