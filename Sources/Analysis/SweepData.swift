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
    /// Eval loss against tokens trained (empty when the file was not read).
    public var evalCurve = EvalCurve()

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
        evalCurve = contents.evalCurve
    }
}
