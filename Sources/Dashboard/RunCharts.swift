import Foundation
import Augment
import Schedule

/// The run page's inline SVG figures. Pure functions of a `RunView`; every mark a test or a
/// reader may look for carries a class (`curve`, `exploit`, `cell`, `step`) and a `<title>`
/// (a tooltip in the browser).
public enum RunCharts {
    /// Validation accuracy of every member after each interval, epochs on x; each exploit is a
    /// red triangle where the target was replaced, with a dashed line to the source's point it
    /// copied.
    public static func accuracyCurves(_ view: RunView) -> String {
        let width = 860.0, height = 360.0, left = 56.0, right = 120.0, top = 20.0, bottom = 40.0
        let plotW = width - left - right, plotH = height - top - bottom
        let epochs = max(1, view.snapshot.configuration.epochs)
        let all = view.curves.values.flatMap { $0.map(\.accuracy) }
        var lo = (all.min() ?? 0), hi = (all.max() ?? 1)
        lo = max(0, (lo * 20).rounded(.down) / 20)
        hi = min(1, (hi * 20).rounded(.up) / 20)
        if hi - lo < 0.05 { hi = min(1, lo + 0.05); lo = max(0, hi - 0.05) }
        func x(_ e: Int) -> Double { left + plotW * Double(e) / Double(epochs) }
        func y(_ a: Double) -> Double { top + plotH * (1 - (a - lo) / (hi - lo)) }
        let n = max(1, view.snapshot.configuration.populationSize)
        var out = svgOpen(id: "accuracy-curves", width: width, height: height,
                          label: "validation accuracy of every member over epochs, exploit events marked")
        out += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotW))\" height=\"\(f(plotH))\" fill=\"#fafafa\" stroke=\"#999\"/>\n"
        var tick = lo
        while tick <= hi + 1e-9 {
            out += "<line x1=\"\(f(left))\" x2=\"\(f(left + plotW))\" y1=\"\(f(y(tick)))\" y2=\"\(f(y(tick)))\" stroke=\"#e4e4e4\"/>"
            out += "<text x=\"\(f(left - 6))\" y=\"\(f(y(tick) + 4))\" text-anchor=\"end\">\(Int((tick * 100).rounded()))%</text>\n"
            tick += (hi - lo) > 0.3 ? 0.1 : 0.05
        }
        for e in stride(from: 0, through: epochs, by: max(1, epochs / 10)) {
            out += "<text x=\"\(f(x(e)))\" y=\"\(f(top + plotH + 16))\" text-anchor=\"middle\">\(e)</text>"
        }
        out += "<text x=\"\(f(left + plotW / 2))\" y=\"\(f(height - 6))\" text-anchor=\"middle\">epoch</text>\n"
        for member in view.curves.keys.sorted() {
            let points = view.curves[member]!
            let colour = Self.colour(member, of: n)
            let best = member == view.bestMember
            let coordinates = points.map { "\(f(x($0.epoch))),\(f(y($0.accuracy)))" }.joined(separator: " ")
            out += "<polyline class=\"curve\" data-member=\"\(member)\" points=\"\(coordinates)\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"\(best ? 3 : 1.3)\">"
            out += "<title>member \(member)\(best ? " (current best)" : ""): \(points.map { "\($0.epoch): \(pct($0.accuracy))" }.joined(separator: ", "))</title></polyline>\n"
            for p in points {
                out += "<circle cx=\"\(f(x(p.epoch)))\" cy=\"\(f(y(p.accuracy)))\" r=\"2\" fill=\"\(colour)\"/>"
            }
            out += "\n"
        }
        for p in view.perturbations {
            guard let ta = p.targetAccuracy else { continue }
            let tx = x(p.targetEpoch), ty = y(ta)
            if let sa = p.sourceAccuracy {
                out += "<line x1=\"\(f(tx))\" y1=\"\(f(ty))\" x2=\"\(f(x(p.sourceEpoch)))\" y2=\"\(f(y(sa)))\" stroke=\"#d62728\" stroke-dasharray=\"3 2\" stroke-width=\"1\"/>"
            }
            out += "<path class=\"exploit\" d=\"M\(f(tx - 5)),\(f(ty - 8)) L\(f(tx + 5)),\(f(ty - 8)) L\(f(tx)),\(f(ty - 1)) Z\" fill=\"#d62728\">"
            out += "<title>epoch \(p.targetEpoch): member \(p.target) (\(pct(ta))) copied member \(p.source)\(p.sourceAccuracy.map { " (\(pct($0)))" } ?? "")</title></path>\n"
        }
        // Legend: members in index order.
        for member in 0..<n {
            let ly = top + 4 + Double(member) * min(18, plotH / Double(n))
            out += "<rect x=\"\(f(left + plotW + 14))\" y=\"\(f(ly))\" width=\"10\" height=\"10\" fill=\"\(colour(member, of: n))\"/>"
            out += "<text x=\"\(f(left + plotW + 28))\" y=\"\(f(ly + 9))\">member \(member)\(member == view.bestMember ? " ★" : "")</text>\n"
        }
        if view.curves.isEmpty {
            out += "<text x=\"\(f(left + plotW / 2))\" y=\"\(f(top + plotH / 2))\" text-anchor=\"middle\" fill=\"#777\">no interval has finished yet</text>\n"
        }
        return out + "</svg>\n"
    }

    /// The current best member's lineage as lanes: one lane per member its weights passed
    /// through, a box per stretch of epochs (labelled with its policy), arrows at the copies.
    public static func lineage(_ view: RunView) -> String {
        let steps = view.lineage
        let lanes = steps.map(\.member).reduce(into: [Int]()) { if !$0.contains($1) { $0.append($1) } }
        let width = 860.0, left = 90.0, right = 20.0, top = 24.0, laneH = 34.0
        let height = top + Double(max(1, lanes.count)) * laneH + 34
        let plotW = width - left - right
        let epochs = max(1, view.snapshot.configuration.epochs)
        func x(_ e: Int) -> Double { left + plotW * Double(e) / Double(epochs) }
        func laneY(_ member: Int) -> Double { top + Double(lanes.firstIndex(of: member) ?? 0) * laneH }
        let n = max(1, view.snapshot.configuration.populationSize)
        var out = svgOpen(id: "lineage", width: width, height: height, label: "lineage of the current best member")
        for member in lanes {
            out += "<text x=\"\(f(left - 8))\" y=\"\(f(laneY(member) + 20))\" text-anchor=\"end\">member \(member)</text>"
            out += "<line x1=\"\(f(left))\" x2=\"\(f(left + plotW))\" y1=\"\(f(laneY(member) + 16))\" y2=\"\(f(laneY(member) + 16))\" stroke=\"#eee\"/>\n"
        }
        for (i, s) in steps.enumerated() {
            let y0 = laneY(s.member) + 4, x0 = x(s.startEpoch), w = max(2, x(s.endEpoch) - x0)
            out += "<rect class=\"step\" data-member=\"\(s.member)\" x=\"\(f(x0))\" y=\"\(f(y0))\" width=\"\(f(w))\" height=\"24\" rx=\"3\" fill=\"\(colour(s.member, of: n))\" fill-opacity=\"0.8\">"
            out += "<title>member \(s.member), epochs \(s.startEpoch)–\(s.endEpoch): \(esc(s.policy.text(limit: 15)))</title></rect>"
            if w > 60 {
                out += "<text x=\"\(f(x0 + 4))\" y=\"\(f(y0 + 16))\" font-size=\"10\" fill=\"black\">\(esc(clip(s.policy.text(limit: 2), Int(w / 6))))</text>"
            }
            if i > 0 {
                let prev = steps[i - 1]
                let ax = x(s.startEpoch)
                out += "<line x1=\"\(f(ax))\" y1=\"\(f(laneY(prev.member) + 16))\" x2=\"\(f(ax))\" y2=\"\(f(laneY(s.member) + 16))\" stroke=\"#d62728\" stroke-width=\"1.5\" marker-end=\"url(#arrow)\"/>"
            }
            out += "\n"
        }
        out += "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"6\" markerHeight=\"6\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#d62728\"/></marker></defs>\n"
        for e in stride(from: 0, through: epochs, by: max(1, epochs / 10)) {
            out += "<text x=\"\(f(x(e)))\" y=\"\(f(height - 8))\" text-anchor=\"middle\">\(e)</text>"
        }
        if steps.isEmpty {
            out += "<text x=\"\(f(left + plotW / 2))\" y=\"\(f(top + 20))\" text-anchor=\"middle\" fill=\"#777\">no member has a result yet</text>"
        }
        return out + "\n</svg>\n"
    }

    /// The schedule so far as two heatmaps, operation × epoch: the summed probability of an
    /// operation's two pairs ((p1 + p2) / 10, 0…2) and, where it can apply, its summed magnitude
    /// (0…18). Equal neighbouring epochs are merged into one cell.
    public static func scheduleHeatmap(_ view: RunView) -> String {
        let names = view.operationNames
        let ops = names.count
        let epochs = max(1, view.snapshot.configuration.epochs)
        let left = 100.0, right = 20.0, top = 24.0, rowH = 14.0, gap = 40.0, width = 860.0
        let panelH = Double(ops) * rowH
        let height = top + 2 * panelH + gap + 40
        let plotW = width - left - right
        func x(_ e: Int) -> Double { left + plotW * Double(e) / Double(epochs) }
        var out = svgOpen(id: "schedule-heatmap", width: width, height: height,
                          label: "schedule so far: probability and magnitude of each operation per epoch")
        let panels: [(title: String, y0: Double, value: (Policy, Int) -> Double, maximum: Double, hue: Int, kind: String)] = [
            ("probability (p1 + p2, 0–2)", top, { p, op in Double(p.values[2 * op] + p.values[2 * ops + 2 * op]) / 10 }, 2, 210, "probability"),
            ("magnitude (m1 + m2 where it applies, 0–18)", top + panelH + gap, { p, op in
                Double((p.values[2 * op] > 0 ? p.values[2 * op + 1] : 0) + (p.values[2 * ops + 2 * op] > 0 ? p.values[2 * ops + 2 * op + 1] : 0)) }, 18, 20, "magnitude"),
        ]
        for panel in panels {
            out += "<text x=\"\(f(left))\" y=\"\(f(panel.y0 - 6))\">\(esc(panel.title))</text>\n"
            out += "<rect x=\"\(f(left))\" y=\"\(f(panel.y0))\" width=\"\(f(plotW))\" height=\"\(f(panelH))\" fill=\"#f4f4f4\"/>\n"
            for op in 0..<ops {
                let y0 = panel.y0 + Double(op) * rowH
                out += "<text x=\"\(f(left - 6))\" y=\"\(f(y0 + rowH - 3))\" text-anchor=\"end\" font-size=\"11\">\(esc(names[op]))</text>"
                var start = 0
                while start < view.schedule.count {
                    let v = panel.value(view.schedule[start], op)
                    var end = start + 1
                    while end < view.schedule.count, panel.value(view.schedule[end], op) == v { end += 1 }
                    let shade = v / panel.maximum
                    out += "<rect class=\"cell\" data-kind=\"\(panel.kind)\" data-op=\"\(esc(names[op]))\" data-value=\"\(f(v, 1))\" x=\"\(f(x(start)))\" y=\"\(f(y0 + 1))\" width=\"\(f(x(end) - x(start)))\" height=\"\(f(rowH - 2))\" "
                    out += "fill=\"hsl(\(panel.hue), 70%, \(f(97 - 62 * shade, 0))%)\"><title>\(esc(names[op])) epochs \(start)–\(end - 1): \(panel.kind) \(f(v, 1))</title></rect>"
                    start = end
                }
                out += "\n"
            }
            for e in stride(from: 0, through: epochs, by: max(1, epochs / 10)) {
                out += "<text x=\"\(f(x(e)))\" y=\"\(f(panel.y0 + panelH + 12))\" text-anchor=\"middle\" font-size=\"10\">\(e)</text>"
            }
            out += "\n"
        }
        if view.schedule.count < epochs {
            let x0 = x(view.schedule.count)
            out += "<text x=\"\(f(min(x0 + 6, width - 200)))\" y=\"\(f(top + panelH / 2))\" fill=\"#777\">not trained yet</text>\n"
        }
        return out + "</svg>\n"
    }

    /// Distinct hues, alternating lightness so neighbours differ.
    static func colour(_ i: Int, of n: Int) -> String {
        "hsl(\(Int(Double(i) * 360 / Double(max(n, 1)))), 70%, \(i % 2 == 0 ? 42 : 58)%)"
    }

    static func svgOpen(id: String, width: Double, height: Double, label: String) -> String {
        "<svg id=\"\(id)\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"\(Int(width))\" height=\"\(Int(height))\" role=\"img\" aria-label=\"\(esc(label))\" font-family=\"sans-serif\" font-size=\"11\">\n"
    }

    static func clip(_ s: String, _ n: Int) -> String { s.count <= n ? s : String(s.prefix(max(1, n - 1))) + "…" }
}

/// Fixed-point number for SVG coordinates and labels.
func f(_ x: Double, _ digits: Int = 1) -> String { x.isFinite ? String(format: "%.\(digits)f", x) : "0" }

/// An accuracy as a percentage with two decimals.
func pct(_ a: Double) -> String { a.isFinite ? String(format: "%.2f%%", a * 100) : "–" }

/// Escapes text for HTML and SVG, attributes included.
public func esc(_ s: String) -> String { ScheduleRendering.escape(s) }
