// The Slurm executor: one sbatch job array per submission, one array task per pending cell,
// each task running `ablate run-cell SWEEP_DIR` with its index from $SLURM_ARRAY_TASK_ID.
// The script is written into <sweep>/slurm/ and kept, so what ran is always on disk. Each task
// writes its output to <sweep>/slurm/<job>_<index>.out and its exit code to
// <sweep>/slurm/<job>_<index>.exit, so a task's outcome is known after Slurm forgets the job
// (without slurmdbd, `scontrol show job` keeps finished jobs only for MinJobAge, ~300 s).
import Foundation
import RunStore

public struct SlurmSettings: Sendable {
    public var partition: String?
    public var time: String?
    public var cpusPerTask: Int
    public var maxParallel: Int?

    public init(partition: String? = nil, time: String? = nil, cpusPerTask: Int = 1, maxParallel: Int? = nil) {
        self.partition = partition
        self.time = time
        self.cpusPerTask = cpusPerTask
        self.maxParallel = maxParallel
    }
}

/// What is known of one array task (one cell) of a Slurm job.
public struct SlurmTask: Sendable, Equatable {
    /// The array job id (the number sbatch printed).
    public var jobID: String
    public var index: Int
    /// Slurm's state in capitals (PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, …), or
    /// `EXITED` when only the task's exit file is left.
    public var state: String
    /// Exit code of the task's script, when it ended normally.
    public var exitCode: Int?
    /// Signal that ended the task, when one did.
    public var signal: Int?
    /// The task's output file (stdout and stderr).
    public var log: String

    /// Queued or running: Slurm will still run (or is running) this cell.
    public var isActive: Bool { SlurmTask.activeStates.contains(state) }

    static let activeStates: Set<String> = ["PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED",
                                            "REQUEUE_FED", "REQUEUE_HOLD", "RESIZING", "SIGNALING", "STAGE_OUT",
                                            "STOPPED", "RESV_DEL_HOLD", "SPECIAL_EXIT"]

    /// "exit code 1", "signal 9", or Slurm's state when neither is known.
    public var outcome: String {
        if let signal, signal != 0 { return "signal \(signal)" + (state == "EXITED" ? "" : " (\(state))") }
        if let exitCode { return "exit code \(exitCode)" + (state == "EXITED" || state == "FAILED" || state == "COMPLETED" ? "" : " (\(state))") }
        return state
    }
}

public enum SlurmExecutor {
    public struct Submission: Sendable {
        public var jobID: String
        public var script: String
    }

    /// The folder of a sweep's sbatch scripts, task outputs and exit files.
    public static func folder(sweepDirectory: String) -> String {
        URL(fileURLWithPath: sweepDirectory).appendingPathComponent("slurm").path
    }

    /// "0-3,5,7-8": sorted indices as Slurm's --array ranges.
    public static func arrayRanges(_ indices: [Int]) -> String {
        var parts: [String] = []
        var sorted = Array(Set(indices)).sorted()[...]
        while let first = sorted.popFirst() {
            var last = first
            while sorted.first == last + 1 { last = sorted.popFirst()! }
            parts.append(last == first ? "\(first)" : last == first + 1 ? "\(first),\(last)" : "\(first)-\(last)")
        }
        return parts.joined(separator: ",")
    }

    /// The sbatch script for `indices` of the sweep in `sweepDirectory`.
    public static func script(executable: String, sweepDirectory: String, specName: String, indices: [Int],
                              settings: SlurmSettings) -> String {
        let logs = folder(sweepDirectory: sweepDirectory)
        var lines = ["#!/bin/bash", "#SBATCH --job-name=ablate-\(specName)"]
        lines.append("#SBATCH --array=" + arrayRanges(indices) + (settings.maxParallel.map { "%\($0)" } ?? ""))
        lines.append("#SBATCH --ntasks=1")
        lines.append("#SBATCH --cpus-per-task=\(settings.cpusPerTask)")
        if let partition = settings.partition { lines.append("#SBATCH --partition=\(partition)") }
        if let time = settings.time { lines.append("#SBATCH --time=\(time)") }
        lines.append("#SBATCH --output=\(logs)/%A_%a.out")
        // Preemption and `scontrol requeue` put the task back in the queue; its output continues.
        lines.append("#SBATCH --requeue")
        lines.append("#SBATCH --open-mode=append")
        lines += [
            "# One array task per cell of \(sweepDirectory)/sweep.json; the task id is the cell index.",
            "# Written and submitted by `ablate sweep --executor slurm`; follow it with `ablate status \(sweepDirectory)`.",
            "# The exit code is also written beside the output, so it is known after Slurm forgets the job.",
            "# scancel, --time and preemption send SIGTERM: the cell checkpoints within KillWait and ends",
            "# interrupted (exit 130); a requeued task resumes it from that checkpoint.",
            "# the trap keeps this shell alive meanwhile, so that it still records the exit code.",
            "trap 'true' TERM INT",
            "\(shellQuote(executable)) run-cell \(shellQuote(sweepDirectory)) --index \"$SLURM_ARRAY_TASK_ID\" --threads \(settings.cpusPerTask) --quiet",
            "code=$?",
            "echo \"$code\" > \(shellQuote(logs))/\"${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}.exit\"",
            "exit \"$code\"",
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    /// Writes the script and submits it with `sbatch --parsable`; records the job id in sweep.json.
    public static func submit(executable: String, sweepDirectory: String, indices: [Int],
                              options settings: SlurmSettings) throws -> Submission {
        var manifest = try SweepManifest.read(directory: sweepDirectory)
        let folder = URL(fileURLWithPath: folder(sweepDirectory: sweepDirectory))
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        let stamp = formatter.string(from: Date())
        var scriptPath = folder.appendingPathComponent("sweep-\(stamp).sbatch").path
        var counter = 1
        while FileManager.default.fileExists(atPath: scriptPath) {
            counter += 1
            scriptPath = folder.appendingPathComponent("sweep-\(stamp)-\(counter).sbatch").path
        }
        try script(executable: executable, sweepDirectory: sweepDirectory, specName: manifest.spec, indices: indices,
                   settings: settings).write(toFile: scriptPath, atomically: true, encoding: .utf8)
        let result: ToolResult
        do {
            result = try runTool("sbatch", ["--parsable", scriptPath], timeout: 300)
        } catch {
            throw SweepError("cannot run sbatch: \(error)")
        }
        guard result.status == 0 else {
            let message = (result.stderr + result.stdout).trimmingCharacters(in: .whitespacesAndNewlines)
            if result.status == 127 { throw SweepError("sbatch is not installed (or not on PATH): \(message)") }
            throw SweepError("sbatch failed (exit \(result.status)): \(message); script: \(scriptPath)")
        }
        // --parsable prints "<job id>" or "<job id>;<cluster>"; warnings go to stderr.
        let lastLine = result.stdout.split(separator: "\n").last.map(String.init) ?? ""
        let jobID = String(lastLine.trimmingCharacters(in: .whitespaces).split(separator: ";").first ?? "")
        guard !jobID.isEmpty, jobID.allSatisfy(\.isNumber) else {
            throw SweepError("sbatch printed no job id: \(result.stdout)\(result.stderr)")
        }
        manifest.slurmJobs.append(jobID)
        try manifest.write(directory: sweepDirectory)
        return Submission(jobID: jobID, script: scriptPath)
    }

    /// What Slurm (squeue, then `scontrol -o show job`) and the tasks' exit files say about the
    /// array tasks of `jobs`: cell index → task. A later job wins over an earlier one for the
    /// same index.
    public static func tasks(jobs: [String], sweepDirectory: String) -> [Int: SlurmTask] {
        let logs = folder(sweepDirectory: sweepDirectory)
        var result: [Int: SlurmTask] = [:]
        for job in jobs {
            var found: [Int: SlurmTask] = [:]
            func task(_ index: Int) -> SlurmTask {
                found[index] ?? SlurmTask(jobID: job, index: index, state: "UNKNOWN", log: "\(logs)/\(job)_\(index).out")
            }
            // 1. Exit files the tasks wrote (the only record once Slurm forgot the job).
            let prefix = "\(job)_"
            for name in (try? FileManager.default.contentsOfDirectory(atPath: logs)) ?? []
            where name.hasPrefix(prefix) && name.hasSuffix(".exit") {
                guard let index = Int(name.dropFirst(prefix.count).dropLast(".exit".count)) else { continue }
                var entry = task(index)
                entry.state = "EXITED"
                entry.exitCode = (try? String(contentsOfFile: "\(logs)/\(name)", encoding: .utf8))
                    .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
                found[index] = entry
            }
            // 2. squeue: one line per task (-r), pending ones included.
            if let queue = try? runTool("squeue", ["-h", "-r", "-j", job, "-o", "%i %T"]), queue.status == 0 {
                for line in queue.stdout.split(separator: "\n") {
                    let parts = line.split(separator: " ")
                    guard parts.count == 2, let index = parts[0].split(separator: "_").last.flatMap({ Int($0) }) else { continue }
                    var entry = task(index)
                    entry.state = String(parts[1])
                    found[index] = entry
                }
            }
            // 3. scontrol: states, exit codes and output paths, finished tasks included (for a while).
            if let shown = try? runTool("scontrol", ["-o", "show", "job", job]), shown.status == 0 {
                for line in shown.stdout.split(separator: "\n") {
                    let fields = parseFields(line)
                    guard let state = fields["JobState"], let taskIDs = fields["ArrayTaskId"] else { continue }
                    let indices = expandArrayRanges(taskIDs)
                    for index in indices {
                        var entry = task(index)
                        // A pending record covers several tasks; never let it hide a finished exit file.
                        if indices.count > 1 && entry.state != "UNKNOWN" { continue }
                        entry.state = state
                        if let code = fields["ExitCode"] {
                            let numbers = code.split(separator: ":").map { Int($0) }
                            if SlurmTask.activeStates.contains(state) {
                                entry.exitCode = nil
                            } else if numbers.count == 2, let exit = numbers[0], let signal = numbers[1] {
                                entry.exitCode = signal == 0 ? exit : nil
                                entry.signal = signal == 0 ? nil : signal
                            }
                        }
                        if indices.count == 1, let out = fields["StdOut"], !out.isEmpty { entry.log = out }
                        found[index] = entry
                    }
                }
            }
            for (index, entry) in found { result[index] = entry }
        }
        return result
    }

    /// Cells of `jobs` that Slurm still has queued or running: index → array job id.
    public static func activeTasks(jobs: [String], sweepDirectory: String) -> [Int: String] {
        tasks(jobs: jobs, sweepDirectory: sweepDirectory).filter { $0.value.isActive }.mapValues(\.jobID)
    }

    /// "Key=Value Key=Value …" (scontrol -o) as a dictionary; a value runs up to the next " Key=".
    static func parseFields(_ line: Substring) -> [String: String] {
        var fields: [String: String] = [:]
        var key: String?
        var value = ""
        for word in line.split(separator: " ", omittingEmptySubsequences: false) {
            if let eq = word.firstIndex(of: "="), word[..<eq].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "/" || $0 == ":" || $0 == "_" }),
               !word[..<eq].isEmpty {
                if let key { fields[key] = value }
                key = String(word[..<eq])
                value = String(word[word.index(after: eq)...])
            } else if key != nil {
                value += " " + word
            }
        }
        if let key { fields[key] = value.trimmingCharacters(in: .whitespaces) }
        return fields
    }

    /// "0-3,5,7%2" → [0, 1, 2, 3, 5, 7].
    static func expandArrayRanges(_ text: String) -> [Int] {
        let body = text.split(separator: "%").first ?? ""
        return body.split(separator: ",").flatMap { part -> [Int] in
            let bounds = part.split(separator: "-").compactMap { Int($0) }
            if bounds.count == 2, bounds[0] <= bounds[1] { return Array(bounds[0]...bounds[1]) }
            if bounds.count == 1, !part.contains("-") { return bounds }
            return []
        }
    }

    struct ToolResult {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs a Slurm client tool found on PATH (exit 127 when it is not installed). A tool that
    /// has not answered after `timeout` seconds (a controller that does not answer, a missing
    /// configuration: Slurm clients retry for minutes) is stopped and counts as failed, so that
    /// `ablate status` never hangs on Slurm.
    static func runTool(_ tool: String, _ arguments: [String], timeout: TimeInterval = 20) throws -> ToolResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool] + arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let pid = process.processIdentifier
        let watchdog = DispatchWorkItem { kill(pid, SIGKILL) }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
        defer { watchdog.cancel() }
        // Drain stderr on another thread so that neither pipe can fill up and block the tool.
        let errorData = ErrorBox()
        let reader = Thread { errorData.set(err.fileHandleForReading.readDataToEndOfFile()) }
        reader.start()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return ToolResult(status: process.terminationStatus, stdout: String(decoding: data, as: UTF8.self),
                          stderr: String(decoding: errorData.wait(), as: UTF8.self))
    }

    private final class ErrorBox: @unchecked Sendable {
        private let done = DispatchSemaphore(value: 0)
        private var data = Data()
        func set(_ value: Data) { data = value; done.signal() }
        func wait() -> Data { done.wait(); return data }
    }

    static func shellQuote(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}

extension SweepPlan {
    /// Reconciles a new plan with the Slurm jobs of the previous one, and returns the cells those
    /// jobs still have queued or running (index → job id), which must not be started again.
    ///
    /// When the cells are the same ones (same run ids) the job ids are kept, so `ablate status`
    /// still finds their tasks. A task that ended without success before its run file said so (or
    /// before there was one) makes its cell failed: it reruns only with --retry-failed, like a
    /// failed local cell. A cancelled task (scancel) is not a failure: its cell runs again.
    /// When the plan changed (other run ids) the old jobs are dropped, but only once none of them
    /// is still queued or running; otherwise this throws.
    public static func reconcileSlurmJobs(previous: SweepManifest?, into manifest: inout SweepManifest,
                                          directory: String) throws -> [Int: String] {
        guard let previous, !previous.slurmJobs.isEmpty else { return [:] }
        let tasks = SlurmExecutor.tasks(jobs: previous.slurmJobs, sweepDirectory: directory)
        let active = tasks.filter { $0.value.isActive }.mapValues(\.jobID)
        if previous.cells.map(\.runID) == manifest.cells.map(\.runID) {
            manifest.slurmJobs = previous.slurmJobs
            for position in manifest.cells.indices {
                guard let task = tasks[manifest.cells[position].index], !task.isActive,
                      [.pending, .running].contains(manifest.cells[position].state) else { continue }
                let succeeded = task.state == "COMPLETED" || (task.state == "EXITED" && task.exitCode == 0)
                if !succeeded && task.state != "CANCELLED" {
                    manifest.cells[position].state = .failed
                    manifest.cells[position].exitCode = task.exitCode ?? task.signal.map { 128 + $0 }
                }
            }
            return active
        }
        if !active.isEmpty {
            let jobs = Set(active.values).sorted().joined(separator: ", ")
            throw CommandFailure("the spec changed, but Slurm job(s) \(jobs) of the previous plan of '\(directory)' are still queued or running; wait for them or `scancel \(jobs)`, then run again")
        }
        return [:]
    }
}
