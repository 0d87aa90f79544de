import ArgumentParser
import Wire

@main
struct PBA: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pba",
        abstract: "Population Based Augmentation: learn data-augmentation schedules.",
        version: PBAVersion.string,
        subcommands: [SearchCommand.self, CoordinatorCommand.self, WorkerCommand.self, StatusCommand.self, DashboardCommand.self, RunsCommand.self, KeygenCommand.self, TrainCommand.self, EvaluateCommand.self, AugmentCommand.self, ScheduleCommand.self, BenchCommand.self])
}

enum PBAVersion {
    static let string = PBARelease.version
}
