import Foundation

/// The report's files: Markdown for people, CSV for tools, SVG for the eye.
extension EvaluationReport {
    static func fixed(_ x: Double, _ digits: Int = 2) -> String { x.isNaN ? "–" : String(format: "%.\(digits)f", x) }
    static func p(_ x: Double?) -> String {
        guard let x else { return "–" }
        return x < 0.001 ? "<0.001" : String(format: "%.3f", x)
    }
    static func seconds(_ s: Double) -> String {
        s >= 3600 ? String(format: "%.1f h", s / 3600) : s >= 60 ? String(format: "%.1f min", s / 60) : String(format: "%.0f s", s)
    }

    /// Candidates by mean test error, best first.
    public var ranked: [CandidateSummary] { summaries.sorted { $0.mean < $1.mean } }

    public func markdown(title: String = "Evaluation") -> String {
        var out = "# \(title)\n\n"
        switch recipe.heldOut {
        case .test:
            out += "- data: \(recipe.data); training on \(recipe.trainingImages) images (\(recipe.trainingImagesDescription)); testing on \(recipe.testImages) test images no search touched\n"
        case .validation:
            out += "- data: \(recipe.data); training on \(recipe.trainingImages) images (\(recipe.trainingImagesDescription)); "
            out += "scored on \(recipe.testImages) held-out **validation** images (the next \(recipe.testImages) of the same shuffle), not the test set: "
            out += "a report for choosing settings; \"test error\" below means validation error\n"
        }
        out += "- model: \(recipe.model), \(recipe.epochs) epochs, \(recipe.optimizer)\n"
        out += "- base augmentation (schedules and policies): \(recipe.baseAugmentation)\n"
        out += "- seeds: \(seeds.map(String.init).joined(separator: ", ")) — every candidate trains with the same seeds (weights, order, augmentation draws), the same data, model and epochs\n"
        let images = recipe.heldOut == .validation ? "validation" : "test"
        out += "- noise: one standard error of a single model's \(images) error is about \(Self.fixed(testStandardError, 1)) points on \(recipe.testImages) \(images) images\n"
        if let command = recipe.commandLine {
            out += "- reproduce: `\(command)`\(recipe.gitRevision.map { " (pba at git revision \($0))" } ?? "")\n"
        }
        if let sources = recipe.cellSources { out += "- cells: \(sources)\n" }
        out += "\n"
        out += recipe.heldOut == .validation ? "## Validation error (held-out training images, not the test set)\n\n" : "## Test error\n\n"
        out += "| candidate | kind | \(images) error % (mean ± std) | per seed | training time (all seeds) |\n|---|---|---|---|---|\n"
        let best = bestBaseline?.candidate.key
        for s in ranked {
            let name = s.candidate.key == best ? "**\(s.candidate.name)** (best baseline)" : s.candidate.name
            out += "| \(name) | \(s.candidate.kind.rawValue) | \(Self.fixed(s.mean)) ± \(Self.fixed(s.standardDeviation)) | \(s.errors.map { Self.fixed($0) }.joined(separator: ", ")) | \(Self.seconds(s.seconds)) |\n"
        }
        if comparisons.isEmpty { return out }
        out += "\n## Paired comparisons\n\n"
        out += "Δ = candidate's error − reference's error in points (negative: the candidate is better), mean over the shared seeds. "
        out += "95% CI: bootstrap resampling seeds and test images. p: paired t-test over seeds; Holm: corrected across all \(comparisons.count) comparisons. "
        out += "Verdict: *better*/*worse* when Holm p < \(Self.fixed(significanceLevel)) and the CI excludes 0; *likely better*/*likely worse* when only the CI excludes 0 "
        out += "(with \(seeds.count) seeds the corrected t-test has little power: a lead, not a finding); otherwise *within noise*.\n\n"
        out += "| candidate | reference | Δ error (points) | 95% CI | t | p | p (Holm) | verdict |\n|---|---|---|---|---|---|---|---|\n"
        for c in comparisons {
            let ci = c.interval.map { "[\(Self.fixed($0.low)), \(Self.fixed($0.high))]" } ?? "–"
            out += "| \(c.candidate) | \(c.reference) | \(Self.fixed(c.meanDifference)) | \(ci) | \(c.t.map { Self.fixed($0) } ?? "–") | \(Self.p(c.p)) | \(Self.p(c.holmP)) | \(c.verdict.rawValue) |\n"
        }
        if let bestBaseline {
            out += "\n## Verdict\n\n"
            for s in summaries where s.candidate.kind == .schedule {
                let vs = comparisons.first { $0.candidate == s.candidate.name && $0.reference == bestBaseline.candidate.name }
                let delta = s.mean - bestBaseline.mean
                let word: String
                switch vs?.verdict {
                case .better?: word = "beats"
                case .worse?: word = "is worse than"
                case .likelyBetter?: word = "is likely better than"
                case .likelyWorse?: word = "is likely worse than"
                default: word = "is within noise of"
                }
                let likely = vs?.verdict == .likelyBetter || vs?.verdict == .likelyWorse ? "; the bootstrap interval excludes 0, the corrected t-test does not" : ""
                out += "- **\(s.candidate.name)** \(word) the best baseline (\(bestBaseline.candidate.name)): \(Self.fixed(s.mean)) % vs \(Self.fixed(bestBaseline.mean)) % (Δ \(Self.fixed(delta)) points\(likely)).\n"
                for a in comparisons where a.candidate == s.candidate.name {
                    guard let ablation = summaries.first(where: { $0.candidate.name == a.reference && $0.candidate.source == s.candidate.name })?.candidate
                    else { continue }
                    let what = ablation.kind == .timeAveraged ? "time-averaged policy" : "reversed schedule"
                    out += "  - against its \(what): Δ \(Self.fixed(a.meanDifference)) points, \(a.verdict.rawValue).\n"
                }
            }
        }
        return out
    }

    public static let summaryHeader = "candidate,kind,source,key,mean_error,std_error,seeds,errors,training_seconds"
    public static let comparisonHeader = "candidate,reference,mean_difference,ci_low,ci_high,t,p,p_holm,verdict"
    public static let cellHeader = "candidate,key,seed,test_error,test_accuracy,train_loss,seconds,worker"

    public func summaryCSV() -> String {
        var out = Self.summaryHeader + "\n"
        for s in summaries {
            out += [csv(s.candidate.name), s.candidate.kind.rawValue, csv(s.candidate.source ?? ""), csv(s.candidate.key),
                    num(s.mean), num(s.standardDeviation), "\(s.errors.count)", s.errors.map(num).joined(separator: ";"), num(s.seconds)]
                .joined(separator: ",") + "\n"
        }
        return out
    }

    public func comparisonCSV() -> String {
        var out = Self.comparisonHeader + "\n"
        for c in comparisons {
            out += [csv(c.candidate), csv(c.reference), num(c.meanDifference), c.interval.map { num($0.low) } ?? "",
                    c.interval.map { num($0.high) } ?? "", c.t.map(num) ?? "", c.p.map(num) ?? "", c.holmP.map(num) ?? "", c.verdict.rawValue]
                .joined(separator: ",") + "\n"
        }
        return out
    }

    public static func cellCSV(_ cells: [(candidate: Candidate, result: CellResult)]) -> String {
        var out = cellHeader + "\n"
        for (c, r) in cells {
            out += [csv(c.name), csv(c.key), "\(r.seed)", num(100 * (1 - r.testAccuracy)), num(r.testAccuracy), num(r.trainLoss),
                    num(r.seconds), csv(r.worker ?? "")].joined(separator: ",") + "\n"
        }
        return out
    }

    /// Mean ± std per candidate as horizontal bars with error bars and one dot per seed; the best
    /// baseline's mean is a dashed line, the bar to beat.
    public func svg() -> String {
        let rows = ranked
        let rowHeight = 26.0, left = 230.0, plotWidth = 520.0, top = 40.0
        let height = top + Double(rows.count) * rowHeight + 50
        let maxError = max(1, (rows.flatMap(\.errors).max() ?? 1) * 1.1)
        func x(_ e: Double) -> Double { left + plotWidth * e / maxError }
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(left + plotWidth + 40))\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        out += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        out += "<text x=\"10\" y=\"20\" font-size=\"14\">Test error % (mean ± std over \(seeds.count) seeds; dots: seeds) — \(escape(recipe.model)), \(recipe.epochs) epochs, \(escape(recipe.data))</text>\n"
        for (i, s) in rows.enumerated() {
            let y = top + Double(i) * rowHeight
            let colour: String
            switch s.candidate.kind {
            case .baseline: colour = "#9e9e9e"
            case .schedule: colour = "#1f77b4"
            case .timeAveraged, .reversed: colour = "#aec7e8"
            }
            out += "<text x=\"\(Int(left - 8))\" y=\"\(fmt(y + 16, 1))\" text-anchor=\"end\">\(escape(s.candidate.name))</text>\n"
            out += "<rect x=\"\(fmt(left, 1))\" y=\"\(fmt(y + 4, 1))\" width=\"\(fmt(max(0, x(s.mean) - left), 1))\" height=\"\(fmt(rowHeight - 8, 1))\" fill=\"\(colour)\"/>\n"
            let lo = x(max(0, s.mean - s.standardDeviation)), hi = x(s.mean + s.standardDeviation), mid = y + rowHeight / 2
            out += "<line x1=\"\(fmt(lo, 1))\" y1=\"\(fmt(mid, 1))\" x2=\"\(fmt(hi, 1))\" y2=\"\(fmt(mid, 1))\" stroke=\"black\"/>\n"
            for e in [lo, hi] { out += "<line x1=\"\(fmt(e, 1))\" y1=\"\(fmt(mid - 5, 1))\" x2=\"\(fmt(e, 1))\" y2=\"\(fmt(mid + 5, 1))\" stroke=\"black\"/>\n" }
            for e in s.errors { out += "<circle cx=\"\(fmt(x(e), 1))\" cy=\"\(fmt(mid, 1))\" r=\"2.5\" fill=\"black\" fill-opacity=\"0.6\"/>\n" }
            out += "<text x=\"\(fmt(hi + 6, 1))\" y=\"\(fmt(y + 16, 1))\">\(fmt(s.mean)) ± \(fmt(s.standardDeviation))</text>\n"
        }
        let axisY = top + Double(rows.count) * rowHeight + 4
        out += "<line x1=\"\(fmt(left, 1))\" y1=\"\(fmt(axisY, 1))\" x2=\"\(fmt(left + plotWidth, 1))\" y2=\"\(fmt(axisY, 1))\" stroke=\"black\"/>\n"
        let step = maxError > 50 ? 10.0 : maxError > 20 ? 5.0 : maxError > 8 ? 2.0 : 1.0
        var tick = 0.0
        while tick <= maxError {
            out += "<line x1=\"\(fmt(x(tick), 1))\" y1=\"\(fmt(axisY, 1))\" x2=\"\(fmt(x(tick), 1))\" y2=\"\(fmt(axisY + 4, 1))\" stroke=\"black\"/>\n"
            out += "<text x=\"\(fmt(x(tick), 1))\" y=\"\(fmt(axisY + 18, 1))\" text-anchor=\"middle\">\(Int(tick))</text>\n"
            tick += step
        }
        if let b = bestBaseline {
            out += "<line x1=\"\(fmt(x(b.mean), 1))\" y1=\"\(fmt(top, 1))\" x2=\"\(fmt(x(b.mean), 1))\" y2=\"\(fmt(axisY, 1))\" stroke=\"#d62728\" stroke-dasharray=\"4 3\"/>\n"
            out += "<text x=\"\(fmt(x(b.mean) + 4, 1))\" y=\"\(fmt(axisY + 34, 1))\" fill=\"#d62728\">best baseline (\(escape(b.candidate.name)))</text>\n"
        }
        return out + "</svg>\n"
    }

    /// Writes report.md, summary.csv, comparisons.csv, cells.csv and chart.svg into `directory`.
    public func write(to directory: String, title: String, cells: [(candidate: Candidate, result: CellResult)]) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let files = [("report.md", markdown(title: title)), ("summary.csv", summaryCSV()), ("comparisons.csv", comparisonCSV()),
                     ("cells.csv", Self.cellCSV(cells)), ("chart.svg", svg())]
        for (name, text) in files { try Data(text.utf8).write(to: URL(fileURLWithPath: directory + "/" + name), options: .atomic) }
    }
}

private func fmt(_ x: Double, _ digits: Int = 2) -> String { EvaluationReport.fixed(x, digits) }
private func num(_ x: Double) -> String { x.isNaN ? "" : String(format: "%.6g", x) }
private func escape(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
}
private func csv(_ s: String) -> String {
    s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
}

/// Reads the CSV files the report writes (RFC 4180 quoting), for tools and tests.
public enum ReportCSV {
    /// Rows as header-keyed dictionaries; throws naming the file and line on a malformed row.
    public static func parse(_ text: String, file: String) throws(EvaluationError) -> [[String: String]] {
        var rows: [[String]] = []
        var field = "", row: [String] = [], quoted = false, afterQuote = false
        var chars = Array(text)
        if chars.last != "\n" { chars.append("\n") }
        var i = 0
        while i < chars.count {
            let ch = chars[i]
            if quoted {
                if ch == "\"" {
                    if i + 1 < chars.count, chars[i + 1] == "\"" { field.append("\""); i += 1 } else { quoted = false; afterQuote = true }
                } else { field.append(ch) }
            } else if ch == "\"" && field.isEmpty && !afterQuote {
                quoted = true
            } else if ch == "," {
                row.append(field); field = ""; afterQuote = false
            } else if ch == "\n" {
                row.append(field); field = ""; afterQuote = false
                rows.append(row); row = []
            } else if ch != "\r" {
                field.append(ch)
            }
            i += 1
        }
        if quoted { throw .badReport(file: file, line: rows.count + 1, reason: "unterminated quoted field") }
        guard let header = rows.first else { throw .badReport(file: file, line: 1, reason: "empty file") }
        var result: [[String: String]] = []
        for (n, r) in rows.dropFirst().enumerated() where !(r.count == 1 && r[0].isEmpty) {
            guard r.count == header.count else {
                throw .badReport(file: file, line: n + 2, reason: "\(r.count) fields, the header has \(header.count)")
            }
            result.append(Dictionary(uniqueKeysWithValues: zip(header, r)))
        }
        return result
    }
}
