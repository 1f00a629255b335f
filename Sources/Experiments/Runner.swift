// Running one cell: its run directory and file, a new run or a resume from the last
// checkpoint, the training loop writing into the run file, the final status, and a summary.
//
// Layout: <runs>/<spec name>/<run id>/run.h5 and run.log beside it.
import Config
import Dispatch
import Foundation
import Models
import RunStore
import Tensor
import Training

public struct RunPaths: Sendable {
    public var directory: String
    public var file: String
    public var log: String

    public init(runs: String, spec: String, runID: String) {
        directory = URL(fileURLWithPath: runs).appendingPathComponent(spec).appendingPathComponent(runID).path
        file = directory + "/run.h5"
        log = directory + "/run.log"
    }
}

/// What `ablate run` prints at the end.
public struct RunSummary: Sendable {
    public var runID: String
    public var label: String
    public var path: String
    public var status: RunStatus
    public var steps: Int
    public var finalEvalLoss: Double
    public var optimum: Double
    public var gap: Double
    public var accuracy: Double
    public var maxVioGlobal: Double
    public var tokensPerSecond: Double
    public var message: String?
    /// True when the run was already finished and nothing was run.
    public var alreadyDone: Bool
}

/// One line of progress, for a terminal line or a log line.
public struct Progress: Sendable {
    public var step: Int
    public var steps: Int
    public var loss: Double
    public var evalLoss: Double?
    public var tokensPerSecond: Double
    public var secondsLeft: Double

    public var line: String {
        let eta = secondsLeft.isFinite ? Self.duration(secondsLeft) : "?"
        let evalText = evalLoss.map { String(format: "  eval %.4f", $0) } ?? ""
        return String(format: "step %d/%d  loss %.4f", step + 1, steps, loss) + evalText
            + String(format: "  %.0f tok/s  ETA %@", tokensPerSecond, eta)
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? "\(s / 3600)h\(s % 3600 / 60)m" : s >= 60 ? "\(s / 60)m\(s % 60)s" : "\(s)s"
    }
}

public enum Runner {
    /// sha256 of the canonical resolved cell: the run file's spec_sha256.
    public static func specHash(_ cell: Cell) -> String { SHA256.hex(CanonicalJSON.encode(cell.resolved)) }

    /// Runs (or resumes) `cell` of `spec` under `runs`. A completed or diverged run is left
    /// alone (`alreadyDone`). `shouldStop` is polled after every step (Ctrl-C): the run then
    /// checkpoints and is marked interrupted.
    public static func run(cell: Cell, spec: Spec, runs: String, threads: Int,
                           shouldStop: @escaping () -> Bool = { false },
                           notice: (String) -> Void = { _ in },
                           progress: @escaping (Progress) -> Void = { _ in }) throws -> RunSummary {
        let paths = RunPaths(runs: runs, spec: spec.name, runID: cell.runID)
        let hash = specHash(cell)
        let data = try DataSources.make(cell.data, runSeed: cell.seed, seqLen: cell.train.seqLen, vocab: cell.model.vocab)

        var writer: RunFileWriter
        var state: TrainingState? = nil
        // A run file that a full disk damaged (or that was moved aside) comes back from checkpoint.h5.
        if let restored = try CheckpointCopy.restoreIfNeeded(runFile: paths.file) {
            LogFile(path: paths.log).write(restored)
            notice(restored)
        }
        if FileManager.default.fileExists(atPath: paths.file) {
            let reader = try RunFileReader(path: paths.file)
            let status = try reader.status()
            reader.close()
            if status == .completed || status == .diverged {
                return try summary(of: paths.file, cell: cell, alreadyDone: true)
            }
            let (resumed, checkpoint) = try RunFileWriter.resume(path: paths.file, specSHA256: hash, dataSHA256: data.contentSHA256)
            writer = resumed
            state = try checkpoint.map { try trainingState($0, model: cell.model, path: paths.file) }
        } else {
            let run = RunInfo(runID: cell.runID, specName: spec.name, label: cell.label, specSHA256: hash,
                              seed: cell.seed, isa: ISA.active.rawValue,
                              cpuFeatures: CPUInfo.current.featureList, kernelVersion: Kernels.version,
                              threads: threads,
                              modelStats: ["total_parameters": Int64(cell.model.totalParameters),
                                           "active_parameters": Int64(cell.model.activeParameters),
                                           "kv_cache_per_token": Int64(cell.model.kvCacheElementsPerToken),
                                           "flops_per_token": Int64(cell.model.forwardFLOPsPerToken(seqLen: cell.train.seqLen))],
                              dataSHA256: data.contentSHA256)
            let texts = SpecTexts(given: YAMLText.emit(spec.given), overrides: spec.overrides,
                                  resolved: YAMLText.emit(cell.resolved))
            writer = try RunFileWriter.create(path: paths.file, run: run, spec: texts)
        }
        let log = LogFile(path: paths.log)
        log.write("\(state == nil ? "start" : "resume after step \(state!.step)") \(cell.runID) (\(cell.label)): \(data.summary)")

        var loop = TrainingLoop(model: cell.model, train: cell.train, log: cell.log, data: data,
                                valSequences: cell.data.valSequences, seed: cell.seed, resumeFrom: state)
        let sink = RunFileSink(writer: writer, firstStep: loop.nextStep, batchTokens: cell.train.batchSize * cell.train.seqLen,
                               qkClip: cell.train.qkClip != nil, mainLayers: cell.model.nLayers)
        let started = Date()
        let firstStep = loop.nextStep
        var outcome: LoopOutcome = .completed
        do {
            outcome = try loop.run(sink: sink, shouldStop: shouldStop) { report, evaluation in
                let done = report.step + 1 - firstStep
                if done == 1, let line = startupLine(firstStep: firstStep, timing: sink.firstStep) { log.write(line) }
                let elapsed = Date().timeIntervalSince(started)
                let rate = Double(done) / max(elapsed, 1e-9)
                let line = Progress(step: report.step, steps: cell.train.steps, loss: report.total,
                                    evalLoss: evaluation?.loss, tokensPerSecond: sink.recentTokensPerSecond,
                                    secondsLeft: Double(cell.train.steps - report.step - 1) / rate)
                progress(line)
                if (report.step + 1) % cell.log.flushEvery == 0 || report.step + 1 == cell.train.steps { log.write(line.line) }
            }
            switch outcome {
            case .completed:
                try writer.finish(.completed)
            case .diverged(let step, let loss):
                try writer.finish(.diverged(step: step, message: "training loss \(loss) at step \(step) (limit \(cell.train.divergenceLoss))"))
            case .interrupted:
                try writer.finish(.interrupted)
            }
        } catch {
            if let failure = StorageFailure(error, path: paths.file) {
                throw abandon(writer, failure, paths: paths, log: log)
            }
            try? writer.finish(.failed(message: "\(error)"))
            writer.close()
            log.write("failed: \(error)")
            throw error
        }
        writer.close()
        let wall = Date().timeIntervalSince(started)
        let logging = String(format: "run file writes %.2f%% of %.1f s (appends and flushes %.2f%%, checkpoints %.2f%%)",
                             100 * (sink.loggingSeconds + sink.checkpointSeconds) / wall, wall,
                             100 * sink.loggingSeconds / wall, 100 * sink.checkpointSeconds / wall)
        log.write("finished: \(outcome); \(logging)")
        return try summary(of: paths.file, cell: cell, alreadyDone: false)
    }

    /// "start-up 0.214 s (ablate's main to step 0; 0.190 s of CPU since exec; step 0 began at
    /// monotonic 1234.567890 s)": how long the process took from main (spec parsing, validation,
    /// the memory check, data, initialisation, the run file) to its first step, and the CPU time
    /// it had used by then. The CLOCK_MONOTONIC stamp lets a launcher add the time before main
    /// (scripts/bench-peer does). Nil outside `ablate`.
    static func startupLine(firstStep: Int, timing: StepTiming?) -> String? {
        guard let launched = ProcessClock.launched, let timing else { return nil }
        return String(format: "start-up %.3f s (ablate's main to step %d; %.3f s of CPU since exec; step %d began at monotonic %.6f s)",
                      timing.started - launched, firstStep, timing.startedCPU, firstStep, timing.started)
    }

    /// After a refused write: leaves the file alone (HDF5 cannot be trusted with it any more),
    /// moves a run file whose flush failed aside so that resume restores checkpoint.h5, and
    /// says what is safe.
    static func abandon(_ writer: RunFileWriter, _ failure: StorageFailure, paths: RunPaths, log: LogFile) -> RunStopped {
        writer.abandon()
        // A run file whose flush failed cannot be trusted (HDF5 may not even open it again). It
        // is removed, which also gives its space back: checkpoint.h5 holds everything up to the
        // last checkpoint, and resume restores it.
        var removed = false
        if !failure.runFileIntact { removed = unlink(paths.file) == 0 }
        let copy = CheckpointCopy.path(besides: paths.file)
        let hasCopy = FileManager.default.fileExists(atPath: copy)
        var safe = "no checkpoint had been written yet"
        if !failure.runFileIntact, hasCopy {
            let step = (try? RunFileReader(path: copy)).flatMap { reader -> Int? in
                defer { reader.close() }
                return (try? reader.checkpoint())?.step
            }
            safe = "the last checkpoint (\(step.map { "step \($0)" } ?? "?")) is safe in '\(copy)'"
        } else if failure.runFileIntact {
            safe = "'\(paths.file)' is intact up to its last checkpoint"
        }
        let message = "\(failure.isDiskFull ? "disk full" : "write failed"): \(failure); \(safe)"
            + (removed ? "; the unfinished run file was removed" + (hasCopy ? " (what it held after that checkpoint is lost)" : "") : "")
            + (hasCopy || failure.runFileIntact ? ". Free space, then `ablate resume \(paths.directory)`"
                                                : ". Free space, then run the same command again (it starts over)")
        log.write(message)
        return RunStopped(message: message, exitCode: failure.isDiskFull ? 4 : 1)
    }

    /// Reads a run file's final numbers.
    public static func summary(of path: String, cell: Cell, alreadyDone: Bool) throws -> RunSummary {
        let reader = try RunFileReader(path: path)
        defer { reader.close() }
        let attributes = try reader.attributes()
        let evalTable = try reader.evalMetrics(), trainTable = try reader.trainMetrics()
        func last(_ table: MetricTable, _ column: String) -> Double { table.columns[column]?.last ?? .nan }
        let speeds = (trainTable.columns["tokens_per_s"] ?? []).sorted()
        return RunSummary(runID: cell.runID, label: cell.label, path: path, status: attributes.status,
                          steps: Int(trainTable.steps.last ?? -1) + 1, finalEvalLoss: last(evalTable, "loss"),
                          optimum: last(evalTable, "optimum"), gap: last(evalTable, "gap"),
                          accuracy: last(evalTable, "accuracy"), maxVioGlobal: last(evalTable, "maxvio_global"),
                          tokensPerSecond: speeds.isEmpty ? .nan : speeds[speeds.count / 2],
                          message: nil, alreadyDone: alreadyDone)
    }

    /// The checkpoint as the loop's state, after checking every array against the model: a
    /// damaged file whose array lost or gained values is refused with the array's name, never
    /// trapped on.
    static func trainingState(_ checkpoint: Checkpoint, model: ModelConfig, path: String) throws -> TrainingState {
        for declaration in model.parameterDeclarations {
            for (part, arrays) in [("parameters", checkpoint.parameters), ("balancing_bias", checkpoint.balancingBiases),
                                   ("optimizer_m", checkpoint.adamM), ("optimizer_v", checkpoint.adamV)] {
                if let array = arrays[declaration.name], array.values.count != declaration.count {
                    throw RunStoreError(.corrupt, path: path,
                                        "'\(path)': checkpoint \(part)/\(declaration.name) has \(array.values.count) values; the model's \(declaration.shape) has \(declaration.count)")
                }
            }
        }
        var params: [String: [Float]] = [:]
        for (name, array) in checkpoint.parameters { params[name] = array.values }
        for (name, array) in checkpoint.balancingBiases { params[name] = array.values }
        return TrainingState(step: checkpoint.step, params: params,
                             adamM: checkpoint.adamM.mapValues(\.values), adamV: checkpoint.adamV.mapValues(\.values),
                             adamSteps: Int(checkpoint.scalars["adam_steps"] ?? 0))
    }
}

/// A run stopped by a refused write. The run file must not be touched again by HDF5 in this
/// process, so the caller prints `message` and exits at once (`_exit`, no atexit cleanup).
public struct RunStopped: Error, CustomStringConvertible {
    public var message: String
    public var exitCode: Int32
    public var description: String { message }
}

/// Adapts the training loop's results to the run file.
final class RunFileSink: RunSink {
    let writer: RunFileWriter
    var tokensSeen: Int
    var recentTokensPerSecond = 0.0
    /// The run uses QK-clip (its steps report max logits).
    let qkClip: Bool
    /// Layers of the main model: MTP layers (indices from here on) stay out of the MaxVio mean.
    let mainLayers: Int

    init(writer: RunFileWriter, firstStep: Int, batchTokens: Int, qkClip: Bool, mainLayers: Int) {
        self.writer = writer
        tokensSeen = firstStep * batchTokens
        self.qkClip = qkClip
        self.mainLayers = mainLayers
    }

    /// Wall time spent writing the run file: appends and flushes, and checkpoints.
    private(set) var loggingSeconds = 0.0
    private(set) var checkpointSeconds = 0.0

    private func timed(_ checkpoint: Bool = false, _ body: () throws -> Void) rethrows {
        let start = DispatchTime.now().uptimeNanoseconds
        defer {
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
            if checkpoint { checkpointSeconds += seconds } else { loggingSeconds += seconds }
        }
        try body()
    }

    /// When this process's first step began.
    private(set) var firstStep: StepTiming?

    func trainStep(_ report: StepReport, timing: StepTiming) throws {
        tokensSeen += report.tokens
        let tokensPerSecond = Double(report.tokens) / max(timing.wallSeconds, 1e-9)
        recentTokensPerSecond = tokensPerSecond
        if firstStep == nil { firstStep = timing }
        let mainMoE = report.moe.filter { $0.layer < mainLayers }
        let maxVio = mainMoE.isEmpty ? Double.nan : mainMoE.map(\.maxVio).reduce(0, +) / Double(mainMoE.count)
        var metrics: [String: Double] = [
            "loss": report.total, "ce": report.ce, "aux": report.aux, "z": report.z, "lr": report.lr,
            "grad_norm": report.gradNorm, "tokens": Double(tokensSeen), "tokens_per_s": tokensPerSecond,
            "cpu_s": timing.cpuSeconds, "maxvio": maxVio,
        ]
        // QK-clip runs also log the largest logit of the step and the heads clipped after it,
        // and every head's S_h as the tensor qk_max_logit [layer, head] (other runs stay as they were).
        if qkClip, let maxLogits = report.maxLogits, let heads = maxLogits.first?.count {
            metrics["max_logit"] = Double(maxLogits.joined().max() ?? .nan)
            metrics["qk_clipped"] = Double(report.clippedHeads)
            try timed { try writer.appendTensor("qk_max_logit", step: report.step, shape: [maxLogits.count, heads],
                                                values: Array(maxLogits.joined()), axes: ["layer", "head"]) }
        }
        // MTP runs log each module's loss (mtp_loss_0 predicts 2 ahead, …).
        for (j, loss) in report.mtp.enumerated() { metrics["mtp_loss_\(j)"] = loss }
        let moe = report.moe.map { stats in
            MoELayerRow(load: stats.load.map(Int64.init), bias: report.bias[stats.layer] ?? [Float](repeating: 0, count: stats.load.count),
                        maxvio: stats.maxVio, entropy: stats.entropy, dropped: stats.droppedFraction)
        }
        try timed { try writer.appendTrain(step: report.step, metrics: metrics, moe: moe) }
    }

    func evaluation(_ report: EvalReport) throws {
        var metrics = ["loss": report.loss, "ppl": report.ppl, "optimum": report.optimum, "gap": report.gap,
                       "accuracy": report.accuracy, "maxvio_global": report.maxVioGlobal]
        // Only runs whose data has a tokenizer have bits per byte (other run files stay as they were).
        if report.bitsPerByte.isFinite { metrics["bits_per_byte"] = report.bitsPerByte }
        // Text with a document split, at the last step: the whole held-out split.
        if let whole = report.whole {
            metrics["whole_loss"] = whole.loss
            metrics["whole_tokens"] = Double(whole.tokens)
        }
        // MQAR runs: the no-recall guessing baseline of the same validation set.
        if let guess = report.guess {
            metrics["guess_loss"] = guess.loss
            metrics["guess_accuracy"] = guess.accuracy
        }
        // MoE runs on data with known sources: selections per (layer, source, expert) and the
        // mutual information between source and expert, per layer and as the layers' mean.
        if let s = report.specialisation, !s.layers.isEmpty {
            let mi = s.mutualInformation
            metrics["source_mi"] = mi.reduce(0, +) / Double(s.layers.count)
            let layerNames = s.layers.map { "\($0)" }
            try timed {
                try writer.appendTensor("source_loads", step: report.step, shape: [s.layers.count, s.sources.count, s.experts],
                                        values: s.loads.map(Float.init), axes: ["layer", "source", "expert"],
                                        labels: ["layer": layerNames, "source": s.sources])
                try writer.appendTensor("source_mi", step: report.step, shape: [s.layers.count],
                                        values: mi.map(Float.init), axes: ["layer"], labels: ["layer": layerNames])
            }
        }
        try timed { try writer.appendEval(step: report.step, metrics: metrics) }
    }

    func tensors(step: Int, snapshots: [String: (shape: [Int], values: [Float])]) throws {
        for name in snapshots.keys.sorted() {
            let snapshot = snapshots[name]!
            let axes: [String]
            if name.hasPrefix("attention_layer_") { axes = ["head", "sequence", "query", "key"] }
            else if name.hasPrefix("router_layer_") { axes = ["token", "expert"] }
            else if name.hasPrefix("ckv_spectrum_layer_") { axes = ["singular_value"] }
            else { axes = [] }
            try timed { try writer.appendTensor(name, step: step, shape: snapshot.shape, values: snapshot.values, axes: axes) }
        }
    }

    func checkpoint(_ state: TrainingState) throws {
        func arrays(_ values: [String: [Float]]) -> [String: CheckpointArray] {
            var result: [String: CheckpointArray] = [:]
            for (name, array) in values { result[name] = CheckpointArray(shape: state.shapes[name] ?? [array.count], values: array) }
            return result
        }
        var parameters: [String: [Float]] = [:], biases: [String: [Float]] = [:]
        for (name, values) in state.params {
            if state.buffers.contains(name) { biases[name] = values } else { parameters[name] = values }
        }
        try timed(true) { try writer.writeCheckpoint(Checkpoint(step: state.step, parameters: arrays(parameters),
                                              adamM: arrays(state.adamM), adamV: arrays(state.adamV),
                                              balancingBiases: arrays(biases), scalars: ["adam_steps": Int64(state.adamSteps)])) }
    }

    func flush() throws { try timed { try writer.flush() } }
}

/// Appends lines to the run's plain-text log.
final class LogFile {
    let path: String
    init(path: String) { self.path = path }

    func write(_ line: String) {
        let stamped = "\(ISO8601DateFormatter().string(from: Date())) \(line)\n"
        // Best effort: a full disk must not stop (or crash) the run over its log.
        if let handle = FileHandle(forWritingAtPath: path) {
            _ = try? handle.seekToEnd()
            try? handle.write(contentsOf: Data(stamped.utf8))
            try? handle.close()
        } else {
            _ = FileManager.default.createFile(atPath: path, contents: Data(stamped.utf8))
        }
    }
}
