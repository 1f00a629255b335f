import ArgumentParser
import Experiments
import Foundation

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the cells of a sweep: state, step, latest loss, ETA.",
        discussion: "SWEEP is a sweep directory (<runs>/<spec name>) or a spec file (with --runs).")

    @Argument(help: "Sweep directory or spec file.")
    var sweep: String

    @Option(help: "Directory that holds runs (when SWEEP is a spec).")
    var runs = "runs"

    func run() throws {
        // Run files being written by other processes are read without HDF5's file lock.
        setenv("HDF5_USE_FILE_LOCKING", "FALSE", 1)
        var directory = sweep
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: sweep, isDirectory: &isDirectory), !isDirectory.boolValue {
            let loaded = try loadSpec(sweep, overrides: [])
            directory = SweepPlan.directory(runs: runs, spec: loaded)
        }
        do {
            let cells = try SweepStatus.cells(sweepDirectory: directory, reader: isolatedReader())
            print(SweepStatus.table(cells))
            let counts = Dictionary(grouping: cells, by: \.state).mapValues(\.count)
            print(counts.keys.sorted().map { "\(counts[$0]!) \($0)" }.joined(separator: ", "))
        } catch {
            throw fail("\(error)")
        }
    }
}
