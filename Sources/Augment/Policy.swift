/// The names of the image operations a policy is made of, in order. The order is part of the
/// schedule format: a policy's integers are laid out by it.
///
/// The set is a value, not a constant: the 15 PBA operations are the default, and a schedule
/// carries its own set so that a data-set-specific operation can be added later.
public struct OperationSet: Hashable, Codable, Sendable {
    public let names: [String]

    public init(names: [String]) { self.names = names }

    /// PBA's `HP_TRANSFORM_NAMES`, in PBA's order.
    public static let pba = OperationSet(names: [
        "Rotate", "TranslateX", "TranslateY", "Brightness", "Color", "Invert", "Sharpness",
        "Posterize", "ShearX", "Solarize", "ShearY", "Equalize", "AutoContrast", "Cutout", "Contrast",
    ])

    public var count: Int { names.count }
}

/// One (probability, magnitude) pair of a policy: the operation is applied with probability
/// `probability / 10` at magnitude `magnitude`.
public struct PolicyTuple: Hashable, Sendable {
    public var operation: Int
    public var probability: Int
    public var magnitude: Int
}

/// A PBA policy: for each operation two (probability 0…10, magnitude 0…9) pairs, stored as
/// PBA's `hp_policy` integers. Integers `[0, 2n)` are each operation's first pair
/// (`[2i]` probability, `[2i+1]` magnitude), `[2n, 4n)` the second pairs, n = operations.count.
public struct Policy: Hashable, Sendable {
    public static let probabilityRange = 0...10
    public static let magnitudeRange = 0...9

    public let operations: OperationSet
    public private(set) var values: [Int]
    /// The baseline recipe (AutoAugment, TrivialAugment, RandAugment) this member's policy is
    /// stacked on, when the search gave members different ones: a mixed start that holds every
    /// free baseline as a member copies and explores them like any policy, so the foundation
    /// travels with the values: inherited on copy and kept by explore, so a lineage has one
    /// foundation throughout and its schedule records it once (`baseAugmentation.foundation`).
    /// Nil: the run's own (its `--foundation`, or none). Only `foundationStage`-capable
    /// baselines are allowed (see `init(values:operations:foundation:)`).
    public private(set) var foundation: Baseline?

    /// A policy with every probability and magnitude zero (PBA's starting point).
    public init(zeroFor operations: OperationSet = .pba, foundation: Baseline? = nil) {
        self.operations = operations
        self.values = Array(repeating: 0, count: 4 * operations.count)
        self.foundation = foundation?.foundationStage == nil ? nil : foundation
    }

    /// Validates length, ranges and the foundation; the error names the offending index.
    public init(values: [Int], operations: OperationSet = .pba, foundation: Baseline? = nil) throws(PolicyError) {
        if let foundation, foundation.foundationStage == nil { throw .notAFoundation(foundation.name) }
        self.foundation = foundation
        guard values.count == 4 * operations.count else {
            throw .wrongLength(expected: 4 * operations.count, got: values.count)
        }
        for (i, v) in values.enumerated() {
            let range = Policy.isProbabilityIndex(i) ? Policy.probabilityRange : Policy.magnitudeRange
            guard range.contains(v) else {
                throw .outOfRange(index: i, value: v, allowed: range,
                                  field: Policy.fieldName(i, operations: operations))
            }
        }
        self.operations = operations
        self.values = values
    }

    /// Even indices are probabilities, odd ones magnitudes, in both halves.
    @inline(__always)
    public static func isProbabilityIndex(_ i: Int) -> Bool { i % 2 == 0 }

    /// The allowed range of integer `i`.
    public static func range(ofIndex i: Int) -> ClosedRange<Int> {
        isProbabilityIndex(i) ? probabilityRange : magnitudeRange
    }

    /// A readable name for integer `i`, e.g. "Rotate.pair1.probability".
    public static func fieldName(_ i: Int, operations: OperationSet) -> String {
        let n = operations.count
        let pair = i < 2 * n ? 1 : 2
        let op = (i % (2 * n)) / 2
        let name = op < n ? operations.names[op] : "op\(op)"
        return "\(name).pair\(pair).\(isProbabilityIndex(i) ? "probability" : "magnitude")"
    }

    /// The 2n tuples in layout order (first pairs of every operation, then second pairs).
    public var tuples: [PolicyTuple] {
        let n = operations.count
        return (0..<(2 * n)).map { t in
            PolicyTuple(operation: t % n, probability: values[2 * t], magnitude: values[2 * t + 1])
        }
    }

    /// The same integers on another foundation (nil: the run's own); not a foundation-capable
    /// baseline (`base`, `none`, `cutout`) also means nil.
    public func on(foundation: Baseline?) -> Policy {
        var p = self
        p.foundation = foundation?.foundationStage == nil ? nil : foundation
        return p
    }

    /// Whether every probability and magnitude is zero (on whatever foundation).
    public var isZero: Bool { values.allSatisfy { $0 == 0 } }

    /// Sets integer `i`, clamped into its range.
    public mutating func set(_ i: Int, clamping v: Int) {
        let r = Policy.range(ofIndex: i)
        values[i] = min(max(v, r.lowerBound), r.upperBound)
    }
}

public enum PolicyError: Error, CustomStringConvertible, Equatable {
    case wrongLength(expected: Int, got: Int)
    case outOfRange(index: Int, value: Int, allowed: ClosedRange<Int>, field: String)
    case unknownOperation(String)
    case notAFoundation(String)

    public var description: String {
        switch self {
        case let .wrongLength(expected, got):
            return "policy has \(got) integers, expected \(expected) (4 per operation)"
        case let .outOfRange(index, value, allowed, field):
            return "policy integer \(index) (\(field)) is \(value), allowed \(allowed.lowerBound)...\(allowed.upperBound)"
        case let .unknownOperation(name):
            return "unknown operation '\(name)'"
        case let .notAFoundation(name):
            return "'\(name)' cannot be a policy's foundation (one of \(Baseline.foundationNames.joined(separator: ", ")))"
        }
    }
}
