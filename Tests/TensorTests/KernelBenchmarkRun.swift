// Prints the kernel benchmark table; runs only with ABLATE_BENCH=1 (use a release build:
// `ABLATE_BENCH=1 swift test -c release --filter KernelBenchmark`). Asserts nothing about time.
import Foundation
import Testing
import Tensor

@Suite("Kernel benchmark (opt-in)")
struct KernelBenchmarkRun {
    @Test(.enabled(if: ProcessInfo.processInfo.environment["ABLATE_BENCH"] != nil))
    func printTable() {
        let reps = Int(ProcessInfo.processInfo.environment["ABLATE_BENCH_REPS"] ?? "") ?? 9
        let rows = KernelBenchmarks.run(repetitions: reps)
        print(KernelBenchmarks.table(rows))
        #expect(!rows.isEmpty)
    }
}
