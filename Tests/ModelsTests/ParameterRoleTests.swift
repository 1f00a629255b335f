import Config
import Testing
@testable import Models
import Tensor

/// The declarations carry each parameter's role; initialisation, decay and counts read the role.
struct ParameterRoleTests {
    /// MODEL.md's name families and the role each must be declared with.
    static let expected: [(suffix: String, role: ParameterRole)] = [
        ("embed.weight", .embedding), ("head.weight", .head), ("norm.weight", .norm),
        ("attn.wq.weight", .attentionIn), ("attn.wk.weight", .attentionIn), ("attn.wv.weight", .attentionIn),
        ("attn.wq_a.weight", .attentionIn), ("attn.wq_b.weight", .attentionIn), ("attn.wkv_a.weight", .attentionIn),
        ("attn.wkv_b.weight", .attentionIn), ("attn.wo.weight", .attentionOut), ("q_norm.weight", .norm),
        ("kv_norm.weight", .norm), ("w1.weight", .ffnIn), ("w3.weight", .ffnIn), ("w2.weight", .ffnOut),
        ("gate.weight", .router), ("gate.bias", .buffer),
    ]

    static let configs: [ConfigValue] = [
        ModelConfigTests.dense, ModelConfigTests.mlaMoE,
        ["vocab": 16, "d_model": 16, "n_layers": 2,
         "attention": ["kind": "mla", "heads": 2, "kv_rank": 8, "q_rank": 6, "d_nope": 4, "d_rope": 2, "d_v": 4],
         "ffn": ["kind": "moe", "moe": ["experts": 4, "top_k": 2, "expert_hidden": 8, "shared_experts": 1]]],
    ]

    @Test(arguments: 0..<3) func everyNameFamilyHasItsRole(_ index: Int) throws {
        let (config, problems) = try resolveModel(Self.configs[index])
        #expect(problems.isEmpty)
        let declarations = config.parameterDeclarations
        #expect(!declarations.isEmpty)
        for d in declarations {
            let match = Self.expected.filter { d.name.hasSuffix($0.suffix) }.max { $0.suffix.count < $1.suffix.count }
            #expect(match?.role == d.role, "\(d.name) declared \(d.role)")
            #expect(d.role.isMatrix == (d.shape.count == 2), "\(d.name)")
            #expect((d.expert != nil) == d.name.contains(".experts."), "\(d.name)")
            #expect((d.layer != nil) == d.name.hasPrefix("layers."), "\(d.name)")
        }
        #expect(config.totalParameters == declarations.filter { $0.role != .buffer }.reduce(0) { $0 + $1.count })
    }

    /// Output projections start at std/sqrt(2L), other matrices at std, norms at 1, buffers at 0:
    /// read from the role, so a renamed output projection would still get its std.
    @Test func initialisationFollowsRoles() throws {
        let lossFree: ConfigValue = ["loss_free": ["enabled": true]]
        let moe: ConfigValue = ["experts": 2, "top_k": 1, "expert_hidden": 64, "balance": lossFree]
        let value: ConfigValue = ["vocab": 64, "d_model": 64, "n_layers": 8, "ffn": ["kind": "moe", "hidden": 64, "moe": moe]]
        let (config, problems) = try resolveModel(value)
        #expect(problems.isEmpty)
        let params = ParameterSet.initial(config, seed: 3)
        func std(_ v: [Float]) -> Double {
            let mean = v.reduce(0.0) { $0 + Double($1) } / Double(v.count)
            return (v.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(v.count)).squareRoot()
        }
        let base = config.initialization.std, scaled = base / Double(2 * config.nLayers).squareRoot()
        for d in params.declarations {
            let values = params[d.name].scalars
            switch d.role {
            case .norm: #expect(values.allSatisfy { $0 == 1 }, "\(d.name)")
            case .buffer: #expect(values.allSatisfy { $0 == 0 }, "\(d.name)")
            default:
                let target = d.role.isOutputProjection ? scaled : base
                #expect(abs(std(values) / target - 1) < 0.1, "\(d.name): std \(std(values)), expected \(target)")
            }
            #expect(params[d.name].requiresGrad == d.role.isTrained, "\(d.name)")
        }
        #expect(params.biasName(layer: 3) == "layers.3.ffn.gate.bias")
        #expect(params.trainedNames.count == params.names.count - config.nLayers)

        // The memory estimate's placeholder: the same tensors, spread but not drawn.
        let placeholder = ParameterSet.placeholder(config)
        #expect(placeholder.names == params.names)
        let width = Float(base * 3.0.squareRoot())
        for d in placeholder.declarations {
            let values = placeholder[d.name].scalars
            #expect(placeholder[d.name].shape == params[d.name].shape && placeholder[d.name].requiresGrad == d.role.isTrained, "\(d.name)")
            switch d.role {
            case .norm: #expect(values.allSatisfy { $0 == 1 }, "\(d.name)")
            case .buffer: #expect(values.allSatisfy { $0 == 0 }, "\(d.name)")
            default:
                #expect(values.allSatisfy { abs($0) <= width } && Set(values).count > values.count / 2, "\(d.name)")
                #expect(abs(std(values) / base - 1) < 0.2, "\(d.name): std \(std(values))")
            }
        }
    }
}

/// Balance scope (MODEL.md): which combinations of aux and aux_scope are refused, and how each
/// resolves.
struct BalanceScopeTests {
    func shape(_ balance: ConfigValue) throws -> (MoEShape?, [String]) {
        let moe: ConfigValue = ["experts": 4, "top_k": 2, "expert_hidden": 8, "balance": balance]
        let (config, problems) = try resolveModel(["vocab": 16, "d_model": 16, "ffn": ["kind": "moe", "moe": moe]])
        return (config.moeShape(layer: 0), (problems + config.problems()).map(\.description))
    }

    @Test func scopesResolveAndRefuse() throws {
        #expect(try shape(["aux": "batch"]).0?.auxScope == .microBatch)
        #expect(try shape(["aux": "sequence"]).0?.auxScope == .sequence)
        #expect(try shape(["aux": "none"]).0?.auxScope == AuxScope.none)
        #expect(try shape(["aux": "batch", "aux_scope": "step"]).0?.auxScope == .step)
        #expect(try shape(["aux": "batch", "aux_scope": "group", "aux_group": 2]).0?.auxScope == .group(2))
        let refused: [(ConfigValue, String)] = [
            (["aux": "none", "aux_scope": "step"], "balance.aux is none"),
            (["aux": "sequence", "aux_scope": "micro_batch"], "aux: sequence counts per sequence"),
            (["aux": "batch", "aux_scope": "sequence"], "write aux: sequence"),
            (["aux": "batch", "aux_scope": "group"], "required when aux_scope is group"),
            (["aux": "batch", "aux_group": 2], "only applies with aux_scope group"),
        ]
        for (balance, message) in refused {
            let problems = try shape(balance).1
            #expect(problems.contains { $0.contains(message) }, "\(balance): \(problems)")
        }
    }
}
