import Augment

/// A run of epochs with one policy in PBA's schedule form.
public struct PBAScheduleSegment: Hashable, Sendable {
    public var epochs: Int
    public var policy: Policy

    public init(epochs: Int, policy: Policy) {
        self.epochs = epochs
        self.policy = policy
    }
}

/// PBA's schedule form `[[n_epochs, policy], ...]`: what PBA's `parse_log` derives from a
/// trial's lineage log, and what its training code stretches to the epochs it trains for.
public struct PBASchedule: Hashable, Sendable {
    public var segments: [PBAScheduleSegment]

    public init(segments: [PBAScheduleSegment]) { self.segments = segments }

    /// Total epochs: the epoch count the schedule was learned over.
    public var epochs: Int { segments.reduce(0) { $0 + $1.epochs } }

    /// PBA's `parse_log(file, epochs)`: leading lines are dropped up to the last place where
    /// the chain breaks (a line's target is not the next line's clone); the first segment runs
    /// the first line's clone config for its clone iteration; each later segment runs a line's
    /// new config until the next line's clone iteration; the last runs to `epochs`.
    public init(lineage log: PolicyLog, epochs: Int) throws(ScheduleError) {
        var entries = log.entries
        guard !entries.isEmpty else { throw .emptyLog }
        var firstKept = 0
        for i in 0..<(entries.count - 1) where entries[i].targetTag != entries[i + 1].cloneTag {
            firstKept = i + 1
        }
        entries = Array(entries[firstKept...])
        var segments = [PBAScheduleSegment(epochs: entries[0].cloneIteration, policy: entries[0].cloneConfig.policy)]
        var current = entries[0].cloneIteration
        for i in 0..<(entries.count - 1) {
            let length = entries[i + 1].cloneIteration - entries[i].cloneIteration
            guard length >= 0 else {
                throw .invalidEntry(entry: firstKept + i + 2, field: "clone_iteration",
                                    message: "\(entries[i + 1].cloneIteration) is before the previous entry's \(entries[i].cloneIteration)")
            }
            segments.append(PBAScheduleSegment(epochs: length, policy: entries[i].newConfig.policy))
            current += length
        }
        guard epochs >= current else {
            throw .invalidEntry(entry: firstKept + entries.count, field: "clone_iteration",
                                message: "\(current) is beyond the \(epochs) epochs of the schedule")
        }
        segments.append(PBAScheduleSegment(epochs: epochs - current, policy: entries[entries.count - 1].newConfig.policy))
        self.init(segments: segments)
    }

    /// A lineage log that `init(lineage:epochs:)` turns back into exactly these segments:
    /// one line per segment boundary, tags "0", "1", ... chained, iterations at the boundaries.
    /// Needs at least two segments (a log line always makes a boundary).
    public func lineageLog(syntax: LiteralSyntax = .python, form: PolicyConfigForm = .bareList) throws(ScheduleError) -> PolicyLog {
        guard segments.count >= 2 else {
            throw .notRepresentable("a schedule with one segment has no perturbation, so no policy log line can express it")
        }
        var entries: [PolicyLogEntry] = []
        var boundary = 0
        for i in 0..<(segments.count - 1) {
            boundary += segments[i].epochs
            entries.append(PolicyLogEntry(
                targetTag: String(i + 1), cloneTag: String(i), targetIteration: boundary, cloneIteration: boundary,
                cloneConfig: PolicyConfig(policy: segments[i].policy, form: form),
                newConfig: PolicyConfig(policy: segments[i + 1].policy, form: form)))
        }
        return PolicyLog(entries: entries, syntax: syntax, operations: segments[0].policy.operations)
    }

    /// Reads `[[n_epochs, [integers]], ...]` (JSON or Python literal, one or more lines).
    public init(parsing text: String, operations: OperationSet = .pba) throws(ScheduleError) {
        let value: LiteralValue
        do {
            value = try LiteralParser.parse(text).value
        } catch {
            // Report the line of the error within a multi-line text.
            var line = 1, column = error.column
            var seen = 0
            for scalar in text.unicodeScalars {
                seen += 1
                if seen >= error.column { break }
                if scalar == "\n" { line += 1; column = error.column - seen }
            }
            throw .syntax(line: line, column: column, message: error.message)
        }
        guard case let .list(items) = value else {
            throw .invalidField(line: 1, field: "schedule", message: "expected a list of [n_epochs, policy], found \(value.kindName)")
        }
        var segments: [PBAScheduleSegment] = []
        for (i, item) in items.enumerated() {
            guard case let .list(pair) = item, pair.count == 2 else {
                throw .invalidField(line: 1, field: "schedule[\(i)]", message: "expected [n_epochs, policy]")
            }
            guard let n = pair[0].integer, n >= 0 else {
                throw .invalidField(line: 1, field: "schedule[\(i)][0]", message: "expected a non-negative epoch count, found \(pair[0].rendered(.json))")
            }
            let policy = try PolicyLog.policy(pair[1], line: 1, field: "schedule[\(i)][1]", operations: operations)
            segments.append(PBAScheduleSegment(epochs: n, policy: policy))
        }
        self.init(segments: segments)
    }

    /// `[[n, [integers]], ...]` on one line, as Python's `repr` / `json.dumps` write it.
    public func rendered() -> String {
        LiteralValue.list(segments.map {
            .list([.number(String($0.epochs)), .list($0.policy.values.map { .number(String($0)) })])
        }).rendered(.json) + "\n"
    }

    /// The policy of each of `targetEpochs` epochs, as PBA's `parse_log_schedule` stretches a
    /// schedule learned over `epochs` E epochs to N: a segment of n epochs lasts
    /// int(n · (N / E)) epochs (computed in double precision as PBA does), and any remaining
    /// epochs take the last segment's policy. (PBA fills up to int(E · (N / E)); we fill to
    /// exactly N, which differs only where that product rounds below N.)
    public func epochPolicies(targetEpochs: Int) -> [Policy] {
        Self.stretch(segments.map { ($0.epochs, $0.policy) }, learnedEpochs: epochs, targetEpochs: targetEpochs)
    }

    static func stretch(_ segments: [(epochs: Int, policy: Policy)], learnedEpochs: Int, targetEpochs: Int) -> [Policy] {
        guard let last = segments.last, learnedEpochs > 0, targetEpochs > 0 else { return [] }
        let multiplier = Double(targetEpochs) / Double(learnedEpochs)
        var result: [Policy] = []
        result.reserveCapacity(targetEpochs)
        for segment in segments {
            let count = Int(Double(segment.epochs) * multiplier)
            result += repeatElement(segment.policy, count: count)
        }
        if result.count > targetEpochs { result.removeLast(result.count - targetEpochs) }
        result += repeatElement(last.policy, count: targetEpochs - result.count)
        return result
    }
}
