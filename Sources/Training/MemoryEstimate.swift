// The peak memory of training one cell, estimated before anything runs, so that `validate`
// shows it and `run` / `sweep` refuse a cell that cannot fit (docs/reliability.md).
//
// Model state is counted from the parameter count: parameters, their gradients and AdamW's two
// moments (Muon: one momentum for the matrices it takes), up to four float32 per parameter, plus the checkpoint's copies of parameters and moments
// while it is written. Activations and the tape are measured, not guessed: one step is run on
// synthetic micro-batches of 1 and of 2 sequences with the allocation tracker on; every tensor
// of a step has the micro-batch as its leading dimension or none, so the step's peak is exactly
// fixed + rows × per-sequence. The dry run is skipped when a lower bound already exceeds the
// memory available (it could not run either).
import Foundation
import Models
import Tensor

public struct MemoryEstimate: Sendable, Equatable {
    /// The process before training: code, Swift runtime, libhdf5, data sources, HDF5 buffers.
    public var baseline: Int
    /// Parameters, and gradients of the same size.
    public var parameters: Int
    public var gradients: Int
    /// Optimizer state: AdamW's first and second moments, Muon's momentum.
    public var adamMoments: Int
    /// Activations, tape and attention probabilities of one micro-batch, and the step's scratch.
    public var activations: Int
    /// Of `activations`, the part per sequence of a micro-batch.
    public var activationsPerSequence: Int
    /// Sequences per micro-batch (train.batch_size / train.micro_batches).
    public var sequencesPerMicroBatch: Int
    /// Copies of parameters and moments made while a checkpoint is written (after the step's
    /// activations are freed, so it counts against them, not on top).
    public var checkpointCopies: Int
    /// False when the dry run was skipped: then `activations` is a lower bound.
    public var measured: Bool

    /// Peak resident bytes.
    public var total: Int { baseline + parameters + gradients + adamMoments + max(activations, checkpointCopies) }

    /// The largest sequences per micro-batch that fit in `available` bytes (nil: none does).
    public func sequencesFitting(in available: Int) -> Int? {
        let room = available - (baseline + parameters + gradients + adamMoments)
        let fixedPart = activations - activationsPerSequence * sequencesPerMicroBatch
        guard room > max(fixedPart, checkpointCopies), activationsPerSequence > 0 else { return nil }
        return (room - fixedPart) / activationsPerSequence
    }

    /// Resident memory of `ablate` before the model exists (measured on the quick start: the
    /// binary, the Swift runtime, libhdf5, glibc's arenas of two threads).
    public static let processBaseline = 40 << 20

    /// Resident bytes per tracked activation byte: glibc's free lists and arenas, and the
    /// kernels' own scratch (attention blocks, GEMM panels) that is not a tensor. Measured as
    /// 1.2–1.3 on the quick start, both bench configurations and batches of 512 and 2048
    /// (docs/reliability.md).
    public static let allocatorOverhead = 1.25

    public static func estimate(model: ModelConfig, train: TrainConfig, dataBytes: Int = 0,
                                available: Int? = nil) -> MemoryEstimate {
        let p = model.totalParameters * MemoryLayout<Float>.stride
        let rows = max(1, train.batchSize / max(train.microBatches, 1))
        var estimate = MemoryEstimate(baseline: processBaseline + dataBytes, parameters: p, gradients: p,
                                      adamMoments: Optimizer.stateFloats(model: model, config: train.optimizer) * MemoryLayout<Float>.stride,
                                      activations: 0, activationsPerSequence: 0, sequencesPerMicroBatch: rows,
                                      checkpointCopies: 3 * p, measured: false)
        // Lower bound per sequence: the residual stream of every layer, the logits and their gradient.
        let floatsPerToken = model.nLayers * model.dModel * 4 + 2 * model.vocab
        let lowerPerSequence = floatsPerToken * train.seqLen * MemoryLayout<Float>.stride
        estimate.activationsPerSequence = lowerPerSequence
        estimate.activations = clamped(Double(lowerPerSequence) * Double(rows))
        if let available, estimate.baseline + 4 * p + 2 * lowerPerSequence > available { return estimate }

        let one = dryRunPeak(model: model, train: train, rows: 1)
        let two = dryRunPeak(model: model, train: train, rows: 2)
        let perSequence = max(two - one, 0)
        let fixedPart = max(one - perSequence - 4 * p, 0)   // what the step holds besides state and rows
        estimate.activationsPerSequence = Int(Double(perSequence) * allocatorOverhead)
        estimate.activations = clamped((Double(fixedPart) + Double(perSequence) * Double(rows)) * allocatorOverhead)
        estimate.measured = true
        return estimate
    }

    /// Bytes as an Int, saturating far below overflow (sums of a few of them stay representable).
    static func clamped(_ bytes: Double) -> Int { Int(min(bytes, 1e18)) }

    /// Peak tensor bytes of one training step (model state included) on `rows` synthetic sequences.
    static func dryRunPeak(model: ModelConfig, train: TrainConfig, rows: Int) -> Int {
        var config = train
        config.batchSize = rows
        config.microBatches = 1
        let t = train.seqLen
        return AllocationTracker.track { tracker in
            var trainer = Trainer(model: model, train: config, params: ParameterSet.placeholder(model))
            // Token ids spread over the vocabulary, so routers spread tokens as real data would.
            let tokens = IntTensor(shape: [rows, t]) { Int32(($0 * 7919) % model.vocab) }
            let targets = IntTensor(shape: [rows, t]) { Int32(($0 * 104_729 + 1) % model.vocab) }
            let batch = Batch(inputs: tokens, targets: targets, mask: Tensor(repeating: 1, shape: [rows, t]))
            _ = trainer.step(0, batch: batch)
            return tracker.peakStorageBytes
        }
    }
}

/// The memory a new process may use here: the smallest of MemAvailable, the cgroup's limit
/// (v2 memory.max less memory.current, or v1 limit_in_bytes less usage) and Slurm's --mem.
public struct AvailableMemory: Sendable, Equatable {
    public var bytes: Int
    /// Which limit that is ("MemAvailable", "cgroup memory.max", "Slurm --mem").
    public var source: String

    public init(bytes: Int, source: String) {
        self.bytes = bytes
        self.source = source
    }

    public static func current(environment: [String: String] = ProcessInfo.processInfo.environment) -> AvailableMemory? {
        var candidates: [AvailableMemory] = []
        if let meminfo = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
           let line = meminfo.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }),
           let kilobytes = Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "") {
            candidates.append(AvailableMemory(bytes: kilobytes * 1024, source: "MemAvailable in /proc/meminfo"))
        }
        func number(_ path: String) -> Int? {
            (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        if let group = cgroupPath() {
            let base = "/sys/fs/cgroup" + group
            if let limit = number(base + "/memory.max") {
                candidates.append(AvailableMemory(bytes: limit - (number(base + "/memory.current") ?? 0), source: "cgroup memory.max of \(group)"))
            }
        }
        if let limit = number("/sys/fs/cgroup/memory/memory.limit_in_bytes"), limit < (1 << 60) {
            candidates.append(AvailableMemory(bytes: limit - (number("/sys/fs/cgroup/memory/memory.usage_in_bytes") ?? 0), source: "cgroup v1 memory limit"))
        }
        // Slurm: --mem gives SLURM_MEM_PER_NODE, --mem-per-cpu gives SLURM_MEM_PER_CPU (MB).
        if let perNode = environment["SLURM_MEM_PER_NODE"].flatMap(Int.init), perNode > 0 {
            candidates.append(AvailableMemory(bytes: perNode << 20, source: "Slurm --mem (SLURM_MEM_PER_NODE)"))
        } else if let perCPU = environment["SLURM_MEM_PER_CPU"].flatMap(Int.init), perCPU > 0 {
            let cpus = environment["SLURM_CPUS_PER_TASK"].flatMap(Int.init) ?? 1
            candidates.append(AvailableMemory(bytes: (perCPU * cpus) << 20, source: "Slurm --mem-per-cpu × cpus"))
        }
        return candidates.min { $0.bytes < $1.bytes }
    }

    /// This process's cgroup v2 path ("0::/path" in /proc/self/cgroup).
    static func cgroupPath() -> String? {
        guard let text = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8) else { return nil }
        return text.split(separator: "\n").first { $0.hasPrefix("0::") }.map { String($0.dropFirst(3)) }
    }
}

extension Int {
    /// "1.23 GB", "456 MB", "12 KB".
    public var byteText: String {
        let value = Double(self)
        if abs(value) >= 1e12 { return String(format: "%.1f TB", value / 1e12) }
        if abs(value) >= 1e9 { return String(format: "%.2f GB", value / 1e9) }
        if abs(value) >= 1e6 { return String(format: "%.0f MB", value / 1e6) }
        return String(format: "%.0f KB", value / 1e3)
    }
}
