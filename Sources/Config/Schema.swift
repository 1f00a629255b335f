/// The type of one spec key, with the constraints validation checks.
public indirect enum FieldType: Sendable {
    case int(min: Int? = nil, max: Int? = nil)
    case double(min: Double? = nil, max: Double? = nil, minExclusive: Bool = false)
    case bool
    case string
    /// One of a closed set of words.
    case choice([String])
    case list(FieldType)
    case section(Section)
    /// A value that may be null (absent = the default, usually null).
    case optional(FieldType)
    /// Any YAML value (checked elsewhere, e.g. sweep cells).
    case any

    public var summary: String {
        switch self {
        case .int(let lo, let hi): "integer" + Self.range(lo.map(String.init), hi.map(String.init))
        case .double(let lo, let hi, let exclusive):
            "number" + Self.range(lo.map { CanonicalJSON.number($0) }, hi.map { CanonicalJSON.number($0) }, exclusive)
        case .bool: "boolean"
        case .string: "string"
        case .choice(let words): words.joined(separator: " | ")
        case .list(let element): "list of \(element.summary)"
        case .section: "mapping"
        case .optional(let inner): "\(inner.summary) or null"
        case .any: "any"
        }
    }

    private static func range(_ lo: String?, _ hi: String?, _ exclusive: Bool = false) -> String {
        switch (lo, hi) {
        case (nil, nil): ""
        case (let lo?, nil): exclusive ? " > \(lo)" : " ≥ \(lo)"
        case (nil, let hi?): " ≤ \(hi)"
        case (let lo?, let hi?): exclusive ? " in (\(lo), \(hi)]" : " in [\(lo), \(hi)]"
        }
    }
}

/// One key of a section: its type, its default (nil = required) and what it means.
public struct Field: Sendable {
    public var key: String
    public var type: FieldType
    public var defaultValue: ConfigValue?
    public var doc: String
    /// An optional key added after run ids were first published: left out of the resolved spec
    /// (so out of run ids) unless a spec gives it, so that every older spec keeps its run ids.
    public var omittedWhenAbsent: Bool

    public init(_ key: String, _ type: FieldType, default defaultValue: ConfigValue? = nil, _ doc: String,
                omittedWhenAbsent: Bool = false) {
        self.key = key
        self.type = type
        self.defaultValue = defaultValue
        self.doc = doc
        self.omittedWhenAbsent = omittedWhenAbsent
    }

    /// A required key (no default).
    public static func required(_ key: String, _ type: FieldType, _ doc: String) -> Field {
        Field(key, type, default: nil, doc)
    }
}

/// A mapping of known keys. A section with defaults for every field may be omitted in a spec.
public struct Section: Sendable {
    public var doc: String
    public var fields: [Field]

    public init(_ doc: String, _ fields: [Field]) {
        self.doc = doc
        self.fields = fields
    }

    public func field(_ key: String) -> Field? { fields.first { $0.key == key } }
}

/// One problem with a spec: where (file and key path) and what was expected.
public struct ConfigProblem: Error, Equatable, Sendable, CustomStringConvertible {
    public var file: String?
    public var path: String
    public var message: String

    public init(file: String? = nil, path: String, _ message: String) {
        self.file = file
        self.path = path
        self.message = message
    }

    public var description: String {
        let location = [file, path.isEmpty ? nil : path].compactMap { $0 }.joined(separator: ": ")
        // One line whatever the input held (a key or an override may contain line breaks).
        return Self.oneLine(location.isEmpty ? message : "\(location): \(message)")
    }

    static func oneLine(_ text: String) -> String {
        guard text.contains(where: { $0.isNewline }) else { return text }
        return String(text.flatMap { $0 == "\n" ? "\\n" : $0 == "\r" ? "\\r" : $0.isNewline ? " " : String($0) })
    }
}

/// All problems found, reported together.
public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    public var problems: [ConfigProblem]
    public init(_ problems: [ConfigProblem]) { self.problems = problems }
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}
