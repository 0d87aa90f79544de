import Dispatch
import Engine
import Tensor

/// Training batches with augmentation, prepared in the background while the engine trains.
///
/// The data set stays in memory as uint8 HWC images. Batch `index` of `epoch` holds the images
/// of `epochPermutation(count:seed:epoch:)` (the same order as Engine's `ShuffledBatches`), each
/// augmented with that epoch's `Augmentation` and a generator derived from (seed, epoch, the
/// image's index in the data set), then normalised. Its content therefore depends on nothing
/// but those values: not on the worker count, not on timing, not on which batches were asked
/// for before (`BatchSource`'s contract).
///
/// Double buffering: after returning batch k, the next batch (k + 1, or the first of the next
/// epoch) is produced on a background queue into the other buffer, split over `workers`
/// threads, so it is usually ready when asked for. The returned tensor stays valid until the
/// next call.
public final class AugmentedBatches: BatchSource, @unchecked Sendable {
    // Concurrency: `slots`' contents, `augmenters` and the permutation cache are written only by
    // jobs on the serial `producer` queue; the consumer reads a slot only after waiting on its
    // group, which orders those writes before the read. `lastReturned` and the slots' `key`
    // fields are touched only by the consumer (the caller of `batch`), one call at a time.
    public let shape: ImageShape
    public let batchSize: Int
    public let seed: UInt64
    public let workers: Int
    private let images: [UInt8]
    private let labels: [Int32]
    private let table: [Float]
    private let fill: FillColor
    private let registry: OperationRegistry
    private let augmentationForEpoch: @Sendable (Int) -> Augmentation

    private let producer = DispatchQueue(label: "pba.augment.prefetch")
    private let slots = [Slot(), Slot()]
    private var lastReturned = 1
    private var permutationEpoch = -1
    private var permutation: [Int] = []
    private var augmentersEpoch = -1
    private var augmenters: [Augmenter] = []
    /// Per worker, one image's bytes to augment in before normalising.
    private let workImages: [UnsafeMutablePointer<UInt8>]

    /// Stream tag of the per-image generators ("AUGM"), apart from other uses of the seed.
    static let streamTag: UInt64 = 0x4155_474D

    /// `images` are N×H×W×C bytes with `labels.count` images of `shape`; `augmentation` gives
    /// each epoch's recipe (a schedule's policy for that epoch, or one baseline throughout).
    public init(images: [UInt8], labels: [Int32], shape: ImageShape, batchSize: Int, seed: UInt64,
                normalization: Normalization, fill: FillColor, workers: Int = 1,
                registry: OperationRegistry = .standard,
                augmentation: @escaping @Sendable (Int) -> Augmentation) throws(PipelineError) {
        guard images.count == labels.count * shape.count else {
            throw .shape("\(labels.count) labels of \(shape) images need \(labels.count * shape.count) bytes, got \(images.count)")
        }
        guard batchSize > 0 else { throw .shape("batch size \(batchSize) must be positive") }
        guard normalization.mean.count == shape.channels, normalization.std.count == shape.channels else {
            throw .shape("normalisation has \(normalization.mean.count) means and \(normalization.std.count) stds for \(shape.channels) channels")
        }
        // Fail now, not in a background job, if an epoch's operations are unknown.
        do { _ = try Augmenter(augmentation(0), shape: shape, fill: fill, registry: registry) } catch {
            throw .operation(error)
        }
        self.images = images
        self.labels = labels
        self.shape = shape
        self.batchSize = batchSize
        self.seed = seed
        self.workers = max(1, workers)
        self.table = normalization.lookupTable()
        self.fill = fill
        self.registry = registry
        self.augmentationForEpoch = augmentation
        workImages = (0..<max(1, workers)).map { _ in
            let p = UnsafeMutablePointer<UInt8>.allocate(capacity: shape.count)
            p.initialize(repeating: 0, count: shape.count)
            return p
        }
    }

    deinit {
        // Prefetch jobs hold `self`, so none is pending here (and this may run on the producer
        // queue itself, as the last job releases it).
        for p in workImages { p.deallocate() }
    }

    public var batchesPerEpoch: Int { batchCount(examples: labels.count, batchSize: batchSize) }

    public func batch(epoch: Int, index: Int) -> Batch {
        let key = BatchKey(epoch: epoch, index: index)
        let s: Int
        if let ready = slots.firstIndex(where: { $0.key == key }) {
            s = ready
        } else {
            s = 1 - lastReturned
            schedule(key, into: s)
        }
        slots[s].group.wait()
        lastReturned = s
        let next = index + 1 < batchesPerEpoch ? BatchKey(epoch: epoch, index: index + 1) : BatchKey(epoch: epoch + 1, index: 0)
        schedule(next, into: 1 - s)
        return Batch(images: slots[s].tensor, labels: slots[s].labels)
    }

    private func schedule(_ key: BatchKey, into s: Int) {
        let slot = slots[s]
        slot.key = key
        slot.group.enter()
        producer.async { [self] in
            produce(key, into: slot)
            slot.group.leave()
        }
    }

    /// Runs on `producer` only.
    private func produce(_ key: BatchKey, into slot: Slot) {
        if permutationEpoch != key.epoch {
            permutation = epochPermutation(count: labels.count, seed: seed, epoch: key.epoch)
            permutationEpoch = key.epoch
        }
        if augmentersEpoch != key.epoch {
            let a = augmentationForEpoch(key.epoch)
            // The registry and shape were checked in init; a schedule naming an operation that
            // the registry lacks would be a programmer error in the schedule's loader.
            augmenters = (0..<workers).map { _ in
                do { return try Augmenter(a, shape: shape, fill: fill, registry: registry) } catch {
                    preconditionFailure("epoch \(key.epoch): \(error)")
                }
            }
            augmentersEpoch = key.epoch
        }
        let start = key.index * batchSize
        let n = max(0, min(batchSize, labels.count - start))
        let pixels = shape.count
        slot.tensor.resize(to: [n, shape.height, shape.width, shape.channels])
        slot.labels = (0..<n).map { labels[permutation[start + $0]] }
        let out = SendablePointer(slot.tensor.pointer)
        let chunks = min(workers, max(1, n))
        let per = (n + chunks - 1) / max(1, chunks)
        let job = UncheckedSendable(value: (self, permutation))
        images.withUnsafeBufferPointer { src in
            table.withUnsafeBufferPointer { t in
                let source = UncheckedSendable(value: (src.baseAddress!, t.baseAddress!))
                DispatchQueue.concurrentPerform(iterations: chunks) { c in
                    let (me, order) = job.value
                    let (images, table) = source.value
                    let augmenter = me.augmenters[c]
                    let work = me.workImages[c]
                    let view = ImageView(base: work, shape: me.shape)
                    for j in (c * per)..<min(n, (c + 1) * per) {
                        let e = order[start + j]
                        work.update(from: images + e &* pixels, count: pixels)
                        var rng = SeededGenerator(seed: me.seed, stream: [AugmentedBatches.streamTag, UInt64(key.epoch), UInt64(e)])
                        augmenter.augment(view, using: &rng)
                        Normalization.apply(table: table, channels: me.shape.channels, pixels: work, count: pixels,
                                            into: out.pointer + j &* pixels)
                    }
                }
            }
        }
    }
}

private struct BatchKey: Equatable {
    var epoch: Int
    var index: Int
}

/// One of the two buffers.
private final class Slot: @unchecked Sendable {
    var key: BatchKey?
    let group = DispatchGroup()
    let tensor = Tensor(shape: [0])
    var labels: [Int32] = []
}

private struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
}

public enum PipelineError: Error, CustomStringConvertible {
    case shape(String)
    case operation(OperationError)

    public var description: String {
        switch self {
        case let .shape(detail): return "augmentation pipeline: \(detail)"
        case let .operation(error): return "augmentation pipeline: \(error)"
        }
    }
}
