import ArgumentParser
import Foundation
import Schedule

/// `pba schedule show|import|plot`: read, convert and look at augmentation schedules.
/// (`export --db --run` comes with the Store.)
struct ScheduleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Show, import and plot augmentation schedules.",
        discussion: """
        FILE may be a pba schedule JSON document, a Ray Tune / PBA policy log (one \
        [target, clone, target_iteration, clone_iteration, clone_config, new_config] per line, \
        JSON or Python literal) or PBA's [[n_epochs, policy], ...] form.
        """,
        subcommands: [Show.self, Import.self, Plot.self, ScheduleExport.self])
}

/// A failure of a schedule subcommand, naming the file.
struct ScheduleCommandError: Error, CustomStringConvertible {
    var file: String
    var reason: String

    var description: String { "\(file): \(reason)" }
}

extension ScheduleCommand {
    /// The input file and what a policy log or PBA form does not say itself.
    struct InputOptions: ParsableArguments {
        @Argument(help: "Schedule JSON, Ray Tune / PBA policy log, or PBA [[n, policy], ...] file.")
        var file: String

        @Option(name: .customLong("epochs"),
                help: "Epochs the search ran for (needed for a policy log: PBA used 200 for reduced CIFAR-10, 160 for reduced SVHN).")
        var learnedEpochs: Int?

        @Option(help: "Data set the schedule was learned on (for imports).")
        var dataset: String = "unknown"

        @Option(help: "Model the schedule was learned with (for imports).")
        var model: String = "unknown"

        @Option(help: "Training images of the search (for imports).")
        var trainingImages: Int?

        func validate() throws {
            if let learnedEpochs, learnedEpochs < 1 {
                throw ValidationError("--epochs must be at least 1, got \(learnedEpochs)")
            }
        }

        func load() throws -> AugmentationSchedule {
            let text: String
            do {
                text = try String(contentsOfFile: file, encoding: .utf8)
            } catch {
                throw ScheduleCommandError(file: file, reason: "cannot be read: \(error.localizedDescription)")
            }
            let context = ScheduleContext(
                dataset: DatasetDescription(name: dataset, trainingImages: trainingImages),
                model: ModelDescription(name: model),
                provenance: ScheduleProvenance(
                    commandLine: CommandLine.arguments,
                    importedFrom: (file as NSString).lastPathComponent))
            do {
                let schedule = try AugmentationSchedule(reading: text, learnedEpochs: learnedEpochs, context: context)
                try schedule.validateOperations()
                return schedule
            } catch {
                throw ScheduleCommandError(file: file, reason: error.description)
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a schedule as a table of epoch ranges and the operations that can apply.")

        @OptionGroup var input: InputOptions

        func run() async throws {
            let schedule = try input.load()
            do {
                print(try ScheduleRendering.table(schedule), terminator: "")
            } catch {
                throw ScheduleCommandError(file: input.file, reason: error.description)
            }
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Convert a policy log or PBA schedule into a schedule JSON document (or back).")

        enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
            case json
            case rayLog = "ray-log"
            case pba
        }

        @OptionGroup var input: InputOptions

        @Option(name: .shortAndLong, help: "Output file.")
        var out: String

        @Option(help: "Output format: json (schedule document), ray-log (policy log lines), pba ([[n, policy], ...]).")
        var format: OutputFormat = .json

        func run() async throws {
            let schedule = try input.load()
            let data: Data
            do {
                switch format {
                case .json: data = try schedule.jsonData()
                case .rayLog: data = Data(try schedule.policyLog().rendered().utf8)
                case .pba: data = Data(try schedule.pbaSchedule().rendered().utf8)
                }
            } catch {
                throw ScheduleCommandError(file: input.file, reason: error.description)
            }
            do {
                try data.write(to: URL(fileURLWithPath: out), options: .atomic)
            } catch {
                throw ScheduleCommandError(file: out, reason: "cannot be written: \(error.localizedDescription)")
            }
            print("wrote \(out) (\(schedule.segments.count) segments over \(schedule.learnedEpochs) epochs)")
        }
    }

    struct Plot: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Plot per-operation probability and magnitude over epochs as an SVG.")

        @OptionGroup var input: InputOptions

        @Option(name: .shortAndLong, help: "Output SVG file.")
        var out: String

        @Option(help: "Stretch the schedule to this many training epochs first (PBA's rule).")
        var trainEpochs: Int?

        func validate() throws {
            if let trainEpochs, trainEpochs < 1 {
                throw ValidationError("--train-epochs must be at least 1, got \(trainEpochs)")
            }
        }

        func run() async throws {
            let schedule = try input.load()
            let svg: String
            do {
                svg = try ScheduleRendering.svg(schedule, epochs: trainEpochs)
            } catch {
                throw ScheduleCommandError(file: input.file, reason: error.description)
            }
            do {
                try Data(svg.utf8).write(to: URL(fileURLWithPath: out), options: .atomic)
            } catch {
                throw ScheduleCommandError(file: out, reason: "cannot be written: \(error.localizedDescription)")
            }
            print("wrote \(out)")
        }
    }
}
