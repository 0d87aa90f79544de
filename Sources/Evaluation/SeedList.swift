import Foundation

/// The seeds an evaluation trains every candidate with, as `--seeds` spells them: a count K
/// (seeds 1...K, what earlier reports used), a range `A-B`, or a list `7,9,11` whose items may
/// be ranges (`1-3,10`). An explicit list lets anyone re-check a shipped claim with seeds it was
/// never tuned on.
public enum SeedList {
    public static let maximumCount = 100

    public static func parse(_ text: String) throws(SeedListError) -> [UInt64] {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { throw .init(text, "empty") }
        let isList = trimmed.contains(",") || trimmed.contains("-")
        if !isList {
            guard let k = Int(trimmed) else { throw .init(text, "'\(trimmed)' is not a count, a range A-B or a list A,B,C") }
            guard (1...maximumCount).contains(k) else { throw .init(text, "a count must be 1...\(maximumCount), got \(k)") }
            return (1...k).map(UInt64.init)
        }
        var seeds: [UInt64] = []
        for item in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
            let part = item.trimmingCharacters(in: .whitespaces)
            guard !part.isEmpty else { throw .init(text, "an empty item between commas") }
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
            switch bounds.count {
            case 1:
                guard let s = UInt64(part) else { throw .init(text, "'\(part)' is not a seed (a non-negative integer)") }
                seeds.append(s)
            case 2:
                guard let a = UInt64(bounds[0].trimmingCharacters(in: .whitespaces)),
                      let b = UInt64(bounds[1].trimmingCharacters(in: .whitespaces)) else {
                    throw .init(text, "'\(part)' is not a range A-B of non-negative integers")
                }
                guard a <= b else { throw .init(text, "range '\(part)' runs backwards") }
                guard b - a < UInt64(maximumCount) else { throw .init(text, "range '\(part)' has more than \(maximumCount) seeds") }
                seeds.append(contentsOf: a...b)
            default:
                throw .init(text, "'\(part)' is not a range A-B")
            }
            guard seeds.count <= maximumCount else { throw .init(text, "more than \(maximumCount) seeds") }
        }
        var seen = Set<UInt64>()
        for s in seeds where !seen.insert(s).inserted { throw .init(text, "seed \(s) is given twice") }
        return seeds
    }
}

public struct SeedListError: Error, CustomStringConvertible, Equatable {
    public let text: String
    public let reason: String
    init(_ text: String, _ reason: String) { self.text = text; self.reason = reason }
    public var description: String { "seeds '\(text)': \(reason)" }
}
