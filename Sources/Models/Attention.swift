// Attention layers (MODEL.md): mha / gqa / mqa with RoPE on all of q and k, and MLA with
// low-rank KV (and optional query) compression and decoupled RoPE.
//
// Glossary: B batch, T sequence, N = B·T rows, D d_model, H heads, G kv heads, d_h head dim,
// d_c kv rank, d_q query rank, d_nope / d_rope / d_v MLA per-head dims.
import Tensor

enum AttentionLayer {
    /// x [B, T, D] (already normalised) → [B, T, D].
    static func forward(_ x: Tensor, weights: AttentionWeights, theta: Float, eps: Float,
                        probe: ((AttentionProbe) -> Void)? = nil, maxLogit: (([Float]) -> Void)? = nil) -> Tensor {
        let (b, t, d) = (x.shape[0], x.shape[1], x.shape[2])
        switch weights {
        case .grouped(let w):
            let (h, g, dh) = (w.heads, w.kvHeads, w.headDim)
            let q = x.linear(w.wq).reshaped([b, t, h, dh]).rope(theta: theta)   // [B, T, H, d_h]
            let k = x.linear(w.wk).reshaped([b, t, g, dh]).rope(theta: theta)   // [B, T, G, d_h]
            let v = x.linear(w.wv).reshaped([b, t, g, dh])                      // [B, T, G, d_h]
            probe?(AttentionProbe(q: q, k: k, scale: 1 / Float(dh).squareRoot()))
            let o = Tensor.causalAttention(q: q, k: k, v: v, scale: 1 / Float(dh).squareRoot(), maxLogit: maxLogit)     // [B, T, H, d_h]
            return o.reshaped([b, t, h * dh]).linear(w.wo).reshaped([b, t, d])
        case .latent(let w):
            let (h, dc, dNope, dRope, dV) = (w.heads, w.kvRank, w.dNope, w.dRope, w.dV)
            let qFull = w.query(x, eps: eps)                                                        // [B, T, H·(d_nope+d_rope)]
            let qParts = qFull.reshaped([b, t, h, dNope + dRope]).split(sizes: [dNope, dRope], axis: 3)
            let q = Tensor.concat([qParts[0], qParts[1].rope(theta: theta)], axis: 3)               // [B, T, H, d_nope+d_rope]
            let (cKV, kRopeRaw) = w.latentAndRopeKey(x, eps: eps)                                    // c_kv [B,T,d_c] (nil for d_c = 0), k_rope [B,T,d_rope]
            let kRope = kRopeRaw.reshaped([b, t, 1, dRope]).rope(theta: theta)                       // [B, T, 1, d_rope], shared by heads
            let kv = (cKV.map { $0.linear(w.wkvB!) } ?? x.linear(w.wkv!)).reshaped([b, t, h, dNope + dV])
                .split(sizes: [dNope, dV], axis: 3)                                                  // k_nope, v [B, T, H, ·]
            let kRopeHeads = kRope + Tensor.zeros([b, t, h, dRope])                                  // broadcast to every head
            let k = Tensor.concat([kv[0], kRopeHeads], axis: 3)                                      // [B, T, H, d_nope+d_rope]
            let scale = 1 / Float(dNope + dRope).squareRoot()
            probe?(AttentionProbe(q: q, k: k, scale: scale, cKV: cKV))
            let o = Tensor.causalAttention(q: q, k: k, v: kv[1], scale: scale, maxLogit: maxLogit)                      // [B, T, H, d_v]
            return o.reshaped([b, t, h * dV]).linear(w.wo).reshaped([b, t, d])
        }
    }
}

extension MLAWeights {
    /// The queries before RoPE, [.., H·(d_nope+d_rope)]: x·wq, or wq_b(q_norm(x·wq_a)) with query
    /// compression.
    func query(_ x: Tensor, eps: Float) -> Tensor {
        if let wq { return x.linear(wq) }
        return x.linear(wqA!).rmsNorm(weight: qNorm!, eps: eps).linear(wqB!)
    }

    /// c_kv (after kv_norm when there is one; nil when d_c = 0) and k_rope before RoPE, from x·wkv_a.
    func latentAndRopeKey(_ x: Tensor, eps: Float) -> (cKV: Tensor?, kRope: Tensor) {
        let a = x.linear(wkvA)
        guard kvRank > 0 else { return (nil, a) }
        let parts = a.split(sizes: [kvRank, dRope], axis: a.shape.count - 1)
        return (kvNorm.map { parts[0].rmsNorm(weight: $0, eps: eps) } ?? parts[0], parts[1])
    }
}

/// What a telemetry probe sees inside an attention layer (no gradient needed).
public struct AttentionProbe {
    /// [B, T, H, d_qk] and [B, T, G, d_qk] after RoPE.
    public var q: Tensor
    public var k: Tensor
    public var scale: Float
    /// MLA only: the normalised latent c_kv [B, T, d_c].
    public var cKV: Tensor? = nil

    /// Causal attention probabilities, per head in `heads`: [B, T, T] row-major, from the
    /// attention kernel's own mask, scale and arithmetic.
    public func probabilities(heads: [Int]) -> [[Float]] {
        Tensor.withoutGrad { Tensor.attentionProbabilities(q: q, k: k, scale: scale, heads: heads) }
    }
}
