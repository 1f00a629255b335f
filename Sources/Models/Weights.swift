// Every parameter of the decoder is declared once, here: its MODEL.md name, its shape and its
// role, in the fixed enumeration order. The same walk that declares them binds them to typed
// views (`DecoderWeights`), so the layers never spell a parameter's name, and shapes,
// initialisation, weight decay, buffers, counts, FLOPs, the memory estimate and the dumps all
// derive from the declarations.
//
// Letters: V vocab, D d_model, H heads, G kv heads, d_h head dim, d_c kv rank, d_q query rank,
// E routed experts, F hidden width.
import Tensor

/// What a parameter is for. Initialisation, weight decay and (later) optimiser splits and
/// export read the role, never the name.
public enum ParameterRole: String, Sendable, CaseIterable, Codable {
    /// The token embedding [V, D] (also the head when tied).
    case embedding
    /// The output head [V, D].
    case head
    /// Projections from the residual stream (or a latent) into attention: wq, wk, wv, wq_a,
    /// wq_b, wkv_a, wkv_b.
    case attentionIn
    /// The attention output projection wo.
    case attentionOut
    /// SwiGLU input projections w1 and w3 (dense, routed and shared experts).
    case ffnIn
    /// SwiGLU output projection w2.
    case ffnOut
    /// The router's gate.weight [E, D].
    case router
    /// An MTP module's eh_proj [D, 2D]: embedding and hidden state into the module's layer.
    case mtpProjection
    /// RMSNorm weights (attn_norm, ffn_norm, q_norm, kv_norm, norm; MTP's enorm, hnorm).
    case norm
    /// gate.bias: moved by loss-free balancing, never by gradients.
    case buffer

    /// Trained by gradients (everything but the buffers).
    public var isTrained: Bool { self != .buffer }
    /// A weight matrix (2-D): normally initialised and weight-decayed.
    public var isMatrix: Bool { self != .norm && self != .buffer }
    /// Taken by Muon (MODEL.md "Muon"): every 2-D weight but the embedding, the head and the
    /// routers' gate.weight.
    public var takesMuon: Bool { isMatrix && self != .embedding && self != .head && self != .router }
    /// An output projection into the residual stream: its init std is scaled by 1/sqrt(2L).
    public var isOutputProjection: Bool { self == .attentionOut || self == .ffnOut }
}

/// One parameter as the model declares it.
public struct ParameterDeclaration: Sendable, Equatable {
    /// MODEL.md's name, e.g. `layers.0.attn.wkv_a.weight`.
    public var name: String
    public var shape: [Int]
    public var role: ParameterRole
    /// The layer it belongs to (nil for embed, norm and head).
    public var layer: Int?
    /// The routed expert it belongs to (nil outside routed experts).
    public var expert: Int?

    public var count: Int { shape.reduce(1, *) }

    public init(name: String, shape: [Int], role: ParameterRole, layer: Int? = nil, expert: Int? = nil) {
        self.name = name
        self.shape = shape
        self.role = role
        self.layer = layer
        self.expert = expert
    }
}

/// Where a declaration walk gets its tensors: a recorder (declarations only) or a parameter set
/// (binding). The walk calls it once per parameter, in enumeration order.
protocol ParameterSource {
    mutating func take(_ declaration: ParameterDeclaration) -> Tensor
}

/// Records the declarations and hands back a placeholder.
struct DeclarationRecorder: ParameterSource {
    var declarations: [ParameterDeclaration] = []
    let placeholder = Tensor(shape: [0], scalars: [Float]())
    mutating func take(_ declaration: ParameterDeclaration) -> Tensor {
        declarations.append(declaration)
        return placeholder
    }
}

/// Binds each declaration to the tensor of that name.
struct ParameterBinder: ParameterSource {
    let params: ParameterSet
    func take(_ declaration: ParameterDeclaration) -> Tensor { params[declaration.name] }
}

// MARK: - Typed views

/// mha / gqa / mqa: H query heads, G kv heads of dim d_h, and their projections.
public struct GroupedAttentionWeights {
    public let heads: Int, kvHeads: Int, headDim: Int
    public let wq: Tensor, wk: Tensor, wv: Tensor, wo: Tensor
}

/// MLA: its dims and projections, either `wq` (d_q = 0) or `wqA`, `qNorm`, `wqB`.
public struct MLAWeights {
    public let heads: Int, kvRank: Int, dNope: Int, dRope: Int, dV: Int
    public let wq: Tensor?, wqA: Tensor?, qNorm: Tensor?, wqB: Tensor?
    /// d_c > 0: `wkv_a` [d_c + d_rope, D], `kv_norm` [d_c] (nil with kv_norm false), `wkv_b`.
    /// d_c = 0: `wkv_a` [d_rope, D] and `wkv` [H·(d_nope+d_v), D] (MODEL.md's control).
    public let wkvA: Tensor, kvNorm: Tensor?, wkvB: Tensor?, wkv: Tensor?, wo: Tensor
}

public enum AttentionWeights {
    case grouped(GroupedAttentionWeights)
    case latent(MLAWeights)
}

/// A routed MoE layer: router, optional balancing bias, routed experts, fused shared expert.
public struct MoEWeights {
    public let gate: Tensor
    public let bias: Tensor?
    public let experts: [SwiGLUExpert]
    public let shared: SwiGLUExpert?
}

public enum FFNWeights {
    case dense(SwiGLUExpert)
    case moe(MoEWeights)
}

public struct LayerWeights {
    public let attnNorm: Tensor
    public let attention: AttentionWeights
    public let ffnNorm: Tensor
    public let ffn: FFNWeights
}

/// One multi-token-prediction module (MODEL.md): its norms, projection, layer and final norm.
public struct MTPWeights {
    public let enorm: Tensor, hnorm: Tensor
    /// eh_proj [D, 2D]: columns 0..<D take the embedding, D..<2D the hidden state.
    public let ehProj: Tensor
    public let layer: LayerWeights
    public let norm: Tensor
}

/// The whole decoder's parameters as typed views, bound once per forward pass.
public struct DecoderWeights {
    public let embed: Tensor
    public let layers: [LayerWeights]
    public let norm: Tensor
    /// head.weight, or embed.weight when the embeddings are tied.
    public let head: Tensor
    /// MTP modules 0..<n (empty when off).
    public let mtp: [MTPWeights]

    /// The main layers, then the MTP modules' layers: index L + j is module j's (telemetry and
    /// QK-clip use these indices).
    public var allLayers: [LayerWeights] { layers + mtp.map(\.layer) }

    /// Binds `params` (which must hold every declared parameter of `config`).
    public init(_ config: ModelConfig, _ params: ParameterSet) {
        var binder = ParameterBinder(params: params)
        self.init(config, &binder)
    }

    /// The one declaration walk. The order of `source.take` calls is the enumeration order
    /// (the init RNG streams and the dumps follow it): embed; per layer attn_norm, attention,
    /// ffn_norm, FFN (w1, w2, w3 per SwiGLU); then norm and head; then per MTP module enorm,
    /// hnorm, eh_proj, its layer (as a main layer) and norm.
    init(_ config: ModelConfig, _ source: inout some ParameterSource) {
        let D = config.dModel, V = config.vocab
        func take(_ name: String, _ shape: [Int], _ role: ParameterRole, layer: Int? = nil, expert: Int? = nil) -> Tensor {
            source.take(ParameterDeclaration(name: name, shape: shape, role: role, layer: layer, expert: expert))
        }
        func swiGLU(_ prefix: String, hidden F: Int, layer: Int, expert: Int? = nil) -> SwiGLUExpert {
            let w1 = take("\(prefix).w1.weight", [F, D], .ffnIn, layer: layer, expert: expert)
            let w2 = take("\(prefix).w2.weight", [D, F], .ffnOut, layer: layer, expert: expert)
            let w3 = take("\(prefix).w3.weight", [F, D], .ffnIn, layer: layer, expert: expert)
            return SwiGLUExpert(w1: w1, w3: w3, w2: w2)
        }
        /// One decoder layer under `p` (`layers.{l}` or `mtp.{j}.layer`); `l` is its layer index.
        func layer(_ p: String, _ l: Int) -> LayerWeights {
            let attnNorm = take("\(p).attn_norm.weight", [D], .norm, layer: l)
            let a = "\(p).attn"
            let attention: AttentionWeights
            switch config.attentionShape {
            case .grouped(let H, let G, let dh):
                let wq = take("\(a).wq.weight", [H * dh, D], .attentionIn, layer: l)
                let wk = take("\(a).wk.weight", [G * dh, D], .attentionIn, layer: l)
                let wv = take("\(a).wv.weight", [G * dh, D], .attentionIn, layer: l)
                let wo = take("\(a).wo.weight", [D, H * dh], .attentionOut, layer: l)
                attention = .grouped(GroupedAttentionWeights(heads: H, kvHeads: G, headDim: dh, wq: wq, wk: wk, wv: wv, wo: wo))
            case .latent(let H, let dc, let dq, let dNope, let dRope, let dV):
                var wq: Tensor?, wqA: Tensor?, qNorm: Tensor?, wqB: Tensor?
                if dq > 0 {
                    wqA = take("\(a).wq_a.weight", [dq, D], .attentionIn, layer: l)
                    qNorm = take("\(a).q_norm.weight", [dq], .norm, layer: l)
                    wqB = take("\(a).wq_b.weight", [H * (dNope + dRope), dq], .attentionIn, layer: l)
                } else {
                    wq = take("\(a).wq.weight", [H * (dNope + dRope), D], .attentionIn, layer: l)
                }
                let wkvA = take("\(a).wkv_a.weight", [dc + dRope, D], .attentionIn, layer: l)
                var kvNorm: Tensor?, wkvB: Tensor?, wkv: Tensor?
                if dc > 0 {
                    if config.attention.kvNorm ?? true { kvNorm = take("\(a).kv_norm.weight", [dc], .norm, layer: l) }
                    wkvB = take("\(a).wkv_b.weight", [H * (dNope + dV), dc], .attentionIn, layer: l)
                } else {
                    wkv = take("\(a).wkv.weight", [H * (dNope + dV), D], .attentionIn, layer: l)
                }
                let wo = take("\(a).wo.weight", [D, H * dV], .attentionOut, layer: l)
                attention = .latent(MLAWeights(heads: H, kvRank: dc, dNope: dNope, dRope: dRope, dV: dV, wq: wq, wqA: wqA, qNorm: qNorm, wqB: wqB, wkvA: wkvA, kvNorm: kvNorm,
                                               wkvB: wkvB, wkv: wkv, wo: wo))
            }
            let ffnNorm = take("\(p).ffn_norm.weight", [D], .norm, layer: l)
            let f = "\(p).ffn"
            let ffn: FFNWeights
            if let moe = config.moeShape(layer: l) {
                let gate = take("\(f).gate.weight", [moe.experts, D], .router, layer: l)
                let bias = moe.hasBias ? take("\(f).gate.bias", [moe.experts], .buffer, layer: l) : nil
                let experts = (0..<moe.experts).map { e in
                    swiGLU("\(f).experts.\(e)", hidden: moe.expertHidden, layer: l, expert: e)
                }
                let shared = moe.sharedHidden > 0 ? swiGLU("\(f).shared_experts", hidden: moe.sharedHidden, layer: l) : nil
                ffn = .moe(MoEWeights(gate: gate, bias: bias, experts: experts, shared: shared))
            } else {
                ffn = .dense(swiGLU(f, hidden: config.ffn.hidden, layer: l))
            }
            return LayerWeights(attnNorm: attnNorm, attention: attention, ffnNorm: ffnNorm, ffn: ffn)
        }
        embed = take("embed.weight", [V, D], .embedding)
        layers = (0..<config.nLayers).map { layer("layers.\($0)", $0) }
        norm = take("norm.weight", [D], .norm)
        head = config.tieEmbeddings ? embed : take("head.weight", [V, D], .head)
        mtp = (0..<config.mtpDepth).map { j in
            let p = "mtp.\(j)", l = config.nLayers + j
            let enorm = take("\(p).enorm.weight", [D], .norm, layer: l)
            let hnorm = take("\(p).hnorm.weight", [D], .norm, layer: l)
            let ehProj = take("\(p).eh_proj.weight", [D, 2 * D], .mtpProjection, layer: l)
            let body = layer("\(p).layer", l)
            return MTPWeights(enorm: enorm, hnorm: hnorm, ehProj: ehProj, layer: body, norm: take("\(p).norm.weight", [D], .norm, layer: l))
        }
    }
}

extension SwiGLUExpert {
    /// W2·(silu(W1·x) ⊙ W3·x) for x [N, D] → [N, D].
    func forward(_ x: Tensor) -> Tensor {
        Tensor.swiGLU(x.linear(w1), x.linear(w3)).linear(w2)
    }
}

extension ModelConfig {
    /// Every parameter (and the gate.bias buffers) with its name, shape and role, in the fixed
    /// enumeration order. Derived from the one declaration walk of `DecoderWeights`.
    public var parameterDeclarations: [ParameterDeclaration] {
        var recorder = DeclarationRecorder()
        _ = DecoderWeights(self, &recorder)
        return recorder.declarations
    }
}
