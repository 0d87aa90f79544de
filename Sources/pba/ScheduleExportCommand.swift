import ArgumentParser
import Foundation
import Schedule
import Store

/// `pba schedule export`: the learned schedule of a finished run, from the database.
struct ScheduleExport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a finished run's schedule from the database as JSON, a Ray Tune policy log, or PBA's form.")

    @OptionGroup var store: StoreOptions
    @Option(help: "Run id (default: the newest finished run).")
    var run: String?
    @Option(help: "Output format: json (schedule document), ray-log (policy log lines), pba ([[n, policy], ...]).")
    var format: ScheduleCommand.Import.OutputFormat = .json
    @Option(name: .shortAndLong, help: "Output file (default: standard output).")
    var out: String?

    func run() async throws {
        guard FileManager.default.fileExists(atPath: store.db) else { throw ValidationError("no database at \(store.db)") }
        let db = try store.open()
        let id: String
        if let run { id = run } else {
            guard let newest = try db.runs().last(where: { $0.status == .finished }) else { throw ValidationError("no finished run in \(store.db)") }
            id = newest.id
        }
        guard let document = try db.latestSchedule(run: id) else {
            throw ValidationError("run \(id) has no schedule yet (status \(try db.run(id: id).status.rawValue))")
        }
        let schedule = try AugmentationSchedule.decode(jsonData: Data(document.utf8))
        let data: Data
        switch format {
        case .json: data = try schedule.jsonData()
        case .rayLog: data = Data(try schedule.policyLog().rendered().utf8)
        case .pba: data = Data(try schedule.pbaSchedule().rendered().utf8)
        }
        if let out {
            try data.write(to: URL(fileURLWithPath: out), options: .atomic)
            print("wrote \(out) (run \(id), \(schedule.segments.count) segments over \(schedule.learnedEpochs) epochs)")
        } else {
            FileHandle.standardOutput.write(data)
        }
    }
}
