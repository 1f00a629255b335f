// The Slurm round trip against a real one-node cluster, and a requeued (preempted) task resuming (scripts/slurm-cluster.sh: munged,
// slurmctld and slurmd on loopback): a 4-cell sweep submitted with `ablate sweep --executor
// slurm` completes and is bitwise identical to the same cells run locally; a cell that fails at
// run time shows as failed in `ablate status` with its exit code and log, is not resubmitted
// without --retry-failed, and completes when retried; cancelled cells are submitted again. The
// cluster is always torn down.
//
// Needs root and the Debian packages slurmctld slurmd slurm-client munge (.ci/run installs
// them and sets ABLATE_REQUIRE_SLURM=1, so CI never skips this); skipped elsewhere when they
// are missing.
import Foundation
import Testing
import TestSupport
import RunStore

enum SlurmCluster {
    static let tools = ["sbatch", "squeue", "scontrol", "sinfo", "slurmctld", "slurmd", "munged"]

    static func find(_ tool: String) -> String? {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "") + ":/usr/sbin:/sbin"
        return path.split(separator: ":").map { "\($0)/\(tool)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static var missing: [String] { tools.filter { find($0) == nil } }
    static var required: Bool { ProcessInfo.processInfo.environment["ABLATE_REQUIRE_SLURM"] == "1" }
    /// Run when Slurm is installed and we are root — or always, when CI requires it.
    static var available: Bool { required || (missing.isEmpty && getuid() == 0) }
    static var skipReason: Comment {
        Comment(rawValue: missing.isEmpty
            ? "the local Slurm cluster needs root (slurmd, SlurmUser=root)"
            : "Slurm is not installed (missing \(missing.joined(separator: ", "))): apt-get install --no-install-recommends slurmctld slurmd slurm-client munge")
    }

    static let script = TestEnvironment.packageRoot.appendingPathComponent("scripts/slurm-cluster.sh").path

    /// Starts a cluster under a fresh directory, runs `body` with its environment (SLURM_CONF),
    /// and always stops it.
    static func with(_ body: ([String: String], URL) throws -> Void) throws {
        let directory = try TestEnvironment.temporaryDirectory("slurm")
        let clusterDirectory = directory.appendingPathComponent("cluster")
        let started = Date()
        let start = try runProcess("/bin/bash", [script, "start", clusterDirectory.path])
        defer {
            let stopped = try? runProcess("/bin/bash", [script, "stop", clusterDirectory.path])
            if stopped?.status != 0 { Issue.record("stopping the Slurm cluster failed: \(stopped?.stderr ?? "")") }
            else { try? FileManager.default.removeItem(at: directory) }
        }
        guard start.status == 0, let line = start.stdout.split(separator: "\n").last, line.hasPrefix("SLURM_CONF=") else {
            throw SetupError("starting the Slurm cluster failed (exit \(start.status)):\n\(start.stdout)\(start.stderr)")
        }
        print("Slurm cluster up in \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
        try body(["SLURM_CONF": String(line.dropFirst("SLURM_CONF=".count))], directory)
    }

    /// Runs a Slurm client tool with the cluster's environment.
    @discardableResult
    static func tool(_ name: String, _ arguments: [String], _ environment: [String: String]) throws -> ProcessResult {
        let result = try runProcess(find(name) ?? "/usr/bin/\(name)", arguments, environment: environment)
        if result.status != 0 { Issue.record("\(name) \(arguments.joined(separator: " ")) failed: \(result.stderr)") }
        return result
    }

    /// Polls squeue every 0.2 s until `job` has left the queue; false after `timeout` seconds.
    static func waitUntilDone(_ job: String, _ environment: [String: String], timeout: TimeInterval = 120) throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let queue = try runProcess(find("squeue") ?? "/usr/bin/squeue", ["-h", "-j", job, "-o", "%i %T"], environment: environment)
            if queue.status == 0 && queue.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { return true }
            usleep(200_000)
        }
        return false
    }
}

/// `ablate status` rows: cell index → (state, whole line).
func statusRows(_ output: String) -> [Int: (state: String, line: String)] {
    var rows: [Int: (String, String)] = [:]
    for line in output.split(separator: "\n") {
        let words = line.split(separator: " ", omittingEmptySubsequences: true)
        // Rows are "index  run-id  state  step  loss  eval  ETA  label…"; the summary line is not.
        guard words.count >= 8, let index = Int(words[0]), words[1].count == 12 else { continue }
        rows[index] = (String(words[2]), String(line))
    }
    return rows
}

/// Four cells (kv_rank × seeds) of the tiny training spec, 40 steps each.
let slurmSweepSpec = tinySpec.replacingOccurrences(of: "name: tinyrun", with: "name: slurmsweep")
    + "\nseeds: [0, 1]\nsweep: {grid: {model.attention.kv_rank: [4, 8]}}\n"

/// Two cells reading text files (CORPUS_DIR is replaced by the absolute folder); the second file
/// is deleted after planning, so that cell fails when its task runs.
let failingSweepSpec = """
name: slurmfail
model:
  vocab: 256
  d_model: 16
  n_layers: 1
  attention: {kind: mla, heads: 2, kv_rank: 8, d_nope: 4, d_rope: 4, d_v: 4}
  ffn: {kind: dense, hidden: 32}
data: {kind: text, text: {path: good.txt}}
train: {steps: 10, batch_size: 2, seq_len: 16, eval_every: 5}
log: {flush_every: 1, checkpoint_every: 5}
sweep: {cells: [{data.text.path: CORPUS_DIR/good.txt}, {data.text.path: CORPUS_DIR/doomed.txt}]}
"""

@Suite(.serialized, .enabled(if: SlurmCluster.available, SlurmCluster.skipReason))
struct SlurmTests {
    let binary: String

    init() throws {
        binary = try TestEnvironment.ablateBinary()
    }

    @Test(.timeLimit(.minutes(5)))
    func fourCellSweepThroughSlurmIsBitwiseIdenticalToLocal() throws {
        try SlurmCluster.with { environment, directory in
            let spec = directory.appendingPathComponent("sweep.yaml").path
            try slurmSweepSpec.write(toFile: spec, atomically: true, encoding: .utf8)
            let slurmRuns = directory.appendingPathComponent("slurm-runs").path
            let sweepDirectory = slurmRuns + "/slurmsweep"

            let started = Date()
            let submitted = try runProcess(binary, ["sweep", spec, "--runs", slurmRuns, "--executor", "slurm",
                                                    "--cpus-per-task", "1", "--time", "10"], environment: environment)
            #expect(submitted.status == 0, "\(submitted.stdout)\(submitted.stderr)")
            #expect(submitted.stdout.contains("submitted job array"), "\(submitted.stdout)")
            let manifest = try SweepManifest.read(directory: sweepDirectory)
            #expect(manifest.cells.count == 4)
            let job = try #require(manifest.slurmJobs.last, "sweep.json records no Slurm job")
            let scripts = try FileManager.default.contentsOfDirectory(atPath: sweepDirectory + "/slurm").filter { $0.hasSuffix(".sbatch") }
            #expect(scripts.count == 1)
            let script = try String(contentsOfFile: sweepDirectory + "/slurm/" + scripts[0], encoding: .utf8)
            #expect(script.contains("#SBATCH --array=0-3\n"), "\(script)")

            // While the array is queued or running, a second sweep submits nothing again.
            let again = try runProcess(binary, ["sweep", spec, "--runs", slurmRuns, "--executor", "slurm"], environment: environment)
            #expect(again.status == 0, "\(again.stderr)")
            #expect(!again.stdout.contains("submitted job array"), "a cell was submitted twice: \(again.stdout)")

            #expect(try SlurmCluster.waitUntilDone(job, environment), "job \(job) did not finish within 120 s")
            print("4-cell Slurm sweep finished in \(String(format: "%.1f", Date().timeIntervalSince(started))) s")

            let status = try runProcess(binary, ["status", sweepDirectory], environment: environment)
            #expect(status.status == 0, "\(status.stderr)")
            let rows = statusRows(status.stdout)
            #expect(rows.count == 4, "\(status.stdout)")
            for index in 0..<4 {
                #expect(rows[index]?.state == "completed", "cell \(index): \(status.stdout)")
                #expect(rows[index]?.line.contains("40/40") == true, "cell \(index): \(status.stdout)")
                let out = "\(sweepDirectory)/slurm/\(job)_\(index).out"
                #expect(FileManager.default.fileExists(atPath: out), "no task output \(out)")
                #expect((try? String(contentsOfFile: "\(sweepDirectory)/slurm/\(job)_\(index).exit", encoding: .utf8)) == "0\n")
            }
            #expect(status.stdout.contains("4 completed"), "\(status.stdout)")
            let done = try runProcess(binary, ["sweep", spec, "--runs", slurmRuns, "--executor", "slurm"], environment: environment)
            #expect(done.stdout.contains("nothing to run"), "\(done.stdout)")

            // The same cells run locally give the same bits.
            let localRuns = directory.appendingPathComponent("local-runs").path
            let local = try runProcess(binary, ["sweep", spec, "--runs", localRuns, "--jobs", "2"])
            #expect(local.status == 0, "\(local.stdout)\(local.stderr)")
            let localManifest = try SweepManifest.read(directory: localRuns + "/slurmsweep")
            #expect(localManifest.cells.map(\.runID) == manifest.cells.map(\.runID))
            for cell in manifest.cells {
                let a = try RunFileReader(path: "\(sweepDirectory)/\(cell.runFile)")
                let b = try RunFileReader(path: "\(localRuns)/slurmsweep/\(cell.runFile)")
                defer { a.close(); b.close() }
                #expect(try a.status() == .completed)
                let comparison = try RunComparison.compare(a, b)
                #expect(comparison.entries.count > 50, "cell \(cell.index): only \(comparison.entries.count) datasets compared")
                for entry in comparison.entries where !entry.identical {
                    Issue.record("cell \(cell.index) (\(cell.label)): \(entry.name) differs between Slurm and local: \(entry.detail)")
                }
            }
        }
    }

    @Test(.timeLimit(.minutes(5)))
    func failedAndCancelledCellsUnderSlurm() throws {
        try SlurmCluster.with { environment, directory in
            let spec = directory.appendingPathComponent("fail.yaml").path
            try failingSweepSpec.replacingOccurrences(of: "CORPUS_DIR", with: directory.path)
                .write(toFile: spec, atomically: true, encoding: .utf8)
            let words = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "off"]
            let corpus = (0..<800).map { (i: Int) -> String in words[(i * 7 + i / 13) % words.count] }.joined(separator: " ")
            for name in ["good.txt", "doomed.txt"] {
                try corpus.write(to: directory.appendingPathComponent(name), atomically: true, encoding: .utf8)
            }
            let runs = directory.appendingPathComponent("runs").path
            let sweepDirectory = runs + "/slurmfail"

            // Drain the node so that the tasks wait while the second corpus disappears: the spec
            // is valid when planned and the cell fails when it runs.
            try SlurmCluster.tool("scontrol", ["update", "nodename=localhost", "state=drain", "reason=ablate-test"], environment)
            let submitted = try runProcess(binary, ["sweep", spec, "--runs", runs, "--executor", "slurm"], environment: environment)
            #expect(submitted.status == 0, "\(submitted.stdout)\(submitted.stderr)")
            let job = try #require(try SweepManifest.read(directory: sweepDirectory).slurmJobs.last)
            let queued = try runProcess(binary, ["status", sweepDirectory], environment: environment)
            #expect(statusRows(queued.stdout).values.map(\.state) == ["slurm:pending", "slurm:pending"], "\(queued.stdout)")
            try FileManager.default.removeItem(at: directory.appendingPathComponent("doomed.txt"))
            try SlurmCluster.tool("scontrol", ["update", "nodename=localhost", "state=resume"], environment)
            let started = Date()
            #expect(try SlurmCluster.waitUntilDone(job, environment), "job \(job) did not finish within 120 s")
            print("2-cell failing Slurm sweep finished \(String(format: "%.1f", Date().timeIntervalSince(started))) s after the node resumed")

            let status = try runProcess(binary, ["status", sweepDirectory], environment: environment)
            #expect(status.status == 0, "\(status.stderr)")
            let rows = statusRows(status.stdout)
            #expect(rows[0]?.state == "completed", "\(status.stdout)")
            #expect(rows[1]?.state == "failed", "\(status.stdout)")
            let log = "\(sweepDirectory)/slurm/\(job)_1.out"
            #expect(rows[1]?.line.contains("exit code 1; log: \(log)") == true, "\(status.stdout)")
            let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            #expect(output.contains("doomed.txt' does not exist"), "task output: \(output)")

            // The same holds once Slurm has forgotten the job (without slurmdbd it keeps finished
            // jobs ~300 s): then the task's exit file tells. Stand-in squeue/scontrol know nothing.
            let forgetful = directory.appendingPathComponent("forgetful-slurm")
            try FileManager.default.createDirectory(at: forgetful, withIntermediateDirectories: true)
            for tool in ["squeue", "scontrol"] {
                let path = forgetful.appendingPathComponent(tool).path
                try "#!/bin/sh\necho 'slurm_load_jobs error: Invalid job id specified' >&2\nexit 1\n"
                    .write(toFile: path, atomically: true, encoding: .utf8)
                chmod(path, 0o755)
            }
            let path = forgetful.path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
            let forgotten = try runProcess(binary, ["status", sweepDirectory], environment: ["PATH": path])
            #expect(statusRows(forgotten.stdout)[1]?.line.contains("exit code 1; log: \(log)") == true, "\(forgotten.stdout)")

            // A failed cell is not resubmitted without --retry-failed; with it, it runs again.
            let again = try runProcess(binary, ["sweep", spec, "--runs", runs, "--executor", "slurm"], environment: environment)
            #expect(again.stdout.contains("1 completed, 1 failed"), "\(again.stdout)")
            #expect(again.stdout.contains("nothing to run (failed cells rerun with --retry-failed)"), "\(again.stdout)")
            try corpus.write(to: directory.appendingPathComponent("doomed.txt"), atomically: true, encoding: .utf8)
            let retried = try runProcess(binary, ["sweep", spec, "--runs", runs, "--executor", "slurm", "--retry-failed"],
                                         environment: environment)
            #expect(retried.stdout.contains("(1 task(s))"), "\(retried.stdout)\(retried.stderr)")
            let retryJob = try #require(try SweepManifest.read(directory: sweepDirectory).slurmJobs.last)
            #expect(retryJob != job)
            #expect(try SlurmCluster.waitUntilDone(retryJob, environment), "job \(retryJob) did not finish within 120 s")
            let final = try runProcess(binary, ["status", sweepDirectory], environment: environment)
            #expect(statusRows(final.stdout).values.map(\.state) == ["completed", "completed"], "\(final.stdout)")

            // Cells cancelled before they ran are `cancelled`, not failed: the next sweep submits them.
            let cancelSpec = directory.appendingPathComponent("cancel.yaml").path
            try failingSweepSpec.replacingOccurrences(of: "CORPUS_DIR", with: directory.path)
                .replacingOccurrences(of: "name: slurmfail", with: "name: slurmcancel")
                .write(toFile: cancelSpec, atomically: true, encoding: .utf8)
            let cancelDirectory = runs + "/slurmcancel"
            try SlurmCluster.tool("scontrol", ["update", "nodename=localhost", "state=drain", "reason=ablate-test"], environment)
            let queuedAgain = try runProcess(binary, ["sweep", cancelSpec, "--runs", runs, "--executor", "slurm"], environment: environment)
            #expect(queuedAgain.status == 0, "\(queuedAgain.stdout)\(queuedAgain.stderr)")
            let cancelJob = try #require(try SweepManifest.read(directory: cancelDirectory).slurmJobs.last)
            try SlurmCluster.tool("scancel", [cancelJob], environment)
            #expect(try SlurmCluster.waitUntilDone(cancelJob, environment))
            let cancelled = try runProcess(binary, ["status", cancelDirectory], environment: environment)
            #expect(statusRows(cancelled.stdout).values.map(\.state) == ["cancelled", "cancelled"], "\(cancelled.stdout)")
            try SlurmCluster.tool("scontrol", ["update", "nodename=localhost", "state=resume"], environment)
            let resubmitted = try runProcess(binary, ["sweep", cancelSpec, "--runs", runs, "--executor", "slurm"], environment: environment)
            #expect(resubmitted.stdout.contains("(2 task(s))"), "\(resubmitted.stdout)\(resubmitted.stderr)")
            let resubmittedJob = try #require(try SweepManifest.read(directory: cancelDirectory).slurmJobs.last)
            #expect(try SlurmCluster.waitUntilDone(resubmittedJob, environment))
            let afterCancel = try runProcess(binary, ["status", cancelDirectory], environment: environment)
            #expect(statusRows(afterCancel.stdout).values.map(\.state) == ["completed", "completed"], "\(afterCancel.stdout)")
        }
    }
}

/// A cell long enough to be preempted mid-run (the quick start's model, 300 steps).
let preemptSpec = """
name: slurmpreempt
model:
  vocab: 64
  d_model: 32
  n_layers: 2
  attention: {kind: mla, heads: 2, kv_rank: 8, d_nope: 8, d_rope: 4, d_v: 8}
  ffn: {kind: moe, hidden: 64, moe: {experts: 4, top_k: 2, expert_hidden: 16}}
data: {kind: markov_mixture, markov_mixture: {sources: 2, symbols: 64}, val_sequences: 8}
train: {steps: 300, batch_size: 8, seq_len: 32, eval_every: 50}
log: {flush_every: 5, checkpoint_every: 20}
"""

/// In the same (serialized) suite: one cluster at a time on this machine.
extension SlurmTests {
    /// `scontrol requeue` on a running task: SIGTERM, the cell checkpoints and exits, the task
    /// runs again and resumes; it ends bitwise identical to a local run, and status shows the requeue.
    @Test(.timeLimit(.minutes(5)))
    func requeuedTaskResumesToTheSameBits() throws {
        try SlurmCluster.with { environment, directory in
            let spec = directory.appendingPathComponent("preempt.yaml").path
            try preemptSpec.write(toFile: spec, atomically: true, encoding: .utf8)
            let runs = directory.appendingPathComponent("runs").path
            let sweepDirectory = runs + "/slurmpreempt"
            let submitted = try runProcess(binary, ["sweep", spec, "--runs", runs, "--executor", "slurm"], environment: environment)
            #expect(submitted.status == 0, "\(submitted.stdout)\(submitted.stderr)")
            let manifest = try SweepManifest.read(directory: sweepDirectory)
            let job = try #require(manifest.slurmJobs.last)
            let script = try String(contentsOfFile: try #require(try FileManager.default.contentsOfDirectory(atPath: sweepDirectory + "/slurm")
                .first { $0.hasSuffix(".sbatch") }.map { sweepDirectory + "/slurm/" + $0 }), encoding: .utf8)
            #expect(script.contains("#SBATCH --requeue"), "\(script)")

            // Wait until the task has checkpointed at least once, then requeue it while it runs.
            let copy = "\(sweepDirectory)/\(manifest.cells[0].runID)/checkpoint.h5"
            let deadline = Date().addingTimeInterval(120)
            while Date() < deadline && !FileManager.default.fileExists(atPath: copy) { usleep(100_000) }
            #expect(FileManager.default.fileExists(atPath: copy), "the task never checkpointed")
            let requeue = try SlurmCluster.tool("scontrol", ["requeue", "\(job)_0"], environment)
            #expect(requeue.status == 0)
            // Slurm holds a requeued job back (BeginTime a while ahead); let it start at once.
            for _ in 0..<50 {
                usleep(200_000)
                let update = try runProcess(SlurmCluster.find("scontrol") ?? "/usr/bin/scontrol",
                                            ["update", "JobId=\(job)_0", "BeginTime=now"], environment: environment)
                if update.status == 0 { break }
            }
            #expect(try SlurmCluster.waitUntilDone(job, environment, timeout: 180), "job \(job) did not finish after the requeue")

            let reader = try RunFileReader(path: "\(sweepDirectory)/\(manifest.cells[0].runFile)")
            #expect(try reader.status() == .completed)
            #expect((try reader.writerProcess())?.requeues ?? 0 >= 1, "the run file records no requeue")
            reader.close()
            let log = try String(contentsOfFile: "\(sweepDirectory)/\(manifest.cells[0].log)", encoding: .utf8)
            #expect(log.contains("resume after step"), "the requeued task did not resume:\n\(log)")
            let status = try runProcess(binary, ["status", sweepDirectory], environment: environment)
            #expect(status.stdout.contains("requeued 1×"), "\(status.stdout)")

            let local = directory.appendingPathComponent("local").path
            let run = try runProcess(binary, ["run", spec, "--runs", local, "--quiet"])
            #expect(run.status == 0, "\(run.stderr)")
            let a = try RunFileReader(path: "\(sweepDirectory)/\(manifest.cells[0].runFile)")
            let b = try RunFileReader(path: "\(local)/slurmpreempt/\(manifest.cells[0].runFile)")
            defer { a.close(); b.close() }
            let comparison = try RunComparison.compare(a, b)
            for entry in comparison.entries where !entry.identical {
                Issue.record("\(entry.name) differs between the requeued Slurm task and a local run: \(entry.detail)")
            }
        }
    }
}
