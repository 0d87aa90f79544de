import Foundation
import Search
import Store

/// Reads run snapshots from a (read-only) store. The only I/O of the pure dashboard: pages and
/// JSON are built from what it returns.
///
/// Rebuilding a run's search replays all its events; a cache keyed by the run's latest event
/// number and its record (status changes are not events) makes a page for an unchanged run cost
/// two small queries, so a browser refreshing every few seconds does not make the dashboard
/// replay a long run over and over next to a coordinator that is still writing it.
public final class DashboardData: @unchecked Sendable {
    public let store: Store
    private let lock = NSLock()
    private var cache: [String: (sequence: Int64, record: RunRecord, snapshot: RunSnapshot)] = [:]

    public init(store: Store) { self.store = store }

    public enum LoadError: Error, CustomStringConvertible, Equatable {
        case unknownRun(String)
        case unreadable(run: String, reason: String)
        case store(String)

        public var description: String {
            switch self {
            case let .unknownRun(id): return "no run '\(id)'"
            case let .unreadable(id, reason): return "run \(id) cannot be shown: \(reason)"
            case let .store(m): return m
            }
        }
    }

    public func runIds() throws(LoadError) -> [String] {
        do { return try store.runs().map(\.id) } catch { throw .store("\(error)") }
    }

    /// The run's current snapshot (from the cache when nothing changed since the last call).
    public func snapshot(run id: String) throws(LoadError) -> RunSnapshot {
        let record: RunRecord, sequence: Int64
        do {
            record = try store.run(id: id)
            sequence = try store.latestEventSequence(run: id)
        } catch StoreError.unknownRun {
            throw .unknownRun(id)
        } catch {
            throw .store("\(error)")
        }
        let sessions: [WorkerSessionRecord]
        do { sessions = try store.workerSessions(run: id) } catch { throw .store("\(error)") }
        lock.lock()
        if let hit = cache[id], hit.sequence == sequence, hit.record == record {
            lock.unlock()
            var snapshot = hit.snapshot
            snapshot.workerSessions = sessions
            return snapshot
        }
        lock.unlock()
        let snapshot: RunSnapshot
        do {
            let configuration = try JSONDecoder().decode(SearchConfiguration.self, from: Data(record.searchConfiguration.utf8))
            let search = try PopulationSearch.replay(configuration: configuration, events: try store.events(run: id))
            snapshot = RunSnapshot(record: record, configuration: configuration, search: search, intervals: try store.intervals(run: id),
                                   perturbations: try store.perturbations(run: id), checkpoints: try store.checkpointRecords(run: id),
                                   scheduleDocument: try store.latestSchedule(run: id), workerSessions: sessions)
        } catch {
            throw .unreadable(run: id, reason: "\(error)")
        }
        lock.lock()
        cache[id] = (sequence, record, snapshot)
        lock.unlock()
        return snapshot
    }

    /// Every run's snapshot, oldest first; unreadable runs are skipped (and named).
    public func snapshots() throws(LoadError) -> (runs: [RunSnapshot], unreadable: [String]) {
        var runs: [RunSnapshot] = [], unreadable: [String] = []
        for id in try runIds() {
            do { runs.append(try snapshot(run: id)) } catch { unreadable.append("\(error)") }
        }
        return (runs, unreadable)
    }

    public func evaluationJobs() throws(LoadError) -> [EvaluationJobSummary] {
        do { return try store.evaluationJobs() } catch { throw .store("\(error)") }
    }

    public func evaluationCells(jobKey: String) throws(LoadError) -> [EvaluationCellRecord] {
        do { return try store.evaluationCells(jobKey: jobKey) } catch { throw .store("\(error)") }
    }
}
