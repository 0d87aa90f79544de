/// Why a schedule, policy log or PBA schedule could not be read, converted or used. Every case
/// says where: a line (1-based) and a field, or a JSON path.
public enum ScheduleError: Error, CustomStringConvertible, Equatable {
    /// A line of a policy log or PBA schedule text is not a valid literal.
    case syntax(line: Int, column: Int, message: String)
    /// A field of a line has the wrong kind or value.
    case invalidField(line: Int, field: String, message: String)
    /// A field of the n-th (1-based) entry of a policy log, found when converting it.
    case invalidEntry(entry: Int, field: String, message: String)
    /// A field of a schedule JSON document.
    case invalidSchedule(path: String, message: String)
    /// The document's format version is not one this build reads.
    case unsupportedFormatVersion(found: Int, supported: Int)
    /// A conversion that cannot represent its input.
    case notRepresentable(String)
    case emptyLog

    public var description: String {
        switch self {
        case let .syntax(line, column, message):
            return "line \(line), column \(column): \(message)"
        case let .invalidField(line, field, message):
            return "line \(line), field \(field): \(message)"
        case let .invalidEntry(entry, field, message):
            return "policy log entry \(entry), field \(field): \(message)"
        case let .invalidSchedule(path, message):
            return "schedule field \(path): \(message)"
        case let .unsupportedFormatVersion(found, supported):
            return "schedule format version \(found) is not supported (this pba reads versions 1...\(supported))"
        case let .notRepresentable(message):
            return message
        case .emptyLog:
            return "the policy log has no perturbation lines"
        }
    }
}
