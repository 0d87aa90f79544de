import ArgumentParser
import Foundation
import Augment
import Engine
import Tensor

/// `pba bench augment`: per-core augmentation throughput against a lean Pillow peer measured in
/// the same run, and what the prefetching pipeline adds to a WRN training step.
struct AugmentBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "augment",
        abstract: "Augmentation img/s per core vs a lean Pillow peer, and the pipeline's cost in a training step.",
        discussion: """
        Single-thread images/s on 32×32×3 for PBA's policy application (every probability 10, \
        magnitude 5, then pad/crop/flip and Cutout 16) and the baselines, then the same recipes in \
        Pillow (bench/augment_pillow.py; TrivialAugment and RandAugment through torchvision when \
        it is installed) with the ratios. Then the median WRN training step with plain shuffled \
        batches and with the augmenting pipeline (same recipe), and the difference.
        """)

    @Option(help: "Seconds per throughput measurement.")
    var seconds: Double = 2

    @Option(help: "Python interpreter for the Pillow peer (skipped if it or Pillow is missing).")
    var python: String = "python3"

    @Option(help: "Path of the Pillow peer script.")
    var peer: String = "bench/augment_pillow.py"

    @Option(help: "Model for the pipeline measurement (0 steps skips it).")
    var model: String = "wrn-10-1"

    @Option(help: "Timed training steps per source (median reported).")
    var steps: Int = 10

    @Option(help: "Batch size for the pipeline measurement.")
    var batchSize: Int = 128

    @Option(help: "Threads for training (the pipeline's worker uses one more thread).")
    var threads: Int = 1

    @Option(help: "Write the results as JSON to this file.")
    var json: String?

    struct Results: Codable {
        var swift: [String: Double] = [:]
        var peer: [String: Double] = [:]
        var pillowVersion: String?
        var stepSecondsPlain: Double?
        var stepSecondsAugmented: Double?
    }

    func validate() throws {
        guard seconds > 0, seconds <= 60 else { throw ValidationError("--seconds \(seconds) must be in (0, 60]") }
        guard steps >= 0, batchSize >= 1, threads >= 1 else { throw ValidationError("--steps ≥ 0, --batch-size ≥ 1, --threads ≥ 1") }
    }

    func run() async throws {
        var results = Results()
        print("pba bench augment — 32×32×3, one thread, \(seconds) s per case")
        let keys = ["pba", "trivialaugment", "randaugment", "autoaugment", "base"]
        let cases = try AugmentBenchmark.standardCases()
        for (key, (name, augmentation)) in zip(keys, cases) {
            let r = try AugmentBenchmark.measure(name, augmentation, minimumSeconds: seconds)
            results.swift[key] = r.imagesPerSecond
            print(String(format: "  %-46@ %9.0f img/s", name, r.imagesPerSecond))
        }
        if let (version, peerRates) = runPeer() {
            results.pillowVersion = version
            results.peer = peerRates
            print("Pillow \(version) peer (\(peer)):")
            for key in ["pba", "trivialaugment", "randaugment"] {
                guard let p = peerRates[key], let s = results.swift[key] else { continue }
                print(String(format: "  %-16@ %9.0f img/s   pba/peer %.1f×", key, p, s / p))
            }
        } else {
            print("Pillow peer skipped (\(python) \(peer) did not run)")
        }
        if steps > 0 {
            let (plain, augmented) = try measurePipeline()
            results.stepSecondsPlain = plain
            results.stepSecondsAugmented = augmented
            print(String(format: "%@ step, batch %d, %d thread(s): plain %.1f ms, with augmentation pipeline %.1f ms (%+.1f%%)",
                         model, batchSize, threads, plain * 1000, augmented * 1000, (augmented / plain - 1) * 100))
        }
        if let json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            try enc.encode(results).write(to: URL(fileURLWithPath: json))
        }
    }

    /// Runs the Pillow peer and returns (Pillow version, img/s per recipe), or nil.
    func runPeer() -> (String, [String: Double])? {
        guard FileManager.default.fileExists(atPath: peer) else { return nil }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, peer, "--seconds", "\(seconds)"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0,
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        var rates: [String: Double] = [:]
        for (k, v) in object { if let d = v as? Double { rates[k] = d } }
        return ((object["pillow"] as? String) ?? "?", rates)
    }

    /// Median seconds of a training step fed by plain shuffled batches and by the augmenting
    /// pipeline (PBA policy with every probability 10, base augmentation, Cutout 16).
    func measurePipeline() throws -> (Double, Double) {
        ComputeThreads.set(threads)
        let parsed = try ModelSpec.parse(model)
        let spec = try ModelSpec(depth: parsed.depth, widen: parsed.widen, form: parsed.form)
        let shape = try ImageShape(width: 32, height: 32, channels: 3)
        let count = batchSize * (steps + 2)
        var g = SeededGenerator(seed: 3)
        let images = (0..<(count * shape.count)).map { _ in UInt8(truncatingIfNeeded: g.next()) }
        let labels = (0..<count).map { _ in Int32(g.nextInt(below: 10)) }
        let normalization = Normalization(mean: [0.49, 0.48, 0.45], std: [0.25, 0.24, 0.26])
        let plain = ShuffledBatches(images: images, labels: labels, height: 32, width: 32, channels: 3,
                                    batchSize: batchSize, seed: 1, normalization: normalization)
        let policy = try ResolvedPolicy(AugmentBenchmark.fullProbabilityPolicy())
        let augmented = try AugmentedBatches(images: images, labels: labels, shape: shape, batchSize: batchSize, seed: 1,
                                             normalization: normalization, fill: .cifar10Mean, workers: 1,
                                             augmentation: { _ in Augmentation(policy: policy) })
        func median(_ source: BatchSource) -> Double {
            var options = TrainingOptions()
            options.epochs = 1
            let trainer = Trainer(spec: spec, options: options)
            let clock = ContinuousClock()
            var times: [Double] = []
            for s in 0..<(steps + 2) {
                let start = clock.now
                let batch = source.batch(epoch: 0, index: s % source.batchesPerEpoch)
                _ = trainer.trainStep(batch, totalSteps: 1000)
                let d = clock.now - start
                if s >= 2 { times.append(Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18) }
            }
            times.sort()
            return times[times.count / 2]
        }
        return (median(plain), median(augmented))
    }
}
