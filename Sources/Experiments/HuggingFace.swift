// Export to Hugging Face transformers: a trained run's parameters as model.safetensors with a
// config.json (and generation_config.json) that `AutoModelForCausalLM.from_pretrained` loads
// into DeepseekV3ForCausalLM, DeepseekV2ForCausalLM or LlamaForCausalLM with the same logits
// (docs/export.md). A configuration no class reproduces is refused before anything is written.
//
// The classes and what they reproduce (checked against transformers 5.x in CI):
//   mla, sigmoid router (or no MoE layer)         → DeepseekV3 (interleaved RoPE as MODEL.md)
//   mla, softmax router, normalize off, no bias   → DeepseekV2 (greedy or group-limited)
//   mha / gqa / mqa, dense                        → Llama (each head's q/k rows permuted from
//                                                   interleaved to half-split RoPE pairs)
import Config
import Foundation
import Models

public enum HFArchitecture: String, Sendable {
    case deepseekV3 = "DeepseekV3ForCausalLM"
    case deepseekV2 = "DeepseekV2ForCausalLM"
    case llama = "LlamaForCausalLM"

    var modelType: String {
        switch self {
        case .deepseekV3: "deepseek_v3"
        case .deepseekV2: "deepseek_v2"
        case .llama: "llama"
        }
    }
}

public enum HFExport {
    /// transformers' DeepSeek classes build q_a_layernorm and kv_a_layernorm with ε = 1e-6
    /// whatever rms_norm_eps says.
    static let deepseekLatentNormEps = 1e-6

    /// The class that reproduces `model` exactly, or every reason none does (each naming the
    /// spec key, its value, and why).
    public static func architecture(_ model: ModelConfig) -> Result<HFArchitecture, ConfigErrors> {
        var problems: [ConfigProblem] = []
        func refuse(_ key: String, _ value: String, _ why: String) {
            problems.append(ConfigProblem(path: "model.\(key)", "\(value): \(why)"))
        }
        let moeLayers = (0..<model.nLayers).compactMap { model.moeShape(layer: $0) }
        let architecture: HFArchitecture
        switch model.attention.kind {
        case .mha, .gqa, .mqa:
            architecture = .llama
            if !moeLayers.isEmpty {
                refuse("ffn.kind", "moe with attention.kind \(model.attention.kind.rawValue)",
                       "the transformers class for mha/gqa/mqa (Llama) has a dense SwiGLU only; use attention.kind mla (DeepseekV2/V3) or ffn.kind dense")
            }
        case .mla:
            if model.normEps != deepseekLatentNormEps {
                refuse("norm_eps", "\(model.normEps)", "transformers' DeepSeek classes normalise c_q and c_kv with ε = 1e-6 whatever rms_norm_eps says; train with norm_eps 1e-6 to export")
            }
            if model.attention.kvRank == 0 {
                refuse("attention.kv_rank", "0", "transformers' DeepSeek classes always compress KV (kv_lora_rank ≥ 1); the uncompressed control does not export")
            }
            if model.attention.kvNorm == false {
                refuse("attention.kv_norm", "false", "transformers' DeepSeek classes always normalise c_kv; the control without kv_norm does not export")
            }
            guard let moe = moeLayers.first else { architecture = .deepseekV3; break }
            let router = moe.router
            if let factor = moe.capacityFactor {
                refuse("ffn.moe.capacity_factor", "\(factor)", "transformers' DeepSeek classes never drop tokens; export needs dropless routing (capacity_factor: null)")
            }
            switch router.score {
            case .sigmoid:
                architecture = .deepseekV3
                if router.groups > 1 && !moe.hasBias {
                    refuse("ffn.moe.router.groups", "\(router.groups) without loss-free balancing",
                           "DeepseekV3 scores a group by the sum of its top-2 biased scores; MODEL.md takes the max when there is no bias, so they route differently")
                }
                if router.groups > 1 && moe.experts / router.groups < 2 {
                    refuse("ffn.moe.router.groups", "\(router.groups) groups of \(moe.experts / router.groups) expert",
                           "DeepseekV3 needs at least 2 experts per group")
                }
            case .softmax:
                architecture = .deepseekV2
                if moe.hasBias {
                    refuse("ffn.moe.balance.loss_free.enabled", "true with router.score softmax",
                           "DeepseekV2 (the softmax class) has no balancing bias, and DeepseekV3 is sigmoid only")
                }
                if router.normalize {
                    refuse("ffn.moe.router.normalize", "true with router.score softmax",
                           "DeepseekV2 never renormalises the selected gates (it drops norm_topk_prob)")
                }
            }
        }
        return problems.isEmpty ? .success(architecture) : .failure(ConfigErrors(problems))
    }

    /// config.json for `architecture`.
    public static func config(_ model: ModelConfig, _ architecture: HFArchitecture, maxPositions: Int) -> JSONValue {
        var c: [String: JSONValue] = [
            "architectures": [.string(architecture.rawValue)],
            "model_type": .string(architecture.modelType),
            "vocab_size": .int(model.vocab),
            "hidden_size": .int(model.dModel),
            "intermediate_size": .int(model.ffn.hidden),
            "num_hidden_layers": .int(model.nLayers),
            "num_attention_heads": .int(model.attention.heads),
            "hidden_act": "silu",
            "max_position_embeddings": .int(maxPositions),
            "rms_norm_eps": .double(model.normEps),
            "rope_parameters": ["rope_type": "default", "rope_theta": .double(model.rope.theta)],
            "tie_word_embeddings": .bool(model.tieEmbeddings),
            "attention_bias": false,
            "attention_dropout": .double(0),
            "initializer_range": .double(model.initialization.std),
            "use_cache": true,
            "bos_token_id": .null,
            "eos_token_id": .null,
            "pad_token_id": .null,
            "dtype": "float32",
        ]
        switch model.attentionShape {
        case .grouped(_, let kvHeads, let headDim):
            c["num_key_value_heads"] = .int(kvHeads)
            c["head_dim"] = .int(headDim)
            c["mlp_bias"] = false
        case .latent(let heads, let kvRank, let qRank, let dNope, let dRope, let dV):
            c["num_key_value_heads"] = .int(heads)
            c["kv_lora_rank"] = .int(kvRank)
            c["q_lora_rank"] = qRank > 0 ? .int(qRank) : .null
            c["qk_nope_head_dim"] = .int(dNope)
            c["qk_rope_head_dim"] = .int(dRope)
            c["v_head_dim"] = .int(dV)
            c["head_dim"] = .int(dRope)
            c["num_nextn_predict_layers"] = 0
            let moe = (0..<model.nLayers).lazy.compactMap { model.moeShape(layer: $0) }.first
            let firstMoE = (0..<model.nLayers).first { model.moeShape(layer: $0) != nil } ?? model.nLayers
            c["first_k_dense_replace"] = .int(firstMoE)
            // With no MoE layer these sizes are unused; transformers still wants them valid.
            c["n_routed_experts"] = .int(moe?.experts ?? 1)
            c["num_experts_per_tok"] = .int(moe?.topK ?? 1)
            c["moe_intermediate_size"] = .int(moe?.expertHidden ?? 1)
            c["n_shared_experts"] = .int(moe.map { $0.expertHidden > 0 ? $0.sharedHidden / $0.expertHidden : 0 } ?? 0)
            c["routed_scaling_factor"] = .double(moe?.router.scale ?? 1)
            c["norm_topk_prob"] = .bool(moe?.router.normalize ?? false)
            let groups = moe?.router.groups ?? 1
            c["n_group"] = .int(groups)
            c["topk_group"] = .int(groups > 1 ? (moe?.router.topkGroups ?? 1) : 1)
            if architecture == .deepseekV3 {
                c["rope_interleave"] = true
            } else {
                c["topk_method"] = .string(groups > 1 ? "group_limited_greedy" : "greedy")
            }
        }
        return .map(c)
    }

    /// generation_config.json: greedy by default, no special tokens (token ids are the run's).
    public static func generationConfig() -> JSONValue {
        ["do_sample": false, "bos_token_id": .null, "eos_token_id": .null, "pad_token_id": .null]
    }

    /// transformers' name of a MODEL.md parameter.
    public static func name(_ modelName: String) -> String {
        let whole: [String: String] = ["embed.weight": "model.embed_tokens.weight", "norm.weight": "model.norm.weight",
                                       "head.weight": "lm_head.weight"]
        if let mapped = whole[modelName] { return mapped }
        let parts: [(String, String)] = [
            (".attn_norm.", ".input_layernorm."), (".ffn_norm.", ".post_attention_layernorm."),
            (".attn.wq_a.", ".self_attn.q_a_proj."), (".attn.q_norm.", ".self_attn.q_a_layernorm."),
            (".attn.wq_b.", ".self_attn.q_b_proj."), (".attn.wkv_a.", ".self_attn.kv_a_proj_with_mqa."),
            (".attn.kv_norm.", ".self_attn.kv_a_layernorm."), (".attn.wkv_b.", ".self_attn.kv_b_proj."),
            (".attn.wq.", ".self_attn.q_proj."), (".attn.wk.", ".self_attn.k_proj."),
            (".attn.wv.", ".self_attn.v_proj."), (".attn.wo.", ".self_attn.o_proj."),
            (".ffn.gate.bias", ".mlp.gate.e_score_correction_bias"), (".ffn.gate.", ".mlp.gate."),
            (".ffn.", ".mlp."), (".w1.", ".gate_proj."), (".w3.", ".up_proj."), (".w2.", ".down_proj."),
        ]
        var name = "model." + modelName
        for (from, to) in parts where name.contains(from) {
            name = name.replacingOccurrences(of: from, with: to)
        }
        return name
    }

    /// The tensors of the export, in transformers' names: every parameter (and balancing bias),
    /// Llama's q/k rows permuted to half-split RoPE pairs, a zero e_score_correction_bias for
    /// DeepseekV3 MoE layers trained without loss-free balancing, and empty shared-expert
    /// weights for MoE layers without a shared expert (transformers builds them at width 0).
    public static func tensors(_ params: ParameterSet, _ model: ModelConfig,
                               _ architecture: HFArchitecture) -> [SafeTensors.Entry] {
        var entries: [SafeTensors.Entry] = []
        // MTP modules are for training only: transformers' DeepseekV3 does not load them either.
        for declaration in params.declarations where !declaration.name.hasPrefix("mtp.") {
            var values = params[declaration.name].scalars
            if architecture == .llama, case .grouped(_, _, let headDim) = model.attentionShape,
               declaration.name.hasSuffix(".attn.wq.weight") || declaration.name.hasSuffix(".attn.wk.weight") {
                values = halfSplitRoPERows(values, columns: declaration.shape[1], headDim: headDim)
            }
            entries.append(SafeTensors.Entry(name: name(declaration.name), shape: declaration.shape, values: values))
        }
        for l in 0..<model.nLayers {
            guard let moe = model.moeShape(layer: l) else { continue }
            if architecture == .deepseekV3 && !moe.hasBias {
                entries.append(SafeTensors.Entry(name: "model.layers.\(l).mlp.gate.e_score_correction_bias", shape: [moe.experts],
                                                 values: [Float](repeating: 0, count: moe.experts)))
            }
            if moe.sharedHidden == 0 {
                let d = model.dModel
                for (proj, shape) in [("gate_proj", [0, d]), ("up_proj", [0, d]), ("down_proj", [d, 0])] {
                    entries.append(SafeTensors.Entry(name: "model.layers.\(l).mlp.shared_experts.\(proj).weight", shape: shape, values: []))
                }
            }
        }
        return entries
    }

    /// Rows of a [heads·d_h, columns] q or k projection reordered per head from MODEL.md's
    /// interleaved RoPE pairs (2i, 2i+1) to Llama's half-split pairs (i, i + d_h/2): new row
    /// order [0, 2, …, d_h−2, 1, 3, …, d_h−1] within each head.
    static func halfSplitRoPERows(_ values: [Float], columns: Int, headDim: Int) -> [Float] {
        let rows = values.count / columns
        let order = Array(stride(from: 0, to: headDim, by: 2)) + Array(stride(from: 1, to: headDim, by: 2))
        var out = [Float](repeating: 0, count: values.count)
        for row in 0..<rows {
            let head = row / headDim, within = row % headDim
            let source = head * headDim + order[within]
            out.replaceSubrange((row * columns)..<((row + 1) * columns), with: values[(source * columns)..<((source + 1) * columns)])
        }
        return out
    }

    /// What `write` did.
    public struct Summary: Sendable {
        public var architecture: HFArchitecture
        public var step: Int?
        public var tensors: Int
        public var bytes: Int
    }

    /// Writes config.json and generation_config.json for `model` into `directory` and, with
    /// `params`, model.safetensors. Refuses (before creating anything) a model no class reproduces.
    public static func write(_ model: ModelConfig, params: ParameterSet?, step: Int?, maxPositions: Int,
                             to directory: String) throws -> Summary {
        let architecture: HFArchitecture
        switch Self.architecture(model) {
        case .success(let found): architecture = found
        case .failure(let errors): throw errors
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let folder = URL(fileURLWithPath: directory)
        var tensorCount = 0, bytes = 0
        if let params {
            let entries = tensors(params, model, architecture)
            let data = try SafeTensors.encode(entries, metadata: ["format": "pt"])
            try data.write(to: folder.appendingPathComponent("model.safetensors"), options: .atomic)
            tensorCount = entries.count
            bytes = data.count
        }
        try (config(model, architecture, maxPositions: maxPositions).pretty + "\n")
            .write(to: folder.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        try (generationConfig().pretty + "\n")
            .write(to: folder.appendingPathComponent("generation_config.json"), atomically: true, encoding: .utf8)
        return Summary(architecture: architecture, step: step, tensors: tensorCount, bytes: bytes)
    }
}

/// The safetensors format, written by our own code (docs/export.md says why): an 8-byte
/// little-endian header length, a JSON header {name: {dtype, shape, data_offsets}, __metadata__},
/// padded with spaces to a multiple of 8, then the raw little-endian data, tensors back to back
/// in name order.
public enum SafeTensors {
    public struct Entry: Sendable {
        public var name: String
        public var shape: [Int]
        public var values: [Float]
        public init(name: String, shape: [Int], values: [Float]) {
            self.name = name
            self.shape = shape
            self.values = values
        }
    }

    public struct FormatError: Error, CustomStringConvertible {
        public var description: String
    }

    public static func encode(_ entries: [Entry], metadata: [String: String] = [:]) throws -> Data {
        var header: [String: JSONValue] = [:]
        if !metadata.isEmpty { header["__metadata__"] = .map(metadata.mapValues { .string($0) }) }
        var offset = 0
        let sorted = entries.sorted { $0.name < $1.name }
        for entry in sorted {
            guard entry.values.count == entry.shape.reduce(1, *) else {
                throw FormatError(description: "safetensors: '\(entry.name)' has \(entry.values.count) values for shape \(entry.shape)")
            }
            guard header[entry.name] == nil else { throw FormatError(description: "safetensors: '\(entry.name)' twice") }
            let size = entry.values.count * 4
            header[entry.name] = ["dtype": "F32", "shape": .list(entry.shape.map { .int($0) }),
                                  "data_offsets": [.int(offset), .int(offset + size)]]
            offset += size
        }
        var json = Array(JSONValue.map(header).canonical.utf8)
        while json.count % 8 != 0 { json.append(0x20) }
        var data = Data(capacity: 8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: json)
        for entry in sorted {
            entry.values.withUnsafeBufferPointer { buffer in
                for value in buffer { withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
            }
        }
        return data
    }
}
