import ArgumentParser
import Foundation
import HDF5
import RunStore

struct Smoke: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the installation: write an HDF5 file, read it back, show its tree.")

    @Option(help: "Where to write the file.")
    var out = "runs/smoke/smoke.h5"

    @Option(help: "Metric rows to append.")
    var steps = 50

    func validate() throws {
        guard steps > 0 else { throw ValidationError("--steps must be positive, got \(steps)") }
    }

    func run() throws {
        let report: SmokeFile.Report
        do {
            report = try SmokeFile.run(path: out, steps: steps)
        } catch {
            throw fail("\(error)")
        }
        print(H5Inspector.render(try H5Inspector.inspect(path: report.path), title: report.path))
        for check in report.checks { print("ok: \(check)") }
        print("smoke job passed: \(report.path)")
    }
}
