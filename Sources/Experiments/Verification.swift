// `ablate verify`: re-executes a run from its stored spec in a temporary directory and checks,
// dataset by dataset, that every logged metric and the final state are bitwise identical; then
// re-executes again with a stop halfway and a resume, and checks that too.
import Foundation
import RunStore
import Tensor
import Training

public enum Verification {
    public struct Report: Sendable {
        public var runDirectory: String
        public var steps: Int
        /// (what was compared, the comparison)
        public var checks: [(String, RunComparison)]
        public var identical: Bool { checks.allSatisfy { $0.1.identical } }
    }

    /// Verifies the run in `runDirectory` over its first `steps` steps (all when nil), with the
    /// kernels on `threads` threads and the `isa` path (the current settings when nil).
    public static func verify(runDirectory: String, steps requested: Int?, threads: Int?, isa: ISA? = nil,
                              progress: (String) -> Void = { _ in }) throws -> Report {
        let file = URL(fileURLWithPath: runDirectory).appendingPathComponent("run.h5").path
        let original = try RunFileReader(path: file)
        defer { original.close() }
        let spec = try SpecLoader.fromResolved(try original.spec().resolved, source: file + ":/spec/resolved")
        let cell = spec.cells[0]
        let total = cell.train.steps
        let steps = min(requested ?? total, total)
        let recorded = try original.trainMetrics().steps.count
        guard recorded >= steps else {
            throw GenerationError("'\(file)' has \(recorded) logged steps; cannot verify \(steps) (finish the run or pass --steps ≤ \(recorded))")
        }
        // The same spec on another copy of its corpus cannot give the same bits: say so up front.
        let data = try DataSources.make(cell.data, runSeed: cell.seed, seqLen: cell.train.seqLen, vocab: cell.model.vocab)
        try RunFileWriter.checkData(recorded: try original.attributes().run.dataSHA256, current: data.contentSHA256,
                                    path: file, doing: "verify it")
        if let threads { Parallel.threads = threads }
        if let isa { ISA.active = isa }
        let used = Parallel.threads
        let recordedISA = (try? original.attributes().run.isa) ?? "unknown"
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("ablate-verify-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let partial = steps < total

        // 1. Straight re-execution of the first `steps` steps.
        progress("re-executing \(steps) step(s) on \(used) thread(s), kernel path \(ISA.active.rawValue) (the run file was made on \(recordedISA))…")
        let straight = scratch.appendingPathComponent("straight").path
        _ = try Runner.run(cell: cell, spec: spec, runs: straight, threads: used, shouldStop: stopper(after: steps))
        let straightFile = RunPaths(runs: straight, spec: spec.name, runID: cell.runID).file
        let replay = try RunFileReader(path: straightFile)
        defer { replay.close() }
        var checks = [("original vs re-executed", try RunComparison.compare(original, replay, steps: partial ? steps : nil))]

        // 2. Stop halfway, resume, finish: must equal the straight re-execution.
        let half = max(1, steps / 2)
        progress("re-executing with a stop after step \(half) and a resume…")
        let resumed = scratch.appendingPathComponent("resumed").path
        _ = try Runner.run(cell: cell, spec: spec, runs: resumed, threads: used, shouldStop: stopper(after: half))
        if half < steps {
            _ = try Runner.run(cell: cell, spec: spec, runs: resumed, threads: used, shouldStop: stopper(after: steps - half))
        }
        let resumedReader = try RunFileReader(path: RunPaths(runs: resumed, spec: spec.name, runID: cell.runID).file)
        defer { resumedReader.close() }
        checks.append(("re-executed vs stopped at \(half) and resumed", try RunComparison.compare(replay, resumedReader)))
        return Report(runDirectory: runDirectory, steps: steps, checks: checks)
    }

    /// A `shouldStop` that says yes after `count` steps of this invocation.
    static func stopper(after count: Int) -> () -> Bool {
        final class Counter: @unchecked Sendable { var value = 0 }
        let counter = Counter()
        return {
            counter.value += 1
            return counter.value >= count
        }
    }
}
