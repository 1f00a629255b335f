// Prints the engine benchmark table; runs only with ABLATE_BENCH=1, in a release build:
// `ABLATE_BENCH=1 swift test -c release --filter TensorBenchmarkRun`. Asserts nothing about time.
import Foundation
import Testing
import Tensor

@Suite("Tensor engine benchmark (opt-in)")
struct TensorBenchmarkRun {
    @Test(.enabled(if: ProcessInfo.processInfo.environment["ABLATE_BENCH"] != nil))
    func printTable() {
        let reps = Int(ProcessInfo.processInfo.environment["ABLATE_BENCH_REPS"] ?? "") ?? 9
        let rows = TensorBenchmarks.run(repetitions: reps)
        print(TensorBenchmarks.table(rows))
        #expect(!rows.isEmpty)
    }
}
