/// A value written as a JSON text or as a Python literal (`ast.literal_eval` syntax: single-
/// or double-quoted strings, `True`/`False`/`None`, tuples). Numbers keep the text they were
/// written with, so reading and writing a file changes no digit.
public indirect enum LiteralValue: Hashable, Sendable {
    case string(String)
    case number(String)
    case boolean(Bool)
    case null
    case list([LiteralValue])
    case dictionary([LiteralEntry])

    /// The value as an integer, if it is an integer literal that fits.
    public var integer: Int? {
        if case let .number(text) = self, !text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) {
            return Int(text)
        }
        return nil
    }

    public var double: Double? {
        if case let .number(text) = self { return Double(text) }
        return nil
    }

    /// The value of `key` in a dictionary.
    public subscript(key: String) -> LiteralValue? {
        if case let .dictionary(entries) = self { return entries.first { $0.key == key }?.value }
        return nil
    }

    /// A short name of the value's kind, for error messages.
    public var kindName: String {
        switch self {
        case .string: return "a string"
        case .number: return "a number"
        case .boolean: return "a boolean"
        case .null: return "null"
        case .list: return "a list"
        case .dictionary: return "a dictionary"
        }
    }
}

public struct LiteralEntry: Hashable, Sendable {
    public var key: String
    public var value: LiteralValue

    public init(key: String, value: LiteralValue) {
        self.key = key
        self.value = value
    }
}

/// How literal values are written.
public enum LiteralSyntax: String, Hashable, Codable, Sendable {
    /// `json.dumps` with default separators (`", "`, `": "`) and `ensure_ascii`.
    case json
    /// Python's `repr` of lists, dicts, strings, ints (PBA's published files).
    case python
}

extension LiteralValue {
    /// The text of the value, exactly as Python's `repr` or `json.dumps` (default options)
    /// would write the same value.
    public func rendered(_ syntax: LiteralSyntax) -> String {
        var out = ""
        render(syntax, into: &out)
        return out
    }

    private func render(_ syntax: LiteralSyntax, into out: inout String) {
        switch self {
        case let .string(s):
            out += syntax == .json ? Self.jsonQuoted(s) : Self.pythonQuoted(s)
        case let .number(text):
            out += text
        case let .boolean(b):
            out += syntax == .json ? (b ? "true" : "false") : (b ? "True" : "False")
        case .null:
            out += syntax == .json ? "null" : "None"
        case let .list(items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += ", " }
                item.render(syntax, into: &out)
            }
            out += "]"
        case let .dictionary(entries):
            out += "{"
            for (i, entry) in entries.enumerated() {
                if i > 0 { out += ", " }
                LiteralValue.string(entry.key).render(syntax, into: &out)
                out += ": "
                entry.value.render(syntax, into: &out)
            }
            out += "}"
        }
    }

    private static func hex(_ v: UInt32, digits: Int) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: max(0, digits - s.count)) + s
    }

    static func jsonQuoted(_ s: String) -> String {
        var out = "\""
        for unit in s.utf16 {
            switch unit {
            case 0x22: out += "\\\""
            case 0x5C: out += "\\\\"
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0x08: out += "\\b"
            case 0x0C: out += "\\f"
            case 0x20...0x7E: out.unicodeScalars.append(Unicode.Scalar(UInt8(unit)))
            default: out += "\\u" + hex(UInt32(unit), digits: 4)
            }
        }
        return out + "\""
    }

    static func pythonQuoted(_ s: String) -> String {
        let quote: Character = s.contains("'") && !s.contains("\"") ? "\"" : "'"
        var out = String(quote)
        for scalar in s.unicodeScalars {
            switch scalar.value {
            case 0x5C: out += "\\\\"
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0x27 where quote == "'": out += "\\'"
            case 0x00..<0x20, 0x7F: out += "\\x" + hex(scalar.value, digits: 2)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out.append(quote)
        return out
    }
}

/// Where and why a literal could not be read.
public struct LiteralSyntaxError: Error, CustomStringConvertible, Equatable {
    /// 1-based column (in Unicode scalars) where reading failed.
    public var column: Int
    public var message: String

    public var description: String { "column \(column): \(message)" }
}

/// Reads one JSON or Python literal value (the whole text, surrounding whitespace allowed).
public struct LiteralParser {
    private let scalars: [Unicode.Scalar]
    private var position = 0
    /// What the text looked like: Python if it used single quotes or `True`/`False`/`None`,
    /// JSON if it used double quotes or `true`/`false`/`null`, nil if neither.
    public private(set) var detectedSyntax: LiteralSyntax?

    public init(_ text: String) { scalars = Array(text.unicodeScalars) }

    /// Parses `text` as one value.
    public static func parse(_ text: String) throws(LiteralSyntaxError) -> (value: LiteralValue, syntax: LiteralSyntax?) {
        var parser = LiteralParser(text)
        let value = try parser.parseValue()
        parser.skipWhitespace()
        guard parser.position == parser.scalars.count else { throw parser.error("unexpected text after the value") }
        return (value, parser.detectedSyntax)
    }

    private func error(_ message: String) -> LiteralSyntaxError {
        LiteralSyntaxError(column: position + 1, message: message)
    }

    private var current: Unicode.Scalar? { position < scalars.count ? scalars[position] : nil }

    private mutating func skipWhitespace() {
        while let c = current, c == " " || c == "\t" || c == "\n" || c == "\r" { position += 1 }
    }

    private mutating func note(_ syntax: LiteralSyntax) {
        if detectedSyntax == nil || syntax == .python { detectedSyntax = syntax }
    }

    mutating func parseValue() throws(LiteralSyntaxError) -> LiteralValue {
        skipWhitespace()
        guard let c = current else { throw error("expected a value, found the end of the line") }
        switch c {
        case "[": return .list(try parseSequence(close: "]"))
        case "(": return .list(try parseSequence(close: ")"))
        case "{": return try parseDictionary()
        case "'", "\"": return .string(try parseString())
        case "-", "0"..."9":
            if c == "-", matches("-Infinity") { position += 9; return .number("-Infinity") }
            return .number(try parseNumber())
        default:
            // Python's json.dumps writes these for non-finite floats (a Ray config may hold one).
            for word in ["NaN", "Infinity"] where matches(word) {
                position += word.unicodeScalars.count
                return .number(word)
            }
            for (word, value, syntax) in [("true", LiteralValue.boolean(true), LiteralSyntax.json),
                                          ("false", .boolean(false), .json), ("null", .null, .json),
                                          ("True", .boolean(true), .python), ("False", .boolean(false), .python),
                                          ("None", .null, .python)] {
                if matches(word) {
                    position += word.unicodeScalars.count
                    note(syntax)
                    return value
                }
            }
            throw error("unexpected character '\(c)'")
        }
    }

    private func matches(_ word: String) -> Bool {
        let w = Array(word.unicodeScalars)
        return position + w.count <= scalars.count && Array(scalars[position..<(position + w.count)]) == w
    }

    private mutating func parseSequence(close: Unicode.Scalar) throws(LiteralSyntaxError) -> [LiteralValue] {
        position += 1
        var items: [LiteralValue] = []
        skipWhitespace()
        if current == close { position += 1; return items }
        while true {
            items.append(try parseValue())
            skipWhitespace()
            if current == "," {
                position += 1
                skipWhitespace()
                if current == close { position += 1; return items }  // Python's trailing comma
            } else if current == close {
                position += 1
                return items
            } else {
                throw error(current == nil ? "missing '\(close)'" : "expected ',' or '\(close)'")
            }
        }
    }

    private mutating func parseDictionary() throws(LiteralSyntaxError) -> LiteralValue {
        position += 1
        var entries: [LiteralEntry] = []
        skipWhitespace()
        if current == "}" { position += 1; return .dictionary(entries) }
        while true {
            skipWhitespace()
            guard current == "'" || current == "\"" else { throw error("expected a string key") }
            let key = try parseString()
            skipWhitespace()
            guard current == ":" else { throw error("expected ':' after key '\(key)'") }
            position += 1
            entries.append(LiteralEntry(key: key, value: try parseValue()))
            skipWhitespace()
            if current == "," {
                position += 1
                skipWhitespace()
                if current == "}" { position += 1; return .dictionary(entries) }
            } else if current == "}" {
                position += 1
                return .dictionary(entries)
            } else {
                throw error(current == nil ? "missing '}'" : "expected ',' or '}'")
            }
        }
    }

    private mutating func parseHex(_ digits: Int) throws(LiteralSyntaxError) -> UInt32 {
        guard position + digits <= scalars.count,
              let v = UInt32(String(String.UnicodeScalarView(scalars[position..<(position + digits)])), radix: 16)
        else { throw error("expected \(digits) hexadecimal digits") }
        position += digits
        return v
    }

    private mutating func parseString() throws(LiteralSyntaxError) -> String {
        let quote = scalars[position]
        note(quote == "'" ? .python : .json)
        position += 1
        var out = String.UnicodeScalarView()
        var pendingHighSurrogate: UInt32?
        while true {
            guard let c = current else { throw error("unterminated string") }
            position += 1
            if c == quote { break }
            if c == "\n" { throw error("line break inside a string") }
            guard c == "\\" else { out.append(c); continue }
            guard let e = current else { throw error("unterminated string") }
            position += 1
            var value: UInt32
            switch e {
            case "n": value = 0x0A
            case "t": value = 0x09
            case "r": value = 0x0D
            case "b": value = 0x08
            case "f": value = 0x0C
            case "0": value = 0
            case "\\", "'", "\"", "/": value = e.value
            case "x": value = try parseHex(2)
            case "u": value = try parseHex(4)
            case "U": value = try parseHex(8)
            default: throw error("unknown escape '\\\(e)'")
            }
            if (0xD800..<0xDC00).contains(value) { pendingHighSurrogate = value; continue }
            if (0xDC00..<0xE000).contains(value), let high = pendingHighSurrogate {
                value = 0x10000 + ((high - 0xD800) << 10) + (value - 0xDC00)
                pendingHighSurrogate = nil
            }
            guard let scalar = Unicode.Scalar(value) else { throw error("invalid character code \(value)") }
            out.append(scalar)
        }
        return String(out)
    }

    private mutating func parseNumber() throws(LiteralSyntaxError) -> String {
        let start = position
        func digits(_ p: inout LiteralParser) -> Int {
            var n = 0
            while let c = p.current, ("0"..."9").contains(c) { p.position += 1; n += 1 }
            return n
        }
        if current == "-" { position += 1 }
        guard digits(&self) > 0 else { throw error("expected a digit") }
        if current == "." {
            position += 1
            guard digits(&self) > 0 else { throw error("expected a digit after '.'") }
        }
        if current == "e" || current == "E" {
            position += 1
            if current == "+" || current == "-" { position += 1 }
            guard digits(&self) > 0 else { throw error("expected an exponent") }
        }
        return String(String.UnicodeScalarView(scalars[start..<position]))
    }
}
