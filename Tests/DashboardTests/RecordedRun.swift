import Foundation
import XCTest
import Augment
import Search
import Store
import Tensor

func temporaryDirectory(_ test: XCTestCase) throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("pba-dash-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url.path
}

/// Records a search in a store on disk as the coordinator does — every event committed with its
/// actions, results with checkpoint bytes — from a fake trainer (accuracy a function of the
/// policy and epoch plus seeded noise) and two named workers. The dashboard is then tested on
/// the store alone, opened read-only, against what this writer knows.
struct RecordedRun {
    let store: Store
    let runId: String
    let configuration: SearchConfiguration
    var search: PopulationSearch
    var inFlight: [(Assignment, String)] = []
    var noise: SeededGenerator
    static let workers = ["hostA-4242", "local-77-0"]

    init(store: Store, runId: String, configuration: SearchConfiguration, createdAt: Date = Date()) throws {
        self.store = store
        self.runId = runId
        self.configuration = configuration
        search = try PopulationSearch(configuration: configuration)
        noise = SeededGenerator(seed: configuration.seed ^ 0x5EED)
        let config = String(decoding: try JSONEncoder().encode(configuration), as: UTF8.self)
        let training = #"{"plan":{"preset":"demo"},"job":{"data":"fashion-mnist","trainSize":256,"validationSize":128,"model":{"depth":10,"widen":1,"form":"pba"}}}"#
        try store.createRun(RunRecord(id: runId, createdAt: createdAt, status: .running, searchConfiguration: config,
                                      trainingConfiguration: training, seed: configuration.seed, pbaVersion: "test",
                                      gitRevision: "test", commandLine: "test"))
        try store.commit(run: runId, event: .started, actions: search.start())
    }

    var finished: Bool { search.outcome != nil }

    mutating func request(worker: String) throws {
        let actions = search.assignmentRequested()
        for case let .train(a) in actions {
            try store.commit(run: runId, event: .assignmentRequested, actions: actions, worker: worker)
            inFlight.append((a, worker))
        }
    }

    mutating func finishOldest() throws {
        guard !inFlight.isEmpty else { return }
        let (a, worker) = inFlight.removeFirst()
        let magnitudes = a.policy.values.enumerated().reduce(0) { $0 + ($1.offset % 2 == 1 ? $1.element : 0) }
        let accuracy = 0.4 + 0.4 * (1 - exp(-Double(a.epochs.upperBound) / 6)) + 0.002 * Double(magnitudes) + noise.nextUniform() * 0.05
        let result = IntervalResult(assignment: a.id, validationAccuracy: accuracy, trainLoss: 1)
        let produced = try store.writeCheckpoint([UInt8](repeating: UInt8(a.member), count: 1000))
        let actions = search.assignmentFinished(result)
        try store.commit(run: runId, event: .assignmentFinished(result), actions: actions, worker: worker,
                         checkpoint: produced, keepCheckpoints: search.referencedCheckpoints)
    }

    /// Two workers alternate until the search finishes, or until `results` results were committed.
    mutating func drive(results limit: Int = .max) throws {
        var results = 0
        while !finished && results < limit {
            for w in Self.workers where !inFlight.contains(where: { $0.1 == w }) { try request(worker: w) }
            guard !inFlight.isEmpty else { break }
            try finishOldest()
            results += 1
        }
    }

    static func configuration(seed: UInt64 = 11) -> SearchConfiguration {
        SearchConfiguration(populationSize: 4, epochs: 12, perturbationInterval: 3, mode: .asynchronous, seed: seed)
    }

    /// A finished run and a half-done one in one database; returns the writer's view of both.
    static func make(at path: String) throws -> (store: Store, finished: RunRecorded, running: RunRecorded) {
        let store = try Store(path: path)
        var a = try RecordedRun(store: store, runId: "run-finished", configuration: configuration(seed: 11),
                                createdAt: Date(timeIntervalSince1970: 1_800_000_000))
        try a.drive()
        var b = try RecordedRun(store: store, runId: "run-live", configuration: configuration(seed: 12),
                                createdAt: Date(timeIntervalSince1970: 1_800_000_100))
        try b.drive(results: 9)
        for w in Self.workers where !b.inFlight.contains(where: { $0.1 == w }) { try b.request(worker: w) }
        return (store, RunRecorded(a), RunRecorded(b))
    }
}

/// What the writer knew when it stopped, to compare the dashboard with.
struct RunRecorded {
    var runId: String
    var search: PopulationSearch
    var inFlight: Int
    init(_ r: RecordedRun) { runId = r.runId; search = r.search; inFlight = r.inFlight.count }
}
