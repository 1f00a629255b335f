// Sweeps through the release binary: cells run as processes, completed cells are skipped,
// incomplete ones resume, failed ones rerun only on request, Ctrl-C leaves cells interrupted
// and resumable, and `ablate status` shows it all.
import Foundation
import Testing
import TestSupport
import RunStore

/// A tiny MLA + MoE model on a Markov mixture: the model and data of the sweep suites.
let tinyMLAMoEModelAndData = """
model:
  vocab: 32
  d_model: 16
  n_layers: 2
  attention: {kind: mla, heads: 2, kv_rank: 8, d_nope: 4, d_rope: 4, d_v: 4}
  ffn: {kind: moe, hidden: 32, moe: {experts: 4, top_k: 2, expert_hidden: 8}}
data: {kind: markov_mixture, markov_mixture: {sources: 2, symbols: 32}, val_sequences: 8}

"""

let sweepSpec = "name: tinysweep\n" + tinyMLAMoEModelAndData + """
train: {steps: 30, batch_size: 4, seq_len: 16, eval_every: 10}
log: {flush_every: 5, checkpoint_every: 10}
seeds: [0, 1]
sweep:
  grid:
    model.ffn.moe.balance.loss_free.enabled: [false, true]
"""

@Suite struct SweepTests {
    let binary: String
    let directory: URL
    let spec: String

    init() throws {
        (binary, directory, spec) = try TestEnvironment.endToEnd("sweep", spec: sweepSpec, file: "sweep.yaml")
    }

    func manifest(_ runs: String) throws -> SweepManifest {
        try SweepManifest.read(directory: runs + "/tinysweep")
    }

    @Test func runsSkipsAndResumesCells() throws {
        let runs = directory.appendingPathComponent("runs").path
        let first = try runProcess(binary, ["sweep", spec, "--runs", runs, "--jobs", "2"])
        #expect(first.status == 0, "\(first.stdout)\(first.stderr)")
        #expect(first.stdout.contains("4 cell(s) — 4 pending"))
        #expect(first.stdout.contains("4/4 cell(s) finished, 0 failed"))
        let planned = try manifest(runs)
        #expect(planned.cells.map(\.state) == [.completed, .completed, .completed, .completed])
        #expect(planned.varyingKeys == ["model.ffn.moe.balance.loss_free.enabled", "seed"])
        #expect(planned.cells.map(\.label) == ["loss_free.enabled=false,seed=0", "loss_free.enabled=false,seed=1",
                                               "loss_free.enabled=true,seed=0", "loss_free.enabled=true,seed=1"])

        // Everything done: a second sweep runs nothing.
        let second = try runProcess(binary, ["sweep", spec, "--runs", runs])
        #expect(second.status == 0)
        #expect(second.stdout.contains("nothing to run"))

        // A cell made incomplete (marked interrupted after its step-9 checkpoint) is resumed.
        let cell = planned.cells[3]
        let fileA = "\(runs)/tinysweep/\(cell.runFile)"
        let before = try Data(contentsOf: URL(fileURLWithPath: fileA))
        try before.write(to: URL(fileURLWithPath: directory.appendingPathComponent("reference.h5").path))
        let reopen = try runPython("""
        import sys, h5py
        with h5py.File(sys.argv[1], "r+") as f:
            f.attrs["status"] = "interrupted"
        """, [fileA])
        #expect(reopen.status == 0, "\(reopen.stderr)")
        let third = try runProcess(binary, ["sweep", spec, "--runs", runs])
        #expect(third.stdout.contains("3 completed, 1 interrupted"), "\(third.stdout)")
        #expect(third.stdout.contains("cell 3 \(cell.runID)"))
        let a = try RunFileReader(path: directory.appendingPathComponent("reference.h5").path)
        let b = try RunFileReader(path: fileA)
        defer { a.close(); b.close() }
        #expect(try RunComparison.compare(a, b).identical, "the resumed cell must equal its first run bit for bit")

        let status = try runProcess(binary, ["status", "\(runs)/tinysweep"])
        #expect(status.status == 0)
        #expect(status.stdout.contains("4 completed"))
        #expect(status.stdout.contains("30/30"))
    }

    @Test func failedCellsRerunOnlyWhenAsked() throws {
        let runs = directory.appendingPathComponent("failing").path
        // Plan the sweep, then make cell 1's run file unreadable garbage: it counts as failed.
        let plan = try runProcess(binary, ["sweep", spec, "--runs", runs, "seeds=[0]"])
        #expect(plan.status == 0, "\(plan.stderr)")
        let cells = try manifest(runs).cells
        #expect(cells.count == 2)
        try Data("not hdf5".utf8).write(to: URL(fileURLWithPath: "\(runs)/tinysweep/\(cells[1].runFile)"))
        let again = try runProcess(binary, ["sweep", spec, "--runs", runs, "seeds=[0]"])
        #expect(again.stdout.contains("1 completed, 1 failed"), "\(again.stdout)")
        #expect(again.stdout.contains("nothing to run (failed cells rerun with --retry-failed)"))
        let status = try runProcess(binary, ["status", "\(runs)/tinysweep"])
        #expect(status.stdout.contains("failed"), "\(status.stdout)")

        try FileManager.default.removeItem(atPath: "\(runs)/tinysweep/\(cells[1].runFile)")
        let retried = try runProcess(binary, ["sweep", spec, "--runs", runs, "seeds=[0]", "--retry-failed"])
        #expect(retried.status == 0, "\(retried.stdout)\(retried.stderr)")
        #expect(try manifest(runs).cells.map(\.state) == [.completed, .completed])
    }

    /// A rebuild while a sweep runs replaces (or deletes) the binary at its path: the cells still
    /// start, and run the sweep's own binary (/proc/self/exe), not whatever the path holds now.
    @Test func cellsStartAfterTheSweepsBinaryIsDeleted() throws {
        let runs = directory.appendingPathComponent("deleted-binary").path
        let copy = directory.appendingPathComponent("ablate-copy").path
        try FileManager.default.copyItem(atPath: binary, toPath: copy)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: copy)
        process.arguments = ["sweep", spec, "--runs", runs, "--jobs", "1"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        try FileManager.default.removeItem(atPath: copy)   // before the sweep starts its first cell
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(text)")
        #expect(try manifest(runs).cells.map(\.state) == Array(repeating: .completed, count: 4), "\(text)")
    }

    @Test func interruptLeavesCellsResumable() throws {
        let runs = directory.appendingPathComponent("interrupted").path
        let long = directory.appendingPathComponent("long.yaml").path
        try sweepSpec.replacingOccurrences(of: "steps: 30,", with: "steps: 1000000,")
            .write(toFile: long, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["sweep", long, "--runs", runs, "--jobs", "2", "seeds=[0]"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Wait until both cells have logged progress, then Ctrl-C the sweep.
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let logs = (try? FileManager.default.contentsOfDirectory(atPath: runs + "/tinysweep")) ?? []
            let started = logs.filter { (try? String(contentsOfFile: "\(runs)/tinysweep/\($0)/run.log", encoding: .utf8))?.contains("step 10/") == true }
            if started.count == 2 { break }
            usleep(20_000)
        }
        kill(process.processIdentifier, SIGINT)
        // Bounded wait: a sweep that ignores Ctrl-C must fail the test, not hang CI.
        let stopDeadline = Date().addingTimeInterval(60)
        while process.isRunning && Date() < stopDeadline { usleep(20_000) }
        if process.isRunning {
            Issue.record("the sweep did not stop within 60 s of SIGINT")
            kill(process.processIdentifier, SIGKILL)
            _ = try? runProcess("/usr/bin/pkill", ["-9", "-f", runs])
        }
        process.waitUntilExit()
        #expect(process.terminationStatus == 130)
        let cells = try manifest(runs).cells
        #expect(cells.map(\.state) == [.interrupted, .interrupted], "\(cells.map(\.state))")
        for cell in cells {
            let reader = try RunFileReader(path: "\(runs)/tinysweep/\(cell.runFile)")
            #expect(try reader.status() == .interrupted)
            #expect(try reader.checkpoint() != nil, "an interrupted cell must have checkpointed")
            reader.close()
        }
    }
}
