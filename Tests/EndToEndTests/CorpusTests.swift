// scripts/prepare-corpus.sh builds the English corpus from Debian's packages (installed by
// .ci/run): three files of documents ended by "%" lines and a manifest of versions and hashes,
// which a run reads with a random document split.
import Foundation
import Testing
import TestSupport
import RunStore

@Suite struct CorpusTests {
    @Test func corpusIsBuiltWithItsManifestAndSplitsByDocument() throws {
        let (binary, directory) = try TestEnvironment.endToEnd("corpus")
        let corpus = directory.appendingPathComponent("english").path
        let script = TestEnvironment.packageRoot.appendingPathComponent("scripts/prepare-corpus.sh").path
        let built = try runProcess("/bin/bash", [script, corpus])
        #expect(built.status == 0, "\(built.stdout)\(built.stderr)")
        let manifest = try String(contentsOfFile: corpus + "/MANIFEST", encoding: .utf8)
        for package in ["fortunes", "bible-kjv-text", "dict-gcide"] { #expect(manifest.contains("package \(package) "), "\(manifest)") }
        var total = 0
        for name in ["fortunes.txt", "bible-kjv.txt", "gcide.txt"] {
            let line = try #require(manifest.split(separator: "\n").first { $0.hasPrefix("file \(name) ") }, "\(manifest)")
            let fields = line.split(separator: " ")
            let text = try String(contentsOfFile: corpus + "/" + name, encoding: .utf8)   // UTF-8, or this throws
            #expect(Int(fields[3]) == text.utf8.count)
            #expect(Int(fields[5]) == text.split(separator: "\n", omittingEmptySubsequences: false).filter { $0 == "%" }.count)
            #expect(text.hasSuffix("\n%\n"))
            total += Int(fields[5]) ?? 0
        }
        // The Bible has 1,189 chapters.
        #expect(manifest.contains("file bible-kjv.txt") && manifest.contains("documents 1189 "), "\(manifest)")
        let spec = directory.appendingPathComponent("corpus.yaml").path
        try """
            name: corpus
            model: {vocab: 256, d_model: 16, n_layers: 1, attention: {kind: mha, heads: 2}, ffn: {kind: dense, hidden: 32}}
            data: {kind: text, text: {path: \(corpus), exclude: [MANIFEST], split: documents, val_fraction: 0.01, split_seed: 5}, val_sequences: 8}
            train: {steps: 4, batch_size: 2, seq_len: 32, eval_every: 2, schedule: {kind: constant, warmup: 0}}
            """.write(toFile: spec, atomically: true, encoding: .utf8)
        let run = try runProcess(binary, ["run", spec, "--runs", directory.appendingPathComponent("runs").path, "--threads", "1"])
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        let log = try String(contentsOfFile: try #require(FileManager.default.enumerator(atPath: directory.appendingPathComponent("runs/corpus").path)?
            .compactMap { $0 as? String }.first { $0.hasSuffix("run.log") }.map { directory.appendingPathComponent("runs/corpus/" + $0).path }), encoding: .utf8)
        #expect(log.contains("documents held out") && log.contains(" of \(total) documents"), "\(log)")
        // The last evaluation scored the whole held-out split (about 1% of 47 MB), the earlier
        // one did not; its loss is near the sampled eval loss of the same weights.
        let file = try #require(FileManager.default.enumerator(atPath: directory.appendingPathComponent("runs/corpus").path)?
            .compactMap { $0 as? String }.first { $0.hasSuffix("run.h5") }.map { directory.appendingPathComponent("runs/corpus/" + $0).path })
        let reader = try RunFileReader(path: file)
        defer { reader.close() }
        let eval = try reader.evalMetrics()
        let wholeLoss = try #require(eval.columns["whole_loss"]), tokens = try #require(eval.columns["whole_tokens"])
        #expect(eval.steps == [1, 3] && wholeLoss.count == 2 && wholeLoss[0].isNaN && tokens[0].isNaN)
        #expect(tokens[1] > 200_000 && tokens[1] < 1_000_000 && tokens[1].truncatingRemainder(dividingBy: 32) == 0, "\(tokens)")
        let sampled = try #require(eval.columns["loss"]?.last)
        #expect(wholeLoss[1].isFinite && abs(wholeLoss[1] - sampled) < 0.5, "whole \(wholeLoss[1]) against sampled \(sampled)")
    }
}
