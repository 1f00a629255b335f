import Analysis
import ArgumentParser
import Config
import Experiments
import Foundation
import RunStore

struct Table: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a sweep as a paper-style table with intervals, corrected contrasts and the claims' verdicts.",
        discussion: """
        One row per group of cells that differ only by seed; columns: the varying keys (or the \
        spec's `table.labels`), the model's parameters, KV cache and FLOPs per token (from the run \
        files), then each metric as the mean ± the half-width of its 95% t interval over the \
        completed seeds. A row is bold only when it is significantly best after correction. The \
        spec's `table.reference` numbers are shown beside ours; `table.baseline` adds paired \
        contrasts (Δ with its 95% interval, p, p adjusted over every contrast of the table); \
        `table.claims` adds one verdict per claim: holds, contradicted or inconclusive, with the \
        seeds an inconclusive claim would need (docs/analysis.md). Diverged, failed and missing \
        cells are excluded and counted. A sweep still running gives a table of what is done. \
        Metrics: \(MetricColumn.all.map(\.id).joined(separator: ", ")).
        """)

    @OptionGroup var target: SweepArguments

    @Option(help: "Output format: md, latex, csv or json.")
    var format: TableFormat = .md

    @Option(parsing: .upToNextOption, help: "Metrics to show, in order (comma- or space-separated); default: every metric with data.")
    var metrics: [String] = []

    @Option(help: "Multiple-testing correction over the table's contrasts and over its claims: holm, bh or none (default: the spec's table.correct, else holm).")
    var correct: Correction?

    @Option(help: "Significance level after correction (default: the spec's table.alpha, else 0.05).")
    var alpha: Double?

    @Flag(help: "Print only the claims and their verdicts (with --format json: one object per claim).")
    var claims = false

    func run() throws {
        var resolved = try target.resolve()
        if let correct { resolved.settings.correction = correct }
        try orFail { try resolved.override(alpha: alpha) }
        if claims && resolved.settings.claims.isEmpty {
            throw fail("\(resolved.specFile.isEmpty ? "the sweep's spec" : resolved.specFile) has no table.claims (docs/analysis.md, \"Claims and verdicts\")", code: 2)
        }
        let wanted = metrics.flatMap { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
            .filter { !$0.isEmpty }
        do {
            let data = try loadSweepData(resolved)
            let table = try SweepTable.build(data, settings: resolved.settings, metrics: wanted.isEmpty ? nil : wanted)
            print(table.render(format, claimsOnly: claims), terminator: "")
            if format == .csv || format == .json, !table.notes.isEmpty {
                FileHandle.standardError.write(Data((table.notes.joined(separator: "\n") + "\n").utf8))
            }
        } catch {
            throw fail("\(error)")
        }
    }
}

extension Correction: ExpressibleByArgument {}

extension TableFormat: ExpressibleByArgument {}
