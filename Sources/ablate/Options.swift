// Arguments and options several commands share, declared once as option groups.
import ArgumentParser
import Experiments
import Foundation
import Tensor

/// SPEC [OVERRIDES…]: a spec file and the overrides applied to it.
struct SpecArguments: ParsableArguments {
    @Argument(help: "The spec file (YAML).")
    var spec: String

    @Argument(help: "Overrides (key.path=value, YAML-typed), e.g. train.steps=100 model.ffn.moe.experts=16.")
    var overrides: [String] = []

    /// The spec with its table check, or exit 2 with every problem.
    func load() throws -> Spec { try loadSpec(spec, overrides: overrides) }

    /// Cell `index` of the loaded spec, or exit 2 naming the range.
    func cell(_ index: Int, of loaded: Spec) throws -> Cell {
        guard loaded.cells.indices.contains(index) else {
            throw fail("--cell \(index): the spec has \(loaded.cells.count) cell(s) (0..<\(loaded.cells.count))", code: 2)
        }
        return loaded.cells[index]
    }
}

/// SWEEP [--runs DIR]: a sweep directory or the spec whose sweep it is.
struct SweepArguments: ParsableArguments {
    @Argument(help: "A sweep directory (<runs>/<spec name>, holding sweep.json) or the spec file (YAML).")
    var sweep: String

    @Option(help: "Directory that holds runs, when SWEEP is a spec file.")
    var runs = "runs"

    /// The sweep directory, its plan and the spec's `table` settings, or the exit its refusal gives.
    func resolve() throws -> SweepTarget {
        try orFail {
            try SweepTarget.resolve(sweep, runs: runs) { warning in
                FileHandle.standardError.write(Data("warning: \(warning)\n".utf8))
            }
        }
    }
}

/// Options shared by the commands that train (`run`, `resume`, and the sweep's `run-cell`).
struct TrainingOptions: ParsableArguments {
    @Option(help: "Threads for the numeric kernels (results do not depend on it; default: all cores).")
    var threads: Int?

    @Flag(help: "Print neither the live progress line nor periodic log lines.")
    var quiet = false

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
    }

    /// Applies --threads and returns the count in effect.
    func applyThreads() -> Int {
        if let threads { Parallel.threads = threads }
        return Parallel.threads
    }

    /// A progress printer: a live line on a terminal, plain lines every `every` steps otherwise.
    func progressPrinter(every: Int) -> (Experiments.Progress) -> Void {
        if quiet { return { _ in } }
        let terminal = isatty(STDOUT_FILENO) == 1
        return { progress in
            if terminal {
                print("\r\u{1B}[2K" + progress.line, terminator: progress.step + 1 == progress.steps ? "\n" : "")
                fflush(nil)
            } else if (progress.step + 1) % every == 0 || progress.step + 1 == progress.steps {
                print(progress.line)
            }
        }
    }
}

