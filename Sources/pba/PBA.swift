import ArgumentParser

@main
struct PBA: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pba",
        abstract: "Population Based Augmentation: learn data-augmentation schedules.")
}
