import Augment

/// PBA's explore and initial-policy rules as pure functions of a policy and a random source.
public enum PolicyExploration {
    /// PBA's `explore`: for each integer in layout order, draw u uniform in [0, 1);
    /// if u < `resampleProbability` the integer is replaced by a uniform draw from its whole
    /// range (probability 0…10, magnitude 0…9); otherwise an amount is drawn uniformly from
    /// `shiftAmounts`, then a second uniform v, and the integer moves down by the amount when
    /// v < 0.5 and up otherwise, clamped into its range.
    ///
    /// The draw order above is part of the contract: the same draws give the same policy.
    public static func explore<R: SearchRandomSource>(
        _ policy: Policy, rules: ExplorationRules, using random: inout R
    ) -> Policy {
        var result = policy
        for i in policy.values.indices {
            let range = Policy.range(ofIndex: i)
            if random.nextUniform() < rules.resampleProbability {
                result.set(i, clamping: random.nextInt(in: range))
            } else {
                let amount = rules.shiftAmounts[random.nextInt(below: rules.shiftAmounts.count)]
                let down = random.nextUniform() < 0.5
                result.set(i, clamping: policy.values[i] + (down ? -amount : amount))
            }
        }
        return result
    }

    /// A policy with every integer uniform in its range, in layout order.
    public static func sample<R: SearchRandomSource>(
        operations: OperationSet, using random: inout R
    ) -> Policy {
        var policy = Policy(zeroFor: operations)
        for i in policy.values.indices {
            policy.set(i, clamping: random.nextInt(in: Policy.range(ofIndex: i)))
        }
        return policy
    }
}
