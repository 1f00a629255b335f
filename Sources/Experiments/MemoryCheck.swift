// Memory up front: every cell's estimated peak (Training.MemoryEstimate) against the memory
// available, checked by `run`, `sweep`, `run-cell` and `resume` before any file is created.
// A refusal names the keys that drive the estimate and how far each would have to shrink.
import Config
import Foundation
import Synchronization
import Training

public enum MemoryCheck {
    /// The estimate of `cell`. Cells that differ only in seed, steps or logging share one dry run.
    public static func estimate(_ cell: Cell, available: Int? = nil) -> MemoryEstimate {
        let key = CanonicalJSON.encode(cell.resolved["model"] ?? .null) + "|\(cell.train.seqLen)|\(cell.train.batchSize)|\(cell.train.microBatches)|\(available.map { $0 >> 24 } ?? -1)"
        if let cached = cache.withLock({ $0[key] }) { return cached.adding(dataBytes: dataBytes(cell)) }
        let estimate = MemoryEstimate.estimate(model: cell.model, train: cell.train, available: available)
        cache.withLock { $0[key] = estimate }
        return estimate.adding(dataBytes: dataBytes(cell))
    }

    private static let cache = Mutex<[String: MemoryEstimate]>([:])

    /// A text corpus is held in memory as bytes and as one Int32 token per byte.
    static func dataBytes(_ cell: Cell) -> Int {
        guard cell.data.kind == .text, let path = cell.data.text?.path,
              let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int else { return 0 }
        return 5 * size
    }

    /// One line per cell that cannot fit (for `jobs` > 1, also when the `jobs` largest cells
    /// together cannot); empty when everything fits or nothing is known about the memory.
    public static func refusals(_ cells: [Cell], jobs: Int = 1,
                                available: AvailableMemory? = AvailableMemory.current()) -> [String] {
        guard let available else { return [] }
        var lines: [String] = []
        var totals: [Int] = []
        for cell in cells {
            let estimate = estimate(cell, available: available.bytes)
            totals.append(estimate.total)
            if estimate.total > available.bytes { lines.append(refusal(cell, estimate, available)) }
        }
        if lines.isEmpty, jobs > 1, cells.count > 1 {
            let together = totals.sorted(by: >).prefix(jobs).reduce(0, +)
            if together > available.bytes {
                lines.append("--jobs \(jobs): the \(min(jobs, cells.count)) largest cells together need an estimated \(together.byteText), more than the \(available.bytes.byteText) available (\(available.source)); lower --jobs")
            }
        }
        return lines
    }

    static func refusal(_ cell: Cell, _ estimate: MemoryEstimate, _ available: AvailableMemory) -> String {
        let name = "cell \(cell.index) (\(cell.label))"
        var parts = ["\(name): estimated peak memory \(estimate.total.byteText) exceeds the \(available.bytes.byteText) available (\(available.source))."]
        let state = estimate.parameters + estimate.gradients + estimate.adamMoments
        parts.append("Model state \(state.byteText) (model.*: \(cell.model.totalParameters) parameters × 16 bytes for weights, gradients and AdamW moments);")
        parts.append("activations \(estimate.activations.byteText)\(estimate.measured ? "" : " at least") for \(estimate.sequencesPerMicroBatch) sequence(s) of train.seq_len=\(cell.train.seqLen) per micro-batch (train.batch_size=\(cell.train.batchSize) / train.micro_batches=\(cell.train.microBatches)).")
        if let fit = estimate.sequencesFitting(in: available.bytes), fit >= 1 {
            let microBatches = (cell.train.batchSize + fit - 1) / fit
            parts.append("At most \(fit) sequence(s) per micro-batch fit: lower train.batch_size to ≤ \(fit * cell.train.microBatches), or raise train.micro_batches to ≥ \(microBatches) (it must divide the batch size), or shorten train.seq_len.")
        } else {
            parts.append("Even one sequence per micro-batch does not fit: shrink the model (model.d_model, model.layers, model.vocab, model.ffn.moe.experts) to below \((available.bytes - estimate.baseline).byteText) of state and activations.")
        }
        return parts.joined(separator: " ")
    }
}

extension MemoryEstimate {
    func adding(dataBytes: Int) -> MemoryEstimate {
        var copy = self
        copy.baseline += dataBytes
        return copy
    }
}
