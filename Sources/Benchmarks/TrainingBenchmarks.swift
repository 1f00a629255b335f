// Benchmarks of whole training steps (not tests; nothing here asserts): the MoE scaling figure,
// which shows that a step's cost grows with the active experts, not with E — a step with E=64,
// top-2 against E=8, top-2 at the same expert width — measured side by side, interleaved repetition by repetition, medians reported.
import Training
import Config
import Dispatch
import Models
import Tensor

public enum TrainingBenchmarks {
    public struct Row: Sendable {
        public var name: String
        public var medianMs: Double
        public var minMs: Double
        public var totalParameters: Int
        public var activeParameters: Int
    }

    /// A 2-layer MoE model, d_model 256, expert width 128, batch 16 × 128 tokens.
    public static func moeConfig(experts: Int, topK: Int = 2) -> (ModelConfig, TrainConfig) {
        let model: ConfigValue = [
            "vocab": 256, "d_model": 256, "n_layers": 2,
            "attention": ["kind": "mha", "heads": 4],
            "ffn": ["kind": "moe", "moe": ["experts": .int(experts), "top_k": .int(topK), "expert_hidden": 128,
                                           "balance": ["aux": "batch"]]],
        ]
        let train: ConfigValue = ["batch_size": 16, "seq_len": 128, "steps": 1000,
                                  "schedule": ["kind": "constant", "warmup": 0]]
        var resolver = Resolver(file: "benchmark")
        let resolvedModel = resolver.resolve(model, against: ModelConfig.schema, at: "model")
        let resolvedTrain = resolver.resolve(train, against: TrainConfig.schema, at: "train")
        precondition(resolver.problems.isEmpty, "\(resolver.problems)")
        return (try! ConfigDecoding.decode(ModelConfig.self, from: resolvedModel),
                try! ConfigDecoding.decode(TrainConfig.self, from: resolvedTrain))
    }

    /// Median step times of E=8 and E=64 (top-2, same expert width), interleaved.
    public static func moeScaling(repetitions: Int = 7) -> [Row] {
        var mixture = MarkovMixtureConfig.defaults   // 8 sources, α 0.1
        mixture.symbols = 256
        let data = MarkovMixture(config: mixture, seed: 1)
        var trainers: [(String, Trainer, ModelConfig)] = []
        for experts in [8, 64] {
            let (model, train) = moeConfig(experts: experts)
            trainers.append(("train step, E=\(experts) top-2, F_e=128", Trainer(model: model, train: train, params: .initial(model, seed: 0)), model))
        }
        var times = [[Double]](repeating: [], count: trainers.count)
        for repetition in -1..<repetitions {  // -1: warm-up
            let batch = data.trainBatch(step: repetition + 1, batchSize: 16, seqLen: 128)
            for i in trainers.indices {
                let t0 = DispatchTime.now().uptimeNanoseconds
                _ = trainers[i].1.step(repetition + 1, batch: batch)
                let elapsed = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-6
                if repetition >= 0 { times[i].append(elapsed) }
            }
        }
        return trainers.indices.map { i in
            let sorted = times[i].sorted()
            return Row(name: trainers[i].0, medianMs: sorted[sorted.count / 2], minMs: sorted[0],
                       totalParameters: trainers[i].2.totalParameters, activeParameters: trainers[i].2.activeParameters)
        }
    }
}
