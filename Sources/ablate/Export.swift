import Analysis
import ArgumentParser
import Config
import Experiments
import Foundation

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a sweep as tidy CSV and/or a notebook, or a trained run as a Hugging Face transformers model.",
        discussion: """
        --csv writes long format: run_id, the varying keys, seed, split (train, eval, moe_layer_<l>), \
        step, metric, value — one line per value (NaN values left out). --notebook writes an \
        nbformat-4 notebook that loads the run files with h5py and pandas (SWEEP_DIR at the top, \
        relative to the notebook) and plots loss curves, final loss against the varying keys, \
        expert loads, MaxVio, balancing biases and KV cache against loss, as far as the sweep has \
        the data. Beside the notebook it writes NAME.table.json (`ablate table --format json`): the \
        notebook shows and plots those numbers (means, 95% intervals, every seed, claims) rather \
        than recomputing them. See docs/analysis.md.

        --hf DIR takes a run directory instead (<runs>/<spec name>/<run id>) and writes \
        model.safetensors, config.json and generation_config.json from its last checkpoint (or the \
        one after --step N): `AutoModelForCausalLM.from_pretrained(DIR)` loads it as \
        DeepseekV3ForCausalLM, DeepseekV2ForCausalLM or LlamaForCausalLM with the same logits. \
        --hf-config DIR takes a spec file and writes only config.json and generation_config.json, \
        to instantiate the same architecture elsewhere. A configuration no class reproduces is \
        refused with the spec key and why, before anything is written. See docs/export.md.
        """)

    @OptionGroup var target: SweepArguments

    @Option(help: "Write the tidy long CSV here.")
    var csv: String?

    @Option(help: "Write the notebook here (e.g. notebooks-export/NAME.ipynb).")
    var notebook: String?

    @Option(help: "Write the run (SWEEP is then a run directory) as a transformers model into this directory.")
    var hf: String?

    @Option(help: "Write only the transformers config.json of SWEEP's spec (cell 0) into this directory.")
    var hfConfig: String?

    @Option(help: "With --hf: the checkpoint after this step (default: the last).")
    var step: Int?

    func validate() throws {
        let modes = [csv != nil || notebook != nil, hf != nil, hfConfig != nil].filter { $0 }.count
        if modes == 0 { throw ValidationError("give --csv FILE and/or --notebook FILE, or --hf DIR, or --hf-config DIR") }
        if modes > 1 { throw ValidationError("--hf and --hf-config each take the whole command: not with each other or --csv/--notebook") }
        if step != nil && hf == nil { throw ValidationError("--step needs --hf") }
    }

    func run() throws {
        if let hf { return try exportModel(runDirectory: target.sweep, to: hf) }
        if let hfConfig { return try exportConfig(spec: target.sweep, to: hfConfig) }
        let resolved = try target.resolve()
        do {
            let data = try loadSweepData(resolved)
            if let csv {
                let lines = try TidyExport.write(data, to: csv)
                print("wrote \(csv): \(lines) values of \(data.runs.filter { if case .read = $0.state { return true }; return false }.count) run(s)")
            }
            if let notebook {
                let folder = URL(fileURLWithPath: notebook).deletingLastPathComponent().path
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                let command = (["ablate"] + CommandLine.arguments.dropFirst()).joined(separator: " ")
                // The table's numbers, as `ablate table --format json` gives them, beside the notebook.
                let tableFile = URL(fileURLWithPath: notebook).deletingPathExtension().lastPathComponent + ".table.json"
                let table = try SweepTable.build(data, settings: resolved.settings)
                try table.render(.json).write(toFile: folder + "/" + tableFile, atomically: true, encoding: .utf8)
                let text = try NotebookExport.notebook(data, sweepPath: NotebookExport.relativePath(resolved.directory, from: folder),
                                                       tablePath: tableFile, command: command)
                try text.write(toFile: notebook, atomically: true, encoding: .utf8)
                let sections = NotebookExport.Sections(data)
                let names = [("loss curves", sections.lossCurves), ("final loss vs keys", sections.finalLossVsAxis),
                             ("expert load", sections.expertLoad), ("MaxVio", sections.maxVio),
                             ("biases", sections.biasTrajectories), ("specialisation", sections.specialisation),
                             ("KV cache vs loss", sections.kvCacheVsLoss),
                             ("tuning curves", sections.tuning), ("parameters vs loss", sections.parametersVsLoss)]
                print("wrote \(notebook) and \(folder)/\(tableFile): sections " + names.filter(\.1).map(\.0).joined(separator: ", "))
            }
        } catch {
            throw fail("\(error)")
        }
    }

    func exportModel(runDirectory: String, to directory: String) throws {
        let summary: HFExport.Summary
        do {
            let (cell, params, step) = try TrainedModel.load(runDirectory: runDirectory, step: step)
            summary = try HFExport.write(cell.model, params: params, step: step,
                                         maxPositions: max(2048, cell.train.seqLen), to: directory)
        } catch let errors as ConfigErrors {
            throw fail("cannot export '\(runDirectory)' to transformers; nothing was written:\n" + errors.description, code: 2)
        } catch {
            throw fail("\(error)")
        }
        print("wrote \(directory): \(summary.architecture.rawValue), \(summary.tensors) tensors (\(summary.bytes) bytes) from the checkpoint after step \(summary.step ?? -1)")
    }

    func exportConfig(spec: String, to directory: String) throws {
        let loaded = try loadSpec(spec, overrides: [])
        let cell = loaded.cells[0]
        do {
            let summary = try HFExport.write(cell.model, params: nil, step: nil, maxPositions: max(2048, cell.train.seqLen), to: directory)
            print("wrote \(directory)/config.json: \(summary.architecture.rawValue)")
        } catch let errors as ConfigErrors {
            throw fail("cannot describe \(spec) as a transformers config; nothing was written:\n" + errors.description, code: 2)
        }
    }
}
