import Engine
import Tensor
import XCTest
@testable import Augment

final class PipelineTests: XCTestCase {
    let shape = try! ImageShape(width: 8, height: 6, channels: 3)
    let normalization = Normalization(mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3])
    let fill = try! FillColor([100, 110, 120])

    func dataset(count: Int) -> (images: [UInt8], labels: [Int32]) {
        var rng = SeededGenerator(seed: 99)
        let images = (0..<(count * shape.count)).map { _ in UInt8(rng.nextInt(below: 256)) }
        let labels = (0..<count).map { Int32($0 % 10) }
        return (images, labels)
    }

    /// Epoch 0: no augmentation; odd epochs: TrivialAugment; others: a PBA policy with cutout.
    static func recipe(_ epoch: Int) -> Augmentation {
        if epoch == 0 { return Augmentation(baseline: .none) }
        if epoch % 2 == 1 { return Augmentation(baseline: .trivialAugment) }
        return Augmentation(policy: try! ResolvedPolicy(AugmentBenchmark.fullProbabilityPolicy(magnitude: 7)),
                            base: BaseAugmentation(padding: 2, flip: true, cutout: 4))
    }

    func pipeline(_ d: (images: [UInt8], labels: [Int32]), workers: Int, batchSize: Int = 16) throws -> AugmentedBatches {
        try AugmentedBatches(images: d.images, labels: d.labels, shape: shape, batchSize: batchSize, seed: 5,
                             normalization: normalization, fill: fill, workers: workers,
                             augmentation: { PipelineTests.recipe($0) })
    }

    func snapshot(_ b: Batch) -> ([Float], [Int32]) { (b.images.array, b.labels) }

    func testBatchesDoNotDependOnWorkersOrAccessOrder() throws {
        let d = dataset(count: 50)   // 4 batches of 16, the last one partial (2)
        let one = try pipeline(d, workers: 1)
        let three = try pipeline(d, workers: 3)
        var inOrder: [[Float]] = []
        for epoch in 0..<3 {
            for index in 0..<one.batchesPerEpoch {
                let a = snapshot(one.batch(epoch: epoch, index: index))
                inOrder.append(a.0)
                XCTAssertEqual(a.1.count, index == 3 ? 2 : 16)
            }
        }
        // Same batches from 3 workers, asked for out of order and with repeats.
        let keys = [(2, 3), (0, 1), (0, 1), (1, 0), (2, 0), (0, 0), (1, 3), (1, 2), (2, 1), (2, 2), (0, 2), (0, 3), (1, 1)]
        for (epoch, index) in keys {
            XCTAssertEqual(snapshot(three.batch(epoch: epoch, index: index)).0, inOrder[epoch * 4 + index], "epoch \(epoch) batch \(index)")
        }
        XCTAssertNotEqual(inOrder[4], inOrder[8], "epochs differ")
    }

    func testEpochWithoutAugmentationMatchesTheEngineShuffle() throws {
        let d = dataset(count: 40)
        let augmented = try pipeline(d, workers: 2)
        let plain = ShuffledBatches(images: d.images, labels: d.labels, height: shape.height, width: shape.width,
                                    channels: shape.channels, batchSize: 16, seed: 5, normalization: normalization)
        for index in 0..<3 {
            let a = snapshot(augmented.batch(epoch: 0, index: index))
            let b = snapshot(plain.batch(epoch: 0, index: index))
            XCTAssertEqual(a.0, b.0); XCTAssertEqual(a.1, b.1)
        }
    }

    func testBatchContentIsTheDocumentedFunctionOfSeedEpochAndImage() throws {
        let d = dataset(count: 20)
        let p = try pipeline(d, workers: 2, batchSize: 8)
        let epoch = 2
        let batch = snapshot(p.batch(epoch: epoch, index: 1))
        let order = epochPermutation(count: 20, seed: 5, epoch: epoch)
        let augmenter = try Augmenter(PipelineTests.recipe(epoch), shape: shape, fill: fill)
        let table = normalization.lookupTable()
        for j in 0..<8 {
            let e = order[8 + j]
            var image = try Image(shape: shape, pixels: Array(d.images[(e * shape.count)..<((e + 1) * shape.count)]))
            var rng = SeededGenerator(seed: 5, stream: [AugmentedBatches.streamTag, UInt64(epoch), UInt64(e)])
            try augmenter.augment(&image, using: &rng)
            let expected = image.pixels.enumerated().map { table[($0.offset % 3) * 256 + Int($0.element)] }
            XCTAssertEqual(Array(batch.0[(j * shape.count)..<((j + 1) * shape.count)]), expected, "image \(j)")
            XCTAssertEqual(batch.1[j], d.labels[e])
        }
    }

    func testReturnedBatchIsNotOverwrittenByThePrefetch() throws {
        let d = dataset(count: 64)
        let p = try pipeline(d, workers: 2)
        let b = p.batch(epoch: 1, index: 0)
        let first = b.images.array
        usleep(50_000)   // the prefetch of batch 1 has run by now
        XCTAssertEqual(b.images.array, first)
    }

    func testBadInputIsRejected() {
        let d = dataset(count: 4)
        XCTAssertThrowsError(try AugmentedBatches(images: Array(d.images.dropLast()), labels: d.labels, shape: shape,
                                                  batchSize: 2, seed: 0, normalization: normalization, fill: fill,
                                                  augmentation: { _ in Augmentation(baseline: .base) })) { e in
            XCTAssertEqual("\(e)", "augmentation pipeline: 4 labels of 6×8×3 images need 576 bytes, got 575")
        }
        XCTAssertThrowsError(try AugmentedBatches(images: d.images, labels: d.labels, shape: shape, batchSize: 2, seed: 0,
                                                  normalization: Normalization(mean: [0.5], std: [0.2]), fill: fill,
                                                  augmentation: { _ in Augmentation(baseline: .base) }))
    }
}
