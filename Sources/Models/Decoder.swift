// The decoder (MODEL.md): embedding, L blocks of pre-norm attention and feed-forward with
// residuals, final norm and the (possibly tied) head; the loss is masked cross-entropy plus the
// MoE auxiliary losses, each reported separately.
//
// Glossary: B batch, T sequence, N = B·T, D d_model, V vocab.
import Tensor

/// Everything one forward pass produces.
public struct ForwardResult {
    /// [B, T, V]
    public var logits: Tensor
    /// Scalars: ce + aux + z.
    public var total: Tensor
    public var ce: Tensor
    public var aux: Tensor
    public var z: Tensor
    /// One entry per MoE layer, in layer order.
    public var moe: [MoEStats]
    /// Router scores s [N, E] per MoE layer (telemetry), when requested.
    public var routerScores: [Int: Tensor] = [:]
    /// Attention probes per layer (telemetry), when requested.
    public var attentionProbes: [Int: AttentionProbe] = [:]
    /// Per attention layer, each query head's largest pre-softmax logit over the batch (QK-clip's
    /// S_h), when requested; MTP layers at L + j.
    public var maxLogits: [[Float]] = []
    /// Each MTP module's loss L_mtp_j (scalars; empty without MTP or when not requested).
    public var mtp: [Tensor] = []
}

/// What a forward pass should keep for telemetry.
public struct ProbeRequest: Sendable {
    public var attentionLayers: Set<Int> = []
    public var routerScores = false
    /// Each attention layer's per-head max logit (QK-clip).
    public var maxLogits = false
    /// Each MoE layer's selected experts per token (`MoEStats.selected`).
    public var routing = false
    public init(attentionLayers: Set<Int> = [], routerScores: Bool = false, maxLogits: Bool = false, routing: Bool = false) {
        self.attentionLayers = attentionLayers
        self.routerScores = routerScores
        self.maxLogits = maxLogits
        self.routing = routing
    }
}

public struct Decoder {
    public let config: ModelConfig

    public init(config: ModelConfig) {
        self.config = config
    }

    /// Forward pass on `inputs` [B, T] with `targets` [B, T] and `mask` [B, T] (1 = the
    /// position counts in the loss).
    /// `stepLoads` (per MoE layer) and `stepTokens`: the whole optimizer step's routing loads,
    /// for layers whose aux loss is scoped to the step (from `Trainer`'s routing pre-pass).
    public func forward(_ params: ParameterSet, inputs: IntTensor, targets: IntTensor, mask: Tensor,
                        probes: ProbeRequest = ProbeRequest(), stepLoads: [Int: [Int]]? = nil,
                        stepTokens: Int? = nil, mtp: Bool = true) -> ForwardResult {
        let (b, t) = (inputs.shape[0], inputs.shape[1])
        let eps = Float(config.normEps)
        let weights = DecoderWeights(config, params)
        var pass = LayerPass(config: config, probes: probes, stepLoads: stepLoads, stepTokens: stepTokens)
        var x = weights.embed.gatherRows(inputs)                           // [B, T, D]
        for (l, layer) in weights.layers.enumerated() {
            x = pass.apply(layer, index: l, to: x)
        }
        let logits = x.rmsNorm(weight: weights.norm, eps: eps).linear(weights.head)   // [B, T, V]
        let ce = Tensor.crossEntropy(logits: logits, targets: targets, mask: mask)
        // Multi-token prediction (MODEL.md): module j sees positions 0 … T−1−k (k = j + 1), its
        // input the embedding of the token k ahead and the previous depth's hidden state.
        var mtpLosses: [Tensor] = []
        var h = x                                                          // h⁰: before `norm`
        for (j, module) in weights.mtp.enumerated() where mtp {
            let k = j + 1, tk = t - k
            guard tk > 0 else { mtpLosses.append(Tensor(0)); continue }
            let ahead = IntTensor(shape: [b, tk]) { i in inputs.scalars[(i / tk) * t + i % tk + k] }
            let emb = weights.embed.gatherRows(ahead).rmsNorm(weight: module.enorm, eps: eps)          // [B, T−k, D]
            let hidden = h.narrow(axis: 1, start: 0, length: tk).rmsNorm(weight: module.hnorm, eps: eps)
            let u = Tensor.concat([emb, hidden], axis: 2).linear(module.ehProj)                         // [B, T−k, D]
            h = pass.apply(module.layer, index: config.nLayers + j, to: u)
            let moduleLogits = h.rmsNorm(weight: module.norm, eps: eps).linear(weights.head)            // [B, T−k, V]
            let shiftedTargets = IntTensor(shape: [b, tk]) { i in targets.scalars[(i / tk) * t + i % tk + k] }
            let shiftedMask = mask.narrow(axis: 1, start: k, length: tk)
            mtpLosses.append(Tensor.crossEntropy(logits: moduleLogits, targets: shiftedTargets, mask: shiftedMask))
        }
        let aux = sumOrZero(pass.auxTerms), z = sumOrZero(pass.zTerms)
        var total = ce
        if !pass.auxTerms.isEmpty { total = total + aux }
        if !pass.zTerms.isEmpty { total = total + z }
        if !mtpLosses.isEmpty, let weight = config.mtp?.weight {
            total = total + sumOrZero(mtpLosses) * Float(weight / Double(mtpLosses.count))
        }
        return ForwardResult(logits: logits, total: total, ce: ce, aux: aux, z: z, moe: pass.stats,
                             routerScores: pass.routerScores, attentionProbes: pass.attentionProbes, maxLogits: pass.maxLogits,
                             mtp: mtpLosses)
    }

    /// What the layers of one forward pass collect: aux and z terms, router stats and telemetry.
    struct LayerPass {
        let config: ModelConfig
        let probes: ProbeRequest
        let stepLoads: [Int: [Int]]?
        let stepTokens: Int?
        var auxTerms: [Tensor] = [], zTerms: [Tensor] = []
        var stats: [MoEStats] = []
        var routerScores: [Int: Tensor] = [:]
        var attentionProbes: [Int: AttentionProbe] = [:]
        var maxLogits: [[Float]] = []

        init(config: ModelConfig, probes: ProbeRequest, stepLoads: [Int: [Int]]?, stepTokens: Int?) {
            self.config = config
            self.probes = probes
            self.stepLoads = stepLoads
            self.stepTokens = stepTokens
        }

        /// One pre-norm block, x [B, T', D] → [B, T', D]; `l` is its layer index (L + j for MTP
        /// module j, whose T' = T − j − 1: its step-scope token count scales with it).
        mutating func apply(_ layer: LayerWeights, index l: Int, to input: Tensor) -> Tensor {
            let (b, t, d) = (input.shape[0], input.shape[1], input.shape[2])
            let eps = Float(config.normEps), theta = Float(config.rope.theta)
            var x = input
            let h = x.rmsNorm(weight: layer.attnNorm, eps: eps)
            var probe: ((AttentionProbe) -> Void)? = nil
            var captured: AttentionProbe? = nil, logits: [Float]? = nil
            if probes.attentionLayers.contains(l) { probe = { captured = $0 } }
            x = x + AttentionLayer.forward(h, weights: layer.attention, theta: theta, eps: eps, probe: probe,
                                           maxLogit: probes.maxLogits ? { logits = $0 } : nil)
            if let captured { attentionProbes[l] = captured }
            if let logits { maxLogits.append(logits) }
            let f = x.rmsNorm(weight: layer.ffnNorm, eps: eps).reshaped([b * t, d])              // [N, D]
            switch layer.ffn {
            case .moe(let moeWeights):
                let fullT = l >= config.nLayers ? t + (l - config.nLayers + 1) : t
                let out = MoELayer.forward(f, layer: l, shape: config.moeShape(layer: l)!, weights: moeWeights, batch: b, seqLen: t,
                                           stepLoads: stepLoads?[l], stepTokens: stepTokens.map { $0 / fullT * t })
                x = x + out.y.reshaped([b, t, d])
                if let aux = out.aux { auxTerms.append(aux) }
                if let z = out.z { zTerms.append(z) }
                var layerStats = out.stats
                if probes.routing { layerStats.selected = out.selected }
                stats.append(layerStats)
                if probes.routerScores { routerScores[l] = out.scores.detached() }
            case .dense(let w):
                x = x + w.forward(f).reshaped([b, t, d])
            }
            return x
        }
    }

    private func sumOrZero(_ terms: [Tensor]) -> Tensor {
        guard var sum = terms.first else { return Tensor(0) }
        for term in terms.dropFirst() { sum = sum + term }
        return sum
    }
}
