// The spec's `table` section as Analysis reads it (handed over as JSON by the CLI, which owns
// YAML): a paper's reference numbers, the baseline row, display labels, a solve threshold, the
// significance level and correction, and the pre-registered claims. Format: docs/analysis.md.
//
//   table:
//     alpha: 0.05                 # family-wise (holm) or false discovery rate (bh)
//     correct: holm               # holm | bh | none
//     labels:
//       - {match: {model.ffn.moe.balance.aux: batch}, label: aux loss}
//     reference:
//       source: "Wang et al. 2024 (arXiv 2408.15664), Table 2, 1B"
//       units: {ppl: per token}
//       rows:
//         - match: {model.ffn.moe.balance.loss_free.enabled: false}
//           ppl: "9.56"           # text keeps the paper's digits; a number prints as written
//     baseline: {model.ffn.moe.balance.loss_free.enabled: false}
//     # or: baseline: {match: {…}, metrics: [final_loss, maxvio_global]}
//     solve: {metric: accuracy, at_least: 0.99}
//     claims:
//       - name: loss-free balances better than the aux loss
//         metric: maxvio_global
//         a: {match: {model.ffn.moe.balance.loss_free.enabled: true}}
//         b: {match: {model.ffn.moe.balance.aux: batch}}
//         expect: less            # less | greater | equivalent
//         min_effect: 0.1
import Foundation

public struct TableSettings: Sendable, Equatable {
    public struct ReferenceRow: Sendable, Equatable {
        /// Dotted key path → value: the sweep row(s) whose assignments have all of these.
        public var match: [String: JSONValue]
        /// MetricColumn id → the paper's number.
        public var values: [String: Double]
        /// MetricColumn id → the paper's number as it prints it, when given as text ("9.50").
        public var texts: [String: String]
        public init(match: [String: JSONValue], values: [String: Double], texts: [String: String] = [:]) {
            self.match = match
            self.values = values
            self.texts = texts
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

    /// A display name for the rows a selector matches (the first matching label wins).
    public struct Label: Sendable, Equatable {
        public var match: [String: JSONValue]
        public var label: String
        public init(match: [String: JSONValue], label: String) { self.match = match; self.label = label }
    }

    /// A threshold that turns a metric into solved / not solved per seed (a solve rate per row).
    public struct Solve: Sendable, Equatable {
        public var metric: String
        public var threshold: Double
        /// true: solved when value ≥ threshold; false: when value ≤ threshold.
        public var atLeast: Bool
        public init(metric: String, threshold: Double, atLeast: Bool) {
            self.metric = metric
            self.threshold = threshold
            self.atLeast = atLeast
        }
        public func solved(_ value: Double) -> Bool { atLeast ? value >= threshold : value <= threshold }
        public var text: String { "\(metric) \(atLeast ? "≥" : "≤") \(JSONValue.double(threshold).canonical)" }
    }

    /// Where the reference numbers come from (shown under the table).
    public var referenceSource: String
    /// MetricColumn id → the paper's unit for its reference column ("per token").
    public var referenceUnits: [String: String]
    public var reference: [ReferenceRow]
    public var baseline: Baseline?
    public var labels: [Label]
    public var solve: Solve?
    /// Significance level after correction (claims, contrasts, bold marks).
    public var alpha: Double
    public var correction: Correction
    public var claims: [ClaimSpec]

    public init(referenceSource: String = "", referenceUnits: [String: String] = [:], reference: [ReferenceRow] = [],
                baseline: Baseline? = nil, labels: [Label] = [], solve: Solve? = nil, alpha: Double = 0.05,
                correction: Correction = .holm, claims: [ClaimSpec] = []) {
        self.referenceSource = referenceSource
        self.referenceUnits = referenceUnits
        self.reference = reference
        self.baseline = baseline
        self.labels = labels
        self.solve = solve
        self.alpha = alpha
        self.correction = correction
        self.claims = claims
    }

    static let keys = ["alpha", "correct", "labels", "reference", "baseline", "solve", "claims"]

    /// Parses the `table` section given as JSON text (`null` or empty = no settings). Errors
    /// name the key path (`table.reference.rows[1].ppl`).
    public static func parse(json: String) throws -> TableSettings {
        let trimmed = json.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty { return TableSettings() }
        return try parse(try JSONValue.parse(trimmed))
    }

    static func metricList() -> String { MetricColumn.all.map(\.id).joined(separator: ", ") }

    static func metric(_ value: JSONValue?, path: String) throws -> String {
        guard let id = value?.stringValue else { throw AnalysisError("\(path): expected a metric name (one of \(metricList()))") }
        guard MetricColumn.named(id) != nil else { throw AnalysisError("\(path): unknown metric '\(id)' (expected one of \(metricList()))") }
        return id
    }

    public static func parse(_ value: JSONValue) throws -> TableSettings {
        var settings = TableSettings()
        if value == .null { return settings }
        guard case .map(let table) = value else { throw AnalysisError("table: expected a mapping, got \(value)") }
        for key in table.keys.sorted() where !keys.contains(key) {
            throw AnalysisError("table.\(key): unknown key (expected \(keys.joined(separator: ", ")))")
        }
        switch table["alpha"] {
        case nil, .null?: break
        case .double(let a)? where a > 0 && a < 1: settings.alpha = a
        case let other?: throw AnalysisError("table.alpha: expected a number between 0 and 1 (e.g. 0.05), got \(other)")
        }
        switch table["correct"] {
        case nil, .null?: break
        case .string(let s)?:
            guard let c = Correction(rawValue: s) else { throw AnalysisError("table.correct: expected holm, bh or none, got '\(s)'") }
            settings.correction = c
        case let other?: throw AnalysisError("table.correct: expected holm, bh or none, got \(other)")
        }
        switch table["labels"] {
        case nil, .null?: break
        case .list(let items)?:
            for (index, item) in items.enumerated() {
                let path = "table.labels[\(index)]"
                guard case .map(let fields) = item, let label = fields["label"]?.stringValue, !label.isEmpty else {
                    throw AnalysisError("\(path): expected {match: {path: value}, label: text}")
                }
                for key in fields.keys.sorted() where key != "match" && key != "label" {
                    throw AnalysisError("\(path).\(key): unknown key (expected match, label)")
                }
                settings.labels.append(Label(match: try matchMapping(fields["match"] ?? .null, path: path + ".match"), label: label))
            }
        case let other?: throw AnalysisError("table.labels: expected a list of {match: {…}, label: text}, got \(other)")
        }
        switch table["reference"] {
        case nil, .null?: break
        case .map(let reference)?:
            for key in reference.keys.sorted() where !["source", "rows", "units"].contains(key) {
                throw AnalysisError("table.reference.\(key): unknown key (expected source, units, rows)")
            }
            switch reference["source"] {
            case nil, .null?: break
            case .string(let s)?: settings.referenceSource = s
            case let other?: throw AnalysisError("table.reference.source: expected text, got \(other)")
            }
            switch reference["units"] {
            case nil, .null?: break
            case .map(let units)?:
                for (key, unit) in units {
                    _ = try metric(.string(key), path: "table.reference.units.\(key)")
                    guard let text = unit.stringValue else { throw AnalysisError("table.reference.units.\(key): expected text, got \(unit)") }
                    settings.referenceUnits[key] = text
                }
            case let other?: throw AnalysisError("table.reference.units: expected {metric: unit text}, got \(other)")
            }
            guard case .list(let rows)? = reference["rows"] else {
                throw AnalysisError("table.reference.rows: expected a list of {match: {…}, <metric>: number, …}")
            }
            for (index, row) in rows.enumerated() {
                let path = "table.reference.rows[\(index)]"
                guard case .map(let fields) = row else { throw AnalysisError("\(path): expected a mapping") }
                let match = try matchMapping(fields["match"] ?? .map([:]), path: path + ".match")
                var values: [String: Double] = [:], texts: [String: String] = [:]
                for (key, value) in fields where key != "match" {
                    _ = try metric(.string(key), path: "\(path).\(key)")
                    if let number = value.numberValue {
                        values[key] = number
                    } else if let text = value.stringValue, let number = Double(text.trimmingCharacters(in: .whitespaces)) {
                        values[key] = number
                        texts[key] = text.trimmingCharacters(in: .whitespaces)
                    } else {
                        throw AnalysisError("\(path).\(key): expected a number (or a number as text, to keep its digits), got \(value)")
                    }
                }
                settings.reference.append(ReferenceRow(match: match, values: values, texts: texts))
            }
        case let other?:
            throw AnalysisError("table.reference: expected {source: text, rows: [...]}, got \(other)")
        }
        switch table["baseline"] {
        case nil, .null?: break
        case .map(let fields)? where fields["match"] != nil:
            for key in fields.keys.sorted() where key != "match" && key != "metrics" {
                throw AnalysisError("table.baseline.\(key): unknown key (expected match, metrics)")
            }
            var metrics = ["final_loss"]
            if let list = fields["metrics"] {
                guard case .list(let items) = list, !items.isEmpty else {
                    throw AnalysisError("table.baseline.metrics: expected a non-empty list of metric names")
                }
                metrics = try items.enumerated().map { try metric($1, path: "table.baseline.metrics[\($0)]") }
            }
            settings.baseline = Baseline(match: try matchMapping(fields["match"]!, path: "table.baseline.match"), metrics: metrics)
        case let value?:
            settings.baseline = Baseline(match: try matchMapping(value, path: "table.baseline"))
        }
        switch table["solve"] {
        case nil, .null?: break
        case .map(let fields)?:
            for key in fields.keys.sorted() where !["metric", "at_least", "at_most"].contains(key) {
                throw AnalysisError("table.solve.\(key): unknown key (expected metric, at_least or at_most)")
            }
            let id = try metric(fields["metric"], path: "table.solve.metric")
            switch (fields["at_least"]?.numberValue, fields["at_most"]?.numberValue) {
            case (let t?, nil): settings.solve = Solve(metric: id, threshold: t, atLeast: true)
            case (nil, let t?): settings.solve = Solve(metric: id, threshold: t, atLeast: false)
            default: throw AnalysisError("table.solve: expected exactly one of at_least: number or at_most: number")
            }
        case let other?: throw AnalysisError("table.solve: expected {metric: name, at_least: number}, got \(other)")
        }
        switch table["claims"] {
        case nil, .null?: break
        case .list(let items)?:
            var names: Set<String> = []
            for (index, item) in items.enumerated() {
                let claim = try ClaimSpec.parse(item, path: "table.claims[\(index)]")
                guard names.insert(claim.name).inserted else {
                    throw AnalysisError("table.claims[\(index)].name: '\(claim.name)' is used by an earlier claim")
                }
                settings.claims.append(claim)
            }
        case let other?: throw AnalysisError("table.claims: expected a list of claims, got \(other)")
        }
        return settings
    }

    static func matchMapping(_ value: JSONValue, path: String) throws -> [String: JSONValue] {
        guard case .map(let map) = value else {
            throw AnalysisError("\(path): expected a mapping of dotted key path → value, got \(value)")
        }
        return map
    }

    /// Problems with selectors that match no row, checked before any work against the rows the
    /// spec will produce (each row's assignments). Claims whose a or b match no row or several,
    /// a trend axis no row sets to a number, a baseline that does not name exactly one row.
    public func selectorProblems(rows: [[String: JSONValue]]) -> [(path: String, message: String)] {
        let groups = rows.map { SweepGroup(assignments: $0, label: "", runs: []) }
        var problems: [(String, String)] = []
        func count(_ match: [String: JSONValue]) -> Int { groups.filter { $0.matches(match) }.count }
        if let baseline, count(baseline.match) != 1 {
            problems.append(("table.baseline", "\(JSONValue.map(baseline.match).canonical) matches \(count(baseline.match)) rows; it must name exactly one"))
        }
        for (index, claim) in claims.enumerated() {
            let path = "table.claims[\(index)]"
            switch claim.test {
            case .contrast(let a, let b), .reach(let a, let b):
                let prefix: String
                if case .reach = claim.test { prefix = "\(path).reach." } else { prefix = "\(path)." }
                for (side, match) in [("a", a), ("b", b)] where count(match) != 1 {
                    problems.append(("\(prefix)\(side)", "claim '\(claim.name)': \(JSONValue.map(match).canonical) matches \(count(match)) rows; it must name exactly one"))
                }
            case .trend(let axis, _, let match):
                let rows = groups.filter { $0.matches(match) }
                let levels = Set(rows.compactMap { $0.value(at: axis)?.numberValue })
                if levels.count < 2 {
                    problems.append(("\(path).trend.axis", "claim '\(claim.name)': \(axis) takes \(levels.count) numeric value(s) over the rows; a trend needs at least 2"))
                }
            }
        }
        return problems
    }
}

/// One pre-registered claim: what is expected of a metric, between two rows or along an axis.
public struct ClaimSpec: Sendable, Equatable {
    public enum Expectation: String, Sendable, Equatable, CaseIterable {
        /// a − b < 0, or a negative slope.
        case less
        /// a − b > 0, or a positive slope.
        case greater
        /// |a − b| < min_effect (two one-sided tests).
        case equivalent
    }

    public enum Scale: String, Sendable, Equatable, CaseIterable {
        case linear, log2, log10, ln
        public func apply(_ x: Double) -> Double {
            switch self {
            case .linear: x
            case .log2: Foundation.log2(x)
            case .log10: Foundation.log10(x)
            case .ln: Foundation.log(x)
            }
        }
        /// "per doubling of experts", "per unit of kv_rank".
        public func unitText(_ axis: String) -> String {
            let short = SweepData.shortName(axis)
            switch self {
            case .linear: return "per unit of \(short)"
            case .log2: return "per doubling of \(short)"
            case .log10: return "per tenfold \(short)"
            case .ln: return "per e-fold \(short)"
            }
        }
    }

    public enum Test: Sendable, Equatable {
        /// Paired over seeds: row a against row b.
        case contrast(a: [String: JSONValue], b: [String: JSONValue])
        /// Slope of the metric on scale(axis) over the rows that match, seeds as blocks.
        case trend(axis: String, scale: Scale, match: [String: JSONValue])
        /// Per seed: the tokens a's eval-loss curve needs to reach b's value of the metric
        /// (final_loss or best_loss), over b's tokens; the mean ratio against 1.
        case reach(a: [String: JSONValue], b: [String: JSONValue])

        /// The rows a and b of a two-row test (contrast, reach).
        public var rows: (a: [String: JSONValue], b: [String: JSONValue])? {
            switch self {
            case .contrast(let a, let b), .reach(let a, let b): (a, b)
            case .trend: nil
            }
        }
    }

    /// The metrics whose value a reach claim's curve (eval loss) can be read against.
    public static let reachMetrics = ["final_loss", "best_loss"]

    public var name: String
    public var metric: String
    public var test: Test
    public var expect: Expectation
    /// The smallest effect worth detecting, in the metric's unit (per unit of scale for trends):
    /// the equivalence margin, and the effect the seeds-needed figure is computed for.
    public var minEffect: Double?

    public init(name: String, metric: String, test: Test, expect: Expectation, minEffect: Double?) {
        self.name = name
        self.metric = metric
        self.test = test
        self.expect = expect
        self.minEffect = minEffect
    }

    static func parse(_ value: JSONValue, path: String) throws -> ClaimSpec {
        guard case .map(let fields) = value else { throw AnalysisError("\(path): expected a mapping {name, metric, a, b | trend | reach, expect, min_effect}") }
        let known = ["name", "metric", "a", "b", "trend", "reach", "expect", "min_effect"]
        for key in fields.keys.sorted() where !known.contains(key) {
            throw AnalysisError("\(path).\(key): unknown key (expected \(known.joined(separator: ", ")))")
        }
        guard let name = fields["name"]?.stringValue, !name.isEmpty else { throw AnalysisError("\(path).name: expected the claim's name as text") }
        let path = "\(path) ('\(name)')"
        let metric = try TableSettings.metric(fields["metric"], path: "\(path).metric")
        guard let expectText = fields["expect"]?.stringValue, let expect = Expectation(rawValue: expectText) else {
            throw AnalysisError("\(path).expect: expected less, greater or equivalent, got \(fields["expect"].map { "\($0)" } ?? "nothing")")
        }
        var minEffect: Double?
        switch fields["min_effect"] {
        case nil, .null?: break
        case .double(let x)? where x > 0 && x.isFinite: minEffect = x
        case .int(let n)? where n > 0: minEffect = Double(n)   // `min_effect: 100` is as good as 100.0
        case let other?: throw AnalysisError("\(path).min_effect: expected a positive number in the metric's unit, got \(other)")
        }
        if expect == .equivalent && minEffect == nil {
            throw AnalysisError("\(path).min_effect: an equivalent claim needs its margin (the largest difference that counts as no difference)")
        }
        let test: Test
        switch (fields["a"], fields["b"], fields["trend"] ?? fields["reach"]) {
        case (nil, nil, let reach?) where fields["reach"] != nil:
            guard fields["trend"] == nil else { throw AnalysisError("\(path): a claim has either trend or reach, not both") }
            guard case .map(let rows) = reach else { throw AnalysisError("\(path).reach: expected {a: {match: {…}}, b: {match: {…}}}") }
            for key in rows.keys.sorted() where !["a", "b"].contains(key) {
                throw AnalysisError("\(path).reach.\(key): unknown key (expected a, b)")
            }
            guard let a = rows["a"], let b = rows["b"] else { throw AnalysisError("\(path).reach: expected both a and b (each {match: {…}})") }
            guard reachMetrics.contains(metric) else {
                throw AnalysisError("\(path).metric: a reach claim reads a's eval-loss curve against b's \(reachMetrics.joined(separator: " or ")), got \(metric)")
            }
            test = .reach(a: try selector(a, path: "\(path).reach.a"), b: try selector(b, path: "\(path).reach.b"))
        case (let a?, let b?, nil):
            test = .contrast(a: try selector(a, path: "\(path).a"), b: try selector(b, path: "\(path).b"))
        case (nil, nil, .map(let trend)?):
            for key in trend.keys.sorted() where !["axis", "scale", "match"].contains(key) {
                throw AnalysisError("\(path).trend.\(key): unknown key (expected axis, scale, match)")
            }
            guard let axis = trend["axis"]?.stringValue, !axis.isEmpty else { throw AnalysisError("\(path).trend.axis: expected a dotted key path") }
            var scale = Scale.linear
            if let s = trend["scale"] {
                guard let text = s.stringValue, let parsed = Scale(rawValue: text) else {
                    throw AnalysisError("\(path).trend.scale: expected linear, log2, log10 or ln, got \(s)")
                }
                scale = parsed
            }
            if expect == .equivalent { throw AnalysisError("\(path).expect: a trend claim expects less or greater") }
            test = .trend(axis: axis, scale: scale, match: try TableSettings.matchMapping(trend["match"] ?? .map([:]), path: "\(path).trend.match"))
        default:
            throw AnalysisError("\(path): expected either a and b (two rows, each {match: {…}}), trend: {axis, scale} or reach: {a, b}")
        }
        return ClaimSpec(name: name, metric: metric, test: test, expect: expect, minEffect: minEffect)
    }

    static func selector(_ value: JSONValue, path: String) throws -> [String: JSONValue] {
        guard case .map(let fields) = value, let match = fields["match"] else {
            throw AnalysisError("\(path): expected {match: {path: value}}")
        }
        for key in fields.keys.sorted() where key != "match" { throw AnalysisError("\(path).\(key): unknown key (expected match)") }
        return try TableSettings.matchMapping(match, path: "\(path).match")
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
