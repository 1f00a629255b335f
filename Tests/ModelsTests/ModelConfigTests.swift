import Config
import Testing
@testable import Models

/// Resolves a `model` section given as a value tree, as the spec loader does.
func resolveModel(_ value: ConfigValue) throws -> (ModelConfig, [ConfigProblem]) {
    var resolver = Resolver(file: "spec.yaml")
    let resolved = resolver.resolve(value, against: ModelConfig.schema, at: "model")
    if !resolver.problems.isEmpty { return (try ConfigDecoding.decode(ModelConfig.self, from: resolveDefaults()), resolver.problems) }
    let config = try ConfigDecoding.decode(ModelConfig.self, from: resolved)
    return (config, config.problems())
}

func resolveDefaults() -> ConfigValue {
    var resolver = Resolver()
    return resolver.resolve(nil, against: ModelConfig.schema, at: "model")
}

@Suite struct ModelConfigTests {
    static let dense: ConfigValue = [
        "vocab": 32, "d_model": 16, "n_layers": 2,
        "attention": ["kind": "mha", "heads": 4],
        "ffn": ["kind": "dense", "hidden": 32],
    ]

    static let mlaMoE: ConfigValue = [
        "vocab": 32, "d_model": 16, "n_layers": 2, "first_dense_layers": 1, "tie_embeddings": true,
        "attention": ["kind": "mla", "heads": 2, "kv_rank": 8, "q_rank": 0, "d_nope": 4, "d_rope": 2, "d_v": 4],
        "ffn": ["kind": "moe", "hidden": 32,
                "moe": ["experts": 4, "top_k": 2, "expert_hidden": 8, "shared_experts": 1, "granularity": 2,
                        "balance": ["loss_free": ["enabled": true]]]],
    ]

    @Test func defaultsFillEveryKey() throws {
        let config = try ConfigDecoding.decode(ModelConfig.self, from: resolveDefaults())
        #expect(config.rope.theta == 10000)
        #expect(config.normEps == 1e-6)
        #expect(config.attention.kind == .mha)
        #expect(config.ffn.moe == nil)
        #expect(config.problems().isEmpty)
    }

    /// Hand-counted: embed 512; per layer norm 16 + 4·256 attention + norm 16 + 3·512 SwiGLU.
    @Test func denseMHANumbers() throws {
        let (config, problems) = try resolveModel(Self.dense)
        #expect(problems.isEmpty)
        #expect(config.totalParameters == 6224)
        #expect(config.activeParameters == 6224)
        #expect(config.kvCacheElementsPerToken == 64)
        #expect(config.forwardFLOPsPerToken(seqLen: 8) == 11840)
        #expect(config.parameterDeclarations.first?.name == "embed.weight")
        #expect(config.parameterDeclarations.last?.name == "head.weight")
    }

    /// Hand-counted: MLA attention 632 per layer; layer 1 has 8 split experts of width 4
    /// (granularity 2), 4 active, one shared expert of width 4, tied embeddings.
    @Test func mlaMoENumbers() throws {
        let (config, problems) = try resolveModel(Self.mlaMoE)
        #expect(problems.isEmpty, "\(problems)")
        #expect(config.totalParameters == 5216)
        #expect(config.activeParameters == 4448)
        #expect(config.kvCacheElementsPerToken == 20)
        #expect(config.moeShape(layer: 0) == nil)
        let shape = try #require(config.moeShape(layer: 1))
        #expect([shape.experts, shape.topK, shape.expertHidden, shape.sharedHidden] == [8, 4, 4, 4] && shape.hasBias)
        let names = config.parameterDeclarations.map(\.name)
        #expect(names.contains("layers.1.ffn.experts.7.w2.weight"))
        #expect(names.contains("layers.1.ffn.gate.bias"))
        #expect(names.contains("layers.0.ffn.w1.weight"))
        #expect(names.contains("layers.1.attn.wkv_b.weight"))
        #expect(!names.contains("head.weight"))
        #expect(Set(names).count == names.count)
    }

    @Test func unknownKeysWrongTypesAndRangesAreAllReported() throws {
        var resolver = Resolver(file: "exp.yaml")
        let value: ConfigValue = ["d_modle": 16, "n_layers": "two", "vocab": 1,
                                  "attention": ["kind": "mlq"]]
        _ = resolver.resolve(value, against: ModelConfig.schema, at: "model")
        let text = resolver.problems.map(\.description)
        #expect(resolver.problems.count == 4, "\(text)")
        #expect(text.contains { $0.hasPrefix("exp.yaml: model.d_modle: unknown key; did you mean 'd_model'?") })
        #expect(text.contains { $0.hasPrefix("exp.yaml: model.n_layers: expected integer ≥ 1, got a string") })
        #expect(text.contains { $0 == "exp.yaml: model.vocab: expected an integer ≥ 2, got 1" })
        #expect(text.contains { $0.contains("model.attention.kind: expected one of mha | gqa | mqa | mla, got 'mlq'; did you mean 'mla'?") })
    }

    static let impossible: [(ConfigValue, String)] = [
        (["ffn": ["kind": "moe", "moe": ["experts": 4, "top_k": 5]]] as ConfigValue, "model.ffn.moe.top_k"),
        (["attention": ["kind": "gqa", "heads": 4, "n_kv_heads": 3]], "model.attention.n_kv_heads"),
        (["attention": ["kind": "mla", "kv_rank": 8, "d_nope": 4, "d_rope": 3, "d_v": 4]], "model.attention.d_rope"),
        (["attention": ["kind": "mha", "kv_rank": 8]], "model.attention.kv_rank"),
        (["ffn": ["kind": "moe", "moe": ["experts": 6, "router": ["groups": 4]]]], "model.ffn.moe.router.groups"),
        (["ffn": ["kind": "moe", "moe": ["experts": 8, "router": ["groups": 2, "topk_groups": 3]]]], "model.ffn.moe.router.topk_groups"),
        (["ffn": ["kind": "moe"]], "model.ffn.moe"),
        (["ffn": ["kind": "dense", "moe": ["experts": 4]]], "model.ffn.moe"),
        (["attention": ["kind": "mla", "d_nope": 4, "d_rope": 2, "d_v": 4]], "model.attention.kv_rank"),
        (["ffn": ["kind": "moe", "moe": ["expert_hidden": 10, "granularity": 4]]], "model.ffn.moe.granularity"),
        (["d_model": 30, "attention": ["heads": 4]], "model.attention.head_dim"),
    ]

    @Test func impossibleCombinationsNameTheKey() throws {
        for (value, key) in Self.impossible {
            let (_, problems) = try resolveModel(value)
            #expect(problems.contains { $0.path == key }, "expected a problem at \(key), got \(problems)")
        }
    }
}
