import ArgumentParser
import Experiments
import Foundation
import Tensor

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-execute a run from its stored spec and check that every bit is the same.",
        discussion: """
        Re-runs RUN_DIR (or its first --steps K steps) in a temporary directory and compares, \
        dataset by dataset, every logged metric, MoE series, tensor snapshot and the final \
        checkpoint (wall-clock fields excepted); then re-runs with a stop at K/2 and a resume \
        and compares again. --threads N re-executes on N threads (a cross-thread check);
        --isa PATH re-executes on another kernel path (avx512, avx2 or generic: the ones this CPU
        supports are listed by `ablate --version`), which is how a run file made on another \
        machine is checked here: every path computes the same bits. \
        Exit code 0 when everything is identical, 1 otherwise.
        """)

    @Argument(help: "The run directory (holding run.h5).")
    var runDir: String

    @Option(help: "Verify only the first K steps.")
    var steps: Int?

    @Option(help: "Threads for the re-execution.")
    var threads: Int?

    @Option(help: "Kernel ISA path for the re-execution: avx512, avx2 or generic (default: the active one).")
    var isa: String?

    @Flag(help: "List every dataset, not only the ones that differ.")
    var verbose = false

    @Flag(help: "No progress lines while re-running; only the verdict.")
    var quiet = false

    func validate() throws {
        if let steps, steps < 1 { throw ValidationError("--steps must be at least 1") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        if let isa, case .failure(let error) = ISA.named(isa, as: "--isa \(isa)") {
            throw ValidationError(error.message)
        }
    }

    func run() throws {
        let report: Verification.Report
        do {
            report = try Verification.verify(runDirectory: runDir, steps: steps, threads: threads,
                                             isa: isa.flatMap { ISA(rawValue: $0.lowercased()) }) { line in if !quiet { print(line) } }
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
