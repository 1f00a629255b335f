// The typed view of a validated ModelConfig, the parameter list (names exactly as MODEL.md, in
// a fixed order) and the numbers derived from the config alone: total and active parameters,
// forward FLOPs per token, KV-cache elements per token.

/// Attention as an enum: each variant carries only what it uses.
public enum AttentionShape: Sendable, Equatable {
    /// mha (G = H), gqa, mqa (G = 1): head dim d_h, G key/value heads.
    case grouped(heads: Int, kvHeads: Int, headDim: Int)
    /// mla: kv rank d_c, query rank d_q (0 = none), per-head dims.
    case latent(heads: Int, kvRank: Int, qRank: Int, dNope: Int, dRope: Int, dV: Int)
}

/// The built MoE layer's sizes after granularity splitting.
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
    public func moeShape(layer: Int) -> MoEShape? {
        guard ffn.kind == .moe, layer >= firstDenseLayers, let moe = ffn.moe else { return nil }
        let m = moe.granularity
        return MoEShape(experts: moe.experts * m, topK: moe.topK * m, expertHidden: moe.expertHidden / m,
                        sharedHidden: moe.sharedExperts * moe.expertHidden / m, hasBias: moe.balance.lossFree.enabled)
    }

    /// Every parameter (and the gate.bias buffer), named as MODEL.md, in the fixed order the
    /// model enumerates them: embed, then per layer attention and FFN, then norm and head.
    public var parameterShapes: [(name: String, shape: [Int])] {
        let D = dModel, V = vocab
        var list: [(String, [Int])] = [("embed.weight", [V, D])]
        for l in 0..<nLayers {
            let p = "layers.\(l)"
            list.append(("\(p).attn_norm.weight", [D]))
            switch attentionShape {
            case .grouped(let H, let G, let dh):
                list += [("\(p).attn.wq.weight", [H * dh, D]), ("\(p).attn.wk.weight", [G * dh, D]),
                         ("\(p).attn.wv.weight", [G * dh, D]), ("\(p).attn.wo.weight", [D, H * dh])]
            case .latent(let H, let dc, let dq, let dNope, let dRope, let dV):
                if dq > 0 {
                    list += [("\(p).attn.wq_a.weight", [dq, D]), ("\(p).attn.q_norm.weight", [dq]),
                             ("\(p).attn.wq_b.weight", [H * (dNope + dRope), dq])]
                } else {
                    list.append(("\(p).attn.wq.weight", [H * (dNope + dRope), D]))
                }
                list += [("\(p).attn.wkv_a.weight", [dc + dRope, D]), ("\(p).attn.kv_norm.weight", [dc]),
                         ("\(p).attn.wkv_b.weight", [H * (dNope + dV), dc]), ("\(p).attn.wo.weight", [D, H * dV])]
            }
            list.append(("\(p).ffn_norm.weight", [D]))
            if let moe = moeShape(layer: l) {
                list.append(("\(p).ffn.gate.weight", [moe.experts, D]))
                if moe.hasBias { list.append(("\(p).ffn.gate.bias", [moe.experts])) }
                for e in 0..<moe.experts {
                    let F = moe.expertHidden
                    list += [("\(p).ffn.experts.\(e).w1.weight", [F, D]), ("\(p).ffn.experts.\(e).w2.weight", [D, F]),
                             ("\(p).ffn.experts.\(e).w3.weight", [F, D])]
                }
                if moe.sharedHidden > 0 {
                    let F = moe.sharedHidden
                    list += [("\(p).ffn.shared_experts.w1.weight", [F, D]), ("\(p).ffn.shared_experts.w2.weight", [D, F]),
                             ("\(p).ffn.shared_experts.w3.weight", [F, D])]
                }
            } else {
                let F = ffn.hidden
                list += [("\(p).ffn.w1.weight", [F, D]), ("\(p).ffn.w2.weight", [D, F]), ("\(p).ffn.w3.weight", [F, D])]
            }
        }
        list.append(("norm.weight", [D]))
        if !tieEmbeddings { list.append(("head.weight", [V, D])) }
        return list
    }

    /// Trained parameters (every entry of `parameterShapes` except the gate.bias buffers).
    public var totalParameters: Int {
        parameterShapes.filter { !$0.name.hasSuffix("gate.bias") }.reduce(0) { $0 + $1.shape.reduce(1, *) }
    }

    /// Parameters one token uses: everything except the routed experts it does not select
    /// (each MoE layer counts top_k of its experts).
    public var activeParameters: Int {
        var inactive = 0
        for l in 0..<nLayers {
            if let moe = moeShape(layer: l) {
                inactive += (moe.experts - moe.topK) * 3 * moe.expertHidden * dModel
            }
        }
        return totalParameters - inactive
    }

    /// Forward FLOPs per token at context length `seqLen`: 2 per multiply-add of every active
    /// weight matrix except the embedding lookup (the head counts, tied or not), plus attention
    /// scores and the weighted sum of values averaged over a causal sequence ((T+1)/2 keys per
    /// query), plus the router. Norms, RoPE and softmax are left out (≪ 1%).
    public func forwardFLOPsPerToken(seqLen: Int) -> Int {
        var multiplyAdds = 0
        for (name, shape) in parameterShapes where shape.count == 2 && !name.contains(".ffn.experts.") {
            // The embedding is a lookup; as the tied head it is a matmul.
            if name == "embed.weight" && !tieEmbeddings { continue }
            multiplyAdds += shape[0] * shape[1]
        }
        for l in 0..<nLayers {
            if let moe = moeShape(layer: l) { multiplyAdds += moe.topK * 3 * moe.expertHidden * dModel }
        }
        let keysPerQuery = Double(seqLen + 1) / 2
        let perLayerAttention: Double
        switch attentionShape {
        case .grouped(let H, _, let dh):
            perLayerAttention = 2 * Double(H) * Double(2 * dh) * keysPerQuery
        case .latent(let H, _, _, let dNope, let dRope, let dV):
            perLayerAttention = 2 * Double(H) * Double(dNope + dRope + dV) * keysPerQuery
        }
        return 2 * multiplyAdds + Int((Double(nLayers) * perLayerAttention).rounded())
    }

    /// KV-cache elements per token over all layers (MODEL.md): MHA 2·H·d_h·L, GQA 2·G·d_h·L,
    /// MQA 2·d_h·L, MLA (d_c + d_rope)·L.
    public var kvCacheElementsPerToken: Int {
        switch attentionShape {
        case .grouped(_, let G, let dh): 2 * G * dh * nLayers
        case .latent(_, let dc, _, _, let dRope, _): (dc + dRope) * nLayers
        }
    }
}
