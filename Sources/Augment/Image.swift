/// The size and layout of one uint8 image: height × width × channels, row-major, channels last
/// (HWC), as CIFAR records are after transposition and as PIL stores "L" and "RGB" images.
public struct ImageShape: Hashable, Sendable, CustomStringConvertible {
    public let width: Int
    public let height: Int
    /// 1 (grey, PIL mode "L") or 3 (PIL mode "RGB").
    public let channels: Int

    /// The largest side accepted. PIL's nearest-neighbour affine switches from 16.16 fixed point
    /// to a floating-point path once a transformed corner leaves ±32768; capping the side keeps
    /// every operation (shears up to 0.99 and any rotation included) on the fixed-point path we
    /// reproduce, so there is no second, untested code path.
    public static let maximumSide = 8192

    public init(width: Int, height: Int, channels: Int) throws(ImageError) {
        guard (1...ImageShape.maximumSide).contains(width), (1...ImageShape.maximumSide).contains(height) else {
            throw .badSize(width: width, height: height)
        }
        guard channels == 1 || channels == 3 else { throw .badChannels(channels) }
        self.width = width
        self.height = height
        self.channels = channels
    }

    /// Bytes in one image.
    public var count: Int { width * height * channels }

    public var description: String { "\(height)×\(width)×\(channels)" }
}

/// A per-channel colour for pixels that an operation leaves uncovered (rotation corners,
/// translated-away borders, Cutout squares, crop padding).
///
/// PBA's intent is the data set's per-channel mean: its RGBA trick marks uncovered pixels with
/// alpha 0 and maps them to 0 after normalisation, which is the mean. Using the mean as a uint8
/// colour here gives the same image after normalisation up to rounding.
public struct FillColor: Hashable, Sendable, CustomStringConvertible {
    /// Channel values; for 1-channel images only the first is used.
    public var values: SIMD4<UInt8>

    public init(_ values: [UInt8]) throws(ImageError) {
        guard values.count == 1 || values.count == 3 else { throw .badFill(values.count) }
        let r = values[0]
        let g = values.count == 3 ? values[1] : r
        let b = values.count == 3 ? values[2] : r
        self.values = SIMD4(r, g, b, 0)
    }

    public init(grey: UInt8) { values = SIMD4(grey, grey, grey, 0) }

    /// The data set's per-channel mean (of pixel/255, as `Dataset.channelStatistics` gives it)
    /// as a fill colour: PBA's intended fill for uncovered pixels.
    public init(datasetMean mean: [Float]) throws(ImageError) {
        try self.init(mean.map { UInt8(clamping: Int(($0 * 255).rounded())) })
    }

    /// The rounded per-channel mean of a data set, given as values in 0...1 (as data set
    /// statistics are usually stored).
    public init(mean: [Double]) throws(ImageError) {
        let bytes = mean.map { UInt8(max(0, min(255, ($0 * 255).rounded()))) }
        try self.init(bytes)
    }

    /// CIFAR-10's per-channel training-set mean (0.4914, 0.4822, 0.4465), the default fill.
    public static let cifar10Mean = FillColor(rgb: 125, 123, 114)

    init(rgb r: UInt8, _ g: UInt8, _ b: UInt8) { values = SIMD4(r, g, b, 0) }

    public var description: String { "(\(values[0]), \(values[1]), \(values[2]))" }
}

/// One image that owns its pixels, for tests, previews and the single-operation entry point.
/// The training hot path works on `ImageView`s into a data set's contiguous buffer instead.
public struct Image: Hashable, Sendable {
    public let shape: ImageShape
    /// HWC bytes, `shape.count` of them.
    public var pixels: [UInt8]

    public init(shape: ImageShape, pixels: [UInt8]) throws(ImageError) {
        guard pixels.count == shape.count else { throw .wrongPixelCount(expected: shape.count, got: pixels.count) }
        self.shape = shape
        self.pixels = pixels
    }

    public init(shape: ImageShape, filledWith value: UInt8 = 0) {
        self.shape = shape
        self.pixels = [UInt8](repeating: value, count: shape.count)
    }

    public var width: Int { shape.width }
    public var height: Int { shape.height }
    public var channels: Int { shape.channels }

    /// The value of channel `c` at column `x`, row `y`.
    public subscript(x: Int, y: Int, c: Int) -> UInt8 {
        get { pixels[(y * shape.width + x) * shape.channels + c] }
        set { pixels[(y * shape.width + x) * shape.channels + c] = newValue }
    }

    /// Runs `body` on a view of this image's pixels.
    public mutating func withView<R>(_ body: (ImageView) throws -> R) rethrows -> R {
        let shape = self.shape
        return try pixels.withUnsafeMutableBufferPointer { buffer in
            // `count` > 0 is guaranteed by ImageShape, so baseAddress is non-nil.
            try body(ImageView(base: buffer.baseAddress!, shape: shape))
        }
    }
}

/// A mutable window onto one HWC image inside some larger buffer (a data set, a batch).
/// Operations transform it in place; they never allocate.
public struct ImageView {
    public let base: UnsafeMutablePointer<UInt8>
    public let shape: ImageShape

    public init(base: UnsafeMutablePointer<UInt8>, shape: ImageShape) {
        self.base = base
        self.shape = shape
    }
}

/// A pixel position: column `x`, row `y`.
public struct PixelPoint: Hashable, Sendable, CustomStringConvertible {
    public var x: Int
    public var y: Int
    public init(x: Int, y: Int) { self.x = x; self.y = y }
    public var description: String { "\(x),\(y)" }
}

public enum ImageError: Error, CustomStringConvertible, Equatable {
    case badSize(width: Int, height: Int)
    case badChannels(Int)
    case badFill(Int)
    case wrongPixelCount(expected: Int, got: Int)

    public var description: String {
        switch self {
        case let .badSize(w, h):
            return "image size \(w)×\(h) is not supported (each side 1...\(ImageShape.maximumSide))"
        case let .badChannels(c):
            return "image has \(c) channels, expected 1 or 3"
        case let .badFill(n):
            return "fill colour has \(n) values, expected 1 or 3"
        case let .wrongPixelCount(expected, got):
            return "image has \(got) bytes, its shape needs \(expected)"
        }
    }
}
