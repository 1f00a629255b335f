// The spec's `table` section as Analysis reads it (handed over as JSON by the CLI, which owns
// YAML): a paper's reference numbers and the baseline row. Format: docs/analysis.md.
//
//   table:
//     reference:
//       source: "Wang et al. 2024 (arXiv 2408.15664), Table 2, 1B"
//       rows:
//         - match: {model.ffn.moe.balance.loss_free.enabled: false}
//           ppl: 9.56
//           maxvio_global: 0.72
//     baseline: {model.ffn.moe.balance.loss_free.enabled: false}
//     # or: baseline: {match: {…}, metrics: [final_loss, maxvio_global]}
import Foundation

public struct TableSettings: Sendable, Equatable {
    public struct ReferenceRow: Sendable, Equatable {
        /// Dotted key path → value: the sweep row(s) whose assignments have all of these.
        public var match: [String: JSONValue]
        /// MetricColumn id → the paper's number.
        public var values: [String: Double]
        public init(match: [String: JSONValue], values: [String: Double]) {
            self.match = match
            self.values = values
        }
    }

    public struct Baseline: Sendable, Equatable {
        public var match: [String: JSONValue]
        /// MetricColumn ids compared against the baseline (default: final_loss).
        public var metrics: [String]
        public init(match: [String: JSONValue], metrics: [String] = ["final_loss"]) {
            self.match = match
            self.metrics = metrics
        }
    }

    /// Where the reference numbers come from (shown under the table).
    public var referenceSource: String
    public var reference: [ReferenceRow]
    public var baseline: Baseline?

    public init(referenceSource: String = "", reference: [ReferenceRow] = [], baseline: Baseline? = nil) {
        self.referenceSource = referenceSource
        self.reference = reference
        self.baseline = baseline
    }

    /// Parses the `table` section given as JSON text (`null` or empty = no settings). Errors
    /// name the key path (`table.reference.rows[1].ppl`).
    public static func parse(json: String) throws -> TableSettings {
        let trimmed = json.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty { return TableSettings() }
        return try parse(try JSONValue.parse(trimmed))
    }

    public static func parse(_ value: JSONValue) throws -> TableSettings {
        var settings = TableSettings()
        if value == .null { return settings }
        guard case .object(let table) = value else { throw AnalysisError("table: expected a mapping, got \(value)") }
        for key in table.keys where key != "reference" && key != "baseline" {
            throw AnalysisError("table.\(key): unknown key (expected reference, baseline)")
        }
        switch table["reference"] {
        case nil, .null?: break
        case .object(let reference)?:
            for key in reference.keys where key != "source" && key != "rows" {
                throw AnalysisError("table.reference.\(key): unknown key (expected source, rows)")
            }
            switch reference["source"] {
            case nil, .null?: break
            case .string(let s)?: settings.referenceSource = s
            case let other?: throw AnalysisError("table.reference.source: expected text, got \(other)")
            }
            guard case .array(let rows)? = reference["rows"] else {
                throw AnalysisError("table.reference.rows: expected a list of {match: {…}, <metric>: number, …}")
            }
            for (index, row) in rows.enumerated() {
                let path = "table.reference.rows[\(index)]"
                guard case .object(let fields) = row else { throw AnalysisError("\(path): expected a mapping") }
                let match = try matchMapping(fields["match"] ?? .object([:]), path: path + ".match")
                var values: [String: Double] = [:]
                for (key, value) in fields where key != "match" {
                    guard MetricColumn.named(key) != nil else {
                        throw AnalysisError("\(path).\(key): unknown metric (expected one of \(MetricColumn.all.map(\.id).joined(separator: ", ")))")
                    }
                    guard let number = value.numberValue else { throw AnalysisError("\(path).\(key): expected a number, got \(value)") }
                    values[key] = number
                }
                settings.reference.append(ReferenceRow(match: match, values: values))
            }
        case let other?:
            throw AnalysisError("table.reference: expected {source: text, rows: [...]}, got \(other)")
        }
        switch table["baseline"] {
        case nil, .null?: break
        case .object(let fields)? where fields["match"] != nil:
            for key in fields.keys where key != "match" && key != "metrics" {
                throw AnalysisError("table.baseline.\(key): unknown key (expected match, metrics)")
            }
            var metrics = ["final_loss"]
            if let list = fields["metrics"] {
                guard case .array(let items) = list, !items.isEmpty, items.allSatisfy({ $0.stringValue != nil }) else {
                    throw AnalysisError("table.baseline.metrics: expected a non-empty list of metric names")
                }
                metrics = items.compactMap(\.stringValue)
                for metric in metrics where MetricColumn.named(metric) == nil {
                    throw AnalysisError("table.baseline.metrics: unknown metric '\(metric)' (expected one of \(MetricColumn.all.map(\.id).joined(separator: ", ")))")
                }
            }
            settings.baseline = Baseline(match: try matchMapping(fields["match"]!, path: "table.baseline.match"), metrics: metrics)
        case let value?:
            settings.baseline = Baseline(match: try matchMapping(value, path: "table.baseline"))
        }
        return settings
    }

    static func matchMapping(_ value: JSONValue, path: String) throws -> [String: JSONValue] {
        guard case .object(let map) = value else {
            throw AnalysisError("\(path): expected a mapping of dotted key path → value, got \(value)")
        }
        return map
    }
}

extension SweepGroup {
    /// True when every (path, value) of `match` is one of this group's assignments.
    /// A path inside an assigned mapping counts too: {model.attention.kind: gqa} matches a cell
    /// that assigns model.attention = {kind: gqa, heads: 4}.
    public func matches(_ match: [String: JSONValue]) -> Bool {
        match.allSatisfy { value(at: $0.key) == $0.value }
    }

    /// This group's value at a dotted path: an assignment of the path itself, or inside an
    /// assignment of one of its prefixes. nil when the cells leave it at the spec's value.
    public func value(at path: String) -> JSONValue? {
        if let exact = assignments[path] { return exact }
        for (key, value) in assignments where path.hasPrefix(key + ".") {
            var current: JSONValue? = value
            for component in path.dropFirst(key.count + 1).split(separator: ".") {
                current = current?[String(component)]
            }
            if let current { return current }
        }
        return nil
    }
}
