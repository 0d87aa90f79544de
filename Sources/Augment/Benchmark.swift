import Tensor

/// Single-thread throughput of augmentation recipes on CIFAR-shaped images, for
/// `pba bench augment`. Numbers are per core: the pipeline runs one `Augmenter` per thread.
public enum AugmentBenchmark {
    public struct Result: Sendable, CustomStringConvertible {
        public let name: String
        public let images: Int
        public let seconds: Double
        public var imagesPerSecond: Double { Double(images) / seconds }
        public var description: String {
            "\(name): \(Int(imagesPerSecond.rounded())) img/s (\(images) images in \(String(Int((seconds * 1000).rounded()))) ms)"
        }
    }

    /// The worst case for PBA: every probability 10 (two operations on 80% of images
    /// — count 1 or 2), magnitude 5, followed by pad/crop/flip and Cutout 16.
    public static func fullProbabilityPolicy(magnitude: Int = 5) -> Policy {
        var values = [Int](repeating: 0, count: 4 * OperationSet.pba.count)
        for i in stride(from: 0, to: values.count, by: 2) { values[i] = 10; values[i + 1] = magnitude }
        // Valid by construction: probabilities 10, magnitude clamped into 0...9.
        var p = Policy(zeroFor: .pba)
        for (i, v) in values.enumerated() { p.set(i, clamping: v) }
        return p
    }

    /// The recipes `pba bench augment` reports, PBA's first.
    public static func standardCases() throws(OperationError) -> [(String, Augmentation)] {
        [
            ("pba (all p=10, m=5) + crop/flip + cutout16", Augmentation(policy: try ResolvedPolicy(fullProbabilityPolicy()))),
            ("trivialaugment + crop/flip + cutout16", Augmentation(baseline: .trivialAugment)),
            ("randaugment(2,9) + crop/flip + cutout16", Augmentation(baseline: .randAugment(n: 2, magnitude: 9))),
            ("autoaugment + crop/flip + cutout16", Augmentation(baseline: .autoAugment)),
            ("base (crop/flip)", Augmentation(baseline: .base)),
        ]
    }

    /// Augments a pool of random 32×32×3 images (restored from a pristine copy every pass, so
    /// every pass sees the same inputs) until at least `minimumSeconds` have passed; the copy
    /// time is included, as a data loader pays it too.
    public static func measure(_ name: String, _ augmentation: Augmentation, minimumSeconds: Double = 1.0,
                               seed: UInt64 = 1) throws(OperationError) -> Result {
        // 32×32×3 is a valid shape.
        let shape = try! ImageShape(width: 32, height: 32, channels: 3)
        let poolSize = 256
        var rng = SeededGenerator(seed: seed)
        let pristine = (0..<(poolSize * shape.count)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        var pool = pristine
        let augmenter = try Augmenter(augmentation, shape: shape, fill: .cifar10Mean)
        let clock = ContinuousClock()
        var images = 0
        let start = clock.now
        var elapsed = 0.0
        pool.withUnsafeMutableBufferPointer { dst in
            pristine.withUnsafeBufferPointer { src in
                repeat {
                    dst.baseAddress!.update(from: src.baseAddress!, count: src.count)
                    for i in 0..<poolSize {
                        augmenter.augment(ImageView(base: dst.baseAddress! + i * shape.count, shape: shape), using: &rng)
                    }
                    images += poolSize
                    let d = clock.now - start
                    elapsed = Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
                } while elapsed < minimumSeconds
            }
        }
        return Result(name: name, images: images, seconds: elapsed)
    }
}
