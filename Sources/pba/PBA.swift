import ArgumentParser

@main
struct PBA: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pba",
        abstract: "Population Based Augmentation: learn data-augmentation schedules.",
        version: PBAVersion.string,
        subcommands: [TrainCommand.self, ScheduleCommand.self, BenchCommand.self])
}

enum PBAVersion {
    static let string = "0.1.0"
}
