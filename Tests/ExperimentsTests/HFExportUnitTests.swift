import Config
import Foundation
import Testing
@testable import Experiments
import Models

/// The pieces of the transformers export that need no training: the safetensors layout, the
/// RoPE row permutation, and refusals reported together before anything is written.
struct HFExportUnitTests {
    @Test func safetensorsLayoutIsTheFormat() throws {
        let data = try SafeTensors.encode([SafeTensors.Entry(name: "b", shape: [2], values: [1, -2]),
                                           SafeTensors.Entry(name: "a", shape: [1, 1], values: [0.5]),
                                           SafeTensors.Entry(name: "empty", shape: [0, 3], values: [])],
                                          metadata: ["format": "pt"])
        let length = Int(data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }.littleEndian)
        #expect(length % 8 == 0)
        let header = try JSONValue.parse(String(decoding: data[8..<(8 + length)], as: UTF8.self).trimmingCharacters(in: .whitespaces))
        #expect(header["__metadata__"]?["format"] == "pt")
        // Name order, back to back: a [0, 4), b [4, 12), empty [12, 12).
        #expect(header["a"]?["data_offsets"] == [0, 4])
        #expect(header["b"]?["data_offsets"] == [4, 12])
        #expect(header["empty"]?["data_offsets"] == [12, 12])
        #expect(header["b"]?["dtype"] == "F32" && header["b"]?["shape"] == [2])
        let body = Array(data[(8 + length)...])
        #expect(body.count == 12)
        let floats = stride(from: 0, to: body.count, by: 4).map { i in
            Float(bitPattern: UInt32(body[i]) | UInt32(body[i + 1]) << 8 | UInt32(body[i + 2]) << 16 | UInt32(body[i + 3]) << 24)
        }
        #expect(floats == [0.5, 1, -2])
        #expect(throws: SafeTensors.FormatError.self) { try SafeTensors.encode([SafeTensors.Entry(name: "x", shape: [3], values: [1])]) }
    }

    /// Each head's rows go from interleaved pairs (2i, 2i+1) to half-split (i, i + d/2).
    @Test func ropeRowsBecomeHalfSplitPerHead() {
        let headDim = 4, columns = 2
        let rows = (0..<(2 * headDim)).flatMap { row in [Float(row), Float(row) + 0.5] }   // 2 heads
        let out = HFExport.halfSplitRoPERows(rows, columns: columns, headDim: headDim)
        let order = stride(from: 0, to: out.count, by: columns).map { Int(out[$0]) }
        #expect(order == [0, 2, 1, 3, 4, 6, 5, 7])
        #expect(out[1] == 0.5 && out[3] == 2.5)
    }

    @Test func namesFollowTransformers() {
        #expect(HFExport.name("layers.1.attn.wkv_a.weight") == "model.layers.1.self_attn.kv_a_proj_with_mqa.weight")
        #expect(HFExport.name("layers.0.ffn.experts.7.w3.weight") == "model.layers.0.mlp.experts.7.up_proj.weight")
        #expect(HFExport.name("layers.0.ffn.shared_experts.w2.weight") == "model.layers.0.mlp.shared_experts.down_proj.weight")
        #expect(HFExport.name("layers.2.ffn.gate.bias") == "model.layers.2.mlp.gate.e_score_correction_bias")
        #expect(HFExport.name("layers.0.ffn_norm.weight") == "model.layers.0.post_attention_layernorm.weight")
        #expect(HFExport.name("head.weight") == "lm_head.weight")
    }

    /// Every reason is reported at once, each naming its key, and nothing is created.
    @Test func refusalsComeTogetherBeforeAnyFile() throws {
        var resolver = Resolver(file: "spec")
        let value: ConfigValue = ["norm_eps": 1e-5, "attention": ["kind": "mla", "kv_rank": 8, "d_nope": 4, "d_rope": 2, "d_v": 4],
                                  "ffn": ["kind": "moe", "moe": ["capacity_factor": 1.0, "router": ["score": "softmax", "normalize": true]]]]
        let resolved = resolver.resolve(value, against: ModelConfig.schema, at: "model")
        let model = try ConfigDecoding.decode(ModelConfig.self, from: resolved)
        guard case .failure(let errors) = HFExport.architecture(model) else { Issue.record("exported"); return }
        #expect(Set(errors.problems.map(\.path)) == ["model.norm_eps", "model.ffn.moe.capacity_factor", "model.ffn.moe.router.normalize"])
        let target = FileManager.default.temporaryDirectory.appendingPathComponent("hf-refused-\(UUID().uuidString.prefix(8))").path
        #expect(throws: ConfigErrors.self) { try HFExport.write(model, params: nil, step: nil, maxPositions: 64, to: target) }
        #expect(!FileManager.default.fileExists(atPath: target))
    }
}
