// End-to-end training through the release binary: a run file that matches its documented
// schema, kill-and-resume that is bitwise identical to a straight run, `ablate verify` across
// thread counts (and catching a tampered file), and bad input that starts no work.
import Foundation
import Testing
import TestSupport
import RunStore

/// A small MLA + MoE model with loss-free balancing and every telemetry tensor; ~1 s for 40 steps.
let tinySpec = """
name: tinyrun
model:
  vocab: 32
  d_model: 16
  n_layers: 2
  attention: {kind: mla, heads: 2, kv_rank: 8, d_nope: 4, d_rope: 4, d_v: 4}
  ffn: {kind: moe, hidden: 32, moe: {experts: 4, top_k: 2, expert_hidden: 8, balance: {loss_free: {enabled: true}}}}
data: {kind: markov_mixture, markov_mixture: {sources: 2, symbols: 32}, val_sequences: 8}
train: {steps: 40, batch_size: 4, seq_len: 16, eval_every: 10}
log: {flush_every: 1, checkpoint_every: 5, tensors: {steps: [0, 20], attention_layers: [1]}}
"""

@Suite struct TrainingTests {
    let binary: String
    let directory: URL
    let spec: String

    init() throws {
        (binary, directory, spec) = try TestEnvironment.endToEnd("training", spec: tinySpec, file: "tiny.yaml")
    }

    func runDirectory(_ runs: String) throws -> String {
        let base = directory.appendingPathComponent(runs).appendingPathComponent("tinyrun")
        let ids = try FileManager.default.contentsOfDirectory(atPath: base.path)
        #expect(ids.count == 1)
        return base.appendingPathComponent(ids[0]).path
    }

    @Test func runWritesADocumentedRunFileAndASummary() throws {
        let result = try runProcess(binary, ["run", spec, "--runs", directory.appendingPathComponent("a").path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("completed after 40 steps"))
        #expect(result.stdout.contains("optimum"))
        let run = try runDirectory("a")
        let check = try runProcess(try TestEnvironment.python(), [
            TestEnvironment.packageRoot.appendingPathComponent("scripts/check-run-file.py").path,
            TestEnvironment.packageRoot.appendingPathComponent("docs/hdf5-schema.md").path,
            run + "/run.h5", "--partial"])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        let reader = try RunFileReader(path: run + "/run.h5")
        defer { reader.close() }
        #expect(try reader.status() == .completed)
        let eval = try reader.evalMetrics()
        #expect(eval.steps == [9, 19, 29, 39])
        let optimum = eval.columns["optimum"]!.last!, loss = eval.columns["loss"]!.last!
        #expect(optimum > 0 && loss > optimum, "eval loss \(loss) must stay above the Bayes optimum \(optimum)")
        #expect(try reader.tensorNames().sorted() == ["attention_layer_1", "ckv_spectrum_layer_0", "ckv_spectrum_layer_1",
                                                      "router_layer_0", "router_layer_1", "source_loads", "source_mi"])
        // Specialisation telemetry at every evaluation, its axes named and its sources labelled.
        let sourceLoads = try reader.tensor("source_loads")
        #expect(sourceLoads.steps == [9, 19, 29, 39] && sourceLoads.axes == ["layer", "source", "expert"])
        #expect(sourceLoads.labels["source"]?.count == sourceLoads.shape[1] && sourceLoads.labels["layer"]?.count == sourceLoads.shape[0])
        let bias = try reader.moeLayers()[0].bias
        #expect(bias.suffix(4).contains { $0 != 0 }, "loss-free balancing must move the bias")
        // Every step's CPU time: positive, and no more than the threads could use in its wall
        // time (tokens / tokens_per_s), with 5 ms of clock granularity to spare.
        let train = try reader.trainMetrics()
        let cpu = try #require(train.columns["cpu_s"]), speed = try #require(train.columns["tokens_per_s"])
        let threads = Double(ProcessInfo.processInfo.activeProcessorCount)
        #expect(cpu.count == 40)
        for (c, v) in zip(cpu, speed) {
            #expect(c > 0 && c <= threads * 64 / v + 0.005, "cpu_s \(c) against a wall time of \(64 / v) s at \(threads) threads")
        }
        // The run log says how long the process took to reach step 0.
        let log = try String(contentsOfFile: run + "/run.log", encoding: .utf8)
        let startup = try #require(log.split(separator: "\n").first { $0.contains("start-up ") }, "no start-up line in\n\(log)")
        let seconds = try #require(Double(startup.split(separator: " ").drop { $0 != "start-up" }.dropFirst().first ?? ""))
        #expect(seconds > 0 && seconds < 60 && startup.contains("to step 0;"), "\(startup)")
        // Running the same spec again finds the completed run and does nothing.
        let again = try runProcess(binary, ["run", spec, "--runs", directory.appendingPathComponent("a").path])
        #expect(again.status == 0)
        #expect(again.stdout.contains("already completed"))
    }

    /// A SIGKILL after step 17, then `ablate resume`: every metric, MoE series, tensor and the
    /// final state equal those of a straight run, bit for bit.
    @Test func killAndResumeIsBitwiseIdentical() throws {
        let straight = try runProcess(binary, ["run", spec, "--runs", directory.appendingPathComponent("straight").path, "--quiet"])
        #expect(straight.status == 0, "\(straight.stderr)")

        let runs = directory.appendingPathComponent("killed").path
        // run.log gets a line per flushed step; kill once step 18 of 40 (0-based 17) is logged.
        let killed = try runKilledAt("step 18/40", binary, ["run", spec, "--runs", runs, "--quiet"], runs: runs, name: "tinyrun")
        #expect(killed, "the run finished or hung before step 18 could be killed")
        let run = try runDirectory("killed")
        let partial = try RunFileReader(path: run + "/run.h5")
        #expect(try partial.status() == .running)   // killed: never got to write a status
        let stepsBefore = try partial.trainMetrics().steps.count
        partial.close()
        #expect(stepsBefore >= 18 && stepsBefore < 40, "\(stepsBefore) steps were flushed")

        let resumed = try runProcess(binary, ["resume", run, "--quiet"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stdout.contains("completed after 40 steps"))
        let a = try RunFileReader(path: try runDirectory("straight") + "/run.h5")
        let b = try RunFileReader(path: run + "/run.h5")
        defer { a.close(); b.close() }
        let comparison = try RunComparison.compare(a, b)
        #expect(comparison.entries.count > 100)
        for entry in comparison.entries where !entry.identical {
            Issue.record("\(entry.name) differs after kill and resume: \(entry.detail)")
        }
    }

    @Test func verifyAcrossThreadCountsAndCatchesTampering() throws {
        let runs = directory.appendingPathComponent("verify").path
        let run1 = try runProcess(binary, ["run", spec, "--runs", runs, "--quiet", "--threads", "2"])
        #expect(run1.status == 0, "\(run1.stderr)")
        let run = try runDirectory("verify")
        let verified = try runProcess(binary, ["verify", run, "--threads", "1"])
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
        #expect(verified.stdout.contains("verified: 40 step(s) bitwise identical"))
        let partial = try runProcess(binary, ["verify", run, "--steps", "13", "--threads", "2"])
        #expect(partial.status == 0, "\(partial.stdout)\(partial.stderr)")

        // Change one logged loss by one ulp: verify must notice.
        let tamper = try runPython("""
        import sys, h5py, numpy as np
        with h5py.File(sys.argv[1], "r+") as f:
            d = f["metrics/train/ce"]
            d[5] = np.nextafter(d[5], np.inf)
        """, [run + "/run.h5"])
        #expect(tamper.status == 0, "\(tamper.stderr)")
        let caught = try runProcess(binary, ["verify", run, "--steps", "10"])
        #expect(caught.status == 1)
        #expect(caught.stdout.contains("DIFFERENT  metrics/train/ce"), "\(caught.stdout)")
    }

    @Test func badInputStartsNoWork() throws {
        let runs = directory.appendingPathComponent("bad").path
        let broken = directory.appendingPathComponent("broken.yaml").path
        try "name: x\nmodel: {attention: {kind: mla, kv_rank: 8, d_nope: 4, d_rope: 3, d_v: 4}}\ntrain: {stepz: 3}\n"
            .write(toFile: broken, atomically: true, encoding: .utf8)
        let result = try runProcess(binary, ["run", broken, "--runs", runs])
        #expect(result.status == 2)
        #expect(result.stderr.contains("train.stepz: unknown key; did you mean 'steps'?"))
        #expect(!FileManager.default.fileExists(atPath: runs), "a refused spec must not create a run directory")

        // A missing text corpus is a clear error before any run file exists.
        let text = try runProcess(binary, ["run", spec, "data.kind=text", "data.markov_mixture=null", "model.vocab=256",
                                           "data.text={path: /nonexistent/corpus}", "--runs", runs])
        #expect(text.status != 0)
        #expect(text.stderr.contains("data.text.path: '/nonexistent/corpus' does not exist"), "\(text.stderr)")
        #expect(!FileManager.default.fileExists(atPath: runs + "/tinyrun"))
    }

    @Test func textDataTrainsAndGenerates() throws {
        let corpus = directory.appendingPathComponent("corpus")
        try FileManager.default.createDirectory(at: corpus, withIntermediateDirectories: true)
        let line = "the quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs.\n"
        try String(repeating: line, count: 60).write(to: corpus.appendingPathComponent("a.txt"), atomically: true, encoding: .utf8)
        try String(repeating: line.uppercased(), count: 20).write(to: corpus.appendingPathComponent("b.txt"), atomically: true, encoding: .utf8)
        try Data([0, 1, 2, 255]).write(to: corpus.appendingPathComponent("index.dat"))   // binary: must be excluded
        let runs = directory.appendingPathComponent("text").path
        let result = try runProcess(binary, ["run", spec, "model.vocab=256", "data={kind: text, text: {path: \(corpus.path), exclude: [.dat]}}",
                                             "train.steps=60", "--runs", runs, "--quiet"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("completed after 60 steps"))
        let run = try runDirectory("text")
        let sample = try runProcess(binary, ["generate", run, "--prompt", "the quick", "--tokens", "20", "--temperature", "0"])
        #expect(sample.status == 0, "\(sample.stderr)")
        #expect(sample.stdout.count > 1, "20 generated bytes (possibly spaces) and a newline")
        let again = try runProcess(binary, ["generate", run, "--prompt", "the quick", "--tokens", "20", "--temperature", "0"])
        #expect(again.stdout == sample.stdout, "greedy sampling must be deterministic")

        // The run file records the corpus hash (a.txt then b.txt, index.dat excluded) ...
        let hashed = try runProcess("/bin/sh", ["-c", "cat a.txt b.txt | sha256sum"], directory: corpus)
        let expected = String(hashed.stdout.prefix(64))
        do {
            let reader = try RunFileReader(path: run + "/run.h5")
            defer { reader.close() }
            #expect(try reader.attributes().run.dataSHA256 == expected, "sha256sum gave \(hashed.stdout)")
        }
        // ... and verify refuses a corpus that changed since, naming why, before re-executing.
        try String(repeating: "an edited line\n", count: 40).write(to: corpus.appendingPathComponent("b.txt"), atomically: true, encoding: .utf8)
        let verify = try runProcess(binary, ["verify", run])
        #expect(verify.status != 0)
        #expect(verify.stderr.contains("was trained on data with sha256 \(expected)"), "\(verify.stderr)")
        #expect(verify.stderr.contains("the data changed; refusing to verify it on other data"), "\(verify.stderr)")

        // Without the exclusion the binary file is refused by name, before any run starts.
        let refused = try runProcess(binary, ["run", spec, "model.vocab=256", "data={kind: text, text: {path: \(corpus.path)}}",
                                              "train.steps=60", "--runs", runs + "2"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("index.dat' is not UTF-8 text"), "\(refused.stderr)")
    }

    /// A diverging run ends with status `diverged` and the step, not a crash.
    @Test func divergenceIsRecorded() throws {
        let runs = directory.appendingPathComponent("diverge").path
        let result = try runProcess(binary, ["run", spec, "train.optimizer.lr=1000", "train.optimizer.clip=0",
                                             "train.schedule={kind: constant, warmup: 0}", "train.divergence_loss=8",
                                             "--runs", runs, "--quiet"])
        #expect(result.status == 3, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("diverged"))
        let reader = try RunFileReader(path: try runDirectory("diverge") + "/run.h5")
        defer { reader.close() }
        let attributes = try reader.attributes()
        #expect(attributes.status == .diverged)
        #expect(attributes.divergedStep >= 0 && attributes.divergedStep < 40)
        #expect(attributes.error.contains("training loss"))
    }

    @Test func unwritableRunsDirectoryIsAClearError() throws {
        let blocker = directory.appendingPathComponent("not-a-directory")
        try Data("x".utf8).write(to: blocker)
        let result = try runProcess(binary, ["run", spec, "--runs", blocker.path, "--quiet"])
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("error: "), "\(result.stderr)")
        #expect(result.stderr.contains(blocker.path))
    }
}
