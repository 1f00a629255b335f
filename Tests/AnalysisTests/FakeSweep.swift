// A sweep with known values: run files written with RunFileWriter whose metrics are chosen so
// that every number of the table is known in closed form. Three rows (experts = 4, 8, 16) over
// seeds 0, 1, 2; the experts=16 row is partial (seed 1 still running, seed 2 never started).
import Foundation
import RunStore
import TestSupport

enum FakeSweep {
    static let key = "model.ffn.moe.experts"
    static let optimum = 1.5

    /// experts → seed → final eval loss (nil: no completed run).
    static let finalLoss: [Int: [Int: Double]] = [
        4: [0: 2.0, 1: 2.2, 2: 2.4],     // mean 2.2, std 0.2
        8: [0: 1.9, 1: 1.9, 2: 2.2],     // mean 2.0, std √0.03; paired vs 4: d = −0.1, −0.3, −0.2
        16: [0: 2.1],
    ]
    /// experts → tokens/s of every train row (higher is better: experts=4 is best).
    static let tokensPerSecond: [Int: Double] = [4: 3000, 8: 2000, 16: 1000]
    /// experts → MaxVio_global at the last eval.
    static let maxVioGlobal: [Int: Double] = [4: 0.5, 8: 0.25, 16: 0.125]

    static func runID(_ experts: Int, _ seed: Int) -> String { "e\(experts)s\(seed)" }

    /// Writes the sweep into `<directory>/fake/` and returns that sweep directory.
    static func write(in directory: URL) throws -> String {
        let sweep = directory.appendingPathComponent("fake").path
        var cells: [SweepManifest.Cell] = []
        for experts in [4, 8, 16] {
            for seed in 0..<3 {
                let id = runID(experts, seed)
                let running = experts == 16 && seed == 1
                let missing = experts == 16 && seed == 2
                cells.append(SweepManifest.Cell(
                    index: cells.count, runID: id, label: "moe.experts=\(experts),seed=\(seed)", seed: seed,
                    assignments: [key: "\(experts)"], state: missing ? .pending : running ? .running : .completed))
                if missing { continue }
                try writeRun(path: sweep + "/\(id)/run.h5", experts: experts, seed: seed, completed: !running)
            }
        }
        let manifest = SweepManifest(spec: "fake", specFile: "/nonexistent/fake.yaml", overrides: [],
                                     varyingKeys: [key, "seed"], cells: cells)
        try manifest.write(directory: sweep)
        return sweep
    }

    static func writeRun(path: String, experts: Int, seed: Int, completed: Bool) throws {
        let info = RunInfo(runID: runID(experts, seed), specName: "fake", label: "experts=\(experts)", specSHA256: String(repeating: "0", count: 64),
                           seed: seed, isa: "avx2", threads: 1,
                           modelStats: ["total_parameters": Int64(1000 * experts), "active_parameters": 2500,
                                        "kv_cache_per_token": Int64(8 * experts), "flops_per_token": 5000])
        let resolved = "name: fake\nmodel:\n  attention:\n    kind: mla\n  ffn:\n    moe:\n      experts: \(experts)\nseed: \(seed)\n"
        let writer = try RunFileWriter.create(path: path, run: info, spec: SpecTexts(given: resolved, resolved: resolved))
        defer { writer.close() }
        let final = finalLoss[experts]?[seed] ?? 3.0
        for step in 1...10 {
            let load: [Int64] = (0..<4).map { Int64(10 + $0 * step) }
            try writer.appendTrain(step: step, metrics: ["loss": final + 1.0 / Double(step), "maxvio": 0.1 * Double(step % 2 + 1),
                                                         "tokens_per_s": tokensPerSecond[experts]!, "tokens": Double(64 * step)],
                                   moe: [MoELayerRow(load: load, bias: (0..<4).map { Float(step) * 0.001 * Float($0 - 1) },
                                                     maxvio: 0.3, entropy: 1.2, dropped: 0)])
            if step % 5 == 0 {
                // Eval at 5 and 10: the loss at 5 is 0.5 higher, so best = final.
                let loss = step == 10 ? final : final + 0.5
                try writer.appendEval(step: step, metrics: ["loss": loss, "ppl": exp(loss), "optimum": optimum, "gap": loss - optimum,
                                                            "accuracy": .nan, "maxvio_global": step == 10 ? maxVioGlobal[experts]! : 9])
            }
            if !completed && step == 7 { try writer.flush(); return }
        }
        try writer.finish(.completed)
    }
}
