/// PBA's PARAMETER_MAX: a magnitude level m stands for m/10 of an operation's range.
public let parameterMax = 10

/// The magnitudes an operation accepts (0...10). Policies use 0...9 (`Policy.magnitudeRange`);
/// RandAugment may go to the end of the scale.
public let operationMagnitudeRange = 0...parameterMax

/// What one application of an operation needs beyond the image: the operation's own parameter
/// (degrees, pixels, shear factor, enhance factor, bits, threshold, square side) with its sign
/// already applied, and, for operations that place something (Cutout), a centre.
public struct OperationArguments: Hashable, Sendable {
    public var parameter: Double
    public var center: PixelPoint

    public init(parameter: Double, center: PixelPoint = PixelPoint(x: 0, y: 0)) {
        self.parameter = parameter
        self.center = center
    }
}

/// An image operation a policy can name.
///
/// Adding an operation (e.g. a data-set-specific one) is implementing this protocol and
/// registering the value in an `OperationRegistry`; policies, schedules and baselines then find
/// it by `name` with no other code to touch.
public protocol ImageOperation: Sendable {
    /// The name used in policies, schedules and on the command line.
    var name: String { get }

    /// PBA's mapping from a magnitude level (0...10) to this operation's parameter, unsigned.
    func parameter(magnitude: Int) -> Double

    /// Whether the parameter's sign is flipped with probability 1/2 at each application
    /// (PBA does this for rotations, translations and shears).
    var isSigned: Bool { get }

    /// Whether the operation needs a random centre (Cutout).
    var usesCenter: Bool { get }

    /// Transforms `image` in place. `context.scratch` holds at least `image.shape.count` bytes
    /// the operation may overwrite; pixels an operation uncovers get `context.fill`.
    func apply(to image: ImageView, _ arguments: OperationArguments, context: OperationContext)
}

extension ImageOperation {
    public var isSigned: Bool { false }
    public var usesCenter: Bool { false }
}

/// Everything an operation may use besides the image: the fill colour and scratch memory.
/// Passing scratch in keeps every operation free of heap allocation on the training hot path.
public struct OperationContext {
    public var fill: FillColor
    public let scratch: UnsafeMutablePointer<UInt8>
    public let scratchCapacity: Int

    public init(fill: FillColor, scratch: AugmentScratch) {
        self.fill = fill
        self.scratch = scratch.bytes
        self.scratchCapacity = scratch.capacity
    }
}

/// Scratch memory for one thread's augmentation: one image's bytes plus working tables.
/// Allocate one per worker thread and reuse it for every image; it is not shared between threads.
public final class AugmentScratch {
    public let capacity: Int
    let bytes: UnsafeMutablePointer<UInt8>
    /// Index space for the policy walk (tuple order).
    let indices: UnsafeMutablePointer<Int>
    public let indexCapacity: Int

    /// Scratch for images of up to `bytes` bytes and policies of up to `tuples` tuples.
    public init(bytes: Int, tuples: Int = 64) {
        capacity = max(bytes, 1)
        self.bytes = .allocate(capacity: capacity)
        self.bytes.initialize(repeating: 0, count: capacity)
        indexCapacity = max(tuples, 1)
        indices = .allocate(capacity: indexCapacity)
        indices.initialize(repeating: 0, count: indexCapacity)
    }

    public convenience init(for shape: ImageShape) { self.init(bytes: shape.count) }

    deinit {
        bytes.deallocate()
        indices.deallocate()
    }
}

/// The operations known by name. A value, so tests and data-set-specific builds can extend it
/// without global state.
public struct OperationRegistry: Sendable {
    private var byName: [String: any ImageOperation] = [:]
    /// Names in registration order, for listings.
    public private(set) var names: [String] = []

    public init() {}

    /// The 15 PBA operations.
    public static let standard: OperationRegistry = {
        var r = OperationRegistry()
        for op in standardOperations { r.registerUnchecked(op) }
        return r
    }()

    /// Adds an operation; a second operation with the same name is rejected.
    public mutating func register(_ operation: any ImageOperation) throws(OperationError) {
        guard byName[operation.name] == nil else { throw .duplicateName(operation.name) }
        registerUnchecked(operation)
    }

    private mutating func registerUnchecked(_ operation: any ImageOperation) {
        byName[operation.name] = operation
        names.append(operation.name)
    }

    public func operation(named name: String) throws(OperationError) -> any ImageOperation {
        guard let op = byName[name] else { throw .unknown(name, known: names) }
        return op
    }

    /// The operations of a set, in the set's order.
    public func resolve(_ set: OperationSet) throws(OperationError) -> [any ImageOperation] {
        var ops: [any ImageOperation] = []
        ops.reserveCapacity(set.count)
        for name in set.names { ops.append(try operation(named: name)) }
        return ops
    }
}

public enum OperationError: Error, CustomStringConvertible, Equatable {
    case unknown(String, known: [String])
    case duplicateName(String)
    case magnitudeOutOfRange(Int)
    case badSign(Int)
    case centerOutside(PixelPoint, ImageShape)
    case shapeMismatch(expected: ImageShape, got: ImageShape)

    public var description: String {
        switch self {
        case let .unknown(name, known):
            return "unknown operation '\(name)' (known: \(known.joined(separator: ", ")))"
        case let .duplicateName(name):
            return "an operation named '\(name)' is already registered"
        case let .magnitudeOutOfRange(m):
            return "magnitude \(m) is outside \(operationMagnitudeRange.lowerBound)...\(operationMagnitudeRange.upperBound)"
        case let .badSign(s):
            return "sign \(s) must be +1 or -1"
        case let .centerOutside(p, shape):
            return "centre \(p) lies outside the \(shape) image"
        case let .shapeMismatch(expected, got):
            return "image shape \(got) does not match the augmenter's \(expected)"
        }
    }
}

/// Applies one operation deterministically: magnitude through PBA's mapping, the given sign
/// (ignored by unsigned operations), the given centre (default: the image centre). This is the
/// cross-checking entry point behind `pba augment --op`.
public func applyOperation(
    _ operation: any ImageOperation, magnitude: Int, sign: Int = 1, center: PixelPoint? = nil,
    to image: inout Image, fill: FillColor
) throws(OperationError) {
    guard operationMagnitudeRange.contains(magnitude) else { throw .magnitudeOutOfRange(magnitude) }
    guard sign == 1 || sign == -1 else { throw .badSign(sign) }
    var p = operation.parameter(magnitude: magnitude)
    if operation.isSigned && sign < 0 { p = -p }
    let c = center ?? PixelPoint(x: image.width / 2, y: image.height / 2)
    guard (0..<image.width).contains(c.x), (0..<image.height).contains(c.y) else {
        throw .centerOutside(c, image.shape)
    }
    applyOperation(operation, OperationArguments(parameter: p, center: c), to: &image, fill: fill)
}

/// Applies one operation with explicit arguments (the parameter already signed).
public func applyOperation(
    _ operation: any ImageOperation, _ arguments: OperationArguments, to image: inout Image, fill: FillColor
) {
    let scratch = AugmentScratch(for: image.shape)
    let context = OperationContext(fill: fill, scratch: scratch)
    image.withView { operation.apply(to: $0, arguments, context: context) }
}

/// PBA's `int_parameter`: int(level · maxval / PARAMETER_MAX), true division then truncation.
@inline(__always)
func pbaIntParameter(_ level: Int, _ maxval: Int) -> Double {
    Double(Int(Double(level * maxval) / Double(parameterMax)))
}

/// PBA's `float_parameter`: float(level) · maxval / PARAMETER_MAX, in that evaluation order.
@inline(__always)
func pbaFloatParameter(_ level: Int, _ maxval: Double) -> Double {
    Double(level) * maxval / Double(parameterMax)
}
