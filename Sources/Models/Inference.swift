// Incremental decoding with a cache, one token at a time. MLA runs in its absorbed form: the
// cache holds only c_kv (normalised) and k_rope (after RoPE) — d_c + d_rope floats per token
// per layer — and W_UK is folded into the query (q̃_h = W_UK_hᵀ q_nope_h), W_UV into the output
// (o_h = W_UV_h Σ_j p_j c_j). mha/gqa/mqa cache k and v. Tests check the logits against the
// training form.
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

    /// Floats held in the cache per token per layer: d_c + d_rope for MLA, 2·G·d_h otherwise.
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
            switch (config.attentionShape, layer.attention) {
            case (.grouped(let heads, let g, let dh), .grouped(let w)):
                attention = groupedStep(h, layer: l, weights: w, heads: heads, kvHeads: g, headDim: dh, theta: theta)
            case (.latent(let heads, let dc, _, let dNope, let dRope, let dV), .latent(let w)):
                attention = latentStep(h, layer: l, weights: w, heads: heads, dc: dc, dNope: dNope, dRope: dRope, dV: dV,
                                       theta: theta, eps: eps)
            default:
                preconditionFailure("attention weights do not match the attention shape")
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

    private mutating func groupedStep(_ h: Tensor, layer l: Int, weights w: GroupedAttentionWeights, heads: Int, kvHeads g: Int,
                                      headDim dh: Int, theta: Float) -> Tensor {
        let p = position
        let q = h.linear(w.wq).reshaped([1, 1, heads, dh]).rope(theta: theta, positionOffset: p).scalars
        let k = h.linear(w.wk).reshaped([1, 1, g, dh]).rope(theta: theta, positionOffset: p).scalars
        let v = h.linear(w.wv).scalars
        keyCache[l] += k
        valueCache[l] += v
        let t = p + 1, scale = 1 / Double(dh).squareRoot()
        var out = [Float](repeating: 0, count: heads * dh)
        for head in 0..<heads {
            let kv = head / (heads / g)
            var scores = (0..<t).map { j in
                (0..<dh).reduce(0.0) { $0 + Double(q[head * dh + $1]) * Double(keyCache[l][(j * g + kv) * dh + $1]) } * scale
            }
            softmaxInPlace(&scores)
            for j in 0..<t {
                for c in 0..<dh { out[head * dh + c] += Float(scores[j] * Double(valueCache[l][(j * g + kv) * dh + c])) }
            }
        }
        return Tensor(shape: [1, heads * dh], scalars: out).linear(w.wo)
    }

    private mutating func latentStep(_ h: Tensor, layer l: Int, weights w: MLAWeights, heads: Int, dc: Int, dNope: Int,
                                     dRope: Int, dV: Int, theta: Float, eps: Float) -> Tensor {
        let p = position
        let qFull = w.query(h, eps: eps)
        let qParts = qFull.reshaped([1, 1, heads, dNope + dRope]).split(sizes: [dNope, dRope], axis: 3)
        let qNope = qParts[0].scalars                                                    // [H, d_nope]
        let qRope = qParts[1].rope(theta: theta, positionOffset: p).scalars              // [H, d_rope]
        let kvA = h.linear(w.wkvA).split(sizes: [dc, dRope], axis: 2)
        let c = kvA[0].rmsNorm(weight: w.kvNorm, eps: eps).scalars // [d_c]
        let kRope = kvA[1].reshaped([1, 1, 1, dRope]).rope(theta: theta, positionOffset: p).scalars
        keyCache[l] += c            // the latent c_kv: d_c floats
        valueCache[l] += kRope      // the shared rotary key: d_rope floats
        let t = p + 1, scale = 1 / Double(dNope + dRope).squareRoot()
        let wkvB = w.wkvB.scalars                                   // [H·(d_nope+d_v), d_c]
        var out = [Float](repeating: 0, count: heads * dV)
        for head in 0..<heads {
            let base = head * (dNope + dV)
            // Absorb W_UK: q̃ = W_UK_hᵀ q_nope_h  [d_c]
            var absorbed = [Double](repeating: 0, count: dc)
            for i in 0..<dNope {
                let qi = Double(qNope[head * dNope + i])
                for col in 0..<dc { absorbed[col] += qi * Double(wkvB[(base + i) * dc + col]) }
            }
            var scores = (0..<t).map { j -> Double in
                var s = 0.0
                for col in 0..<dc { s += absorbed[col] * Double(keyCache[l][j * dc + col]) }
                for i in 0..<dRope { s += Double(qRope[head * dRope + i]) * Double(valueCache[l][j * dRope + i]) }
                return s * scale
            }
            softmaxInPlace(&scores)
            // Attend in latent space, then apply W_UV: o_h = W_UV_h Σ_j p_j c_j.
            var latent = [Double](repeating: 0, count: dc)
            for j in 0..<t { for col in 0..<dc { latent[col] += scores[j] * Double(keyCache[l][j * dc + col]) } }
            for i in 0..<dV {
                var s = 0.0
                for col in 0..<dc { s += Double(wkvB[(base + dNope + i) * dc + col]) * latent[col] }
                out[head * dV + i] = Float(s)
            }
        }
        return Tensor(shape: [1, heads * dV], scalars: out).linear(w.wo)
    }

    private func softmaxInPlace(_ values: inout [Double]) {
        let m = values.max() ?? 0
        var total = 0.0
        for i in values.indices { values[i] = DetMath.exp(values[i] - m); total += values[i] }
        for i in values.indices { values[i] /= total }
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
