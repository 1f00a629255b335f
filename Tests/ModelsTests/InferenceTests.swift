import Config
import Testing
import Tensor
@testable import Models

@Suite struct InferenceTests {
    func config(_ value: ConfigValue) throws -> ModelConfig {
        let (config, problems) = try resolveModel(value)
        #expect(problems.isEmpty, "\(problems)")
        return config
    }

    /// Incremental (cached) logits must equal the full-sequence training forward.
    func checkIncrementalMatchesTraining(_ config: ModelConfig, cacheFloats: Int) {
        let params = ParameterSet.initial(config, seed: 3)
        let tokens: [Int32] = [1, 5, 2, 7, 7, 0, 3]
        let t = tokens.count
        let full = Decoder(config: config).forward(
            params, inputs: IntTensor(shape: [1, t], scalars: tokens),
            targets: IntTensor(shape: [1, t], scalars: tokens), mask: Tensor.ones([1, t])).logits.scalars
        var session = InferenceSession(config: config, params: params)
        let v = config.vocab
        for (position, token) in tokens.enumerated() {
            let logits = session.next(token)
            let expected = Array(full[(position * v)..<((position + 1) * v)])
            var num = 0.0, den = 0.0
            for i in 0..<v {
                num += Double(logits[i] - expected[i]) * Double(logits[i] - expected[i])
                den += Double(expected[i]) * Double(expected[i])
            }
            #expect((num / den).squareRoot() < 1e-5, "position \(position): relative error \((num / den).squareRoot())")
        }
        #expect(session.cacheFloatsPerTokenPerLayer == cacheFloats)
    }

    /// MLA's absorbed form with the latent cache gives the training form's logits.
    @Test func mlaAbsorbedMatchesTrainingForm() throws {
        let value: ConfigValue = ["vocab": 11, "d_model": 16, "n_layers": 2,
                                  "attention": ["kind": "mla", "heads": 2, "kv_rank": 6, "q_rank": 0, "d_nope": 4, "d_rope": 4, "d_v": 5],
                                  "ffn": ["kind": "dense", "hidden": 24]]
        checkIncrementalMatchesTraining(try config(value), cacheFloats: 6 + 4)
        let withQ: ConfigValue = value.setting(.int(5), at: "attention.q_rank")
            .setting(.string("moe"), at: "ffn.kind")
            .setting(["experts": 4, "top_k": 2, "expert_hidden": 8, "shared_experts": 1], at: "ffn.moe")
        checkIncrementalMatchesTraining(try config(withQ), cacheFloats: 10)
    }

    /// The MLA controls (MODEL.md): without kv_norm the absorbed form still holds; without KV
    /// compression (kv_rank 0) the cache holds k_nope and v per head and the one shared k_rope.
    @Test func mlaControlsMatchTrainingForm() throws {
        let value: ConfigValue = ["vocab": 11, "d_model": 16, "n_layers": 2,
                                  "attention": ["kind": "mla", "heads": 2, "kv_rank": 6, "q_rank": 0, "d_nope": 4, "d_rope": 4, "d_v": 5,
                                                "kv_norm": false],
                                  "ffn": ["kind": "dense", "hidden": 24]]
        let noNorm = try config(value)
        #expect(!noNorm.parameterDeclarations.contains { $0.name.hasSuffix("kv_norm.weight") })
        checkIncrementalMatchesTraining(noNorm, cacheFloats: 6 + 4)
        let uncompressed = try config(value.setting(.int(0), at: "attention.kv_rank").setting(.null, at: "attention.kv_norm"))
        #expect(uncompressed.parameterDeclarations.contains { $0.name == "layers.0.attn.wkv.weight" })
        #expect(uncompressed.kvCacheElementsPerToken == (2 * (4 + 5) + 4) * 2)
        checkIncrementalMatchesTraining(uncompressed, cacheFloats: 2 * (4 + 5) + 4)
        // kv_norm means nothing without c_kv.
        let (_, problems) = try resolveModel(value.setting(.int(0), at: "attention.kv_rank"))
        #expect(problems.contains { $0.path.hasSuffix("attention.kv_norm") })
    }

    @Test func groupedCacheMatchesTrainingForm() throws {
        let value: ConfigValue = ["vocab": 11, "d_model": 16, "n_layers": 2,
                                  "attention": ["kind": "gqa", "heads": 4, "n_kv_heads": 2],
                                  "ffn": ["kind": "dense", "hidden": 24]]
        checkIncrementalMatchesTraining(try config(value), cacheFloats: 2 * 2 * 4)
    }
}
