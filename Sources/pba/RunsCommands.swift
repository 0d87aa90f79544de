import ArgumentParser
import Foundation
import Search
import Store

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Where a search stands: run state, population, recent perturbations, workers, throughput.",
        discussion: "Reads the database; works while a coordinator is running (SQLite WAL) or after it stopped.")

    @OptionGroup var store: StoreOptions
    @Option(help: "Run id (default: the newest run).")
    var run: String?

    func run() async throws {
        guard FileManager.default.fileExists(atPath: store.db) else { throw ValidationError("no database at \(store.db)") }
        let db = try store.open()
        let runs = try db.runs()
        guard let record = try run.map({ try db.run(id: $0) }) ?? runs.last else {
            print("no runs in \(store.db)")
            return
        }
        try printStatus(db, record)
    }
}

func printStatus(_ db: Store, _ record: RunRecord) throws {
    let configuration = try JSONDecoder().decode(SearchConfiguration.self, from: Data(record.searchConfiguration.utf8))
    let search = try PopulationSearch.replay(configuration: configuration, events: db.events(run: record.id))
    let intervals = try db.intervals(run: record.id)
    let finished = intervals.filter { $0.finishedAt != nil }
    let done = search.members.map(\.completedEpochs).reduce(0, +)
    let total = configuration.populationSize * configuration.epochs
    print("run \(record.id): \(record.status.rawValue), created \(record.createdAt)")
    print("  \(configuration.populationSize) members, \(configuration.epochs) epochs, interval \(configuration.perturbationInterval), \(configuration.mode.rawValue), seed \(configuration.seed)")
    let selection = configuration.selection
    print("  start \(configuration.initialPolicy.rawValue), explore \(configuration.explore.rawValue), ranking \(selection.ranking.rawValue)"
          + (selection.ranking == .smoothed ? " (weight \(selection.smoothing))" : "") + ", exploit margin \(selection.margin) standard errors"
          + (configuration.controlSummary.map { ", \($0)" } ?? "")
          + (configuration.startSummary.map { ", \($0)" } ?? ""))
    print("  progress: \(done)/\(total) member-epochs, \(finished.count) intervals finished, \(intervals.count - finished.count) in flight or abandoned, \(search.perturbations.count) perturbations")
    if let first = finished.map(\.startedAt).min(), let last = finished.compactMap(\.finishedAt).max(), last > first {
        let minutes = last.timeIntervalSince(first) / 60
        print(String(format: "  throughput: %.1f intervals/min", Double(finished.count) / max(minutes, 1e-9)))
    }
    print("  member  epoch  val acc  state")
    for m in search.members {
        let acc = m.latestAccuracy.map { String(format: "%6.2f%%", $0 * 100) } ?? "     - "
        print(String(format: "  %6d  %5d  %@  %@", m.index, m.completedEpochs, acc, "\(m.activity)" + (configuration.isControl(m.index) ? " (control)" : "")))
    }
    let recent = try db.perturbations(run: record.id).suffix(5)
    if !recent.isEmpty {
        print("  recent perturbations:")
        for p in recent { print("    member \(p.target) (epoch \(p.targetEpoch)) ← member \(p.source) (epoch \(p.sourceEpoch))") }
    }
    let cutoff = Date().addingTimeInterval(-300)
    let workers = Dictionary(grouping: intervals.filter { ($0.finishedAt ?? $0.startedAt) > cutoff }, by: { $0.worker ?? "?" })
    if !workers.isEmpty {
        print("  workers active in the last 5 minutes:")
        for (w, rows) in workers.sorted(by: { $0.key < $1.key }) {
            print("    \(w): \(rows.filter { $0.finishedAt != nil }.count) finished, \(rows.filter { $0.finishedAt == nil }.count) in hand")
        }
    }
    print("  " + exploitNoiseLine(ExploitNoiseSummary(search.exploitChecks)))
    if let outcome = search.outcome {
        print(String(format: "  best member %d, validation accuracy %.2f%%", outcome.bestMember, outcome.validationAccuracy * 100))
        if let verdict = OutcomeVerdict(search: search) {
            print("  " + winnerSummary(verdict, search: search).replacingOccurrences(of: "\n", with: "\n  "))
            if let setup = try? JSONDecoder().decode(StoredRunSetup.self, from: Data(record.trainingConfiguration.utf8)) {
                print("  " + verdictLine(verdict, job: setup.job))
            }
        }
    }
}

struct RunsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs",
        abstract: "List, show or remove runs in a database.",
        subcommands: [List.self, Show.self, Remove.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "One line per run.")
        @OptionGroup var store: StoreOptions
        func run() async throws {
            guard FileManager.default.fileExists(atPath: store.db) else { throw ValidationError("no database at \(store.db)") }
            let db = try store.open()
            for r in try db.runs() {
                let finished = try db.intervals(run: r.id).filter { $0.finishedAt != nil }.count
                print("\(r.id)  \(r.status.rawValue)  created \(r.createdAt)  \(finished) intervals  seed \(UInt64(bitPattern: r.seed))")
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Status of one run.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "Run id.") var id: String
        func run() async throws {
            guard FileManager.default.fileExists(atPath: store.db) else { throw ValidationError("no database at \(store.db)") }
            let db = try store.open()
            try printStatus(db, try db.run(id: id))
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete a run with its events, intervals and checkpoints.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "Run id.") var id: String
        func run() async throws {
            guard FileManager.default.fileExists(atPath: store.db) else { throw ValidationError("no database at \(store.db)") }
            try store.open().deleteRun(id: id)
            print("removed \(id)")
        }
    }
}
