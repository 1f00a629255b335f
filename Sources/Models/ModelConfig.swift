// The model section of a spec (`model.*`): Codable structs whose snake_case keys are the
// interface the specs and the docs use (`model.d_model`, `model.attention.kv_rank`,
// `model.ffn.moe.router.score`, …), the schema that validates them and fills defaults, the
// combinations that are impossible, and the typed view the decoder is built from.
//
// Letters: V vocab, D d_model, L layers, H heads, G kv heads, E routed experts, k active.
import Config

public struct ModelConfig: Codable, Sendable, Equatable {
    public var vocab: Int
    public var dModel: Int
    public var nLayers: Int
    public var firstDenseLayers: Int
    public var tieEmbeddings: Bool
    public var normEps: Double
    public var rope: RoPEConfig
    public var initialization: InitConfig
    public var attention: AttentionConfig
    public var ffn: FFNConfig
    /// Multi-token prediction (DeepSeek-V3); nil = off.
    public var mtp: MTPConfig?

    enum CodingKeys: String, CodingKey {
        case vocab, dModel, nLayers, firstDenseLayers, tieEmbeddings, normEps, rope, attention, ffn, mtp
        case initialization = "init"
    }

    /// MTP modules n (0 = off).
    public var mtpDepth: Int { mtp?.depth ?? 0 }
}

/// Multi-token prediction (MODEL.md "Multi-token prediction"): module j predicts the token
/// j + 2 places ahead; its loss enters with weight λ/n.
public struct MTPConfig: Codable, Sendable, Equatable {
    public var depth: Int
    public var weight: Double
}

public struct RoPEConfig: Codable, Sendable, Equatable {
    public var theta: Double
}

public struct InitConfig: Codable, Sendable, Equatable {
    /// Standard deviation of every weight matrix's normal init (norm weights start at 1).
    public var std: Double
    /// Output projections (attn.wo, ffn w2) get std / sqrt(2·L) (GPT-2 style).
    public var scaledOutput: Bool
}

public struct AttentionConfig: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable { case mha, gqa, mqa, mla }
    public var kind: Kind
    public var heads: Int
    public var headDim: Int?
    public var nKvHeads: Int?
    public var kvRank: Int?
    /// mla: RMSNorm on c_kv (null = true; MODEL.md's control `kv_norm: false`).
    public var kvNorm: Bool?
    public var qRank: Int?
    public var dNope: Int?
    public var dRope: Int?
    public var dV: Int?
}

public struct FFNConfig: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable { case dense, moe }
    public var kind: Kind
    /// Hidden width of a dense SwiGLU (the FFN of dense models and of the first dense layers).
    public var hidden: Int
    public var moe: MoEConfig?
}

public struct MoEConfig: Codable, Sendable, Equatable {
    public var experts: Int
    public var topK: Int
    public var expertHidden: Int
    public var sharedExperts: Int
    public var granularity: Int
    public var router: RouterConfig
    public var balance: BalanceConfig
    public var capacityFactor: Double?
}

public struct RouterConfig: Codable, Sendable, Equatable {
    public enum Score: String, Codable, Sendable, CaseIterable { case softmax, sigmoid }
    public var score: Score
    public var normalize: Bool
    public var scale: Double
    public var groups: Int
    public var topkGroups: Int
}

public struct BalanceConfig: Codable, Sendable, Equatable {
    public enum Aux: String, Codable, Sendable, CaseIterable { case none, batch, sequence }
    /// Over which tokens the auxiliary loss counts f and P (MODEL.md "Balance scope").
    public enum Scope: String, Codable, Sendable, CaseIterable { case sequence, group, microBatch = "micro_batch", step }
    public var aux: Aux
    /// nil: `batch` means micro_batch and `sequence` means sequence.
    public var auxScope: Scope?
    /// Sequences per group for aux_scope group.
    public var auxGroup: Int?
    public var auxCoef: Double
    public var zLossCoef: Double
    public var lossFree: LossFreeConfig
}

public struct LossFreeConfig: Codable, Sendable, Equatable {
    public enum Rule: String, Codable, Sendable, CaseIterable { case sign, proportional }
    public var enabled: Bool
    public var rate: Double
    public var rule: Rule
}

// MARK: - Schema

extension ModelConfig {
    /// Every key of `model.*` with its type, default and meaning. docs/spec-reference.md is
    /// generated from this and a test keeps the two in step.
    public static let schema = Section("The decoder: sizes, attention, feed-forward (MODEL.md).", [
        Field("vocab", .int(min: 2), default: .int(256), "vocabulary size V (the data source must fit in it)"),
        Field("d_model", .int(min: 2), default: .int(64), "residual width D"),
        Field("n_layers", .int(min: 1), default: .int(2), "number of decoder layers L"),
        Field("first_dense_layers", .int(min: 0), default: .int(0),
              "layers l < this use a dense SwiGLU of hidden ffn.hidden, whatever ffn.kind says"),
        Field("tie_embeddings", .bool, default: .bool(false), "use embed.weight as the output head (no head.weight)"),
        Field("norm_eps", .double(min: 0, minExclusive: true), default: .double(1e-6), "RMSNorm epsilon"),
        Field("rope", .section(Section("Rotary position embedding (interleaved pairs).", [
            Field("theta", .double(min: 1), default: .double(10000), "RoPE base θ"),
        ])), "rotary embedding"),
        Field("init", .section(Section("Parameter initialisation.", [
            Field("std", .double(min: 0, minExclusive: true), default: .double(0.02), "std of the normal init of every weight matrix"),
            Field("scaled_output", .bool, default: .bool(true), "scale std of attn.wo and ffn w2 by 1/sqrt(2·L)"),
        ])), "initialisation"),
        Field("attention", .section(Section("Attention variant.", [
            Field("kind", .choice(AttentionConfig.Kind.allCases.map(\.rawValue)), default: .string("mha"),
                  "mha | gqa | mqa | mla"),
            Field("heads", .int(min: 1), default: .int(4), "query heads H"),
            Field("head_dim", .optional(.int(min: 1)), "head dim d_h (mha, gqa, mqa; default D/H)"),
            Field("n_kv_heads", .optional(.int(min: 1)), "key/value heads G (gqa only; must divide heads)"),
            Field("kv_rank", .optional(.int(min: 0)), "mla: KV latent rank d_c (0 = no KV compression: MHA with MLA's shared RoPE key, a control)"),
            Field("kv_norm", .optional(.bool), "mla: RMSNorm on c_kv (null = true; false is a control)", omittedWhenAbsent: true),
            Field("q_rank", .optional(.int(min: 0)), "mla: query latent rank d_q (0 = no query compression)"),
            Field("d_nope", .optional(.int(min: 1)), "mla: per-head non-rotary q/k dim"),
            Field("d_rope", .optional(.int(min: 2)), "mla: per-head rotary q/k dim (even; one k_rope shared by all heads)"),
            Field("d_v", .optional(.int(min: 1)), "mla: per-head value dim"),
        ])), "attention"),
        Field("ffn", .section(Section("Feed-forward: dense SwiGLU or mixture of experts.", [
            Field("kind", .choice(FFNConfig.Kind.allCases.map(\.rawValue)), default: .string("dense"), "dense | moe"),
            Field("hidden", .int(min: 1), default: .int(128), "hidden width of a dense SwiGLU (also the first dense layers)"),
            Field("moe", .optional(.section(MoEConfig.schema)), "mixture-of-experts settings (required when kind is moe)"),
        ])), "feed-forward"),
        Field("mtp", .optional(.section(Section("Multi-token prediction (DeepSeek-V3 §2.2; MODEL.md).", [
            Field("depth", .int(min: 0), default: .int(1), "MTP modules n: module j predicts the token j + 2 ahead (DeepSeek-V3: 1; 0 = off)"),
            Field("weight", .double(min: 0), default: .double(0.3), "λ: the modules' losses enter as (λ/n)·Σ L_mtp (DeepSeek-V3: 0.3, then 0.1)"),
        ]))), "multi-token prediction modules; null = none", omittedWhenAbsent: true),
    ])
}

extension MoEConfig {
    public static let schema = Section("Mixture of experts (DeepSeekMoE).", [
        Field("experts", .int(min: 1), default: .int(8), "routed experts E (before granularity splitting)"),
        Field("top_k", .int(min: 1), default: .int(2), "active routed experts per token k (before splitting)"),
        Field("expert_hidden", .int(min: 1), default: .int(64), "hidden width of one routed expert (before splitting)"),
        Field("shared_experts", .int(min: 0), default: .int(0), "always-on shared experts, fused into one SwiGLU"),
        Field("granularity", .int(min: 1), default: .int(1),
              "m: split each expert into m of width expert_hidden/m and route to m·top_k"),
        Field("router", .section(Section("Router.", [
            Field("score", .choice(RouterConfig.Score.allCases.map(\.rawValue)), default: .string("softmax"),
                  "softmax (V2) | sigmoid (V3) scores s"),
            Field("normalize", .bool, default: .bool(false), "divide the k selected gate values by their sum"),
            Field("scale", .double(min: 0, minExclusive: true), default: .double(1.0), "multiply gate values (route scale)"),
            Field("groups", .int(min: 1), default: .int(1), "expert groups for group-limited routing (1 = off)"),
            Field("topk_groups", .int(min: 1), default: .int(1), "groups kept per token when groups > 1"),
        ])), "router"),
        Field("balance", .section(Section("Load balancing.", [
            Field("aux", .choice(BalanceConfig.Aux.allCases.map(\.rawValue)), default: .string("none"),
                  "auxiliary balance loss: none | batch | sequence"),
            Field("aux_scope", .optional(.choice(BalanceConfig.Scope.allCases.map(\.rawValue))),
                  "tokens the aux loss counts f and P over: sequence | group | micro_batch | step (null: batch = micro_batch, sequence = sequence; Qiu et al. 2025)",
                  omittedWhenAbsent: true),
            Field("aux_group", .optional(.int(min: 1)), "aux_scope group: sequences per group (must divide the micro-batch)",
                  omittedWhenAbsent: true),
            Field("aux_coef", .double(min: 0), default: .double(0.001), "α of the auxiliary balance loss"),
            Field("z_loss_coef", .double(min: 0), default: .double(0), "router z-loss coefficient (ST-MoE uses 1e-3)"),
            Field("loss_free", .section(Section("Auxiliary-loss-free bias balancing.", [
                Field("enabled", .bool, default: .bool(false), "add gate.bias to scores for selection; update it each step"),
                Field("rate", .double(min: 0), default: .double(0.001), "bias update rate u"),
                Field("rule", .choice(LossFreeConfig.Rule.allCases.map(\.rawValue)), default: .string("sign"),
                      "sign: u·sign(c̄ − c_i); proportional: u·(c̄ − c_i)/c̄"),
            ])), "loss-free balancing"),
        ])), "balancing"),
        Field("capacity_factor", .optional(.double(min: 0, minExclusive: true)),
              "expert capacity = ceil(factor·N·k/E); null = dropless"),
    ])
}

// MARK: - Impossible combinations

extension ModelConfig {
    /// Problems no single key shows: divisibility, keys of one variant set on another, … Each
    /// names the key to change. `path` is where the model section sits ("model").
    public func problems(at path: String = "model") -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        func report(_ key: String, _ message: String) {
            problems.append(ConfigProblem(path: "\(path).\(key)", message))
        }
        if firstDenseLayers > nLayers {
            report("first_dense_layers", "must be ≤ n_layers (\(nLayers)), got \(firstDenseLayers)")
        }
        let a = attention
        let mlaKeys: [(String, Int?)] = [("kv_rank", a.kvRank), ("q_rank", a.qRank), ("d_nope", a.dNope),
                                         ("d_rope", a.dRope), ("d_v", a.dV)]
        switch a.kind {
        case .mha, .gqa, .mqa:
            for (key, value) in mlaKeys where value != nil {
                report("attention.\(key)", "is an mla key; attention.kind is \(a.kind.rawValue)")
            }
            if a.kvNorm != nil { report("attention.kv_norm", "is an mla key; attention.kind is \(a.kind.rawValue)") }
            if a.headDim == nil, dModel % a.heads != 0 {
                report("attention.head_dim", "not set and d_model (\(dModel)) is not divisible by heads (\(a.heads))")
            }
            if let headDim = a.headDim, headDim % 2 != 0 {
                report("attention.head_dim", "must be even for RoPE, got \(headDim)")
            } else if a.headDim == nil, dModel % a.heads == 0, (dModel / a.heads) % 2 != 0 {
                report("attention.head_dim", "d_model/heads = \(dModel / a.heads) must be even for RoPE")
            }
            if a.kind == .gqa {
                if let g = a.nKvHeads {
                    if a.heads % g != 0 { report("attention.n_kv_heads", "must divide heads (\(a.heads)), got \(g)") }
                } else {
                    report("attention.n_kv_heads", "required when attention.kind is gqa")
                }
            } else if let g = a.nKvHeads, g != (a.kind == .mqa ? 1 : a.heads) {
                report("attention.n_kv_heads", "only gqa takes n_kv_heads (\(a.kind.rawValue) implies \(a.kind == .mqa ? 1 : a.heads)), got \(g)")
            }
        case .mla:
            if a.headDim != nil { report("attention.head_dim", "is not used by mla; set d_nope, d_rope and d_v") }
            if a.nKvHeads != nil { report("attention.n_kv_heads", "is not used by mla") }
            for (key, value) in mlaKeys where value == nil && key != "q_rank" {
                report("attention.\(key)", "required when attention.kind is mla")
            }
            if let dRope = a.dRope, dRope % 2 != 0 { report("attention.d_rope", "must be even for RoPE, got \(dRope)") }
            if a.kvRank == 0, a.kvNorm != nil {
                report("attention.kv_norm", "kv_rank 0 has no c_kv to normalise; leave kv_norm out")
            }
        }
        if ffn.kind == .moe {
            guard let moe = ffn.moe else {
                report("ffn.moe", "required when ffn.kind is moe (write `moe: {}` for all defaults)")
                return problems
            }
            let m = moe.granularity
            if moe.topK > moe.experts {
                report("ffn.moe.top_k", "must be ≤ experts (\(moe.experts)), got \(moe.topK)")
            }
            if moe.expertHidden % m != 0 {
                report("ffn.moe.granularity", "must divide expert_hidden (\(moe.expertHidden)), got \(m)")
            }
            let groups = moe.router.groups
            if (moe.experts * m) % groups != 0 {
                report("ffn.moe.router.groups", "must divide the routed experts (\(moe.experts * m) after granularity), got \(groups)")
            } else if groups > 1 {
                if moe.router.topkGroups > groups {
                    report("ffn.moe.router.topk_groups", "must be ≤ groups (\(groups)), got \(moe.router.topkGroups)")
                } else if moe.router.topkGroups * (moe.experts * m / groups) < moe.topK * m {
                    report("ffn.moe.router.topk_groups",
                           "kept groups hold \(moe.router.topkGroups * (moe.experts * m / groups)) experts, fewer than top_k·granularity = \(moe.topK * m)")
                }
            }
            if groups == 1, moe.router.topkGroups != 1 {
                report("ffn.moe.router.topk_groups", "only applies with router.groups > 1")
            }
            let balance = moe.balance
            if let scope = balance.auxScope {
                switch (balance.aux, scope) {
                case (.none, _):
                    report("ffn.moe.balance.aux_scope", "is set but balance.aux is none (no auxiliary loss to scope)")
                case (.sequence, let s) where s != .sequence:
                    report("ffn.moe.balance.aux_scope", "aux: sequence counts per sequence; got aux_scope \(s.rawValue) (use aux: batch)")
                case (.batch, .sequence):
                    report("ffn.moe.balance.aux_scope", "aux: batch with aux_scope sequence: write aux: sequence")
                default:
                    break
                }
            }
            if (balance.auxScope == .group) != (balance.auxGroup != nil) {
                report("ffn.moe.balance.aux_group", balance.auxScope == .group ? "required when aux_scope is group" : "only applies with aux_scope group")
            }
        } else if ffn.moe != nil {
            report("ffn.moe", "is set but ffn.kind is dense")
        }
        return problems
    }
}
