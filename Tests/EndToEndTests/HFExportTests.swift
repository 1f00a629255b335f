// Export to Hugging Face transformers, checked against transformers itself: every exportable
// cell of experiments/parity.yaml and experiments/hf-export.yaml is trained, exported with
// `ablate export RUN --hf DIR`, loaded with AutoModelForCausalLM (tools/hf-check/check_export.py)
// and compared with our logits (≤ 1e-4) and greedy generation (32 tokens, equal). Refused cells
// must exit 2 naming their key and write nothing. The README's snippet is run as written.
import Foundation
import Testing
import TestSupport

@Suite(.serialized) struct HFExportTests {
    let binary: String
    let directory: URL

    init() throws {
        (binary, directory) = try TestEnvironment.endToEnd("hf-export")
    }

    /// Trains every cell of `spec` (with `overrides`) and returns the run directories by cell.
    func train(_ spec: String, _ overrides: [String] = []) throws -> [String] {
        let path = TestEnvironment.packageRoot.appendingPathComponent(spec).path
        let listing = try runProcess(binary, ["validate", path] + overrides)
        #expect(listing.status == 0, "\(listing.stderr)")
        let cells = listing.stdout.split(separator: "\n").filter { $0.hasPrefix("  [") }
        return try cells.enumerated().map { index, line in
            let id = String(line.split(separator: " ")[1])
            let run = try runProcess(binary, ["run", path] + overrides + ["--cell", "\(index)", "--runs", directory.appendingPathComponent("runs").path,
                                                                            "--threads", "2", "--quiet"])
            #expect(run.status == 0, "\(spec) cell \(index): \(run.stderr)")
            let name = URL(fileURLWithPath: spec).deletingPathExtension().lastPathComponent
            return directory.appendingPathComponent("runs/\(name)/\(id)").path
        }
    }

    @Test(.timeLimit(.minutes(10)))
    func exportedModelsMatchTransformers() throws {
        // The classes each cell must export as; nil = refused, with the key the error must name.
        let parity: [(String?, String?)] = [("LlamaForCausalLM", nil), ("LlamaForCausalLM", nil), ("LlamaForCausalLM", nil),
                                            ("DeepseekV3ForCausalLM", nil), ("DeepseekV3ForCausalLM", nil),
                                            (nil, "model.ffn.kind"), (nil, "model.ffn.kind"), (nil, "model.ffn.kind"),
                                            (nil, "model.ffn.kind"), (nil, "model.ffn.kind"), ("DeepseekV3ForCausalLM", nil),
                                            // QK-clip only changes training: mha, gqa, mla export as usual.
                                            ("LlamaForCausalLM", nil), ("LlamaForCausalLM", nil), ("DeepseekV3ForCausalLM", nil),
                                            // Balance-scope cells: mha with MoE.
                                            (nil, "model.ffn.kind"), (nil, "model.ffn.kind"),
                                            // Muon only changes training; MTP modules are left out of the export.
                                            ("DeepseekV2ForCausalLM", nil), ("LlamaForCausalLM", nil),
                                            ("DeepseekV3ForCausalLM", nil), ("LlamaForCausalLM", nil),
                                            // The MLA controls: transformers always normalises and compresses KV.
                                            (nil, "model.attention.kv_norm"), (nil, "model.attention.kv_rank")]
        let special: [(String?, String?)] = [("DeepseekV3ForCausalLM", nil), ("DeepseekV3ForCausalLM", nil), ("DeepseekV3ForCausalLM", nil),
                                             ("DeepseekV2ForCausalLM", nil), ("DeepseekV2ForCausalLM", nil),
                                             (nil, "model.ffn.moe.router.normalize"), (nil, "model.ffn.moe.router.groups"),
                                             (nil, "model.ffn.moe.capacity_factor"), (nil, "model.norm_eps")]
        let runs = try train("experiments/parity.yaml", ["train.steps=20", "log.checkpoint_every=20"])
            + train("experiments/hf-export.yaml")
        let expected = parity + special
        try #require(runs.count == expected.count, "cells: \(runs.count), expected \(expected.count)")
        var pairs: [String] = []
        for (run, (architecture, refusedKey)) in zip(runs, expected) {
            let out = directory.appendingPathComponent("export/\(URL(fileURLWithPath: run).lastPathComponent)")
            let export = try runProcess(binary, ["export", run, "--hf", out.path])
            if let architecture {
                #expect(export.status == 0, "\(run): \(export.stderr)")
                #expect(export.stdout.contains(architecture), "\(run): \(export.stdout)")
                let config = try String(contentsOf: out.appendingPathComponent("config.json"), encoding: .utf8)
                #expect(config.contains("\"\(architecture)\""))
                pairs.append("\(run)=\(out.path)")
            } else if let refusedKey {
                #expect(export.status == 2, "\(run) should be refused: \(export.stdout)")
                #expect(export.stderr.contains(refusedKey), "\(run): \(export.stderr)")
                #expect(!FileManager.default.fileExists(atPath: out.path), "a refused export wrote \(out.path)")
            }
        }
        let script = TestEnvironment.packageRoot.appendingPathComponent("tools/hf-check/check_export.py").path
        let check = try runProcess(try TestEnvironment.python(), [script, "--ablate", binary] + pairs)
        let results = check.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(check.status == 0, "\(check.stdout)\n\(check.stderr.suffix(3000))")
        #expect(results.count == pairs.count)
        for result in results {
            let diff = result["max_abs_logit_diff"] as? Double ?? .infinity
            #expect(diff <= 1e-4, "\(result["export"] ?? ""): max |Δ logit| \(diff)")
            #expect(result["generate_equal"] as? Bool == true, "\(result["export"] ?? ""): \(result)")
            print("hf export: \(result["class"] ?? "") \(URL(fileURLWithPath: result["run"] as? String ?? "").lastPathComponent) max |Δ logit| \(diff)")
        }
    }

    /// --step picks one of the two stored checkpoints; another step is an error naming those it
    /// has. --hf-config writes only the config, from a spec.
    @Test func stepAndConfigOnly() throws {
        let spec = TestEnvironment.packageRoot.appendingPathComponent("experiments/hf-export.yaml").path
        let run = try runProcess(binary, ["run", spec, "train.steps=20", "log.checkpoint_every=5", "--cell", "1",
                                          "--runs", directory.appendingPathComponent("runs").path, "--quiet", "--threads", "2"])
        #expect(run.status == 0, "\(run.stderr)")
        let runDir = try #require(try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("runs/hf-export").path).first)
        let path = directory.appendingPathComponent("runs/hf-export/\(runDir)").path
        let at14 = try runProcess(binary, ["export", path, "--hf", directory.appendingPathComponent("at14").path, "--step", "14"])
        #expect(at14.status == 0, "\(at14.stderr)")
        #expect(at14.stdout.contains("after step 14"))
        let missing = try runProcess(binary, ["export", path, "--hf", directory.appendingPathComponent("at3").path, "--step", "3"])
        #expect(missing.status != 0 && missing.stderr.contains("14") && missing.stderr.contains("19"), "\(missing.stderr)")
        let last = try runProcess(binary, ["export", path, "--hf", directory.appendingPathComponent("last").path])
        let a = try Data(contentsOf: directory.appendingPathComponent("at14/model.safetensors"))
        let b = try Data(contentsOf: directory.appendingPathComponent("last/model.safetensors"))
        #expect(last.status == 0 && a != b && a.count == b.count)

        let configOnly = directory.appendingPathComponent("config-only")
        let config = try runProcess(binary, ["export", TestEnvironment.packageRoot.appendingPathComponent("experiments/quickstart.yaml").path,
                                             "--hf-config", configOnly.path])
        #expect(config.status == 0, "\(config.stderr)")
        let files = try FileManager.default.contentsOfDirectory(atPath: configOnly.path).sorted()
        #expect(files == ["config.json", "generation_config.json"])
        let text = try String(contentsOf: configOnly.appendingPathComponent("config.json"), encoding: .utf8)
        #expect(text.contains("\"DeepseekV3ForCausalLM\"") && text.contains("\"kv_lora_rank\": 32") && text.contains("\"n_routed_experts\": 8"))
    }

    /// The README's three lines, run as written next to an export of the quick start, print what
    /// `ablate generate` prints.
    @Test(.timeLimit(.minutes(5)))
    func readmeSnippetRunsAsWritten() throws {
        let readme = try String(contentsOf: TestEnvironment.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let block = try #require(readme.components(separatedBy: "<!-- hf snippet -->").dropFirst().first?
            .components(separatedBy: "<!-- /hf snippet -->").first)
        let code = block.replacingOccurrences(of: "```python", with: "").replacingOccurrences(of: "```", with: "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(code.split(separator: "\n").count == 3, "the README promises three lines:\n\(code)")
        let spec = TestEnvironment.packageRoot.appendingPathComponent("experiments/quickstart.yaml").path
        let run = try runProcess(binary, ["run", spec, "train.steps=60", "--runs", directory.appendingPathComponent("runs").path,
                                          "--quiet", "--threads", "2"])
        #expect(run.status == 0, "\(run.stderr)")
        let id = try #require(try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("runs/quickstart").path).first)
        let runDir = directory.appendingPathComponent("runs/quickstart/\(id)").path
        let export = try runProcess(binary, ["export", runDir, "--hf", directory.appendingPathComponent("hf-quickstart").path])
        #expect(export.status == 0, "\(export.stderr)")
        let python = try runProcess(try TestEnvironment.python(), ["-c", code], directory: directory)
        #expect(python.status == 0, "\(python.stderr.suffix(2000))")
        let ours = try runProcess(binary, ["generate", runDir, "--prompt", "1 2 3", "--tokens", "16", "--temperature", "0"])
        let expected = "[" + ours.stdout.split(whereSeparator: \.isWhitespace).joined(separator: ", ") + "]"
        #expect(python.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == expected, "transformers: \(python.stdout), ablate: \(ours.stdout)")
    }
}
