// The `ablate` command: parse, call a library, print. No logic here that a library lacks.
import ArgumentParser
import Experiments
import Foundation
import RunStore
import Tensor
import Training

@main
struct Ablate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ablate",
        abstract: "Train, sweep and compare small MLA / MoE language models, reproducibly.",
        discussion: """
        Runs, sweeps and their metrics are stored as HDF5 run files (see docs/hdf5-schema.md). \
        Start with `ablate smoke` to check the installation, or `ablate inspect FILE.h5`.

        Exit codes (every command; scripts can rely on them, docs/reliability.md):
          0    success
          1    an error: a failed run or cell, an unreadable file, a verify difference
          2    bad input (spec, overrides, options, a cell too big for the memory),
               refused before any work started and before any file was written
          3    a run (or a sweep cell) diverged
          4    the disk filled up: the run stopped cleanly, its last checkpoint is
               safe; free space and resume
          130  interrupted (Ctrl-C, SIGTERM, Slurm preemption): checkpointed, resumable
        """,
        // `ablate --version` is answered in main() with the full text (it runs git); this string
        // only makes the parser list the flag.
        version: "ablate \(Provenance.harnessVersion)",
        subcommands: [Run.self, Sweep.self, Status.self, Resume.self, Verify.self, Compare.self, Validate.self, RunCell.self, Generate.self, Dump.self, Inspect.self, Bench.self, Smoke.self, Reference.self, Table.self, Plan.self, Export.self, Serve.self, ReadRuns.self, Logits.self, Tokens.self])

    /// The answer to `ablate --version`: provenance (with the git commit) and the kernels.
    static var versionText: String { Provenance.current().versionText + "\n" + kernelLine }

    /// "kernels: avx2 (CPU supports avx2, generic; chosen from CPUID) …": the ISA path in use.
    static var kernelLine: String {
        let forced = ProcessInfo.processInfo.environment["ABLATE_ISA"].map { "forced by ABLATE_ISA=\($0)" }
            ?? "chosen from CPUID"
        return """
        kernels: \(ISA.active.rawValue) (\(forced); this CPU supports \(ISA.supported.map(\.rawValue).joined(separator: ", ")))
        kernel version: \(Kernels.version)
        cpu: \(CPUInfo.current.model)
        """
    }

    /// Checks ABLATE_ISA before any command runs: a path this CPU lacks is an error (exit 2),
    /// never an illegal instruction later.
    static func main() {
        ProcessClock.markLaunch()
        do {
            try ISA.configureFromEnvironment()
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            Foundation.exit(2)
        }
        Allocator.keepFreedMemory()
        if Array(CommandLine.arguments.dropFirst()) == ["--version"] {
            print(versionText)
            Foundation.exit(0)
        }
        Provenance.prefetch()
        main(nil)
    }
}

/// Runs `body`; a `CommandFailure` it throws becomes `error: message` on stderr and its exit code.
func orFail<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let failure as CommandFailure {
        throw fail(failure.message, code: failure.exitCode)
    }
}

/// Prints `error: message` to stderr and exits with `code` (1 unless told otherwise).
func fail(_ message: String, code: Int32 = 1) -> ExitCode {
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
    return ExitCode(code)
}
