import Analysis
import ArgumentParser
import Config
import Experiments
import Foundation
import Training

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a spec and show what it would run, without running anything.",
        discussion: """
        Loads SPEC (following `extends`), applies the overrides (key.path=value, YAML-typed), \
        validates every key, then prints the resolved spec and every cell of the sweep with its \
        run id. All problems are reported together, each with the file and key path; the exit \
        code is then 2.
        """)

    @OptionGroup var target: SpecArguments

    func run() throws {
        let loaded = try target.load()
        print("# resolved spec: \(loaded.file)" + (target.overrides.isEmpty ? "" : " with \(target.overrides.joined(separator: " "))"))
        print(YAMLText.emit(loaded.resolved), terminator: "")
        print("")
        let varying = loaded.varyingKeys.isEmpty ? "" : " varying \(loaded.varyingKeys.joined(separator: ", "))"
        print("\(loaded.cells.count) cell(s)\(varying):")
        let available = AvailableMemory.current()
        for cell in loaded.cells {
            let params = cell.model.totalParameters, active = cell.model.activeParameters
            print("  [\(cell.index)] \(cell.runID)  \(cell.label)  (params \(params), active \(active))")
            let memory = MemoryCheck.estimate(cell, available: available?.bytes)
            let fits = available.map { memory.total <= $0.bytes ? "fits" : "DOES NOT FIT" } ?? "available memory unknown"
            print("      peak memory ≈ \(memory.total.byteText) (\(fits)): process \(memory.baseline.byteText), parameters \(memory.parameters.byteText), gradients \(memory.gradients.byteText), optimizer state \(memory.adamMoments.byteText), activations and tape \(memory.activations.byteText)\(memory.measured ? "" : " (lower bound)") for \(memory.sequencesPerMicroBatch) sequence(s) per micro-batch, checkpoint copies \(memory.checkpointCopies.byteText)")
        }
        if let available { print("available: \(available.bytes.byteText) (\(available.source))") }
        if let json { try writeEstimates(loaded.cells, to: json, available: available) }
    }

    @Option(help: "Also write each cell's memory estimate as JSON to this file.")
    var json: String?

    func writeEstimates(_ cells: [Cell], to path: String, available: AvailableMemory?) throws {
        let rows = cells.map { cell -> [String: Any] in
            let m = MemoryCheck.estimate(cell, available: available?.bytes)
            return ["index": cell.index, "run_id": cell.runID, "total_bytes": m.total, "baseline_bytes": m.baseline,
                    "parameter_bytes": m.parameters, "gradient_bytes": m.gradients, "adam_bytes": m.adamMoments,
                    "activation_bytes": m.activations, "checkpoint_bytes": m.checkpointCopies, "measured": m.measured]
        }
        let data = try JSONSerialization.data(withJSONObject: ["cells": rows, "available_bytes": available?.bytes ?? -1],
                                              options: [.prettyPrinted, .sortedKeys])
        try data.write(to: URL(fileURLWithPath: path))
    }
}

/// Loads a spec (and checks its `table` section) or exits with code 2, printing every problem
/// on its own line.
func loadSpec(_ path: String, overrides: [String]) throws -> Spec {
    do {
        return try SpecLoader.loadChecked(path, overrides: overrides)
    } catch {
        throw reportProblems(error.problems)
    }
}

/// Exits with code 2 when any of `cells` lacks its inputs (e.g. a text corpus), before any work.
func requireInputs(_ cells: [Cell], spec: Spec) throws {
    let problems = cells.flatMap { $0.inputProblems(file: spec.file) }
    if !problems.isEmpty { throw reportProblems(problems) }
}

/// Exits with code 2, before any file is created, when a cell's estimated peak memory (or the
/// `jobs` largest together) exceeds the memory available (docs/reliability.md).
func requireMemory(_ cells: [Cell], jobs: Int = 1) throws {
    let lines = MemoryCheck.refusals(cells, jobs: jobs)
    guard !lines.isEmpty else { return }
    FileHandle.standardError.write(Data((lines.map { "error: \($0)" } + ["nothing was run (`ablate validate` shows every cell's estimate)"]).joined(separator: "\n").utf8 + [10]))
    throw ExitCode(2)
}

func reportProblems(_ problems: [ConfigProblem]) -> ExitCode {
    let lines = problems.map { "error: \($0)" }.joined(separator: "\n")
    FileHandle.standardError.write(Data((lines + "\n\(problems.count) problem(s) in the spec; nothing was run\n").utf8))
    return ExitCode(2)
}
