/// Checks a value against a section and fills in defaults. Every problem is collected (not just
/// the first); the result is the resolved value, meaningful only when `problems` is empty.
public struct Resolver {
    public private(set) var problems: [ConfigProblem] = []
    public var file: String?

    public init(file: String? = nil) { self.file = file }

    /// The value of `section` when nothing is given: every field at its default. The section must
    /// have a default for every required field.
    public static func defaults(of section: Section) -> ConfigValue {
        var resolver = Resolver()
        let value = resolver.resolve(nil, against: section, at: "")
        precondition(resolver.problems.isEmpty, "a section without defaults: \(resolver.problems)")
        return value
    }

    public mutating func resolve(_ value: ConfigValue?, against section: Section, at path: String) -> ConfigValue {
        let given: [String: ConfigValue]
        switch value {
        case nil, .null?:
            given = [:]
        case .map(let map)?:
            given = map
        case let other?:
            report(path, "expected a mapping, got \(other.typeName) (\(other))")
            return .map([:])
        }
        let known = Set(section.fields.map(\.key))
        for key in given.keys.sorted() where !known.contains(key) {
            let suggestion = Self.closest(to: key, in: section.fields.map(\.key))
            report(Self.join(path, key), "unknown key" + (suggestion.map { "; did you mean '\($0)'?" } ?? "")
                   + " (known keys: \(section.fields.map(\.key).joined(separator: ", ")))")
        }
        var resolved: [String: ConfigValue] = [:]
        for field in section.fields {
            let fieldPath = Self.join(path, field.key)
            if let value = given[field.key] {
                resolved[field.key] = check(value, field.type, at: fieldPath)
            } else if case .section(let inner) = field.type {
                resolved[field.key] = resolve(field.defaultValue, against: inner, at: fieldPath)
            } else if let defaultValue = field.defaultValue {
                resolved[field.key] = defaultValue
            } else if case .optional = field.type {
                if !field.omittedWhenAbsent { resolved[field.key] = .null }
            } else {
                report(fieldPath, "required key is missing (expected \(field.type.summary): \(field.doc))")
            }
        }
        return .map(resolved)
    }

    mutating func check(_ value: ConfigValue, _ type: FieldType, at path: String) -> ConfigValue {
        switch type {
        case .any:
            return value
        case .optional(let inner):
            if value == .null { return .null }
            return check(value, inner, at: path)
        case .section(let section):
            return resolve(value, against: section, at: path)
        case .bool:
            if case .bool = value { return value }
        case .string:
            if case .string = value { return value }
        case .choice(let words):
            if case .string(let word) = value {
                if words.contains(word) { return value }
                let suggestion = Self.closest(to: word, in: words)
                report(path, "expected one of \(words.joined(separator: " | ")), got '\(word)'"
                       + (suggestion.map { "; did you mean '\($0)'?" } ?? ""))
                return value
            }
        case .int(let lo, let hi):
            var number: Int?
            if case .int(let v) = value { number = v }
            if case .double(let v) = value, v == v.rounded(), abs(v) < 1e15 { number = Int(v) }
            if let number {
                if let lo, number < lo { report(path, "expected an integer ≥ \(lo), got \(number)") }
                if let hi, number > hi { report(path, "expected an integer ≤ \(hi), got \(number)") }
                return .int(number)
            }
        case .double(let lo, let hi, let exclusive):
            if let number = value.doubleValue {
                if !number.isFinite { report(path, "expected a finite number, got \(number)") }
                if let lo, exclusive ? number <= lo : number < lo {
                    report(path, "expected a number \(exclusive ? ">" : "≥") \(CanonicalJSON.number(lo)), got \(value)")
                }
                if let hi, number > hi { report(path, "expected a number ≤ \(CanonicalJSON.number(hi)), got \(value)") }
                return .double(number)  // 1 and 1.0 resolve alike
            }
        case .list(let element):
            if case .list(let items) = value {
                return .list(items.enumerated().map { check($1, element, at: "\(path)[\($0)]") })
            }
        }
        report(path, "expected \(type.summary), got \(value.typeName) (\(value))")
        return value
    }

    public mutating func report(_ path: String, _ message: String) {
        problems.append(ConfigProblem(file: file, path: path, message))
    }

    public static func join(_ path: String, _ key: String) -> String {
        path.isEmpty ? key : "\(path).\(key)"
    }

    /// The candidate closest to `word` by edit distance, if it is close enough to be a typo.
    public static func closest(to word: String, in candidates: [String]) -> String? {
        let scored = candidates.map { ($0, editDistance(word.lowercased(), $0.lowercased())) }
        guard let best = scored.min(by: { $0.1 < $1.1 }) else { return nil }
        return best.1 <= max(2, word.count / 3) ? best.0 : nil
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = previous
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}

/// Documentation of a section tree as Markdown rows: key path, type, default, meaning.
public enum SchemaDocs {
    public static func rows(_ section: Section, prefix: String) -> [(path: String, type: String, defaultValue: String, doc: String)] {
        var rows: [(String, String, String, String)] = []
        for field in section.fields {
            let path = Resolver.join(prefix, field.key)
            if case .section(let inner) = field.type {
                rows.append((path, "mapping", "", field.doc))
                rows += self.rows(inner, prefix: path)
            } else if case .optional(.section(let inner)) = field.type {
                rows.append((path, "mapping or null", "null", field.doc + "; when given, its keys are:"))
                rows += self.rows(inner, prefix: path)
            } else {
                let defaultText = field.defaultValue.map { $0.description } ?? (isOptional(field.type) ? "null" : "required")
                rows.append((path, field.type.summary, defaultText, field.doc))
            }
        }
        return rows
    }

    static func isOptional(_ type: FieldType) -> Bool {
        if case .optional = type { return true }
        return false
    }
}
