// A tiny fake run for the run-file tests: every value a pure function of the step, so a run
// written straight and one killed and resumed must agree bit for bit. 2 MoE layers of 4 experts.
import Foundation
import Testing
@testable import RunStore

enum FakeRun {
    static let specSHA = String(repeating: "ab", count: 32)
    static let info = RunInfo(runID: "tiny-0123abcd", specName: "tiny", label: "seed=1", specSHA256: specSHA,
                              seed: 1, isa: "avx2", cpuFeatures: "avx avx2 fma", kernelVersion: "test", threads: 2,
                              modelStats: ["total_parameters": 1000, "active_parameters": 600, "kv_cache_per_token": 20, "flops_per_token": 1300])
    static let spec = SpecTexts(given: "name: tiny\ntrain:\n  steps: 10\n", overrides: ["train.steps=10", "model.ffn.moe.experts=4"],
                                resolved: "name: tiny\ntrain:\n  steps: 10\nmodel:\n  ffn:\n    moe:\n      experts: 4\n")
    static let provenance = Provenance(version: "0.1.0", gitCommit: "0123456789abcdef0123456789abcdef01234567",
                                       gitDirty: false, buildConfiguration: "debug", kernelTarget: "portable",
                                       swiftVersion: "6.0", os: "Test OS 1", cpuModel: "Test CPU @ 1 GHz",
                                       hdf5Version: "1.10.8")
    static let tensorName = "attn_probs/layer_0"
    static let tensorShape = [2, 3]
    static let tensorSteps: Set<Int> = [2, 5]
    static let evalEvery = 5

    static func train(_ step: Int) -> [String: Double] {
        let s = Double(step)
        return ["loss": 4.0 / (s + 1) + 1e-12 * s, "ce": 4.0 / (s + 1), "aux": step % 3 == 0 ? .nan : 0.01 * s,
                "z": 1e-4 * s, "lr": 1e-3 * min(1, s / 4), "grad_norm": 1.0 / 3.0 + s,
                "tokens": 64 * s, "tokens_per_s": 1234.5, "cpu_s": 0.05, "maxvio": 0.1 / s]
    }

    static func eval(_ step: Int) -> [String: Double] {
        let loss = 3.0 / Double(step)
        return ["loss": loss, "ppl": exp(loss), "optimum": 0.25, "gap": loss - 0.25, "accuracy": .nan,
                "maxvio_global": 0.05]
    }

    static func moe(_ step: Int) -> [MoELayerRow] {
        (0..<2).map { layer in
            MoELayerRow(load: (0..<4).map { Int64(step * 10 + layer * 4 + $0) },
                        bias: (0..<4).map { Float(step) * 0.001 * Float($0 - layer) },
                        maxvio: 0.2 / Double(step + layer), entropy: log(4.0) - 0.01 * Double(step), dropped: 0)
        }
    }

    static func tensor(_ step: Int) -> [Float] { (0..<6).map { Float(step) + Float($0) / 8 } }

    static func array(_ shape: [Int], _ seed: Int, _ step: Int) -> CheckpointArray {
        CheckpointArray(shape: shape, values: (0..<shape.reduce(1, *)).map { Float(seed * 100 + $0) / 7 + Float(step) })
    }

    static func checkpoint(_ step: Int) -> Checkpoint {
        let shapes = ["embed": [8, 4], "layers.0.attn.w_dkv": [4, 2], "norm.weight": [4]]
        return Checkpoint(
            step: step,
            parameters: shapes.mapValues { array($0, 1, step) },
            adamM: shapes.mapValues { array($0, 2, step) },
            adamV: shapes.mapValues { array($0, 3, step) },
            balancingBiases: ["layers.0.moe.bias": array([4], 4, step), "layers.1.moe.bias": array([4], 5, step)],
            arrays: ["schedule/state": array([2], 6, step)],
            scalars: ["tokens_seen": Int64(64 * step), "data_epoch": 0])
    }

    /// Appends steps `steps` as the training loop would: train (+ MoE) every step, eval every
    /// `evalEvery`, tensor snapshots at `tensorSteps`, checkpoints at `checkpoints`, a flush every 3.
    static func write(_ writer: RunFileWriter, steps: ClosedRange<Int>, checkpoints: Set<Int>) throws {
        for step in steps {
            try writer.appendTrain(step: step, metrics: train(step), moe: moe(step))
            if step % evalEvery == 0 { try writer.appendEval(step: step, metrics: eval(step)) }
            if tensorSteps.contains(step) {
                try writer.appendTensor(tensorName, step: step, shape: tensorShape, values: tensor(step),
                                        axes: ["head", "position"], labels: ["head": ["h0", "h1"]])
            }
            if checkpoints.contains(step) { try writer.writeCheckpoint(checkpoint(step)) }
            if step % 3 == 0 { try writer.flush() }
        }
    }
}

/// Bit patterns, so NaN compares equal to the same NaN and -0 differs from 0.
func bits(_ values: [Double]) -> [UInt64] { values.map(\.bitPattern) }
func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }

func bits(_ table: MetricTable) -> [String: [UInt64]] {
    table.columns.mapValues { bits($0) }.merging(["step": table.steps.map { UInt64(bitPattern: $0) }]) { $1 }
}

/// Everything in a run file except wall-clock attributes, as bit patterns.
struct RunContents: Equatable {
    var train, eval: [String: [UInt64]]
    var moe: [[String: [UInt64]]]
    var tensors: [String: [UInt64]]
    var checkpoint: Checkpoint?
    var status: RunStatus
    var lastStep: Int

    init(_ reader: RunFileReader) throws {
        train = bits(try reader.trainMetrics())
        eval = bits(try reader.evalMetrics())
        moe = try reader.moeLayers().map { layer in
            ["load": layer.load.map { UInt64(bitPattern: $0) }, "bias": bits(layer.bias).map(UInt64.init),
             "maxvio": bits(layer.maxvio), "entropy": bits(layer.entropy), "dropped": bits(layer.dropped)]
        }
        var tensors: [String: [UInt64]] = [:]
        for name in try reader.tensorNames() {
            let series = try reader.tensor(name)
            tensors[name] = bits(series.values).map(UInt64.init)
            tensors[name + "_steps"] = series.steps.map { UInt64(bitPattern: $0) }
        }
        self.tensors = tensors
        checkpoint = try reader.checkpoint()
        status = try reader.status()
        lastStep = try reader.attributes().lastStep
    }
}
