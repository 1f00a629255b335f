import ArgumentParser
import Benchmarks
import Foundation
import Experiments
import Tensor
import Training

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks (timings, not tests): tensor ops and MoE scaling.",
        subcommands: [Ops.self, Gemm.self, MoE.self, MFU.self])

    struct MFU: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "mfu",
            abstract: "Model-FLOPs utilisation of training steps: model FLOPs/token × tokens/s ÷ the in-tree GEMM's peak, measured in the same run.",
            discussion: """
            Model FLOPs per token are 3 × the forward's (2 per multiply-add of the active weights, \
            plus attention's QKᵀ and PV), the run file's model_flops_per_token × 3. The GEMM peak is \
            the median of 512³ and 1024³ products (the better one) timed between the steps at the \
            same threads. MFU near the GEMM peak means the step spends its time in matrix products; \
            docs/performance.md gives the measured figures and the targets.
            """)

        @Argument(help: "The spec whose first cell is timed.")
        var spec = "experiments/bench/mla-moe.yaml"

        @Argument(help: "Overrides.")
        var overrides: [String] = []

        @Option(help: "Timed steps (after 2 warm-up steps).")
        var steps = 10

        @Option(help: "Kernel threads (default: all cores).")
        var threads: Int?

        func run() throws {
            let loaded = try loadSpec(spec, overrides: overrides)
            let cell = loaded.cells[0]
            if let threads { Parallel.threads = max(1, threads) }
            let data = try DataSources.make(cell.data, runSeed: cell.seed, seqLen: cell.train.seqLen, vocab: cell.model.vocab)
            let report = MFUBenchmark.run(model: cell.model, train: cell.train, data: data, steps: steps)
            print("\(loaded.name) (\(cell.model.totalParameters) parameters), batch \(cell.train.batchSize) × \(cell.train.seqLen), \(report.threads) thread(s), kernels \(ISA.active.rawValue), \(steps) steps")
            print(String(format: "step median %.1f ms  →  %.0f tokens/s", report.stepMedianSeconds * 1e3, report.tokensPerSecond))
            print(String(format: "model FLOPs per token %.3f M (3 × forward %.3f M)  →  %.1f GFLOP/s", report.trainingFLOPsPerToken / 1e6,
                         Double(report.forwardFLOPsPerToken) / 1e6, report.achievedGFLOPs))
            print(String(format: "in-tree GEMM peak %.1f GFLOP/s (%@, same run)", report.gemmPeakGFLOPs, report.gemmShape as NSString))
            print(String(format: "MFU %.1f%% (target ≥ 60%%)", report.mfu * 100))
        }
    }

    struct Ops: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Engine matmul (x.linear vs Kernels.gemm), attention, and per-op tape overhead.")

        @Option(help: "Timed repetitions per row (the median is reported).")
        var repetitions = 9

        func run() throws {
            print("threads available: \(Parallel.threads); medians of \(repetitions) interleaved repetitions")
            print(TensorBenchmarks.table(TensorBenchmarks.run(repetitions: repetitions)))
        }
    }

    struct Gemm: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "GFLOP/s of the in-tree GEMM per ISA path beside OpenBLAS cores, at 1 and N threads.",
            discussion: """
            Shapes of the reference model: 2048 tokens × d 256 × out ∈ {96, 128, 256, 512} (forward, \
            dX, and the TN weight gradient), and one MoE expert (512 × 256 × 128 and its gradients). \
            OpenBLAS is an optional yardstick: loaded with dlopen when installed (libopenblas0), \
            one child process per OPENBLAS_CORETYPE (the library reads it once, at load), with \
            rounds alternating between the engine and each core so all see the same machine.
            """)

        @Option(help: "Timed calls per variant and round (3 rounds; the median is reported).")
        var repetitions = 5

        @Option(name: .customLong("openblas-core"), parsing: .upToNextOption,
                help: "OPENBLAS_CORETYPE values to compare (default: Haswell, and SkylakeX where AVX-512 exists).")
        var cores: [String] = []

        @Flag(help: "Skip the OpenBLAS yardstick.")
        var noOpenblas = false

        @Option(name: .customLong("paths"), parsing: .upToNextOption,
                help: "ISA paths to time (default: every path this CPU supports; generic is ~50x slower).")
        var pathNames: [String] = []

        @Flag(help: .hidden)
        var yardstickChild = false

        func run() throws {
            if yardstickChild {
                // Child: OpenBLAS rows only, as tab-separated lines "name\tshape\tflops\tt1,t2,…".
                guard case .success(let y) = OpenBLASYardstick.load() else { throw ExitCode(3) }
                for row in KernelBenchmarks.gemmRows(repetitions: repetitions, rounds: 1, paths: [], yardstick: y) {
                    print([row.name, row.shape, String(row.flops ?? 0), row.times.map { String($0) }.joined(separator: ",")].joined(separator: "\t"))
                }
                return
            }
            let threads = Parallel.threads
            var paths = ISA.supported
            if !pathNames.isEmpty {
                paths = try pathNames.map { name in
                    switch ISA.named(name, as: "--paths \(name)") {
                    case .success(let isa): return isa
                    case .failure(let error): throw ValidationError(error.message)
                    }
                }
            }
            var wanted = cores
            if wanted.isEmpty { wanted = ["Haswell"] + (paths.contains(.avx512) ? ["SkylakeX"] : []) }
            if noOpenblas { wanted = [] }
            if !wanted.isEmpty, case .failure(let e) = OpenBLASYardstick.load() {
                print("note: \(e.message); OpenBLAS rows skipped")
                wanted = []
            }
            print("CPU: \(CPUInfo.current.model); ISA paths: \(paths.map(\.rawValue).joined(separator: ", ")); threads 1 and \(threads)")
            print("medians of \(3 * repetitions) calls in 3 rounds alternating engine and OpenBLAS (\(wanted.isEmpty ? "none" : wanted.joined(separator: ", ")))")
            var collected: [String: (shape: String, flops: Double, times: [Double])] = [:]
            var order: [String] = []
            func add(_ name: String, _ shape: String, _ flops: Double, _ times: [Double]) {
                let key = name + "|" + shape
                if collected[key] == nil { order.append(key); collected[key] = (shape, flops, []) }
                collected[key]!.times += times
            }
            let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
            for _ in 0..<3 {
                for row in KernelBenchmarks.gemmRows(repetitions: repetitions, rounds: 1, paths: paths) {
                    add(row.name, row.shape, row.flops ?? 0, row.times)
                }
                for core in wanted {
                    let p = Process()
                    p.executableURL = URL(fileURLWithPath: exe)
                    p.arguments = ["bench", "gemm", "--yardstick-child", "--repetitions", String(repetitions)]
                    var env = ProcessInfo.processInfo.environment
                    env["OPENBLAS_CORETYPE"] = core
                    p.environment = env
                    let out = Pipe()
                    p.standardOutput = out
                    try p.run()
                    let data = out.fileHandleForReading.readDataToEndOfFile()
                    p.waitUntilExit()
                    for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
                        let f = line.split(separator: "\t").map(String.init)
                        guard f.count == 4 else { continue }
                        // "OpenBLAS <core it runs> …"; say so when OpenBLAS ignored the requested core.
                        let runs = f[0].split(separator: " ").dropFirst().first.map(String.init) ?? core
                        let name = runs.lowercased() == core.lowercased() ? f[0]
                            : f[0].replacingOccurrences(of: "OpenBLAS ", with: "OpenBLAS \(core)→")
                        add(name, f[1], Double(f[2]) ?? 0,
                            f[3].split(separator: ",").compactMap { Double($0) })
                    }
                }
            }
            let rows = order.map { key -> BenchRow in
                let c = collected[key]!
                return BenchRow(name: String(key.split(separator: "|")[0]), shape: c.shape, times: c.times, flops: c.flops)
            }
            print(KernelBenchmarks.gemmTable(rows))
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
