import ArgumentParser
import Foundation
import Training

/// A tokenizer.json's encoding and decoding as `ablate generate` does them: what the tests
/// compare with the `tokenizers` library. `ablate tokens TOKENIZER encode TEXT` prints ids;
/// `ablate tokens TOKENIZER decode "IDS"` prints text.
struct Tokens: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Encode text to ids, or decode ids to text, with a byte-level BPE tokenizer.json.",
        shouldDisplay: false)

    enum Direction: String, ExpressibleByArgument { case encode, decode }

    @Argument(help: "The tokenizer.json, then encode or decode, then the text or the ids.")
    var arguments: [String] = []

    func run() throws {
        guard arguments.count == 3, let direction = Direction(rawValue: arguments[1]) else {
            throw fail("usage: ablate tokens TOKENIZER encode TEXT | decode \"IDS\"", code: 2)
        }
        do {
            let bpe = try ByteLevelBPE(path: arguments[0])
            switch direction {
            case .encode: print(try bpe.encode(arguments[2]).map(String.init).joined(separator: " "))
            case .decode: print(try bpe.decode(arguments[2].split(separator: " ").compactMap { Int32($0) }), terminator: "")
            }
        } catch {
            throw fail("\(error)")
        }
    }
}
