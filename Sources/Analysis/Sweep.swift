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
    /// "byte" for byte-level text data, "token" for other data; nil when the file was not read.
    public var tokenUnit: String?
    /// Wall-clock seconds from the file's creation to its finish (completed runs only).
    public var wallSeconds: Double?

    /// One word for the state: completed, running, diverged, failed, interrupted, missing, unreadable.
    public var stateWord: String {
        switch state {
        case .missing: "missing"
        case .unreadable: "unreadable"
        case .read(let status): status.rawValue
        }
    }

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
    public static func load(directory: String, reader: RunFileSource = .inProcess) throws -> SweepData {
        try load(directory: directory, manifest: try SweepManifest.read(directory: directory), reader: reader)
    }

    /// Reads every run file `manifest` names (relative to `directory`), in this process or in a
    /// helper process (`RunFileSource.helper`), where a file that crashes libhdf5 marks its cell
    /// unreadable instead of ending the command.
    public static func load(directory: String, manifest: SweepManifest, reader: RunFileSource = .inProcess) throws -> SweepData {
        let paths = manifest.cells.map { URL(fileURLWithPath: directory).appendingPathComponent($0.runFile).path }
        let contents = reader.read(paths)
        let results = try zip(manifest.cells, contents).map { try RunResult(cell: $0, contents: $1) }
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
            let key = JSONValue.map(result.assignments).canonical
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
        try RunResult(cell: cell, contents: RunFileContents.read(path))
    }

    /// The cell's result from what its run file holds.
    public init(cell: SweepManifest.Cell, contents: RunFileContents) throws {
        var assignments: [String: JSONValue] = [:]
        for (key, text) in cell.assignments where key != "seed" {
            do {
                assignments[key] = try JSONValue.parse(text)
            } catch {
                throw AnalysisError("sweep.json cell \(cell.index): assignment \(key) = \(text) is not JSON (\(error))")
            }
        }
        self.init(cell: cell, assignments: assignments, state: contents.state, lastStep: contents.lastStep,
                  metrics: contents.metrics, derived: contents.derived)
        hasMoE = contents.hasMoE
        hasBias = contents.hasBias
        tokenUnit = contents.tokenUnit
        wallSeconds = contents.wallSeconds
    }
}

/// What a table needs from one run file, read in this process or sent over by a helper process
/// as one JSON line.
public struct RunFileContents: Sendable, Equatable {
    public var state: RunResult.State = .missing
    public var lastStep = -1
    public var metrics: [String: Double] = MetricColumn.all.reduce(into: [:]) { $0[$1.id] = .nan }
    public var derived: [String: Int64] = [:]
    public var hasMoE = false, hasBias = false
    public var tokenUnit: String?
    public var wallSeconds: Double?

    public init() {}

    /// Reads one run file in this process; never throws (missing and unreadable are states).
    public static func read(_ path: String) -> RunFileContents {
        var result = RunFileContents()
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
            let resolvedSpec = try reader.spec().resolved
            result.tokenUnit = attributes.run.dataSHA256.isEmpty && !resolvedSpec.contains("kind: text") ? "token" : "byte"
            if let start = Self.date(attributes.createdUTC), let end = Self.date(attributes.finishedUTC) {
                result.wallSeconds = end.timeIntervalSince(start)
            }
        } catch {
            result.state = .unreadable("\(error)")
        }
        return result
    }

    /// A run file's UTC time stamp ("2026-12-07T04:00:45.514Z"; fractional seconds optional).
    static func date(_ text: String) -> Date? {
        let iso = ISO8601DateFormatter()
        iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = iso.date(from: text) { return date }
        iso.formatOptions = [.withInternetDateTime]
        return iso.date(from: text)
    }

    /// One line of JSON (numbers at full precision; NaN as null).
    public var json: JSONValue {
        func number(_ x: Double) -> JSONValue { x.isFinite ? .double(x) : .null }
        var state: [String: JSONValue]
        switch self.state {
        case .missing: state = ["kind": .string("missing")]
        case .unreadable(let why): state = ["kind": .string("unreadable"), "why": .string(why)]
        case .read(let status): state = ["kind": .string("read"), "status": .string(status.rawValue)]
        }
        var object: [String: JSONValue] = [
            "state": .map(state), "last_step": .int(lastStep), "metrics": .map(metrics.mapValues(number)),
            "derived": .map(derived.mapValues { .int(Int($0)) }), "has_moe": .bool(hasMoE), "has_bias": .bool(hasBias),
        ]
        if let tokenUnit { object["token_unit"] = .string(tokenUnit) }
        if let wallSeconds { object["wall_seconds"] = .double(wallSeconds) }
        return .map(object)
    }

    public init(json: JSONValue) throws {
        guard let state = json["state"], let kind = state["kind"]?.stringValue else { throw AnalysisError("run file contents: no state in \(json)") }
        switch kind {
        case "missing": self.state = .missing
        case "unreadable": self.state = .unreadable(state["why"]?.stringValue ?? "unknown")
        case "read":
            guard let status = state["status"]?.stringValue.flatMap(RunStatus.init(rawValue:)) else { throw AnalysisError("run file contents: bad status in \(json)") }
            self.state = .read(status)
        default: throw AnalysisError("run file contents: unknown state '\(kind)'")
        }
        lastStep = Int(json["last_step"]?.numberValue ?? -1)
        if case .map(let m)? = json["metrics"] { for (k, v) in m { metrics[k] = v.numberValue ?? .nan } }
        if case .map(let d)? = json["derived"] { for (k, v) in d { if let x = v.intValue { derived[k] = Int64(x) } } }
        hasMoE = json["has_moe"] == .bool(true)
        hasBias = json["has_bias"] == .bool(true)
        tokenUnit = json["token_unit"]?.stringValue
        wallSeconds = json["wall_seconds"]?.numberValue
    }
}

/// Where run files are read: in this process, or by a reader process (`ablate read-runs`, see
/// RunStore's ReaderProcess) that answers what a table needs of each file as JSON. libhdf5 can
/// still crash on some damaged files (a flipped byte in a string's heap index); with the reader
/// process, such a file marks its cell unreadable, the next file starts a new reader, and the
/// command carries on.
public enum RunFileSource: Sendable {
    case inProcess
    case reader(ReaderProcess)

    /// The request kind the reader process answers with `RunFileContents.json`.
    public static let kind = "table"

    public func read(_ paths: [String]) -> [RunFileContents] {
        switch self {
        case .inProcess:
            return paths.map(RunFileContents.read)
        case .reader(let reader):
            return paths.map { path in
                // A missing file is not opened by anyone.
                guard FileManager.default.fileExists(atPath: path) else { return RunFileContents() }
                var contents = RunFileContents()
                switch reader.read(Self.kind, path) {
                case .value(let value):
                    do { return try RunFileContents(json: value) } catch { contents.state = .unreadable("\(error)") }
                case .failed(let why):
                    contents.state = .unreadable(why)
                case .crashed(let how):
                    contents.state = .unreadable("reading it ended the reader process (\(how)); the file is damaged")
                }
                return contents
            }
        }
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

    /// The column's unit; losses and perplexity count per `token` ("byte" for byte-level text).
    public func unit(_ token: String) -> String {
        switch id {
        case "final_loss", "best_loss", "gap": "nats/\(token)"
        case "ppl": "per \(token)"
        case "accuracy": "fraction"
        case "maxvio_global", "maxvio_batch": "max/mean − 1"
        case "tokens_per_s": "tokens/s"
        default: ""
        }
    }

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
        MetricColumn(id: "tokens_per_s", title: "throughput", lowerIsBetter: false, digits: 0,
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
