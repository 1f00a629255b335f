// Trains a small real sweep with the release binary (`ablate sweep`, 4 cells of a tiny MLA + MoE model with
// loss-free balancing, about a second in all), then runs `ablate table` and `ablate export` on
// it and executes the exported notebook headless with nbclient: every cell must run without an
// error and the figures must be in the outputs.
import Foundation
import Testing
import TestSupport

@Suite struct NotebookTests {
    static let spec = """
        name: tinysweep
        model:
          vocab: 16
          d_model: 16
          n_layers: 2
          attention: {kind: mla, heads: 2, kv_rank: 8, q_rank: 0, d_nope: 4, d_rope: 4, d_v: 4}
          ffn:
            kind: moe
            hidden: 24
            moe:
              experts: 4
              top_k: 2
              expert_hidden: 8
              router: {score: sigmoid, normalize: true}
              balance: {loss_free: {enabled: true, rate: 0.01}}
        data:
          kind: markov_mixture
          markov_mixture: {sources: 2, symbols: 16, alpha: 0.3}
          val_sequences: 4
        train: {steps: 30, batch_size: 4, seq_len: 16, eval_every: 10}
        log: {flush_every: 10, checkpoint_every: 30}
        seeds: [0, 1]
        sweep:
          grid: {model.attention.kv_rank: [4, 8]}
        table:
          reference:
            source: test numbers
            rows: [{match: {model.attention.kv_rank: 8}, final_loss: 2.5}]
          baseline: {model.attention.kv_rank: 8}
          claims:
            - name: rank 4 costs nothing against rank 8
              metric: final_loss
              a: {match: {model.attention.kv_rank: 4}}
              b: {match: {model.attention.kv_rank: 8}}
              expect: equivalent
              min_effect: 0.5
            - name: loss falls with the rank
              metric: final_loss
              trend: {axis: model.attention.kv_rank, scale: log2}
              expect: less
              min_effect: 0.01
        """

    static let execute = """
        import json, os, sys, nbformat
        from nbclient import NotebookClient
        path = sys.argv[1]
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        NotebookClient(nb, timeout=120, kernel_name="python3",
                       resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}}).execute()
        code = [c for c in nb.cells if c.cell_type == "code"]
        print(json.dumps({
            "code_cells": len(code),
            "executed": sum(1 for c in code if c.execution_count is not None),
            "errors": sum(1 for c in code for o in c.outputs if o.output_type == "error"),
            "images": sum(1 for c in code for o in c.outputs if "image/png" in o.get("data", {})),
            "headings": [c.source.splitlines()[0] for c in nb.cells if c.cell_type == "markdown"],
        }))
        """

    /// Trains every cell with `ablate sweep` (one at a time, 1 thread: runs on a 1-core CI machine too).
    func trainSweep(_ directory: URL) throws -> (spec: String, sweep: String) {
        let spec = directory.appendingPathComponent("tinysweep.yaml").path
        try Self.spec.write(toFile: spec, atomically: true, encoding: .utf8)
        let runs = directory.appendingPathComponent("runs").path
        let result = try runProcess(try TestEnvironment.ablateBinary(), ["sweep", spec, "--runs", runs, "--jobs", "1", "--threads", "1"])
        guard result.status == 0 else { throw SetupError("ablate sweep failed: \(result.stdout) \(result.stderr)") }
        return (spec, runs + "/tinysweep")
    }

    /// Claims on a real sweep: one JSON object per claim for scripts, and `ablate plan`'s seeds and hours.
    @Test func claimsAndPlanOnARealSweep() throws {
        let directory = try TestEnvironment.temporaryDirectory("claims")
        let (_, sweep) = try trainSweep(directory)
        let binary = try TestEnvironment.ablateBinary()
        let claims = try runProcess(binary, ["table", sweep, "--claims", "--format", "json"])
        #expect(claims.status == 0, "\(claims.stderr)")
        let objects = try #require(try JSONSerialization.jsonObject(with: Data(claims.stdout.utf8)) as? [[String: Any]])
        #expect(objects.map { $0["name"] as? String } == ["rank 4 costs nothing against rank 8", "loss falls with the rank"])
        for object in objects {
            for key in ["name", "verdict", "estimate", "ci", "p", "p_adjusted", "pairs", "seeds_needed"] {
                #expect(object.keys.contains(key), "\(key) missing in \(object)")
            }
            #expect(["holds", "contradicted", "inconclusive"].contains(object["verdict"] as? String ?? ""))
        }
        #expect(objects[0]["pairs"] as? Int == 2 && objects[1]["pairs"] as? Int == 4)
        // Holm over the two claims: the adjusted p-values are Holm's of the raw ones.
        let p = objects.map { $0["p"] as? Double ?? .nan }, adjusted = objects.map { $0["p_adjusted"] as? Double ?? .nan }
        let smaller = p[0] <= p[1] ? 0 : 1
        #expect(abs(adjusted[smaller] - min(1, 2 * p[smaller])) < 1e-12)
        let text = try runProcess(binary, ["table", sweep, "--claims"])
        #expect(text.status == 0 && text.stdout.contains("| claim | metric |") && !text.stdout.contains("| attention.kv_rank |"), "\(text.stdout)")
        let none = try runProcess(binary, ["table", sweep, "--correct", "none", "--claims", "--format", "json"])
        let noneObjects = try #require(try JSONSerialization.jsonObject(with: Data(none.stdout.utf8)) as? [[String: Any]])
        #expect(noneObjects.map { $0["p_adjusted"] as? Double } == p.map { $0 })

        let plan = try runProcess(binary, ["plan", sweep, "--jobs", "2"])
        #expect(plan.status == 0, "\(plan.stderr)")
        #expect(plan.stdout.contains("| rank 4 costs nothing against rank 8 |") && plan.stdout.contains("| loss falls with the rank |"), "\(plan.stdout)")
        #expect(plan.stdout.contains("pilot: ") && plan.stdout.contains("s per run") && plan.stdout.contains("2 job(s)"), "\(plan.stdout)")
        let badPower = try runProcess(binary, ["plan", sweep, "--power", "1.5"])
        #expect(badPower.status == 2 && badPower.stderr.contains("--power"))
    }

    @Test func tableExportAndHeadlessNotebookOnARealSweep() throws {
        let directory = try TestEnvironment.temporaryDirectory("notebook")
        let (spec, sweep) = try trainSweep(directory)
        let binary = try TestEnvironment.ablateBinary()

        // The table from the sweep directory and from the spec file are the same table.
        let table = try runProcess(binary, ["table", sweep])
        #expect(table.status == 0, "\(table.stderr)")
        let lines = table.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("| attention.kv_rank | params | active params | KV cache/token | FLOPs/token | n | final eval loss [nats/token] | final eval loss (paper) |") == true, "\(table.stdout)")
        #expect(lines.count > 3 && lines[2].hasPrefix("| 4 |") && lines[2].contains("| 2/2 |"), "\(table.stdout)")
        #expect(lines[3].contains("| 2.5 |"))   // the reference as the spec wrote it
        #expect(table.stdout.contains("**contrasts against attention.kv_rank=8**") && table.stdout.contains("| attention.kv_rank=8 (baseline) | baseline |"), "\(table.stdout)")
        let fromSpec = try runProcess(binary, ["table", spec, "--runs", directory.appendingPathComponent("runs").path])
        #expect(fromSpec.stdout == table.stdout, "\(fromSpec.stderr)")
        let latex = try runProcess(binary, ["table", sweep, "--format", "latex", "--metrics", "final_loss,ppl"])
        #expect(latex.status == 0 && latex.stdout.contains("\\begin{tabular}"))
        let bad = try runProcess(binary, ["table", sweep, "--metrics", "loss"])
        #expect(bad.status == 1 && bad.stderr.contains("unknown metric 'loss'"))

        let notebook = directory.appendingPathComponent("notebooks/tinysweep.ipynb").path
        let csv = directory.appendingPathComponent("tidy.csv").path
        let export = try runProcess(binary, ["export", sweep, "--csv", csv, "--notebook", notebook])
        #expect(export.status == 0, "\(export.stderr)")
        #expect(export.stdout.contains("sections loss curves, final loss vs keys, expert load, MaxVio, biases, specialisation, KV cache vs loss, parameters vs loss"), "\(export.stdout)")
        // The notebook's numbers come from the table JSON beside it, the same JSON `ablate table --format json` prints.
        let tableJSON = directory.appendingPathComponent("notebooks/tinysweep.table.json").path
        let printed = try runProcess(binary, ["table", sweep, "--format", "json"])
        #expect(printed.status == 0 && (try? String(contentsOfFile: tableJSON, encoding: .utf8)) == printed.stdout)
        #expect(try String(contentsOfFile: csv, encoding: .utf8).hasPrefix("run_id,model.attention.kv_rank,seed,split,step,metric,value\n"))

        let run = try runPython(Self.execute, [notebook])
        #expect(run.status == 0, "notebook failed: \(run.stderr.suffix(3000))")
        let summary = try JSONSerialization.jsonObject(with: Data(run.stdout.split(separator: "\n").last.map { Data($0.utf8) } ?? Data())) as? [String: Any]
        let codeCells = summary?["code_cells"] as? Int ?? 0
        #expect(codeCells >= 10)
        #expect(summary?["executed"] as? Int == codeCells)
        #expect(summary?["errors"] as? Int == 0)
        // Loss curves, final loss vs kv_rank, 2 load heatmaps, MaxVio, 2 bias plots, I(source; expert)
        // and 2 source × expert maps, KV cache vs loss, parameters vs loss.
        #expect(summary?["images"] as? Int == 12, "\(run.stdout)")
        #expect((summary?["headings"] as? [String])?.contains("## Expert specialisation") == true)
        #expect((summary?["headings"] as? [String])?.contains("## KV cache against loss") == true)
        #expect((summary?["headings"] as? [String])?.contains("## Parameters against loss") == true)
    }
}
