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
    /// S_h), when requested.
    public var maxLogits: [[Float]] = []
}

/// What a forward pass should keep for telemetry.
public struct ProbeRequest: Sendable {
    public var attentionLayers: Set<Int> = []
    public var routerScores = false
    /// Each attention layer's per-head max logit (QK-clip).
    public var maxLogits = false
    public init(attentionLayers: Set<Int> = [], routerScores: Bool = false, maxLogits: Bool = false) {
        self.attentionLayers = attentionLayers
        self.routerScores = routerScores
        self.maxLogits = maxLogits
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
                        stepTokens: Int? = nil) -> ForwardResult {
        let (b, t) = (inputs.shape[0], inputs.shape[1])
        let d = config.dModel, n = b * t
        let eps = Float(config.normEps), theta = Float(config.rope.theta)
        let weights = DecoderWeights(config, params)
        var x = weights.embed.gatherRows(inputs)                           // [B, T, D]
        var auxTerms: [Tensor] = [], zTerms: [Tensor] = []
        var stats: [MoEStats] = []
        var routerScores: [Int: Tensor] = [:]
        var attentionProbes: [Int: AttentionProbe] = [:]
        var maxLogits: [[Float]] = []
        for (l, layer) in weights.layers.enumerated() {
            let h = x.rmsNorm(weight: layer.attnNorm, eps: eps)
            let probe: ((AttentionProbe) -> Void)? = probes.attentionLayers.contains(l) ? { attentionProbes[l] = $0 } : nil
            x = x + AttentionLayer.forward(h, weights: layer.attention, theta: theta, eps: eps, probe: probe,
                                           maxLogit: probes.maxLogits ? { maxLogits.append($0) } : nil)
            let f = x.rmsNorm(weight: layer.ffnNorm, eps: eps).reshaped([n, d])                  // [N, D]
            switch layer.ffn {
            case .moe(let moeWeights):
                let out = MoELayer.forward(f, layer: l, shape: config.moeShape(layer: l)!, weights: moeWeights, batch: b, seqLen: t,
                                           stepLoads: stepLoads?[l], stepTokens: stepTokens)
                x = x + out.y.reshaped([b, t, d])
                if let aux = out.aux { auxTerms.append(aux) }
                if let z = out.z { zTerms.append(z) }
                stats.append(out.stats)
                if probes.routerScores { routerScores[l] = out.scores.detached() }
            case .dense(let w):
                x = x + w.forward(f).reshaped([b, t, d])
            }
        }
        let logits = x.rmsNorm(weight: weights.norm, eps: eps).linear(weights.head)   // [B, T, V]
        let ce = Tensor.crossEntropy(logits: logits, targets: targets, mask: mask)
        let aux = sumOrZero(auxTerms), z = sumOrZero(zTerms)
        var total = ce
        if !auxTerms.isEmpty { total = total + aux }
        if !zTerms.isEmpty { total = total + z }
        return ForwardResult(logits: logits, total: total, ce: ce, aux: aux, z: z, moe: stats,
                             routerScores: routerScores, attentionProbes: attentionProbes, maxLogits: maxLogits)
    }

    private func sumOrZero(_ terms: [Tensor]) -> Tensor {
        guard var sum = terms.first else { return Tensor(0) }
        for term in terms.dropFirst() { sum = sum + term }
        return sum
    }
}
