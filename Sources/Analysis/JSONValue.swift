// A small JSON value: sweep.json stores each cell's assignments as JSON text, and the CLI hands
// the spec's `table` section over as JSON. Parsed here (not with JSONSerialization, whose
// numbers and booleans blur on Linux) so that values compare exactly: 1 == 1.0, keys unordered.
import Config
import Foundation

public indirect enum JSONValue: Sendable, Equatable, CustomStringConvertible {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    /// Keys sorted, so equal objects compare equal whatever order they were written in.
    case object([String: JSONValue])

    public subscript(key: String) -> JSONValue? {
        if case .object(let map) = self { return map[key] }
        return nil
    }

    public var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    public var numberValue: Double? { if case .number(let x) = self { return x }; return nil }

    /// Compact JSON with sorted keys; integral numbers without a decimal point.
    public var canonical: String {
        switch self {
        case .null: "null"
        case .bool(let b): b ? "true" : "false"
        case .number(let x): Self.number(x)
        case .string(let s): Self.quote(s)
        case .array(let items): "[" + items.map(\.canonical).joined(separator: ",") + "]"
        case .object(let map): "{" + map.keys.sorted().map { Self.quote($0) + ":" + map[$0]!.canonical }.joined(separator: ",") + "}"
        }
    }

    /// How a value reads in a table cell: strings bare, a mapping as "key=value, …" (sorted),
    /// everything else canonical JSON.
    public var display: String {
        switch self {
        case .string(let s): return s
        case .object(let map): return map.keys.sorted().map { "\($0)=\(map[$0]!.display)" }.joined(separator: ", ")
        default: return canonical
        }
    }

    /// Indented JSON with sorted keys (two spaces), for files people read.
    public var pretty: String { pretty(indent: "") }

    func pretty(indent: String) -> String {
        let inner = indent + "  "
        switch self {
        case .array(let items) where !items.isEmpty:
            if items.allSatisfy({ if case .array = $0 { return false }; if case .object = $0 { return false }; return true }) {
                return canonical
            }
            return "[\n" + items.map { inner + $0.pretty(indent: inner) }.joined(separator: ",\n") + "\n" + indent + "]"
        case .object(let map) where !map.isEmpty:
            return "{\n" + map.keys.sorted().map { inner + Self.quote($0) + ": " + map[$0]!.pretty(indent: inner) }.joined(separator: ",\n") + "\n" + indent + "}"
        default:
            return canonical
        }
    }

    public var description: String { canonical }

    static func number(_ x: Double) -> String {
        if x.isFinite, x == x.rounded(), abs(x) < 1e15 { return String(Int64(x)) }
        return "\(x)"
    }

    /// JSON string literal (the same escaping as the canonical spec JSON).
    static func quote(_ s: String) -> String { CanonicalJSON.quote(s) }

    /// Parses one JSON text (a document or a bare scalar such as `0.001` or `"mla"`).
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

        func error(_ message: String) -> AnalysisError {
            AnalysisError("invalid JSON at byte \(position): \(message) in '\(String(decoding: bytes, as: UTF8.self))'")
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
                if peek == UInt8(ascii: "]") { position += 1; return .array(items) }
                while true {
                    skipSpace()
                    items.append(try value())
                    skipSpace()
                    if peek == UInt8(ascii: ",") { position += 1; continue }
                    if peek == UInt8(ascii: "]") { position += 1; return .array(items) }
                    throw error("expected , or ]")
                }
            case UInt8(ascii: "{"):
                position += 1
                var map: [String: JSONValue] = [:]
                skipSpace()
                if peek == UInt8(ascii: "}") { position += 1; return .object(map) }
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
                    if peek == UInt8(ascii: "}") { position += 1; return .object(map) }
                    throw error("expected , or }")
                }
            default:
                let start = position
                while let c = peek, c == UInt8(ascii: "-") || c == UInt8(ascii: "+") || c == UInt8(ascii: ".")
                        || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") || (c >= 0x30 && c <= 0x39) {
                    position += 1
                }
                guard position > start, let x = Double(String(decoding: bytes[start..<position], as: UTF8.self)) else {
                    throw error("expected a value")
                }
                return .number(x)
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

public struct AnalysisError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
