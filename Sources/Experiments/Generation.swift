// Sampling text from a trained run: parameters from the run file's last checkpoint, decoding
// with the cached inference form (MLA absorbed, latent cache).
import Foundation
import Models
import RunStore
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
        let file = URL(fileURLWithPath: runDirectory).appendingPathComponent("run.h5").path
        let reader = try RunFileReader(path: file)
        defer { reader.close() }
        let spec = try SpecLoader.fromResolved(try reader.spec().resolved, source: file + ":/spec/resolved")
        let cell = spec.cells[0]
        guard let checkpoint = try reader.checkpoint() else {
            throw GenerationError("'\(file)' has no checkpoint yet: train it first")
        }
        var params = ParameterSet.initial(cell.model, seed: cell.seed)
        for name in params.names {
            if let array = checkpoint.parameters[name] ?? checkpoint.balancingBiases[name] {
                params.setValues(name, array.values)
            }
        }
        let isText = cell.data.kind == .text
        let tokens: [Int32]
        if isText {
            tokens = Array(prompt.utf8).map { Int32($0) }
        } else {
            var parsed: [Int32] = []
            for word in prompt.split(whereSeparator: { $0 == " " || $0 == "," }) {
                guard let id = Int32(word), id >= 0, Int(id) < cell.model.vocab else {
                    throw GenerationError("--prompt: '\(word)' is not a token id in 0..<\(cell.model.vocab) (this run's data is \(cell.data.kind.rawValue): give ids separated by spaces)")
                }
                parsed.append(id)
            }
            tokens = parsed
        }
        guard !tokens.isEmpty else { throw GenerationError("--prompt is empty") }
        var session = InferenceSession(config: cell.model, params: params)
        let output = session.generate(prompt: tokens, count: count, temperature: temperature, seed: seed)
        let text = isText ? String(decoding: output.map { UInt8(clamping: $0) }, as: UTF8.self)
                          : output.map(String.init).joined(separator: " ")
        return Result(prompt: tokens, tokens: output, text: text, cacheFloatsPerTokenPerLayer: session.cacheFloatsPerTokenPerLayer)
    }
}

public struct GenerationError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
