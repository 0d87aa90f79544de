/// PIL's `Image.blend(degenerate, image, factor)` for one byte (libImaging/Blend.c): the factor
/// is a C `float`, the arithmetic is single precision, and the result is truncated, clipped to
/// 0...255 when the factor lies outside [0, 1]. ImageEnhance is exactly this blend against a
/// "degenerate" image, so reproducing it (and each degenerate image) reproduces ImageEnhance.
@inline(__always)
func pilBlend(_ degenerate: UInt8, _ value: UInt8, _ alpha: Float) -> UInt8 {
    let d = Int32(degenerate)
    let t = Float(d) + alpha * Float(Int32(value) &- d)
    let c = t <= 0 ? 0 : (t >= 255 ? 255 : t)
    return UInt8(truncatingIfNeeded: Int32(c))
}

/// `image[i] = pilBlend(degenerate[i], image[i], alpha)` for every byte, through a cached
/// 256 × 256 table of `pilBlend` for this factor when one is available (one load per byte
/// instead of the float arithmetic; the same bytes by construction).
@inline(__always)
func blendInPlace(degenerate: UnsafeMutablePointer<UInt8>, image: UnsafeMutablePointer<UInt8>, count: Int, alpha: Float,
                  tables: BlendTables = .shared) {
    if let table = tables.table(alpha: alpha) {
        for i in 0..<count { image[i] = table[Int(degenerate[i]) &<< 8 | Int(image[i])] }
    } else {
        for i in 0..<count { image[i] = pilBlend(degenerate[i], image[i], alpha) }
    }
}

/// Tables of `pilBlend(d, v, alpha)` indexed by d·256 + v, one per factor, built on first use and
/// kept for the life of the process. PBA's magnitudes give 11 factors and TrivialAugment's bins
/// 61; the shared cache holds up to 96 (64 KiB each) and further factors use the arithmetic.
final class BlendTables: @unchecked Sendable {
    static let shared = BlendTables(capacity: 96)
    let capacity: Int
    // Guarded by `lock`; tables are written once, before they are published, and never freed.
    private var tables: [UInt32: UnsafeMutablePointer<UInt8>] = [:]
    private let lock = PthreadLock()

    init(capacity: Int) { self.capacity = capacity }

    func table(alpha: Float) -> UnsafePointer<UInt8>? {
        lock.lock()
        defer { lock.unlock() }
        if let t = tables[alpha.bitPattern] { return UnsafePointer(t) }
        guard tables.count < capacity else { return nil }
        let t = UnsafeMutablePointer<UInt8>.allocate(capacity: 65536)
        for d in 0..<256 {
            for v in 0..<256 { t[d &<< 8 | v] = pilBlend(UInt8(d), UInt8(v), alpha) }
        }
        tables[alpha.bitPattern] = t
        return UnsafePointer(t)
    }
}

/// ImageEnhance's factor for PBA's magnitude: m·1.8/10 + 0.1 (0.1...1.72 for m in 0...9).
/// PBA applies enhancements by magnitude only, without a random sign.
@inline(__always)
func pbaEnhanceFactor(_ magnitude: Int) -> Double { pbaFloatParameter(magnitude, 1.8) + 0.1 }

/// Applies a 256-entry table to every byte of the image.
@inline(__always)
func applyTable(_ image: ImageView, _ table: UnsafePointer<UInt8>) {
    let p = image.base
    for i in 0..<image.shape.count { p[i] = table[Int(p[i])] }
}

/// Applies one 256-entry table per channel (`tables` holds channels × 256 bytes).
@inline(__always)
func applyChannelTables(_ image: ImageView, _ tables: UnsafePointer<UInt8>) {
    let ch = image.shape.channels
    if ch == 1 { applyTable(image, tables); return }
    let p = image.base
    var i = 0
    let n = image.shape.count
    while i < n {
        p[i] = tables[Int(p[i])]
        p[i &+ 1] = tables[256 &+ Int(p[i &+ 1])]
        p[i &+ 2] = tables[512 &+ Int(p[i &+ 2])]
        i &+= 3
    }
}

/// PIL's RGB → L conversion (ITU-R 601-2 luma in 16-bit fixed point, `L24 >> 16`).
@inline(__always)
func pilLuma(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> UInt8 {
    UInt8(truncatingIfNeeded: (Int32(r) &* 19595 &+ Int32(g) &* 38470 &+ Int32(b) &* 7471 &+ 0x8000) >> 16)
}

/// ImageEnhance.Brightness: blend with a black image, i.e. a table of trunc(f·v) clipped.
public struct BrightnessOperation: ImageOperation {
    public init() {}
    public var name: String { "Brightness" }
    public func parameter(magnitude: Int) -> Double { pbaEnhanceFactor(magnitude) }
    public func apply(to image: ImageView, _ arguments: OperationArguments, context: OperationContext) {
        let alpha = Float(arguments.parameter)
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256) { t in
            for v in 0..<256 { t[v] = pilBlend(0, UInt8(v), alpha) }
            applyTable(image, UnsafePointer(t.baseAddress!))
        }
    }
}

/// ImageEnhance.Color: blend each pixel with its own luma (PIL's L conversion replicated to
/// three channels). On 1-channel images the degenerate image is the image itself, so the
/// operation is the identity, as in PIL.
public struct ColorOperation: ImageOperation {
    public init() {}
    public var name: String { "Color" }
    public func parameter(magnitude: Int) -> Double { pbaEnhanceFactor(magnitude) }
    public func apply(to image: ImageView, _ arguments: OperationArguments, context: OperationContext) {
        guard image.shape.channels == 3 else { return }
        let n = image.shape.count
        precondition(context.scratchCapacity >= n, "scratch smaller than the image")
        let p = image.base, grey = context.scratch
        var i = 0
        while i < n {
            let l = pilLuma(p[i], p[i &+ 1], p[i &+ 2])
            grey[i] = l; grey[i &+ 1] = l; grey[i &+ 2] = l
            i &+= 3
        }
        blendInPlace(degenerate: grey, image: p, count: n, alpha: Float(arguments.parameter))
    }
}

/// ImageEnhance.Contrast: blend with a uniform image at int(mean luma + 0.5), the mean taken
/// over the whole image as PIL's ImageStat does (sum of the L histogram over the pixel count).
public struct ContrastOperation: ImageOperation {
    public init() {}
    public var name: String { "Contrast" }
    public func parameter(magnitude: Int) -> Double { pbaEnhanceFactor(magnitude) }
    public func apply(to image: ImageView, _ arguments: OperationArguments, context: OperationContext) {
        let shape = image.shape
        let p = image.base
        var sum = 0
        if shape.channels == 3 {
            var i = 0
            while i < shape.count {
                sum &+= Int(pilLuma(p[i], p[i &+ 1], p[i &+ 2]))
                i &+= 3
            }
        } else {
            for i in 0..<shape.count { sum &+= Int(p[i]) }
        }
        let pixels = shape.width * shape.height
        let mean = Double(sum) / Double(pixels)
        let degenerate = UInt8(Int(mean + 0.5))
        let alpha = Float(arguments.parameter)
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256) { t in
            for v in 0..<256 { t[v] = pilBlend(degenerate, UInt8(v), alpha) }
            applyTable(image, UnsafePointer(t.baseAddress!))
        }
    }
}

/// ImageEnhance.Sharpness: blend with PIL's SMOOTH filter (3×3 kernel 1 1 1 / 1 5 1 / 1 1 1
/// over 13). Border pixels (first and last row and column) are left unchanged, as PIL's filter
/// copies them; images smaller than 3×3 are unchanged.
///
/// PIL (libImaging/Filter.c) computes the smoothed value in float: weights k/13 as floats, a
/// sum started at 0.5, truncated. We compute it in integers as (2·S + 13) / 26 with
/// S = the nine neighbours + 4·centre, which is the same number: the exact value (S + 6.5)/13 is
/// never closer than 0.5/13 ≈ 0.038 to an integer, while PIL's float rounding moves it by less
/// than 2·10⁻⁴, so truncation lands on the same integer (the Pillow fixtures confirm it).
public struct SharpnessOperation: ImageOperation {
    public init() {}
    public var name: String { "Sharpness" }
    public func parameter(magnitude: Int) -> Double { pbaEnhanceFactor(magnitude) }

    public func apply(to image: ImageView, _ arguments: OperationArguments, context: OperationContext) {
        let shape = image.shape
        let w = shape.width, h = shape.height, ch = shape.channels
        guard w >= 3, h >= 3 else { return }
        precondition(context.scratchCapacity >= shape.count, "scratch smaller than the image")
        // The smoothed image goes to scratch; its border is the image's own border, which the
        // blend then leaves unchanged (blend(v, v) = v for every factor).
        let src = image.base
        let smooth = context.scratch
        smooth.update(from: src, count: shape.count)
        let stride = w &* ch
        // Each row is a flat run of w·ch bytes whose horizontal neighbours lie ±ch away, so one
        // loop over the interior bytes covers every channel.
        let first = ch, last = stride &- ch
        for y in 1..<(h - 1) {
            let above = src + (y &- 1) &* stride
            let row = src + y &* stride
            let below = src + (y &+ 1) &* stride
            let out = smooth + y &* stride
            for m in first..<last {
                let l = m &- ch, r = m &+ ch
                var s = Int32(above[l]) &+ Int32(above[m]) &+ Int32(above[r])
                s &+= Int32(row[l]) &+ Int32(row[r]) &+ Int32(row[m]) &* 5
                s &+= Int32(below[l]) &+ Int32(below[m]) &+ Int32(below[r])
                out[m] = UInt8(truncatingIfNeeded: (s &* 2 &+ 13) / 26)
            }
        }
        blendInPlace(degenerate: smooth, image: image.base, count: shape.count, alpha: Float(arguments.parameter))
    }
}
