// The Slurm executor: one sbatch job array per submission, one array task per pending cell,
// each task running `ablate run-cell SWEEP_DIR` with its index from $SLURM_ARRAY_TASK_ID.
// The script is written into <sweep>/slurm/ and kept, so what ran is always on disk.
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

public enum SlurmExecutor {
    public struct Submission: Sendable {
        public var jobID: String
        public var script: String
    }

    /// The sbatch script for `indices` of the sweep in `sweepDirectory`.
    public static func script(executable: String, sweepDirectory: String, specName: String, indices: [Int],
                              settings: SlurmSettings) -> String {
        let logs = URL(fileURLWithPath: sweepDirectory).appendingPathComponent("slurm").path
        var lines = ["#!/bin/bash", "#SBATCH --job-name=ablate-\(specName)"]
        lines.append("#SBATCH --array=" + indices.map(String.init).joined(separator: ",")
                     + (settings.maxParallel.map { "%\($0)" } ?? ""))
        lines.append("#SBATCH --cpus-per-task=\(settings.cpusPerTask)")
        lines.append("#SBATCH --ntasks=1")
        if let partition = settings.partition { lines.append("#SBATCH --partition=\(partition)") }
        if let time = settings.time { lines.append("#SBATCH --time=\(time)") }
        lines.append("#SBATCH --output=\(logs)/%A_%a.out")
        lines.append("# One array task per cell of \(sweepDirectory)/sweep.json; the task id is the cell index.")
        lines.append("exec \(shellQuote(executable)) run-cell \(shellQuote(sweepDirectory)) --index \"$SLURM_ARRAY_TASK_ID\" --threads \(settings.cpusPerTask) --quiet")
        return lines.joined(separator: "\n") + "\n"
    }

    /// Writes the script and submits it with `sbatch --parsable`; records the job id in sweep.json.
    public static func submit(executable: String, sweepDirectory: String, indices: [Int],
                              options settings: SlurmSettings) throws -> Submission {
        var manifest = try SweepManifest.read(directory: sweepDirectory)
        let folder = URL(fileURLWithPath: sweepDirectory).appendingPathComponent("slurm")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let stamp = Int(Date().timeIntervalSince1970)
        let scriptPath = folder.appendingPathComponent("sweep-\(stamp).sbatch").path
        try script(executable: executable, sweepDirectory: sweepDirectory, specName: manifest.spec, indices: indices,
                   settings: settings).write(toFile: scriptPath, atomically: true, encoding: .utf8)
        let result = try runTool("sbatch", ["--parsable", scriptPath])
        guard result.status == 0 else {
            throw SweepError("sbatch failed (exit \(result.status)): \(result.output.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        let jobID = String(result.output.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ";").first ?? "")
        guard !jobID.isEmpty else { throw SweepError("sbatch printed no job id: \(result.output)") }
        manifest.slurmJobs.append(jobID)
        try manifest.write(directory: sweepDirectory)
        return Submission(jobID: jobID, script: scriptPath)
    }

    /// States Slurm reports for the array tasks of `jobs`: cell index → (state, exit code).
    public static func taskStates(jobs: [String]) -> [Int: (state: String, exitCode: String?)] {
        var states: [Int: (String, String?)] = [:]
        for job in jobs {
            if let queue = try? runTool("squeue", ["-h", "-r", "-j", job, "-o", "%i %T"]), queue.status == 0 {
                for line in queue.output.split(separator: "\n") {
                    let parts = line.split(separator: " ")
                    guard parts.count == 2, let index = parts[0].split(separator: "_").last.flatMap({ Int($0) }) else { continue }
                    states[index] = (String(parts[1]), nil)
                }
            }
            if let shown = try? runTool("scontrol", ["-o", "show", "job", job]), shown.status == 0 {
                for line in shown.output.split(separator: "\n") {
                    let fields = Dictionary(line.split(separator: " ").compactMap { field -> (String, String)? in
                        guard let eq = field.firstIndex(of: "=") else { return nil }
                        return (String(field[..<eq]), String(field[field.index(after: eq)...]))
                    }, uniquingKeysWith: { a, _ in a })
                    guard let task = fields["ArrayTaskId"].flatMap({ Int($0) }), let state = fields["JobState"] else { continue }
                    states[task] = (state, fields["ExitCode"])
                }
            }
        }
        return states
    }

    static func runTool(_ tool: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    static func shellQuote(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
