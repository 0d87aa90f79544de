import Tensor

/// The augmentation every recipe but `none` ends with: pad + random crop back to size, random
/// horizontal flip, then Cutout, all with the fill colour (PBA: pad 4, flip, Cutout 16 on CIFAR).
///
/// Deviation from PBA: its `zero_pad_and_crop` draws crop offsets with `randint(0, 2·pad)`,
/// exclusive, so it never shifts by +pad; we draw from 0...2·pad as torchvision's RandomCrop
/// does, the reference our training parity is measured against.
public struct BaseAugmentation: Hashable, Sendable, Codable {
    public var padding: Int
    public var flip: Bool
    /// Cutout side in pixels; 0 turns it off.
    public var cutout: Int

    public init(padding: Int = 4, flip: Bool = true, cutout: Int = 16) {
        self.padding = padding
        self.flip = flip
        self.cutout = cutout
    }

    /// Crop + flip in one pass through the scratch copy, then Cutout.
    /// Draws, in order: crop x offset, crop y offset, flip (if enabled), Cutout centre x, y (if on).
    @inline(__always)
    func apply(to image: ImageView, context: OperationContext, using rng: inout SeededGenerator) {
        let shape = image.shape
        let w = shape.width, h = shape.height
        var dx = 0, dy = 0
        if padding > 0 {
            dx = rng.nextInt(below: 2 * padding + 1) - padding
            dy = rng.nextInt(below: 2 * padding + 1) - padding
        }
        let mirror = flip && rng.nextInt(below: 2) == 1
        if dx != 0 || dy != 0 || mirror {
            shiftImage(image, dx: dx, dy: dy, mirror: mirror, context: context)
        }
        if cutout > 0 {
            let c = PixelPoint(x: rng.nextInt(below: w), y: rng.nextInt(below: h))
            Augment.cutout(image, size: cutout, center: c, fill: context.fill)
        }
    }
}

/// One (operation, probability, parameter) step of a resolved policy.
struct PolicyStep: Sendable {
    var operation: Int
    /// Tenths: applied when a uniform draw from 0..<10 is below it.
    var probability: Int
    /// The operation's unsigned parameter at the step's magnitude.
    var parameter: Double
}

/// A PBA policy with its operations looked up in a registry and each tuple's parameter
/// precomputed, ready to apply to many images.
public struct ResolvedPolicy: Sendable {
    public let policy: Policy
    let operations: [any ImageOperation]
    let steps: [PolicyStep]

    public init(_ policy: Policy, registry: OperationRegistry = .standard) throws(OperationError) {
        self.policy = policy
        operations = try registry.resolve(policy.operations)
        let ops = operations
        steps = policy.tuples.map {
            PolicyStep(operation: $0.operation, probability: $0.probability,
                       parameter: ops[$0.operation].parameter(magnitude: $0.magnitude))
        }
    }
}

/// Draws the sign and centre an operation needs and applies it.
/// Draws, in order: sign (signed operations), centre x, y (operations with a centre).
@inline(__always)
func applyDrawing(_ op: any ImageOperation, parameter: Double, to image: ImageView,
                  context: OperationContext, using rng: inout SeededGenerator) {
    var p = parameter
    if op.isSigned && rng.nextInt(below: 2) == 1 { p = -p }
    var center = PixelPoint(x: 0, y: 0)
    if op.usesCenter {
        center = PixelPoint(x: rng.nextInt(below: image.shape.width), y: rng.nextInt(below: image.shape.height))
    }
    op.apply(to: image, OperationArguments(parameter: p, center: center), context: context)
}

/// PBA's `apply_policy`: choose how many operations to apply, count ∈ {0, 1, 2} with
/// probabilities 0.2, 0.3, 0.5; walk the 2n tuples in a uniformly random order, applying each
/// with its probability, until `count` have been applied (or the tuples run out).
///
/// The random order is a Fisher–Yates shuffle drawn lazily, one position per visited tuple,
/// which visits tuples in the same distribution as PBA's full `random.shuffle` while drawing
/// only as far as the walk goes.
///
/// Deviations from PBA, both about area that an earlier operation in the same image uncovered
/// (PBA marks it transparent in an RGBA image and maps it to the mean when unwrapping):
/// - PBA routes Invert, Equalize, AutoContrast, Posterize and Solarize through `convert('RGB')`,
///   which drops the alpha channel, so that area turns black and is then transformed. We do not
///   reproduce this quirk.
/// - PBA's enhance operations keep the alpha, so that area ends up at the mean whatever they
///   do; and Contrast's mean luma counts it as black. Here the area holds the fill colour and
///   every later operation treats it as ordinary pixels (a Brightness after a Rotate also
///   brightens the filled corners). With at most two operations per image this touches only
///   geometric-then-colour pairs; the Python consumer follows the same rule, so a schedule
///   means the same thing in both.
func applyPolicy(_ policy: ResolvedPolicy, to image: ImageView, context: OperationContext,
                 indices: UnsafeMutablePointer<Int>, using rng: inout SeededGenerator) {
    let u = rng.nextInt(below: 10)
    var count = u < 2 ? 0 : (u < 5 ? 1 : 2)
    if count == 0 { return }
    let n = policy.steps.count
    for i in 0..<n { indices[i] = i }
    policy.steps.withUnsafeBufferPointer { steps in
        var i = 0
        while i < n && count > 0 {
            let j = i &+ rng.nextInt(below: n &- i)
            let t = indices[j]
            indices[j] = indices[i]
            indices[i] = t
            let step = steps[t]
            if rng.nextInt(below: 10) < step.probability {
                applyDrawing(policy.operations[step.operation], parameter: step.parameter,
                             to: image, context: context, using: &rng)
                count &-= 1
            }
            i &+= 1
        }
    }
}

/// What runs before the base augmentation.
public enum AugmentationStage: Sendable {
    case none
    /// A PBA policy (one epoch's policy of a schedule).
    case policy(ResolvedPolicy)
    case randAugment(n: Int, magnitude: Int)
    case trivialAugment
    case autoAugment
}

/// A complete per-image recipe: the foundation (if any), a stage, then (unless nil) the base
/// augmentation.
public struct Augmentation: Sendable {
    /// A fixed recipe applied before `stage` to every image: a run searches policies on top of
    /// the best free baseline instead of beside it, so the zero policy means that baseline.
    public var foundation: AugmentationStage?
    public var stage: AugmentationStage
    public var base: BaseAugmentation?

    public init(foundation: AugmentationStage? = nil, stage: AugmentationStage, base: BaseAugmentation?) {
        self.foundation = foundation
        self.stage = stage
        self.base = base
    }

    /// A PBA policy followed by the base augmentation (PBA's training recipe), optionally on
    /// top of a foundation.
    public init(policy: ResolvedPolicy, base: BaseAugmentation = BaseAugmentation(), foundation: AugmentationStage? = nil) {
        self.init(foundation: foundation, stage: .policy(policy), base: base)
    }

    /// A baseline's recipe. `base` supplies padding, flip and the Cutout size; `.base` itself
    /// drops the Cutout and `.none` drops everything.
    public init(baseline: Baseline, base: BaseAugmentation = BaseAugmentation()) {
        var noCutout = base
        noCutout.cutout = 0
        switch baseline {
        case .none: self.init(stage: .none, base: nil)
        case .base: self.init(stage: .none, base: noCutout)
        case .cutout: self.init(stage: .none, base: base)
        case let .randAugment(n, m): self.init(stage: .randAugment(n: n, magnitude: m), base: base)
        case .trivialAugment: self.init(stage: .trivialAugment, base: base)
        case .autoAugment: self.init(stage: .autoAugment, base: base)
        }
    }
}

/// Applies an `Augmentation` to images of one shape, in place, without allocating.
///
/// One per thread: it owns scratch memory. Every random choice comes from the generator passed
/// in, so the same generator state gives the same pixels; `augment(batch:...)` derives one
/// generator per image from (seed, epoch, image index), so a batch's pixels do not depend on how
/// images are split among threads.
public final class Augmenter {
    public let augmentation: Augmentation
    public let shape: ImageShape
    public let fill: FillColor
    private let scratch: AugmentScratch
    private let context: OperationContext
    /// Identity (nil) and the 13 operations RandAugment and TrivialAugment draw from.
    private let uniformOperations: [(any ImageOperation)?]
    private let autoAugmentSteps: [[(any ImageOperation, Int, Double)]]

    public init(_ augmentation: Augmentation, shape: ImageShape, fill: FillColor,
                registry: OperationRegistry = .standard) throws(OperationError) {
        self.augmentation = augmentation
        self.shape = shape
        self.fill = fill
        var tuples = 1
        for stage in [augmentation.foundation, augmentation.stage] {
            if case let .policy(p)? = stage { tuples = max(tuples, p.steps.count) }
        }
        scratch = AugmentScratch(bytes: shape.count, tuples: tuples)
        context = OperationContext(fill: fill, scratch: scratch)
        var uniform: [(any ImageOperation)?] = [nil]
        for name in uniformAugmentOperations { uniform.append(try registry.operation(named: name)) }
        uniformOperations = uniform
        var aa: [[(any ImageOperation, Int, Double)]] = []
        for sub in autoAugmentCIFAR10 {
            var steps: [(any ImageOperation, Int, Double)] = []
            for (name, p, m) in sub {
                let op = try registry.operation(named: name)
                steps.append((op, p, op.parameter(magnitude: m)))
            }
            aa.append(steps)
        }
        autoAugmentSteps = aa
    }

    /// Augments one image in place. `image.shape` must be the augmenter's shape.
    /// Draws, in order: the foundation's, the stage's, the base augmentation's.
    public func augment(_ image: ImageView, using rng: inout SeededGenerator) {
        precondition(image.shape == shape, "image shape \(image.shape) differs from the augmenter's \(shape)")
        if let foundation = augmentation.foundation { apply(foundation, to: image, using: &rng) }
        apply(augmentation.stage, to: image, using: &rng)
        augmentation.base?.apply(to: image, context: context, using: &rng)
    }

    @inline(__always)
    private func apply(_ stage: AugmentationStage, to image: ImageView, using rng: inout SeededGenerator) {
        switch stage {
        case .none:
            break
        case let .policy(policy):
            applyPolicy(policy, to: image, context: context, indices: scratch.indices, using: &rng)
        case let .randAugment(n, m):
            for _ in 0..<n {
                let k = rng.nextInt(below: uniformOperations.count)
                if let op = uniformOperations[k] {
                    applyDrawing(op, parameter: op.parameter(magnitude: m), to: image, context: context, using: &rng)
                }
            }
        case .trivialAugment:
            let k = rng.nextInt(below: uniformOperations.count)
            if let op = uniformOperations[k] {
                let bin = rng.nextInt(below: 31)
                let positive = trivialAugmentIsSigned(op.name) ? rng.nextInt(below: 2) == 0 : true
                let p = trivialAugmentParameter(op.name, bin: bin, signPositive: positive)
                op.apply(to: image, OperationArguments(parameter: p), context: context)
            }
        case .autoAugment:
            let sub = autoAugmentSteps[rng.nextInt(below: autoAugmentSteps.count)]
            for (op, p, parameter) in sub where rng.nextInt(below: 10) < p {
                applyDrawing(op, parameter: parameter, to: image, context: context, using: &rng)
            }
        }
    }

    /// Augments an owned image; its shape must match.
    public func augment(_ image: inout Image, using rng: inout SeededGenerator) throws(OperationError) {
        guard image.shape == shape else { throw .shapeMismatch(expected: shape, got: image.shape) }
        image.withView { augment($0, using: &rng) }
    }

    /// Augments `count` consecutive images starting at `images`, image i with its own generator
    /// `SeededGenerator(seed: seed, stream: [epoch, firstIndex + i])`: the result for an image
    /// depends only on (seed, epoch, its index), never on batching or threads.
    public func augment(batch images: UnsafeMutablePointer<UInt8>, count: Int, seed: UInt64, epoch: Int, firstIndex: Int) {
        let stride = shape.count
        for i in 0..<count {
            var rng = SeededGenerator(seed: seed, stream: [UInt64(epoch), UInt64(firstIndex + i)])
            augment(ImageView(base: images + i &* stride, shape: shape), using: &rng)
        }
    }
}
