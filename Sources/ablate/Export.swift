import Analysis
import ArgumentParser
import Foundation

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a sweep as tidy CSV and/or a Jupyter notebook that plots it from the run files.",
        discussion: """
        --csv writes long format: run_id, the varying keys, seed, split (train, eval, moe_layer_<l>), \
        step, metric, value — one line per value (NaN values left out). --notebook writes an \
        nbformat-4 notebook that loads the run files with h5py and pandas (SWEEP_DIR at the top, \
        relative to the notebook) and plots loss curves, final loss against the varying keys, \
        expert loads, MaxVio, balancing biases and KV cache against loss, as far as the sweep has \
        the data. Beside the notebook it writes NAME.table.json (`ablate table --format json`): the \
        notebook shows and plots those numbers (means, 95% intervals, every seed, claims) rather \
        than recomputing them. See docs/analysis.md.
        """)

    @OptionGroup var target: SweepArguments

    @Option(help: "Write the tidy long CSV here.")
    var csv: String?

    @Option(help: "Write the notebook here (e.g. notebooks-export/NAME.ipynb).")
    var notebook: String?

    func validate() throws {
        if csv == nil && notebook == nil { throw ValidationError("give --csv FILE and/or --notebook FILE") }
    }

    func run() throws {
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
                             ("biases", sections.biasTrajectories), ("KV cache vs loss", sections.kvCacheVsLoss),
                             ("parameters vs loss", sections.parametersVsLoss)]
                print("wrote \(notebook) and \(folder)/\(tableFile): sections " + names.filter(\.1).map(\.0).joined(separator: ", "))
            }
        } catch {
            throw fail("\(error)")
        }
    }
}
