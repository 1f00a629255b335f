// Incremental decoding with a cache, one token at a time, through the training attention kernel
// (one query against the cached keys). MLA runs in its absorbed form: the cache holds only c_kv
// (normalised) and k_rope (after RoPE) — d_c + d_rope floats per token per layer — attended as
// one kv head with v = c_kv; W_UK is folded into the query (q̃_h = W_UK_hᵀ q_nope_h), W_UV into
// the output (o_h = W_UV_h Σ_j p_j c_j). mha/gqa/mqa cache k and v. Tests check the logits
// against the training form.
//
// Glossary: H heads, G kv heads, d_c kv rank, d_nope / d_rope / d_v MLA per-head dims.
import KernelCore
import Foundation
import Tensor

public struct InferenceSession {
    public let config: ModelConfig
    let weights: DecoderWeights
    /// Per layer: cached rows, flattened ([t, width] row-major).
    private var keyCache: [[Float]]
    private var valueCache: [[Float]]
    public private(set) var position = 0

    public init(config: ModelConfig, params: ParameterSet) {
        self.config = config
        self.weights = DecoderWeights(config, params)
        keyCache = Array(repeating: [], count: config.nLayers)
        valueCache = Array(repeating: [], count: config.nLayers)
    }

    /// Floats held in the cache per token per layer: d_c + d_rope for MLA (H·(d_nope+d_v) + d_rope
    /// with kv_rank 0), 2·G·d_h otherwise.
    /// (MLA keeps [c_kv; k_rope] rows in `keyCache` and nothing in `valueCache`.)
    public var cacheFloatsPerTokenPerLayer: Int {
        guard position > 0 else { return 0 }
        return (keyCache[0].count + valueCache[0].count) / position
    }

    /// Feeds `token` at the next position and returns the logits [V] for the token after it.
    public mutating func next(_ token: Int32) -> [Float] {
        Tensor.withoutGrad { step(token) }
    }

    private mutating func step(_ token: Int32) -> [Float] {
        let d = config.dModel, eps = Float(config.normEps), theta = Float(config.rope.theta)
        let p = position
        var x = weights.embed.gatherRows(IntTensor(shape: [1, 1], scalars: [token]))             // [1, 1, D]
        for (l, layer) in weights.layers.enumerated() {
            let h = x.rmsNorm(weight: layer.attnNorm, eps: eps)
            let attention: Tensor
            switch layer.attention {
            case .grouped(let w): attention = groupedStep(h, layer: l, weights: w, theta: theta)
            case .latent(let w): attention = latentStep(h, layer: l, weights: w, theta: theta, eps: eps)
            }
            x = x + attention.reshaped([1, 1, d])
            let f = x.rmsNorm(weight: layer.ffnNorm, eps: eps).reshaped([1, d])
            switch layer.ffn {
            case .moe(let w):
                x = x + MoELayer.forward(f, layer: l, shape: config.moeShape(layer: l)!, weights: w, batch: 1, seqLen: 1)
                    .y.reshaped([1, 1, d])
            case .dense(let w):
                x = x + w.forward(f).reshaped([1, 1, d])
            }
        }
        position = p + 1
        return x.rmsNorm(weight: weights.norm, eps: eps).linear(weights.head).scalars
    }

    private mutating func groupedStep(_ h: Tensor, layer l: Int, weights w: GroupedAttentionWeights, theta: Float) -> Tensor {
        let (p, heads, g, dh) = (position, w.heads, w.kvHeads, w.headDim)
        let q = h.linear(w.wq).reshaped([1, 1, heads, dh]).rope(theta: theta, positionOffset: p).scalars
        let k = h.linear(w.wk).reshaped([1, 1, g, dh]).rope(theta: theta, positionOffset: p).scalars
        let v = h.linear(w.wv).scalars
        keyCache[l] += k
        valueCache[l] += v
        let out = Self.attend(query: q, heads: heads, kvHeads: g, dqk: dh, dv: dh, positions: p + 1,
                              keys: keyCache[l], keyStride: g * dh, values: valueCache[l], valueStride: g * dh,
                              scale: 1 / Float(dh).squareRoot())
        return Tensor(shape: [1, heads * dh], scalars: out).linear(w.wo)
    }

    /// The absorbed form: one kv head over the cached rows [c_kv; k_rope] (d_c + d_rope floats
    /// per token) with v = c_kv (the same rows' first d_c floats). Query head h is
    /// [W_UK_hᵀ q_nope_h ; q_rope_h]; the output is o_h = W_UV_h (Σ_j p_j c_j).
    private mutating func latentStep(_ h: Tensor, layer l: Int, weights w: MLAWeights, theta: Float, eps: Float) -> Tensor {
        let (p, heads, dc, dNope, dRope, dV) = (position, w.heads, w.kvRank, w.dNope, w.dRope, w.dV)
        let qParts = w.query(h, eps: eps).reshaped([1, 1, heads, dNope + dRope]).split(sizes: [dNope, dRope], axis: 3)
        let qNope = qParts[0].reshaped([heads, dNope])
        let qRope = qParts[1].rope(theta: theta, positionOffset: p).reshaped([heads, dRope])
        let (cKV, kRopeRaw) = w.latentAndRopeKey(h, eps: eps)
        let kRope = kRopeRaw.reshaped([1, 1, 1, dRope]).rope(theta: theta, positionOffset: p).scalars
        guard let cKV else {
            return uncompressedStep(h, layer: l, weights: w, query: Tensor.concat([qNope, qRope], axis: 1).scalars, kRope: kRope)
        }
        let c = cKV.scalars                                                             // [d_c]
        keyCache[l] += c + kRope                                                        // d_c + d_rope floats
        let wkvB = w.wkvB!.reshaped([heads, dNope + dV, dc])
        var query: [Float] = []                                                         // [H, d_c + d_rope]
        var wUV: [Tensor] = []
        for head in 0..<heads {
            let perHead = wkvB.narrow(axis: 0, start: head, length: 1).reshaped([dNope + dV, dc]).split(sizes: [dNope, dV], axis: 0)
            let absorbed = qNope.narrow(axis: 0, start: head, length: 1).matmul(perHead[0])   // [1, d_c] = (W_UK_hᵀ q_nope_h)ᵀ
            query += absorbed.scalars + qRope.narrow(axis: 0, start: head, length: 1).scalars
            wUV.append(perHead[1])
        }
        let width = dc + dRope
        let latent = Self.attend(query: query, heads: heads, kvHeads: 1, dqk: width, dv: dc, positions: p + 1,
                                 keys: keyCache[l], keyStride: width, values: nil, valueStride: width,
                                 scale: 1 / Float(dNope + dRope).squareRoot())          // [H, d_c]
        let out = (0..<heads).map { head in
            Tensor(shape: [1, dc], scalars: Array(latent[(head * dc)..<((head + 1) * dc)])).linear(wUV[head])   // [1, d_v]
        }
        return Tensor.concat(out, axis: 1).linear(w.wo)
    }

    /// kv_rank 0 (MODEL.md's control): the cache holds per token [k_nope (H·d_nope) | k_rope
    /// (d_rope)] in `keyCache` and v (H·d_v) in `valueCache`, H·(d_nope+d_v) + d_rope floats. The
    /// kernel reads per-head keys [k_nope_h | k_rope], assembled from the cache.
    private mutating func uncompressedStep(_ h: Tensor, layer l: Int, weights w: MLAWeights, query: [Float], kRope: [Float]) -> Tensor {
        let (p, heads, dNope, dRope, dV) = (position, w.heads, w.dNope, w.dRope, w.dV)
        let kv = h.linear(w.wkv!).reshaped([heads, dNope + dV]).split(sizes: [dNope, dV], axis: 1)
        keyCache[l] += kv[0].scalars + kRope
        valueCache[l] += kv[1].scalars
        let row = heads * dNope + dRope, width = dNope + dRope
        var keys = [Float](repeating: 0, count: (p + 1) * heads * width)
        for t in 0...p {
            for head in 0..<heads {
                let to = (t * heads + head) * width, from = t * row
                for i in 0..<dNope { keys[to + i] = keyCache[l][from + head * dNope + i] }
                for i in 0..<dRope { keys[to + dNope + i] = keyCache[l][from + heads * dNope + i] }
            }
        }
        let out = Self.attend(query: query, heads: heads, kvHeads: heads, dqk: width, dv: dV, positions: p + 1,
                              keys: keys, keyStride: heads * width, values: valueCache[l], valueStride: heads * dV,
                              scale: 1 / Float(width).squareRoot())
        return Tensor(shape: [1, heads * dV], scalars: out).linear(w.wo)
    }

    /// One query position against `positions` cached ones with the training attention kernel
    /// (Tq = 1 < Tk, the query at the last position). `keys` rows hold the G kv heads at stride
    /// `keyStride`; `values` likewise, or nil to read v from the first `dv` floats of each key row.
    private static func attend(query: [Float], heads: Int, kvHeads: Int, dqk: Int, dv: Int, positions: Int,
                               keys: [Float], keyStride: Int, values: [Float]?, valueStride: Int, scale: Float) -> [Float] {
        let geometry = AttentionGeometry(batch: 1, queries: 1, keys: positions, heads: heads, kvHeads: kvHeads, dqk: dqk,
                                         dv: dv, scale: scale,
                                         kStrides: SeqStrides(batch: positions * keyStride, token: keyStride),
                                         vStrides: SeqStrides(batch: positions * valueStride, token: valueStride))
        var out = [Float](repeating: 0, count: heads * dv), lse = [Float](repeating: 0, count: heads)
        keys.withUnsafeBufferPointer { k in
            (values ?? keys).withUnsafeBufferPointer { v in
                Kernels.attentionForward(q: query, k: k.baseAddress!, v: v.baseAddress!, o: &out, lse: &lse, shape: geometry)
            }
        }
        return out
    }

    /// Samples a continuation of `prompt` (tokens) of `count` tokens: temperature 0 is greedy
    /// (ties to the lower id); otherwise the draw for position i uses the counter-based RNG
    /// keyed by (seed, sampling, i).
    public mutating func generate(prompt: [Int32], count: Int, temperature: Double, seed: Int) -> [Int32] {
        precondition(!prompt.isEmpty, "generate: the prompt needs at least one token")
        var logits: [Float] = []
        for token in prompt { logits = next(token) }
        var output: [Int32] = []
        let stream = RandomStream(seed: UInt64(seed), stream: RNGPurpose.sampling.stream(0))
        for i in 0..<count {
            let choice: Int
            if temperature <= 0 {
                choice = logits.indices.max { logits[$0] < logits[$1] || (logits[$0] == logits[$1] && $0 > $1) }!
            } else {
                let m = Double(logits.max()!)
                let weights = logits.map { DetMath.exp((Double($0) - m) / temperature) }
                let total = weights.reduce(0, +)
                var u = Double(stream.uniform(at: UInt64(i))) * total
                var pick = weights.count - 1
                for (index, w) in weights.enumerated() {
                    if u < w { pick = index; break }
                    u -= w
                }
                choice = pick
            }
            output.append(Int32(choice))
            logits = next(Int32(choice))
        }
        return output
    }
}
