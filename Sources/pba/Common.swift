import ArgumentParser
import Foundation
import Logging
import Synchronization
import Engine
import Tensor

/// Options every compute command shares.
struct ComputeOptions: ParsableArguments {
    @Option(help: "Threads for BLAS and pba's own loops (default: the machine's cores).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: String = "info"

    @Option(help: "Algorithm of the stride-1 3×3 convolutions: winograd (F(4×4,3×3)) or im2col.")
    var convolution: ConvolutionAlgorithm = .winograd

    func validate() throws {
        guard threads >= 1, threads <= 1024 else { throw ValidationError("--threads must be 1...1024, got \(threads)") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level '\(logLevel)' is not one of trace, debug, info, notice, warning, error") }
    }

    /// Sets up logging and thread counts; call first in `run()`.
    func apply(label: String) -> Logger {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        var logger = Logger(label: label)
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        ComputeThreads.set(threads)
        return logger
    }
}

/// Set by SIGINT/SIGTERM; long loops poll it and stop cleanly.
let stopRequested = Atomic<Bool>(false)
/// Set by a second SIGINT/SIGTERM: stop now, without draining.
let abortRequested = Atomic<Bool>(false)
nonisolated(unsafe) private var signalSources: [DispatchSourceSignal] = []

/// Installs SIGINT/SIGTERM handlers that ask the running job to stop at its next safe point; a
/// second signal exits at once.
func installStopHandlers(_ logger: Logger) {
    for sig in [SIGINT, SIGTERM] {
        signal(sig, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
        source.setEventHandler {
            if stopRequested.exchange(true, ordering: .relaxed) {
                abortRequested.store(true, ordering: .relaxed)
                FileHandle.standardError.write("second signal: exiting now\n".data(using: .utf8)!)
                exit(130)
            }
            FileHandle.standardError.write("\nstopping after the current step (signal \(sig)); send again to exit at once\n".data(using: .utf8)!)
        }
        source.resume()
        signalSources.append(source)
    }
}

/// Formats seconds as "1h02m", "3m05s" or "12s".
func formatDuration(_ s: Double) -> String {
    guard s.isFinite, s >= 0 else { return "?" }
    let t = Int(s.rounded())
    if t >= 3600 { return String(format: "%dh%02dm", t / 3600, (t % 3600) / 60) }
    if t >= 60 { return String(format: "%dm%02ds", t / 60, t % 60) }
    return "\(t)s"
}

/// Appends JSON lines to a file (metrics), creating it if needed.
final class JSONLinesWriter {
    private let handle: FileHandle
    private let encoder = JSONEncoder()

    init(path: String) throws {
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw ValidationError("cannot create metrics file \(path)")
            }
        }
        guard let h = FileHandle(forWritingAtPath: path) else { throw ValidationError("cannot open metrics file \(path) for writing") }
        handle = h
        handle.seekToEndOfFile()
        encoder.outputFormatting = [.sortedKeys]
    }

    func write<T: Encodable>(_ value: T) {
        guard var data = try? encoder.encode(value) else { return }
        data.append(0x0A)
        handle.write(data)
    }
}

extension ConvolutionAlgorithm: ExpressibleByArgument {}
