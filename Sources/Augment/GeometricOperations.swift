#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An inverse affine map as PIL's `Image.transform(size, AFFINE, data)` takes it: output pixel
/// (x, y) samples input (a·x + b·y + c, d·x + e·y + f), both measured at pixel centres.
struct AffineMatrix {
    var a, b, c, d, e, f: Double
}

/// PIL's nearest-neighbour affine resampling (libImaging/Geometry.c), reproduced bit for bit.
///
/// PIL takes two paths: a pure scale/translate (b == 0 and d == 0) walks double-precision
/// coordinates and truncates them (`COORD`); everything else runs in 16.16 fixed point with
/// `FIX(v) = floor(v·65536 + 0.5)` and an arithmetic shift. Both are reproduced, including the
/// order of the floating-point additions, so results agree with Pillow to the pixel. PIL's third,
/// floating-point affine path (corners beyond ±32768) cannot occur: `ImageShape.maximumSide`.
///
/// Deviation from PIL as PBA calls it: PIL fills uncovered pixels with 0 (transparent in PBA's
/// RGBA images); we fill them with `fill` directly, which is what PBA's unwrap makes of them.
@inline(__always)
func affineNearest(_ image: ImageView, _ m: AffineMatrix, context: OperationContext) {
    let shape = image.shape
    let w = shape.width, h = shape.height, ch = shape.channels
    precondition(context.scratchCapacity >= shape.count, "scratch smaller than the image")
    let src = context.scratch
    let dst = image.base
    if m.b == 0 && m.d == 0 && m.a == 1 && m.e == 1 && m.c == m.c.rounded() && m.f == m.f.rounded()
        && abs(m.c) <= Double(w) && abs(m.f) <= Double(h) {
        // A whole-pixel translation: PIL's scale path samples x + c exactly (x + c + 0.5 is exact
        // and truncates to x + c, negatives to -1), so whole rows can be copied.
        shiftImage(image, dx: Int(m.c), dy: Int(m.f), mirror: false, context: context)
        return
    }
    src.update(from: dst, count: shape.count)
    fillAll(dst, shape: shape, fill: context.fill)

    if m.b == 0 && m.d == 0 {
        // ImagingScaleAffine: x positions are tabulated from a running double sum.
        var yo = m.f + m.e * 0.5
        for y in 0..<h {
            let yi = coord(yo)
            if yi >= 0 && yi < h {
                var xo = m.c + m.a * 0.5
                let srow = src + yi &* w &* ch
                let drow = dst + y &* w &* ch
                for x in 0..<w {
                    let xi = coord(xo)
                    if xi >= 0 && xi < w {
                        copyPixel(from: srow + xi &* ch, to: drow + x &* ch, channels: ch)
                    }
                    xo += m.a
                }
            }
            yo += m.e
        }
        return
    }

    let a0 = fix(m.a), a1 = fix(m.b), a3 = fix(m.d), a4 = fix(m.e)
    var a2 = fix(m.c + m.a * 0.5 + m.b * 0.5)
    var a5 = fix(m.f + m.d * 0.5 + m.e * 0.5)
    for y in 0..<h {
        var xx = a2, yy = a5
        let drow = dst + y &* w &* ch
        for x in 0..<w {
            let xin = Int(xx >> 16)
            if xin >= 0 && xin < w {
                let yin = Int(yy >> 16)
                if yin >= 0 && yin < h {
                    copyPixel(from: src + (yin &* w &+ xin) &* ch, to: drow + x &* ch, channels: ch)
                }
            }
            xx &+= a0
            yy &+= a3
        }
        a2 &+= a1
        a5 &+= a4
    }
}

/// Output pixel (x, y) takes input (x + dx, y + dy), mirrored horizontally afterwards if
/// `mirror`; pixels with no source take the fill colour. Shared by whole-pixel translations and
/// the base augmentation's pad + crop + flip.
@inline(__always)
func shiftImage(_ image: ImageView, dx: Int, dy: Int, mirror: Bool, context: OperationContext) {
    let shape = image.shape
    let w = shape.width, h = shape.height, ch = shape.channels
    precondition(context.scratchCapacity >= shape.count, "scratch smaller than the image")
    let src = context.scratch, dst = image.base
    src.update(from: dst, count: shape.count)
    let rowBytes = w &* ch
    // Output columns x0..<x1 read source columns x + dx (before mirroring); rows y0..<y1 read
    // rows y + dy. Everything else is fill.
    let x0 = min(w, max(0, -dx)), x1 = max(x0, min(w, w - dx))
    let y0 = min(h, max(0, -dy)), y1 = max(y0, min(h, h - dy))
    // Mirroring maps columns x0..<x1 to w-x1..<w-x0, so the fill strips swap sides.
    let left = mirror ? w &- x1 : x0, right = mirror ? w &- x0 : x1
    for y in 0..<h {
        let drow = dst + y &* rowBytes
        guard y >= y0 && y < y1 && x0 < x1 else {
            fillPixels(drow, count: w, channels: ch, fill: context.fill)
            continue
        }
        fillPixels(drow, count: left, channels: ch, fill: context.fill)
        fillPixels(drow + right &* ch, count: w &- right, channels: ch, fill: context.fill)
        let srow = src + (y &+ dy) &* rowBytes
        if !mirror {
            (drow + x0 &* ch).update(from: srow + (x0 &+ dx) &* ch, count: (x1 &- x0) &* ch)
        } else if ch == 3 {
            for x in x0..<x1 {
                let s = srow + (x &+ dx) &* 3, d = drow + (w &- 1 &- x) &* 3
                d[0] = s[0]; d[1] = s[1]; d[2] = s[2]
            }
        } else {
            for x in x0..<x1 { drow[w &- 1 &- x] = srow[x &+ dx] }
        }
    }
}

/// Sets `count` pixels starting at `p` to the fill colour.
@inline(__always)
func fillPixels(_ p: UnsafeMutablePointer<UInt8>, count: Int, channels: Int, fill: FillColor) {
    if channels == 1 {
        p.update(repeating: fill.values[0], count: count)
    } else {
        let r = fill.values[0], g = fill.values[1], b = fill.values[2]
        for i in 0..<count {
            let q = p + i &* 3
            q[0] = r; q[1] = g; q[2] = b
        }
    }
}

/// PIL's `FIX`: 16.16 fixed point, rounding half up.
@inline(__always)
private func fix(_ v: Double) -> Int32 { Int32(floor(v * 65536.0 + 0.5)) }

/// PIL's `COORD`: truncation, with every negative coordinate mapped to -1 (outside).
@inline(__always)
private func coord(_ v: Double) -> Int { v < 0 ? -1 : Int(v) }

@inline(__always)
func copyPixel(from s: UnsafeMutablePointer<UInt8>, to d: UnsafeMutablePointer<UInt8>, channels: Int) {
    if channels == 3 {
        d[0] = s[0]; d[1] = s[1]; d[2] = s[2]
    } else {
        d[0] = s[0]
    }
}

@inline(__always)
func fillAll(_ p: UnsafeMutablePointer<UInt8>, shape: ImageShape, fill: FillColor) {
    if shape.channels == 1 {
        p.update(repeating: fill.values[0], count: shape.count)
    } else {
        let r = fill.values[0], g = fill.values[1], b = fill.values[2]
        var i = 0
        let n = shape.count
        while i < n {
            p[i] = r; p[i &+ 1] = g; p[i &+ 2] = b
            i &+= 3
        }
    }
}

/// Python's `round(x, 15)`: the nearest double to x correctly rounded to 15 decimals. PIL rounds
/// the rotation matrix this way; glibc's `%.15f` is correctly rounded too, so printing and
/// parsing back reproduces it exactly.
func pythonRound15(_ x: Double) -> Double {
    var buffer = [CChar](repeating: 0, count: 64)
    _ = buffer.withUnsafeMutableBufferPointer { b in
        withVaList([x]) { vsnprintf(b.baseAddress, 64, "%.15f", $0) }
    }
    return buffer.withUnsafeBufferPointer { strtod($0.baseAddress!, nil) }
}

/// The inverse map PIL's `Image.rotate(degrees)` builds (no expand, centre (w/2, h/2)), with its
/// rounding of the trigonometric terms to 15 decimals.
func pilRotationMatrix(degrees: Double, width: Int, height: Int) -> AffineMatrix {
    let rad = -(degrees * (Double.pi / 180.0))
    let cosR = pythonRound15(cos(rad)), sinR = pythonRound15(sin(rad)), minusSinR = pythonRound15(-sin(rad))
    let cx = Double(width) / 2, cy = Double(height) / 2
    var m = AffineMatrix(a: cosR, b: sinR, c: 0, d: minusSinR, e: cosR, f: 0)
    let tx = m.a * -cx + m.b * -cy + m.c
    let ty = m.d * -cx + m.e * -cy + m.f
    m.c = tx + cx
    m.f = ty + cy
    return m
}

/// Python's float `%` for a positive divisor: the result takes the divisor's sign.
@inline(__always)
func pythonModulo(_ x: Double, _ y: Double) -> Double {
    var r = fmod(x, y)
    if r != 0 && (r < 0) != (y < 0) { r += y }
    return r
}

/// Rotate by `parameter` degrees counter-clockwise about the centre (PBA: int(m·30/10), random
/// sign), nearest neighbour, as `Image.rotate` does including its exact-transpose fast paths for
/// 180° (and 90°/270° on square images).
public struct RotateOperation: ImageOperation {
    public init() {}
    public var name: String { "Rotate" }
    public var isSigned: Bool { true }
    public func parameter(magnitude: Int) -> Double { pbaIntParameter(magnitude, 30) }

    public func apply(to image: ImageView, _ arguments: OperationArguments, context: OperationContext) {
        let angle = pythonModulo(arguments.parameter, 360.0)
        let shape = image.shape
        if angle == 0 { return }
        if angle == 180 {
            transposeRotate(image, quarterTurns: 2, context: context)
            return
        }
        if (angle == 90 || angle == 270) && shape.width == shape.height {
            transposeRotate(image, quarterTurns: angle == 90 ? 1 : 3, context: context)
            return
        }
        let m: AffineMatrix
        if (angle * 2) == (angle * 2).rounded(), shape.width <= 64, shape.height <= 64 {
            m = RotationTable.shared.matrix(halfDegrees: Int(angle * 2), width: shape.width, height: shape.height)
        } else {
            m = pilRotationMatrix(degrees: angle, width: shape.width, height: shape.height)
        }
        affineNearest(image, m, context: context)
    }
}

/// Exact quarter-turn rotations (PIL's ROTATE_90/180/270 transposes: counter-clockwise).
private func transposeRotate(_ image: ImageView, quarterTurns: Int, context: OperationContext) {
    let shape = image.shape
    let w = shape.width, h = shape.height, ch = shape.channels
    let src = context.scratch, dst = image.base
    src.update(from: dst, count: shape.count)
    for y in 0..<h {
        for x in 0..<w {
            let (ox, oy): (Int, Int)
            switch quarterTurns {
            case 1: (ox, oy) = (y, w &- 1 &- x)          // square only
            case 2: (ox, oy) = (w &- 1 &- x, h &- 1 &- y)
            default: (ox, oy) = (h &- 1 &- y, x)          // square only
            }
            copyPixel(from: src + (y &* w &+ x) &* ch, to: dst + (oy &* w &+ ox) &* ch, channels: ch)
        }
    }
}

/// Cached rotation matrices for multiples of half a degree per image size (≤ 64 px a side:
/// CIFAR, SVHN, MNIST). PBA's rotations are whole degrees and TrivialAugment-wide's are
/// multiples of 4.5°, and the decimal round trip of `pythonRound15` is too slow to repeat for
/// every image.
final class RotationTable: @unchecked Sendable {
    static let shared = RotationTable()
    // Guarded by `lock`; filled lazily, one entry per (size, degree).
    private var cache: [Int: AffineMatrix] = [:]
    private let lock = PthreadLock()

    /// `halfDegrees` in 0..<720.
    func matrix(halfDegrees: Int, width: Int, height: Int) -> AffineMatrix {
        let key = (width << 20) | (height << 10) | halfDegrees
        lock.lock()
        defer { lock.unlock() }
        if let m = cache[key] { return m }
        let m = pilRotationMatrix(degrees: Double(halfDegrees) / 2, width: width, height: height)
        cache[key] = m
        return m
    }
}

/// A plain pthread mutex; enough for a cache touched once per new (size, angle).
final class PthreadLock: @unchecked Sendable {
    private let m: UnsafeMutablePointer<pthread_mutex_t>
    init() {
        m = .allocate(capacity: 1)
        pthread_mutex_init(m, nil)
    }
    deinit {
        pthread_mutex_destroy(m)
        m.deallocate()
    }
    func lock() { pthread_mutex_lock(m) }
    func unlock() { pthread_mutex_unlock(m) }
}

/// Shift by `parameter` pixels (PBA: int(m·10/10), random sign) as PIL's affine
/// (1, 0, t, 0, 1, 0): output x samples input x + t, so a positive t moves content left.
public struct TranslateXOperation: ImageOperation {
    public init() {}
    public var name: String { "TranslateX" }
    public var isSigned: Bool { true }
    public func parameter(magnitude: Int) -> Double { pbaIntParameter(magnitude, 10) }
    public func apply(to image: ImageView, _ arguments: OperationArguments, context: OperationContext) {
        affineNearest(image, AffineMatrix(a: 1, b: 0, c: arguments.parameter, d: 0, e: 1, f: 0), context: context)
    }
}

/// Vertical counterpart of `TranslateXOperation`: affine (1, 0, 0, 0, 1, t).
public struct TranslateYOperation: ImageOperation {
    public init() {}
    public var name: String { "TranslateY" }
    public var isSigned: Bool { true }
    public func parameter(magnitude: Int) -> Double { pbaIntParameter(magnitude, 10) }
    public func apply(to image: ImageView, _ arguments: OperationArguments, context: OperationContext) {
        affineNearest(image, AffineMatrix(a: 1, b: 0, c: 0, d: 0, e: 1, f: arguments.parameter), context: context)
    }
}

/// Shear along x by `parameter` (PBA: m·0.3/10, random sign) as PIL's affine (1, s, 0, 0, 1, 0),
/// about the top-left corner as PBA does (not about the centre as torchvision does).
public struct ShearXOperation: ImageOperation {
    public init() {}
    public var name: String { "ShearX" }
    public var isSigned: Bool { true }
    public func parameter(magnitude: Int) -> Double { pbaFloatParameter(magnitude, 0.3) }
    public func apply(to image: ImageView, _ arguments: OperationArguments, context: OperationContext) {
        if arguments.parameter == 0 { return }
        affineNearest(image, AffineMatrix(a: 1, b: arguments.parameter, c: 0, d: 0, e: 1, f: 0), context: context)
    }
}

/// Shear along y: PIL's affine (1, 0, 0, s, 1, 0).
public struct ShearYOperation: ImageOperation {
    public init() {}
    public var name: String { "ShearY" }
    public var isSigned: Bool { true }
    public func parameter(magnitude: Int) -> Double { pbaFloatParameter(magnitude, 0.3) }
    public func apply(to image: ImageView, _ arguments: OperationArguments, context: OperationContext) {
        if arguments.parameter == 0 { return }
        affineNearest(image, AffineMatrix(a: 1, b: 0, c: 0, d: arguments.parameter, e: 1, f: 0), context: context)
    }
}
