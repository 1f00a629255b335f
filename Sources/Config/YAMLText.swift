/// Writes a ConfigValue as block-style YAML with sorted keys (used to print and store resolved
/// specs). Strings are quoted whenever plain YAML could read them as another type.
public enum YAMLText {
    public static func emit(_ value: ConfigValue) -> String {
        var lines: [String] = []
        emit(value, indent: 0, into: &lines)
        return lines.joined(separator: "\n") + "\n"
    }

    private static func emit(_ value: ConfigValue, indent: Int, into lines: inout [String]) {
        let pad = String(repeating: "  ", count: indent)
        switch value {
        case .map(let map) where !map.isEmpty:
            for key in map.keys.sorted() {
                let child = map[key]!
                if isBlock(child) {
                    lines.append("\(pad)\(key):")
                    emit(child, indent: indent + 1, into: &lines)
                } else {
                    lines.append("\(pad)\(key): \(inline(child))")
                }
            }
        case .list(let items) where !items.isEmpty && items.contains(where: isBlock):
            for item in items {
                var nested: [String] = []
                emit(item, indent: indent + 1, into: &nested)
                if let first = nested.first {
                    lines.append(pad + "- " + first.dropFirst(pad.count + 2))
                    lines += nested.dropFirst()
                }
            }
        default:
            lines.append(pad + inline(value))
        }
    }

    private static func isBlock(_ value: ConfigValue) -> Bool {
        switch value {
        case .map(let map): !map.isEmpty
        case .list(let items): items.contains(where: isBlock)
        default: false
        }
    }

    public static func inline(_ value: ConfigValue) -> String {
        switch value {
        case .null: "null"
        case .bool(let v): v ? "true" : "false"
        case .int(let v): String(v)
        case .double(let v): v.isFinite ? CanonicalJSON.number(v) : (v.isNaN ? ".nan" : (v > 0 ? ".inf" : "-.inf"))
        case .string(let v): needsQuotes(v) ? CanonicalJSON.quote(v) : v
        case .list(let items): "[" + items.map(inline).joined(separator: ", ") + "]"
        case .map(let map): "{" + map.keys.sorted().map { "\($0): \(inline(map[$0]!))" }.joined(separator: ", ") + "}"
        }
    }

    private static func needsQuotes(_ text: String) -> Bool {
        if text.isEmpty { return true }
        let lower = text.lowercased()
        if ["null", "~", "true", "false", "yes", "no", "on", "off", "y", "n"].contains(lower) { return true }
        if Double(text) != nil || Int(text) != nil { return true }
        if let first = text.first, "-?:,[]{}#&*!|>'\"%@` ".contains(first) { return true }
        if text.last == " " || text.contains(": ") || text.contains(" #") || text.contains("\n") { return true }
        return false
    }
}
