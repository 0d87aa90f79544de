import Foundation
import Search

extension AugmentationSchedule: Codable {
    private enum CodingKeys: String, CodingKey {
        case format, formatVersion, operations, policyLayout, learnedEpochs, segments, baseAugmentation
        case dataset, model, seed, search, provenance, lineage
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        format = try c.decode(String.self, forKey: .format)
        formatVersion = try c.decode(Int.self, forKey: .formatVersion)
        guard (1...Self.currentFormatVersion).contains(formatVersion) else {
            throw ScheduleError.unsupportedFormatVersion(found: formatVersion, supported: Self.currentFormatVersion)
        }
        operations = try c.decode([OperationDescription].self, forKey: .operations)
        policyLayout = try c.decode(PolicyLayoutDescription.self, forKey: .policyLayout)
        learnedEpochs = try c.decode(Int.self, forKey: .learnedEpochs)
        segments = try c.decode([ScheduleSegment].self, forKey: .segments)
        baseAugmentation = try c.decode(BaseAugmentation.self, forKey: .baseAugmentation)
        dataset = try c.decode(DatasetDescription.self, forKey: .dataset)
        model = try c.decode(ModelDescription.self, forKey: .model)
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed)
        search = try c.decodeIfPresent(SearchConfiguration.self, forKey: .search)
        provenance = try c.decode(ScheduleProvenance.self, forKey: .provenance)
        lineage = try c.decodeIfPresent(ScheduleLineage.self, forKey: .lineage)
    }

    /// Every key is written, unknown values as null.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(format, forKey: .format)
        try c.encode(max(formatVersion, requiredFormatVersion), forKey: .formatVersion)
        try c.encode(operations, forKey: .operations)
        try c.encode(policyLayout, forKey: .policyLayout)
        try c.encode(learnedEpochs, forKey: .learnedEpochs)
        try c.encode(segments, forKey: .segments)
        try c.encode(baseAugmentation, forKey: .baseAugmentation)
        try c.encode(dataset, forKey: .dataset)
        try c.encode(model, forKey: .model)
        try c.encode(seed, forKey: .seed)
        try c.encode(search, forKey: .search)
        try c.encode(provenance, forKey: .provenance)
        try c.encode(lineage, forKey: .lineage)
    }

    /// The document as UTF-8 JSON: keys sorted, indented, arrays of numbers on one line, and a
    /// final newline. The same schedule always gives the same bytes.
    public func jsonData() throws(ScheduleError) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data: Data
        do { data = try encoder.encode(self) } catch {
            throw .notRepresentable("the schedule cannot be encoded: \(error)")
        }
        return Data((Self.collapsingNumberArrays(String(decoding: data, as: UTF8.self)) + "\n").utf8)
    }

    /// Reads and validates a document; errors name the JSON path.
    public static func decode(jsonData data: Data) throws(ScheduleError) -> AugmentationSchedule {
        let schedule: AugmentationSchedule
        do {
            schedule = try JSONDecoder().decode(AugmentationSchedule.self, from: data)
        } catch let error as ScheduleError {
            throw error
        } catch let DecodingError.keyNotFound(key, context) {
            throw .invalidSchedule(path: path(context.codingPath + [key]), message: "is missing")
        } catch let DecodingError.typeMismatch(type, context) {
            throw .invalidSchedule(path: path(context.codingPath), message: "expected \(type): \(context.debugDescription)")
        } catch let DecodingError.valueNotFound(type, context) {
            throw .invalidSchedule(path: path(context.codingPath), message: "is null, expected \(type)")
        } catch let DecodingError.dataCorrupted(context) {
            throw .invalidSchedule(path: path(context.codingPath), message: context.debugDescription)
        } catch {
            throw .invalidSchedule(path: "$", message: "\(error)")
        }
        try schedule.validate()
        return schedule
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        var out = ""
        for key in keys {
            if let i = key.intValue { out += "[\(i)]" } else { out += out.isEmpty ? key.stringValue : "." + key.stringValue }
        }
        return out.isEmpty ? "$" : out
    }

    /// Puts every array that holds only numbers on one line (a policy is one line, not 60).
    static func collapsingNumberArrays(_ text: String) -> String {
        let chars = Array(text.unicodeScalars)
        var out = String.UnicodeScalarView()
        var i = 0
        var inString = false
        while i < chars.count {
            let c = chars[i]
            if inString {
                out.append(c)
                if c == "\\", i + 1 < chars.count { out.append(chars[i + 1]); i += 2; continue }
                if c == "\"" { inString = false }
                i += 1
                continue
            }
            if c == "\"" { inString = true; out.append(c); i += 1; continue }
            if c == "[" {
                var j = i + 1
                var numbers: [String] = []
                var token = String.UnicodeScalarView()
                var onlyNumbers = true
                while j < chars.count, chars[j] != "]" {
                    let d = chars[j]
                    if "0123456789-+.eE".unicodeScalars.contains(d) {
                        token.append(d)
                    } else if d == "," || d == " " || d == "\n" {
                        if !token.isEmpty { numbers.append(String(token)); token = String.UnicodeScalarView() }
                    } else {
                        onlyNumbers = false
                        break
                    }
                    j += 1
                }
                if onlyNumbers, j < chars.count {
                    if !token.isEmpty { numbers.append(String(token)) }
                    out.append(contentsOf: ("[" + numbers.joined(separator: ", ") + "]").unicodeScalars)
                    i = j + 1
                    continue
                }
            }
            out.append(c)
            i += 1
        }
        return String(out)
    }
}
