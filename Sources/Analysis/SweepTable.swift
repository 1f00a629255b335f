// The paper-style table of a sweep: one row per group of cells that differ only by seed; the
// varying keys, the model's derived numbers, each metric as mean ± sample std over the completed
// seeds with the best row marked, the paper's reference numbers beside ours, and a paired t-test
// of every row against the baseline. Rendered as Markdown, LaTeX (booktabs) or CSV.
import Foundation
import RunStore

public enum TableFormat: String, Sendable, CaseIterable {
    case md, latex, csv
}

public struct SweepTable: Sendable {
    public struct Row: Sendable {
        public var group: SweepGroup
        /// The group's value of each varying key ("default" where its cells leave the spec's value).
        public var keyValues: [String]
        /// Derived column id → value (from the first run file of the row that has it).
        public var derived: [String: Int64]
        /// Completed runs (the n of the statistics) and cells of the row in the sweep.
        public var completed: Int
        public var cells: Int
        /// MetricColumn id → mean ± std over the completed runs.
        public var stats: [String: Summary]
        /// Metric ids in which this row is the best (ties all marked).
        public var best: Set<String>
        /// Metric id → the paper's number for this row.
        public var reference: [String: Double]
        /// Metric id → comparison against the baseline (absent in the baseline row itself).
        public var comparisons: [String: PairedComparison]
        public var isBaseline: Bool
        /// The row's cells that are not completed.
        public var incomplete: [RunResult]
    }

    public var title: String
    /// Varying key paths (seed excluded), one column each.
    public var varyingKeys: [String]
    public var derivedColumns: [DerivedColumn]
    public var metrics: [MetricColumn]
    /// Metrics that have a reference column.
    public var referenceMetrics: [String]
    /// Metrics compared against the baseline (empty without a baseline).
    public var comparedMetrics: [String]
    public var referenceSource: String
    public var rows: [Row]
    public var notes: [String]

    /// Builds the table. `metrics`: MetricColumn ids in the order wanted; nil = every metric
    /// that has a finite value in some row. Throws for an unknown metric id or a baseline that
    /// matches no row or several.
    public static func build(_ sweep: SweepData, settings: TableSettings = TableSettings(),
                             metrics wanted: [String]? = nil) throws -> SweepTable {
        var rows: [Row] = sweep.groups.map { group in
            let done = group.completed
            var stats: [String: Summary] = [:]
            for metric in MetricColumn.all { stats[metric.id] = Summary(done.map { $0.metrics[metric.id] ?? .nan }) }
            var derived: [String: Int64] = [:]
            for run in group.runs { derived.merge(run.derived) { old, _ in old } }
            return Row(group: group,
                       keyValues: sweep.varyingKeys.map { group.value(at: $0)?.display ?? "default" },
                       derived: derived, completed: done.count, cells: group.runs.count, stats: stats, best: [],
                       reference: [:], comparisons: [:], isBaseline: false, incomplete: group.runs.filter { !$0.isComplete })
        }

        let metrics: [MetricColumn]
        if let wanted {
            metrics = try wanted.map { id in
                guard let metric = MetricColumn.named(id) else {
                    throw AnalysisError("unknown metric '\(id)' (expected one of \(MetricColumn.all.map(\.id).joined(separator: ", ")))")
                }
                return metric
            }
        } else {
            metrics = MetricColumn.all.filter { metric in rows.contains { $0.stats[metric.id]!.n > 0 } }
        }

        // Best per column: only among rows with data, and only when there is something to compare.
        for metric in metrics {
            let means = rows.indices.compactMap { i -> (Int, Double)? in
                let mean = rows[i].stats[metric.id]!.mean
                return mean.isFinite ? (i, mean) : nil
            }
            guard means.count >= 2 else { continue }
            let best = metric.lowerIsBetter ? means.map(\.1).min()! : means.map(\.1).max()!
            for (i, mean) in means where mean == best { rows[i].best.insert(metric.id) }
        }

        var notes: [String] = []
        // Reference numbers.
        var referenceMetrics: [String] = []
        for (index, reference) in settings.reference.enumerated() {
            let matching = rows.indices.filter { rows[$0].group.matches(reference.match) }
            if matching.isEmpty {
                notes.append("reference row \(index) (\(JSONValue.object(reference.match).canonical)) matches no row of the sweep")
            }
            for i in matching { rows[i].reference.merge(reference.values) { _, new in new } }
        }
        for metric in metrics where rows.contains(where: { $0.reference[metric.id] != nil }) {
            referenceMetrics.append(metric.id)
        }
        let shownIDs = Set(metrics.map(\.id))
        let unshown = Set(settings.reference.flatMap(\.values.keys)).subtracting(shownIDs)
        if !unshown.isEmpty {
            notes.append("reference values for \(unshown.sorted().joined(separator: ", ")) are not shown (metric not in the table)")
        }

        // Paired comparison against the baseline.
        var comparedMetrics: [String] = []
        if let baseline = settings.baseline {
            let matching = rows.indices.filter { rows[$0].group.matches(baseline.match) }
            let description = JSONValue.object(baseline.match).canonical
            guard matching.count == 1 else {
                let found = matching.isEmpty ? "no row" : "\(matching.count) rows (" + matching.map { rows[$0].group.label }.joined(separator: "; ") + ")"
                throw AnalysisError("table.baseline \(description) matches \(found); it must name exactly one row of \(rows.map(\.group.label))")
            }
            let base = matching[0]
            rows[base].isBaseline = true
            comparedMetrics = baseline.metrics
            func bySeed(_ row: Row, _ metric: String) -> [Int: Double] {
                row.group.completed.reduce(into: [:]) { $0[$1.cell.seed] = $1.metrics[metric] ?? .nan }
            }
            for i in rows.indices where i != base {
                for metric in comparedMetrics {
                    rows[i].comparisons[metric] = PairedComparison(row: bySeed(rows[i], metric), baseline: bySeed(rows[base], metric))
                }
            }
        }

        let derivedColumns = DerivedColumn.all.filter { column in rows.contains { $0.derived[column.id] != nil } }
        let runs = sweep.runs
        let done = runs.filter(\.isComplete).count
        if done < runs.count {
            notes.append("partial sweep: \(done) of \(runs.count) cells completed; rows marked * miss cells:")
            for run in runs where !run.isComplete {
                notes.append("  cell \(run.cell.index) \(run.cell.label) (\(run.cell.runID)): \(run.stateText)")
            }
        }
        return SweepTable(title: sweep.manifest.spec, varyingKeys: sweep.varyingKeys, derivedColumns: derivedColumns,
                          metrics: metrics, referenceMetrics: referenceMetrics, comparedMetrics: comparedMetrics,
                          referenceSource: settings.referenceSource, rows: rows, notes: notes)
    }
}

// MARK: Rendering

extension SweepTable {
    public func render(_ format: TableFormat) -> String {
        switch format {
        case .csv: return renderCSV()
        case .md: return renderText(markdown: true)
        case .latex: return renderText(markdown: false)
        }
    }

    /// The explanation printed under a md or LaTeX table.
    public var legend: [String] {
        var lines = ["mean ± sample std over completed seeds; n = completed/cells of the row (n=k in a cell: only k finite values); best of each column in bold"]
        if !referenceMetrics.isEmpty {
            lines.append("ref: reference numbers" + (referenceSource.isEmpty ? "" : " from \(referenceSource)"))
        }
        if !comparedMetrics.isEmpty {
            lines.append("Δ = row − baseline, mean over the seeds both completed; p = two-sided paired t-test (df = pairs − 1)")
        }
        return lines + notes
    }

    struct Header { var text: String; var right: Bool }

    private func renderText(markdown: Bool) -> String {
        func escape(_ s: String) -> String {
            markdown ? s.replacingOccurrences(of: "|", with: "\\|") : Self.latexEscape(s)
        }
        func bold(_ s: String) -> String { markdown ? "**\(s)**" : "\\textbf{\(s)}" }
        let pm = markdown ? " ± " : " $\\pm$ "

        var headers: [Header] = varyingKeys.map { Header(text: SweepData.shortName($0), right: false) }
        headers += derivedColumns.map { Header(text: $0.title, right: true) }
        headers.append(Header(text: "n", right: true))
        for metric in metrics {
            headers.append(Header(text: metric.title, right: true))
            if referenceMetrics.contains(metric.id) { headers.append(Header(text: "\(metric.title) (ref)", right: true)) }
        }
        for id in comparedMetrics {
            let title = MetricColumn.named(id)?.title ?? id
            // One p column reads as "p"; several name their metric.
            headers += [Header(text: "Δ \(title)", right: true),
                        Header(text: comparedMetrics.count == 1 ? "p" : "p (\(title))", right: true)]
        }
        if varyingKeys.isEmpty { headers.insert(Header(text: "run", right: false), at: 0) }

        var body: [[String]] = []
        for row in rows {
            var cells = row.keyValues.map(escape)
            if varyingKeys.isEmpty { cells.append(escape(row.group.label)) }
            cells += derivedColumns.map { row.derived[$0.id].map(Self.compact) ?? "—" }
            cells.append("\(row.completed)/\(row.cells)" + (row.incomplete.isEmpty ? "" : "*"))
            for metric in metrics {
                let s = row.stats[metric.id]!
                var text = "—"
                if s.n > 0 {
                    text = Self.fixed(s.mean, metric.digits) + (s.std.isFinite ? pm + Self.fixed(s.std, metric.digits) : "")
                    if row.best.contains(metric.id) { text = bold(text) }
                    if s.n != row.completed { text += " (n=\(s.n))" }
                }
                cells.append(text)
                if referenceMetrics.contains(metric.id) { cells.append(row.reference[metric.id].map { Self.fixed($0, metric.digits) } ?? "—") }
            }
            for id in comparedMetrics {
                let digits = MetricColumn.named(id)?.digits ?? 4
                if row.isBaseline {
                    cells += ["baseline", ""]
                } else if let c = row.comparisons[id], c.pairs > 0 {
                    cells.append((c.meanDifference >= 0 ? "+" : "") + Self.fixed(c.meanDifference, digits))
                    let p = Self.pValue(c.p)
                    cells.append((markdown ? p : p.replacingOccurrences(of: "<", with: "$<$")) + " (n=\(c.pairs))")
                } else {
                    cells += ["—", "—"]
                }
            }
            body.append(cells)
        }

        var out = ""
        if markdown {
            out += "| " + headers.map { escape($0.text) }.joined(separator: " | ") + " |\n"
            out += "|" + headers.map { $0.right ? "---:|" : "---|" }.joined() + "\n"
            for cells in body { out += "| " + cells.joined(separator: " | ") + " |\n" }
            out += "\n" + legend.map { $0.hasPrefix("  ") ? "    - " + $0.dropFirst(2) : "- " + $0 }.joined(separator: "\n") + "\n"
        } else {
            out += "% \(title): table generated by `ablate table`\n"
            out += "\\begin{tabular}{" + headers.map { $0.right ? "r" : "l" }.joined() + "}\n\\toprule\n"
            out += headers.map { Self.latexEscape($0.text) }.joined(separator: " & ") + " \\\\\n\\midrule\n"
            for cells in body { out += cells.joined(separator: " & ") + " \\\\\n" }
            out += "\\bottomrule\n\\end{tabular}\n"
            out += legend.map { "% " + $0 }.joined(separator: "\n") + "\n"
        }
        return out
    }

    /// CSV with full precision: one line per row; empty fields where there is no value.
    private func renderCSV() -> String {
        var header = varyingKeys.isEmpty ? ["run"] : varyingKeys
        header += derivedColumns.map(\.id) + ["n", "cells"]
        for metric in metrics {
            header += ["\(metric.id)_mean", "\(metric.id)_std", "\(metric.id)_n", "\(metric.id)_best"]
            if referenceMetrics.contains(metric.id) { header.append("\(metric.id)_reference") }
        }
        if !comparedMetrics.isEmpty {
            header.append("baseline")
            for id in comparedMetrics { header += ["\(id)_diff", "\(id)_p", "\(id)_pairs"] }
        }
        var lines = [header.map(CSV.field).joined(separator: ",")]
        func number(_ x: Double) -> String { x.isFinite ? "\(x)" : "" }
        for row in rows {
            var cells = varyingKeys.isEmpty ? [row.group.label] : row.keyValues
            cells += derivedColumns.map { row.derived[$0.id].map { String($0) } ?? "" }
            cells += [String(row.completed), String(row.cells)]
            for metric in metrics {
                let s = row.stats[metric.id]!
                cells += [number(s.mean), number(s.std), String(s.n), row.best.contains(metric.id) ? "1" : "0"]
                if referenceMetrics.contains(metric.id) { cells.append(row.reference[metric.id].map(number) ?? "") }
            }
            if !comparedMetrics.isEmpty {
                cells.append(row.isBaseline ? "1" : "0")
                for id in comparedMetrics {
                    let c = row.comparisons[id]
                    cells += [c.map { number($0.meanDifference) } ?? "", c.map { number($0.p) } ?? "", c.map { String($0.pairs) } ?? ""]
                }
            }
            lines.append(cells.map(CSV.field).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func fixed(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }

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

    static func latexEscape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "_", "%", "&", "#", "$", "{", "}": out += "\\\(c)"
            case "Δ": out += "$\\Delta$"
            case "±": out += "$\\pm$"
            case "\\": out += "\\textbackslash{}"
            default: out.append(c)
            }
        }
        return out
    }
}

/// RFC 4180 fields: quoted only when they hold a comma, quote or line break.
public enum CSV {
    public static func field(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
