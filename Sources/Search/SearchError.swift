/// What the search refuses. Events never throw: a result it cannot use is reported as a
/// `SearchAction.ignoreResult`; these errors are for configurations and replays.
public enum SearchError: Error, CustomStringConvertible, Equatable {
    case invalidConfiguration(field: String, value: String, expected: String)
    case replayEventNotApplicable(index: Int, event: String, reason: String)

    public var description: String {
        switch self {
        case let .invalidConfiguration(field, value, expected):
            return "search configuration field '\(field)' is \(value), expected \(expected)"
        case let .replayEventNotApplicable(index, event, reason):
            return "replayed event \(index) (\(event)) does not apply: \(reason)"
        }
    }
}
