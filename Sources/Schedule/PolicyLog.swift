import Augment
import Search

/// How a policy appears in a log line's config: Ray Tune writes the trial's whole config
/// (a dictionary with `hp_policy` among other keys), older PBA files a bare list.
public enum PolicyConfigForm: Hashable, Sendable {
    case bareList
    /// A dictionary: `hp_policy` at `policyPosition` among `otherEntries` (kept as written).
    case dictionary(otherEntries: [LiteralEntry], policyPosition: Int)

    /// `{"hp_policy": [...]}` and nothing else.
    public static let hpPolicyOnly = PolicyConfigForm.dictionary(otherEntries: [], policyPosition: 0)
}

/// A config of a log line: the policy and the form it was written in.
public struct PolicyConfig: Hashable, Sendable {
    public var policy: Policy
    public var form: PolicyConfigForm

    public init(policy: Policy, form: PolicyConfigForm = .bareList) {
        self.policy = policy
        self.form = form
    }

    var literal: LiteralValue {
        let list = LiteralValue.list(policy.values.map { .number(String($0)) })
        switch form {
        case .bareList:
            return list
        case let .dictionary(others, position):
            var entries = others
            entries.insert(LiteralEntry(key: "hp_policy", value: list), at: min(position, others.count))
            return .dictionary(entries)
        }
    }
}

/// One line of a Ray Tune / PBA policy log: `[target_tag, clone_tag, target_iteration,
/// clone_iteration, clone_config, new_config]`: the target trial copied the clone trial (at the
/// clone's iteration) and went on with `new_config`.
public struct PolicyLogEntry: Hashable, Sendable {
    public var targetTag: String
    public var cloneTag: String
    public var targetIteration: Int
    public var cloneIteration: Int
    public var cloneConfig: PolicyConfig
    public var newConfig: PolicyConfig

    public init(targetTag: String, cloneTag: String, targetIteration: Int, cloneIteration: Int,
                cloneConfig: PolicyConfig, newConfig: PolicyConfig) {
        self.targetTag = targetTag
        self.cloneTag = cloneTag
        self.targetIteration = targetIteration
        self.cloneIteration = cloneIteration
        self.cloneConfig = cloneConfig
        self.newConfig = newConfig
    }

    /// The line of a search's perturbation: members are tagged by their index, iterations are
    /// epochs.
    public init(_ record: PerturbationRecord, form: PolicyConfigForm = .bareList) {
        self.init(targetTag: String(record.target), cloneTag: String(record.source),
                  targetIteration: record.targetEpoch, cloneIteration: record.sourceEpoch,
                  cloneConfig: PolicyConfig(policy: record.sourcePolicy, form: form),
                  newConfig: PolicyConfig(policy: record.newPolicy, form: form))
    }

    static let fieldNames = ["target_tag", "clone_tag", "target_iteration", "clone_iteration",
                             "clone_config", "new_config"]
}

/// A Ray Tune / PBA policy log: one perturbation per line, each a JSON text or a Python literal.
/// Reading then writing a file written by Ray Tune (`json.dumps`) or by PBA (Python `repr`)
/// gives back the same bytes.
public struct PolicyLog: Hashable, Sendable {
    public var entries: [PolicyLogEntry]
    /// How lines are written.
    public var syntax: LiteralSyntax
    /// The operation set the policies are laid out by.
    public var operations: OperationSet

    public init(entries: [PolicyLogEntry], syntax: LiteralSyntax = .python, operations: OperationSet = .pba) {
        self.entries = entries
        self.syntax = syntax
        self.operations = operations
    }

    /// The lineage of a searched member as a log (every line's target is the next's source).
    public init(lineage: PolicyLineage, syntax: LiteralSyntax = .python, form: PolicyConfigForm = .bareList) {
        let operations = lineage.segments.first?.policy.operations ?? .pba
        self.init(entries: lineage.perturbations.map { PolicyLogEntry($0, form: form) },
                  syntax: syntax, operations: operations)
    }

    /// Reads a log; blank lines are skipped. The syntax is the first line's (Python when it
    /// uses single-quoted strings). Errors name the line and the field.
    public init(parsing text: String, operations: OperationSet = .pba) throws(ScheduleError) {
        var entries: [PolicyLogEntry] = []
        var syntax: LiteralSyntax?
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
            let parsed: (value: LiteralValue, syntax: LiteralSyntax?)
            do {
                parsed = try LiteralParser.parse(String(line))
            } catch {
                throw .syntax(line: lineNumber, column: error.column, message: error.message)
            }
            if syntax == nil { syntax = parsed.syntax ?? .json }
            entries.append(try Self.entry(parsed.value, line: lineNumber, operations: operations))
        }
        self.init(entries: entries, syntax: syntax ?? .python, operations: operations)
    }

    /// The log text: one line per entry, each ending in a newline.
    public func rendered() -> String {
        var out = ""
        for e in entries {
            let line = LiteralValue.list([
                .string(e.targetTag), .string(e.cloneTag),
                .number(String(e.targetIteration)), .number(String(e.cloneIteration)),
                e.cloneConfig.literal, e.newConfig.literal,
            ])
            out += line.rendered(syntax)
            out += "\n"
        }
        return out
    }

    private static func entry(_ value: LiteralValue, line: Int, operations: OperationSet) throws(ScheduleError) -> PolicyLogEntry {
        guard case let .list(fields) = value else {
            throw .invalidField(line: line, field: "line", message: "expected a list of 6 fields, found \(value.kindName)")
        }
        guard fields.count == 6 else {
            throw .invalidField(line: line, field: "line", message: "expected 6 fields \(PolicyLogEntry.fieldNames), found \(fields.count)")
        }
        let fieldNames = PolicyLogEntry.fieldNames
        func tag(_ i: Int) throws(ScheduleError) -> String {
            guard case let .string(s) = fields[i] else {
                throw .invalidField(line: line, field: fieldNames[i], message: "expected a string, found \(fields[i].kindName)")
            }
            return s
        }
        func iteration(_ i: Int) throws(ScheduleError) -> Int {
            guard let n = fields[i].integer, n >= 0 else {
                throw .invalidField(line: line, field: fieldNames[i], message: "expected a non-negative integer, found \(fields[i].rendered(.json))")
            }
            return n
        }
        let targetTag = try tag(0), cloneTag = try tag(1)
        return PolicyLogEntry(
            targetTag: targetTag, cloneTag: cloneTag,
            targetIteration: try iteration(2), cloneIteration: try iteration(3),
            cloneConfig: try config(fields[4], line: line, field: fieldNames[4], operations: operations),
            newConfig: try config(fields[5], line: line, field: fieldNames[5], operations: operations))
    }

    static func config(_ value: LiteralValue, line: Int, field: String,
                       operations: OperationSet) throws(ScheduleError) -> PolicyConfig {
        switch value {
        case .list:
            return PolicyConfig(policy: try policy(value, line: line, field: field, operations: operations), form: .bareList)
        case let .dictionary(entries):
            guard let position = entries.firstIndex(where: { $0.key == "hp_policy" }) else {
                throw .invalidField(line: line, field: field, message: "the config has no 'hp_policy' key")
            }
            var others = entries
            let list = others.remove(at: position).value
            let p = try policy(list, line: line, field: field + ".hp_policy", operations: operations)
            return PolicyConfig(policy: p, form: .dictionary(otherEntries: others, policyPosition: position))
        default:
            throw .invalidField(line: line, field: field,
                                message: "expected a list of \(4 * operations.count) integers or {\"hp_policy\": [...]}, found \(value.kindName)")
        }
    }

    static func policy(_ value: LiteralValue, line: Int, field: String,
                       operations: OperationSet) throws(ScheduleError) -> Policy {
        guard case let .list(items) = value else {
            throw .invalidField(line: line, field: field, message: "expected a list of integers, found \(value.kindName)")
        }
        var values: [Int] = []
        for (i, item) in items.enumerated() {
            guard let v = item.integer else {
                throw .invalidField(line: line, field: "\(field)[\(i)]", message: "expected an integer, found \(item.rendered(.json))")
            }
            values.append(v)
        }
        do {
            return try Policy(values: values, operations: operations)
        } catch {
            switch error {
            case let .outOfRange(index, _, _, _):
                throw .invalidField(line: line, field: "\(field)[\(index)]", message: error.description)
            default:
                throw .invalidField(line: line, field: field, message: error.description)
            }
        }
    }
}
