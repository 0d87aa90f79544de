import Foundation

/// Reading a policy from JSON: either `{"operations": [names...], "policy": [4·n integers]}`
/// or a bare list of integers for PBA's 15 operations (PBA's `hp_policy`). Every error names
/// the field (and the integer's meaning) that was wrong.
extension Policy {
    public init(json data: Data, registry: OperationRegistry = .standard) throws(PolicyFileError) {
        let root: Any
        do {
            root = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            throw .notJSON("\(error)")
        }
        var operations = OperationSet.pba
        let values: [Any]
        if let list = root as? [Any] {
            values = list
        } else if let object = root as? [String: Any] {
            for key in object.keys where key != "operations" && key != "policy" {
                throw .unknownField(key)
            }
            if let ops = object["operations"] {
                guard let names = ops as? [Any] else { throw .badField("operations", "expected a list of operation names") }
                var seen = Set<String>()
                var list: [String] = []
                for (i, n) in names.enumerated() {
                    guard let name = n as? String else { throw .badField("operations[\(i)]", "expected a string") }
                    do { _ = try registry.operation(named: name) } catch {
                        throw .badField("operations[\(i)]", error.description)
                    }
                    guard seen.insert(name).inserted else { throw .badField("operations[\(i)]", "'\(name)' appears twice") }
                    list.append(name)
                }
                guard !list.isEmpty else { throw .badField("operations", "is empty") }
                operations = OperationSet(names: list)
            }
            guard let p = object["policy"] else { throw .badField("policy", "is missing") }
            guard let list = p as? [Any] else { throw .badField("policy", "expected a list of integers") }
            values = list
        } else {
            throw .badField("(top level)", "expected an object or a list of integers")
        }
        var ints: [Int] = []
        ints.reserveCapacity(values.count)
        for (i, v) in values.enumerated() {
            // JSONSerialization gives NSNumber; reject booleans and non-integral numbers.
            guard let n = v as? NSNumber, String(cString: n.objCType) != "c",
                  let exact = Int(exactly: n.doubleValue) else {
                throw .badField("policy[\(i)]", "expected an integer, got \(v)")
            }
            ints.append(exact)
        }
        do {
            try self.init(values: ints, operations: operations)
        } catch {
            throw .invalid(error)
        }
    }

    /// The JSON object form, with the operation set.
    public func jsonData() -> Data {
        let names = operations.names.map { "\"\($0)\"" }.joined(separator: ", ")
        let ints = values.map(String.init).joined(separator: ", ")
        return Data("{\"operations\": [\(names)], \"policy\": [\(ints)]}\n".utf8)
    }
}

public enum PolicyFileError: Error, CustomStringConvertible {
    case notJSON(String)
    case unknownField(String)
    case badField(String, String)
    case invalid(PolicyError)

    public var description: String {
        switch self {
        case let .notJSON(detail): return "policy file is not valid JSON: \(detail)"
        case let .unknownField(key): return "policy file has an unknown field '\(key)' (expected 'operations', 'policy')"
        case let .badField(field, problem): return "policy file field '\(field)': \(problem)"
        case let .invalid(error): return "policy file field 'policy': \(error)"
        }
    }
}
