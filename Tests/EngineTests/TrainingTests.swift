import XCTest
import Tensor
@testable import Engine

/// Training end to end: overfitting, learning on real data, determinism, checkpoint resumption.
final class TrainingTests: XCTestCase {
    /// A tiny synthetic data set of uint8 images whose class is encoded in a brightness pattern.
    func syntheticData(count: Int, h: Int = 8, w: Int = 8, c: Int = 3, classes: Int = 4, seed: UInt64) -> (images: [UInt8], labels: [Int32]) {
        var g = SeededGenerator(seed: seed)
        var images = [UInt8](repeating: 0, count: count * h * w * c)
        var labels = [Int32](repeating: 0, count: count)
        for i in 0..<count {
            let label = g.nextInt(below: classes)
            labels[i] = Int32(label)
            for p in 0..<(h * w * c) {
                let base = (p / c) % classes == label ? 200 : 40
                images[i * h * w * c + p] = UInt8(clamping: base + g.nextInt(below: 50))
            }
        }
        return (images, labels)
    }

    func tinyTrainer(epochs: Int, seed: UInt64 = 3, classes: Int = 4) throws -> Trainer {
        var options = TrainingOptions()
        options.epochs = epochs
        options.batchSize = 16
        options.seed = seed
        let spec = try ModelSpec(depth: 10, widen: 1, form: .pba, height: 8, width: 8, channels: 3, classes: classes)
        return Trainer(spec: spec, options: options)
    }

    let normalization = Normalization(mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25])

    func testTinyBatchOverfitsToFullTrainingAccuracy() throws {
        var g = SeededGenerator(seed: 9)
        // Random images with random labels: only memorisation fits them.
        let images = (0..<(16 * 8 * 8 * 3)).map { _ in UInt8(g.nextInt(below: 256)) }
        let labels = (0..<16).map { _ in Int32(g.nextInt(below: 4)) }
        var options = TrainingOptions()
        options.epochs = 60
        options.batchSize = 16
        options.sgd.learningRate = 0.05
        options.sgd.weightDecay = 0
        let trainer = Trainer(spec: try ModelSpec(depth: 10, widen: 1, height: 8, width: 8, channels: 3, classes: 4), options: options)
        let source = ShuffledBatches(images: images, labels: labels, height: 8, width: 8, channels: 3, batchSize: 16, seed: 1, normalization: normalization)
        var last: EpochMetrics?
        while trainer.progress.epoch < options.epochs { last = trainer.trainEpoch(source) }
        XCTAssertEqual(last?.trainAccuracy, 1.0, "training accuracy on a memorisable batch: \(String(describing: last))")
        XCTAssertLessThan(last?.loss ?? 9, 0.1)
    }

    func testSameSeedAndThreadsGiveBitIdenticalWeights() throws {
        let data = syntheticData(count: 48, seed: 4)
        func run() throws -> [Float] {
            let t = try tinyTrainer(epochs: 2)
            let s = ShuffledBatches(images: data.images, labels: data.labels, height: 8, width: 8, channels: 3, batchSize: 16, seed: 5, normalization: normalization)
            _ = t.trainEpoch(s); _ = t.trainEpoch(s)
            return t.model.parameters.values.array + t.model.parameters.statistics.array
        }
        let a = try run(), b = try run()
        XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern))
        // and a different seed gives different weights
        let t = try tinyTrainer(epochs: 2, seed: 4)
        XCTAssertNotEqual(t.model.parameters.values.array.map(\.bitPattern), try tinyTrainer(epochs: 2).model.parameters.values.array.map(\.bitPattern))
    }

    func testCheckpointResumeIsBitIdenticalToTrainingStraightThrough() throws {
        let data = syntheticData(count: 40, seed: 6)  // 3 batches of 16, the last partial
        func source() -> ShuffledBatches {
            ShuffledBatches(images: data.images, labels: data.labels, height: 8, width: 8, channels: 3, batchSize: 16, seed: 7, normalization: normalization)
        }
        let straight = try tinyTrainer(epochs: 3)
        for _ in 0..<3 { _ = straight.trainEpoch(source()) }

        let dir = try makeTemporaryDirectory(self)
        let path = dir + "/state.ckpt"
        // Stop part-way through epoch 2 (after 1 step of it), save, restore in a fresh trainer.
        let first = try tinyTrainer(epochs: 3)
        _ = first.trainEpoch(source())
        let src = source()
        _ = first.trainStep(src.batch(epoch: 1, index: 0), totalSteps: 3 * src.batchesPerEpoch)
        try TrainingCheckpoint.save(first, normalization: normalization, to: path)
        let (resumed, metadata) = try TrainingCheckpoint.load(path: path)
        XCTAssertEqual(metadata.progress.step, 4)
        XCTAssertEqual(metadata.progress.epoch, 1)
        while resumed.progress.epoch < 3 { _ = resumed.trainEpoch(source()) }
        XCTAssertEqual(resumed.model.parameters.values.array.map(\.bitPattern), straight.model.parameters.values.array.map(\.bitPattern))
        XCTAssertEqual(resumed.model.parameters.statistics.array.map(\.bitPattern), straight.model.parameters.statistics.array.map(\.bitPattern))
        XCTAssertEqual(resumed.progress, straight.progress)
    }

    func testCheckpointForAnotherArchitectureIsRejected() throws {
        let dir = try makeTemporaryDirectory(self)
        let path = dir + "/a.ckpt"
        let small = try tinyTrainer(epochs: 1)
        try TrainingCheckpoint.save(small, normalization: nil, to: path)
        let file = try CheckpointFile.read(from: path)
        let metadata = try TrainingCheckpoint.metadata(of: file, source: path)
        var options = TrainingOptions()
        options.epochs = 1
        let other = Trainer(spec: try ModelSpec(depth: 16, widen: 1, height: 8, width: 8, channels: 3, classes: 4), options: options)
        XCTAssertThrowsError(try TrainingCheckpoint.load(file, metadata: metadata, into: other, source: path)) { error in
            XCTAssertTrue("\(error)".contains("checkpoint is for wrn-10-1"), "\(error)")
        }
        // Metadata that is not a training state is rejected with a reason, not a crash.
        let bogus = try CheckpointFile(metadata: "{\"kind\":\"something-else\"}", sections: [])
        XCTAssertThrowsError(try TrainingCheckpoint.restore(from: bogus, source: "bogus.ckpt")) { error in
            XCTAssertTrue("\(error)".contains("bogus.ckpt"), "\(error)")
        }
        // A corrupted file fails the checksum.
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[bytes.count / 2] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try TrainingCheckpoint.load(path: path))
    }

    /// A real run learns: WRN-10-1, 2 epochs on 5 000 Fashion-MNIST images, ≥ 70% test accuracy.
    /// Batch 64 (158 steps): with batch 128 (80 steps) seeds 1-3 land at 68.6-70.7%, too close to
    /// the bar for a test that must not flip on a change of float rounding.
    func testWideResNetLearnsFashionMNIST() throws {
        let dir = DataSource.defaultFashionMNISTDirectory()
        guard FileManager.default.fileExists(atPath: dir + "/train-images-idx3-ubyte.gz") else {
            throw XCTSkip("Fashion-MNIST not installed at \(dir) (apt-get install dataset-fashion-mnist)")
        }
        let (train, test) = try DataSource(parsing: "fashion-mnist").load()
        let split = try DataSplit(train, trainSize: 5000, validationSize: 0, seed: 1)
        let stats = split.train.channelStatistics()
        let norm = Normalization(mean: stats.mean, std: stats.std)
        var options = TrainingOptions()
        options.epochs = 2
        options.seed = 1
        options.batchSize = 64
        let trainer = Trainer(spec: try ModelSpec(depth: 10, widen: 1, height: 28, width: 28, channels: 1, classes: 10), options: options)
        let source = ShuffledBatches(images: split.train.images, labels: split.train.labels, height: 28, width: 28, channels: 1,
                                     batchSize: 64, seed: 1, normalization: norm)
        _ = trainer.trainEpoch(source)
        _ = trainer.trainEpoch(source)
        let result = trainer.evaluate(images: test.images, labels: test.labels, normalization: norm)
        print("WRN-10-1, 2 epochs, 5000 Fashion-MNIST images: test accuracy \(result.accuracy)")
        XCTAssertGreaterThanOrEqual(result.accuracy, 0.70, "test accuracy \(result.accuracy)")
    }
}
