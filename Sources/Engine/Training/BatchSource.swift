import Tensor

/// A batch ready for the engine: normalised float images and their labels.
public struct Batch {
    /// [n, h, w, c] normalised images.
    public let images: Tensor
    public let labels: [Int32]
    public var count: Int { labels.count }

    public init(images: Tensor, labels: [Int32]) {
        self.images = images
        self.labels = labels
    }
}

/// Where training batches come from. The engine knows nothing about augmentation: the
/// augmentation pipeline is one `BatchSource`, plain shuffling another.
///
/// Contract: the content of batch `index` of `epoch` depends only on the source's own seed, the
/// epoch and the index — never on timing or thread count — so training is reproducible. The
/// returned tensor stays valid until the next call.
public protocol BatchSource: AnyObject {
    var batchesPerEpoch: Int { get }
    func batch(epoch: Int, index: Int) -> Batch
}

/// Per-channel normalisation (v/255 − mean) / std, applied when a batch is formed.
public struct Normalization: Codable, Hashable, Sendable {
    public var mean: [Float]
    public var std: [Float]

    public init(mean: [Float], std: [Float]) {
        self.mean = mean
        self.std = std
    }

    /// A 256-entry lookup table per channel: [c][v] = (v/255 − mean[c]) / std[c].
    public func lookupTable() -> [Float] {
        var t = [Float](repeating: 0, count: 256 * mean.count)
        for c in 0..<mean.count {
            for v in 0..<256 { t[c * 256 + v] = (Float(v) / 255 - mean[c]) / std[c] }
        }
        return t
    }

    /// Converts `pixels` uint8 HWC values (channel = index mod channels) to normalised floats.
    @inline(__always)
    public static func apply(table: UnsafePointer<Float>, channels: Int, pixels: UnsafePointer<UInt8>,
                             count: Int, into out: UnsafeMutablePointer<Float>) {
        if channels == 1 {
            for i in 0..<count { out[i] = table[Int(pixels[i])] }
        } else {
            var i = 0
            while i < count {
                for c in 0..<channels { out[i &+ c] = table[c &* 256 &+ Int(pixels[i &+ c])] }
                i &+= channels
            }
        }
    }
}

/// The epoch's permutation of `count` examples, derived from (seed, epoch) alone.
public func epochPermutation(count: Int, seed: UInt64, epoch: Int) -> [Int] {
    var g = SeededGenerator(seed: seed, stream: [0x5348_5546, UInt64(epoch)])  // "SHUF"
    var order = Array(0..<count)
    g.shuffle(&order)
    return order
}

/// Number of batches in an epoch of `count` examples; the last batch may be partial.
public func batchCount(examples count: Int, batchSize: Int) -> Int { (count + batchSize - 1) / batchSize }

/// Shuffled, normalised batches of uint8 HWC images with no augmentation.
public final class ShuffledBatches: BatchSource {
    public let images: [UInt8]
    public let labels: [Int32]
    public let shape: (height: Int, width: Int, channels: Int)
    public let batchSize: Int
    public let seed: UInt64
    private let table: [Float]
    private let buffer = Tensor(shape: [0])
    private var permutationEpoch = -1
    private var permutation: [Int] = []

    public init(images: [UInt8], labels: [Int32], height: Int, width: Int, channels: Int,
                batchSize: Int, seed: UInt64, normalization: Normalization) {
        self.images = images
        self.labels = labels
        self.shape = (height, width, channels)
        self.batchSize = batchSize
        self.seed = seed
        self.table = normalization.lookupTable()
    }

    public var batchesPerEpoch: Int { batchCount(examples: labels.count, batchSize: batchSize) }

    public func batch(epoch: Int, index: Int) -> Batch {
        if permutationEpoch != epoch {
            permutation = epochPermutation(count: labels.count, seed: seed, epoch: epoch)
            permutationEpoch = epoch
        }
        let start = index * batchSize, end = min(labels.count, start + batchSize)
        let n = end - start
        let pixels = shape.height * shape.width * shape.channels
        buffer.resize(to: [n, shape.height, shape.width, shape.channels])
        var batchLabels = [Int32](repeating: 0, count: n)
        images.withUnsafeBufferPointer { img in
            table.withUnsafeBufferPointer { t in
                for j in 0..<n {
                    let e = permutation[start + j]
                    batchLabels[j] = labels[e]
                    Normalization.apply(table: t.baseAddress!, channels: shape.channels,
                                        pixels: img.baseAddress! + e * pixels, count: pixels,
                                        into: buffer.pointer + j * pixels)
                }
            }
        }
        return Batch(images: buffer, labels: batchLabels)
    }
}
