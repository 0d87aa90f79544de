import Foundation
import Evaluation
import Schedule
import Store

/// The dashboard's HTML pages: server-rendered, inline SVG, one small script that refreshes a
/// live page's `<main>` in place (no build step, nothing loaded from elsewhere).
public enum Pages {
    /// How often a page of a running search refreshes itself.
    public static let refreshSeconds = 5

    public static func layout(title: String, body: String, live: Bool) -> String {
        """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(esc(title)) — pba</title>
        <style>
        body{font-family:system-ui,sans-serif;margin:0;color:#222;background:#fff}
        header{background:#1f3b57;color:#fff;padding:8px 16px;display:flex;gap:18px;align-items:baseline}
        header a{color:#fff;text-decoration:none} header .brand{font-weight:bold;font-size:1.1em}
        main{padding:12px 16px;max-width:1200px}
        h1{font-size:1.3em} h2{font-size:1.1em;margin-top:1.6em;border-bottom:1px solid #ddd}
        table{border-collapse:collapse;font-size:.9em;margin:.4em 0}
        th,td{border-bottom:1px solid #e5e5e5;padding:3px 8px;text-align:left;vertical-align:top}
        th{background:#f3f5f7} td.num{text-align:right;font-variant-numeric:tabular-nums}
        .bar{background:#e8e8e8;width:120px;height:10px;display:inline-block;vertical-align:middle}
        .bar>span{background:#2e7d32;height:10px;display:block}
        .status-running{color:#1565c0}.status-finished{color:#2e7d32}.status-failed{color:#c62828}.status-stopped{color:#8d6e63}
        .muted{color:#777}.best{background:#fff8e1} svg{max-width:100%;height:auto} code{background:#f3f3f3;padding:0 3px}
        </style></head>
        <body><header><a class="brand" href="/">pba</a><a href="/">runs</a><a href="/evaluations">evaluations</a><a href="/metrics">metrics</a>
        <span class="muted" id="updated">\(live ? "live: refreshes every \(refreshSeconds) s" : "")</span></header>
        <main id="main">
        \(body)
        </main>
        \(live ? refreshScript : "")
        </body></html>

        """
    }

    /// Re-fetches the page and swaps `<main>` (scroll position and open tooltips survive; a
    /// failed fetch says so and tries again).
    static let refreshScript = """
        <script>
        (function(){
          var el=document.getElementById('updated');
          function tick(){
            fetch(location.href,{credentials:'same-origin',cache:'no-store'}).then(function(r){
              if(!r.ok) throw new Error('HTTP '+r.status); return r.text();
            }).then(function(t){
              var d=new DOMParser().parseFromString(t,'text/html'), m=d.getElementById('main');
              if(m){document.getElementById('main').innerHTML=m.innerHTML;}
              el.textContent='live: updated '+new Date().toLocaleTimeString();
              if(!d.getElementById('updated').textContent) el.textContent='finished';
              else setTimeout(tick,\(refreshSeconds * 1000));
            }).catch(function(e){el.textContent='cannot refresh ('+e.message+'), retrying';setTimeout(tick,\(refreshSeconds * 1000));});
          }
          setTimeout(tick,\(refreshSeconds * 1000));
        })();
        </script>
        """

    // MARK: runs list

    public static func runsList(_ runs: [RunSummary], unreadable: [String], database: String) -> String {
        var body = "<h1>Runs</h1><p class=\"muted\">\(esc(database)) — \(runs.count) run\(runs.count == 1 ? "" : "s")</p>\n"
        if runs.isEmpty {
            body += "<p>No runs yet. Start one with <code>pba search --preset demo --db \(esc(database))</code>.</p>"
        } else {
            body += "<table id=\"runs\"><thead><tr><th>run</th><th>status</th><th>preset</th><th>data / model</th><th>population</th><th>progress</th><th>ETA</th><th>best validation accuracy</th><th>created</th></tr></thead><tbody>\n"
            for r in runs.reversed() {
                body += "<tr data-run=\"\(esc(r.id))\"><td><a href=\"/runs/\(pathEscape(r.id))\">\(esc(r.id))</a></td>"
                body += "<td class=\"status-\(r.status)\">\(esc(r.status))</td><td>\(esc(r.setup.preset ?? "–"))</td>"
                body += "<td>\(esc(r.setup.data ?? "–")) / \(esc(r.setup.model ?? "–"))</td><td class=\"num\">\(r.members) × \(r.epochs) epochs</td>"
                body += "<td>\(progressBar(r.progress))</td><td>\(r.progress.etaSeconds.map(duration) ?? "–")</td>"
                body += "<td class=\"num\">\(r.bestValidationAccuracy.map(pct) ?? "–")\(r.bestMember.map { " <span class=\"muted\">(member \($0))</span>" } ?? "")</td>"
                body += "<td>\(timestamp(r.createdAt))</td></tr>\n"
            }
            body += "</tbody></table>\n"
        }
        if !unreadable.isEmpty {
            body += "<h2>Runs that cannot be shown</h2><ul>" + unreadable.map { "<li>\(esc($0))</li>" }.joined() + "</ul>"
        }
        return layout(title: "runs", body: body, live: runs.contains { $0.status == "running" })
    }

    // MARK: one run

    public static func run(_ view: RunView) -> String {
        let s = view.snapshot, c = s.configuration, p = view.progress
        var body = "<h1>Run \(esc(s.record.id)) <span class=\"status-\(s.record.status.rawValue)\">\(s.record.status.rawValue)</span></h1>\n"
        body += "<p>\(esc(s.setup.preset.map { "preset \($0): " } ?? ""))\(c.populationSize) members × \(esc(s.setup.model ?? "model ?")) on \(esc(s.setup.data ?? "data ?"))"
        body += "\(s.setup.trainImages.map { " (\($0) training" } ?? "")\(s.setup.validationImages.map { " / \($0) validation images)" } ?? (s.setup.trainImages == nil ? "" : ")")), "
        body += "\(c.epochs) epochs, interval \(c.perturbationInterval), \(c.mode.rawValue), explore \(c.explore.rawValue), start \(c.initialPolicy.rawValue)"
            + (c.controlSummary.map { ", \($0)" } ?? "")
            + (c.startSummary.map { ", \($0)" } ?? "")
            + ", seed \(c.seed)</p>\n"
        body += "<p id=\"progress\">\(progressBar(p)) \(p.intervalsFinished) intervals finished, \(p.intervalsInFlight) in flight, \(view.perturbations.count) perturbations"
        if let rate = p.rate { body += String(format: ", %.2f member-epochs/min", rate * 60) }
        if let eta = p.etaSeconds { body += ", ETA \(duration(eta))" }
        if let finished = s.record.finishedAt { body += ", finished \(timestamp(finished)) after \(duration(finished.timeIntervalSince(s.record.createdAt)))" }
        body += "</p>\n"
        if let best = view.bestMember, let a = view.bestAccuracy {
            body += "<p id=\"best\">\(s.search.outcome == nil ? "Current best" : "Winner"): <b>member \(best)</b>, validation accuracy <b>\(pct(a))</b>.</p>\n"
        }
        body += "<p class=\"muted\">JSON: <a href=\"/api/runs/\(pathEscape(s.record.id))\">/api/runs/\(esc(s.record.id))</a></p>\n"

        body += "<h2>Population</h2>\n<table id=\"population\"><thead><tr><th>member</th><th>epoch</th><th>latest validation accuracy</th><th>activity</th><th>copies</th><th>policy (active operations)</th></tr></thead><tbody>\n"
        for m in view.members {
            body += "<tr data-member=\"\(m.member)\"\(m.member == view.bestMember ? " class=\"best\"" : "")><td class=\"num\">\(m.member)</td><td class=\"num\">\(m.completedEpochs)/\(c.epochs)</td>"
            body += "<td class=\"num\">\(m.latestValidationAccuracy.map(pct) ?? "–")</td>"
            body += "<td>\(esc(m.activity))\(m.worker.map { " <span class=\"muted\">on \(esc($0))</span>" } ?? "")</td><td class=\"num\">\(m.copies)</td>"
            body += "<td title=\"\(esc(m.policy.text(limit: 30)))\">\(esc(m.policy.text()))</td></tr>\n"
        }
        body += "</tbody></table>\n"

        body += "<h2>Validation accuracy</h2>\n" + RunCharts.accuracyCurves(view)
        body += "<h2>Lineage of the current best\(view.bestMember.map { " (member \($0))" } ?? "")</h2>\n" + RunCharts.lineage(view)
        body += "<h2>Schedule so far</h2>\n<p class=\"muted\">The policies the current best member's weights were trained with, epoch by epoch (what the run's schedule is if it stays best).</p>\n"
        body += RunCharts.scheduleHeatmap(view)
        if let document = s.scheduleDocument, let schedule = try? AugmentationSchedule.decode(jsonData: Data(document.utf8)),
           let plot = try? ScheduleRendering.svg(schedule) {
            body += "<h2>Learned schedule</h2>\n<p class=\"muted\">As <code>pba search</code> writes it (<code>schedule.svg</code>); JSON at <a href=\"/api/runs/\(pathEscape(s.record.id))/schedule\">/api/runs/\(esc(s.record.id))/schedule</a>.</p>\n" + plot
        }

        body += "<h2>Perturbations (\(view.perturbations.count))</h2>\n"
        if view.perturbations.isEmpty {
            body += "<p class=\"muted\">No member has copied another yet.</p>\n"
        } else {
            body += "<table id=\"perturbations\"><thead><tr><th>#</th><th>when</th><th>target (epoch, accuracy)</th><th>copied source (epoch, accuracy)</th><th>explore changed</th><th>new policy</th></tr></thead><tbody>\n"
            for e in view.perturbations.reversed() {
                body += "<tr><td class=\"num\">\(e.sequence)</td><td>\(timestamp(e.recordedAt))</td>"
                body += "<td>member \(e.target) (\(e.targetEpoch), \(e.targetAccuracy.map(pct) ?? "–"))</td><td>member \(e.source) (\(e.sourceEpoch), \(e.sourceAccuracy.map(pct) ?? "–"))</td>"
                body += "<td>\(e.changedOperations.isEmpty ? "nothing" : esc(e.changedOperations.joined(separator: ", ")))</td><td>\(esc(e.newPolicy.text()))</td></tr>\n"
            }
            body += "</tbody></table>\n"
        }

        body += "<h2>Workers</h2>\n"
        if view.workers.isEmpty {
            body += "<p class=\"muted\">No worker has joined or been given an interval.</p>\n"
        } else {
            body += "<table id=\"workers\"><thead><tr><th>worker</th><th>host</th><th>kind</th><th>status</th><th>intervals finished</th><th>in hand</th><th>throughput</th><th>idle</th><th>last heartbeat</th><th>last activity</th></tr></thead><tbody>\n"
            for w in view.workers {
                let status = w.status.rawValue + (w.status == .left ? w.leftReason.map { " <span class=\"muted\">(\(esc($0)))</span>" } ?? "" : "")
                body += "<tr><td>\(esc(w.id))</td><td>\(esc(w.host))</td><td>\(esc(w.kind))\(w.threads.map { " <span class=\"muted\">(\($0) thr)</span>" } ?? "")</td>"
                body += "<td class=\"status-\(w.status.rawValue)\">\(status)</td><td class=\"num\">\(w.finished)</td><td class=\"num\">\(w.inHand)</td>"
                body += "<td class=\"num\">\(w.epochsPerMinute.map { String(format: "%.2f epochs/min", $0) } ?? "–")</td>"
                body += "<td class=\"num\">\(w.idleFraction.map { String(format: "%.0f%%", $0 * 100) } ?? "–")</td>"
                body += "<td>\(w.lastHeartbeat.map { "\(timestamp($0)) <span class=\"muted\">(\(duration(max(0, view.now.timeIntervalSince($0)))) ago)</span>" } ?? "–")</td>"
                body += "<td>\(timestamp(w.lastActivity)) <span class=\"muted\">(\(duration(max(0, view.now.timeIntervalSince(w.lastActivity)))) ago)</span></td></tr>\n"
            }
            body += "</tbody></table>\n<p class=\"muted\">Status and last heartbeat come from the coordinator's worker sessions (written about every 5 s; \"silent\" means an open session not heard from for \(Int(WorkerRow.silentAfter)) s). Throughput and idle come from the intervals: idle is the share of a worker's span (first assignment to latest activity) spent outside assignments, waiting for work or on transfers; last activity is its latest assignment or result.</p>\n"
        }
        return layout(title: "run \(s.record.id)", body: body, live: s.record.status == .running)
    }

    // MARK: evaluations

    public static func evaluationsList(_ jobs: [EvaluationJobSummary]) -> String {
        var body = "<h1>Evaluations</h1>\n"
        if jobs.isEmpty {
            body += "<p>No evaluation cells in this database. <code>pba evaluate --db FILE ...</code> stores them.</p>"
        } else {
            body += "<table id=\"evaluations\"><thead><tr><th>job</th><th>candidates</th><th>seeds</th><th>cells</th><th>last cell</th></tr></thead><tbody>\n"
            for j in jobs {
                body += "<tr><td><a href=\"/evaluations/\(pathEscape(j.jobKey))\"><code>\(esc(String(j.jobKey.prefix(16))))</code></a></td><td class=\"num\">\(j.candidates)</td>"
                body += "<td class=\"num\">\(j.seeds)</td><td class=\"num\">\(j.cells)</td><td>\(timestamp(j.lastFinishedAt))</td></tr>\n"
            }
            body += "</tbody></table>\n"
        }
        return layout(title: "evaluations", body: body, live: false)
    }

    public static func evaluation(_ view: EvaluationView) -> String {
        var body = "<h1>Evaluation <code>\(esc(String(view.job.jobKey.prefix(16))))</code></h1>\n"
        body += "<p>\(view.job.cells) cells, \(view.report.summaries.count) candidates × \(view.report.seeds.count) shared seeds, on \(view.report.recipe.testImages) test images; "
        body += "workers: \(esc(view.workers.joined(separator: ", ")))</p>\n"
        body += "<p class=\"muted\">Rebuilt from the store, which keeps each cell's test accuracy but not the test labels or the recipe: the tables are those of "
        body += "<code>pba evaluate</code>'s report.md with paired t-tests and Holm's correction over seeds, without the bootstrap over test images, so no verdict is drawn here. "
        body += "The report that <code>pba evaluate --out</code> wrote has them.</p>\n"
        if !view.incomplete.isEmpty {
            body += "<p>Left out (missing a shared seed): \(esc(view.incomplete.joined(separator: ", ")))</p>\n"
        }
        // The report's own Markdown from its first table on (its header lists the recipe the
        // store does not keep; its verdict section needs the intervals).
        var markdown = view.report.markdown(title: "")
        if let start = markdown.range(of: "\n## ") { markdown = String(markdown[start.lowerBound...]) }
        if let verdict = markdown.range(of: "\n## Verdict") { markdown = String(markdown[..<verdict.lowerBound]) }
        body += "<div id=\"report\">" + MarkdownSubset.html(markdown) + "</div>\n"
        body += "<h2>Chart</h2>\n" + view.report.svg()
        return layout(title: "evaluation \(view.job.jobKey.prefix(12))", body: body, live: false)
    }

    // MARK: errors

    public static func error(status: Int, message: String) -> String {
        layout(title: "\(status)", body: "<h1>\(status)</h1><p>\(esc(message))</p><p><a href=\"/\">all runs</a></p>", live: false)
    }

    // MARK: pieces

    static func progressBar(_ p: RunView.Progress) -> String {
        "<span class=\"bar\" title=\"\(p.memberEpochsDone)/\(p.memberEpochsTotal) member-epochs\"><span style=\"width:\(f(100 * p.fraction, 0))%\"></span></span> "
            + "\(p.memberEpochsDone)/\(p.memberEpochsTotal) (\(f(100 * p.fraction, 0))%)"
    }

    static func duration(_ s: Double) -> String {
        guard s.isFinite else { return "–" }
        let t = Int(s.rounded())
        if t >= 3600 { return "\(t / 3600) h \(t % 3600 / 60) min" }
        if t >= 60 { return "\(t / 60) min \(t % 60) s" }
        return "\(t) s"
    }

    static func timestamp(_ d: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withFullDate, .withTime, .withColonSeparatorInTime, .withSpaceBetweenDateAndTime]
        return f.string(from: d) + " UTC"
    }

    /// A run id or job key as one URL path segment.
    public static func pathEscape(_ s: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
    }
}

/// Markdown to HTML for exactly what `EvaluationReport.markdown` writes: headings, bullet
/// lists (one level of nesting), pipe tables, paragraphs, and **bold**, *emphasis*, `code`.
/// Everything is escaped first, so a candidate's name cannot inject markup.
public enum MarkdownSubset {
    public static func html(_ markdown: String) -> String {
        var out = "", paragraph: [String] = [], table: [[String]] = [], listDepth = 0
        func flushParagraph() {
            if !paragraph.isEmpty { out += "<p>" + inline(paragraph.joined(separator: " ")) + "</p>\n"; paragraph = [] }
        }
        func flushTable() {
            guard let header = table.first else { return }
            out += "<table><thead><tr>" + header.map { "<th>\(inline($0))</th>" }.joined() + "</tr></thead><tbody>\n"
            for row in table.dropFirst() { out += "<tr>" + row.map { "<td>\(inline($0))</td>" }.joined() + "</tr>\n" }
            out += "</tbody></table>\n"
            table = []
        }
        func closeLists(to depth: Int) { while listDepth > depth { out += "</ul>\n"; listDepth -= 1 } }
        for raw in markdown.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(raw)
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("|") {
                flushParagraph(); closeLists(to: 0)
                let cells = trimmed.dropFirst().dropLast(trimmed.hasSuffix("|") ? 1 : 0).split(separator: "|", omittingEmptySubsequences: false)
                    .map { $0.trimmingCharacters(in: .whitespaces) }
                if !cells.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0 == "-" || $0 == ":" } }) { table.append(cells) }
                continue
            }
            flushTable()
            if trimmed.isEmpty { flushParagraph(); closeLists(to: 0); continue }
            if let level = ["### ": 3, "## ": 2, "# ": 1].first(where: { trimmed.hasPrefix($0.key) }) {
                flushParagraph(); closeLists(to: 0)
                let text = trimmed.dropFirst(level.key.count)
                if !text.isEmpty { out += "<h\(level.value + 1)>\(inline(String(text)))</h\(level.value + 1)>\n" }
                continue
            }
            if trimmed.hasPrefix("- ") {
                flushParagraph()
                let depth = line.prefix { $0 == " " }.count >= 2 ? 2 : 1
                while listDepth < depth { out += "<ul>\n"; listDepth += 1 }
                closeLists(to: depth)
                out += "<li>\(inline(String(trimmed.dropFirst(2))))</li>\n"
                continue
            }
            closeLists(to: 0)
            paragraph.append(trimmed)
        }
        flushTable(); flushParagraph(); closeLists(to: 0)
        return out
    }

    static func inline(_ text: String) -> String {
        var s = esc(text)
        for (marker, tag) in [("**", "b"), ("`", "code"), ("*", "i")] {
            var result = "", open = false
            var rest = Substring(s)
            while let r = rest.range(of: marker) {
                result += rest[..<r.lowerBound] + (open ? "</\(tag)>" : "<\(tag)>")
                open.toggle()
                rest = rest[r.upperBound...]
            }
            result += rest
            if open { result = s } // unbalanced: leave the text as it was
            s = result
        }
        return s
    }
}
