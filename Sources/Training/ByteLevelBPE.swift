// A byte-level BPE tokenizer read from a Hugging Face tokenizer.json (the kind
// scripts/prepare-tokens.py writes, and GPT-2's): enough to encode `ablate generate`'s prompt and
// decode its output. Decoding is a table lookup (each token's characters map back to bytes);
// encoding splits the text with GPT-2's pattern, maps bytes to characters and applies the merges
// in rank order. A test checks both against the `tokenizers` library.
import Foundation

public struct ByteLevelBPE: Sendable {
    public struct LoadError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Bytes of each id.
    let bytesOfID: [[UInt8]]
    let idOfToken: [String: Int32]
    /// Merge rank by (left, right).
    let ranks: [Pair: Int]
    /// Added (special) tokens, matched whole before the BPE.
    let added: [(content: String, id: Int32)]

    struct Pair: Hashable, Sendable {
        let left: String, right: String
    }

    public var vocabSize: Int { bytesOfID.count }

    /// GPT-2's byte ↔ printable-character table: printable Latin-1 bytes map to themselves, the
    /// rest to U+0100 upwards in byte order.
    static let characterOfByte: [Character] = {
        var printable = Array(0x21...0x7E) + Array(0xA1...0xAC) + Array(0xAE...0xFF)
        var codes = printable
        var extra = 0
        for byte in 0..<256 where !printable.contains(byte) {
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
        }
        var table = [Character](repeating: " ", count: 256)
        for (byte, code) in zip(printable, codes) { table[byte] = Character(Unicode.Scalar(code)!) }
        return table
    }()
    static let byteOfCharacter: [Character: UInt8] = {
        Dictionary(uniqueKeysWithValues: characterOfByte.enumerated().map { ($1, UInt8($0)) })
    }()

    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LoadError(description: "tokenizer '\(path)' does not exist")
        }
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let model = json["model"] as? [String: Any], model["type"] as? String == "BPE",
              let vocab = model["vocab"] as? [String: Int] else {
            throw LoadError(description: "tokenizer '\(path)' is not a tokenizer.json with a BPE model")
        }
        if let pre = json["pre_tokenizer"] as? [String: Any], pre["type"] as? String != "ByteLevel" {
            throw LoadError(description: "tokenizer '\(path)': pre_tokenizer \(pre["type"] ?? "?") is not ByteLevel; only byte-level BPE is read")
        }
        var ranks: [Pair: Int] = [:]
        for (rank, merge) in (model["merges"] as? [Any] ?? []).enumerated() {
            let parts: [String]
            if let text = merge as? String { parts = text.split(separator: " ", maxSplits: 1).map(String.init) }
            else { parts = merge as? [String] ?? [] }
            guard parts.count == 2 else { throw LoadError(description: "tokenizer '\(path)': merge \(rank) is not a pair") }
            ranks[Pair(left: parts[0], right: parts[1])] = ranks[Pair(left: parts[0], right: parts[1])] ?? rank
        }
        var added: [(String, Int32)] = []
        var tokens = vocab
        for entry in json["added_tokens"] as? [[String: Any]] ?? [] {
            if let content = entry["content"] as? String, let id = entry["id"] as? Int {
                added.append((content, Int32(id)))
                tokens[content] = id
            }
        }
        let size = (tokens.values.max() ?? -1) + 1
        var bytesOfID = [[UInt8]](repeating: [], count: size)
        for (token, id) in tokens {
            if added.contains(where: { $0.0 == token }) {
                bytesOfID[id] = Array(token.utf8)
            } else {
                bytesOfID[id] = token.map { Self.byteOfCharacter[$0] ?? 0x3F }
            }
        }
        self.bytesOfID = bytesOfID
        self.idOfToken = tokens.mapValues { Int32($0) }
        self.ranks = ranks
        self.added = added.sorted { $0.0.count > $1.0.count }
    }

    /// The text of `ids` (invalid UTF-8 becomes U+FFFD; an unknown id is an error).
    public func decode(_ ids: [Int32]) throws -> String {
        var bytes: [UInt8] = []
        for id in ids {
            guard id >= 0, Int(id) < bytesOfID.count else {
                throw LoadError(description: "token id \(id) is outside the tokenizer's \(bytesOfID.count) ids")
            }
            bytes += bytesOfID[Int(id)]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// GPT-2's pre-tokenization pattern (what the ByteLevel pre-tokenizer splits on).
    nonisolated(unsafe) static let pattern = try! Regex(#"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#)

    /// The ids of `text`.
    public func encode(_ text: String) throws -> [Int32] {
        var ids: [Int32] = []
        var rest = Substring(text)
        while !rest.isEmpty {
            // Added tokens are matched whole; the text between them goes through the BPE.
            var next: (range: Range<Substring.Index>, id: Int32)? = nil
            for (content, id) in added {
                if let range = rest.range(of: content), next == nil || range.lowerBound < next!.range.lowerBound {
                    next = (range, id)
                }
            }
            let plain = next.map { rest[..<$0.range.lowerBound] } ?? rest
            for match in plain.matches(of: Self.pattern) {
                ids += try encodeWord(String(plain[match.range]))
            }
            guard let next else { break }
            ids.append(next.id)
            rest = rest[next.range.upperBound...]
        }
        return ids
    }

    func encodeWord(_ word: String) throws -> [Int32] {
        var symbols = word.utf8.map { String(Self.characterOfByte[Int($0)]) }
        while symbols.count > 1 {
            var best: (rank: Int, index: Int)? = nil
            for i in 0..<(symbols.count - 1) {
                if let rank = ranks[Pair(left: symbols[i], right: symbols[i + 1])], best == nil || rank < best!.rank {
                    best = (rank, i)
                }
            }
            guard let best else { break }
            let (left, right) = (symbols[best.index], symbols[best.index + 1])
            var merged: [String] = []
            var i = 0
            while i < symbols.count {
                if i < symbols.count - 1 && symbols[i] == left && symbols[i + 1] == right {
                    merged.append(left + right)
                    i += 2
                } else {
                    merged.append(symbols[i])
                    i += 1
                }
            }
            symbols = merged
        }
        return try symbols.map { symbol in
            guard let id = idOfToken[symbol] else {
                throw LoadError(description: "the tokenizer has no token for '\(symbol)'")
            }
            return id
        }
    }
}
