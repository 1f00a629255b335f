// The typed view of a validated ModelConfig and the numbers derived from the config alone:
// total and active parameters, forward FLOPs per token, KV-cache elements per token.
// The parameters themselves are declared in Weights.swift.

/// Attention as an enum: each variant carries only what it uses.
public enum AttentionShape: Sendable, Equatable {
    /// mha (G = H), gqa, mqa (G = 1): head dim d_h, G key/value heads.
    case grouped(heads: Int, kvHeads: Int, headDim: Int)
    /// mla: kv rank d_c, query rank d_q (0 = none), per-head dims.
    case latent(heads: Int, kvRank: Int, qRank: Int, dNope: Int, dRope: Int, dV: Int)
}

/// A built MoE layer, resolved: its sizes after granularity splitting and the router and
/// balancing settings it runs with. The layer reads this, never the raw `MoEConfig` (whose
/// `experts` and `top_k` count before splitting).
public struct MoEShape: Sendable, Equatable {
    /// Routed experts (m·experts).
    public var experts: Int
    /// Active routed experts per token (m·top_k).
    public var topK: Int
    /// Hidden width of one routed expert (expert_hidden/m).
    public var expertHidden: Int
    /// Hidden width of the fused shared expert (shared_experts·expert_hidden/m), 0 when none.
    public var sharedHidden: Int
    public var hasBias: Bool
    public var router: RouterConfig
    public var balance: BalanceConfig
    /// Expert capacity factor; nil = dropless.
    public var capacityFactor: Double?
    /// The tokens the auxiliary loss counts over (none when there is no aux loss).
    public var auxScope: AuxScope
}

/// The resolved scope of a layer's auxiliary balance loss.
public enum AuxScope: Sendable, Equatable {
    case none
    case sequence
    /// Consecutive groups of this many sequences.
    case group(Int)
    case microBatch
    /// f from the loads of every micro-batch of the optimizer step.
    case step
}

extension ModelConfig {
    /// Call only on a config whose `problems()` is empty.
    public var attentionShape: AttentionShape {
        let a = attention
        switch a.kind {
        case .mha, .gqa, .mqa:
            let headDim = a.headDim ?? dModel / a.heads
            let kvHeads = a.kind == .mha ? a.heads : a.kind == .mqa ? 1 : (a.nKvHeads ?? a.heads)
            return .grouped(heads: a.heads, kvHeads: kvHeads, headDim: headDim)
        case .mla:
            return .latent(heads: a.heads, kvRank: a.kvRank ?? 0, qRank: a.qRank ?? 0,
                           dNope: a.dNope ?? 0, dRope: a.dRope ?? 0, dV: a.dV ?? 0)
        }
    }

    /// The MoE sizes of layer `l`, or nil when it is dense.
    /// Layer indices L + j are MTP module j's layer, whose FFN is the kind of the last main
    /// layer (MODEL.md "Multi-token prediction").
    public func moeShape(layer index: Int) -> MoEShape? {
        let layer = min(index, nLayers - 1)
        guard ffn.kind == .moe, layer >= firstDenseLayers, let moe = ffn.moe else { return nil }
        let m = moe.granularity
        return MoEShape(experts: moe.experts * m, topK: moe.topK * m, expertHidden: moe.expertHidden / m,
                        sharedHidden: moe.sharedExperts * moe.expertHidden / m, hasBias: moe.balance.lossFree.enabled,
                        router: moe.router, balance: moe.balance, capacityFactor: moe.capacityFactor,
                        auxScope: Self.auxScope(moe.balance))
    }

    static func auxScope(_ balance: BalanceConfig) -> AuxScope {
        switch (balance.aux, balance.auxScope) {
        case (.none, _): .none
        case (.sequence, _): .sequence
        case (.batch, nil), (.batch, .microBatch?): .microBatch
        case (.batch, .group?): .group(balance.auxGroup ?? 1)
        case (.batch, .step?): .step
        case (.batch, .sequence?): .sequence
        }
    }

    /// Trained parameters (every declaration except the gate.bias buffers).
    public var totalParameters: Int {
        parameterDeclarations.filter(\.role.isTrained).reduce(0) { $0 + $1.count }
    }

    /// Parameters one token uses: everything except the routed experts it does not select
    /// (each MoE layer counts top_k of its experts).
    public var activeParameters: Int {
        var inactive = 0
        for l in 0..<(nLayers + mtpDepth) {
            if let moe = moeShape(layer: l) {
                inactive += (moe.experts - moe.topK) * 3 * moe.expertHidden * dModel
            }
        }
        return totalParameters - inactive
    }

    /// Forward FLOPs per token at context length `seqLen`: 2 per multiply-add of every active
    /// weight matrix except the embedding lookup (the head counts, tied or not), plus attention
    /// scores and the weighted sum of values averaged over a causal sequence ((T+1)/2 keys per
    /// query), plus the router. Norms, RoPE and softmax are left out (≪ 1%). MTP modules (their
    /// eh_proj, layer and a second use of the head) count as if they saw every token (they see
    /// T − j − 1).
    public func forwardFLOPsPerToken(seqLen: Int) -> Int {
        var multiplyAdds = 0
        for declaration in parameterDeclarations where declaration.role.isMatrix && declaration.expert == nil {
            // The embedding is a lookup; as the tied head it is a matmul.
            if declaration.role == .embedding && !tieEmbeddings { continue }
            multiplyAdds += declaration.count
        }
        for l in 0..<(nLayers + mtpDepth) {
            if let moe = moeShape(layer: l) { multiplyAdds += moe.topK * 3 * moe.expertHidden * dModel }
        }
        // Each MTP module applies the shared head again.
        multiplyAdds += mtpDepth * vocab * dModel
        let keysPerQuery = Double(seqLen + 1) / 2
        let perLayerAttention: Double
        switch attentionShape {
        case .grouped(let H, _, let dh):
            perLayerAttention = 2 * Double(H) * Double(2 * dh) * keysPerQuery
        case .latent(let H, _, _, let dNope, let dRope, let dV):
            perLayerAttention = 2 * Double(H) * Double(dNope + dRope + dV) * keysPerQuery
        }
        return 2 * multiplyAdds + Int((Double(nLayers + mtpDepth) * perLayerAttention).rounded())
    }

    /// KV-cache elements per token over all layers (MODEL.md): MHA 2·H·d_h·L, GQA 2·G·d_h·L,
    /// MQA 2·d_h·L, MLA (d_c + d_rope)·L, MLA with kv_rank 0 (H·(d_nope+d_v) + d_rope)·L.
    public var kvCacheElementsPerToken: Int {
        switch attentionShape {
        case .grouped(_, let G, let dh): 2 * G * dh * nLayers
        case .latent(let H, 0, _, let dNope, let dRope, let dV): (H * (dNope + dV) + dRope) * nLayers
        case .latent(_, let dc, _, _, let dRope, _): (dc + dRope) * nLayers
        }
    }
}
