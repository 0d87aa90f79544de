/// Float arithmetic written once and run on 8-float vectors for the body of a channel loop and on
/// single floats for its remainder: write the body as a local generic function and pass it twice
/// to `forEachLane`. Explicit vectors need no runtime alias
/// checks, which for short channel loops over several pointers cost as much as the arithmetic.
protocol FloatLanes {
    static var width: Int { get }
    init(repeating value: Float)
    static func load(_ p: UnsafePointer<Float>) -> Self
    func store(_ p: UnsafeMutablePointer<Float>)
    static func + (a: Self, b: Self) -> Self
    static func - (a: Self, b: Self) -> Self
    static func * (a: Self, b: Self) -> Self
    static func * (a: Float, b: Self) -> Self
    /// max(0, self)
    var relu: Self { get }
    /// self where `mask > 0`, else 0 (the ReLU backward).
    func passing(where mask: Self) -> Self
}

extension Float: FloatLanes {
    @inline(__always) static var width: Int { 1 }
    @inline(__always) init(repeating value: Float) { self = value }
    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> Float { p.pointee }
    @inline(__always) func store(_ p: UnsafeMutablePointer<Float>) { p.pointee = self }
    @inline(__always) var relu: Float { Swift.max(0, self) }
    @inline(__always) func passing(where mask: Float) -> Float { mask > 0 ? self : 0 }
}

extension SIMD8: FloatLanes where Scalar == Float {
    @inline(__always) static var width: Int { 8 }
    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }
    @inline(__always) func store(_ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: self, as: SIMD8<Float>.self)
    }
    @inline(__always) var relu: SIMD8<Float> { replacing(with: 0, where: self .< 0) }
    @inline(__always) func passing(where mask: SIMD8<Float>) -> SIMD8<Float> {
        replacing(with: 0, where: mask .<= 0)
    }
}

/// Runs `vector` at offsets 0, 8, … while 8 lanes fit in `n`, then `scalar` at each remaining
/// offset. Pass the same generic local function for both.
@inline(__always)
func forEachLane(_ n: Int, _ vector: (Int, SIMD8<Float>.Type) -> Void, _ scalar: (Int, Float.Type) -> Void) {
    var c = 0
    while c &+ 8 <= n { vector(c, SIMD8<Float>.self); c &+= 8 }
    while c < n { scalar(c, Float.self); c &+= 1 }
}
