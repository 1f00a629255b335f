import ArgumentParser
import Experiments
import Foundation

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-execute a run from its stored spec and check that every bit is the same.",
        discussion: """
        Re-runs RUN_DIR (or its first --steps K steps) in a temporary directory and compares,
        dataset by dataset, every logged metric, MoE series, tensor snapshot and the final
        checkpoint (wall-clock fields excepted); then re-runs with a stop at K/2 and a resume
        and compares again. --threads N re-executes on N threads (a cross-thread check).
        Exit code 0 when everything is identical, 1 otherwise.
        """)

    @Argument(help: "The run directory (holding run.h5).")
    var runDir: String

    @Option(help: "Verify only the first K steps.")
    var steps: Int?

    @Option(help: "Threads for the re-execution.")
    var threads: Int?

    @Flag(help: "List every dataset, not only the ones that differ.")
    var verbose = false

    func validate() throws {
        if let steps, steps < 1 { throw ValidationError("--steps must be at least 1") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        let report: Verification.Report
        do {
            report = try Verification.verify(runDirectory: runDir, steps: steps, threads: threads) { print($0) }
        } catch {
            throw fail("\(error)")
        }
        for (label, comparison) in report.checks {
            let differing = comparison.entries.filter { !$0.identical }
            print("\(label): \(comparison.entries.count - differing.count)/\(comparison.entries.count) datasets identical")
            for entry in comparison.entries where verbose || !entry.identical {
                print("  \(entry.identical ? "same" : "DIFFERENT")  \(entry.name)  (\(entry.detail))")
            }
        }
        if report.identical {
            print("verified: \(report.steps) step(s) bitwise identical")
        } else {
            throw fail("not identical", code: 1)
        }
    }
}
