import Augment

/// Human-readable views of a schedule: a text table and an SVG plot.
public enum ScheduleRendering {
    /// One block per epoch range: the tuples that can apply (probability > 0) as
    /// "Operation p=0.3 m=7", in layout order.
    public static func table(_ schedule: AugmentationSchedule) throws(ScheduleError) -> String {
        let policies = try schedule.policies()
        var out = "schedule: \(schedule.dataset.name), \(schedule.model.name), learned over \(schedule.learnedEpochs) epochs"
        if let seed = schedule.seed { out += ", seed \(seed)" }
        if let accuracy = schedule.provenance.finalValidationAccuracy {
            out += ", final validation accuracy \(format(accuracy, digits: 4))"
        }
        out += "\n"
        if let foundation = schedule.baseAugmentation.foundation {
            out += "foundation: \(foundation), applied to every image before each epoch's policy (the schedule was learned on top of it)\n"
        }
        for (segment, policy) in zip(schedule.segments, policies) {
            let range = segment.epochCount == 0 ? "(empty)" : "\(segment.startEpoch)-\(segment.endEpoch - 1)"
            let active = policy.tuples.filter { $0.probability > 0 }
            out += "epochs \(range) (\(segment.epochCount)): "
            out += active.isEmpty ? "no operation" : active.map {
                "\(policy.operations.names[$0.operation]) p=\(format(Double($0.probability) / 10, digits: 1)) m=\($0.magnitude)"
            }.joined(separator: ", ")
            out += "\n"
        }
        return out
    }

    /// Stacked areas over epochs, one colour per operation: the top panel the operation's
    /// summed probability of its two pairs ((p1 + p2) / 10), the bottom panel its summed
    /// magnitude (m1 + m2), as figures 2 and 3 of the PBA paper. `epochs` stretches the
    /// schedule first (PBA's rule); default: the learned epoch count.
    public static func svg(_ schedule: AugmentationSchedule, epochs: Int? = nil) throws(ScheduleError) -> String {
        let n = epochs ?? schedule.learnedEpochs
        guard n >= 1 else { throw .notRepresentable("cannot plot \(n) epochs") }
        let perEpoch = try schedule.epochPolicies(epochs: n)
        let names = schedule.operations.map(\.name)
        let ops = names.count
        // Per epoch, per operation: summed probability and magnitude of both pairs.
        let probability = perEpoch.map { p in (0..<ops).map { Double(p.values[2 * $0] + p.values[2 * ops + 2 * $0]) / 10 } }
        let magnitude = perEpoch.map { p in (0..<ops).map { Double(p.values[2 * $0 + 1] + p.values[2 * ops + 2 * $0 + 1]) } }

        let width = 900.0, panelHeight = 260.0, left = 60.0, right = 180.0, top = 40.0, gap = 60.0
        let plotWidth = width - left - right
        let height = top + 2 * panelHeight + gap + 50
        var svg = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(left)" y="20" font-size="14">\(escape(schedule.dataset.name)) / \(escape(schedule.model.name)): operation probability and magnitude over \(n) epochs\(escape(schedule.baseAugmentation.foundation.map { ", on top of \($0)" } ?? ""))</text>

        """
        func panel(_ values: [[Double]], y0: Double, title: String) {
            let maxTotal = max(values.map { $0.reduce(0, +) }.max() ?? 0, 1e-9)
            let yScale = panelHeight / maxTotal
            let xStep = plotWidth / Double(n)
            svg += "<text x=\"\(left)\" y=\"\(format(y0 - 6, digits: 1))\">\(escape(title)) (max \(format(maxTotal, digits: 2)))</text>\n"
            var below = [Double](repeating: 0, count: n)
            for op in 0..<ops {
                var upper: [String] = [], lower: [String] = []
                for e in 0..<n {
                    let above = below[e] + values[e][op]
                    for x in [Double(e) * xStep, Double(e + 1) * xStep] {
                        upper.append("\(format(left + x, digits: 1)),\(format(y0 + panelHeight - above * yScale, digits: 1))")
                        lower.append("\(format(left + x, digits: 1)),\(format(y0 + panelHeight - below[e] * yScale, digits: 1))")
                    }
                    below[e] = above
                }
                let points = (upper + lower.reversed()).joined(separator: " ")
                svg += "<polygon class=\"op\" data-op=\"\(escape(names[op]))\" points=\"\(points)\" fill=\"\(colour(op, of: ops))\" stroke=\"none\"/>\n"
            }
            svg += "<rect x=\"\(left)\" y=\"\(y0)\" width=\"\(plotWidth)\" height=\"\(panelHeight)\" fill=\"none\" stroke=\"black\"/>\n"
            for tick in stride(from: 0, through: n, by: max(1, n / 10)) {
                let x = left + Double(tick) * xStep
                svg += "<text x=\"\(format(x, digits: 1))\" y=\"\(format(y0 + panelHeight + 14, digits: 1))\" text-anchor=\"middle\">\(tick)</text>\n"
            }
        }
        panel(probability, y0: top + 10, title: "probability (sum of both pairs)")
        panel(magnitude, y0: top + 10 + panelHeight + gap, title: "magnitude (sum of both pairs)")
        svg += "<text x=\"\(left + plotWidth / 2)\" y=\"\(Int(height) - 8)\" text-anchor=\"middle\">epoch</text>\n"
        for op in 0..<ops {
            let y = top + 20 + Double(op) * 18
            svg += "<rect x=\"\(left + plotWidth + 20)\" y=\"\(y - 10)\" width=\"12\" height=\"12\" fill=\"\(colour(op, of: ops))\"/>"
            svg += "<text x=\"\(left + plotWidth + 38)\" y=\"\(y)\">\(escape(names[op]))</text>\n"
        }
        svg += "</svg>\n"
        return svg
    }

    /// Evenly spaced hues.
    static func colour(_ i: Int, of n: Int) -> String {
        "hsl(\(Int(Double(i) * 360 / Double(max(n, 1)))), 65%, \(i % 2 == 0 ? 50 : 65)%)"
    }

    /// Escapes text for HTML and SVG, attribute values in either quote included (the dashboard uses it too).
    public static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    /// Fixed-point decimal without Foundation's locale-dependent formatting.
    static func format(_ x: Double, digits: Int) -> String {
        guard x.isFinite else { return "\(x)" }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let scaled = (abs(x) * scale).rounded()
        let whole = Int(scaled / scale)
        let fraction = Int(scaled - Double(whole) * scale)
        var s = (x < 0 && scaled != 0 ? "-" : "") + String(whole)
        if digits > 0 {
            let f = String(fraction)
            s += "." + String(repeating: "0", count: digits - f.count) + f
        }
        return s
    }
}
