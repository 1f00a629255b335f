// The `ablate` command: parse, call a library, print. No logic here that a library lacks.
import ArgumentParser
import Foundation
import RunStore

@main
struct Ablate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ablate",
        abstract: "Train, sweep and compare small MLA / MoE language models, reproducibly.",
        discussion: """
        Runs, sweeps and their metrics are stored as HDF5 run files (see docs/hdf5-schema.md).
        Start with `ablate smoke` to check the installation, or `ablate inspect FILE.h5`.
        """,
        version: Provenance.current().versionText,
        subcommands: [Run.self, Sweep.self, Status.self, Resume.self, Verify.self, Validate.self, RunCell.self, Generate.self, Dump.self, Inspect.self, Bench.self, Smoke.self, Reference.self, Table.self, Export.self])
}

/// Prints `error: message` to stderr and exits with `code` (1 unless told otherwise).
func fail(_ message: String, code: Int32 = 1) -> ExitCode {
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
    return ExitCode(code)
}
