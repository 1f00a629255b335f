// Expert specialisation telemetry: which source each validation sequence comes from (Markov
// mixture sources, text files), and the evaluation's selections per (layer, source, expert),
// which must add up to the evaluation's own loads. The mutual information itself is checked
// against scipy (AnalysisTests/ScipyCheckTests).
import Config
import Foundation
import Models
import Testing
@testable import Training

@Suite struct SpecialisationTests {
    static func decode<T: Decodable>(_ type: T.Type, _ schema: Section, _ given: ConfigValue, at path: String) throws -> T {
        var resolver = Resolver()
        let value = resolver.resolve(given, against: schema, at: path)
        #expect(resolver.problems.isEmpty, "\(resolver.problems)")
        return try ConfigDecoding.decode(T.self, from: value)
    }

    @Test func textSourcesAreTheFilesOfTheValidationSplit() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("specialisation-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("sub"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // 600 + 150 + 250 bytes; validation = the last 30% = 300 bytes: the end of b.txt and all of sub/c.txt.
        let files = [("a.txt", 600), ("b.txt", 150), ("sub/c.txt", 250)]
        for (name, size) in files {
            try String(repeating: name.first.map(String.init)!, count: size).write(to: directory.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        let config = TextConfig(path: directory.path, valFraction: 0.3, exclude: [])
        let data = try TextData(config: config, seed: 1, seqLen: 16)
        let labels = try #require(data.validationSources(validationSequences: 40, seqLen: 16))
        #expect(labels.names == ["b.txt", "sub/c.txt"])
        #expect(Set(labels.ofSequence) == [0, 1])
        // The label is the file of the sequence's first target: its byte is that file's letter.
        let batch = data.sequences(.validation, first: 0, count: 40, seqLen: 16)
        for (i, source) in labels.ofSequence.enumerated() {
            let letter = UInt8(batch.targets.scalars[i * 16])
            #expect(letter == (source == 0 ? UInt8(ascii: "b") : UInt8(ascii: "s")), "sequence \(i)")
        }
        let single = try TextData(config: TextConfig(path: directory.appendingPathComponent("a.txt").path, valFraction: 0.2, exclude: []),
                                  seed: 1, seqLen: 16)
        #expect(single.validationSources(validationSequences: 3, seqLen: 16) == SourceLabels(names: ["a.txt"], ofSequence: [0, 0, 0]))
    }

    /// split: documents holds out whole documents (up to and including their separator line),
    /// drawn by (split_seed, document) whatever the run's seed, and puts them after the rest.
    @Test func documentSplitHoldsOutWholeDocuments() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("document-split-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var documents: [String] = []
        for file in ["a", "b"] {
            let texts = (0..<150).map { "doc \(file)\(1000 + $0): " + String(repeating: file, count: 20 + $0 % 7) + "\n%\n" }
            documents += texts
            // The last document of b has no separator line: it ends at the file's end.
            let body = texts.joined() + (file == "b" ? "tail of b\n" : "")
            try body.write(to: directory.appendingPathComponent("\(file).txt"), atomically: true, encoding: .utf8)
        }
        documents.append("tail of b\n")
        func load(_ splitSeed: Int?, seed: Int = 1) throws -> TextData {
            try TextData(config: TextConfig(path: directory.path, valFraction: 0.25, exclude: [], split: "documents", splitSeed: splitSeed),
                         seed: seed, seqLen: 16)
        }
        let data = try load(3)
        let held = try #require(data.heldOut)
        #expect(held.of == 301 && held.documents > 40 && held.documents < 110, "\(held)")
        let train = String(decoding: data.bytes[0..<data.trainCount], as: UTF8.self)
        let validation = String(decoding: data.bytes[data.trainCount...], as: UTF8.self)
        // Every document is whole in exactly one split, in corpus order within it.
        let inValidation = documents.filter { validation.contains($0) }
        #expect(inValidation.count == held.documents)
        #expect(inValidation.joined() == validation && documents.filter { !inValidation.contains($0) }.joined() == train)
        // The draw depends on split_seed only.
        #expect(try load(3, seed: 7).bytes == data.bytes)
        #expect(try load(4).bytes != data.bytes && (try load(nil)).bytes == (try load(0)).bytes)
        // Sources: the files with held-out documents.
        let labels = try #require(data.validationSources(validationSequences: 30, seqLen: 16))
        #expect(labels.names == ["a.txt", "b.txt"])
        let batch = data.sequences(.validation, first: 0, count: 30, seqLen: 16)
        #expect(batch.targets.scalars.count == 30 * 16)

        // The whole split: consecutive windows whose targets are every held-out byte after the
        // first, once each, up to the last full window; a tail split has none.
        let whole = try #require(data.wholeValidation(seqLen: 16))
        let heldBytes = Array(data.bytes[data.trainCount...])
        #expect(whole.count == (heldBytes.count - 1) / 16)
        let all = whole.batch(0, whole.count)
        #expect(all.targets.scalars.map { UInt8($0) } == Array(heldBytes[1...(whole.count * 16)]))
        #expect(all.inputs.scalars.map { UInt8($0) } == Array(heldBytes[0..<(whole.count * 16)]))
        let part = whole.batch(3, 2)
        #expect(part.inputs.scalars == Array(all.inputs.scalars[(3 * 16)..<(5 * 16)]) && part.mask.scalars.allSatisfy { $0 == 1 })
        let tail = try TextData(config: TextConfig(path: directory.path, valFraction: 0.25, exclude: []), seed: 1, seqLen: 16)
        #expect(tail.wholeValidation(seqLen: 16) == nil)
    }

    @Test func markovSourcesAreTheSequencesSources() throws {
        let data = MarkovMixture(config: MarkovMixtureConfig(sources: 3, symbols: 8, alpha: 0.5), seed: 4)
        let labels = try #require(data.validationSources(validationSequences: 12, seqLen: 10))
        #expect(labels.names == ["source 0", "source 1", "source 2"])
        #expect(labels.ofSequence == (0..<12).map { data.sequence(.validation, index: $0, length: 11).source })
        #expect(Set(labels.ofSequence).count > 1)
    }

    /// An evaluation of an MoE model on the Markov mixture: the selections per (layer, source,
    /// expert) add up, over sources, to the evaluation's loads, and count k per token.
    @Test func evaluationCountsEverySelectionBySource() throws {
        let model = try Self.decode(ModelConfig.self, ModelConfig.schema, [
            "vocab": 8, "d_model": 8, "n_layers": 2, "first_dense_layers": 1, "attention": ["kind": "mha", "heads": 2],
            "ffn": ["kind": "moe", "hidden": 8, "moe": ["experts": 4, "top_k": 2, "expert_hidden": 4]],
        ], at: "model")
        let train = try Self.decode(TrainConfig.self, TrainConfig.schema, ["batch_size": 3, "seq_len": 6], at: "train")
        let log = try Self.decode(LogConfig.self, LogConfig.schema, [:], at: "log")
        let data = MarkovMixture(config: MarkovMixtureConfig(sources: 3, symbols: 8, alpha: 0.5), seed: 2)
        let loop = TrainingLoop(model: model, train: train, log: log, data: data, valSequences: 7, seed: 5)
        let report = loop.evaluate(step: 0)
        let s = try #require(report.specialisation)
        #expect(s.layers == [1] && s.experts == 4 && s.sources.count == 3)
        let perExpert = (0..<4).map { e in (0..<3).reduce(0) { $0 + s.loads[$1 * 4 + e] } }
        #expect(perExpert == report.loads[1])
        #expect(s.loads.reduce(0, +) == 7 * 6 * 2)
        let labels = try #require(data.validationSources(validationSequences: 7, seqLen: 6))
        for source in 0..<3 {
            let tokens = labels.ofSequence.filter { $0 == source }.count * 6
            #expect((0..<4).reduce(0) { $0 + s.loads[source * 4 + $1] } == tokens * 2, "source \(source)")
        }
        #expect(s.mutualInformation.count == 1 && s.mutualInformation[0] >= 0 && s.mutualInformation[0] <= Foundation.log(3.0) + 1e-12)
    }
}
