import Foundation
import Store

/// What `/metrics` reports, computed from the store at scrape time (pure). The store is the
/// coordinator's record of every committed result, so these hold for a dashboard started
/// anywhere next to the database, not only inside the coordinator's process.
public struct MetricsSnapshot: Sendable {
    public struct RunMetrics: Sendable {
        public var run: String
        public var status: String
        public var intervalsFinished: Int
        public var intervalsInFlight: Int
        public var bestValidationAccuracy: Double?
        /// (assignment, finished at, seconds from assignment to committed result), oldest first.
        public var resultLatencies: [(assignment: Int64, finishedAt: Date, seconds: Double)]
        /// Checkpoint bytes sent back by workers (one per finished interval that kept one) and
        /// sent to workers (one per interval that started from a checkpoint: epoch > 0). Every
        /// checkpoint of a run has the same size (one architecture, one format), which the
        /// store keeps for the checkpoints it still holds; nil before the first.
        public var checkpointBytesReceived: Double?
        public var checkpointBytesSent: Double?
    }

    public var runs: [RunMetrics]
    /// Workers with an assignment in hand, or a result in the last five minutes, over running
    /// runs (from the intervals; this is what `pba status` calls active).
    public var workersActive: Int

    /// Workers whose session with a coordinator is open and was heard from within
    /// `WorkerRow.silentAfter` (heartbeats included), over all runs.
    public var workersConnected: Int

    public static let activeWindow: TimeInterval = 300

    public init(_ snapshots: [RunSnapshot], now: Date) {
        var active = Set<String>(), connected = Set<String>()
        runs = snapshots.map { s in
            let running = s.record.status == .running
            let finished = s.intervals.filter { $0.finishedAt != nil }
            let inFlight = running ? s.search.assignments.filter { $0.status == .inFlight }.count : 0
            if running {
                for i in s.intervals {
                    guard let w = i.worker else { continue }
                    if i.finishedAt == nil && s.search.assignments.contains(where: { $0.assignment.id.rawValue == UInt64(bitPattern: i.assignmentId) && $0.status == .inFlight }) {
                        active.insert(w)
                    } else if let f = i.finishedAt, now.timeIntervalSince(f) <= Self.activeWindow {
                        active.insert(w)
                    }
                }
            }
            let size = s.checkpoints.first.map { Double($0.size) }
            let view = RunView(s, now: now)
            for w in view.workers where w.status == .connected { connected.insert(w.id) }
            return RunMetrics(run: s.record.id, status: s.record.status.rawValue, intervalsFinished: finished.count, intervalsInFlight: inFlight,
                              bestValidationAccuracy: view.bestAccuracy,
                              resultLatencies: finished.sorted { ($0.finishedAt!, $0.assignmentId) < ($1.finishedAt!, $1.assignmentId) }
                                  .map { ($0.assignmentId, $0.finishedAt!, max(0, $0.finishedAt!.timeIntervalSince($0.startedAt))) },
                              checkpointBytesReceived: size.map { $0 * Double(finished.filter { $0.checkpointSha256 != nil }.count) },
                              checkpointBytesSent: size.map { $0 * Double(s.intervals.filter { $0.epochStart > 0 }.count) })
        }
        workersActive = active.count
        workersConnected = connected.count
    }
}
