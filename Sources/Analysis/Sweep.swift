// A sweep as Analysis sees it: sweep.json's cells, each with what its run file holds (or why it
// holds nothing yet), grouped into rows of cells that differ only by seed. Everything comes from
// sweep.json and the run files; nothing from the spec machinery.
import Foundation
import RunStore

/// The numbers one run contributes to a table (see `MetricColumn` for their definitions).
public struct RunResult: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        /// The manifest names a run file that does not exist (yet).
        case missing
        /// The run file exists but could not be read (a live run held by HDF5's file lock, damage…).
        case unreadable(String)
        case read(RunStatus)
    }

    public var cell: SweepManifest.Cell
    /// The cell's assignments parsed from sweep.json (seed excluded).
    public var assignments: [String: JSONValue]
    public var state: State
    public var lastStep: Int
    /// MetricColumn id → value (NaN where the run has no such data).
    public var metrics: [String: Double]
    /// Model numbers from the run file's model_* attributes (total_parameters, …).
    public var derived: [String: Int64]
    /// Any /moe layer, any non-zero balancing bias.
    public var hasMoE = false, hasBias = false

    /// Only completed runs enter the statistics.
    public var isComplete: Bool { state == .read(.completed) }

    /// "running (step 300)", "missing", "completed".
    public var stateText: String {
        switch state {
        case .missing: "not started (\(cell.state.rawValue) in sweep.json)"
        case .unreadable(let why): "unreadable (\(why))"
        case .read(let status): status == .completed ? "completed" : "\(status.rawValue) at step \(lastStep)"
        }
    }
}

/// Cells that differ only by seed: one row of a table.
public struct SweepGroup: Sendable {
    /// Varying key path → value in this group (keys a cell leaves at its default are absent).
    public var assignments: [String: JSONValue]
    /// "attention.kind=mla,experts=8" (last two components of each varying key), "base" if none.
    public var label: String
    /// In sweep.json order.
    public var runs: [RunResult]
    public var completed: [RunResult] { runs.filter(\.isComplete) }
}

public struct SweepData: Sendable {
    public var directory: String
    public var manifest: SweepManifest
    /// The manifest's varying keys without "seed".
    public var varyingKeys: [String]
    public var groups: [SweepGroup]

    public var runs: [RunResult] { groups.flatMap(\.runs) }

    /// Reads `<directory>/sweep.json` and every run file it names.
    public static func load(directory: String) throws -> SweepData {
        try load(directory: directory, manifest: try SweepManifest.read(directory: directory))
    }

    /// Reads every run file `manifest` names (relative to `directory`).
    public static func load(directory: String, manifest: SweepManifest) throws -> SweepData {
        var results: [RunResult] = []
        for cell in manifest.cells {
            let path = URL(fileURLWithPath: directory).appendingPathComponent(cell.runFile).path
            results.append(try RunResult.load(path: path, cell: cell))
        }
        return SweepData(directory: directory, manifest: manifest, results: results)
    }

    /// Groups already loaded results (tests build them from fake run files the same way).
    public init(directory: String, manifest: SweepManifest, results: [RunResult]) {
        self.directory = directory
        self.manifest = manifest
        varyingKeys = manifest.varyingKeys.filter { $0 != "seed" }
        var order: [String] = []
        var byKey: [String: SweepGroup] = [:]
        for result in results {
            let key = JSONValue.object(result.assignments).canonical
            if byKey[key] == nil {
                order.append(key)
                byKey[key] = SweepGroup(assignments: result.assignments,
                                        label: Self.label(result.assignments, varying: varyingKeys), runs: [])
            }
            byKey[key]!.runs.append(result)
        }
        groups = order.map { byKey[$0]! }
    }

    static func label(_ assignments: [String: JSONValue], varying: [String]) -> String {
        let parts = varying.compactMap { key in assignments[key].map { "\(shortName(key))=\($0.display)" } }
        return parts.isEmpty ? "base" : parts.joined(separator: ",")
    }

    /// "model.ffn.moe.router.score" → "router.score".
    public static func shortName(_ path: String) -> String {
        path.split(separator: ".").suffix(2).joined(separator: ".")
    }
}

extension RunResult {
    /// Reads one run file; a missing or unreadable file is a state, not an error (a sweep that
    /// is still running has both). A cell whose assignments are not JSON is an error.
    public static func load(path: String, cell: SweepManifest.Cell) throws -> RunResult {
        var assignments: [String: JSONValue] = [:]
        for (key, text) in cell.assignments where key != "seed" {
            do {
                assignments[key] = try JSONValue.parse(text)
            } catch {
                throw AnalysisError("sweep.json cell \(cell.index): assignment \(key) = \(text) is not JSON (\(error))")
            }
        }
        var result = RunResult(cell: cell, assignments: assignments, state: .missing, lastStep: -1,
                               metrics: MetricColumn.all.reduce(into: [:]) { $0[$1.id] = .nan }, derived: [:])
        guard FileManager.default.fileExists(atPath: path) else { return result }
        do {
            let reader = try RunFileReader(path: path)
            defer { reader.close() }
            let attributes = try reader.attributes()
            result.state = .read(try reader.liveStatus().status)   // a dead writer's "running" reads interrupted
            result.lastStep = attributes.lastStep
            result.derived = attributes.run.modelStats
            result.metrics = MetricColumn.extract(train: try reader.trainMetrics(), eval: try reader.evalMetrics())
            let layers = try reader.moeLayers()
            result.hasMoE = !layers.isEmpty
            result.hasBias = layers.contains { $0.bias.contains { $0 != 0 } }
        } catch {
            result.state = .unreadable("\(error)")
        }
        return result
    }
}

/// One metric column of a table: its id (used by --metrics, table.reference and CSV headers),
/// how it is computed from a run's metric groups, and which way is better.
public struct MetricColumn: Sendable, Equatable {
    public var id: String
    public var title: String
    public var lowerIsBetter: Bool
    /// Decimals shown in md/latex (CSV always has full precision).
    public var digits: Int
    public var definition: String

    public static let all: [MetricColumn] = [
        MetricColumn(id: "final_loss", title: "final eval loss", lowerIsBetter: true, digits: 4,
                     definition: "eval loss at the last evaluation"),
        MetricColumn(id: "best_loss", title: "best eval loss", lowerIsBetter: true, digits: 4,
                     definition: "lowest eval loss over all evaluations"),
        MetricColumn(id: "ppl", title: "ppl", lowerIsBetter: true, digits: 3,
                     definition: "eval perplexity at the last evaluation"),
        MetricColumn(id: "gap", title: "gap to optimum", lowerIsBetter: true, digits: 4,
                     definition: "eval loss − Bayes-optimal loss at the last evaluation (data with a known optimum)"),
        MetricColumn(id: "accuracy", title: "MQAR acc", lowerIsBetter: false, digits: 3,
                     definition: "MQAR answer accuracy at the last evaluation"),
        MetricColumn(id: "maxvio_global", title: "MaxVio_global", lowerIsBetter: true, digits: 3,
                     definition: "MaxVio of expert loads over the whole validation set at the last evaluation, mean over MoE layers"),
        MetricColumn(id: "maxvio_batch", title: "MaxVio_batch", lowerIsBetter: true, digits: 3,
                     definition: "mean over all training steps of the per-batch MaxVio (train `maxvio`)"),
        MetricColumn(id: "tokens_per_s", title: "tokens/s", lowerIsBetter: false, digits: 0,
                     definition: "mean training throughput over all logged steps (wall clock)"),
    ]

    public static func named(_ id: String) -> MetricColumn? { all.first { $0.id == id } }

    /// Every column's value for one run.
    public static func extract(train: MetricTable, eval: MetricTable) -> [String: Double] {
        func last(_ column: String) -> Double { eval.columns[column]?.last ?? .nan }
        func mean(_ column: String) -> Double { Summary(train.columns[column] ?? []).mean }
        let losses = (eval.columns["loss"] ?? []).filter(\.isFinite)
        return ["final_loss": last("loss"), "best_loss": losses.min() ?? .nan, "ppl": last("ppl"), "gap": last("gap"),
                "accuracy": last("accuracy"), "maxvio_global": last("maxvio_global"),
                "maxvio_batch": mean("maxvio"), "tokens_per_s": mean("tokens_per_s")]
    }
}

/// The model numbers shown beside the metrics, from the run file's model_* attributes.
public struct DerivedColumn: Sendable, Equatable {
    public var id: String
    public var title: String
    public static let all: [DerivedColumn] = [
        DerivedColumn(id: "total_parameters", title: "params"),
        DerivedColumn(id: "active_parameters", title: "active params"),
        DerivedColumn(id: "kv_cache_per_token", title: "KV cache/token"),
        DerivedColumn(id: "flops_per_token", title: "FLOPs/token"),
    ]
}
