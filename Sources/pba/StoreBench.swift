import ArgumentParser
import Foundation
import Augment
import Engine
import Search
import Store
import Tensor

struct StoreBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Result commits per second, and checkpoint write/read against a plain file with the same fsync.")

    @Option(help: "Interval results to commit.")
    var results: Int = 5000

    @Option(help: "Checkpoint size in MB (WRN-40-2 training state ≈ 18 MB).")
    var checkpointMB: Int = 18

    @Option(help: "Repetitions of the checkpoint measurements (median reported).")
    var repeats: Int = 5

    @Option(help: "Directory for the benchmark database (default: a temporary one).")
    var directory: String?

    func run() async throws {
        guard results >= 1, checkpointMB >= 1, repeats >= 1 else { throw ValidationError("--results, --checkpoint-mb and --repeats must be ≥ 1") }
        let dir = directory ?? (NSTemporaryDirectory() + "pba-bench-store-\(getpid())")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { if directory == nil { try? FileManager.default.removeItem(atPath: dir) } }
        let store = try Store(path: dir + "/bench.sqlite")
        let config = SearchConfiguration(seed: 1)
        try store.createRun(RunRecord(id: "bench", createdAt: Date(), status: .running,
                                      searchConfiguration: String(data: try JSONEncoder().encode(config), encoding: .utf8)!,
                                      trainingConfiguration: "{}", seed: 1, pbaVersion: PBAVersion.string, gitRevision: "",
                                      commandLine: "pba bench store"))
        let policy = Policy(zeroFor: .pba)
        let clock = ContinuousClock()
        print("pba bench store — SQLite WAL, synchronous=NORMAL, one transaction per result")
        // Hand out the assignments first (not timed), then time the results.
        for i in 1...results {
            let a = Assignment(id: AssignmentID(rawValue: UInt64(i)), member: i % 16, epochs: 0..<3, policy: policy,
                               checkpoint: .initial(member: i % 16, weightSeed: 1), trainingSeed: 1)
            try store.commit(run: "bench", event: .assignmentRequested, actions: [.train(a)])
        }
        let start = clock.now
        for i in 1...results {
            let r = IntervalResult(assignment: AssignmentID(rawValue: UInt64(i)), validationAccuracy: 0.5, trainLoss: 1)
            try store.commit(run: "bench", event: .assignmentFinished(r), actions: [])
        }
        let elapsed = seconds(clock.now - start)
        print(String(format: "  interval results: %.0f commits/s (%d results in %.2f s; target ≥ 10 000/s)", Double(results) / elapsed, results, elapsed))

        // Checkpoints: the store's write (write, fsync, rename, directory fsync) vs a
        // plain file write with fsync; reads with and without verification.
        var bytes = [UInt8](repeating: 0, count: checkpointMB << 20)
        var g = SeededGenerator(seed: 3)
        for i in stride(from: 0, to: bytes.count, by: 8) { bytes[i] = UInt8(truncatingIfNeeded: g.next()) }
        var storeWrite: [Double] = [], plainWrite: [Double] = [], hash: [Double] = [], storeRead: [Double] = [], plainRead: [Double] = []
        for r in 0..<repeats {
            bytes[0] = UInt8(r)  // a new content address each time
            var t = clock.now
            let sha = SHA256.hex(SHA256.hash(bytes))
            hash.append(seconds(clock.now - t))
            // As the coordinator does: the digest arrived with the bytes and was verified on decode.
            t = clock.now
            let produced = try store.writeCheckpoint(bytes, verifiedSHA256: sha)
            storeWrite.append(seconds(clock.now - t))
            let plainPath = dir + "/plain-\(r).bin"
            t = clock.now
            try writePlain(bytes, to: plainPath)
            plainWrite.append(seconds(clock.now - t))
            t = clock.now
            _ = try store.checkpoints.read(sha256: produced.sha256)
            storeRead.append(seconds(clock.now - t))
            t = clock.now
            _ = FileManager.default.contents(atPath: plainPath)
            plainRead.append(seconds(clock.now - t))
        }
        let mb = Double(bytes.count) / 1e6
        let (sw, pw, h, sr, pr) = (median(storeWrite), median(plainWrite), median(hash), median(storeRead), median(plainRead))
        print(String(format: "  checkpoint write %.0f MB: store %.0f MB/s, plain file %.0f MB/s → %.2f× the plain-file time (target ≤ 1.2×; %.2f× if the store had to hash too)",
                     mb, mb / sw, mb / pw, sw / pw, (sw + h) / pw))
        print(String(format: "  checkpoint read  %.0f MB: store %.0f MB/s (verified), plain file %.0f MB/s → %.2f× (%.2f× without hashing)",
                     mb, mb / sr, mb / pr, sr / pr, (sr - h) / pr))
        print(String(format: "  SHA-256: %.0f MB/s", mb / h))
    }

    private func writePlain(_ bytes: [UInt8], to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw ValidationError("cannot write \(path)") }
        defer { close(fd) }
        _ = bytes.withUnsafeBytes { raw in Foundation.write(fd, raw.baseAddress!, raw.count) }
        fsync(fd)
    }
}
