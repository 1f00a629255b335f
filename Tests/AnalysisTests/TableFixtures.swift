// Sweeps built in memory (no run files): rows of known values per seed, for the statistics of
// tables and claims.
import Foundation
import RunStore
@testable import Analysis

enum TableFixtures {
    static let key = "variant"

    /// One row per entry (in key order), assigned `variant: <name>`; seed i gets values[i] of
    /// `metric`. NaN leaves a completed run without that value; `states` overrides a run's state.
    static func sweep(_ rows: [String: [Double]], metric: String = "final_loss",
                      states: [String: [Int: RunStatus]] = [:]) throws -> SweepData {
        try sweep(rows.keys.sorted().map { (JSONValue.string($0), rows[$0]!) }, key: key, metric: metric, states: states)
    }

    /// Rows with any assignment value (numbers for a trend axis).
    static func sweep(_ rows: [(value: JSONValue, values: [Double])], key: String, metric: String = "final_loss",
                      states: [String: [Int: RunStatus]] = [:]) throws -> SweepData {
        var cells: [SweepManifest.Cell] = []
        var results: [RunResult] = []
        for (value, values) in rows {
            for (seed, x) in values.enumerated() {
                let cell = SweepManifest.Cell(index: cells.count, runID: "r\(cells.count)", label: "\(key)=\(value.display),seed=\(seed)",
                                              seed: seed, assignments: [key: value.canonical], state: .completed)
                cells.append(cell)
                var contents = RunFileContents()
                contents.state = .read(states[value.display]?[seed] ?? .completed)
                contents.metrics[metric] = x
                results.append(try RunResult(cell: cell, contents: contents))
            }
        }
        let manifest = SweepManifest(spec: "fixture", specFile: "", overrides: [], varyingKeys: [key, "seed"], cells: cells)
        return SweepData(directory: "/nonexistent", manifest: manifest, results: results)
    }

    /// One row per entry (in key order), assigned `variant: <name>`; seed i gets curves[i] as its
    /// eval curve and the curve's last loss as final_loss (its lowest as best_loss).
    static func sweep(curves rows: [String: [EvalCurve]]) throws -> SweepData {
        var sweep = try sweep(rows.mapValues { $0.map { $0.loss.last ?? .nan } })
        for g in sweep.groups.indices {
            let curves = rows[sweep.groups[g].assignments[key]!.stringValue!]!
            for r in sweep.groups[g].runs.indices {
                sweep.groups[g].runs[r].evalCurve = curves[sweep.groups[g].runs[r].cell.seed]
                sweep.groups[g].runs[r].metrics["best_loss"] = curves[sweep.groups[g].runs[r].cell.seed].loss.min() ?? .nan
            }
        }
        return sweep
    }
}
