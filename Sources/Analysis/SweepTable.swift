// The paper-style table of a sweep: one row per group of cells that differ only by seed; the
// varying keys (or the spec's display labels), the model's derived numbers, each metric as the
// mean with its 95% t interval over the completed seeds, the paper's reference numbers, paired
// contrasts against the baseline with corrected p-values, a solve rate with its exact interval,
// and the verdicts of the spec's claims. `SweepTable` holds typed numbers; `sections` lays them
// out as headed columns of typed cells, which every renderer (md, LaTeX, JSON, the dashboard)
// prints; CSV prints the numbers at full precision. Statistics: docs/analysis.md.
import Foundation
import RunStore

public enum TableFormat: String, Sendable, CaseIterable {
    case md, latex, csv, json
}

/// A row against the baseline over the seeds both completed.
public struct Contrast: Sendable, Equatable {
    public var differences: PairedDifferences
    public var interval: Interval
    public var p: Double
    /// p adjusted over every contrast of the table.
    public var pAdjusted: Double
}

/// How many seeds of a row pass the table's solve threshold, with the Clopper–Pearson interval.
public struct SolveRate: Sendable, Equatable {
    public var solved: Int
    public var runs: Int
    public var interval: Interval
}

public struct SweepTable: Sendable {
    public struct Row: Sendable {
        public var group: SweepGroup
        /// The label the spec gives the row, else "key=value, …".
        public var label: String
        /// The group's value of each varying key: "default" where its cells leave the spec's value,
        /// "" where the key does not apply (under a `….enabled: false`).
        public var keyValues: [String]
        /// Derived column id → value (from the first run file of the row that has it).
        public var derived: [String: Int64]
        /// Completed runs and cells of the row in the sweep.
        public var completed: Int
        public var cells: Int
        /// MetricColumn id → mean and std over the completed runs' finite values.
        public var stats: [String: Summary]
        /// MetricColumn id → 95% t interval of the mean.
        public var intervals: [String: Interval]
        /// MetricColumn id → (seed, value) of every completed run, in seed order.
        public var values: [String: [(seed: Int, value: Double)]]
        /// Metric ids in which this row is significantly best after correction.
        public var best: Set<String>
        /// Metric id → the paper's number for this row, and its printed text.
        public var reference: [String: Double]
        public var referenceText: [String: String]
        /// Metric id → the contrast against the baseline (absent in the baseline row itself).
        public var contrasts: [String: Contrast]
        public var isBaseline: Bool
        /// The row's cells that are not completed (diverged, failed, running, missing…).
        public var incomplete: [RunResult]
        public var solve: SolveRate?
    }

    public var title: String
    /// Varying key paths (seed excluded), one column each.
    public var varyingKeys: [String]
    /// Keys a tune block chose per row (sweep.json's `tuned`).
    public var tuned: [String] = []
    public var derivedColumns: [DerivedColumn]
    public var metrics: [MetricColumn]
    /// "byte" for byte-level text, "token" otherwise: the unit of losses and perplexity.
    public var tokenUnit: String
    /// Metrics that have a reference column.
    public var referenceMetrics: [String]
    /// Metrics compared against the baseline (empty without a baseline).
    public var comparedMetrics: [String]
    public var settings: TableSettings
    public var rows: [Row]
    public var claims: [ClaimResult]
    public var notes: [String]
    /// Cells left out of the statistics, by state ("diverged" → 1).
    public var excluded: [String: Int]

    public var alpha: Double { settings.alpha }
    public var correction: Correction { settings.correction }
    public var hasLabels: Bool { !settings.labels.isEmpty }

    /// Builds the table. `metrics`: MetricColumn ids in the order wanted; nil = every metric
    /// that has a finite value in some row. Throws for an unknown metric id or a baseline that
    /// matches no row or several.
    public static func build(_ sweep: SweepData, settings: TableSettings = TableSettings(),
                             metrics wanted: [String]? = nil) throws -> SweepTable {
        var rows: [Row] = sweep.groups.map { group in
            let done = group.completed.sorted { $0.cell.seed < $1.cell.seed }
            var stats: [String: Summary] = [:], intervals: [String: Interval] = [:]
            var values: [String: [(seed: Int, value: Double)]] = [:]
            for metric in MetricColumn.all {
                let v = done.map { (seed: $0.cell.seed, value: $0.metrics[metric.id] ?? .nan) }
                values[metric.id] = v
                stats[metric.id] = Summary(v.map(\.value))
                intervals[metric.id] = stats[metric.id]!.meanInterval()
            }
            var derived: [String: Int64] = [:]
            for run in group.runs { derived.merge(run.derived) { old, _ in old } }
            let label = settings.labels.first { group.matches($0.match) }?.label ?? group.label
            return Row(group: group, label: label,
                       keyValues: sweep.varyingKeys.map { key in
                           applies(key, in: group) ? (group.value(at: key)?.display ?? "default") : "" },
                       derived: derived, completed: done.count, cells: group.runs.count, stats: stats,
                       intervals: intervals, values: values, best: [], reference: [:], referenceText: [:],
                       contrasts: [:], isBaseline: false, incomplete: group.runs.filter { !$0.isComplete }, solve: nil)
        }

        let metrics: [MetricColumn]
        if let wanted {
            metrics = try wanted.map { id in
                guard let metric = MetricColumn.named(id) else {
                    throw AnalysisError("unknown metric '\(id)' (expected one of \(TableSettings.metricList()))")
                }
                return metric
            }
        } else {
            metrics = MetricColumn.all.filter { metric in rows.contains { $0.stats[metric.id]!.n > 0 } }
        }

        // Bold: the best mean, only when its paired difference with every other row with data is
        // significant after correction (over those comparisons) and in its favour.
        for metric in metrics where !metric.isBaseline {
            let withData = rows.indices.filter { rows[$0].stats[metric.id]!.mean.isFinite }
            guard withData.count >= 2 else { continue }
            let better: (Double, Double) -> Bool = metric.lowerIsBetter ? { $0 < $1 } : { $0 > $1 }
            var top = withData[0]
            for i in withData.dropFirst() where better(rows[i].stats[metric.id]!.mean, rows[top].stats[metric.id]!.mean) { top = i }
            let others = withData.filter { $0 != top }
            let tests = others.map { PairedDifferences(a: bySeed(rows[top], metric.id), b: bySeed(rows[$0], metric.id)) }
            let adjusted = settings.correction.adjust(tests.map(\.p))
            let significant = zip(tests, adjusted).allSatisfy { test, p in
                p.isFinite && p < settings.alpha && better(test.estimate, 0)
            }
            if significant { rows[top].best.insert(metric.id) }
        }

        var notes: [String] = []
        // Reference numbers.
        var referenceMetrics: [String] = []
        for (index, reference) in settings.reference.enumerated() {
            let matching = rows.indices.filter { rows[$0].group.matches(reference.match) }
            if matching.isEmpty {
                notes.append("reference row \(index) (\(JSONValue.map(reference.match).canonical)) matches no row of the sweep")
            }
            for i in matching {
                rows[i].reference.merge(reference.values) { _, new in new }
                rows[i].referenceText.merge(reference.texts) { _, new in new }
            }
        }
        for metric in metrics where rows.contains(where: { $0.reference[metric.id] != nil }) {
            referenceMetrics.append(metric.id)
        }
        let shownIDs = Set(metrics.map(\.id))
        let unshown = Set(settings.reference.flatMap(\.values.keys)).subtracting(shownIDs)
        if !unshown.isEmpty {
            notes.append("reference values for \(unshown.sorted().joined(separator: ", ")) are not shown (metric not in the table)")
        }

        // Paired contrasts against the baseline, corrected together.
        var comparedMetrics: [String] = []
        if let baseline = settings.baseline {
            let matching = rows.indices.filter { rows[$0].group.matches(baseline.match) }
            let description = JSONValue.map(baseline.match).canonical
            guard matching.count == 1 else {
                let found = matching.isEmpty ? "no row" : "\(matching.count) rows (" + matching.map { rows[$0].group.label }.joined(separator: "; ") + ")"
                throw AnalysisError("table.baseline \(description) matches \(found); it must name exactly one row of \(rows.map(\.group.label))")
            }
            let base = matching[0]
            rows[base].isBaseline = true
            comparedMetrics = baseline.metrics
            var slots: [(row: Int, metric: String)] = []
            for i in rows.indices where i != base {
                for metric in comparedMetrics {
                    let d = PairedDifferences(a: bySeed(rows[i], metric), b: bySeed(rows[base], metric))
                    rows[i].contrasts[metric] = Contrast(differences: d, interval: d.interval(), p: d.p, pAdjusted: .nan)
                    slots.append((i, metric))
                }
            }
            let adjusted = settings.correction.adjust(slots.map { rows[$0.row].contrasts[$0.metric]!.p })
            for (slot, p) in zip(slots, adjusted) { rows[slot.row].contrasts[slot.metric]!.pAdjusted = p }
        }

        if let solve = settings.solve {
            for i in rows.indices {
                let finite = rows[i].values[solve.metric]!.map(\.value).filter(\.isFinite)
                let k = finite.filter(solve.solved).count
                rows[i].solve = SolveRate(solved: k, runs: finite.count,
                                          interval: ClopperPearson.interval(successes: k, trials: finite.count))
            }
        }

        let claims = ClaimEvaluation.evaluate(settings.claims, groups: sweep.groups, alpha: settings.alpha,
                                              correction: settings.correction)

        let derivedColumns = DerivedColumn.all.filter { column in rows.contains { $0.derived[column.id] != nil } }
        let runs = sweep.runs
        let done = runs.filter(\.isComplete).count
        var excluded: [String: Int] = [:]
        for run in runs where !run.isComplete { excluded[run.stateWord, default: 0] += 1 }
        if done < runs.count {
            let counts = excluded.keys.sorted().map { "\(excluded[$0]!) \($0)" }.joined(separator: ", ")
            notes.append("excluded from the statistics: \(runs.count - done) of \(runs.count) cells (\(counts)); rows marked * miss cells:")
            for run in runs where !run.isComplete {
                notes.append("  cell \(run.cell.index) \(run.cell.label) (\(run.cell.runID)): \(run.stateText)")
            }
        }
        let tokenUnit = runs.first { $0.isComplete && $0.tokenUnit != nil }?.tokenUnit ?? runs.compactMap(\.tokenUnit).first ?? "token"
        var table = SweepTable(title: sweep.manifest.spec, varyingKeys: sweep.varyingKeys, derivedColumns: derivedColumns,
                               metrics: metrics, tokenUnit: tokenUnit, referenceMetrics: referenceMetrics,
                               comparedMetrics: comparedMetrics, settings: settings, rows: rows, claims: claims, notes: notes,
                               excluded: excluded)
        table.tuned = sweep.manifest.tuned ?? []
        return table
    }

    static func bySeed(_ row: Row, _ metric: String) -> [Int: Double] {
        row.values[metric]!.reduce(into: [:]) { $0[$1.seed] = $1.value }
    }

    /// False for a key under a switch the row turns off: model.….loss_free.rate where
    /// model.….loss_free.enabled is false in that row.
    static func applies(_ key: String, in group: SweepGroup) -> Bool {
        var parts = key.split(separator: ".").map(String.init)
        while parts.count > 1 {
            parts.removeLast()
            let switchKey = parts.joined(separator: ".") + ".enabled"
            if switchKey != key, group.value(at: switchKey) == .bool(false) { return false }
        }
        return true
    }
}

// MARK: Layout: headed columns of typed cells

/// One column: its id (stable, for scripts), title, unit ("" for none) and alignment.
public struct TableColumn: Sendable, Equatable {
    public var id: String
    public var title: String
    public var unit: String
    public var numeric: Bool
    public init(_ id: String, _ title: String, unit: String = "", numeric: Bool = true) {
        self.id = id
        self.title = title
        self.unit = unit
        self.numeric = numeric
    }
    /// "final eval loss [nats/byte]".
    public var heading: String { unit.isEmpty ? title : "\(title) [\(unit)]" }
}

/// One cell: the text every renderer prints, the number behind it (full precision) with its
/// interval when there is one, and whether it is bold.
public struct TableCell: Sendable, Equatable {
    public var text: String
    public var value: Double?
    public var low: Double?
    public var high: Double?
    public var bold: Bool
    public init(_ text: String, value: Double? = nil, low: Double? = nil, high: Double? = nil, bold: Bool = false) {
        self.text = text
        self.value = value.flatMap { $0.isFinite ? $0 : nil }
        self.low = low.flatMap { $0.isFinite ? $0 : nil }
        self.high = high.flatMap { $0.isFinite ? $0 : nil }
        self.bold = bold
    }
    public static let empty = TableCell("")
}

public struct TableSection: Sendable, Equatable {
    /// "rows", "contrasts" or "claims".
    public var id: String
    public var title: String
    public var columns: [TableColumn]
    public var rows: [[TableCell]]
    public var legend: [String]
}

extension SweepTable {
    static func fixed(_ x: Double, _ digits: Int) -> String { x.isFinite ? String(format: "%.\(digits)f", x) : "—" }
    static func signed(_ x: Double, _ digits: Int) -> String { x.isFinite ? (x >= 0 ? "+" : "") + fixed(x, digits) : "—" }

    static func pValue(_ p: Double) -> String {
        if !p.isFinite { return "n/a" }
        return p < 0.001 ? "<0.001" : String(format: "%.3f", p)
    }

    /// 15712 → "15.7K", 2_400_000 → "2.40M": parameter counts read like a paper's.
    static func compact(_ value: Int64) -> String {
        let x = Double(value)
        switch abs(x) {
        case 1e9...: return String(format: "%.2fB", x / 1e9)
        case 1e6...: return String(format: "%.2fM", x / 1e6)
        case 1e4...: return String(format: "%.1fK", x / 1e3)
        default: return String(value)
        }
    }

    /// "[−0.061, +0.124]".
    static func bracket(_ interval: Interval, _ digits: Int, signed: Bool = false) -> String {
        guard interval.exists else { return "" }
        let f = signed ? { Self.signed($0, digits) } : { Self.fixed($0, digits) }
        return "[\(f(interval.low)), \(f(interval.high))]"
    }

    /// With labels: the variant, then the keys a tune block chose (its value per row).
    var rowHeadColumns: [TableColumn] {
        if hasLabels || varyingKeys.isEmpty {
            return [TableColumn("variant", "variant", numeric: false)] + tunedKeys.map { TableColumn($0, SweepData.shortName($0), numeric: false) }
        }
        return varyingKeys.map { TableColumn($0, SweepData.shortName($0), numeric: false) }
    }

    func rowHead(_ row: Row) -> [TableCell] {
        if hasLabels || varyingKeys.isEmpty {
            return [TableCell(row.label)] + tunedKeys.map { key in TableCell(varyingKeys.firstIndex(of: key).map { row.keyValues[$0] } ?? "") }
        }
        return row.keyValues.map { TableCell($0) }
    }

    /// Tuned keys that are columns of the rows (see `rowHeadColumns`).
    var tunedKeys: [String] { tuned.filter(varyingKeys.contains) }

    /// The table's sections in order: rows (means), contrasts (with a baseline), claims (with claims).
    public var sections: [TableSection] {
        var out = [rowsSection]
        if !comparedMetrics.isEmpty { out.append(contrastsSection) }
        if !claims.isEmpty { out.append(claimsSection) }
        return out
    }

    var rowsSection: TableSection {
        var columns = rowHeadColumns
        columns += derivedColumns.map { TableColumn($0.id, $0.title) }
        columns.append(TableColumn("n", "n"))
        for metric in metrics {
            columns.append(TableColumn(metric.id, metric.title, unit: metric.unit(tokenUnit)))
            if referenceMetrics.contains(metric.id) {
                columns.append(TableColumn(metric.id + "_reference", "\(metric.title) (paper)", unit: settings.referenceUnits[metric.id] ?? ""))
            }
        }
        if let solve = settings.solve {
            columns.append(TableColumn("solved", "solved (\(solve.text))", unit: "seeds"))
            columns.append(TableColumn(solve.metric + "_by_seed", "\(MetricColumn.named(solve.metric)?.title ?? solve.metric) by seed", numeric: false))
        }
        var body: [[TableCell]] = []
        for row in rows {
            var cells = rowHead(row)
            cells += derivedColumns.map { c in row.derived[c.id].map { TableCell(Self.compact($0), value: Double($0)) } ?? TableCell("—") }
            cells.append(TableCell("\(row.completed)/\(row.cells)" + (row.incomplete.isEmpty ? "" : "*"), value: Double(row.completed)))
            for metric in metrics {
                let s = row.stats[metric.id]!, ci = row.intervals[metric.id]!
                var text = "—"
                if s.n > 0 {
                    text = Self.fixed(s.mean, metric.digits) + (ci.exists ? " ± " + Self.fixed(ci.halfWidth, metric.digits) : "")
                    if s.n != row.completed { text += " (n=\(s.n))" }
                }
                cells.append(TableCell(text, value: s.mean, low: ci.low, high: ci.high, bold: row.best.contains(metric.id)))
                if referenceMetrics.contains(metric.id) {
                    if let value = row.reference[metric.id] {
                        cells.append(TableCell(row.referenceText[metric.id] ?? JSONValue.double(value).canonical, value: value))
                    } else {
                        cells.append(TableCell("—"))
                    }
                }
            }
            if let solve = settings.solve {
                if let rate = row.solve, rate.runs > 0 {
                    cells.append(TableCell("\(rate.solved)/\(rate.runs) " + Self.bracket(rate.interval, 2),
                                           value: Double(rate.solved) / Double(rate.runs), low: rate.interval.low, high: rate.interval.high))
                } else {
                    cells.append(TableCell("—"))
                }
                let digits = MetricColumn.named(solve.metric)?.digits ?? 3
                cells.append(TableCell(row.values[solve.metric]!.map { Self.fixed($0.value, digits) }.joined(separator: ", ")))
            }
            body.append(cells)
        }
        var legend = ["mean ± half-width of its 95% t interval over the completed seeds (df = n − 1; no ± with n = 1); n = completed/cells of the row (n=k in a cell: only k finite values)"]
        legend.append("bold: the best mean of a column, only when its paired difference with every other row is significant at α = \(JSONValue.double(alpha).canonical) after \(correction.description) over those comparisons")
        if !referenceMetrics.isEmpty {
            legend.append("paper: the reference numbers" + (settingsSource.isEmpty ? "" : " from \(settingsSource)") + ", as printed there; not comparable in level")
        }
        if let solve = settings.solve {
            legend.append("solved: seeds with \(solve.text), with the exact (Clopper–Pearson) 95% interval of the solve rate; every seed's value beside it")
        }
        return TableSection(id: "rows", title: title, columns: columns, rows: body, legend: legend + notes)
    }

    var settingsSource: String { settings.referenceSource }

    var contrastsSection: TableSection {
        var columns = [TableColumn("variant", "row", numeric: false)]
        for id in comparedMetrics {
            let metric = MetricColumn.named(id)!
            columns += [TableColumn("\(id)_diff", "Δ \(metric.title)", unit: metric.unit(tokenUnit)),
                        TableColumn("\(id)_p", "p"), TableColumn("\(id)_p_adjusted", "p adj")]
        }
        var body: [[TableCell]] = []
        let baseLabel = rows.first { $0.isBaseline }?.label ?? "baseline"
        for row in rows {
            var cells = [TableCell(row.label + (row.isBaseline ? " (baseline)" : ""))]
            for id in comparedMetrics {
                let digits = MetricColumn.named(id)?.digits ?? 4
                if row.isBaseline {
                    cells += [TableCell("baseline"), .empty, .empty]
                } else if let c = row.contrasts[id], c.differences.pairs > 0 {
                    let text = Self.signed(c.differences.estimate, digits) + (c.interval.exists ? " " + Self.bracket(c.interval, digits, signed: true) : "")
                        + (c.differences.pairs != row.completed ? " (n=\(c.differences.pairs))" : "")
                    let significant = c.pAdjusted.isFinite && c.pAdjusted < alpha
                    cells += [TableCell(text, value: c.differences.estimate, low: c.interval.low, high: c.interval.high),
                              TableCell(Self.pValue(c.p), value: c.p),
                              TableCell(Self.pValue(c.pAdjusted), value: c.pAdjusted, bold: significant)]
                } else {
                    cells += [TableCell("—"), TableCell("—"), TableCell("—")]
                }
            }
            body.append(cells)
        }
        let family = rows.filter { !$0.isBaseline }.count * comparedMetrics.count
        let legend = [
            "Δ = row − \(baseLabel), the mean paired difference over the seeds both completed (same seed = same initialisation and data order), with its 95% t interval",
            "p: two-sided paired t-test (df = pairs − 1); p adj: \(correction.description) over the \(family) contrasts of this table; bold when below α = \(JSONValue.double(alpha).canonical)",
        ]
        return TableSection(id: "contrasts", title: "contrasts against \(baseLabel)", columns: columns, rows: body, legend: legend)
    }

    var claimsSection: TableSection {
        let columns = [TableColumn("claim", "claim", numeric: false), TableColumn("metric", "metric", numeric: false),
                       TableColumn("estimate", "estimate [95% CI]"), TableColumn("p", "p"), TableColumn("p_adjusted", "p adj"),
                       TableColumn("verdict", "verdict", numeric: false), TableColumn("seeds_needed", "seeds for 80% power"),
                       TableColumn("test", "test", numeric: false)]
        var body: [[TableCell]] = []
        for claim in claims {
            let metric = MetricColumn.named(claim.spec.metric)!
            let digits = metric.digits + 1
            let expectation: String
            switch claim.spec.expect {
            case .less: expectation = "<"
            case .greater: expectation = ">"
            case .equivalent: expectation = "≈"
            }
            var what = "\(metric.title) [\(metric.unit(tokenUnit))]"
            var estimate = Self.signed(claim.estimate, digits) + (claim.interval.exists ? " " + Self.bracket(claim.interval, digits, signed: true) : "")
            switch claim.spec.test {
            case .contrast: what += " a \(expectation) b"
            case .trend: what += ": slope \(expectation) 0"
            case .reach:
                what = "tokens for a to reach b's \(metric.title) [fraction of b's tokens]: a/b \(expectation) 1"
                estimate = (claim.estimate.isFinite ? Self.fixed(claim.estimate, 3) : "—") + (claim.interval.exists ? " " + Self.bracket(claim.interval, 3) : "")
            }
            var seeds = "—"
            if claim.verdict == .inconclusive {
                if let n = claim.seedsNeeded { seeds = "\(n)" }
                else if claim.spec.minEffect == nil { seeds = "no min_effect" }
                else if !(claim.spread.isFinite && claim.spread > 0) { seeds = "— (no spread yet)" }
                else { seeds = "> 10000" }
            }
            body.append([TableCell(claim.spec.name), TableCell(what),
                         TableCell(estimate, value: claim.estimate, low: claim.interval.low, high: claim.interval.high),
                         TableCell(Self.pValue(claim.p), value: claim.p), TableCell(Self.pValue(claim.pAdjusted), value: claim.pAdjusted),
                         TableCell(claim.verdict.rawValue + (claim.verdict == .inconclusive ? " at this scale" : ""), bold: claim.verdict != .inconclusive),
                         TableCell(seeds, value: claim.verdict == .inconclusive ? claim.seedsNeeded.map(Double.init) : nil),
                         TableCell(claim.test + (claim.problem.map { "; \($0)" } ?? ""))])
        }
        let legend = [
            "verdicts at α = \(JSONValue.double(alpha).canonical) after \(correction.description) over the \(claims.count) claims: holds = significant in the expected direction (equivalent: two one-sided tests within ±min_effect); contradicted = significant the other way (equivalent: the 1 − α/k interval wholly outside ±min_effect); otherwise inconclusive",
            "seeds for 80% power: per row, to detect min_effect at α/\(claims.count) (Bonferroni, conservative) given the observed spread (paired differences, or the trend's residuals)",
        ]
        return TableSection(id: "claims", title: "claims", columns: columns, rows: body, legend: legend)
    }
}

// MARK: Rendering

extension SweepTable {
    public func render(_ format: TableFormat, claimsOnly: Bool = false) -> String {
        let chosen = claimsOnly ? sections.filter { $0.id == "claims" } : sections
        switch format {
        case .csv: return claimsOnly ? renderClaimsCSV() : renderCSV()
        case .md: return chosen.map { Self.markdown($0) }.joined(separator: "\n")
        case .latex: return chosen.map { Self.latex($0, title: title) }.joined(separator: "\n")
        case .json: return (claimsOnly ? JSONValue.list(claims.map(\.json)) : json).pretty + "\n"
        }
    }

    static func markdown(_ section: TableSection) -> String {
        func escape(_ s: String) -> String { s.replacingOccurrences(of: "|", with: "\\|") }
        var out = ""
        if section.id != "rows" { out += "**\(escape(section.title))**\n\n" }
        out += "| " + section.columns.map { escape($0.heading) }.joined(separator: " | ") + " |\n"
        out += "|" + section.columns.map { $0.numeric ? "---:|" : "---|" }.joined() + "\n"
        for cells in section.rows {
            out += "| " + cells.map { c in c.text.isEmpty ? "" : (c.bold ? "**\(escape(c.text))**" : escape(c.text)) }.joined(separator: " | ") + " |\n"
        }
        out += "\n" + section.legend.map { $0.hasPrefix("  ") ? "    - " + $0.dropFirst(2) : "- " + $0 }.joined(separator: "\n") + "\n"
        return out
    }

    static func latex(_ section: TableSection, title: String) -> String {
        var out = "% \(title) (\(section.id)): table generated by `ablate table`\n"
        out += "\\begin{tabular}{" + section.columns.map { $0.numeric ? "r" : "l" }.joined() + "}\n\\toprule\n"
        out += section.columns.map { latexEscape($0.heading) }.joined(separator: " & ") + " \\\\\n\\midrule\n"
        for cells in section.rows {
            out += cells.map { c in c.bold && !c.text.isEmpty ? "\\textbf{\(latexEscape(c.text))}" : latexEscape(c.text) }.joined(separator: " & ") + " \\\\\n"
        }
        out += "\\bottomrule\n\\end{tabular}\n"
        out += section.legend.map { "% " + $0 }.joined(separator: "\n") + "\n"
        return out
    }

    /// The whole table for scripts, the dashboard and notebooks: the sections' typed cells, every
    /// row's numbers (per seed too), the claims, the settings.
    public var json: JSONValue {
        func number(_ x: Double?) -> JSONValue { x.map { $0.isFinite ? .double($0) : .null } ?? .null }
        func cell(_ c: TableCell) -> JSONValue {
            var o: [String: JSONValue] = ["text": .string(c.text)]
            if let v = c.value { o["value"] = .double(v) }
            if let l = c.low, let h = c.high { o["ci"] = .list([.double(l), .double(h)]) }
            if c.bold { o["bold"] = .bool(true) }
            return .map(o)
        }
        let sectionsJSON: [JSONValue] = sections.map { s in
            .map(["id": .string(s.id), "title": .string(s.title), "legend": .list(s.legend.map { .string($0) }),
                     "columns": .list(s.columns.map { .map(["id": .string($0.id), "title": .string($0.title), "unit": .string($0.unit),
                                                                "heading": .string($0.heading), "numeric": .bool($0.numeric)]) }),
                     "rows": .list(s.rows.map { .list($0.map(cell)) })])
        }
        let rowsJSON: [JSONValue] = rows.map { row in
            var metricsJSON: [String: JSONValue] = [:]
            for metric in metrics {
                let s = row.stats[metric.id]!, ci = row.intervals[metric.id]!
                var m: [String: JSONValue] = ["mean": number(s.mean), "std": number(s.std), "n": .int(s.n),
                                              "ci": ci.exists ? .list([.double(ci.low), .double(ci.high)]) : .null,
                                              "seeds": .list(row.values[metric.id]!.map { .map(["seed": .int($0.seed), "value": number($0.value)]) }),
                                              "best": .bool(row.best.contains(metric.id))]
                if let r = row.reference[metric.id] { m["reference"] = .double(r) }
                if let c = row.contrasts[metric.id] {
                    m["contrast"] = .map(["diff": number(c.differences.estimate), "pairs": .int(c.differences.pairs),
                                             "ci": c.interval.exists ? .list([.double(c.interval.low), .double(c.interval.high)]) : .null,
                                             "p": number(c.p), "p_adjusted": number(c.pAdjusted)])
                }
                metricsJSON[metric.id] = .map(m)
            }
            var o: [String: JSONValue] = ["label": .string(row.label), "group_label": .string(row.group.label),
                                          "assignments": .map(row.group.assignments), "completed": .int(row.completed),
                                          "cells": .int(row.cells), "baseline": .bool(row.isBaseline),
                                          "metrics": .map(metricsJSON),
                                          "derived": .map(row.derived.mapValues { .int(Int($0)) })]
            if let solve = row.solve {
                o["solve"] = .map(["solved": .int(solve.solved), "runs": .int(solve.runs),
                                      "ci": solve.interval.exists ? .list([.double(solve.interval.low), .double(solve.interval.high)]) : .null])
            }
            return .map(o)
        }
        return .map([
            "title": .string(title), "alpha": .double(alpha), "correct": .string(correction.rawValue),
            "token_unit": .string(tokenUnit), "varying_keys": .list(varyingKeys.map { .string($0) }),
            "metrics": .list(metrics.map { .map(["id": .string($0.id), "title": .string($0.title), "unit": .string($0.unit(tokenUnit)),
                                                     "lower_is_better": .bool($0.lowerIsBetter)]) }),
            "sections": .list(sectionsJSON), "rows": .list(rowsJSON), "claims": .list(claims.map(\.json)),
            "notes": .list(notes.map { .string($0) }), "reference_source": .string(settings.referenceSource),
            "excluded": .map(excluded.mapValues { .int($0) }),
        ])
    }

    /// CSV with full precision: one line per row; empty fields where there is no value.
    private func renderCSV() -> String {
        var header = (varyingKeys.isEmpty ? [] : varyingKeys) + ["label"]
        header += derivedColumns.map(\.id) + ["n", "cells"]
        for metric in metrics {
            header += ["\(metric.id)_mean", "\(metric.id)_std", "\(metric.id)_n", "\(metric.id)_ci_low", "\(metric.id)_ci_high", "\(metric.id)_best"]
            if referenceMetrics.contains(metric.id) { header.append("\(metric.id)_reference") }
        }
        if !comparedMetrics.isEmpty {
            header.append("baseline")
            for id in comparedMetrics { header += ["\(id)_diff", "\(id)_diff_ci_low", "\(id)_diff_ci_high", "\(id)_p", "\(id)_p_adjusted", "\(id)_pairs"] }
        }
        if settings.solve != nil { header += ["solved", "solve_runs", "solve_ci_low", "solve_ci_high"] }
        var lines = [header.map(CSV.field).joined(separator: ",")]
        func number(_ x: Double) -> String { x.isFinite ? "\(x)" : "" }
        for row in rows {
            var cells = row.keyValues + [row.label]
            cells += derivedColumns.map { row.derived[$0.id].map { String($0) } ?? "" }
            cells += [String(row.completed), String(row.cells)]
            for metric in metrics {
                let s = row.stats[metric.id]!, ci = row.intervals[metric.id]!
                cells += [number(s.mean), number(s.std), String(s.n), number(ci.low), number(ci.high), row.best.contains(metric.id) ? "1" : "0"]
                if referenceMetrics.contains(metric.id) { cells.append(row.reference[metric.id].map(number) ?? "") }
            }
            if !comparedMetrics.isEmpty {
                cells.append(row.isBaseline ? "1" : "0")
                for id in comparedMetrics {
                    if let c = row.contrasts[id] {
                        cells += [number(c.differences.estimate), number(c.interval.low), number(c.interval.high), number(c.p),
                                  number(c.pAdjusted), String(c.differences.pairs)]
                    } else {
                        cells += ["", "", "", "", "", ""]
                    }
                }
            }
            if settings.solve != nil {
                let s = row.solve
                cells += [s.map { String($0.solved) } ?? "", s.map { String($0.runs) } ?? "", s.map { number($0.interval.low) } ?? "", s.map { number($0.interval.high) } ?? ""]
            }
            lines.append(cells.map(CSV.field).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private func renderClaimsCSV() -> String {
        var lines = ["name,metric,expect,verdict,estimate,ci_low,ci_high,p,p_adjusted,pairs,seeds_needed,min_effect"]
        func number(_ x: Double) -> String { x.isFinite ? "\(x)" : "" }
        for c in claims {
            lines.append([c.spec.name, c.spec.metric, c.spec.expect.rawValue, c.verdict.rawValue, number(c.estimate),
                          number(c.interval.low), number(c.interval.high), number(c.p), number(c.pAdjusted), String(c.pairs),
                          c.seedsNeeded.map(String.init) ?? "", c.spec.minEffect.map(number) ?? ""].map(CSV.field).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// LaTeX for the characters tables use that LaTeX would misread or lacks in text mode.
    static let latexReplacements: [Character: String] = [
        "_": "\\_", "%": "\\%", "&": "\\&", "#": "\\#", "$": "\\$", "{": "\\{", "}": "\\}",
        "Δ": "$\\Delta$", "±": "$\\pm$", "≥": "$\\geq$", "≤": "$\\leq$", "≈": "$\\approx$", "α": "$\\alpha$",
        "−": "$-$", "²": "$^2$", "₂": "$_2$", "<": "$<$", ">": "$>$", "\\": "\\textbackslash{}",
    ]

    static func latexEscape(_ s: String) -> String {
        s.reduce(into: "") { out, c in
            if let replacement = latexReplacements[c] { out += replacement } else { out.append(c) }
        }
    }
}

/// RFC 4180 fields: quoted only when they hold a comma, quote or line break.
public enum CSV {
    public static func field(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
