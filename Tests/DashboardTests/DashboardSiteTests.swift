import Foundation
import XCTest
import Augment
import Search
import Store
@testable import Dashboard

/// Pages and API documents of a store holding a recorded run, opened read-only, with no socket.
final class DashboardSiteTests: XCTestCase {
    var dir = ""
    var finished: RunRecorded!
    var running: RunRecorded!
    var site: DashboardSite!
    let now = Date(timeIntervalSince1970: 1_900_000_000)

    override func setUpWithError() throws {
        dir = try temporaryDirectory(self)
        let made = try RecordedRun.make(at: dir + "/pba.sqlite")
        finished = made.finished
        running = made.running
        try addEvaluationCells(made.store)
        let reader = try Store(readOnlyPath: dir + "/pba.sqlite")
        let fixed = now
        site = DashboardSite(data: DashboardData(store: reader), databaseName: "pba.sqlite", clock: { fixed })
    }

    func get(_ target: String, method: String = "GET") -> DashboardResponse {
        site.respond(to: DashboardRequest(method: method, target: target))
    }

    /// Rows of an HTML table by its id: each row's cell texts, tags stripped.
    func rows(_ html: String, table id: String) -> [[String]] {
        guard let start = html.range(of: "<table id=\"\(id)\"") else { return [] }
        let rest = html[start.upperBound...]
        let body = rest[..<(rest.range(of: "</table>")?.lowerBound ?? rest.endIndex)]
        guard let tbody = body.range(of: "<tbody>") else { return [] }
        return body[tbody.upperBound...].components(separatedBy: "<tr").dropFirst().map { row in
            row.components(separatedBy: "<td").dropFirst().map { cell in
                let content = cell.drop { $0 != ">" }.dropFirst().components(separatedBy: "</td>").first ?? ""
                return content.replacingOccurrences(of: "<[^>]+>", with: "", options: .regularExpression)
                    .trimmingCharacters(in: .whitespacesAndNewlines)
            }
        }
    }

    func count(_ needle: String, in s: String) -> Int { s.components(separatedBy: needle).count - 1 }

    // MARK: runs list

    func testRunsListShowsEveryRunWithStatusProgressAndBestAccuracy() throws {
        let r = get("/")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.contentType, "text/html; charset=utf-8")
        let table = rows(r.text, table: "runs")
        XCTAssertEqual(table.count, 2)
        // Newest first.
        XCTAssertEqual(table[0][0], "run-live")
        XCTAssertEqual(table[0][1], "running")
        XCTAssertEqual(table[1][0], "run-finished")
        XCTAssertEqual(table[1][1], "finished")
        XCTAssertEqual(table[1][2], "demo")
        XCTAssertTrue(table[1][3].contains("fashion-mnist") && table[1][3].contains("wrn-10-1"), table[1][3])
        let outcome = try XCTUnwrap(finished.search.outcome)
        XCTAssertTrue(table[1][7].hasPrefix(String(format: "%.2f%%", outcome.validationAccuracy * 100)), table[1][7])
        XCTAssertTrue(table[1][5].contains("48/48"), table[1][5])
        let done = running.search.members.map(\.completedEpochs).reduce(0, +)
        XCTAssertTrue(table[0][5].contains("\(done)/48"), table[0][5])
        // A running run has an ETA; the page refreshes itself while one runs.
        XCTAssertNotEqual(table[0][6], "–")
        XCTAssertTrue(r.text.contains("<script>"))
    }

    // MARK: run page

    func testRunPageShowsThePopulationAsTheSearchHasIt() throws {
        let r = get("/runs/run-finished")
        XCTAssertEqual(r.status, 200)
        let population = rows(r.text, table: "population")
        XCTAssertEqual(population.count, 4)
        for (row, member) in zip(population, finished.search.members) {
            XCTAssertEqual(row[0], "\(member.index)")
            XCTAssertEqual(row[1], "12/12")
            XCTAssertEqual(row[2], String(format: "%.2f%%", member.latestAccuracy! * 100))
            XCTAssertEqual(row[3], "finished")
            XCTAssertEqual(row[4], "\(member.perturbationCount)")
        }
        // A finished run does not refresh itself.
        XCTAssertFalse(r.text.contains("<script>"))
    }

    func testRunPageChartsHaveACurvePerMemberAndAMarkPerExploit() throws {
        let html = get("/runs/run-finished").text
        XCTAssertEqual(count("class=\"curve\"", in: html), 4)
        let perturbations = finished.search.perturbations
        XCTAssertFalse(perturbations.isEmpty, "the fixture should exploit at least once")
        XCTAssertEqual(count("class=\"exploit\"", in: html), perturbations.count)
        XCTAssertEqual(rows(html, table: "perturbations").count, perturbations.count)
        for p in perturbations {
            XCTAssertTrue(html.contains("epoch \(p.targetEpoch): member \(p.target) ("), "exploit \(p) has no mark")
        }
    }

    func testScheduleHeatmapIsTheBestLineagesPolicies() throws {
        let outcome = try XCTUnwrap(finished.search.outcome)
        let policies = outcome.lineage.epochPolicies
        XCTAssertEqual(policies.count, 12)
        let html = get("/runs/run-finished").text
        let ops = policies[0].operations.count
        // Every operation's probability cells, in epoch order, expand to the lineage's values.
        for op in 0..<ops {
            let name = policies[0].operations.names[op]
            let pattern = "data-kind=\"probability\" data-op=\"\(name)\" data-value=\"([0-9.]+)\" x=\"([0-9.]+)\" y=\"[0-9.]+\" width=\"([0-9.]+)\""
            let regex = try NSRegularExpression(pattern: pattern)
            let matches = regex.matches(in: html, range: NSRange(html.startIndex..., in: html))
            XCTAssertFalse(matches.isEmpty, name)
            var expanded: [Double] = []
            let epochWidth = (860.0 - 120.0) / 12
            for m in matches {
                let value = Double(html[Range(m.range(at: 1), in: html)!])!
                let width = Double(html[Range(m.range(at: 3), in: html)!])!
                expanded += Array(repeating: value, count: Int((width / epochWidth).rounded()))
            }
            let expected = policies.map { Double($0.values[2 * op] + $0.values[2 * ops + 2 * op]) / 10 }
            XCTAssertEqual(expanded.count, expected.count, name)
            for (a, b) in zip(expanded, expected) { XCTAssertEqual(a, b, accuracy: 0.051, name) }
        }
    }

    func testLineageFollowsTheBestMembersCopiesWithoutGaps() throws {
        let snapshot = try site.data.snapshot(run: "run-finished")
        let view = RunView(snapshot, now: now)
        let outcome = try XCTUnwrap(finished.search.outcome)
        XCTAssertEqual(view.bestMember, outcome.bestMember)
        let steps = view.lineage
        XCTAssertEqual(steps.first?.startEpoch, 0)
        XCTAssertEqual(steps.last?.endEpoch, 12)
        XCTAssertEqual(steps.last?.member, outcome.bestMember)
        for (a, b) in zip(steps, steps.dropFirst()) { XCTAssertEqual(a.endEpoch, b.startEpoch) }
        XCTAssertEqual(steps.count, outcome.lineage.perturbations.count + 1)
        for (step, p) in zip(steps.dropFirst(), outcome.lineage.perturbations) { XCTAssertEqual(step.member, p.target) }
        for (step, p) in zip(steps, outcome.lineage.perturbations) { XCTAssertEqual(step.member, p.source) }
    }

    func testWorkersAreThoseTheIntervalsName() throws {
        let html = get("/runs/run-finished").text
        let workers = rows(html, table: "workers")
        XCTAssertEqual(Set(workers.map { $0[0] }), Set(RecordedRun.workers))
        let hostA = try XCTUnwrap(workers.first { $0[0] == "hostA-4242" })
        XCTAssertEqual(hostA[1], "hostA")
        // No sessions were recorded for this run: status and kind are unknown, not guessed.
        XCTAssertEqual(hostA[2], "unknown")
        XCTAssertEqual(hostA[3], "unknown")
        let intervals = try site.data.store.intervals(run: "run-finished")
        XCTAssertEqual(workers.map { Int($0[4])! }.reduce(0, +), intervals.filter { $0.finishedAt != nil }.count)
    }

    func testWorkerSessionsGiveHostKindStatusAndLastHeartbeat() throws {
        // Written after the page was first served: sessions change without a search event, so
        // a cached snapshot must not hide them.
        XCTAssertEqual(get("/runs/run-live").status, 200)
        let writer = try Store(path: dir + "/pba.sqlite")
        try writer.workerJoined(WorkerSessionRecord(runId: "run-live", workerId: "hostA-4242", hostname: "gpu-box-a", kind: "pytorch",
                                                    threads: 8, joinedAt: now - 600, lastSeenAt: now - 3))
        try writer.workerJoined(WorkerSessionRecord(runId: "run-live", workerId: "local-77-0", hostname: "vm", kind: "swift",
                                                    threads: 1, joinedAt: now - 600, lastSeenAt: now - 200,
                                                    leftAt: now - 200, leftReason: "left: SIGTERM"))
        try writer.workerJoined(WorkerSessionRecord(runId: "run-live", workerId: "hostC-9", hostname: "hostC", kind: "swift",
                                                    threads: 2, joinedAt: now - 300, lastSeenAt: now - 60))
        let view = RunView(try site.data.snapshot(run: "run-live"), now: now)
        let byId = Dictionary(uniqueKeysWithValues: view.workers.map { ($0.id, $0) })
        XCTAssertEqual(Set(byId.keys), Set(RecordedRun.workers + ["hostC-9"]), "a worker that joined but got no interval is listed")
        XCTAssertEqual(byId["hostA-4242"]?.status, .connected)
        XCTAssertEqual(byId["hostA-4242"]?.host, "gpu-box-a")
        XCTAssertEqual(byId["hostA-4242"]?.kind, "pytorch")
        XCTAssertEqual(byId["hostA-4242"]?.lastHeartbeat, now - 3)
        XCTAssertEqual(byId["local-77-0"]?.status, .left)
        XCTAssertEqual(byId["local-77-0"]?.leftReason, "left: SIGTERM")
        XCTAssertEqual(byId["hostC-9"]?.status, .silent, "an open session not heard from for 60 s")
        XCTAssertEqual(byId["hostC-9"]?.finished, 0)
        XCTAssertEqual(view.workers.first?.id, "hostA-4242", "connected workers first")
        let html = get("/runs/run-live").text
        let table = rows(html, table: "workers")
        let a = try XCTUnwrap(table.first { $0[0] == "hostA-4242" })
        XCTAssertEqual(a[1], "gpu-box-a")
        XCTAssertEqual(a[2], "pytorch (8 thr)")
        XCTAssertEqual(a[3], "connected")
        XCTAssertTrue(a[8].hasSuffix("(3 s ago)"), a[8])
        XCTAssertEqual(table.first { $0[0] == "local-77-0" }?[3], "left (left: SIGTERM)")
        let metrics = MetricsSnapshot(try site.data.snapshots().runs, now: now)
        XCTAssertEqual(metrics.workersConnected, 1)
    }

    func testLiveRunShowsWhatIsInFlightAndAnETA() throws {
        let view = RunView(try site.data.snapshot(run: "run-live"), now: now)
        XCTAssertEqual(view.progress.intervalsInFlight, running.inFlight)
        XCTAssertGreaterThan(running.inFlight, 0)
        XCTAssertNotNil(view.progress.etaSeconds)
        XCTAssertEqual(view.members.filter { $0.activity == "training" }.count, running.inFlight)
        XCTAssertEqual(Set(view.members.compactMap(\.worker)), Set(RecordedRun.workers))
        let html = get("/runs/run-live").text
        XCTAssertTrue(html.contains("<script>"), "a running run's page refreshes itself")
        XCTAssertTrue(html.contains("training <span class=\"muted\">on hostA-4242</span>"))
    }

    // MARK: API

    func testAPIDocumentsAgreeWithTheStore() throws {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let list = try decoder.decode(DashboardAPI.RunList.self, from: Data(get("/api/runs").body))
        XCTAssertEqual(list.runs.map(\.id), ["run-finished", "run-live"])
        let run = try decoder.decode(DashboardAPI.Run.self, from: Data(get("/api/runs/run-finished").body))
        XCTAssertEqual(run.members.map(\.latestValidationAccuracy), finished.search.members.map(\.latestAccuracy))
        XCTAssertEqual(run.perturbations.count, finished.search.perturbations.count)
        XCTAssertEqual(run.summary.bestValidationAccuracy, finished.search.outcome?.validationAccuracy)
        let intervals = try decoder.decode([DashboardAPI.Interval].self, from: Data(get("/api/runs/run-finished/intervals").body))
        XCTAssertEqual(intervals.map(\.assignment), try site.data.store.intervals(run: "run-finished").map(\.assignmentId))
        let schedule = try decoder.decode(DashboardAPI.ScheduleSoFar.self, from: Data(get("/api/runs/run-finished/schedule").body))
        XCTAssertEqual(schedule.epochs, finished.search.outcome!.lineage.epochPolicies.map(\.values))
        XCTAssertEqual(schedule.operations, OperationSet.pba.names)
        for doc in ["members", "curves", "perturbations", "lineage", "workers"] {
            let r = get("/api/runs/run-live/\(doc)")
            XCTAssertEqual(r.status, 200, doc)
            XCTAssertEqual(r.contentType, "application/json")
            XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(r.body)), doc)
        }
    }

    // MARK: bad input

    func testBadPathsIdsAndMethodsGetA4xxNeverACrash() throws {
        let cases: [(String, String, Int)] = [
            ("GET", "/runs/no-such-run", 404), ("GET", "/api/runs/no-such-run", 404), ("GET", "/api/runs/run-finished/bogus", 404),
            ("GET", "/nothing/here", 404), ("GET", "/api/nothing", 404), ("GET", "/runs/run-finished/extra/segments", 404),
            ("GET", "/runs/%ZZ", 400), ("GET", "no-leading-slash", 400), ("GET", "/runs/%00", 400), ("GET", "/?token=%", 400),
            ("GET", "/runs/..%2F..%2Fetc%2Fpasswd", 404), ("GET", "/evaluations/no-such-job", 404), ("GET", "/api/evaluations/x", 404),
            ("GET", "/runs/" + String(repeating: "a", count: 5000), 400), ("GET", "/runs/'%22%3Cscript%3E", 404),
            ("POST", "/", 405), ("DELETE", "/api/runs/run-finished", 405), ("PUT", "/runs/run-finished", 405),
        ]
        for (method, target, status) in cases {
            let r = get(target, method: method)
            XCTAssertEqual(r.status, status, "\(method) \(target.prefix(60))")
            XCTAssertFalse(r.text.contains("<script>\""), "\(target.prefix(60)) echoes markup")
            if target.hasPrefix("/api/") {
                let problem = try JSONDecoder().decode(DashboardAPI.Problem.self, from: Data(r.body))
                XCTAssertEqual(problem.status, status)
            }
        }
        // An id with markup is escaped in the 404 page, not echoed.
        XCTAssertTrue(get("/runs/%3Cb%3E").text.contains("&lt;b&gt;"))
        XCTAssertEqual(get("/runs/run-finished", method: "HEAD").status, 200)
    }

    // MARK: evaluations

    /// Two candidates × three seeds with known accuracies, and one candidate missing a seed.
    func addEvaluationCells(_ store: Store) throws {
        let accuracy: [(String, String, [Double])] = [("baseline:base", "base", [0.70, 0.72, 0.71]),
                                                      ("schedule:abc", "ours<script>", [0.73, 0.74, 0.745])]
        for (key, name, values) in accuracy {
            for (i, a) in values.enumerated() {
                try store.saveEvaluationCell(EvaluationCellRecord(jobKey: "job-1", candidateKey: key, seed: UInt64(i + 1), candidate: name,
                                                                  testAccuracy: a, trainLoss: 1, seconds: 10, predictions: [Int32](repeating: 0, count: 200),
                                                                  worker: "w1", pbaVersion: "test", finishedAt: Date(timeIntervalSince1970: 1_800_000_000 + Double(i))))
            }
        }
        try store.saveEvaluationCell(EvaluationCellRecord(jobKey: "job-1", candidateKey: "baseline:none", seed: 1, candidate: "none",
                                                          testAccuracy: 0.6, trainLoss: 1, seconds: 10, predictions: [Int32](repeating: 0, count: 200),
                                                          worker: "w1", pbaVersion: "test", finishedAt: Date(timeIntervalSince1970: 1_800_000_000)))
    }

    func testEvaluationPageIsTheReportsTablesRebuiltFromCells() throws {
        let list = get("/evaluations")
        XCTAssertEqual(rows(list.text, table: "evaluations").count, 1)
        let r = get("/evaluations/job-1")
        XCTAssertEqual(r.status, 200)
        // Mean test error of each candidate: 100 × (1 − mean accuracy).
        XCTAssertTrue(r.text.contains("| 29.00 ± 1.00 |") || r.text.contains("<td>29.00 ± 1.00</td>"), r.text)
        XCTAssertTrue(r.text.contains("<td>26.17 ± 0.76</td>"), r.text)
        // The name is escaped; the chart is the report's; the missing-seed candidate is named.
        XCTAssertTrue(r.text.contains("ours&lt;script&gt;"))
        XCTAssertFalse(r.text.contains("ours<script>"))
        XCTAssertTrue(r.text.contains("Left out (missing a shared seed): none"))
        XCTAssertTrue(r.text.contains("best baseline (base)"))
        XCTAssertFalse(r.text.contains("## Verdict") || r.text.contains(">Verdict<"), "no verdict without the bootstrap")
        let api = try JSONDecoder().decode(DashboardAPI.Evaluation.self, from: Data(get("/api/evaluations/job-1").body))
        XCTAssertEqual(api.seeds, [1, 2, 3])
        XCTAssertEqual(api.testImages, 200)
        XCTAssertEqual(api.comparisons.count, 1)
        XCTAssertEqual(api.comparisons[0].meanDifference, -(0.73 + 0.74 + 0.745 - 0.70 - 0.72 - 0.71) / 3 * 100, accuracy: 1e-9)
        XCTAssertNotNil(api.comparisons[0].p)
    }

    // MARK: pieces

    func testMarkdownSubsetEscapesAndBuildsTables() {
        let html = MarkdownSubset.html("## Test\n\n| a | b |\n|---|---|\n| **x<y** | `z` |\n\n- one\n  - two\n")
        XCTAssertTrue(html.contains("<h3>Test</h3>"), html)
        XCTAssertTrue(html.contains("<th>a</th><th>b</th>"), html)
        XCTAssertTrue(html.contains("<td><b>x&lt;y</b></td><td><code>z</code></td>"), html)
        XCTAssertEqual(count("<ul>", in: html), 2)
    }

    func testWorkerHostFromItsId() {
        XCTAssertEqual(RunView.host(ofWorker: "gpu-box-3-1234"), "gpu-box-3")
        XCTAssertEqual(RunView.host(ofWorker: "local-99-1"), "local (the search's machine)")
        XCTAssertEqual(RunView.host(ofWorker: "plain"), "plain")
    }
}
