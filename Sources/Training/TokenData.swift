// tokens: token ids from .bin files, as tokenizers write them for training (docs/data.md).
//   nanoGPT: a flat array of little-endian uint16 (or uint32) ids, no header (numpy memmaps it);
//   llm.c:   256 int32 — magic 20240520, version (1 = uint16 ids, 2 = uint32), token count — then
//            the ids.
// The files are memory-mapped, every id is checked against the vocabulary once at load, and
// their sha256 is recorded and checked on resume as for text. Training sequence i is the window
// at an offset drawn from (seed, i) by the counter-based RNG; validation sequence i is the i-th
// consecutive window of the validation file, so the validation set is the file's start, whole.
import Config
import Foundation
import Models
import Tensor

public struct TokenData: DataSource {
    /// One split's ids, memory-mapped.
    struct TokenFile {
        let path: String
        let data: Data
        /// Byte offset of the first id.
        let start: Int
        /// Bytes per id (2 or 4).
        let width: Int
        let count: Int

        @inline(__always)
        func id(_ index: Int) -> Int32 {
            data.withUnsafeBytes { raw in
                let at = start + index * width
                if width == 2 { return Int32(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt16.self))) }
                return Int32(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt32.self)))
            }
        }
    }

    public struct LoadError: Error, CustomStringConvertible {
        public var description: String
        init(_ key: String, _ path: String, _ message: String) { description = "data.tokens.\(key): '\(path)' \(message)" }
    }

    /// llm.c's magic number (the first int32 of its token files).
    public static let llmcMagic: Int32 = 20240520

    public let seed: Int
    public let vocab: Int
    let train: TokenFile
    let validation: TokenFile
    let sha256: String
    /// Bytes of text each id decodes to (from data.tokens.tokenizer), when given.
    let bytesOfID: [Int]?

    public init(config: TokensConfig, vocab: Int, seed: Int, seqLen: Int) throws {
        self.seed = seed
        self.vocab = config.vocab ?? vocab
        train = try Self.open(config.train, key: "train", format: config.format, vocab: self.vocab, seqLen: seqLen)
        validation = try Self.open(config.val, key: "val", format: config.format, vocab: self.vocab, seqLen: seqLen)
        if let tokenizer = config.tokenizer {
            do {
                let bpe = try ByteLevelBPE(path: tokenizer)
                guard bpe.vocabSize <= self.vocab else {
                    throw LoadError("tokenizer", tokenizer, "has \(bpe.vocabSize) ids, more than the vocabulary size \(self.vocab)")
                }
                bytesOfID = bpe.bytesOfID.map(\.count)
            } catch let error as ByteLevelBPE.LoadError {
                throw LoadError("tokenizer", tokenizer, "cannot be read: \(error)")
            }
        } else {
            bytesOfID = nil
        }
        sha256 = SHA256.hex("train " + SHA256.hex(bytes: [UInt8](train.data)) + "\nval " + SHA256.hex(bytes: [UInt8](validation.data)))
    }

    static func open(_ path: String, key: String, format: TokensConfig.Format, vocab: Int, seqLen: Int) throws -> TokenFile {
        guard FileManager.default.fileExists(atPath: path) else { throw LoadError(key, path, "does not exist") }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw LoadError(key, path, "cannot be read: \(error.localizedDescription)")
        }
        func int32(_ i: Int) -> Int32 {
            data.withUnsafeBytes { raw in Int32(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
        }
        let hasMagic = data.count >= 4 && int32(0) == llmcMagic
        let file: TokenFile
        if format == .llmc || (format == .auto && hasMagic) {
            guard data.count >= 1024 else {
                throw LoadError(key, path, "is truncated: \(data.count) bytes, shorter than llm.c's 1024-byte header")
            }
            guard hasMagic else {
                throw LoadError(key, path, "does not start with llm.c's magic number \(llmcMagic) (found \(int32(0))); for a flat array of ids use format uint16 or uint32")
            }
            let version = int32(1), count = Int(int32(2))
            guard version == 1 || version == 2 else {
                throw LoadError(key, path, "has llm.c version \(version); known are 1 (uint16 ids) and 2 (uint32 ids)")
            }
            let width = version == 1 ? 2 : 4
            guard count >= 0, data.count - 1024 == count * width else {
                throw LoadError(key, path, "is truncated or padded: its header says \(count) tokens (\(count * width) bytes), the file holds \(data.count - 1024) bytes after the header")
            }
            file = TokenFile(path: path, data: data, start: 1024, width: width, count: count)
        } else {
            let width = format == .uint32 ? 4 : 2
            guard data.count % width == 0 else {
                throw LoadError(key, path, "is truncated: \(data.count) bytes is not a whole number of \(width)-byte ids")
            }
            file = TokenFile(path: path, data: data, start: 0, width: width, count: data.count / width)
        }
        guard file.count >= seqLen + 1 else {
            throw LoadError(key, path, "holds \(file.count) tokens, fewer than one sequence (train.seq_len + 1 = \(seqLen + 1))")
        }
        for index in 0..<file.count {
            let id = file.id(index)
            if id < 0 || Int(id) >= vocab {
                throw LoadError(key, path, "holds token \(UInt32(bitPattern: id)) at token offset \(index) (byte \(file.start + index * file.width)), at or above the vocabulary size \(vocab) (data.tokens.vocab, else model.vocab)")
            }
        }
        return file
    }

    public var summary: String { "tokens(\(train.path): \(train.count), \(validation.path): \(validation.count); vocab \(vocab))" }
    public var vocabNeeded: Int { vocab }
    public var reportsAccuracy: Bool { false }
    /// Both files' bytes: another tokenisation or copy gives another hash, and resume and verify refuse it.
    public var contentSHA256: String { sha256 }

    public func sequences(_ split: Split, first: Int, count: Int, seqLen: Int) -> Batch {
        var inputs: [Int32] = [], targets: [Int32] = []
        inputs.reserveCapacity(count * seqLen)
        targets.reserveCapacity(count * seqLen)
        let file = split == .train ? train : validation
        let windows = (file.count - 1) / seqLen   // consecutive validation windows that fit
        for index in first..<(first + count) {
            let start: Int
            switch split {
            case .train:
                let stream = RandomStream(seed: UInt64(seed), stream: RNGPurpose.dataSequences.stream(index))
                start = min(Int(uniformDouble(stream, 0) * Double(file.count - seqLen)), file.count - seqLen - 1)
            case .validation:
                start = (index % windows) * seqLen
            }
            for offset in 0..<seqLen {
                inputs.append(file.id(start + offset))
                targets.append(file.id(start + offset + 1))
            }
        }
        return Batch(inputs: IntTensor(shape: [count, seqLen], scalars: inputs),
                     targets: IntTensor(shape: [count, seqLen], scalars: targets),
                     mask: Tensor.ones([count, seqLen]))
    }

    public func optimumLoss(validationSequences count: Int, seqLen: Int) -> Double? { nil }

    public func validationTargetBytes(validationSequences count: Int, seqLen: Int) -> Int? {
        guard let bytesOfID else { return nil }
        let targets = sequences(.validation, first: 0, count: count, seqLen: seqLen).targets.scalars
        return targets.reduce(0) { $0 + (Int($1) < bytesOfID.count ? bytesOfID[Int($1)] : 0) }
    }

    /// Consecutive validation windows the validation file holds.
    public func validationWindows(seqLen: Int) -> Int { (validation.count - 1) / seqLen }
}
