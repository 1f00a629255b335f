// JSON out: what the dashboard's endpoints return. Non-finite numbers become null (JSON has no
// NaN); keys keep the order they were given, so responses are stable for tests and caches.
import Foundation

public indirect enum JSON: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case number(Double)
    case string(String)
    case array([JSON])
    case object(KeyValuePairs)

    /// Ordered key-value pairs (a dictionary literal keeps its order here).
    public struct KeyValuePairs: Sendable, Equatable, ExpressibleByDictionaryLiteral {
        public var pairs: [(String, JSON)]
        public init(_ pairs: [(String, JSON)]) { self.pairs = pairs }
        public init(dictionaryLiteral elements: (String, JSON)...) { pairs = elements }
        public static func == (a: Self, b: Self) -> Bool {
            a.pairs.count == b.pairs.count && zip(a.pairs, b.pairs).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        }
        public mutating func append(_ key: String, _ value: JSON) { pairs.append((key, value)) }
    }

    public static func numbers(_ values: [Double]) -> JSON { .array(values.map { .number($0) }) }
    public static func ints<T: BinaryInteger>(_ values: [T]) -> JSON { .array(values.map { .int(Int($0)) }) }
    public static func strings(_ values: [String]) -> JSON { .array(values.map { .string($0) }) }

    public var text: String {
        var out = ""
        write(&out)
        return out
    }

    func write(_ out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .number(let x):
            if !x.isFinite { out += "null" }
            else if x == x.rounded(), abs(x) < 1e15 { out += String(Int64(x)) }
            else { out += "\(x)" }
        case .string(let s): Self.quote(s, &out)
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.write(&out)
            }
            out += "]"
        case .object(let map):
            out += "{"
            for (i, (key, value)) in map.pairs.enumerated() {
                if i > 0 { out += "," }
                Self.quote(key, &out)
                out += ":"
                value.write(&out)
            }
            out += "}"
        }
    }

    static func quote(_ s: String, _ out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "<": out += "\\u003c"   // never "</script>" in a response, whatever a label holds
            default:
                if scalar.value < 0x20 { out += String(format: "\\u%04x", scalar.value) }
                else { out.unicodeScalars.append(scalar) }
            }
        }
        out += "\""
    }
}

extension JSON: ExpressibleByDictionaryLiteral, ExpressibleByArrayLiteral, ExpressibleByStringLiteral {
    public init(dictionaryLiteral elements: (String, JSON)...) { self = .object(KeyValuePairs(elements)) }
    public init(arrayLiteral elements: JSON...) { self = .array(elements) }
    public init(stringLiteral value: String) { self = .string(value) }
}
