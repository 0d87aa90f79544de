import Tensor

/// The augmentation recipes learned schedules are judged against, with the names used
/// everywhere (command line, reports): none, base, cutout, randaugment, trivialaugment,
/// autoaugment. All but `none` and `base` end with the base augmentation including Cutout.
public enum Baseline: Hashable, Sendable, CustomStringConvertible {
    /// No augmentation at all.
    case none
    /// Pad + random crop + flip.
    case base
    /// `base` + Cutout.
    case cutout
    /// RandAugment (Cubuk et al. 2020): `n` operations drawn uniformly (with replacement) from
    /// its 14 (Identity and the PBA operations except Invert and Cutout), each applied at
    /// magnitude `magnitude` on PBA's 0...10 scale (the scale of RandAugment's own code), with
    /// random signs. Then base + Cutout.
    case randAugment(n: Int, magnitude: Int)
    /// TrivialAugment wide (Müller & Hutter 2021): one operation drawn uniformly from the same
    /// 14, its strength drawn uniformly from 31 bins over the wide ranges. Then base + Cutout.
    case trivialAugment
    /// AutoAugment's published CIFAR-10 policy (25 sub-policies, Cubuk et al. 2019, appendix),
    /// one sub-policy drawn uniformly per image. Then base + Cutout.
    case autoAugment

    public static let defaultRandAugment = Baseline.randAugment(n: 2, magnitude: 9)

    /// The names, in the order reports list them.
    public static let names = ["none", "base", "cutout", "randaugment", "trivialaugment", "autoaugment"]

    /// Parses a name; RandAugment takes "randaugment" (N = 2, M = 9) or "randaugment(N,M)".
    public init(name: String) throws(BaselineError) {
        let s = name.lowercased().filter { $0 != " " }
        switch s {
        case "none": self = .none
        case "base": self = .base
        case "cutout": self = .cutout
        case "randaugment": self = Baseline.defaultRandAugment
        case "trivialaugment": self = .trivialAugment
        case "autoaugment": self = .autoAugment
        default:
            guard s.hasPrefix("randaugment("), s.hasSuffix(")") else { throw .unknown(name) }
            let inner = s.dropFirst("randaugment(".count).dropLast()
            let parts = inner.split(separator: ",", omittingEmptySubsequences: false)
            guard parts.count == 2, let n = Int(parts[0]), let m = Int(parts[1]) else {
                throw .badRandAugment(name, reason: "expected randaugment(N,M) with integers N and M")
            }
            guard (0...16).contains(n) else { throw .badRandAugment(name, reason: "N = \(n) is outside 0...16") }
            guard operationMagnitudeRange.contains(m) else {
                throw .badRandAugment(name, reason: "M = \(m) is outside 0...\(parameterMax)")
            }
            self = .randAugment(n: n, magnitude: m)
        }
    }

    public var name: String {
        switch self {
        case .none: return "none"
        case .base: return "base"
        case .cutout: return "cutout"
        case let .randAugment(n, m):
            return Baseline.defaultRandAugment == self ? "randaugment" : "randaugment(\(n),\(m))"
        case .trivialAugment: return "trivialaugment"
        case .autoAugment: return "autoaugment"
        }
    }

    public var description: String { name }

    /// The baselines that can be a foundation (`Augmentation.foundation`): the policy recipes,
    /// whose stage runs before a schedule's policy. `none`, `base` and `cutout` are base
    /// augmentations, which a run sets with padding, flip and Cutout instead.
    public static let foundationNames = ["randaugment", "trivialaugment", "autoaugment", "randaugment(N,M)"]

    /// This baseline's stage as a foundation, or nil for `none`, `base` and `cutout`.
    public var foundationStage: AugmentationStage? {
        switch self {
        case .none, .base, .cutout: return nil
        case let .randAugment(n, m): return .randAugment(n: n, magnitude: m)
        case .trivialAugment: return .trivialAugment
        case .autoAugment: return .autoAugment
        }
    }

    /// Parses a foundation name; the error says which names are allowed.
    public static func foundation(named name: String) throws(BaselineError) -> AugmentationStage {
        let b = try Baseline(name: name)
        guard let stage = b.foundationStage else { throw .notAFoundation(name) }
        return stage
    }
}

public enum BaselineError: Error, CustomStringConvertible, Equatable {
    case unknown(String)
    case badRandAugment(String, reason: String)
    case notAFoundation(String)

    public var description: String {
        switch self {
        case let .unknown(name):
            return "unknown baseline '\(name)' (known: \(Baseline.names.joined(separator: ", ")), randaugment(N,M))"
        case let .badRandAugment(name, reason):
            return "baseline '\(name)': \(reason)"
        case let .notAFoundation(name):
            return "'\(name)' cannot be a foundation: it is a base augmentation (set it with --padding, --flip and --cutout); a foundation is one of \(Baseline.foundationNames.joined(separator: ", "))"
        }
    }
}

/// The operations RandAugment and TrivialAugment choose from, besides Identity.
let uniformAugmentOperations = [
    "AutoContrast", "Equalize", "Rotate", "Solarize", "Color", "Posterize", "Contrast", "Brightness",
    "Sharpness", "ShearX", "ShearY", "TranslateX", "TranslateY",
]

/// AutoAugment's CIFAR-10 policy as (operation, probability in tenths, magnitude 0...9).
///
/// Mapping: AutoAugment's operations and magnitude scale are PBA's (PBA's augmentation code
/// descends from AutoAugment's, PARAMETER_MAX = 10), so each entry is our operation of the same
/// name at the same magnitude and probability. Invert, Equalize and AutoContrast carry no
/// magnitude (0 here). Deviation from the published table: none in values; as everywhere here,
/// uncovered pixels take the fill colour.
public let autoAugmentCIFAR10: [[(String, Int, Int)]] = [
    [("Invert", 1, 0), ("Contrast", 2, 6)],
    [("Rotate", 7, 2), ("TranslateX", 3, 9)],
    [("Sharpness", 8, 1), ("Sharpness", 9, 3)],
    [("ShearY", 5, 8), ("TranslateY", 7, 9)],
    [("AutoContrast", 5, 0), ("Equalize", 9, 0)],
    [("ShearY", 2, 7), ("Posterize", 3, 7)],
    [("Color", 4, 3), ("Brightness", 6, 7)],
    [("Sharpness", 3, 9), ("Brightness", 7, 9)],
    [("Equalize", 6, 0), ("Equalize", 5, 0)],
    [("Contrast", 6, 7), ("Sharpness", 6, 5)],
    [("Color", 7, 7), ("TranslateX", 5, 8)],
    [("Equalize", 3, 0), ("AutoContrast", 4, 0)],
    [("TranslateY", 4, 3), ("Sharpness", 2, 6)],
    [("Brightness", 9, 6), ("Color", 2, 8)],
    [("Solarize", 5, 2), ("Invert", 0, 0)],
    [("Equalize", 2, 0), ("AutoContrast", 6, 0)],
    [("Equalize", 2, 0), ("Equalize", 6, 0)],
    [("Color", 9, 9), ("Equalize", 6, 0)],
    [("AutoContrast", 8, 0), ("Solarize", 2, 8)],
    [("Brightness", 1, 3), ("Color", 7, 0)],
    [("Solarize", 4, 5), ("AutoContrast", 9, 0)],
    [("TranslateY", 9, 9), ("TranslateY", 7, 9)],
    [("AutoContrast", 9, 0), ("Solarize", 8, 3)],
    [("Equalize", 8, 0), ("Invert", 1, 0)],
    [("TranslateY", 7, 9), ("AutoContrast", 9, 0)],
]

/// TrivialAugment-wide's parameter for an operation at strength bin `bin` of 0...30, as
/// torchvision's `TrivialAugmentWide` defines the wide ranges (linear in the bin): shear
/// 0...0.99, translation 0...32 px (truncated to whole pixels), rotation 0...135°, enhance
/// factor 1 ± 0...0.99, posterize 8 − round(bin/5) bits, solarize threshold 255...0.
///
/// Deviations: shears are PBA's (about the top-left corner) rather than torchvision's (about the
/// centre); ranges are computed in double precision rather than torch's float32 `linspace`.
/// Operations without a parameter get 0. `signPositive` matters only for signed operations.
func trivialAugmentParameter(_ name: String, bin: Int, signPositive: Bool) -> Double {
    let f = Double(bin) / 30.0
    let s: Double = signPositive ? 1 : -1
    switch name {
    case "ShearX", "ShearY": return s * 0.99 * f
    case "TranslateX", "TranslateY": return s * Double(Int(32.0 * f))
    case "Rotate": return s * 135.0 * f
    case "Brightness", "Color", "Contrast", "Sharpness": return 1 + s * 0.99 * f
    case "Posterize": return Double(8 - Int((Double(bin) / 5.0).rounded(.toNearestOrEven)))
    case "Solarize": return 255.0 - 255.0 * f
    default: return 0
    }
}

/// Whether TrivialAugment draws a sign for the operation.
func trivialAugmentIsSigned(_ name: String) -> Bool {
    switch name {
    case "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color", "Contrast", "Sharpness":
        return true
    default:
        return false
    }
}
