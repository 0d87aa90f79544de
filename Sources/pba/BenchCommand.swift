import ArgumentParser
import Foundation
import Engine
import Tensor

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks that print ratios against a peer or the hardware measured in the same run.",
        subcommands: [EngineBench.self, AugmentBench.self, StoreBench.self, WireBench.self])
}

/// Reads a field of /proc/self/status in kB (VmRSS, VmHWM).
func procStatusKB(_ field: String) -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
    }
    return nil
}

/// Resets the peak-RSS counter (VmHWM) so a later peak measures only what follows.
func resetPeakRSS() {
    if let h = FileHandle(forWritingAtPath: "/proc/self/clear_refs") {
        h.write("5".data(using: .utf8)!)
        try? h.close()
    }
}

func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.isEmpty ? 0 : (s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2)
}

struct EngineBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine",
        abstract: "Training throughput of WRNs (img/s, GFLOP/s) against this machine's square-sgemm peak.",
        discussion: "Random data, no data loading in the timed part; median of --steps steps after --warmup.")

    @Option(help: "Comma-separated thread counts.")
    var threads: String = "1,2"

    @Option(help: "Comma-separated models.")
    var models: String = "wrn-40-2,wrn-16-1"

    @Option(help: "Architecture form: pba or zagoruyko (the PyTorch peer builds zagoruyko).")
    var form: String = "zagoruyko"

    @Option(help: "Batch size.")
    var batchSize: Int = 128

    @Option(help: "Timed steps (median reported).")
    var steps: Int = 20

    @Option(help: "Warm-up steps.")
    var warmup: Int = 3

    @Option(help: "Image height/width/channels, e.g. 32x32x3.")
    var input: String = "32x32x3"

    @Option(help: "Algorithm of the stride-1 3×3 convolutions: winograd (F(4×4,3×3); the stem direct) or im2col (everywhere).")
    var convolution: ConvolutionAlgorithm = .winograd

    @Option(help: "Write the results as JSON to this file.")
    var json: String?

    @Flag(help: "Also print where a training step's time goes, layer by layer and by kind (from --steps extra profiled steps after the timed ones).")
    var layers = false

    @Flag(help: .hidden)
    var child = false

    struct Row: Codable {
        var model: String
        var threads: Int
        var imagesPerSecond: Double
        var gflops: Double
        var sgemmGflops: Double
        var ratioToSgemm: Double
        var memoryMB: Double
        var parameters: Int
        /// Per-layer totals over `profiledSteps` (with --layers).
        var layers: [LayerProfile.Entry]?
        var profiledSteps: Int?
    }

    func run() async throws {
        let threadCounts = threads.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !threadCounts.isEmpty, threadCounts.allSatisfy({ $0 >= 1 }) else { throw ValidationError("--threads: give positive integers, e.g. 1,2") }
        let dims = input.split(separator: "x").compactMap { Int($0) }
        guard dims.count == 3, dims.allSatisfy({ $0 >= 1 }) else { throw ValidationError("--input must be HxWxC, e.g. 32x32x3") }
        guard let f = ModelSpec.Form(rawValue: form) else { throw ValidationError("--form must be pba or zagoruyko") }
        guard steps >= 1, warmup >= 0 else { throw ValidationError("--steps must be ≥ 1 and --warmup ≥ 0") }
        let modelNames = models.split(separator: ",").map(String.init)
        for name in modelNames {
            do { _ = try ModelSpec.parse(name) } catch { throw ValidationError("--models: \(error)") }
        }
        if child {
            // One configuration in a fresh process, so peak memory is this model's alone.
            let row = try measure(model: modelNames[0], threads: threadCounts[0], form: f, dims: dims)
            let data = try JSONEncoder().encode(row)
            FileHandle.standardOutput.write(data)
            return
        }
        print("pba bench engine — kernels \(Kernels.instructionSet) (CPU has \(Kernels.cpuInstructionSet); PBA_KERNELS=avx2|blas lowers it), BLAS core \(BLAS.coreName), \(ProcessInfo.processInfo.activeProcessorCount) cores, batch \(batchSize), \(form) form, \(convolution) convolutions, median of \(steps) steps after \(warmup) warm-up")
        print("OpenBLAS: \(BLAS.config)")
        var rows: [Row] = []
        for t in threadCounts {
            for name in modelNames {
                let row = try runChild(model: name, threads: t)
                rows.append(row)
                print(String(format: "  %-22@ %2d thr: %7.1f img/s  %6.1f GFLOP/s  sgemm peak %6.1f GFLOP/s  ratio %.2f  memory %6.0f MB  (%d params)",
                             row.model, t, row.imagesPerSecond, row.gflops, row.sgemmGflops, row.ratioToSgemm, row.memoryMB, row.parameters))
                if let entries = row.layers, let n = row.profiledSteps, n > 0 {
                    printLayers(entries, steps: n, stepSeconds: Double(batchSize) / row.imagesPerSecond)
                }
            }
        }
        if let json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            try enc.encode(rows).write(to: URL(fileURLWithPath: json))
        }
    }

    /// Runs one configuration as `pba bench engine --child` and decodes its row.
    func runChild(model: String, threads t: Int) throws -> Row {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe")
        process.arguments = ["bench", "engine", "--child", "--threads", "\(t)", "--models", model, "--form", form,
                             "--batch-size", "\(batchSize)", "--steps", "\(steps)", "--warmup", "\(warmup)", "--input", input,
                             "--convolution", convolution.rawValue] + (layers ? ["--layers"] : [])
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw ValidationError("benchmark of \(model) at \(t) threads failed (exit \(process.terminationStatus))") }
        return try JSONDecoder().decode(Row.self, from: data)
    }

    func measure(model name: String, threads t: Int, form f: ModelSpec.Form, dims: [Int]) throws -> Row {
        ComputeThreads.set(t)
        let peak = measureSquareSgemm()
        let parsed = try ModelSpec.parse(name, form: f)
        let spec = try ModelSpec(depth: parsed.depth, widen: parsed.widen, form: parsed.form,
                                 height: dims[0], width: dims[1], channels: dims[2], classes: 10)
        var options = TrainingOptions()
        options.epochs = 1
        var g = SeededGenerator(seed: 1)
        let x = Tensor(shape: [batchSize, dims[0], dims[1], dims[2]])
        for i in 0..<x.count { x[i] = Float(g.nextGaussian()) }
        let labels = (0..<batchSize).map { _ in Int32(g.nextInt(below: 10)) }
        let batch = Batch(images: x, labels: labels)
        let trainer = Trainer(spec: spec, options: options)
        trainer.model.setConvolutionAlgorithm(convolution)
        let rssModel = procStatusKB("VmRSS") ?? 0
        resetPeakRSS()
        let clock = ContinuousClock()
        var times: [Double] = []
        for s in 0..<(warmup + steps) {
            let start = clock.now
            _ = trainer.trainStep(batch, totalSteps: 1000)
            if s >= warmup { times.append(seconds(clock.now - start)) }
        }
        let peakRSS = procStatusKB("VmHWM") ?? 0
        let m = median(times)
        let gflops = trainer.model.trainingFlops(batch: batchSize) / m / 1e9
        var row = Row(model: spec.name, threads: t, imagesPerSecond: Double(batchSize) / m, gflops: gflops, sgemmGflops: peak,
                      ratioToSgemm: gflops / peak, memoryMB: Double(max(0, peakRSS - rssModel)) / 1024,
                      parameters: trainer.model.parameterCount)
        if layers {
            // Separate steps, so the timers' own cost never touches the img/s above.
            let profile = LayerProfile()
            trainer.model.profile = profile
            for _ in 0..<steps { _ = trainer.trainStep(batch, totalSteps: 1000) }
            trainer.model.profile = nil
            row.layers = profile.entries
            row.profiledSteps = profile.steps
        }
        return row
    }

    /// The per-layer table (ms per step, share of the profiled step) and the totals by kind.
    func printLayers(_ entries: [LayerProfile.Entry], steps: Int, stepSeconds: Double) {
        let n = Double(steps)
        let profiled = entries.reduce(0) { $0 + $1.total } / n
        func ms(_ s: Double) -> String { String(format: "%7.2f", s / n * 1000) }
        func share(_ s: Double) -> String { String(format: "%5.1f%%", s / n / profiled * 100) }
        print("    layer                        route              shape               fwd ms  bwd ms  upd ms   share")
        for e in entries {
            let name = e.layer.padding(toLength: 28, withPad: " ", startingAt: 0)
            let kind = e.kind.padding(toLength: 18, withPad: " ", startingAt: 0)
            let shape = e.shape.padding(toLength: 18, withPad: " ", startingAt: 0)
            print("    \(name) \(kind) \(shape) \(ms(e.forward)) \(ms(e.backward)) \(ms(e.update))  \(share(e.total))")
        }
        var kinds: [(String, Double, Double)] = []
        for e in entries {
            if let i = kinds.firstIndex(where: { $0.0 == e.kind }) {
                kinds[i].1 += e.forward; kinds[i].2 += e.backward + e.update
            } else {
                kinds.append((e.kind, e.forward, e.backward + e.update))
            }
        }
        print("    by kind (forward + backward ms per step, share):")
        for (kind, f, b) in kinds.sorted(by: { $0.1 + $0.2 > $1.1 + $1.2 }) {
            print("      \(kind.padding(toLength: 20, withPad: " ", startingAt: 0)) \(ms(f + b))  \(share(f + b))")
        }
        print(String(format: "    profiled step %.2f ms (timed step %.2f ms; the rest is outside the layers)", profiled * 1000, stepSeconds * 1000))
    }

    /// GFLOP/s of a 2048³ sgemm, best of 3 after a warm-up.
    func measureSquareSgemm() -> Double {
        // OpenBLAS on the benchmark's thread count for the peak only; training keeps it at one.
        BLAS.setThreads(ComputeThreads.count)
        defer { BLAS.setThreads(1) }
        let n = 2048
        let a = Tensor(shape: [n, n]), b = Tensor(shape: [n, n]), c = Tensor(shape: [n, n])
        for i in 0..<a.count { a[i] = Float(i % 7) * 0.1; b[i] = Float(i % 5) * 0.1 }
        let clock = ContinuousClock()
        var best = Double.infinity
        for r in 0..<4 {
            let start = clock.now
            BLAS.sgemm(m: n, n: n, k: n, a: a.pointer, lda: n, b: b.pointer, ldb: n, c: c.pointer, ldc: n)
            let t = seconds(clock.now - start)
            if r > 0 { best = min(best, t) }
        }
        return 2 * Double(n * n * n) / best / 1e9
    }
}
