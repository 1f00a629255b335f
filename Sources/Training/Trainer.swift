// One optimizer step, in MODEL.md's order: forward and backward over every micro-batch (the
// step's loss is the mean of the micro-batch losses), clip, AdamW with this step's learning
// rate, QK-clip on the updated weights, then the loss-free bias update from the step's loads
// summed over micro-batches. MTP modules' layers (indices L + j) take part like main layers.
import Models
import Tensor

/// What one step reports.
public struct StepReport {
    public var step: Int
    /// Means over micro-batches.
    public var total: Double
    /// The main head's cross-entropy (MTP losses are in `mtp`).
    public var ce: Double
    public var aux: Double
    public var z: Double
    public var lr: Double
    /// Global gradient norm before clipping.
    public var gradNorm: Double
    public var tokens: Int
    /// Per MoE layer: loads summed over micro-batches, and the layer's stats of the last
    /// micro-batch with load/maxvio/dropped recomputed over the whole step.
    public var moe: [MoEStats]
    /// Bias after this step's update, per MoE layer (empty without loss-free balancing).
    public var bias: [Int: [Float]]
    /// Logits of the whole batch [B, T, V] when requested (parity dumps).
    public var logits: [Float]?
    /// Per attention layer, each head's largest logit over the step's micro-batches (QK-clip's
    /// S_h, before clipping), when QK-clip is on or logits were requested.
    public var maxLogits: [[Float]]? = nil
    /// Heads QK-clip rescaled after this step.
    public var clippedHeads = 0
    /// Each MTP module's loss, mean over micro-batches (empty without MTP).
    public var mtp: [Double] = []
}

public struct Trainer {
    public let model: ModelConfig
    public let train: TrainConfig
    public let decoder: Decoder
    public var params: ParameterSet
    public var optimizer: Optimizer

    public init(model: ModelConfig, train: TrainConfig, params: ParameterSet) {
        self.model = model
        self.train = train
        decoder = Decoder(config: model)
        self.params = params
        optimizer = Optimizer(config: train.optimizer, params: params)
    }

    /// Runs step `step` on `batch` (all micro-batches). When `inspect` is given it is called
    /// after backward and before the update (parity dumps read the raw gradients there).
    public mutating func step(_ step: Int, batch: Batch, keepLogits: Bool = false,
                              inspect: ((ParameterSet) -> Void)? = nil) -> StepReport {
        let m = train.microBatches, rowsPer = batch.rows / m
        var total = 0.0, ce = 0.0, aux = 0.0, z = 0.0
        var mtp = [Double](repeating: 0, count: model.mtpDepth)
        var loads: [Int: [Int]] = [:]
        var lastStats: [MoEStats] = []
        var dropped: [Int: Double] = [:]
        var logits: [Float]? = keepLogits ? [] : nil
        let wantMaxLogits = train.qkClip != nil || keepLogits
        var maxLogits: [[Float]]? = nil
        // Aux scope `step`: f counts the loads of every micro-batch, from a routing pre-pass with
        // the same parameters and no tape (its loads equal the real pass's).
        var stepLoads: [Int: [Int]]? = nil
        if m > 1, (0..<model.nLayers).contains(where: { model.moeShape(layer: $0)?.auxScope == .step }) {
            var loads: [Int: [Int]] = [:]
            Tensor.withoutGrad {
                for j in 0..<m {
                    let micro = batch.rows((j * rowsPer)..<((j + 1) * rowsPer))
                    for stats in decoder.forward(params, inputs: micro.inputs, targets: micro.targets, mask: micro.mask).moe {
                        loads[stats.layer] = zip(loads[stats.layer] ?? Array(repeating: 0, count: stats.load.count), stats.load).map(+)
                    }
                }
            }
            stepLoads = loads
        }
        for j in 0..<m {
            let micro = m == 1 ? batch : batch.rows((j * rowsPer)..<((j + 1) * rowsPer))
            let out = decoder.forward(params, inputs: micro.inputs, targets: micro.targets, mask: micro.mask,
                                      probes: ProbeRequest(maxLogits: wantMaxLogits), stepLoads: stepLoads,
                                      stepTokens: stepLoads == nil ? nil : batch.rows * batch.inputs.shape[1])
            if wantMaxLogits {
                maxLogits = maxLogits.map { zip($0, out.maxLogits).map { zip($0, $1).map { max($0, $1) } } } ?? out.maxLogits
            }
            (out.total * (1 / Float(m))).backward()
            total += Double(out.total.item) / Double(m)
            ce += Double(out.ce.item) / Double(m)
            aux += Double(out.aux.item) / Double(m)
            z += Double(out.z.item) / Double(m)
            for (j, loss) in out.mtp.enumerated() { mtp[j] += Double(loss.item) / Double(m) }
            for stats in out.moe {
                loads[stats.layer] = zip(loads[stats.layer] ?? Array(repeating: 0, count: stats.load.count), stats.load).map(+)
                dropped[stats.layer, default: 0] += stats.droppedFraction / Double(m)
            }
            lastStats = out.moe
            if keepLogits { logits! += out.logits.scalars }
        }
        inspect?(params)
        let lr = LearningRate.at(step: step, train: train)
        let gradNorm = optimizer.step(params, lr: lr)
        for name in params.trainedNames { params[name].zeroGrad() }
        var clippedHeads = 0
        if let clip = train.qkClip, let maxLogits {
            clippedHeads = QKClip.apply(params, model: model, maxLogits: maxLogits, tau: Float(clip.tau))
        }

        var bias: [Int: [Float]] = [:]
        var moe: [MoEStats] = []
        for var stats in lastStats {
            let load = loads[stats.layer] ?? stats.load
            stats.load = load
            stats.maxVio = Router.maxViolation(load)
            stats.droppedFraction = dropped[stats.layer] ?? stats.droppedFraction
            moe.append(stats)
            if let lossFree = model.ffn.moe?.balance.lossFree, lossFree.enabled, let name = params.biasName(layer: stats.layer) {
                let updated = Router.updatedBias(params[name].scalars, load: load, rate: lossFree.rate, rule: lossFree.rule)
                params.setValues(name, updated)
                bias[stats.layer] = updated
            }
        }
        return StepReport(step: step, total: total, ce: ce, aux: aux, z: z, lr: lr, gradNorm: gradNorm,
                          tokens: batch.rows * batch.inputs.shape[1], moe: moe, bias: bias, logits: logits,
                          maxLogits: maxLogits, clippedHeads: clippedHeads, mtp: mtp)
    }
}
