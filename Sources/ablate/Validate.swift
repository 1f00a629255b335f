import ArgumentParser
import Config
import Experiments
import Foundation

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a spec and show what it would run, without running anything.",
        discussion: """
        Loads SPEC (following `extends`), applies the overrides (key.path=value, YAML-typed),
        validates every key, then prints the resolved spec and every cell of the sweep with its
        run id. All problems are reported together, each with the file and key path; the exit
        code is then 2.
        """)

    @Argument(help: "The spec file (YAML).")
    var spec: String

    @Argument(help: "Overrides, e.g. model.ffn.moe.experts=16 train.steps=100.")
    var overrides: [String] = []

    func run() throws {
        let loaded = try loadSpec(spec, overrides: overrides)
        print("# resolved spec: \(loaded.file)" + (overrides.isEmpty ? "" : " with \(overrides.joined(separator: " "))"))
        print(YAMLText.emit(loaded.resolved), terminator: "")
        print("")
        let varying = loaded.varyingKeys.isEmpty ? "" : " varying \(loaded.varyingKeys.joined(separator: ", "))"
        print("\(loaded.cells.count) cell(s)\(varying):")
        for cell in loaded.cells {
            let params = cell.model.totalParameters, active = cell.model.activeParameters
            print("  [\(cell.index)] \(cell.runID)  \(cell.label)  (params \(params), active \(active))")
        }
    }
}

/// Loads a spec or exits with code 2, printing every problem on its own line.
func loadSpec(_ path: String, overrides: [String]) throws -> Spec {
    do {
        return try SpecLoader.load(path, overrides: overrides)
    } catch {
        throw reportProblems(error.problems)
    }
}

/// Exits with code 2 when any of `cells` lacks its inputs (e.g. a text corpus), before any work.
func requireInputs(_ cells: [Cell], spec: Spec) throws {
    let problems = cells.flatMap { $0.inputProblems(file: spec.file) }
    if !problems.isEmpty { throw reportProblems(problems) }
}

private func reportProblems(_ problems: [ConfigProblem]) -> ExitCode {
    let lines = problems.map { "error: \($0)" }.joined(separator: "\n")
    FileHandle.standardError.write(Data((lines + "\n\(problems.count) problem(s) in the spec; nothing was run\n").utf8))
    return ExitCode(2)
}
