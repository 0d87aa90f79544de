import Foundation
import Prometheus
import Dashboard
import Store

/// `/metrics` in Prometheus' text format (swift-prometheus), from the store at scrape time.
///
/// Totals are counters that only move forward: each scrape adds what is new since the last one
/// (a run's finished intervals, checkpoint bytes) and records the result latency of each newly
/// finished interval once, so a scraper sees monotonic series with correct rates even though the
/// values are rebuilt from the store rather than counted in the coordinator's process.
public final class DashboardMetrics: @unchecked Sendable {
    public let registry = PrometheusCollectorRegistry()
    let data: DashboardData
    private let lock = NSLock()
    private var counted: [String: (intervals: Int, received: Double, sent: Double)] = [:]
    private var recordedLatencies: [String: Set<Int64>] = [:]

    /// Seconds from assignment to committed result: an interval's training plus transfers and
    /// queueing. Buckets from a Fashion-MNIST demo interval (~10 s) to a paper one (hours).
    public static let latencyBuckets: [Double] = [1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600, 7200]

    init(data: DashboardData) { self.data = data }

    public func scrape(now: Date = Date()) -> DashboardResponse {
        let snapshots: [RunSnapshot]
        do { snapshots = try data.snapshots().runs } catch {
            return DashboardResponse(status: 500, contentType: "text/plain", body: Array("cannot read the store: \(error)\n".utf8))
        }
        let m = MetricsSnapshot(snapshots, now: now)
        lock.lock(); defer { lock.unlock() }
        update(m)
        return DashboardResponse(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: registry.emitToBuffer())
    }

    func update(_ m: MetricsSnapshot) {
        registry.makeGauge(name: "pba_workers_active", help: "Workers with an assignment in hand or a result in the last 5 minutes (running runs)")
            .set(Double(m.workersActive))
        registry.makeGauge(name: "pba_workers_connected", help: "Workers in an open session heard from in the last 20 s (the coordinator's worker sessions)")
            .set(Double(m.workersConnected))
        registry.makeGauge(name: "pba_runs", help: "Runs in the store").set(Double(m.runs.count))
        for r in m.runs {
            let labels = [("run", r.run)]
            var seen = counted[r.run] ?? (0, 0, 0)
            let finished = registry.makeCounter(name: "pba_intervals_finished_total", labels: labels, help: "Intervals whose result was committed")
            if r.intervalsFinished > seen.intervals { finished.increment(by: Int64(r.intervalsFinished - seen.intervals)); seen.intervals = r.intervalsFinished }
            registry.makeGauge(name: "pba_intervals_in_flight", labels: labels, help: "Assignments handed out and not yet back")
                .set(Double(r.intervalsInFlight))
            registry.makeGauge(name: "pba_run_running", labels: labels, help: "1 while the run is marked running").set(to: r.status == "running" ? 1.0 : 0.0)
            if let best = r.bestValidationAccuracy, best.isFinite {
                registry.makeGauge(name: "pba_best_validation_accuracy", labels: labels, help: "Best latest validation accuracy in the population (0-1)").set(best)
            }
            let received = registry.makeCounter(name: "pba_checkpoint_bytes_received_total", labels: labels,
                                                help: "Checkpoint bytes workers sent back with results")
            if let b = r.checkpointBytesReceived, b > seen.received { received.increment(by: b - seen.received); seen.received = b }
            let sent = registry.makeCounter(name: "pba_checkpoint_bytes_sent_total", labels: labels,
                                            help: "Checkpoint bytes sent to workers with assignments that continue a member")
            if let b = r.checkpointBytesSent, b > seen.sent { sent.increment(by: b - seen.sent); seen.sent = b }
            counted[r.run] = seen
            let histogram = registry.makeValueHistogram(name: "pba_result_latency_seconds", labels: labels, buckets: Self.latencyBuckets,
                                                        help: "Seconds from assignment to committed result")
            var recorded = recordedLatencies[r.run] ?? []
            for l in r.resultLatencies where !recorded.contains(l.assignment) {
                histogram.record(l.seconds)
                recorded.insert(l.assignment)
            }
            recordedLatencies[r.run] = recorded
        }
    }
}
