import ArgumentParser
import Foundation
import Tensor
import Training

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks (timings, not tests): tensor ops and MoE scaling.",
        subcommands: [Ops.self, MoE.self])

    struct Ops: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "GFLOP/s of matmul (engine vs raw cblas_sgemm), attention, and per-op tape overhead.")

        @Option(help: "Timed repetitions per row (the median is reported).")
        var repetitions = 9

        func run() throws {
            print("threads available: \(Parallel.threads); medians of \(repetitions) interleaved repetitions")
            print(TensorBenchmarks.table(TensorBenchmarks.run(repetitions: repetitions)))
        }
    }

    struct MoE: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "moe",
            abstract: "Training-step time with E=64 vs E=8 experts (top-2, same expert width).")

        @Option(help: "Timed repetitions (the median is reported).")
        var repetitions = 7

        func run() throws {
            let rows = TrainingBenchmarks.moeScaling(repetitions: repetitions)
            print("2 MoE layers, d_model 256, batch 16 × 128 tokens; medians of \(repetitions) interleaved steps")
            for row in rows {
                print(String(format: "%-36@ median %8.1f ms  min %8.1f ms  params %9d  active %8d",
                             row.name as NSString, row.medianMs, row.minMs, row.totalParameters, row.activeParameters))
            }
            if rows.count == 2 {
                print(String(format: "ratio E=64 / E=8: %.2f× (target ≤ 1.5×)", rows[1].medianMs / rows[0].medianMs))
            }
        }
    }
}
