// The training loop of one run: steps, evaluation on the fixed validation set, divergence
// detection, checkpoints and resume. What it produces goes to a `RunSink` (the run file,
// implemented above this layer), so the loop knows nothing of HDF5.
import KernelCore
import Foundation
import Models
import Tensor

/// Metrics of one evaluation pass over the validation set.
public struct EvalReport: Sendable {
    public var step: Int
    public var loss: Double
    public var ppl: Double
    /// The data's optimal loss on the same set, when known (NaN otherwise).
    public var optimum: Double
    public var gap: Double
    /// Argmax accuracy on target positions (NaN when the data does not define it).
    public var accuracy: Double
    /// Loss in bits per byte of the text the targets stand for (token data with a tokenizer;
    /// NaN otherwise): comparable with byte-level runs, whose nats/byte ÷ ln 2 it equals.
    public var bitsPerByte: Double = .nan
    /// MaxVio over the whole validation pass, averaged over MoE layers (NaN without MoE).
    public var maxVioGlobal: Double
    /// Per MoE layer: loads over the whole pass.
    public var loads: [Int: [Int]]
    /// Selections per (layer, source, expert) and I(source; expert), when the data knows each
    /// validation sequence's source and the model has MoE layers.
    public var specialisation: Specialisation? = nil
    /// What a model without recall scores on the same set (MQAR), when the data defines it.
    public var guess: GuessingBaseline? = nil
    /// At the last step, when the data has one: the mean loss over the whole validation split
    /// (nats per token) and the tokens it scored.
    public var whole: (loss: Double, tokens: Int)? = nil
}

/// Everything resume needs: the state after `step` completed.
public struct TrainingState {
    /// The last completed step (0-based).
    public var step: Int
    /// Parameter values by name (gate.bias buffers included).
    public var params: [String: [Float]]
    public var adamM: [String: [Float]]
    public var adamV: [String: [Float]]
    public var adamSteps: Int
    /// Shapes of the parameters (for readers of the checkpoint), by name.
    public var shapes: [String: [Int]]
    /// Names in `params` that are buffers (gate.bias), not trained parameters.
    public var buffers: Set<String>

    public init(step: Int, params: [String: [Float]], adamM: [String: [Float]], adamV: [String: [Float]], adamSteps: Int,
                shapes: [String: [Int]] = [:], buffers: Set<String> = []) {
        self.shapes = shapes
        self.buffers = buffers
        self.step = step
        self.params = params
        self.adamM = adamM
        self.adamV = adamV
        self.adamSteps = adamSteps
    }
}

/// Where a run's results go.
public protocol RunSink: AnyObject {
    func trainStep(_ report: StepReport, timing: StepTiming) throws
    func evaluation(_ report: EvalReport) throws
    func tensors(step: Int, snapshots: [String: (shape: [Int], values: [Float])]) throws
    func checkpoint(_ state: TrainingState) throws
    /// Called every `log.flush_every` steps and at the end.
    func flush() throws
}

public enum LoopOutcome: Sendable, Equatable {
    case completed
    case diverged(step: Int, loss: Double)
    case interrupted(step: Int)
}

public struct TrainingLoop {
    public let model: ModelConfig
    public let train: TrainConfig
    public let log: LogConfig
    public let data: any DataSource
    public let seed: Int
    public private(set) var trainer: Trainer
    /// The next step to run (0 for a new run, checkpoint step + 1 on resume).
    public private(set) var nextStep: Int

    public init(model: ModelConfig, train: TrainConfig, log: LogConfig, data: any DataSource, valSequences: Int,
                seed: Int, resumeFrom checkpoint: TrainingState? = nil) {
        self.valSequences = valSequences
        self.model = model
        self.train = train
        self.log = log
        self.data = data
        self.seed = seed
        var params = ParameterSet.initial(model, seed: seed)
        var optimizer: Optimizer? = nil
        if let checkpoint {
            for name in params.names { if let values = checkpoint.params[name] { params.setValues(name, values) } }
            var restored = Optimizer(config: train.optimizer, params: params)
            for name in params.trainedNames {
                if let m = checkpoint.adamM[name] { restored.m[name] = Tensor(shape: params[name].shape, scalars: m) }
                if let v = checkpoint.adamV[name], restored.v[name] != nil {
                    restored.v[name] = Tensor(shape: params[name].shape, scalars: v)
                }
            }
            restored.steps = checkpoint.adamSteps
            optimizer = restored
        }
        trainer = Trainer(model: model, train: train, params: params)
        if let optimizer { trainer.optimizer = optimizer }
        nextStep = (checkpoint?.step ?? -1) + 1
    }

    /// The current state as a checkpoint after `step`.
    public func checkpoint(step: Int) -> TrainingState {
        let params = trainer.params
        var values: [String: [Float]] = [:]
        for name in params.names { values[name] = params[name].scalars }
        var m: [String: [Float]] = [:], v: [String: [Float]] = [:]
        for name in params.trainedNames {
            m[name] = trainer.optimizer.m[name]!.scalars
            if let moment = trainer.optimizer.v[name] { v[name] = moment.scalars }
        }
        var shapes: [String: [Int]] = [:]
        for name in params.names { shapes[name] = params[name].shape }
        return TrainingState(step: step, params: values, adamM: m, adamV: v, adamSteps: trainer.optimizer.steps, shapes: shapes,
                             buffers: Set(params.declarations.filter { !$0.role.isTrained }.map(\.name)))
    }

    /// Runs from `nextStep` to the end (or until `shouldStop` says so, or divergence).
    /// `progress` is called after every step.
    public mutating func run(sink: RunSink, shouldStop: () -> Bool = { false },
                             progress: (StepReport, EvalReport?) -> Void = { _, _ in }) throws -> LoopOutcome {
        let steps = train.steps
        var lastEval: EvalReport? = nil
        var step = nextStep
        while step < steps {
            let started = ProcessClock.monotonic(), cpuStarted = ProcessClock.cpu()
            let batch = data.trainBatch(step: step, batchSize: train.batchSize, seqLen: train.seqLen)
            let report = trainer.step(step, batch: batch)
            let cpu = ProcessClock.cpu() - cpuStarted
            try sink.trainStep(report, timing: StepTiming(started: started, startedCPU: cpuStarted,
                                                          wallSeconds: ProcessClock.monotonic() - started, cpuSeconds: cpu))
            nextStep = step + 1
            if !report.total.isFinite || report.total > train.divergenceLoss {
                try sink.flush()
                return .diverged(step: step, loss: report.total)
            }
            if log.tensors.steps.contains(step) {
                try sink.tensors(step: step, snapshots: snapshots())
            }
            let isLast = step == steps - 1
            if (step + 1) % train.evalEvery == 0 || isLast {
                let evaluation = evaluate(step: step)
                try sink.evaluation(evaluation)
                lastEval = evaluation
            }
            if (step + 1) % log.flushEvery == 0 || isLast { try sink.flush() }
            if (step + 1) % log.checkpointEvery == 0 || isLast {
                try sink.checkpoint(checkpoint(step: step))
            }
            progress(report, lastEval)
            step += 1
            if step < steps && shouldStop() {
                try sink.checkpoint(checkpoint(step: step - 1))
                try sink.flush()
                return .interrupted(step: step - 1)
            }
        }
        return .completed
    }

    /// Loss, perplexity, optimum gap, accuracy and MaxVio_global over the validation set.
    public func evaluate(step: Int) -> EvalReport {
        let count = valSequences
        var lossSum = 0.0, weightSum = 0.0, correct = 0.0
        var loads: [Int: [Int]] = [:]
        let decoder = Decoder(config: model)
        let moeLayers = (0..<model.nLayers).filter { model.moeShape(layer: $0) != nil }
        var specialisation: Specialisation? = nil
        var sourceOf: [Int] = []
        if let shape = moeLayers.first.flatMap({ model.moeShape(layer: $0) }),
           let labels = data.validationSources(validationSequences: count, seqLen: train.seqLen) {
            specialisation = Specialisation(sources: labels.names, layers: moeLayers, experts: shape.experts,
                                            loads: Array(repeating: 0, count: moeLayers.count * labels.names.count * shape.experts))
            sourceOf = labels.ofSequence
        }
        let probes = ProbeRequest(routing: specialisation != nil)
        forwardInChunks(count: count, decoder: decoder, probes: probes,
                        batch: { data.sequences(.validation, first: $0, count: $1, seqLen: train.seqLen) }) { first, rows, batch, out in
            let mask = batch.mask.scalars
            let weight = mask.reduce(0.0) { $0 + Double($1) }
            lossSum += Double(out.ce.item) * weight
            weightSum += weight
            if data.reportsAccuracy {
                let logits = out.logits.scalars, v = model.vocab, targets = batch.targets.scalars
                for position in mask.indices where mask[position] != 0 {
                    let row = logits[(position * v)..<((position + 1) * v)]
                    var best = row.startIndex
                    for i in row.indices where row[i] > row[best] { best = i }
                    if best - row.startIndex == Int(targets[position]) { correct += Double(mask[position]) }
                }
            }
            for stats in out.moe {
                loads[stats.layer] = zip(loads[stats.layer] ?? Array(repeating: 0, count: stats.load.count), stats.load).map(+)
                if let selected = stats.selected, let i = moeLayers.firstIndex(of: stats.layer) {
                    specialisation?.count(layerIndex: i, selected: selected, k: selected.count / max(batch.inputs.count, 1),
                                          seqLen: train.seqLen, sourceOf: sourceOf[first..<(first + rows)])
                }
            }
        }
        let loss = weightSum > 0 ? lossSum / weightSum : .nan
        let whole = step == train.steps - 1 ? data.wholeValidation(seqLen: train.seqLen).map { evaluateWhole($0, decoder: decoder) } : nil
        let optimum = data.optimumLoss(validationSequences: count, seqLen: train.seqLen) ?? .nan
        let maxVios = loads.keys.sorted().map { Router.maxViolation(loads[$0]!) }
        let bytes = data.validationTargetBytes(validationSequences: count, seqLen: train.seqLen)
        return EvalReport(step: step, loss: loss, ppl: DetMath.exp(loss), optimum: optimum, gap: loss - optimum,
                          accuracy: data.reportsAccuracy ? correct / max(weightSum, 1) : .nan,
                          bitsPerByte: bytes.map { lossSum / (Double($0) * DetMath.log(2)) } ?? .nan,
                          maxVioGlobal: maxVios.isEmpty ? .nan : maxVios.reduce(0, +) / Double(maxVios.count),
                          loads: loads, specialisation: specialisation,
                          guess: data.guessingBaseline(validationSequences: count, seqLen: train.seqLen), whole: whole)
    }

    /// The mean cross-entropy over every window of `split`, in chunks of train.batch_size
    /// windows (each chunk's mean weighted by its tokens, summed in window order).
    func evaluateWhole(_ split: WholeValidation, decoder: Decoder) -> (loss: Double, tokens: Int) {
        var lossSum = 0.0, tokens = 0
        forwardInChunks(count: split.count, decoder: decoder, probes: ProbeRequest(), batch: split.batch) { _, _, batch, out in
            lossSum += Double(out.ce.item) * Double(batch.inputs.count)
            tokens += batch.inputs.count
        }
        return (tokens > 0 ? lossSum / Double(tokens) : .nan, tokens)
    }

    /// Forward passes without gradients over sequences 0 ..< count, in chunks of
    /// train.batch_size sequences in order: `body(first, rows, batch, output)` per chunk.
    func forwardInChunks(count: Int, decoder: Decoder, probes: ProbeRequest, batch: (Int, Int) -> Batch,
                         _ body: (Int, Int, Batch, ForwardResult) -> Void) {
        Tensor.withoutGrad {
            var first = 0
            while first < count {
                let rows = min(train.batchSize, count - first)
                let chunk = batch(first, rows)
                let out = decoder.forward(trainer.params, inputs: chunk.inputs, targets: chunk.targets, mask: chunk.mask,
                                          probes: probes, mtp: false)
                body(first, rows, chunk, out)
                first += rows
            }
        }
    }

    /// Sequences in the fixed validation set (data.val_sequences).
    public let valSequences: Int

    /// Tensor snapshots of the probe batch (the first `probe_sequences` validation sequences).
    func snapshots() -> [String: (shape: [Int], values: [Float])] {
        let tensors = log.tensors
        let probe = data.sequences(.validation, first: 0, count: tensors.probeSequences, seqLen: train.seqLen)
        var result: [String: (shape: [Int], values: [Float])] = [:]
        let request = ProbeRequest(attentionLayers: Set(tensors.attentionLayers), routerScores: tensors.router)
        let wantsSpectrum = tensors.ckvSpectrum && model.attention.kind == .mla
        let layersForSpectrum = wantsSpectrum ? Set(0..<model.nLayers) : []
        let out = Tensor.withoutGrad {
            Decoder(config: model).forward(trainer.params, inputs: probe.inputs, targets: probe.targets, mask: probe.mask,
                                           probes: ProbeRequest(attentionLayers: request.attentionLayers.union(layersForSpectrum),
                                                                routerScores: request.routerScores), mtp: false)
        }
        let (b, t) = (probe.inputs.shape[0], probe.inputs.shape[1])
        for layer in tensors.attentionLayers.sorted() {
            guard let attention = out.attentionProbes[layer] else { continue }
            let heads = tensors.attentionHeads.filter { $0 < model.attention.heads }
            let probabilities = attention.probabilities(heads: heads)
            result["attention_layer_\(layer)"] = ([heads.count, b, t, t], probabilities.flatMap { $0 })
        }
        for (layer, scores) in out.routerScores {
            result["router_layer_\(layer)"] = (scores.shape, scores.scalars)
        }
        if wantsSpectrum {
            for layer in 0..<model.nLayers {
                guard let cKV = out.attentionProbes[layer]?.cKV else { continue }
                let dc = cKV.shape[cKV.rank - 1]
                result["ckv_spectrum_layer_\(layer)"] = ([dc], SingularValues.of(cKV.scalars, rows: cKV.count / dc, cols: dc))
            }
        }
        return result
    }
}
