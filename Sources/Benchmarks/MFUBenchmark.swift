// Model-FLOPs utilisation (`ablate bench mfu`): a training step's model FLOPs per token
// (3 × the forward: forward, and backward's two products per weight) times tokens/s, divided by
// the in-tree GEMM's peak measured in the same run at the same threads. The peak is the best of
// square products (512³, 1024³; the fastest of three back-to-back calls, median over the
// interleavings) in the forward's layout, so MFU says how much of what the
// kernels can do the whole step gets. Steps and GEMM timings alternate, so both see the same
// machine; medians are reported.
import Dispatch
import Foundation
import Models
import Tensor
import Training

public enum MFUBenchmark {
    public struct Report: Sendable {
        public var threads: Int
        public var tokensPerStep: Int
        public var forwardFLOPsPerToken: Int
        public var stepMedianSeconds: Double
        public var stepTimes: [Double]
        public var gemmPeakGFLOPs: Double
        public var gemmShape: String

        public var tokensPerSecond: Double { Double(tokensPerStep) / stepMedianSeconds }
        /// Model FLOPs of training per token: 3 × forward.
        public var trainingFLOPsPerToken: Double { 3 * Double(forwardFLOPsPerToken) }
        public var achievedGFLOPs: Double { trainingFLOPsPerToken * tokensPerSecond / 1e9 }
        public var mfu: Double { achievedGFLOPs / gemmPeakGFLOPs }
    }

    public static func run(model: ModelConfig, train: TrainConfig, data: any DataSource,
                           steps: Int = 10, warmup: Int = 2) -> Report {
        var trainer = Trainer(model: model, train: train, params: .initial(model, seed: 0))
        let sizes = [512, 1024]
        let buffers = sizes.map { n in (KernelBenchmarks.filled(n * n, seed: 1), KernelBenchmarks.filled(n * n, seed: 2)) }
        var stepTimes: [Double] = []
        var gemmRates: [Int: [Double]] = [:]
        for step in 0..<(warmup + steps) {
            let batch = data.trainBatch(step: step, batchSize: train.batchSize, seqLen: train.seqLen)
            let t0 = KernelBenchmarks.now()
            _ = trainer.step(step, batch: batch)
            if step >= warmup { stepTimes.append(KernelBenchmarks.now() - t0) }
            // One GEMM of each size between steps (X·Wᵀ, the forward's layout).
            for (index, n) in sizes.enumerated() {
                var c = [Float](repeating: 0, count: n * n)
                let (a, b) = buffers[index]
                // Three calls back to back, the fastest kept: the peak of warm caches and workers.
                var seconds = Double.infinity
                for _ in 0..<3 {
                    let t1 = KernelBenchmarks.now()
                    a.withUnsafeBufferPointer { pa in
                        b.withUnsafeBufferPointer { pb in
                            c.withUnsafeMutableBufferPointer { pc in
                                Kernels.gemm(transB: true, m: n, n: n, k: n, a: pa.baseAddress!, b: pb.baseAddress!, c: pc.baseAddress!)
                            }
                        }
                    }
                    seconds = min(seconds, KernelBenchmarks.now() - t1)
                }
                if step >= warmup { gemmRates[n, default: []].append(2 * Double(n * n * n) / seconds / 1e9) }
            }
        }
        let best = sizes.map { ($0, KernelBenchmarks.median(gemmRates[$0] ?? [0])) }.max { $0.1 < $1.1 }!
        return Report(threads: Parallel.threads, tokensPerStep: train.batchSize * train.seqLen,
                      forwardFLOPsPerToken: model.forwardFLOPsPerToken(seqLen: train.seqLen),
                      stepMedianSeconds: KernelBenchmarks.median(stepTimes), stepTimes: stepTimes,
                      gemmPeakGFLOPs: best.1, gemmShape: "\(best.0)×\(best.0)×\(best.0) NT")
    }
}
