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

    /// Loads RUN_DIR's spec and checkpoint and samples `count` tokens after `prompt`. The prompt
    /// and the output are text for a run on text (bytes) or on tokens with a tokenizer
    /// (`data.tokens.tokenizer`), else whitespace-separated token ids; `promptIsIDs` takes ids
    /// whatever the data.
    public static func generate(runDirectory: String, prompt: String, promptIsIDs: Bool = false, count: Int,
                                temperature: Double, seed: Int) throws -> Result {
        let (cell, params, _) = try TrainedModel.load(runDirectory: runDirectory)
        let codec = try TextCodec(cell)
        let tokens = promptIsIDs ? try TrainedModel.ids(prompt, vocab: cell.model.vocab, data: cell.data.kind.rawValue)
                                 : try codec.encode(prompt, cell: cell)
        guard !tokens.isEmpty else { throw GenerationError("--prompt is empty") }
        var session = InferenceSession(config: cell.model, params: params)
        let output = session.generate(prompt: tokens, count: count, temperature: temperature, seed: seed)
        let text = try codec.decode(output)
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

    /// Token ids of a prompt: UTF-8 bytes for a run on text, the tokenizer's ids for a run on
    /// tokens with one, else ids separated by spaces or commas.
    public static func tokens(_ prompt: String, cell: Cell) throws -> [Int32] {
        try TextCodec(cell).encode(prompt, cell: cell)
    }

    /// Ids separated by spaces or commas, each below `vocab`.
    public static func ids(_ prompt: String, vocab: Int, data: String) throws -> [Int32] {
        var parsed: [Int32] = []
        for word in prompt.split(whereSeparator: { $0 == " " || $0 == "," }) {
            guard let id = Int32(word), id >= 0, Int(id) < vocab else {
                throw GenerationError("--prompt: '\(word)' is not a token id in 0..<\(vocab) (this run's data is \(data): give ids separated by spaces)")
            }
            parsed.append(id)
        }
        return parsed
    }
}

/// How a run's tokens read as text: bytes (text data), a tokenizer (token data with
/// data.tokens.tokenizer), or plain ids.
enum TextCodec {
    case bytes, tokenizer(ByteLevelBPE), ids

    init(_ cell: Cell) throws {
        switch cell.data.kind {
        case .text: self = .bytes
        case .tokens:
            if let path = cell.data.tokens?.tokenizer { self = .tokenizer(try ByteLevelBPE(path: path)) } else { self = .ids }
        default: self = .ids
        }
    }

    func encode(_ prompt: String, cell: Cell) throws -> [Int32] {
        switch self {
        case .bytes: return Array(prompt.utf8).map { Int32($0) }
        case .tokenizer(let bpe):
            let ids = try bpe.encode(prompt)
            if let bad = ids.first(where: { Int($0) >= cell.model.vocab }) {
                throw GenerationError("--prompt: the tokenizer gives id \(bad), outside the model's vocabulary of \(cell.model.vocab)")
            }
            return ids
        case .ids: return try TrainedModel.ids(prompt, vocab: cell.model.vocab, data: cell.data.kind.rawValue)
        }
    }

    func decode(_ ids: [Int32]) throws -> String {
        switch self {
        case .bytes: return String(decoding: ids.map { UInt8(clamping: $0) }, as: UTF8.self)
        case .tokenizer(let bpe): return try bpe.decode(ids)
        case .ids: return ids.map(String.init).joined(separator: " ")
        }
    }
}

public struct GenerationError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
