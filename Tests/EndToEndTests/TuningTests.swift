// A sweep with a `tune` block through the release binary: the tuning sweep runs every variant at
// every grid point on the tuning seeds, the evaluation sweep runs each variant at the point with
// the lowest mean eval loss (read here from the tuning runs' own files), a second call runs
// nothing, and a tune block that would leak tuning seeds into the claims is refused.
import Foundation
import Testing
import TestSupport
import RunStore

let tuneSpec = "name: tinytune\n" + tinyMLAMoEModelAndData + """
train: {steps: 20, batch_size: 4, seq_len: 16, eval_every: 10}
log: {flush_every: 5, checkpoint_every: 10}
seeds: [0, 1]
sweep:
  grid:
    model.ffn.moe.top_k: [1, 2]
tune:
  grid: {train.optimizer.lr: [0.001, 0.003, 0.03]}
  seeds: [100, 101]
"""

@Suite struct TuningTests {
    @Test func tuningChoosesTheLowestMeanAndTheSweepTrainsIt() throws {
        let (binary, directory, spec) = try TestEnvironment.endToEnd("tune", spec: tuneSpec, file: "tune.yaml")
        let runs = directory.appendingPathComponent("runs").path
        let first = try runProcess(binary, ["sweep", spec, "--runs", runs, "--jobs", "2"])
        #expect(first.status == 0, "\(first.stdout)\(first.stderr)")
        #expect(first.stdout.contains("sweep tinytune-tune: 12 cell(s) — 12 pending"), "\(first.stdout)")

        // The tuning sweep: 2 variants × 3 rates × 2 tuning seeds. Each variant's choice is the
        // rate with the lowest mean final eval loss over its two tuning runs.
        let tuning = try SweepManifest.read(directory: runs + "/tinytune-tune")
        #expect(tuning.cells.count == 12 && Set(tuning.cells.map(\.seed)) == [100, 101])
        var expected: [String: String] = [:]
        var meansOf: [String: [Double]] = [:]
        for topK in ["1", "2"] {
            var means: [(lr: String, mean: Double)] = []
            for lr in ["0.001", "0.003", "0.03"] {
                let cells = tuning.cells.filter { $0.assignments["model.ffn.moe.top_k"] == topK && $0.assignments["train.optimizer.lr"] == lr }
                #expect(cells.count == 2)
                var sum = 0.0
                for cell in cells {
                    let reader = try RunFileReader(path: runs + "/tinytune-tune/" + cell.runFile)
                    defer { reader.close() }
                    sum += try reader.evalMetrics().columns["loss"]!.last!
                }
                means.append((lr, sum / 2))
            }
            expected[topK] = means.min { $0.mean < $1.mean }!.lr
            meansOf[topK] = means.map(\.mean)
        }

        // The evaluation sweep: each variant at its chosen rate, on seeds 0 and 1 only.
        let evaluation = try SweepManifest.read(directory: runs + "/tinytune")
        #expect(evaluation.cells.count == 4 && evaluation.cells.map(\.seed) == [0, 1, 0, 1])
        #expect(evaluation.cells.allSatisfy { $0.state == .completed })
        for cell in evaluation.cells {
            let topK = cell.assignments["model.ffn.moe.top_k"]!
            #expect(cell.assignments["train.optimizer.lr"] == expected[topK], "\(cell.label): \(cell.assignments)")
        }
        #expect(evaluation.varyingKeys.contains("train.optimizer.lr"))
        #expect(evaluation.specFile.hasSuffix("runs/tinytune/tuned-spec.yaml"))
        let derived = try String(contentsOfFile: runs + "/tinytune/tuned-spec.yaml", encoding: .utf8)
        #expect(derived.contains("(chosen)") && derived.contains("tuned: [train.optimizer.lr]"))
        // tuning.json beside it: the means the choice used, which the notebook draws.
        let means = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: runs + "/tinytune/tuning.json"))) as? [String: Any]
        #expect(means?["metric"] as? String == "final_loss" && means?["tuned"] as? [String] == ["train.optimizer.lr"])
        let variants = means?["variants"] as? [[String: Any]] ?? []
        #expect(variants.count == 2)
        for variant in variants {
            let topK = ((variant["assignments"] as? [String: Any])?["model.ffn.moe.top_k"] as? NSNumber).map { "\($0.intValue)" } ?? "?"
            let points = variant["points"] as? [[String: Any]] ?? []
            let got = points.compactMap { ($0["mean"] as? NSNumber)?.doubleValue }
            #expect(got.count == 3 && zip(got, meansOf[topK] ?? []).allSatisfy { abs($0 - $1) <= 1e-12 * max(1, abs($1)) }, "top_k \(topK): \(got) vs \(meansOf[topK] ?? [])")
            #expect((variant["chosen"] as? [NSNumber])?.first?.doubleValue == Double(expected[topK] ?? ""), "top_k \(topK)")
        }

        // The table of the spec shows the chosen rate per row.
        let table = try runProcess(binary, ["table", spec, "--runs", runs, "--metrics", "final_loss"])
        #expect(table.status == 0 && table.stdout.contains("| optimizer.lr |"), "\(table.stdout)\(table.stderr)")

        // The notebook of the evaluation sweep shows each variant's tuning curve, read from the
        // tuning sweep beside it.
        let notebook = directory.appendingPathComponent("notebooks/tinytune.ipynb").path
        let export = try runProcess(binary, ["export", runs + "/tinytune", "--notebook", notebook])
        #expect(export.status == 0 && export.stdout.contains("tuning curves"), "\(export.stdout)\(export.stderr)")
        let executed = try runPython(NotebookTests.execute, [notebook])
        #expect(executed.status == 0, "notebook failed: \(executed.stderr.suffix(3000))")
        let summary = try JSONSerialization.jsonObject(with: Data((executed.stdout.split(separator: "\n").last ?? "").utf8)) as? [String: Any]
        #expect(summary?["errors"] as? Int == 0)
        let headings = summary?["headings"] as? [String] ?? []
        let tuningAt = try #require(headings.firstIndex(of: "## Tuning curves"), "\(headings)")
        #expect(tuningAt > 0 && (summary?["images"] as? Int ?? 0) >= 3, "\(executed.stdout)")

        // Everything done: both sweeps run nothing.
        let second = try runProcess(binary, ["sweep", spec, "--runs", runs])
        #expect(second.status == 0 && second.stdout.components(separatedBy: "nothing to run").count == 3, "\(second.stdout)")
    }

    @Test func tuneBlocksThatLeakOrCollideAreRefused() throws {
        let (binary, directory, _) = try TestEnvironment.endToEnd("tune-bad", spec: tuneSpec, file: "tune.yaml")
        func refusal(_ tune: String) throws -> String {
            let path = directory.appendingPathComponent("bad.yaml").path
            let base = tuneSpec[..<tuneSpec.range(of: "tune:\n")!.lowerBound]
            try (base + "tune:\n" + tune + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            let result = try runProcess(binary, ["validate", path])
            #expect(result.status == 2, "\(result.stdout)\(result.stderr)")
            return result.stderr
        }
        let lr = "  grid: {train.optimizer.lr: [0.001, 0.01]}\n"
        #expect(try refusal(lr + "  seeds: [1, 100]").contains("tune.seeds: [1] also in seeds"))
        #expect(try refusal(lr + "  seeds: [100]\n  metric: ppl").contains("tune.metric: expected final_loss or best_loss, got ppl"))
        #expect(try refusal("  grid: {model.ffn.moe.top_k: [1, 2]}\n  seeds: [100]").contains("tune.grid.model.ffn.moe.top_k: is also a sweep axis"))
        // A grid value the schema refuses is named as the tuning sweep's cells would see it.
        #expect(try refusal("  grid: {train.optimizer.lr: [-1.0]}\n  seeds: [100]").contains("train.optimizer.lr"))
    }
}
