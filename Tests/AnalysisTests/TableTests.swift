// Tables and exports of a sweep with known values (FakeSweep): exact means and stds, best
// marks, reference numbers, the paired test against the baseline, a partial sweep, the
// settings format, and the tidy CSV read back with pandas.
import Foundation
import RunStore
import Testing
import TestSupport
@testable import Analysis

@Suite struct TableTests {
    static let settingsJSON = """
        {"baseline":{"model.ffn.moe.experts":4},
         "reference":{"source":"Paper, Table 1","rows":[
            {"match":{"model.ffn.moe.experts":4},"final_loss":2.25,"maxvio_global":0.7},
            {"match":{"model.ffn.moe.experts":32},"final_loss":1.0}]}}
        """

    func fakeTable(metrics: [String]? = nil) throws -> (SweepData, SweepTable) {
        let sweep = try SweepData.load(directory: try FakeSweep.write(in: try TestEnvironment.temporaryDirectory("analysis")))
        let table = try SweepTable.build(sweep, settings: try TableSettings.parse(json: Self.settingsJSON), metrics: metrics)
        return (sweep, table)
    }

    @Test func rowsHoldMeanStdAndNOverCompletedSeeds() throws {
        let (sweep, table) = try fakeTable()
        #expect(sweep.varyingKeys == [FakeSweep.key])
        #expect(table.rows.map(\.group.label) == ["moe.experts=4", "moe.experts=8", "moe.experts=16"])
        #expect(table.rows.map(\.keyValues) == [["4"], ["8"], ["16"]])
        #expect(table.rows.map(\.completed) == [3, 3, 1])
        #expect(table.rows.map(\.cells) == [3, 3, 3])
        let final = table.rows.map { $0.stats["final_loss"]! }
        #expect(abs(final[0].mean - 2.2) < 1e-12 && abs(final[0].std - 0.2) < 1e-12)
        #expect(abs(final[1].mean - 2.0) < 1e-12 && abs(final[1].std - 0.03.squareRoot()) < 1e-12)
        #expect(final[2].n == 1 && final[2].mean == 2.1 && final[2].std.isNaN)
        #expect(table.rows[0].stats["best_loss"] == final[0])
        #expect(abs(table.rows[0].stats["gap"]!.mean - 0.7) < 1e-12)
        #expect(table.rows[1].stats["maxvio_global"]!.mean == 0.25 && table.rows[1].stats["maxvio_global"]!.std == 0)
        #expect(table.rows[0].stats["tokens_per_s"]!.mean == 3000)
        // Each run's eval curve: the loss at each eval against the train tokens logged at its step.
        #expect(table.rows[0].group.runs[1].evalCurve == EvalCurve(tokens: [320, 640], loss: [2.7, 2.2]))
        #expect(table.rows[2].group.runs[1].evalCurve == EvalCurve(tokens: [320], loss: [3.5]))   // still running at step 7
        // Derived columns come from the run files' model_* attributes.
        #expect(table.rows[1].derived == ["total_parameters": 8000, "active_parameters": 2500, "kv_cache_per_token": 64, "flops_per_token": 5000])
        // Accuracy is NaN in every run: no column.
        #expect(table.metrics.map(\.id) == ["final_loss", "best_loss", "ppl", "gap", "maxvio_global", "maxvio_batch", "tokens_per_s"])
    }

    @Test func referenceNumbersKeepThePapersDigits() throws {
        let (_, table) = try fakeTable()
        #expect(table.referenceMetrics == ["final_loss", "maxvio_global"])
        #expect(table.rows[0].reference == ["final_loss": 2.25, "maxvio_global": 0.7])
        #expect(table.rows[1].reference.isEmpty)
        #expect(table.notes.contains { $0.contains("reference row 1") && $0.contains("matches no row") })
        let texts = try TableSettings.parse(json: #"{"reference":{"units":{"ppl":"per token"},"rows":[{"match":{},"ppl":"9.50"}]}}"#)
        #expect(texts.reference[0].values == ["ppl": 9.5] && texts.reference[0].texts == ["ppl": "9.50"])
        #expect(texts.referenceUnits == ["ppl": "per token"])
    }

    @Test func rowsCarryTheirTIntervalAndEverySeed() throws {
        let (_, table) = try fakeTable()
        // mean 2.2, std 0.2, n 3: half-width t(0.975, 2) · 0.2/√3, t(0.975, 2) = 4.302652729749464.
        let ci = table.rows[0].intervals["final_loss"]!
        #expect(abs(ci.halfWidth - 4.302652729749464 * 0.2 / 3.0.squareRoot()) < 1e-9)
        #expect(abs(ci.low + ci.high - 4.4) < 1e-12)
        #expect(!table.rows[2].intervals["final_loss"]!.exists)            // n = 1: no interval
        #expect(table.rows[0].values["final_loss"]!.map(\.seed) == [0, 1, 2])
        #expect(table.rows[0].values["final_loss"]!.map(\.value) == [2.0, 2.2, 2.4])
    }

    /// Nothing in the fake sweep is significantly best: E = 8's lower loss has p = 0.074 against
    /// E = 4 and one pair against E = 16, and the tied maxvio_batch is nobody's.
    @Test func boldOnlyWhenSignificantlyBest() throws {
        let (_, table) = try fakeTable()
        #expect(table.rows.allSatisfy { $0.best.isEmpty })
        // Three rows, four seeds: a consistent winner is bold, a bimodal better mean is not.
        let clear = try TableFixtures.sweep(["a": [1.0, 1.1, 1.05, 1.2], "b": [2.0, 2.1, 2.0, 2.3], "c": [3.0, 3.2, 3.1, 3.05]])
        let clearTable = try SweepTable.build(clear, metrics: ["final_loss"])
        #expect(clearTable.rows.map { $0.best.contains("final_loss") } == [true, false, false])
        let bimodal = try TableFixtures.sweep(["a": [0.1, 2.5, 2.5, 2.4], "b": [2.0, 2.1, 2.0, 2.3]])
        let bimodalTable = try SweepTable.build(bimodal, metrics: ["final_loss"])
        #expect(bimodalTable.rows[0].stats["final_loss"]!.mean < bimodalTable.rows[1].stats["final_loss"]!.mean)
        #expect(bimodalTable.rows.allSatisfy { $0.best.isEmpty })
        #expect(!clearTable.render(.md).contains("**2.") && clearTable.render(.md).contains("**1.0875"))
    }

    @Test func contrastsHaveIntervalsAndCorrectedP() throws {
        let (_, table) = try fakeTable()
        #expect(table.rows[0].isBaseline && table.rows[0].contrasts.isEmpty)
        let c = table.rows[1].contrasts["final_loss"]!
        #expect(c.differences.pairs == 3 && abs(c.differences.estimate - -0.2) < 1e-12)
        #expect(abs(c.p - (1 - (6.0 / 7).squareRoot())) < 1e-10)   // t = −2√3, df 2
        #expect(abs(c.interval.halfWidth - 4.302652729749464 * 0.1 / 3.0.squareRoot()) < 1e-9)
        // The E = 16 contrast has one pair (no p), so the family has one member: p adj = p.
        #expect(c.pAdjusted == c.p)
        let partial = table.rows[2].contrasts["final_loss"]!
        #expect(partial.differences.pairs == 1 && abs(partial.differences.estimate - 0.1) < 1e-12 && partial.p.isNaN)
        // Holm over two valid contrasts; none leaves them as they are.
        let two = try TableFixtures.sweep(["base": [1.0, 1.1, 1.2], "x": [0.8, 1.0, 1.05], "y": [1.3, 1.35, 1.5]])
        var settings = TableSettings(baseline: .init(match: [TableFixtures.key: "base"]))
        let holm = try SweepTable.build(two, settings: settings, metrics: ["final_loss"])
        let ps = [holm.rows[1].contrasts["final_loss"]!.p, holm.rows[2].contrasts["final_loss"]!.p]
        #expect(holm.rows[1].contrasts["final_loss"]!.pAdjusted == Correction.holm.adjust(ps)[0])
        #expect(holm.rows[2].contrasts["final_loss"]!.pAdjusted == Correction.holm.adjust(ps)[1])
        #expect(holm.rows.compactMap { $0.contrasts["final_loss"]?.pAdjusted }.min()! == 2 * ps.min()!)
        settings.correction = .none
        let none = try SweepTable.build(two, settings: settings, metrics: ["final_loss"])
        #expect(none.rows[1].contrasts["final_loss"]!.pAdjusted == ps[0])
    }

    @Test func partialSweepIsCountedAndMarkedInEveryFormat() throws {
        let (_, table) = try fakeTable(metrics: ["final_loss", "tokens_per_s"])
        #expect(table.rows[2].incomplete.map(\.cell.seed) == [1, 2])
        #expect(table.excluded == ["running": 1, "missing": 1])
        #expect(table.notes.contains("excluded from the statistics: 2 of 9 cells (1 missing, 1 running); rows marked * miss cells:"))
        #expect(table.notes.contains { $0.contains("e16s1") && $0.contains("running at step 7") })
        #expect(table.notes.contains { $0.contains("e16s2") && $0.contains("not started (pending") })
        let md = table.render(.md)
        let lines = md.split(separator: "\n").map(String.init)
        #expect(lines[0] == "| moe.experts | params | active params | KV cache/token | FLOPs/token | n | final eval loss [nats/token] | final eval loss (paper) | throughput [tokens/s] |")
        #expect(lines[2] == "| 4 | 4000 | 2500 | 32 | 5000 | 3/3 | 2.2000 ± 0.4968 | 2.25 | 3000 ± 0 |")
        #expect(lines[3] == "| 8 | 8000 | 2500 | 64 | 5000 | 3/3 | 2.0000 ± 0.4303 | — | 2000 ± 0 |")
        #expect(lines[4] == "| 16 | 16.0K | 2500 | 128 | 5000 | 1/3* | 2.1000 | — | 1000 |")
        #expect(md.contains("| moe.experts=8 | -0.2000 [-0.4484, +0.0484] | 0.074 | 0.074 |"))
        let latex = table.render(.latex)
        #expect(latex.contains("2.0000 $\\pm$ 0.4303"))
        #expect(latex.contains("1/3*"))
        #expect(latex.contains("\\toprule") && latex.contains("\\bottomrule"))
        let json = try JSONValue.parse(table.render(.json))
        #expect(json["sections"].map { if case .list(let s) = $0 { s.count } else { 0 } } == 2)
        #expect(json["excluded"]?["missing"] == .int(1))
    }

    @Test func csvTableHasFullPrecisionColumns() throws {
        let (_, table) = try fakeTable(metrics: ["final_loss"])
        let lines = table.render(.csv).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        #expect(lines[0] == ["model.ffn.moe.experts", "label", "total_parameters", "active_parameters", "kv_cache_per_token", "flops_per_token",
                             "n", "cells", "final_loss_mean", "final_loss_std", "final_loss_n", "final_loss_ci_low", "final_loss_ci_high",
                             "final_loss_best", "final_loss_reference",
                             "baseline", "final_loss_diff", "final_loss_diff_ci_low", "final_loss_diff_ci_high", "final_loss_p",
                             "final_loss_p_adjusted", "final_loss_pairs"])
        #expect(lines.count == 4)
        let row8 = lines[2]
        #expect(abs(Double(row8[8])! - 2.0) < 1e-12 && abs(Double(row8[9])! - 0.03.squareRoot()) < 1e-12)
        #expect(row8[10] == "3" && row8[13] == "0" && row8[14] == "" && row8[15] == "0")
        #expect(abs(Double(row8[19])! - (1 - (6.0 / 7).squareRoot())) < 1e-10)
        #expect(lines[1][15] == "1" && lines[1][16] == "")      // the baseline row compares with nothing
        #expect(lines[3][19] == "")                               // one pair: no p-value
    }

    @Test func baselineMustNameExactlyOneRow() throws {
        let sweep = try SweepData.load(directory: try FakeSweep.write(in: try TestEnvironment.temporaryDirectory("analysis")))
        #expect(throws: AnalysisError.self) {
            try SweepTable.build(sweep, settings: TableSettings(baseline: .init(match: [FakeSweep.key: .double(5)])))
        }
        #expect(throws: AnalysisError.self) {
            try SweepTable.build(sweep, settings: TableSettings(baseline: .init(match: [:])))
        }
        #expect(throws: AnalysisError.self) { try SweepTable.build(sweep, metrics: ["loss"]) }
    }

    @Test func settingsFormatShortAndLongAndErrorsNameThePath() throws {
        let short = try TableSettings.parse(json: #"{"baseline":{"model.attention.kind":"mha"}}"#)
        #expect(short.baseline == .init(match: ["model.attention.kind": .string("mha")], metrics: ["final_loss"]))
        let long = try TableSettings.parse(json: #"{"baseline":{"match":{"a.b":1},"metrics":["ppl","gap"]}}"#)
        #expect(long.baseline == .init(match: ["a.b": .double(1)], metrics: ["ppl", "gap"]))
        #expect(try TableSettings.parse(json: "null") == TableSettings())
        func message(_ json: String) -> String {
            do { _ = try TableSettings.parse(json: json); return "" } catch { return "\(error)" }
        }
        #expect(message(#"{"reference":{"rows":[{"match":{},"loss":1}]}}"#).hasPrefix("table.reference.rows[0].loss: unknown metric"))
        #expect(message(#"{"reference":{"rows":[{"ppl":"high"}]}}"#).hasPrefix("table.reference.rows[0].ppl: expected a number"))
        #expect(message(#"{"baseline":{"match":{},"metrics":["nope"]}}"#).hasPrefix("table.baseline.metrics[0]: unknown metric 'nope'"))
        #expect(message(#"{"colour":1}"#).hasPrefix("table.colour: unknown key"))
    }

    /// A match names a path inside a mapping a cell assigns as a whole (sweep `cells` often do).
    @Test func matchLooksInsideAssignedMappings() throws {
        let group = SweepGroup(assignments: ["model.attention": try JSONValue.parse(#"{"kind":"gqa","heads":4}"#)], label: "", runs: [])
        #expect(group.matches(["model.attention.kind": .string("gqa")]))
        #expect(group.matches(["model.attention.heads": .double(4.0)]))
        #expect(!group.matches(["model.attention.kind": .string("mha")]))
        #expect(!group.matches(["model.ffn.kind": .string("moe")]))
        #expect(try JSONValue.parse(#"{"b":[1,2.5,true,null],"a":"x\"y"}"#).canonical == #"{"a":"x\"y","b":[1,2.5,true,null]}"#)
    }

    @Test func notebookSectionsFollowTheData() throws {
        let (sweep, _) = try fakeTable()
        let sections = NotebookExport.Sections(sweep)
        #expect(sections == NotebookExport.Sections(lossCurves: true, finalLossVsAxis: true, expertLoad: true, maxVio: true,
                                                    biasTrajectories: true, specialisation: false, kvCacheVsLoss: true, parametersVsLoss: true,
                                                    tuning: false))
        let text = try NotebookExport.notebook(sweep, sweepPath: "../runs/fake", tablePath: "fake.table.json", command: "ablate export")
        let document = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
        #expect(document?["nbformat"] as? Int == 4)
        let cells = document?["cells"] as? [[String: Any]] ?? []
        #expect((cells[1]["source"] as? [String]) == [#"SWEEP_DIR = "../runs/fake""# + "\n", #"TABLE_JSON = "fake.table.json""#])
        #expect(NotebookExport.relativePath("/a/runs/x", from: "/a/notebooks-export") == "../runs/x")
    }

    @Test func tidyValuesRoundTripAndInfinitiesReadEverywhere() {
        #expect(TidyExport.text(0.1) == "0.1" && TidyExport.text(1.0 / 3) == "0.3333333333333333")
        #expect(TidyExport.text(.infinity) == "Inf" && TidyExport.text(-.infinity) == "-Inf")
    }

    /// The tidy CSV read back by pandas gives every value of the run files bit for bit.
    @Test func tidyCSVRoundTripsThroughPandas() throws {
        let directory = try TestEnvironment.temporaryDirectory("analysis")
        let sweep = try SweepData.load(directory: try FakeSweep.write(in: directory))
        let csv = directory.appendingPathComponent("tidy.csv").path
        let lines = try TidyExport.write(sweep, to: csv)
        let script = """
            import sys, h5py, numpy as np, pandas as pd
            csv, sweep = sys.argv[1], sys.argv[2]
            df = pd.read_csv(csv, float_precision="round_trip")
            assert list(df.columns) == ["run_id", "model.ffn.moe.experts", "seed", "split", "step", "metric", "value"], list(df.columns)
            assert df["model.ffn.moe.experts"].dtype.kind == "i" and df["step"].dtype.kind == "i" and df["value"].dtype.kind == "f"
            expected = 0
            for run_id, part in df.groupby("run_id"):
                with h5py.File(f"{sweep}/{run_id}/run.h5", "r") as f:
                    for split in ["train", "eval"]:
                        g = f["metrics/" + split]
                        for name in g:
                            if name == "step":
                                continue
                            values = g[name][:]
                            keep = ~np.isnan(values)
                            rows = part[(part.split == split) & (part.metric == name)].sort_values("step")
                            assert np.array_equal(rows.step.values, g["step"][:][keep]), (run_id, split, name)
                            assert np.array_equal(rows.value.values, values[keep]), (run_id, split, name)
                            expected += int(keep.sum())
                    maxvio = part[(part.split == "moe_layer_0") & (part.metric == "maxvio")].sort_values("step")
                    assert np.array_equal(maxvio.value.values, f["moe/layer_0/maxvio"][:])
                    expected += 3 * len(maxvio)
            assert len(df) == expected, (len(df), expected)
            assert sorted(df.run_id.unique()) == ["e16s0", "e16s1", "e4s0", "e4s1", "e4s2", "e8s0", "e8s1", "e8s2"]
            print(len(df))
            """
        let result = try runPython(script, [csv, sweep.directory])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "\(lines)")
    }
}
