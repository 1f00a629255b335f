import Foundation
import Testing
import TestSupport
@testable import Training

/// Token files (`data.kind: tokens`): both layouts read, and every way a file can be wrong is a
/// clear error naming the key, the file and what was expected.
struct TokenDataTests {
    let directory: URL
    init() throws { directory = try TestEnvironment.temporaryDirectory("tokens") }

    func write(_ name: String, ids: [Int], width: Int = 2, llmc: (version: Int32, count: Int32)? = nil, magic: Int32 = TokenData.llmcMagic) throws -> String {
        var bytes: [UInt8] = []
        if let llmc {
            var header = [Int32](repeating: 0, count: 256)
            (header[0], header[1], header[2]) = (magic, llmc.version, llmc.count)
            for value in header { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
        }
        for id in ids {
            if width == 2 { withUnsafeBytes(of: UInt16(id).littleEndian) { bytes += $0 } } else { withUnsafeBytes(of: UInt32(id).littleEndian) { bytes += $0 } }
        }
        let path = directory.appendingPathComponent(name).path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func load(_ train: String, _ val: String, format: TokensConfig.Format = .auto, vocab: Int? = nil, seqLen: Int = 4) throws -> TokenData {
        try TokenData(config: TokensConfig(train: train, val: val, format: format, vocab: vocab, tokenizer: nil), vocab: 50, seed: 1, seqLen: seqLen)
    }

    func error(_ body: () throws -> TokenData) -> String {
        do { _ = try body(); return "" } catch { return "\(error)" }
    }

    @Test func bothLayoutsReadTheSameIds() throws {
        let ids = Array(0..<40).map { ($0 * 7) % 50 }
        let flat = try write("flat.bin", ids: ids)
        let llmc = try write("llmc.bin", ids: ids, llmc: (1, 40))
        let wide = try write("wide.bin", ids: ids, width: 4, llmc: (2, 40))
        let raw32 = try write("raw32.bin", ids: ids, width: 4)
        let a = try load(flat, flat), b = try load(llmc, llmc), c = try load(wide, wide), d = try load(raw32, raw32, format: .uint32)
        for source in [b, c, d] {
            #expect(source.sequences(.train, first: 0, count: 5, seqLen: 4).inputs.scalars == a.sequences(.train, first: 0, count: 5, seqLen: 4).inputs.scalars)
        }
        // Validation: consecutive windows from the start; targets are the inputs shifted by one.
        let val = a.sequences(.validation, first: 0, count: 2, seqLen: 4)
        #expect(val.inputs.scalars == ids[0..<4].map(Int32.init) + ids[4..<8].map(Int32.init))
        #expect(val.targets.scalars == ids[1..<5].map(Int32.init) + ids[5..<9].map(Int32.init))
        // Training windows come from (seed, index): the same index gives the same window.
        #expect(a.sequences(.train, first: 3, count: 1, seqLen: 4).inputs.scalars == a.sequences(.train, first: 0, count: 4, seqLen: 4).inputs.scalars.suffix(4).map { $0 })
        #expect(a.contentSHA256 != b.contentSHA256)
    }

    @Test func badFilesAreClearErrors() throws {
        let good = try write("good.bin", ids: Array(0..<20))
        let missing = directory.appendingPathComponent("nope.bin").path
        #expect(error { try load(missing, good) }.contains("data.tokens.train: '\(missing)' does not exist"))
        let odd = directory.appendingPathComponent("odd.bin").path
        try Data([1, 0, 2]).write(to: URL(fileURLWithPath: odd))
        #expect(error { try load(good, odd) }.contains("data.tokens.val: '\(odd)' is truncated: 3 bytes"))
        let short = try write("short.bin", ids: Array(0..<20), llmc: (1, 25))
        #expect(error { try load(short, good) }.contains("header says 25 tokens"))
        let noMagic = try write("nomagic.bin", ids: Array(0..<600))
        #expect(error { try load(noMagic, good, format: .llmc) }.contains("does not start with llm.c's magic number 20240520"))
        let wrongVersion = try write("v7.bin", ids: Array(0..<20), llmc: (7, 20))
        #expect(error { try load(wrongVersion, good) }.contains("llm.c version 7"))
        let big = try write("big.bin", ids: [1, 2, 3, 4, 5, 60, 7, 8])
        let message = error { try load(big, good) }
        #expect(message.contains("holds token 60 at token offset 5 (byte 10)") && message.contains("vocabulary size 50"), "\(message)")
        #expect(error { try load(big, good, vocab: 64) }.isEmpty)
        let tiny = try write("tiny.bin", ids: [1, 2, 3])
        #expect(error { try load(good, tiny) }.contains("holds 3 tokens, fewer than one sequence (train.seq_len + 1 = 5)"))
    }
}
