import Analysis
import ArgumentParser
import Foundation

/// The helper process behind `table`, `plan`, `export` and `serve`: reads run files named on
/// stdin, one per line, and prints what Analysis needs of each as one JSON line, in order. A
/// file that crashes libhdf5 ends only this process; the caller marks that cell unreadable.
struct ReadRuns: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read-runs",
        abstract: "Read run files named on stdin; print one JSON line each (the helper process of table, plan, export, serve).",
        shouldDisplay: false)

    func run() throws {
        setenv("HDF5_USE_FILE_LOCKING", "FALSE", 0)
        while let line = readLine() {
            guard !line.isEmpty else { continue }
            let contents = RunFileContents.read(line)
            FileHandle.standardOutput.write(Data((contents.json.canonical + "\n").utf8))
        }
    }
}

/// Run files are read by a helper process (this binary's `read-runs`), so one damaged file
/// cannot take the command down (docs/reliability.md).
var isolatedRunFiles: RunFileSource {
    .helper(executable: "/proc/self/exe", arguments: ["read-runs"])
}

/// The sweep's cells with what their run files hold, read through the helper process.
func loadSweepData(_ resolved: ResolvedSweep) throws -> SweepData {
    try SweepData.load(directory: resolved.directory, manifest: resolved.manifest, reader: isolatedRunFiles)
}
