import ArgumentParser
import Experiments
import Foundation

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the cells of a sweep: state, step, latest loss, ETA.",
        discussion: "SWEEP is a sweep directory (<runs>/<spec name>) or a spec file (with --runs).")

    @OptionGroup var target: SweepArguments

    func run() throws {
        // Run files being written by other processes are read without HDF5's file lock.
        setenv("HDF5_USE_FILE_LOCKING", "FALSE", 1)
        var directory = target.sweep
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), !isDirectory.boolValue {
            directory = SweepPlan.directory(runs: target.runs, spec: try loadSpec(directory, overrides: []))
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
