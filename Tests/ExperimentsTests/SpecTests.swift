import Config
import Foundation
import Testing
import TestSupport
@testable import Experiments

/// Writes spec files into a fresh directory.
struct SpecFolder {
    let url: URL
    init() throws { url = try TestEnvironment.temporaryDirectory("specs") }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        let path = url.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}

let tinyModel = """
model:
  vocab: 64
  d_model: 16
  n_layers: 2
  attention: {kind: mha, heads: 2}
  ffn: {kind: dense, hidden: 32}
"""

@Suite struct SpecTests {
    @Test func sha256MatchesStandardVectors() {
        #expect(SHA256.hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(SHA256.hex(String(repeating: "a", count: 1000)).hasPrefix("41edece42d63e8d9bf515a9ba6932e1c"))
    }

    @Test func defaultsOverridesAndExtendsResolve() throws {
        let folder = try SpecFolder()
        try folder.write("base.yaml", "name: base\n" + tinyModel + "\ntrain: {steps: 10, seq_len: 16}\n")
        let child = try folder.write("child.yaml", """
        extends: base.yaml
        name: child
        train: {batch_size: 4}
        """)
        let spec = try SpecLoader.load(child, overrides: ["model.ffn.hidden=48", "train.optimizer.lr=1e-3"])
        #expect(spec.name == "child")
        #expect(spec.cells.count == 1)
        let cell = spec.cells[0]
        #expect(cell.model.ffn.hidden == 48)
        #expect(cell.model.dModel == 16)           // from the parent
        #expect(cell.train.steps == 10)            // parent's
        #expect(cell.train.batchSize == 4)         // child's
        #expect(cell.train.optimizer.lr == 1e-3)   // override, YAML-typed
        #expect(cell.train.optimizer.betas == [0.9, 0.95])  // default
        #expect(cell.runID.count == 12)
    }

    @Test func runIDsFollowContentNotSpelling() throws {
        let folder = try SpecFolder()
        let a = try folder.write("a.yaml", "name: x\n" + tinyModel + "\ntrain: {optimizer: {lr: 1}}\n")
        let b = try folder.write("b.yaml", "name: x\ndescription: ''\n" + tinyModel + "\ntrain: {optimizer: {lr: 1.0}}\nseeds: [0]\n")
        let c = try folder.write("c.yaml", "name: x\n" + tinyModel + "\ntrain: {optimizer: {lr: 1.5}}\n")
        let idA = try SpecLoader.load(a).cells[0].runID
        #expect(idA == (try SpecLoader.load(b).cells[0].runID))  // 1 and 1.0, explicit defaults: same spec
        #expect(idA != (try SpecLoader.load(c).cells[0].runID))
        #expect(idA != (try SpecLoader.load(a, overrides: ["seeds=[1]"]).cells[0].runID))
    }

    @Test func sweepExpandsInTheDocumentedOrder() throws {
        let folder = try SpecFolder()
        let path = try folder.write("sweep.yaml", "name: s\n" + tinyModel + """

        seeds: [0, 1]
        sweep:
          cells:
            - {model.ffn.hidden: 32}
            - {model.ffn.hidden: 64}
          grid:
            model.d_model: [16, 32]
            model.attention.heads: [2, 4]
        """)
        let spec = try SpecLoader.load(path)
        #expect(spec.cells.count == 2 * 4 * 2)
        let order = spec.cells.map { cell in
            "\(cell.model.ffn.hidden)/\(cell.model.attention.heads)/\(cell.model.dModel)/\(cell.seed)"
        }
        // cells outermost, then grid axes in sorted order (attention.heads before d_model), seeds innermost.
        #expect(Array(order.prefix(5)) == ["32/2/16/0", "32/2/16/1", "32/2/32/0", "32/2/32/1", "32/4/16/0"])
        #expect(order.last == "64/4/32/1")
        #expect(Set(spec.cells.map(\.runID)).count == spec.cells.count)
        #expect(spec.varyingKeys == ["model.ffn.hidden", "model.attention.heads", "model.d_model", "seed"])
        #expect(spec.cells[0].label == "ffn.hidden=32,attention.heads=2,model.d_model=16,seed=0")
    }

    @Test func zipTakesListsTogether() throws {
        let folder = try SpecFolder()
        let path = try folder.write("zip.yaml", "name: z\n" + tinyModel + """

        sweep:
          zip:
            model.d_model: [16, 32, 64]
            model.ffn.hidden: [32, 64, 128]
        """)
        let cells = try SpecLoader.load(path).cells
        #expect(cells.map { "\($0.model.dModel)-\($0.model.ffn.hidden)" } == ["16-32", "32-64", "64-128"])
    }

    /// Each broken spec must be refused before any work, with a message naming the file and key.
    static let broken: [(name: String, text: String, overrides: [String], expected: [String])] = [
        ("syntax", "name: x\nmodel: {d_model: 16\n", [], ["syntax.yaml", "not valid YAML"]),
        ("tabs", "name: x\nmodel:\n\t d_model: 16\n", [], ["not valid YAML"]),
        ("not-a-map", "- a\n- b\n", [], ["must be a mapping"]),
        ("missing-name", tinyModel, [], ["name: required key is missing"]),
        ("bad-name", "name: a/b\n" + tinyModel, [], ["name: expected a non-empty name"]),
        ("unknown-top", "name: x\nmodle: {}\n", [], ["modle: unknown key; did you mean 'model'?"]),
        ("unknown-nested", "name: x\nmodel: {d_modle: 8}\n", [], ["model.d_modle: unknown key; did you mean 'd_model'?"]),
        ("wrong-type", "name: x\nmodel: {n_layers: two}\n", [], ["model.n_layers: expected integer ≥ 1, got a string"]),
        ("negative", "name: x\ntrain: {steps: -5}\n", [], ["train.steps: expected an integer ≥ 1, got -5"]),
        ("bad-choice", "name: x\nmodel: {attention: {kind: mla2}}\n", [], ["model.attention.kind: expected one of"]),
        ("lr-zero", "name: x\ntrain: {optimizer: {lr: 0}}\n", [], ["train.optimizer.lr: expected a number > 0"]),
        ("topk", "name: x\n" + tinyModel + "\n", ["model.ffn.kind=moe", "model.ffn.moe={experts: 2, top_k: 3}"],
         ["model.ffn.moe.top_k: must be ≤ experts (2), got 3"]),
        ("heads", "name: x\nmodel: {d_model: 16, attention: {kind: gqa, heads: 4, n_kv_heads: 3}}\n", [],
         ["model.attention.n_kv_heads: must divide heads (4), got 3"]),
        ("odd-rope", "name: x\nmodel: {attention: {kind: mla, kv_rank: 8, d_nope: 4, d_rope: 3, d_v: 4}}\n", [],
         ["model.attention.d_rope: must be even"]),
        ("mla-on-mha", "name: x\nmodel: {attention: {kind: mha, kv_rank: 8}}\n", [],
         ["model.attention.kv_rank: is an mla key; attention.kind is mha"]),
        ("groups", "name: x\nmodel: {ffn: {kind: moe, moe: {experts: 6, router: {groups: 4}}}}\n", [],
         ["model.ffn.moe.router.groups: must divide"]),
        ("topk-groups", "name: x\nmodel: {ffn: {kind: moe, moe: {experts: 8, router: {groups: 2, topk_groups: 3}}}}\n", [],
         ["model.ffn.moe.router.topk_groups: must be ≤ groups (2)"]),
        ("micro", "name: x\ntrain: {batch_size: 6, micro_batches: 4}\n", [], ["train.micro_batches: must divide batch_size (6)"]),
        ("vocab", "name: x\nmodel: {vocab: 16}\ndata: {kind: markov_mixture}\n", [], ["model.vocab: must be ≥ 64"]),
        ("missing-extends", "name: x\nextends: nowhere.yaml\n", [], ["nowhere.yaml", "no such spec file"]),
        ("zip-lengths", "name: x\nsweep: {zip: {model.d_model: [16, 32], model.ffn.hidden: [8]}}\n", [],
         ["sweep.zip: lists must have equal lengths"]),
        ("sweep-cell-bad", "name: x\nsweep: {grid: {model.d_model: [16, -1]}}\n", [],
         ["sweep cell 1: model.d_model=-1", "model.d_model: expected an integer ≥ 2, got -1"]),
        ("bad-override", "name: x\n", ["model.d_model"], ["command line: model.d_model: expected key.path=value"]),
        ("override-unknown", "name: x\n", ["model.dmodel=8"], ["model.dmodel: unknown key; did you mean 'd_model'?"]),
        ("duplicate-key", "name: x\nname: y\n", [], ["duplicated key(s): 'name'"]),
        ("text-kind-without-path", "name: x\nmodel: {vocab: 256}\ndata: {kind: text}\n", [], ["data.text.path: required"]),
        ("wrong-section-keys", "name: x\ndata: {kind: markov_mixture, mqar: {pairs: 4}}\n", [], ["data.mqar: is set but data.kind is markov_mixture"]),
        ("duplicate-seeds", "name: x\nseeds: [1, 1]\n", [], ["seeds: seeds must be distinct"]),
    ]

    @Test func brokenSpecsAreRefusedWithClearMessages() throws {
        let folder = try SpecFolder()
        #expect(Self.broken.count >= 20)
        for (name, text, overrides, expected) in Self.broken {
            let path = try folder.write("\(name).yaml", text)
            do {
                _ = try SpecLoader.load(path, overrides: overrides)
                Issue.record("\(name): accepted a broken spec")
            } catch {
                let message = error.description
                for fragment in expected {
                    #expect(message.contains(fragment), "\(name): '\(fragment)' not in: \(message)")
                }
            }
        }
    }

    @Test func missingCorpusIsAnInputProblemOfItsCell() throws {
        let folder = try SpecFolder()
        let path = try folder.write("corpus.yaml", "name: x\nmodel: {vocab: 256}\ndata: {kind: text, text: {path: no-such-corpus}}\n")
        let spec = try SpecLoader.load(path)
        let problems = spec.cells[0].inputProblems(file: path)
        #expect(problems.count == 1)
        #expect(problems.first?.description == "\(path): data.text.path: '\(folder.url.path)/no-such-corpus' does not exist")
    }

    @Test func allProblemsAreReportedTogether() throws {
        let folder = try SpecFolder()
        let path = try folder.write("many.yaml", "name: x\nmodel: {d_modle: 8, n_layers: 0}\ntrain: {stepz: 3}\n")
        do {
            _ = try SpecLoader.load(path)
            Issue.record("accepted")
        } catch {
            #expect(error.problems.count == 3, "\(error)")
            #expect(error.problems.allSatisfy { $0.file == path })
        }
    }

    @Test func resolvedSpecRoundTripsThroughYAML() throws {
        let folder = try SpecFolder()
        let path = try folder.write("rt.yaml", "name: rt\n" + tinyModel + "\n")
        let spec = try SpecLoader.load(path)
        let text = YAMLText.emit(spec.cells[0].resolved)
        let reread = try YAMLReader.parse(text, file: "emitted")
        #expect(reread == spec.cells[0].resolved)
    }
}

@Suite struct SpecReferenceTests {
    /// Guards against documentation drifting from the schema the loader enforces.
    @Test func docsSpecReferenceMatchesTheSchema() throws {
        let path = TestEnvironment.packageRoot.appendingPathComponent("docs/spec-reference.md").path
        let onDisk = try String(contentsOfFile: path, encoding: .utf8)
        #expect(onDisk == SpecReference.markdown(),
                "docs/spec-reference.md is stale: run `.build/release/ablate reference > docs/spec-reference.md`")
        for key in ["model.d_model", "model.rope.theta", "model.attention.kv_rank", "model.ffn.moe.router.score",
                    "data.kind", "train.steps", "train.batch_size", "train.seq_len", "train.optimizer.lr",
                    "train.eval_every", "log.flush_every", "log.checkpoint_every", "seeds"] {
            #expect(onDisk.contains("| `\(key)` |"), "\(key) missing from the reference")
        }
    }
}
