// Config: the value tree a spec is parsed into, the schemas that say which keys exist (type,
// default, range, meaning), validation that reports every problem with its key path, and the
// canonical JSON that run ids hash. Sits at the bottom: Models and Training declare their
// sections with it; Experiments loads YAML into it.

/// A parsed spec value. Maps keep their keys unordered; the canonical form sorts them.
public indirect enum ConfigValue: Equatable, Sendable, CustomStringConvertible {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case list([ConfigValue])
    case map([String: ConfigValue])

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

    public subscript(key: String) -> ConfigValue? {
        if case .map(let map) = self { return map[key] }
        return nil
    }

    /// The value at a dotted path ("model.ffn.moe.experts"), or nil.
    public func value(at path: String) -> ConfigValue? {
        var current: ConfigValue? = self
        for component in path.split(separator: ".") {
            current = current?[String(component)]
        }
        return current
    }

    /// Returns a copy with `value` set at a dotted path, creating maps on the way.
    public func setting(_ value: ConfigValue, at path: String) -> ConfigValue {
        let components = path.split(separator: ".").map(String.init)
        return setting(value, at: components[...])
    }

    private func setting(_ value: ConfigValue, at path: ArraySlice<String>) -> ConfigValue {
        guard let first = path.first else { return value }
        var map: [String: ConfigValue] = [:]
        if case .map(let existing) = self { map = existing }
        map[first] = (map[first] ?? .null).setting(value, at: path.dropFirst())
        return .map(map)
    }

    /// Deep merge: maps merge key by key, `other` wins for everything else.
    public func merged(with other: ConfigValue) -> ConfigValue {
        guard case .map(let base) = self, case .map(let top) = other else { return other }
        var result = base
        for (key, value) in top {
            result[key] = result[key].map { $0.merged(with: value) } ?? value
        }
        return .map(result)
    }

    public var intValue: Int? { if case .int(let v) = self { v } else { nil } }
    public var doubleValue: Double? {
        switch self {
        case .double(let v): v
        case .int(let v): Double(v)
        default: nil
        }
    }
    public var stringValue: String? { if case .string(let v) = self { v } else { nil } }
    public var boolValue: Bool? { if case .bool(let v) = self { v } else { nil } }
}

/// Canonical JSON: sorted keys, no spaces, numbers normalised (an integral double is written
/// as an integer-looking "2.0"-free form only when the schema says integer; doubles always use
/// the shortest round-trip form). Equal resolved specs give equal bytes, hence equal run ids.
public enum CanonicalJSON {
    public static func encode(_ value: ConfigValue) -> String {
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

import Foundation

/// Decodes a resolved section into its Codable struct (snake_case keys → camelCase properties).
public enum ConfigDecoding {
    public static func decode<T: Decodable>(_ type: T.Type, from value: ConfigValue) throws -> T {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(T.self, from: Data(CanonicalJSON.encode(value).utf8))
    }
}

// Literals make specs in code and tests read like YAML.
extension ConfigValue: ExpressibleByDictionaryLiteral, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByNilLiteral {
    public init(dictionaryLiteral elements: (String, ConfigValue)...) {
        self = .map(Dictionary(elements, uniquingKeysWith: { $1 }))
    }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: ConfigValue...) { self = .list(elements) }
    public init(nilLiteral: ()) { self = .null }
}
