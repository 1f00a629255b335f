import Analysis
import ArgumentParser
import Dashboard
import Experiments
import Foundation
import RunStore

/// The reader process behind `table`, `plan`, `status`, `export` and `serve`: answers requests
/// on stdin, one JSON line each (kind, path), with what that command needs of the run file, as
/// one JSON line (RunStore's ReaderProcess). A file that crashes libhdf5 ends only this process;
/// the command marks that cell unreadable and carries on.
struct ReadRuns: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read-runs",
        abstract: "Answer run-file read requests on stdin, one JSON line each (the reader process of table, plan, status, export, serve).",
        shouldDisplay: false)

    func run() throws {
        setenv("HDF5_USE_FILE_LOCKING", "FALSE", 0)
        ReaderProcess.serve(localRead)
    }
}

/// Every kind of read a command asks of the reader process.
let localRead: ReaderProcess.Read = { kind, path, relative in
    switch kind {
    case RunFileSource.kind: return RunFileContents.read(path).json
    case SweepStatus.readKind: return SweepStatus.fileStatus(path).json
    case Dashboard.summaryKind, Dashboard.detailKind: return try Dashboard.read(kind, path, relative: relative)
    default: throw ValidationError("unknown read kind '\(kind)'")
    }
}

/// Run files are read by a reader process (this binary's `read-runs`), so one damaged file
/// cannot take the command down (docs/reliability.md).
func isolatedReader() -> ReaderProcess {
    ReaderProcess(executable: "/proc/self/exe", arguments: ["read-runs"])
}

/// The sweep's cells with what their run files hold, read through the reader process.
func loadSweepData(_ resolved: SweepTarget) throws -> SweepData {
    try SweepData.load(directory: resolved.directory, manifest: resolved.manifest, reader: .reader(isolatedReader()))
}
