import Augment

/// One operation of a schedule's operation set, with what its magnitude means, so a consumer in
/// another language needs nothing but the schedule file.
public struct OperationDescription: Hashable, Codable, Sendable {
    public var name: String
    /// The operation and its magnitude m (0…9) in words and formulas (PIL semantics).
    public var magnitude: String

    public init(name: String, magnitude: String) {
        self.name = name
        self.magnitude = magnitude
    }

    /// PBA's 15 operations as implemented by pba's Augment module (PIL semantics, PBA's
    /// PARAMETER_MAX = 10 scaling). "Fill" is the base augmentation's fill rule.
    public static let pbaSemantics: [String: String] = [
        "Rotate": "rotate by int(m*30/10) degrees (0..27), sign + or - with probability 1/2, nearest-neighbour resampling, uncovered pixels get the fill",
        "TranslateX": "translate horizontally by int(m*10/10) = m pixels, sign + or - with probability 1/2, uncovered pixels get the fill",
        "TranslateY": "translate vertically by int(m*10/10) = m pixels, sign + or - with probability 1/2, uncovered pixels get the fill",
        "Brightness": "PIL ImageEnhance.Brightness with factor m*1.8/10 + 0.1 (0.1..1.72): blend with a black image",
        "Color": "PIL ImageEnhance.Color with factor m*1.8/10 + 0.1: blend with the ITU-R 601-2 luma grey image (L = 0.299 R + 0.587 G + 0.114 B); identity on 1-channel images",
        "Invert": "PIL ImageOps.invert: v -> 255 - v; magnitude unused",
        "Sharpness": "PIL ImageEnhance.Sharpness with factor m*1.8/10 + 0.1: blend with PIL's 3x3 SMOOTH-filtered image (kernel [[1,1,1],[1,5,1],[1,1,1]]/13), border pixels unchanged",
        "Posterize": "PIL ImageOps.posterize keeping 4 - int(m*4/10) bits per channel (4..1)",
        "ShearX": "shear with s = m*0.3/10 (0..0.27), sign + or - with probability 1/2, affine map (1, s, 0, 0, 1, 0) in PIL's output-to-input convention, nearest neighbour, uncovered pixels get the fill",
        "Solarize": "PIL ImageOps.solarize with threshold 256 - int(m*256/10): every value >= threshold becomes 255 - value",
        "ShearY": "shear with s = m*0.3/10, sign + or - with probability 1/2, affine map (1, 0, 0, s, 1, 0), nearest neighbour, uncovered pixels get the fill",
        "Equalize": "PIL ImageOps.equalize, per channel; magnitude unused",
        "AutoContrast": "PIL ImageOps.autocontrast (cutoff 0), per channel; magnitude unused",
        "Cutout": "a square of side int(m*20/10) = 2m pixels centred at a uniformly random pixel, clipped at the border, set to the fill",
        "Contrast": "PIL ImageEnhance.Contrast with factor m*1.8/10 + 0.1: blend with a uniform image of the mean of the luma grey image (rounded as PIL does)",
    ]

    /// The descriptions of an operation set; operations outside PBA's set are described as
    /// defined by their implementation.
    public static func describing(_ operations: OperationSet) -> [OperationDescription] {
        operations.names.map {
            OperationDescription(name: $0, magnitude: pbaSemantics[$0]
                ?? "not a PBA operation: magnitude 0..9 as defined by the registered implementation named '\($0)'")
        }
    }
}

/// How a policy's integers are laid out and applied.
public struct PolicyLayoutDescription: Hashable, Codable, Sendable {
    public var integersPerPolicy: Int
    public var probabilityRange: [Int]
    public var magnitudeRange: [Int]
    public var layout: String
    public var application: String

    public init(operationCount n: Int) {
        integersPerPolicy = 4 * n
        probabilityRange = [Policy.probabilityRange.lowerBound, Policy.probabilityRange.upperBound]
        magnitudeRange = [Policy.magnitudeRange.lowerBound, Policy.magnitudeRange.upperBound]
        layout = "PBA's hp_policy: \(4 * n) integers for n = \(n) operations. Integers [0, \(2 * n)) are each operation's first (probability, magnitude) pair in the order of 'operations': integer 2i is operation i's probability in tenths (0..10), integer 2i+1 its magnitude (0..9). Integers [\(2 * n), \(4 * n)) are the second pairs, laid out the same way (integer \(2 * n) + 2i, \(2 * n) + 2i + 1)."
        application = "For each image: choose count = 0, 1 or 2 with probabilities 0.2, 0.3, 0.5; visit the \(2 * n) (operation, probability, magnitude) tuples (first pairs then second pairs) in uniformly random order, applying each with probability probability/10 at its magnitude, until count operations have been applied; then apply the base augmentation."
    }
}
