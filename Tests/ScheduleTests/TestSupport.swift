import Foundation
import Schedule
import XCTest

/// Finds shared data: `$PBA_SHARED_DATA`, else a `shared/data` directory beside some ancestor
/// of this file (the worktree's `../shared/data`).
func sharedDataDirectory(file: String = #filePath) -> URL? {
    let fm = FileManager.default
    if let env = ProcessInfo.processInfo.environment["PBA_SHARED_DATA"], fm.fileExists(atPath: env) {
        return URL(fileURLWithPath: env)
    }
    var dir = URL(fileURLWithPath: file).deletingLastPathComponent()
    while dir.path != "/" {
        let candidate = dir.appendingPathComponent("shared/data")
        if fm.fileExists(atPath: candidate.appendingPathComponent("pba-schedules").path) { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    return nil
}

func publishedSchedule(_ name: String) throws -> String {
    guard let dir = sharedDataDirectory() else {
        throw XCTSkip("shared data not found (set PBA_SHARED_DATA)")
    }
    let url = dir.appendingPathComponent("pba-schedules").appendingPathComponent(name)
    return try String(contentsOf: url, encoding: .utf8)
}

/// The repository's published schema.
func scheduleSchema(file: String = #filePath) throws -> LiteralValue {
    var dir = URL(fileURLWithPath: file).deletingLastPathComponent()
    while dir.path != "/" {
        let url = dir.appendingPathComponent("schedules/schema/schedule-v1.schema.json")
        if FileManager.default.fileExists(atPath: url.path) {
            return try LiteralParser.parse(String(contentsOf: url, encoding: .utf8)).value
        }
        dir = dir.deletingLastPathComponent()
    }
    throw XCTSkip("schema file not found")  // unreachable inside the repository
}

/// A small JSON Schema validator: the keywords the schedule schema uses (type, const, enum,
/// required, properties, additionalProperties: false, items, minItems, maxItems, minimum,
/// maximum, oneOf, $ref to #/$defs). Returns one message per violation, with its path.
struct SchemaValidator {
    let root: LiteralValue

    func validate(_ value: LiteralValue) -> [String] {
        var errors: [String] = []
        check(value, against: root, path: "$", errors: &errors)
        return errors
    }

    private func typeMatches(_ value: LiteralValue, _ type: String) -> Bool {
        switch (type, value) {
        case ("string", .string), ("boolean", .boolean), ("null", .null), ("array", .list), ("object", .dictionary):
            return true
        case ("number", .number): return true
        case let ("integer", .number(text)): return !text.contains(where: { ".eE".contains($0) })
        default: return false
        }
    }

    private func check(_ value: LiteralValue, against schema: LiteralValue, path: String, errors: inout [String]) {
        if case let .string(ref)? = schema["$ref"] {
            let name = ref.replacingOccurrences(of: "#/$defs/", with: "")
            guard let target = root["$defs"]?[name] else { errors.append("\(path): unresolved \(ref)"); return }
            check(value, against: target, path: path, errors: &errors)
        }
        if let type = schema["type"] {
            let types: [String]
            switch type {
            case let .string(t): types = [t]
            case let .list(ts): types = ts.compactMap { if case let .string(t) = $0 { return t } else { return nil } }
            default: types = []
            }
            if !types.contains(where: { typeMatches(value, $0) }) {
                errors.append("\(path): expected \(types), found \(value.kindName)")
                return
            }
        }
        if let c = schema["const"], !sameValue(c, value) { errors.append("\(path): expected \(c.rendered(.json))") }
        if case let .list(options)? = schema["enum"], !options.contains(where: { sameValue($0, value) }) {
            errors.append("\(path): \(value.rendered(.json)) not in \(schema["enum"]!.rendered(.json))")
        }
        if let v = value.double {
            if let min = schema["minimum"]?.double, v < min { errors.append("\(path): \(v) < minimum \(min)") }
            if let max = schema["maximum"]?.double, v > max { errors.append("\(path): \(v) > maximum \(max)") }
        }
        if case let .list(options)? = schema["oneOf"] {
            let matching = options.filter { option in
                var e: [String] = []
                check(value, against: option, path: path, errors: &e)
                return e.isEmpty
            }
            if matching.count != 1 { errors.append("\(path): matches \(matching.count) of oneOf") }
        }
        if case let .dictionary(entries) = value {
            if case let .list(required)? = schema["required"] {
                for case let .string(key) in required where !entries.contains(where: { $0.key == key }) {
                    errors.append("\(path): missing required key '\(key)'")
                }
            }
            let properties = schema["properties"]
            for entry in entries {
                if let sub = properties?[entry.key] {
                    check(entry.value, against: sub, path: "\(path).\(entry.key)", errors: &errors)
                } else if schema["additionalProperties"] == .boolean(false) {
                    errors.append("\(path): unexpected key '\(entry.key)'")
                }
            }
        }
        if case let .list(items) = value {
            if let n = schema["minItems"]?.integer, items.count < n { errors.append("\(path): fewer than \(n) items") }
            if let n = schema["maxItems"]?.integer, items.count > n { errors.append("\(path): more than \(n) items") }
            if let itemSchema = schema["items"] {
                for (i, item) in items.enumerated() { check(item, against: itemSchema, path: "\(path)[\(i)]", errors: &errors) }
            }
        }
    }

    private func sameValue(_ a: LiteralValue, _ b: LiteralValue) -> Bool {
        if let x = a.double, let y = b.double { return x == y }
        return a == b
    }
}
