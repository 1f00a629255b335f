// Attention layers (MODEL.md): mha / gqa / mqa with RoPE on all of q and k, and MLA with
// low-rank KV (and optional query) compression and decoupled RoPE.
//
// Glossary: B batch, T sequence, N = B·T rows, D d_model, H heads, G kv heads, d_h head dim,
// d_c kv rank, d_q query rank, d_nope / d_rope / d_v MLA per-head dims.
import KernelCore
import Tensor

enum AttentionLayer {
    /// x [B, T, D] (already normalised) → [B, T, D].
    static func forward(_ x: Tensor, shape: AttentionShape, weights: AttentionWeights, theta: Float,
                        eps: Float, probe: ((AttentionProbe) -> Void)? = nil) -> Tensor {
        let (b, t, d) = (x.shape[0], x.shape[1], x.shape[2])
        switch (shape, weights) {
        case (.grouped(let h, let g, let dh), .grouped(let w)):
            let q = x.linear(w.wq).reshaped([b, t, h, dh]).rope(theta: theta)   // [B, T, H, d_h]
            let k = x.linear(w.wk).reshaped([b, t, g, dh]).rope(theta: theta)   // [B, T, G, d_h]
            let v = x.linear(w.wv).reshaped([b, t, g, dh])                      // [B, T, G, d_h]
            probe?(AttentionProbe(q: q, k: k, scale: 1 / Float(dh).squareRoot()))
            let o = Tensor.causalAttention(q: q, k: k, v: v, scale: 1 / Float(dh).squareRoot())     // [B, T, H, d_h]
            return o.reshaped([b, t, h * dh]).linear(w.wo).reshaped([b, t, d])
        case (.latent(let h, let dc, _, let dNope, let dRope, let dV), .latent(let w)):
            let qFull = w.query(x, eps: eps)                                                        // [B, T, H·(d_nope+d_rope)]
            let qParts = qFull.reshaped([b, t, h, dNope + dRope]).split(sizes: [dNope, dRope], axis: 3)
            let q = Tensor.concat([qParts[0], qParts[1].rope(theta: theta)], axis: 3)               // [B, T, H, d_nope+d_rope]
            let kvA = x.linear(w.wkvA).split(sizes: [dc, dRope], axis: 2)       // c_kv [B,T,d_c], k_rope [B,T,d_rope]
            let cKV = kvA[0].rmsNorm(weight: w.kvNorm, eps: eps)
            let kRope = kvA[1].reshaped([b, t, 1, dRope]).rope(theta: theta)                         // [B, T, 1, d_rope], shared by heads
            let kv = cKV.linear(w.wkvB).reshaped([b, t, h, dNope + dV])
                .split(sizes: [dNope, dV], axis: 3)                                                  // k_nope, v [B, T, H, ·]
            let kRopeHeads = kRope + Tensor.zeros([b, t, h, dRope])                                  // broadcast to every head
            let k = Tensor.concat([kv[0], kRopeHeads], axis: 3)                                      // [B, T, H, d_nope+d_rope]
            let scale = 1 / Float(dNope + dRope).squareRoot()
            probe?(AttentionProbe(q: q, k: k, scale: scale, cKV: cKV))
            let o = Tensor.causalAttention(q: q, k: k, v: kv[1], scale: scale)                      // [B, T, H, d_v]
            return o.reshaped([b, t, h * dV]).linear(w.wo).reshaped([b, t, d])
        default:
            preconditionFailure("attention weights do not match the attention shape")
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
}

/// What a telemetry probe sees inside an attention layer (no gradient needed).
public struct AttentionProbe {
    /// [B, T, H, d_qk] and [B, T, G, d_qk] after RoPE.
    public var q: Tensor
    public var k: Tensor
    public var scale: Float
    /// MLA only: the normalised latent c_kv [B, T, d_c].
    public var cKV: Tensor? = nil

    /// Causal attention probabilities [B, H, T, T] for head `h` only when `heads` is given.
    public func probabilities(heads: [Int]) -> [[Float]] {
        let (b, t, h, dqk) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
        let g = k.shape[2]
        let qs = q.scalars, ks = k.scalars
        var result: [[Float]] = []
        for head in heads where head < h {
            let kvHead = head / (h / g)
            var probs = [Float](repeating: 0, count: b * t * t)
            for bi in 0..<b {
                for i in 0..<t {
                    var scores = [Double](repeating: -.infinity, count: t)
                    var maxScore = -Double.infinity
                    for j in 0...i {
                        var dot = 0.0
                        for c in 0..<dqk {
                            dot += Double(qs[((bi * t + i) * h + head) * dqk + c]) * Double(ks[((bi * t + j) * g + kvHead) * dqk + c])
                        }
                        scores[j] = dot * Double(scale)
                        maxScore = max(maxScore, scores[j])
                    }
                    var total = 0.0
                    for j in 0...i { total += DetMath.exp(scores[j] - maxScore) }
                    for j in 0...i { probs[(bi * t + i) * t + j] = Float(DetMath.exp(scores[j] - maxScore) / total) }
                }
            }
            result.append(probs)
        }
        return result
    }
}

import Foundation
