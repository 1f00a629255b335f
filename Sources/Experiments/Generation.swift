// Sampling text from a trained run: parameters from the run file's last checkpoint, decoding
// with the cached inference form (MLA absorbed, latent cache).
import Foundation
import Models
import RunStore
import Tensor
import Training

public enum Generation {
    public struct Result: Sendable {
        public var prompt: [Int32]
        public var tokens: [Int32]
        /// The continuation as text: bytes for `text` data, token ids otherwise.
        public var text: String
        public var cacheFloatsPerTokenPerLayer: Int
    }

    /// Loads RUN_DIR's spec and checkpoint and samples `count` tokens after `prompt`: UTF-8 bytes
    /// when the run trained on text, else whitespace-separated token ids.
    public static func generate(runDirectory: String, prompt: String, count: Int, temperature: Double,
                                seed: Int) throws -> Result {
        let (cell, params, _) = try TrainedModel.load(runDirectory: runDirectory)
        let isText = cell.data.kind == .text
        let tokens = try TrainedModel.tokens(prompt, cell: cell)
        guard !tokens.isEmpty else { throw GenerationError("--prompt is empty") }
        var session = InferenceSession(config: cell.model, params: params)
        let output = session.generate(prompt: tokens, count: count, temperature: temperature, seed: seed)
        let text = isText ? String(decoding: output.map { UInt8(clamping: $0) }, as: UTF8.self)
                          : output.map(String.init).joined(separator: " ")
        return Result(prompt: tokens, tokens: output, text: text, cacheFloatsPerTokenPerLayer: session.cacheFloatsPerTokenPerLayer)
    }
}

/// A run's model and its trained parameters: from the run file's last checkpoint, or from the
/// checkpoint at a given step (a run file keeps its last two checkpoints).
public enum TrainedModel {
    public static func load(runDirectory: String, step: Int? = nil) throws -> (cell: Cell, params: ParameterSet, step: Int) {
        let file = URL(fileURLWithPath: runDirectory).appendingPathComponent("run.h5").path
        guard FileManager.default.fileExists(atPath: file) else {
            throw GenerationError("'\(runDirectory)' holds no run.h5: give a run directory (<runs>/<spec name>/<run id>)")
        }
        let reader = try RunFileReader(path: file)
        defer { reader.close() }
        let spec = try SpecLoader.fromResolved(try reader.spec().resolved, source: file + ":/spec/resolved")
        let cell = spec.cells[0]
        let checkpoint: Checkpoint
        if let step {
            let stored = (0..<2).compactMap { try? reader.checkpoint(slot: $0) }
            guard let match = stored.first(where: { $0.step == step }) else {
                throw GenerationError("--step \(step): '\(file)' holds checkpoints after step(s) \(stored.map { String($0.step) }.sorted().joined(separator: ", ")) only")
            }
            checkpoint = match
        } else {
            guard let last = try reader.checkpoint() else {
                throw GenerationError("'\(file)' has no checkpoint yet: train it first")
            }
            checkpoint = last
        }
        var params = ParameterSet.initial(cell.model, seed: cell.seed)
        for name in params.names {
            guard let array = checkpoint.parameters[name] ?? checkpoint.balancingBiases[name] else {
                throw GenerationError("'\(file)': the checkpoint after step \(checkpoint.step) has no '\(name)'")
            }
            params.setValues(name, array.values)
        }
        return (cell, params, checkpoint.step)
    }

    /// The training form's logits [T][V] of `tokens` (one sequence).
    public static func logits(_ model: ModelConfig, _ params: ParameterSet, tokens: [Int32]) -> [[Float]] {
        let t = tokens.count, v = model.vocab
        let ids = IntTensor(shape: [1, t], scalars: tokens)
        let flat = Tensor.withoutGrad {
            Decoder(config: model).forward(params, inputs: ids, targets: ids, mask: Tensor.ones([1, t])).logits.scalars
        }
        return (0..<t).map { Array(flat[($0 * v)..<(($0 + 1) * v)]) }
    }

    /// Token ids of a prompt: UTF-8 bytes for a run on text, else ids separated by spaces or commas.
    public static func tokens(_ prompt: String, cell: Cell) throws -> [Int32] {
        if cell.data.kind == .text { return Array(prompt.utf8).map { Int32($0) } }
        var parsed: [Int32] = []
        for word in prompt.split(whereSeparator: { $0 == " " || $0 == "," }) {
            guard let id = Int32(word), id >= 0, Int(id) < cell.model.vocab else {
                throw GenerationError("--prompt: '\(word)' is not a token id in 0..<\(cell.model.vocab) (this run's data is \(cell.data.kind.rawValue): give ids separated by spaces)")
            }
            parsed.append(id)
        }
        return parsed
    }
}

public struct GenerationError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
