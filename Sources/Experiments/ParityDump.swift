// The parity dump (MODEL.md "Parity dump"), in the spirit of llm.c's reference state file: the
// initial parameters, N batches, step 0's logits, per-head max logits and raw gradients, every
// step's losses (with each MTP module's, /losses/mtp [N, n]) and the parameters after N optimizer
// steps (and QK-clip, when on) — everything an independent implementation needs to check the
// harness (tools/reference/reference.py).
import Config
import Foundation
import HDF5
import Models
import Tensor
import Training

public enum ParityDump {
    /// Runs `steps` optimizer steps of `cell` and writes the dump to `path`.
    public static func write(cell: Cell, steps: Int, path: String) throws {
        let data = try DataSources.make(cell.data, runSeed: cell.seed, seqLen: cell.train.seqLen, vocab: cell.model.vocab)
        let params = ParameterSet.initial(cell.model, seed: cell.seed)
        let initial = params.names.map { ($0, params[$0].shape, params[$0].scalars) }
        var trainer = Trainer(model: cell.model, train: cell.train, params: params)
        let (b, t) = (cell.train.batchSize, cell.train.seqLen)

        var inputs: [Int32] = [], targets: [Int32] = [], mask: [Float] = []
        var losses: [String: [Float]] = ["total": [], "ce": [], "aux": [], "z": []]
        var mtpLosses: [Float] = []
        var logits: [Float] = []
        var maxLogits: [[Float]] = []
        var grads: [(String, [Int], [Float])] = []
        for step in 0..<steps {
            let batch = data.trainBatch(step: step, batchSize: b, seqLen: t)
            inputs += batch.inputs.scalars
            targets += batch.targets.scalars
            mask += batch.mask.scalars
            let report = trainer.step(step, batch: batch, keepLogits: step == 0) { params in
                guard step == 0 else { return }
                for name in params.trainedNames {
                    let tensor = params[name]
                    grads.append((name, tensor.shape, tensor.grad?.scalars ?? [Float](repeating: 0, count: tensor.count)))
                }
            }
            if step == 0 {
                logits = report.logits ?? []
                maxLogits = report.maxLogits ?? []
            }
            losses["total"]!.append(Float(report.total))
            losses["ce"]!.append(Float(report.ce))
            losses["aux"]!.append(Float(report.aux))
            losses["z"]!.append(Float(report.z))
            mtpLosses += report.mtp.map(Float.init)
        }

        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let temporary = path + ".partial"
        do {
            let file = try H5File(path: temporary, mode: .truncate)
            let root = try file.root
            try root.setAttribute("resolved_spec", YAMLText.emit(cell.resolved))
            try root.setAttribute("run_id", cell.runID)
            try root.setAttribute("steps", steps)
            for (name, shape, values) in initial {
                try root.createDataset("params/\(name)", shape: shape, values: values)
            }
            try root.createDataset("batches/inputs", shape: [steps, b, t], values: inputs)
            try root.createDataset("batches/targets", shape: [steps, b, t], values: targets)
            try root.createDataset("batches/mask", shape: [steps, b, t], values: mask)
            try root.createDataset("step_0/logits", shape: [b, t, cell.model.vocab], values: logits)
            if let heads = maxLogits.first?.count {
                try root.createDataset("step_0/max_logit", shape: [maxLogits.count, heads], values: Array(maxLogits.joined()))
            }
            for (name, shape, values) in grads {
                try root.createDataset("step_0/grads/\(name)", shape: shape, values: values)
            }
            for (key, values) in losses {
                try root.createDataset("losses/\(key)", shape: [steps], values: values)
            }
            if cell.model.mtpDepth > 0 {
                try root.createDataset("losses/mtp", shape: [steps, cell.model.mtpDepth], values: mtpLosses)
            }
            for name in trainer.params.names {
                let tensor = trainer.params[name]
                try root.createDataset("params_final/\(name)", shape: tensor.shape, values: tensor.scalars)
            }
            file.close()
        }
        // Appear complete or not at all.
        if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
        try FileManager.default.moveItem(atPath: temporary, toPath: path)
    }
}
