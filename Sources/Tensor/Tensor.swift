#if canImport(Glibc)
import Glibc
#endif

/// A float32 array with a shape, owning 64-byte-aligned memory.
///
/// Activations are NHWC (`[n, h, w, c]`) throughout pba. A tensor's memory is allocated once and
/// reused: `resize(to:)` changes the shape and only reallocates when the new shape needs more
/// elements than the tensor ever held, so a layer's buffers are allocated on the first step and
/// never again (a fresh allocation per step costs page faults on hundreds of megabytes).
public final class Tensor: @unchecked Sendable {
    public private(set) var shape: [Int]
    public private(set) var count: Int
    public private(set) var capacity: Int
    public private(set) var pointer: UnsafeMutablePointer<Float>

    /// A zero-filled tensor.
    public init(shape: [Int]) {
        let n = Tensor.elementCount(shape)
        self.shape = shape
        self.count = n
        self.capacity = max(n, 1)
        self.pointer = Tensor.allocate(self.capacity)
        pointer.initialize(repeating: 0, count: capacity)
    }

    /// A tensor holding a copy of `values`.
    public convenience init(shape: [Int], values: [Float]) {
        self.init(shape: shape)
        precondition(values.count == count, "Tensor(shape:values:) got \(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: count) }
    }

    deinit { free(pointer) }

    public static func elementCount(_ shape: [Int]) -> Int { shape.reduce(1, *) }

    private static func allocate(_ n: Int) -> UnsafeMutablePointer<Float> {
        var raw: UnsafeMutableRawPointer?
        let rc = posix_memalign(&raw, 64, n * MemoryLayout<Float>.stride)
        guard rc == 0, let raw else { fatalError("out of memory allocating \(n) floats") }
        return raw.bindMemory(to: Float.self, capacity: n)
    }

    /// Sets the shape; reallocates (contents lost, zero-filled) only when capacity is exceeded.
    public func resize(to newShape: [Int]) {
        let n = Tensor.elementCount(newShape)
        if n > capacity {
            free(pointer)
            capacity = n
            pointer = Tensor.allocate(n)
            pointer.initialize(repeating: 0, count: n)
        }
        shape = newShape
        count = n
    }

    public func zero() { pointer.update(repeating: 0, count: count) }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }

    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    public func copy(from other: Tensor) {
        resize(to: other.shape)
        pointer.update(from: other.pointer, count: count)
    }

    public subscript(i: Int) -> Float {
        get { pointer[i] }
        set { pointer[i] = newValue }
    }
}

/// A pointer that may cross into a concurrently executed closure. Each parallel task touches a
/// disjoint range of it; the type only silences the compiler's sendability check for that case.
public struct SendablePointer<T>: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<T>
    @inlinable public init(_ p: UnsafeMutablePointer<T>) { pointer = p }
}
