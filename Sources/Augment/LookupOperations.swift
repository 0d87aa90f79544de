/// ImageOps.invert: 255 − v.
public struct InvertOperation: ImageOperation {
    public init() {}
    public var name: String { "Invert" }
    public func parameter(magnitude: Int) -> Double { 0 }
    public func apply(to image: ImageView, _ arguments: OperationArguments, context: OperationContext) {
        let p = image.base
        for i in 0..<image.shape.count { p[i] = 255 &- p[i] }
    }
}

/// ImageOps.posterize to `parameter` bits (PBA: 4 − int(m·4/10), so 4 down to 1 bits; 0 bits
/// maps everything to 0 as PIL's mask does).
public struct PosterizeOperation: ImageOperation {
    public init() {}
    public var name: String { "Posterize" }
    public func parameter(magnitude: Int) -> Double { 4 - pbaIntParameter(magnitude, 4) }
    public func apply(to image: ImageView, _ arguments: OperationArguments, context: OperationContext) {
        let bits = max(0, min(8, Int(arguments.parameter)))
        let mask = UInt8(truncatingIfNeeded: ~((1 << (8 - bits)) - 1))
        let p = image.base
        for i in 0..<image.shape.count { p[i] &= mask }
    }
}

/// ImageOps.solarize: every value at or above the threshold `parameter` is inverted
/// (PBA: threshold 256 − int(m·256/10); threshold 256 changes nothing).
public struct SolarizeOperation: ImageOperation {
    public init() {}
    public var name: String { "Solarize" }
    public func parameter(magnitude: Int) -> Double { 256 - pbaIntParameter(magnitude, 256) }
    public func apply(to image: ImageView, _ arguments: OperationArguments, context: OperationContext) {
        let threshold = arguments.parameter
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256) { t in
            for v in 0..<256 { t[v] = Double(v) < threshold ? UInt8(v) : UInt8(255 - v) }
            applyTable(image, UnsafePointer(t.baseAddress!))
        }
    }
}

/// Counts each channel's values into `histogram` (channels × 256 counts, zeroed here).
@inline(__always)
func channelHistograms(_ image: ImageView, _ histogram: UnsafeMutablePointer<Int>) {
    let ch = image.shape.channels
    histogram.update(repeating: 0, count: ch &* 256)
    let p = image.base
    if ch == 1 {
        for i in 0..<image.shape.count { histogram[Int(p[i])] &+= 1 }
    } else {
        var i = 0
        while i < image.shape.count {
            histogram[Int(p[i])] &+= 1
            histogram[256 &+ Int(p[i &+ 1])] &+= 1
            histogram[512 &+ Int(p[i &+ 2])] &+= 1
            i &+= 3
        }
    }
}

/// ImageOps.equalize, per channel: with `step` = (pixels − count of the highest occupied
/// value) // 255, value i maps to (step//2 + pixels below i) // step; a channel with a single
/// occupied value or a zero step is left unchanged.
public struct EqualizeOperation: ImageOperation {
    public init() {}
    public var name: String { "Equalize" }
    public func parameter(magnitude: Int) -> Double { 0 }
    public func apply(to image: ImageView, _ arguments: OperationArguments, context: OperationContext) {
        remapEachChannel(image) { hc, tc in
            var occupied = 0, total = 0, last = 0
            for v in 0..<256 where hc[v] != 0 {
                occupied &+= 1
                total &+= hc[v]
                last = hc[v]
            }
            let step = occupied <= 1 ? 0 : (total &- last) / 255
            if step == 0 {
                for v in 0..<256 { tc[v] = UInt8(v) }
            } else {
                var n = step / 2
                for v in 0..<256 {
                    tc[v] = UInt8(min(255, n / step))   // PIL clips its table to 8 bits
                    n &+= hc[v]
                }
            }
        }
    }
}

/// ImageOps.autocontrast (cutoff 0), per channel: the occupied range [lo, hi] is stretched to
/// 0...255 with scale 255/(hi − lo) and offset −lo·scale in double precision, truncated and
/// clipped; a channel with hi ≤ lo is left unchanged.
public struct AutoContrastOperation: ImageOperation {
    public init() {}
    public var name: String { "AutoContrast" }
    public func parameter(magnitude: Int) -> Double { 0 }
    public func apply(to image: ImageView, _ arguments: OperationArguments, context: OperationContext) {
        remapEachChannel(image) { hc, tc in
            var lo = 0
            while lo < 255 && hc[lo] == 0 { lo &+= 1 }
            var hi = 255
            while hi > 0 && hc[hi] == 0 { hi &-= 1 }
            if hi <= lo {
                for v in 0..<256 { tc[v] = UInt8(v) }
            } else {
                let scale = 255.0 / Double(hi - lo)
                let offset = Double(-lo) * scale
                for v in 0..<256 {
                    let x = Int(Double(v) * scale + offset)
                    tc[v] = UInt8(max(0, min(255, x)))
                }
            }
        }
    }
}

/// Cutout: a square of side `parameter` (PBA: int(m·20/10)) filled with the fill colour,
/// covering [centre − side//2, centre + side//2) in x and y, clipped at the border, as PBA's
/// `create_cutout_mask` does (so an odd side covers side − 1 pixels).
public struct CutoutOperation: ImageOperation {
    public init() {}
    public var name: String { "Cutout" }
    public var usesCenter: Bool { true }
    public func parameter(magnitude: Int) -> Double { pbaIntParameter(magnitude, 20) }
    public func apply(to image: ImageView, _ arguments: OperationArguments, context: OperationContext) {
        cutout(image, size: Int(arguments.parameter), center: arguments.center, fill: context.fill)
    }
}

/// Fills the Cutout square; shared by the Cutout operation and the base augmentation's cutout.
@inline(__always)
func cutout(_ image: ImageView, size: Int, center: PixelPoint, fill: FillColor) {
    guard size > 0 else { return }
    let shape = image.shape
    let half = size / 2
    let x0 = max(0, center.x - half), x1 = min(shape.width, center.x + half)
    let y0 = max(0, center.y - half), y1 = min(shape.height, center.y + half)
    guard x0 < x1, y0 < y1 else { return }
    let ch = shape.channels
    let r = fill.values[0], g = fill.values[1], b = fill.values[2]
    for y in y0..<y1 {
        let row = image.base + (y &* shape.width) &* ch
        if ch == 1 {
            (row + x0).update(repeating: r, count: x1 &- x0)
        } else {
            for x in x0..<x1 {
                let p = row + x &* 3
                p[0] = r; p[1] = g; p[2] = b
            }
        }
    }
}

/// The 15 PBA operations in PBA's order (`OperationSet.pba`).
public let standardOperations: [any ImageOperation] = [
    RotateOperation(), TranslateXOperation(), TranslateYOperation(), BrightnessOperation(),
    ColorOperation(), InvertOperation(), SharpnessOperation(), PosterizeOperation(),
    ShearXOperation(), SolarizeOperation(), ShearYOperation(), EqualizeOperation(),
    AutoContrastOperation(), CutoutOperation(), ContrastOperation(),
]

/// Remaps every channel through a 256-entry table built from that channel's histogram
/// (Equalize and AutoContrast): `build(histogram, table)` fills the table of one channel.
private func remapEachChannel(_ image: ImageView, _ build: (UnsafePointer<Int>, UnsafeMutablePointer<UInt8>) -> Void) {
    let channels = image.shape.channels
    withUnsafeTemporaryAllocation(of: Int.self, capacity: 768) { hb in
        let h = hb.baseAddress!
        channelHistograms(image, h)
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 768) { tb in
            let t = tb.baseAddress!
            for c in 0..<channels { build(UnsafePointer(h + c &* 256), t + c &* 256) }
            applyChannelTables(image, UnsafePointer(t))
        }
    }
}
