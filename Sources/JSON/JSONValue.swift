// JSON: the one value tree every layer uses for structured data. A spec parses into it (Config
// calls it ConfigValue), sweep.json's assignments and the table settings are read into it
// (Analysis), `ablate inspect --json` writes HDF5 attributes with it, and the dashboard answers
// with it. It sits at the bottom of the package (no dependencies), so every layer can import it.
// Writers: `canonical` (sorted keys, no spaces, the text run ids hash), `text` (standard JSON for
// the web: non-finite numbers as null), `pretty` (indented, for files people read).

/// A JSON value. Integers and doubles are kept apart (a spec's schema tells them apart), but
/// compare equal when they hold the same number. Objects keep their keys unordered; every writer
/// sorts them.
public indirect enum JSONValue: Sendable, CustomStringConvertible {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case list([JSONValue])
    case map([String: JSONValue])

    public var description: String {
        switch self {
        case .null: "null"
        case .bool(let v): v ? "true" : "false"
        case .int(let v): String(v)
        case .double(let v): CanonicalJSON.number(v)
        case .string(let v): CanonicalJSON.quote(v)
        case .list(let v): "[" + v.map(\.description).joined(separator: ", ") + "]"
        case .map(let v): "{" + v.keys.sorted().map { "\($0): \(v[$0]!)" }.joined(separator: ", ") + "}"
        }
    }

    /// A short name of the value's type for error messages.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .int: "an integer"
        case .double: "a number"
        case .string: "a string"
        case .list: "a list"
        case .map: "a mapping"
        }
    }

    public subscript(key: String) -> JSONValue? {
        if case .map(let map) = self { return map[key] }
        return nil
    }

    /// The value at a dotted path ("model.ffn.moe.experts"), or nil.
    public func value(at path: String) -> JSONValue? {
        var current: JSONValue? = self
        for component in path.split(separator: ".") {
            current = current?[String(component)]
        }
        return current
    }

    /// Returns a copy with `value` set at a dotted path, creating maps on the way.
    public func setting(_ value: JSONValue, at path: String) -> JSONValue {
        let components = path.split(separator: ".").map(String.init)
        return setting(value, at: components[...])
    }

    private func setting(_ value: JSONValue, at path: ArraySlice<String>) -> JSONValue {
        guard let first = path.first else { return value }
        var map: [String: JSONValue] = [:]
        if case .map(let existing) = self { map = existing }
        map[first] = (map[first] ?? .null).setting(value, at: path.dropFirst())
        return .map(map)
    }

    /// Deep merge: maps merge key by key, `other` wins for everything else.
    public func merged(with other: JSONValue) -> JSONValue {
        guard case .map(let base) = self, case .map(let top) = other else { return other }
        var result = base
        for (key, value) in top {
            result[key] = result[key].map { $0.merged(with: value) } ?? value
        }
        return .map(result)
    }

    public var intValue: Int? { if case .int(let v) = self { v } else { nil } }
    /// An integer or a double, as a double.
    public var doubleValue: Double? {
        switch self {
        case .double(let v): v
        case .int(let v): Double(v)
        default: nil
        }
    }
    public var numberValue: Double? { doubleValue }
    public var stringValue: String? { if case .string(let v) = self { v } else { nil } }
    public var boolValue: Bool? { if case .bool(let v) = self { v } else { nil } }

    /// A double as JSON; a finite integral value stays a double (written "2.0").
    public static func number(_ x: Double) -> JSONValue { .double(x) }
    public static func numbers(_ values: [Double]) -> JSONValue { .list(values.map { .double($0) }) }
    public static func ints<T: BinaryInteger>(_ values: [T]) -> JSONValue { .list(values.map { .int(Int($0)) }) }
    public static func strings(_ values: [String]) -> JSONValue { .list(values.map { .string($0) }) }
    /// A number, or null when it is not finite.
    public static func finite(_ x: Double?) -> JSONValue { x.map { $0.isFinite ? .double($0) : .null } ?? .null }
}

extension JSONValue: Equatable {
    /// Structural equality, except that an integer and a double with the same value are equal
    /// (JSON has one number type; `8` in a sweep.json and `8.0` in a spec name the same value).
    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): true
        case (.bool(let x), .bool(let y)): x == y
        case (.int(let x), .int(let y)): x == y
        case (.double(let x), .double(let y)): x == y
        case (.int(let x), .double(let y)), (.double(let y), .int(let x)): Double(x) == y
        case (.string(let x), .string(let y)): x == y
        case (.list(let x), .list(let y)): x == y
        case (.map(let x), .map(let y)): x == y
        default: false
        }
    }
}

// MARK: Writers

/// Canonical JSON: sorted keys, no spaces, numbers normalised (an integral double keeps one
/// decimal, "2.0"; doubles use the shortest round-trip form). Equal resolved specs give equal
/// bytes, hence equal run ids.
public enum CanonicalJSON {
    public static func encode(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool(let v): v ? "true" : "false"
        case .int(let v): String(v)
        case .double(let v): number(v)
        case .string(let v): quote(v)
        case .list(let v): "[" + v.map(encode).joined(separator: ",") + "]"
        case .map(let v): "{" + v.keys.sorted().map { quote($0) + ":" + encode(v[$0]!) }.joined(separator: ",") + "}"
        }
    }

    /// Shortest representation that round-trips; integral values keep one decimal ("1.0"),
    /// so 1 and 1.0 in a float field canonicalise the same way once the schema made both double.
    public static func number(_ value: Double) -> String {
        if value.isNaN { return "\"nan\"" }
        if value.isInfinite { return value > 0 ? "\"inf\"" : "\"-inf\"" }
        if value == value.rounded(), abs(value) < 1e16 { return String(Int64(value)) + ".0" }
        return "\(value)"
    }

    public static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

extension JSONValue {
    /// Compact JSON with sorted keys (CanonicalJSON).
    public var canonical: String { CanonicalJSON.encode(self) }

    /// Standard JSON for the web: sorted keys, non-finite numbers as null, "<" escaped so a
    /// response never holds "</script>" whatever a label says.
    public var text: String {
        var out = ""
        writeText(&out)
        return out
    }

    private func writeText(_ out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let x):
            if !x.isFinite { out += "null" }
            else if x == x.rounded(), abs(x) < 1e15 { out += String(Int64(x)) }
            else { out += "\(x)" }
        case .string(let s): out += Self.webQuote(s)
        case .list(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.writeText(&out)
            }
            out += "]"
        case .map(let map):
            out += "{"
            for (i, key) in map.keys.sorted().enumerated() {
                if i > 0 { out += "," }
                out += Self.webQuote(key) + ":"
                map[key]!.writeText(&out)
            }
            out += "}"
        }
    }

    static func webQuote(_ s: String) -> String {
        var out = ""
        for c in CanonicalJSON.quote(s).unicodeScalars {
            if c == "<" { out += "\\u003c" } else { out.unicodeScalars.append(c) }
        }
        return out
    }

    /// Indented JSON with sorted keys (two spaces), for files people read; lists of scalars on one line.
    public var pretty: String { pretty(indent: "") }

    private func pretty(indent: String) -> String {
        let inner = indent + "  "
        switch self {
        case .list(let items) where !items.isEmpty:
            if items.allSatisfy({ if case .list = $0 { return false }; if case .map = $0 { return false }; return true }) {
                return canonical
            }
            return "[\n" + items.map { inner + $0.pretty(indent: inner) }.joined(separator: ",\n") + "\n" + indent + "]"
        case .map(let map) where !map.isEmpty:
            return "{\n" + map.keys.sorted().map { inner + CanonicalJSON.quote($0) + ": " + map[$0]!.pretty(indent: inner) }
                .joined(separator: ",\n") + "\n" + indent + "}"
        default:
            return canonical
        }
    }

    /// How a value reads in a table cell: strings bare, a mapping as "key=value, …" (sorted),
    /// integral doubles without ".0", everything else canonical JSON.
    public var display: String {
        switch self {
        case .string(let s): return s
        case .double(let x) where x.isFinite && x == x.rounded() && abs(x) < 1e15: return String(Int64(x))
        case .double(let x): return "\(x)"
        case .map(let map): return map.keys.sorted().map { "\($0)=\(map[$0]!.display)" }.joined(separator: ", ")
        default: return canonical
        }
    }
}

// MARK: Reading

public struct JSONParseError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

extension JSONValue {
    /// Parses one JSON text (a document or a bare scalar such as `0.001` or `"mla"`). Numbers
    /// without a fraction or exponent that fit an Int are integers; the others doubles.
    public static func parse(_ text: String) throws -> JSONValue {
        var parser = Parser(Array(text.utf8))
        parser.skipSpace()
        let value = try parser.value()
        parser.skipSpace()
        guard parser.atEnd else { throw parser.error("unexpected text after the value") }
        return value
    }

    struct Parser {
        let bytes: [UInt8]
        var position = 0
        init(_ bytes: [UInt8]) { self.bytes = bytes }

        var atEnd: Bool { position >= bytes.count }
        var peek: UInt8? { atEnd ? nil : bytes[position] }

        func error(_ message: String) -> JSONParseError {
            let shown = bytes.count > 200 ? String(decoding: bytes.prefix(200), as: UTF8.self) + "…" : String(decoding: bytes, as: UTF8.self)
            return JSONParseError(description: "invalid JSON at byte \(position): \(message) in '\(shown)'")
        }

        mutating func skipSpace() {
            while let c = peek, c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { position += 1 }
        }

        mutating func literal(_ word: String, _ value: JSONValue) throws -> JSONValue {
            let w = Array(word.utf8)
            guard position + w.count <= bytes.count, Array(bytes[position..<position + w.count]) == w else {
                throw error("expected \(word)")
            }
            position += w.count
            return value
        }

        mutating func value() throws -> JSONValue {
            guard let c = peek else { throw error("unexpected end") }
            switch c {
            case UInt8(ascii: "n"): return try literal("null", .null)
            case UInt8(ascii: "t"): return try literal("true", .bool(true))
            case UInt8(ascii: "f"): return try literal("false", .bool(false))
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "["):
                position += 1
                var items: [JSONValue] = []
                skipSpace()
                if peek == UInt8(ascii: "]") { position += 1; return .list(items) }
                while true {
                    skipSpace()
                    items.append(try value())
                    skipSpace()
                    if peek == UInt8(ascii: ",") { position += 1; continue }
                    if peek == UInt8(ascii: "]") { position += 1; return .list(items) }
                    throw error("expected , or ]")
                }
            case UInt8(ascii: "{"):
                position += 1
                var map: [String: JSONValue] = [:]
                skipSpace()
                if peek == UInt8(ascii: "}") { position += 1; return .map(map) }
                while true {
                    skipSpace()
                    guard peek == UInt8(ascii: "\"") else { throw error("expected a key") }
                    let key = try string()
                    skipSpace()
                    guard peek == UInt8(ascii: ":") else { throw error("expected :") }
                    position += 1
                    skipSpace()
                    map[key] = try value()
                    skipSpace()
                    if peek == UInt8(ascii: ",") { position += 1; continue }
                    if peek == UInt8(ascii: "}") { position += 1; return .map(map) }
                    throw error("expected , or }")
                }
            default:
                let start = position
                var integral = true
                while let c = peek, c == UInt8(ascii: "-") || c == UInt8(ascii: "+") || c == UInt8(ascii: ".")
                        || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") || (c >= 0x30 && c <= 0x39) {
                    if c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") { integral = false }
                    position += 1
                }
                let token = String(decoding: bytes[start..<position], as: UTF8.self)
                if integral, let i = Int(token) { return .int(i) }
                guard position > start, let x = Double(token) else { throw error("expected a value") }
                return .double(x)
            }
        }

        mutating func string() throws -> String {
            position += 1  // opening quote
            var out: [UInt8] = []
            while true {
                guard let c = peek else { throw error("unterminated string") }
                position += 1
                if c == UInt8(ascii: "\"") { break }
                if c != UInt8(ascii: "\\") { out.append(c); continue }
                guard let e = peek else { throw error("unterminated escape") }
                position += 1
                switch e {
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "u"):
                    guard position + 4 <= bytes.count,
                          let code = UInt32(String(decoding: bytes[position..<position + 4], as: UTF8.self), radix: 16) else {
                        throw error("bad \\u escape")
                    }
                    position += 4
                    out += Array(String(Unicode.Scalar(code).map(Character.init) ?? "\u{FFFD}").utf8)
                default: out.append(e)
                }
            }
            return String(decoding: out, as: UTF8.self)
        }
    }
}

// MARK: Codable (`ablate inspect --json` encodes attribute values with JSONEncoder)

extension JSONValue: Codable {
    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Int.self) { self = .int(value) }
        else if let value = try? container.decode(Double.self) { self = .double(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .list(value) }
        else { self = .map(try container.decode([String: JSONValue].self)) }
    }

    /// Non-finite doubles, which JSON lacks, are written as the strings "nan", "inf", "-inf".
    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let v): try container.encode(v)
        case .int(let v): try container.encode(v)
        case .double(let v): v.isFinite ? try container.encode(v) : try container.encode(String(v))
        case .string(let v): try container.encode(v)
        case .list(let v): try container.encode(v)
        case .map(let v): try container.encode(v)
        }
    }
}

// Literals make specs in code and tests read like YAML.
extension JSONValue: ExpressibleByDictionaryLiteral, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByNilLiteral {
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .map(Dictionary(elements, uniquingKeysWith: { $1 }))
    }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .list(elements) }
    public init(nilLiteral: ()) { self = .null }
}
