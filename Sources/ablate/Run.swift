import ArgumentParser
import Experiments
import Foundation
import RunStore
import Synchronization
import Tensor

/// Set by SIGINT/SIGTERM; polled by the training loop after every step.
let stopRequested = Atomic<Bool>(false)

func installStopHandlers() {
    signal(SIGINT) { _ in stopRequested.store(true, ordering: .relaxed) }
    signal(SIGTERM) { _ in stopRequested.store(true, ordering: .relaxed) }
    // A parent (a test runner, a job launcher) may have left these blocked in the mask we
    // inherited; Ctrl-C must reach us.
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, SIGINT)
    sigaddset(&set, SIGTERM)
    pthread_sigmask(SIG_UNBLOCK, &set, nil)
}

/// Trains `cell` (new or resumed), prints its summary, and turns the outcome into the exit
/// code: 130 interrupted, 3 diverged, 1 failed.
func trainAndReport(cell: Cell, spec: Spec, runs: String, threads: Int, options: TrainingOptions) throws {
    installStopHandlers()
    do {
        let summary = try Runner.run(cell: cell, spec: spec, runs: runs, threads: threads,
                                     shouldStop: { stopRequested.load(ordering: .relaxed) },
                                     notice: { if !options.quiet { print("note: \($0)") } },
                                     progress: options.progressPrinter(every: cell.log.flushEvery))
        printSummary(summary)
        if summary.status == .interrupted { throw ExitCode(130) }
        if summary.status == .diverged && !summary.alreadyDone { throw ExitCode(3) }
    } catch let error as ExitCode {
        throw error
    } catch let stopped as RunStopped {
        exitWithoutHDF5Cleanup("\(stopped.message)", code: stopped.exitCode)
    } catch {
        if let failure = StorageFailure(error, path: runs) {
            exitWithoutHDF5Cleanup("\(failure.isDiskFull ? "disk full" : "write failed"): \(error)", code: failure.isDiskFull ? 4 : 1)
        }
        throw fail("\(error)")
    }
}

/// One line on stderr, then `_exit`: after a refused write, HDF5's atexit cleanup would flush
/// (and may crash on) the file this process abandoned.
func exitWithoutHDF5Cleanup(_ message: String, code: Int32) -> Never {
    let line = "error: " + message.replacingOccurrences(of: "\n", with: " ") + "\n"
    fflush(nil)
    FileHandle.standardError.write(Data(line.utf8))
    _exit(code)
}

func printSummary(_ summary: RunSummary) {
    func number(_ x: Double, _ digits: Int = 4) -> String { x.isFinite ? String(format: "%.\(digits)f", x) : "n/a" }
    if summary.alreadyDone { print("already \(summary.status.rawValue): nothing to run") }
    print("run \(summary.runID) (\(summary.label)): \(summary.status.rawValue) after \(summary.steps) steps")
    print("  final eval loss \(number(summary.finalEvalLoss))   optimum \(number(summary.optimum))   gap \(number(summary.gap))")
    if summary.accuracy.isFinite { print("  accuracy \(number(summary.accuracy, 3))") }
    print("  MaxVio_global \(number(summary.maxVioGlobal, 3))   tokens/s \(number(summary.tokensPerSecond, 0))")
    print("  run file: \(summary.path)")
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train one spec (the first cell of its sweep, or --cell N) into a run file.",
        discussion: """
        Writes <runs>/<spec name>/<run id>/run.h5 (schema: docs/hdf5-schema.md) and run.log. A \
        run directory that already holds an incomplete run of the same spec is resumed from its \
        last checkpoint; a completed one is left alone. Ctrl-C checkpoints and marks the run \
        interrupted; run the same command (or `ablate resume`) to continue.
        """)

    @OptionGroup var target: SpecArguments

    @Option(help: "Which cell of the sweep to run (index as listed by `ablate validate`).")
    var cell = 0

    @Option(help: "Directory that holds runs (<runs>/<spec name>/<run id>/).")
    var runs = "runs"

    @OptionGroup var options: TrainingOptions

    func run() throws {
        let loaded = try target.load()
        let chosen = try target.cell(cell, of: loaded)
        try requireInputs([chosen], spec: loaded)
        try requireMemory([chosen])
        let threads = options.applyThreads()
        if !options.quiet {
            print("run \(chosen.runID) (\(chosen.label)) of \(loaded.name): \(chosen.train.steps) steps, \(threads) thread(s), kernels \(ISA.active.rawValue)")
        }
        try trainAndReport(cell: chosen, spec: loaded, runs: runs, threads: threads, options: options)
    }
}

struct Resume: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Continue an interrupted or killed run from its last checkpoint.",
        discussion: "RUN_DIR is <runs>/<spec name>/<run id>; the run's own stored spec is used.")

    @Argument(help: "The run directory (holding run.h5).")
    var runDir: String

    @OptionGroup var options: TrainingOptions

    func run() throws {
        let file = URL(fileURLWithPath: runDir).appendingPathComponent("run.h5").path
        let spec: Spec
        do {
            // A run file damaged by a full disk is restored from checkpoint.h5 first.
            if let restored = try CheckpointCopy.restoreIfNeeded(runFile: file), !options.quiet { print("note: \(restored)") }
            let reader = try RunFileReader(path: file)
            let texts = try reader.spec()
            reader.close()
            spec = try SpecLoader.fromResolved(texts.resolved, source: file + ":/spec/resolved")
        } catch {
            throw fail("cannot resume '\(runDir)': \(error)")
        }
        let cell = spec.cells[0]
        try requireMemory([cell])
        let directory = URL(fileURLWithPath: runDir).standardizedFileURL
        guard directory.lastPathComponent == cell.runID else {
            throw fail("'\(runDir)' holds run \(cell.runID) of this build's spec hashing; the directory is named \(directory.lastPathComponent) (was it renamed, or written by another ablate version?)")
        }
        let runs = directory.deletingLastPathComponent().deletingLastPathComponent().path
        try trainAndReport(cell: cell, spec: spec, runs: runs, threads: options.applyThreads(), options: options)
    }
}
