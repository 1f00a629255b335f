import Analysis
import ArgumentParser
import Config
import Experiments
import Foundation
import RunStore
import Tensor

struct Sweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run every cell of a spec's sweep (× seeds): skip completed cells, resume incomplete ones.",
        discussion: """
        Cells run as separate processes, --jobs at a time, each with --threads kernel threads \
        (default: cores / jobs, so jobs × threads ≤ cores). Completed (and diverged) cells are \
        skipped; interrupted or killed ones resume from their checkpoints; failed ones rerun only \
        with --retry-failed. The plan and states are in <runs>/<spec name>/sweep.json. Ctrl-C \
        stops cleanly: running cells checkpoint and are marked interrupted. A cell whose spec \
        changed gets a new run id, so old results are never mixed in.

        With --executor slurm the cells to run become one sbatch job array (task id = cell \
        index), written to <runs>/<spec name>/slurm/ and submitted; cells a previous submission \
        still has queued or running are not submitted again. See docs/slurm.md.
        """)

    @OptionGroup var target: SpecArguments

    @Option(help: "Directory that holds runs.")
    var runs = "runs"

    @Option(help: "Cells run at the same time.")
    var jobs = 1

    @Option(help: "Kernel threads per cell (default: cores / jobs).")
    var threads: Int?

    @Flag(help: "Run failed cells again.")
    var retryFailed = false

    @Flag(help: "Print no progress (cells starting and ending); only the final line and errors.")
    var quiet = false

    @Option(help: "Where cells run: local (child processes) or slurm (a job array).")
    var executor: ExecutorKind = .local

    @OptionGroup var slurm: SlurmOptions

    enum ExecutorKind: String, ExpressibleByArgument { case local, slurm }

    func validate() throws {
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") }
        if executor == .slurm {
            guard threads == nil else { throw ValidationError("--threads is for local cells; Slurm tasks use --cpus-per-task threads") }
            guard slurm.cpusPerTask >= 1 else { throw ValidationError("--cpus-per-task must be at least 1") }
            if let maxParallel = slurm.maxParallel, maxParallel < 1 { throw ValidationError("--max-parallel must be at least 1") }
        } else if slurm.partition != nil || slurm.time != nil || slurm.maxParallel != nil || slurm.cpusPerTask != 1 {
            throw ValidationError("--partition, --time, --cpus-per-task and --max-parallel need --executor slurm")
        }
        if let threads {
            guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
            let cores = ProcessInfo.processInfo.activeProcessorCount
            guard executor == .slurm || jobs * threads <= cores else {
                throw ValidationError("--jobs \(jobs) × --threads \(threads) exceeds the \(cores) cores of this machine")
            }
        }
    }

    func run() throws {
        let loaded = try target.load()
        // The loader has checked the tune block already.
        guard let tune = (try? loaded.tune()) ?? nil else {
            try exit(sweepOnce(loaded))
            return
        }
        // Tuning first: every variant at every grid point on the tuning seeds (docs/tuning.md).
        let tuningSpec = try derived { try Tuning.writeTuningSpec(loaded, tune: tune, runs: runs) }
        say("tuning \(loaded.name): \(tune.paths.joined(separator: ", ")) over \(tune.points.count) point(s) × \(tune.seeds.count) tuning seed(s) per variant")
        let tuning = try sweepOnce(tuningSpec)
        if tuning.submitted {
            print("the evaluation sweep starts when the tuning has finished: run `ablate sweep \(target.spec)` again then")
            return
        }
        // Diverged tuning runs are fine (that point loses); failed or interrupted ones are not.
        guard !tuning.stopped, tuning.failed == 0 else { try exit(tuning); return }
        let directory = SweepPlan.directory(runs: runs, spec: tuningSpec)
        let choices = try derived {
            try Tuning.choose(loaded, tune: tune, tuning: try SweepData.load(directory: directory, manifest: try SweepManifest.read(directory: directory)))
        }
        for choice in choices { say("tuned " + Tuning.summary(choice, tune: tune)) }
        let evaluation = try derived { try Tuning.writeEvaluationSpec(loaded, tune: tune, choices: choices, runs: runs) }
        try exit(sweepOnce(evaluation))
    }

    /// A derived sweep's spec problems exit 2 (as the spec's own would); anything else exits 1.
    func derived<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let errors as ConfigErrors {
            throw reportProblems(errors.problems)
        } catch {
            throw fail("\(error)")
        }
    }

    /// How one sweep ended.
    struct Outcome {
        var failed = 0, diverged = 0
        var stopped = false, submitted = false
    }

    /// Exit codes (ablate --help): interrupted 130, a failed cell 1, a diverged cell 3.
    func exit(_ outcome: Outcome) throws {
        if outcome.stopped { throw ExitCode(130) }
        if outcome.failed > 0 { throw ExitCode(1) }
        if outcome.diverged > 0 { throw ExitCode(3) }
    }

    /// Plans `loaded`'s sweep, then runs (or submits) the cells still to run.
    func sweepOnce(_ loaded: Spec) throws -> Outcome {
        // Before any file exists: every cell (and --jobs of them at once) must fit in memory.
        // Slurm tasks check their own memory (against --mem) when they start.
        if executor == .local { try requireMemory(loaded.cells, jobs: jobs) }
        let directory = SweepPlan.directory(runs: runs, spec: loaded)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        guard let lock = SweepLock(directory: directory) else {
            throw fail("another `ablate sweep` is running on '\(directory)'")
        }
        defer { lock.release() }
        let previous = try? SweepManifest.read(directory: directory)
        var manifest = SweepPlan.manifest(for: loaded, runs: runs)
        // Cells that Slurm still has queued or running are never started a second time.
        let inSlurm = try orFail { try SweepPlan.reconcileSlurmJobs(previous: previous, into: &manifest, directory: directory) }
        try manifest.write(directory: directory)
        let todo = manifest.cells.filter { SweepPlan.needsRun($0.state, retryFailed: retryFailed) && inSlurm[$0.index] == nil }
            .map(\.index)
        let counts = Dictionary(grouping: manifest.cells, by: \.state).mapValues(\.count)
        say("sweep \(loaded.name): \(manifest.cells.count) cell(s) — " + SweepManifest.State.allCases.compactMap { state in
            counts[state].map { "\($0) \(state.rawValue)" } }.joined(separator: ", "))
        if !inSlurm.isEmpty {
            let jobs = Set(inSlurm.values).sorted().joined(separator: ", ")
            say("\(inSlurm.count) cell(s) still queued or running in Slurm job(s) \(jobs): not started again")
        }
        if todo.isEmpty {
            print("nothing to run" + (counts[.failed] != nil ? " (failed cells rerun with --retry-failed)" : ""))
            return Outcome(failed: counts[.failed] ?? 0, diverged: counts[.diverged] ?? 0, submitted: !inSlurm.isEmpty)
        }
        try requireInputs(loaded.cells.filter { todo.contains($0.index) }, spec: loaded)
        if executor == .slurm {
            try submitToSlurm(manifest: manifest, directory: directory, indices: todo)
            return Outcome(submitted: true)
        }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let perCell = threads ?? max(1, cores / jobs)
        say("running \(todo.count) cell(s), \(jobs) at a time, \(perCell) thread(s) each")
        installStopHandlers()
        let executor = LocalExecutor(executable: localCellExecutable(), sweepDirectory: directory, manifest: manifest,
                                     jobs: jobs, threads: perCell)
        do {
            try executor.run(todo, shouldStop: { stopRequested.load(ordering: .relaxed) }) { line in say(line); fflush(nil) }
        } catch {
            throw fail("\(error)")
        }
        let final = executor.manifest
        let failed = final.cells.filter { $0.state == .failed }
        let diverged = final.cells.filter { $0.state == .diverged }
        let done = final.cells.filter { $0.state == .completed || $0.state == .diverged }.count
        print("sweep \(loaded.name): \(done)/\(final.cells.count) cell(s) finished, \(failed.count) failed, \(diverged.count) diverged — `ablate status \(directory)`")
        return Outcome(failed: failed.count, diverged: diverged.count, stopped: stopRequested.load(ordering: .relaxed))
    }

    /// Progress output, silenced by --quiet.
    func say(_ line: String) { if !quiet { print(line) } }

    func submitToSlurm(manifest: SweepManifest, directory: String, indices: [Int]) throws {
        do {
            let submission = try SlurmExecutor.submit(executable: currentExecutable(), sweepDirectory: directory,
                                                      indices: indices, options: slurm.settings)
            print("submitted job array \(submission.jobID) (\(indices.count) task(s)); script: \(submission.script)")
            print("follow it with `ablate status \(directory)`")
        } catch {
            throw fail("\(error)")
        }
    }
}

/// The binary a local sweep's cells run: /proc/self/exe, which is the very file this process
/// runs even after its path was replaced or deleted (a rebuild while a sweep runs), so every
/// cell runs the sweep's own binary; the resolved path where there is no /proc.
func localCellExecutable() -> String {
    FileManager.default.isExecutableFile(atPath: "/proc/self/exe") ? "/proc/self/exe" : currentExecutable()
}

/// The absolute path of the running `ablate` binary (Slurm tasks, on other nodes, run the file
/// at this path).
func currentExecutable() -> String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
        ?? URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
}

struct RunCell: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run-cell",
        abstract: "Run one cell of a planned sweep by index (used by `ablate sweep` and Slurm array tasks).",
        shouldDisplay: false)

    @Argument(help: "The sweep directory (<runs>/<spec name>, holding sweep.json).")
    var sweepDir: String

    @Option(help: "Cell index (default: $SLURM_ARRAY_TASK_ID).")
    var index: Int?

    /// --threads defaults to $SLURM_CPUS_PER_TASK, else all cores.
    @OptionGroup var options: TrainingOptions

    /// Set by the local executor, whose `ablate sweep` checked every cell's memory (with --jobs)
    /// on this machine before it started any: the cell skips the check's dry steps.
    @Flag(help: .hidden) var memoryChecked = false

    func run() throws {
        let environment = ProcessInfo.processInfo.environment
        guard let cellIndex = index ?? environment["SLURM_ARRAY_TASK_ID"].flatMap(Int.init) else {
            throw fail("no cell index: pass --index or run as a Slurm array task", code: 2)
        }
        if let count = options.threads ?? environment["SLURM_CPUS_PER_TASK"].flatMap(Int.init) { Parallel.threads = max(1, count) }
        let spec: Spec, cell: Cell
        do {
            (spec, cell) = try SweepPlan.cell(sweepDirectory: sweepDir, index: cellIndex)
        } catch {
            throw fail("\(error)")
        }
        if !memoryChecked { try requireMemory([cell]) }
        let runs = URL(fileURLWithPath: sweepDir).standardizedFileURL.deletingLastPathComponent().path
        try trainAndReport(cell: cell, spec: spec, runs: runs, threads: Parallel.threads, options: options)
    }
}

/// Options of the Slurm executor (`ablate sweep --executor slurm`).
struct SlurmOptions: ParsableArguments {
    @Option(help: "Slurm partition (default: the cluster's default).")
    var partition: String?

    @Option(help: "Slurm time limit per cell, e.g. 01:00:00.")
    var time: String?

    @Option(help: "CPUs per array task (the cell's kernel threads).")
    var cpusPerTask = 1

    @Option(help: "At most this many array tasks at once.")
    var maxParallel: Int?

    var settings: SlurmSettings {
        SlurmSettings(partition: partition, time: time, cpusPerTask: cpusPerTask, maxParallel: maxParallel)
    }
}
