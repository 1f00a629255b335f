// A miniature of every paper study: scripts/reproduce-paper.sh runs the study's real specs
// (experiments/<study>.yaml, and its tuning sweep where it has a tune block) shrunk by overrides to a few steps and one seed,
// into a temporary directory, then rewrites the tables of a copy of results/<study>.md and
// executes the exported notebooks. Checks: every table block is filled with the study's
// documented columns and one row per cell, the prose around the blocks is kept, and every
// notebook executed without an error and drew its figures.
import Foundation
import Testing
import TestSupport

@Suite(.serialized) struct PaperStudiesTests {
    struct Study: Sendable, CustomStringConvertible {
        var name: String
        /// Per sweep of the study: the columns its table must have and its number of rows.
        var tables: [(sweep: String, columns: [String], rows: Int)]
        /// Overrides of this study's own (after the miniature's).
        var overrides: [String] = []
        var description: String { name }
    }

    static let studies: [Study] = [
        // On the English corpus (reproduce-paper.sh builds it): 7 variants × 2 rates (the miniature's grid), then the
        // study's rows at the rate each chose, scored on the whole held-out split.
        Study(name: "attention", tables: [
            ("attention-tune", ["model.attention", "ffn.hidden", "optimizer.lr", "final eval loss"], 14),
            ("attention", ["variant", "optimizer.lr", "params", "KV cache/token", "held-out loss (whole split)",
                           "Δ held-out loss (whole split)", "claim", "verdict"], 7)],
              overrides: Self.english),
        Study(name: "loss-free-balancing", tables: [
            ("loss-free-balancing-tune", ["balance.aux", "loss_free.enabled", "loss_free.rate", "loss_free.rule", "optimizer.lr",
                                          "final eval loss"], 10),
            ("loss-free-balancing", ["variant", "optimizer.lr", "held-out loss (whole split)", "MaxVio_global", "MaxVio_global (paper)",
                                     "MaxVio_batch", "Δ held-out loss (whole split)", "Δ MaxVio_global", "p adj", "claim", "verdict",
                                     "seeds for 80% power"], 5)],
              overrides: Self.english),
        Study(name: "deepseekmoe-granularity", tables: [
            ("deepseekmoe-granularity-tune", ["moe.expert_hidden", "moe.experts", "moe.shared_experts", "moe.top_k", "optimizer.lr",
                                              "final eval loss"], 12),
            ("deepseekmoe-granularity", ["variant", "optimizer.lr", "params", "active params", "held-out loss (whole split)",
                                         "held-out loss (whole split) (paper)", "MaxVio_global", "Δ held-out loss (whole split)",
                                         "claim", "verdict"], 6)],
              overrides: Self.english),
        Study(name: "mla-latent-rank", tables: [
            ("mla-latent-rank-tune", ["attention.kv_rank", "optimizer.lr", "final eval loss"], 10),
            ("mla-latent-rank", ["attention.kv_rank", "optimizer.lr", "params", "KV cache/token", "held-out loss (whole split)",
                                 "Δ held-out loss (whole split)", "claim", "verdict"], 5)],
              overrides: Self.english),
        Study(name: "expert-count", tables: [
            ("expert-count-tune", ["moe.experts", "optimizer.lr", "final eval loss"], 8),
            ("expert-count", ["variant", "optimizer.lr", "params", "active params", "held-out loss (whole split)", "MaxVio_batch",
                              "Δ held-out loss (whole split)", "claim", "verdict"], 4)],
              overrides: Self.english),
        Study(name: "balance-scope", tables: [
            ("balance-scope-tune", ["balance.aux", "balance.aux_coef", "loss_free.enabled", "optimizer.lr", "final eval loss"], 14),
            ("balance-scope", ["variant", "optimizer.lr", "held-out loss (whole split)", "held-out loss (whole split) (paper)",
                               "MaxVio_global", "MaxVio_batch", "claim", "verdict"], 7)],
              overrides: Self.english),
        Study(name: "mtp", tables: [
            ("mtp", ["variant", "params", "final eval loss", "ppl", "MTP loss", "Δ final eval loss", "claim", "verdict"], 3)]),
        Study(name: "balance-bsz", tables: [
            ("balance-bsz", ["variant", "final eval loss", "gap to optimum", "I(source; expert)", "MaxVio_global",
                             "Δ final eval loss", "Δ I(source; expert)", "claim", "verdict"], 3)]),
        Study(name: "qk-clip", tables: [
            ("qk-clip", ["variant", "final eval loss", "max logit", "Δ final eval loss", "Δ max logit", "claim", "verdict"], 2)]),
        // The tune block's sweep: 3 variants × 2 rates (the miniature's grid); the study's rows show the rate each chose.
        Study(name: "muon", tables: [
            ("muon-tune", ["optimizer.kind", "train.steps", "optimizer.lr", "final eval loss"], 6),
            ("muon", ["variant", "optimizer.lr", "final eval loss", "Δ final eval loss", "claim", "verdict"], 3)],
              overrides: ["tune.grid={train.optimizer.lr: [0.003, 0.05]}"]),
        Study(name: "recall", tables: [
            ("recall", ["variant", "MQAR acc", "guessing acc", "solved (accuracy ≥ 0.99)", "claim", "verdict"], 12)]),
    ]

    /// The studies on the English corpus: a two-rate tuning grid and a 0.1% held-out split (47 KB,
    /// scored whole at the end of each run), so that their miniatures stay short.
    static let english = ["tune.grid={train.optimizer.lr: [0.001, 0.003]}", "data.text.val_fraction=0.001"]

    /// A few steps, one seed, a tiny validation set: the study's shape, not its numbers.
    static let miniature = ["train.steps=4", "train.eval_every=2", "train.schedule.warmup=1", "seeds=[0]",
                            "data.val_sequences=8", "log.flush_every=2", "log.checkpoint_every=2"]

    @Test(arguments: studies) func miniatureStudyMakesItsTablesAndNotebooks(_ study: Study) throws {
        let directory = try TestEnvironment.temporaryDirectory("study-\(study.name)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let script = TestEnvironment.packageRoot.appendingPathComponent("scripts/reproduce-paper.sh").path
        let environment = ["ABLATE_BIN": try TestEnvironment.ablateBinary(), "ABLATE_PYTHON": try TestEnvironment.python()]
        let run = try runProcess("/bin/bash", [script, study.name, "--runs", directory.appendingPathComponent("runs").path,
                                               "--out", directory.path, "--jobs", "2"] + Self.miniature + study.overrides, environment: environment)
        try #require(run.status == 0, "reproduce-paper.sh \(study.name) failed:\n\(run.stdout.suffix(2000))\n\(run.stderr.suffix(3000))")

        let template = try String(contentsOf: TestEnvironment.packageRoot.appendingPathComponent("results/\(study.name).md"), encoding: .utf8)
        let result = try String(contentsOf: directory.appendingPathComponent("results/\(study.name).md"), encoding: .utf8)
        // The first line of prose survives the rewrite.
        let heading = template.split(separator: "\n").first.map(String.init) ?? ""
        #expect(result.hasPrefix(heading + "\n"))
        for table in study.tables {
            let start = try #require(result.range(of: "<!-- table \(table.sweep) "), "no table block for \(table.sweep)")
            let block = result[start.upperBound...]
            let end = try #require(block.range(of: "<!-- /table -->"))
            // The block holds the rows table, then (with a baseline) the contrasts and (with claims) the claims.
            var tables: [[String]] = []
            var previousWasTable = false
            for line in block[..<end.lowerBound].split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
                if line.hasPrefix("|") {
                    if !previousWasTable { tables.append([]) }
                    tables[tables.count - 1].append(line)
                }
                previousWasTable = line.hasPrefix("|")
            }
            let lines = tables.first ?? []
            try #require(lines.count >= 2, "empty table for \(table.sweep):\n\(block[..<end.lowerBound])")
            // Headings without their unit ("final eval loss [nats/byte]" → "final eval loss").
            let headers = tables.flatMap { table in
                table[0].split(separator: "|").map { cell -> String in
                    let text = cell.trimmingCharacters(in: .whitespaces)
                    return text.range(of: " [").map { String(text[..<$0.lowerBound]) } ?? text
                }
            }
            for column in table.columns {
                #expect(headers.contains(column), "\(table.sweep): no column '\(column)' in \(tables.map { $0[0] })")
            }
            #expect(lines.count - 2 == table.rows, "\(table.sweep): \(lines.count - 2) rows, expected \(table.rows)")
            #expect(lines.dropFirst(2).allSatisfy { $0.contains("| 1/1 |") }, "\(table.sweep): a row is not complete:\n\(lines.joined(separator: "\n"))")

            let notebook = directory.appendingPathComponent("notebooks-export/\(table.sweep).ipynb")
            let document = try JSONSerialization.jsonObject(with: Data(contentsOf: notebook)) as? [String: Any]
            let cells = (document?["cells"] as? [[String: Any]] ?? []).filter { $0["cell_type"] as? String == "code" }
            let outputs = cells.flatMap { $0["outputs"] as? [[String: Any]] ?? [] }
            #expect(!cells.isEmpty && cells.allSatisfy { $0["execution_count"] is Int }, "\(table.sweep): notebook not executed")
            #expect(!outputs.contains { $0["output_type"] as? String == "error" })
            let images = outputs.filter { ($0["data"] as? [String: Any])?["image/png"] != nil }.count
            #expect(images >= 3, "\(table.sweep): \(images) figures")
        }
    }

    @Test func unknownStudyIsRefusedBeforeAnyWork() throws {
        let script = TestEnvironment.packageRoot.appendingPathComponent("scripts/reproduce-paper.sh").path
        let run = try runProcess("/bin/bash", [script, "attentoin"])
        #expect(run.status == 2)
        #expect(run.stderr.contains("unknown study 'attentoin' (expected one of: attention, loss-free-balancing"))
        let list = try runProcess("/bin/bash", [script, "--list"])
        #expect(list.stdout.split(separator: "\n").count == 11)
    }
}
