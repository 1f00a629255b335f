import Analysis
import ArgumentParser
import Experiments
import Foundation

struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Size a study before running it: the seeds each claim needs and the wall time they cost.",
        discussion: """
        Reads pilot runs (or a finished sweep) and the spec's `table.claims`. For each claim: \
        the spread its test sees (sd of the paired differences, or the trend's residual sd), the \
        seeds per row that give the chosen power at the claim's min_effect and α divided by the \
        number of claims, and the wall time those seeds cost, from the pilot's measured time per \
        run and the jobs run side by side (default: this machine's cores, one thread each, as \
        `scripts/reproduce-paper.sh` runs the studies). See docs/analysis.md.
        """)

    @OptionGroup var target: SweepArguments

    @Option(help: "Target power (probability of a significant result when the effect is min_effect).")
    var power = 0.8

    @Option(help: "Significance level after correction (default: the spec's table.alpha, else 0.05).")
    var alpha: Double?

    @Option(help: "Runs side by side (default: the number of cores).")
    var jobs: Int?

    func run() throws {
        guard power > 0, power < 1 else { throw fail("--power: expected a number between 0 and 1, got \(power)", code: 2) }
        var resolved = try target.resolve()
        try orFail { try resolved.override(alpha: alpha) }
        guard !resolved.settings.claims.isEmpty else {
            throw fail("\(resolved.specFile.isEmpty ? "the sweep's spec" : resolved.specFile) has no table.claims to plan for (docs/analysis.md)", code: 2)
        }
        do {
            let data = try loadSweepData(resolved)
            let plan = StudyPlan.make(data, settings: resolved.settings, power: power,
                                      jobs: jobs ?? ProcessInfo.processInfo.activeProcessorCount)
            print(plan.text, terminator: "")
        } catch {
            throw fail("\(error)")
        }
    }
}
