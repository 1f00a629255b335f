// Tidy long CSV of a sweep: one line per (run, split, step, metric) with the run's varying keys
// and seed beside it, so pandas, polars and R read it directly and group by any column.
//
//   run_id,model.attention.kind,seed,split,step,metric,value
//   3f2a…,mla,0,train,1,loss,3.4657359027997265
//
// Splits: `train` and `eval` (the /metrics groups) and `moe_layer_<l>` (maxvio, entropy,
// dropped of each MoE layer; per-expert loads and biases are in the run files and notebooks).
// Values are written with full precision (shortest text that reads back to the same double);
// NaN values (a metric a split does not have) are left out rather than written; infinities
// (a diverged run) are `Inf` / `-Inf`.
import Foundation
import RunStore

public enum TidyExport {
    public static let fixedColumns = ["run_id", "seed", "split", "step", "metric", "value"]

    /// Writes the CSV of every readable run of the sweep to `path`; returns the number of data
    /// lines. Cells without a readable run file contribute nothing.
    @discardableResult
    public static func write(_ sweep: SweepData, to path: String) throws -> Int {
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw AnalysisError("cannot write '\(path)'")
        }
        defer { try? handle.close() }
        var buffer = header(sweep) + "\n"
        var count = 0
        for group in sweep.groups {
            for run in group.runs {
                guard case .read = run.state else { continue }
                let file = URL(fileURLWithPath: sweep.directory).appendingPathComponent(run.cell.runFile).path
                let reader = try RunFileReader(path: file)
                defer { reader.close() }
                let prefix = ([run.cell.runID] + sweep.varyingKeys.map { group.value(at: $0)?.display ?? "" } + [String(run.cell.seed)])
                    .map(CSV.field).joined(separator: ",")
                func emit(_ split: String, _ steps: [Int64], _ columns: [(String, [Double])]) {
                    for (name, values) in columns {
                        for (step, value) in zip(steps, values) where !value.isNaN {
                            buffer += "\(prefix),\(split),\(step),\(CSV.field(name)),\(text(value))\n"
                            count += 1
                        }
                    }
                    if buffer.utf8.count > 1 << 20 {
                        handle.write(Data(buffer.utf8))
                        buffer = ""
                    }
                }
                for (split, table) in [("train", try reader.trainMetrics()), ("eval", try reader.evalMetrics())] {
                    emit(split, table.steps, table.columns.keys.sorted().map { ($0, table.columns[$0]!) })
                }
                let steps = try reader.trainMetrics().steps
                for layer in try reader.moeLayers() {
                    emit("moe_layer_\(layer.layer)", steps,
                         [("maxvio", layer.maxvio), ("entropy", layer.entropy), ("dropped", layer.dropped)])
                }
            }
        }
        handle.write(Data(buffer.utf8))
        return count
    }

    /// Shortest round-trip text; infinities as `Inf` / `-Inf`, which pandas, polars and R all read.
    static func text(_ value: Double) -> String {
        value.isInfinite ? (value > 0 ? "Inf" : "-Inf") : "\(value)"
    }

    static func header(_ sweep: SweepData) -> String {
        (["run_id"] + sweep.varyingKeys + ["seed", "split", "step", "metric", "value"]).map(CSV.field).joined(separator: ",")
    }
}
