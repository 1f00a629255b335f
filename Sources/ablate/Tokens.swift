import ArgumentParser
import Foundation
import Training

/// A tokenizer.json's encoding and decoding as `ablate generate` does them: what the tests
/// compare with the `tokenizers` library.
struct Tokens: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Encode text to ids, or decode ids to text, with a byte-level BPE tokenizer.json.",
        shouldDisplay: false)

    @Argument(help: "The tokenizer.json.")
    var tokenizer: String

    @Option(help: "Text to encode (ids are printed separated by spaces).")
    var encode: String?

    @Option(help: "Ids to decode, separated by spaces.")
    var decode: String?

    func run() throws {
        do {
            let bpe = try ByteLevelBPE(path: tokenizer)
            if let encode { print(try bpe.encode(encode).map(String.init).joined(separator: " ")) }
            if let decode {
                let ids = decode.split(separator: " ").compactMap { Int32($0) }
                print(try bpe.decode(ids), terminator: "")
            }
        } catch {
            throw fail("\(error)")
        }
    }
}
