// Training on a tokenizer's data (`data.kind: tokens`, docs/data.md): scripts/prepare-tokens.py
// trains a byte-level BPE on a few fortune files and writes the .bin files; the run trains, is
// killed and resumes to the same bits, refuses changed token files, reports bits per byte, and
// `ablate generate` encodes and decodes text with the tokenizer exactly as `tokenizers` does.
import Foundation
import Testing
import TestSupport

@Suite(.serialized) struct TokenFilesTests {
    let binary: String
    let directory: URL

    init() throws {
        (binary, directory) = try TestEnvironment.endToEnd("tokens")
    }

    /// A small corpus (three fortune files) tokenised with a 320-id BPE, nanoGPT or llm.c layout.
    func prepare(_ name: String, llmc: Bool = false) throws -> URL {
        let corpus = directory.appendingPathComponent("corpus")
        if !FileManager.default.fileExists(atPath: corpus.path) {
            try FileManager.default.createDirectory(at: corpus, withIntermediateDirectories: true)
            for file in ["art", "computers", "science"] {
                try FileManager.default.copyItem(atPath: "/usr/share/games/fortunes/\(file)", toPath: corpus.appendingPathComponent(file).path)
            }
        }
        let out = directory.appendingPathComponent(name)
        let script = TestEnvironment.packageRoot.appendingPathComponent("scripts/prepare-tokens.py").path
        let prepared = try runProcess(try TestEnvironment.python(), [script, corpus.path, out.path, "--vocab", "320", "--val-fraction", "0.34"] + (llmc ? ["--llmc"] : []))
        #expect(prepared.status == 0, "\(prepared.stderr)")
        return out
    }

    func spec(_ data: URL, steps: Int = 40) throws -> String {
        let text = """
        name: bpe
        model:
          vocab: 320
          d_model: 32
          n_layers: 2
          attention: {kind: mla, heads: 2, kv_rank: 16, d_nope: 8, d_rope: 4, d_v: 8}
          ffn: {kind: moe, hidden: 48, moe: {experts: 4, top_k: 2, expert_hidden: 16, router: {score: sigmoid, normalize: true}}}
        data:
          kind: tokens
          tokens: {train: \(data.path)/train.bin, val: \(data.path)/val.bin, tokenizer: \(data.path)/tokenizer.json}
          val_sequences: 8
        train: {steps: \(steps), batch_size: 4, seq_len: 32, eval_every: 20}
        log: {flush_every: 1, checkpoint_every: 5}
        """
        let path = directory.appendingPathComponent("bpe-\(data.lastPathComponent).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test(.timeLimit(.minutes(5)))
    func trainsResumesBitwiseAndGeneratesText() throws {
        let data = try prepare("bpe")
        let spec = try spec(data)
        let straight = try runProcess(binary, ["run", spec, "--runs", directory.appendingPathComponent("straight").path, "--quiet", "--threads", "2"])
        #expect(straight.status == 0, "\(straight.stderr)")

        let runs = directory.appendingPathComponent("killed").path
        let killed = try runKilledAt("step 18/40", binary, ["run", spec, "--runs", runs, "--quiet", "--threads", "1"], runs: runs, name: "bpe")
        #expect(killed, "the run finished or hung before step 18 could be killed")
        let id = try #require(try FileManager.default.contentsOfDirectory(atPath: runs + "/bpe").first)
        let run = "\(runs)/bpe/\(id)"

        // Other token files under the same spec are refused, naming the hashes.
        let train = data.appendingPathComponent("train.bin")
        let original = try Data(contentsOf: train)
        var changed = original
        changed[changed.count - 2] ^= 1
        try changed.write(to: train)
        let refused = try runProcess(binary, ["resume", run, "--quiet"])
        #expect(refused.status != 0 && refused.stderr.contains("the data changed"), "\(refused.stderr)")
        try original.write(to: train)

        let resumed = try runProcess(binary, ["resume", run, "--quiet", "--threads", "2"])
        #expect(resumed.status == 0 && resumed.stdout.contains("completed after 40 steps"), "\(resumed.stdout)\(resumed.stderr)")
        let compare = try runProcess(binary, ["compare", directory.appendingPathComponent("straight/bpe/\(id)").path, run])
        #expect(compare.status == 0, "killed and resumed differs from straight:\n\(compare.stdout)")

        // Losses per token, and per byte of text through the tokenizer.
        let table = try runProcess(binary, ["table", runs + "/bpe", "--format", "csv"])
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.contains("bits_per_byte"), "\(table.stdout)")
        let json = try runProcess(binary, ["table", runs + "/bpe", "--format", "json"])
        #expect(json.stdout.contains("\"token_unit\": \"token\""), "\(json.stdout.prefix(400))")

        // Text in, text out.
        let generated = try runProcess(binary, ["generate", run, "--prompt", "The computer", "--tokens", "24", "--temperature", "1", "--seed", "3"])
        #expect(generated.status == 0, "\(generated.stderr)")
        #expect(!generated.stdout.isEmpty && generated.stdout.contains { $0.isLetter }, "\(generated.stdout)")
        let ids = try runProcess(binary, ["generate", run, "--prompt-tokens", "1 2 3", "--tokens", "4", "--temperature", "0"])
        #expect(ids.status == 0, "\(ids.stderr)")
    }

    /// Our encoding and decoding equal the `tokenizers` library's on awkward text.
    @Test func tokenizerMatchesTheTokenizersLibrary() throws {
        let data = try prepare("bpe-codec")
        let tokenizer = data.appendingPathComponent("tokenizer.json").path
        let samples = ["Hello, world! It's   a test:\t42 apples\n", "naïve café — ünïcödé 😀 ok", "  leading spaces'll 've 're\n\n%\n",
                       "CamelCase123 and_snake-case… done."]
        for sample in samples {
            let ours = try runProcess(binary, ["tokens", tokenizer, "encode", sample])
            #expect(ours.status == 0, "\(ours.stderr)")
            let theirs = try runPython("""
            import sys
            from tokenizers import Tokenizer
            print(" ".join(map(str, Tokenizer.from_file(sys.argv[1]).encode(sys.argv[2]).ids)))
            """, [tokenizer, sample])
            #expect(theirs.status == 0, "\(theirs.stderr)")
            #expect(ours.stdout == theirs.stdout, "\(sample): ours \(ours.stdout), tokenizers \(theirs.stdout)")
            let decoded = try runProcess(binary, ["tokens", tokenizer, "decode", ours.stdout.trimmingCharacters(in: .whitespacesAndNewlines)])
            #expect(decoded.stdout == sample)
        }
    }

    /// llm.c's layout trains like the flat one, and a token id past the vocabulary is refused
    /// before any work, naming the file, the offset and the value.
    @Test func llmcLayoutAndOutOfVocabularyIds() throws {
        let data = try prepare("bpe-llmc", llmc: true)
        let header = try Data(contentsOf: data.appendingPathComponent("train.bin")).prefix(12)
        #expect(Array(header.prefix(4)) == [0x88, 0xD8, 0x34, 0x01])   // 20240520 little-endian
        let spec = try spec(data, steps: 12)
        let run = try runProcess(binary, ["run", spec, "--runs", directory.appendingPathComponent("llmc").path, "--quiet"])
        #expect(run.status == 0, "\(run.stderr)")
        let small = try runProcess(binary, ["run", spec, "model.vocab=100", "--runs", directory.appendingPathComponent("small").path, "--quiet"])
        #expect(small.status != 0)
        #expect(small.stderr.contains("data.tokens.") && small.stderr.contains("at or above the vocabulary size 100"), "\(small.stderr)")
    }
}
