// QK-clip (Kimi K2; MODEL.md "QK-clip"): after an optimizer step, every attention head whose
// largest pre-softmax logit of the step S_h exceeded τ has its query/key rows scaled so that the
// logit would be τ: γ = τ / S_h, split between q and k where both are the head's own.
//   mha:       wq and wk rows of head h × √γ
//   gqa / mqa: wq rows of head h × γ (the key is shared)
//   mla:       q_nope rows of wq_b (or wq) × √γ, q_rope rows × γ, k_nope rows of wkv_b × √γ;
//              the shared k_rope (wkv_a) and the v rows untouched
// In float32, in place, row by row: the same bits on every path and thread count.
import Tensor

public enum QKClip {
    /// Rescales `params` for the heads of `maxLogits` ([layer][head]) above `tau`; returns how
    /// many heads were clipped.
    @discardableResult
    public static func apply(_ params: ParameterSet, model: ModelConfig, maxLogits: [[Float]], tau: Float) -> Int {
        let weights = DecoderWeights(model, params)
        var clipped = 0
        for (l, layer) in weights.allLayers.enumerated() where l < maxLogits.count {
            for (h, s) in maxLogits[l].enumerated() where s > tau {
                clipped += 1
                let gamma = tau / s, root = gamma.squareRoot()
                switch layer.attention {
                case .grouped(let w):
                    let rows = (h * w.headDim)..<((h + 1) * w.headDim)
                    if model.attention.kind == .mha {
                        scale(w.wq, rows: rows, by: root)
                        scale(w.wk, rows: rows, by: root)
                    } else {
                        scale(w.wq, rows: rows, by: gamma)
                    }
                case .latent(let w):
                    let q = w.wqB ?? w.wq!
                    let qBase = h * (w.dNope + w.dRope), kBase = h * (w.dNope + w.dV)
                    scale(q, rows: qBase..<(qBase + w.dNope), by: root)
                    scale(q, rows: (qBase + w.dNope)..<(qBase + w.dNope + w.dRope), by: gamma)
                    scale(w.wkvB ?? w.wkv!, rows: kBase..<(kBase + w.dNope), by: root)
                }
            }
        }
        return clipped
    }

    /// Multiplies rows `rows` of the 2-D parameter `matrix` by `factor`, in place.
    static func scale(_ matrix: Tensor, rows: Range<Int>, by factor: Float) {
        let columns = matrix.shape[1]
        matrix.withUnsafeMutableBufferPointer { buffer in
            for index in (rows.lowerBound * columns)..<(rows.upperBound * columns) { buffer[index] *= factor }
        }
    }
}
