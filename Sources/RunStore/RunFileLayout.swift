// Where things live in a run file, and the reading code the reader and the resuming writer share.
// Aligned groups: /metrics/train (with /moe/layer_<l> riding on its rows), /metrics/eval, and each
// tensor's pair /tensors/<name> + /tensors/<name>_steps.
import Foundation
import HDF5

enum Layout {
    static let train = "metrics/train"
    static let eval = "metrics/eval"
    static let moe = "moe"
    static let tensors = "tensors"
    static let checkpoint = "checkpoint"
    static let stepsSuffix = "_steps"
    static let slots = ["slot_0", "slot_1"]

    /// Checkpoint sections: (group name in a slot, key path of `Checkpoint`).
    static var arraySections: [(name: String, keyPath: WritableKeyPath<Checkpoint, [String: CheckpointArray]>)] { [
        ("parameters", \.parameters),
        ("optimizer_m", \.adamM),
        ("optimizer_v", \.adamV),
        ("balancing_bias", \.balancingBiases),
        ("arrays", \.arrays),
    ] }
    static let scalarSection = "scalars"

    /// Key of a tensor's aligned group in a checkpoint's `aligned_groups`.
    static func tensorKey(_ name: String) -> String { "\(tensors)/\(name)" }

    static func layerName(_ layer: Int) -> String { "layer_\(layer)" }
}

extension H5Group {
    /// Relative paths of every dataset below this group, depth first, sorted.
    func datasetPaths(prefix: String = "") throws -> [String] {
        var result: [String] = []
        for name in try linkNames() {
            let relative = prefix.isEmpty ? name : "\(prefix)/\(name)"
            switch try kind(of: name) {
            case .dataset: result.append(relative)
            case .group: result += try group(name).datasetPaths(prefix: relative)
            case .datatype: break
            }
        }
        return result
    }

    func stringAttribute(_ name: String, default fallback: String = "") throws -> String {
        try hasAttribute(name) ? (try attribute(name).stringValue ?? fallback) : fallback
    }

    func intAttribute(_ name: String, default fallback: Int64 = -1) throws -> Int64 {
        try hasAttribute(name) ? (try attribute(name).intValue ?? fallback) : fallback
    }
}

/// A checkpoint slot as found in a file.
struct StoredCheckpoint {
    var slot: Int
    var checkpoint: Checkpoint
    /// Rows of each aligned group when the checkpoint was written (key: "metrics/train", …).
    var alignedRows: [String: Int]
}

enum RunFileRead {
    /// The slot the file's pointer names, if complete; otherwise the complete slot with the
    /// highest step (a pointer lost to a torn write); nil when no slot is complete.
    static func currentSlot(_ root: H5Group) throws -> Int? {
        guard try root.contains(Layout.checkpoint) else { return nil }
        let group = try root.group(Layout.checkpoint)
        var complete: [(slot: Int, step: Int64)] = []
        for (index, name) in Layout.slots.enumerated() where try group.contains(name) {
            let slot = try group.group(name)
            if try slot.intAttribute("complete", default: 0) == 1 {
                complete.append((index, try slot.intAttribute("step")))
            }
        }
        let pointer = try group.stringAttribute("current")
        if let index = Layout.slots.firstIndex(of: pointer), complete.contains(where: { $0.slot == index }) {
            return index
        }
        return complete.max { $0.step < $1.step }?.slot
    }

    static func checkpoint(_ root: H5Group, slot index: Int, path: String) throws -> StoredCheckpoint {
        let slotPath = "\(Layout.checkpoint)/\(Layout.slots[index])"
        guard try root.contains(slotPath) else {
            throw RunStoreError(.invalid, path: path, "'\(path)' has no checkpoint slot /\(slotPath)")
        }
        let slot = try root.group(slotPath)
        guard let step = try slot.dataset("step").read(as: Int64.self).first else {
            throw RunStoreError(.corrupt, path: path, "'\(path)': /\(slotPath)/step is empty")
        }
        var checkpoint = Checkpoint(step: Int(step), parameters: [:])
        for section in Layout.arraySections where try slot.contains(section.name) {
            let group = try slot.group(section.name)
            var arrays: [String: CheckpointArray] = [:]
            for name in try group.datasetPaths() {
                let dataset = try group.dataset(name)
                arrays[name] = CheckpointArray(shape: try dataset.shape(), values: try dataset.read(as: Float.self))
            }
            checkpoint[keyPath: section.keyPath] = arrays
        }
        if try slot.contains(Layout.scalarSection) {
            let group = try slot.group(Layout.scalarSection)
            for name in try group.datasetPaths() {
                checkpoint.scalars[name] = try group.dataset(name).read(as: Int64.self).first
            }
        }
        var aligned: [String: Int] = [:]
        if try slot.hasAttribute("aligned_groups") {
            let names: [String]
            switch try slot.attribute("aligned_groups") {
            case .strings(let list): names = list
            case .string(let one): names = [one]
            default: names = []
            }
            let rows: [Int64]
            switch try slot.attribute("aligned_rows") {
            case .ints(let list): rows = list
            case .int(let one): rows = [one]
            default: rows = []
            }
            guard names.count == rows.count else {
                throw RunStoreError(.corrupt, path: path, "'\(path)': /\(slotPath) has \(names.count) aligned groups but \(rows.count) row counts")
            }
            for (name, count) in zip(names, rows) { aligned[name] = Int(count) }
        }
        return StoredCheckpoint(slot: index, checkpoint: checkpoint, alignedRows: aligned)
    }

    /// A metric group: `step` plus float64 columns, all of one length. `live`: the file is being
    /// written (status running), and the writer extends one dataset after another at each flush,
    /// so a read between two of them sees some columns longer than others; the rows every column
    /// has are complete, and the table is cut to them. In a finished file, unequal lengths are damage.
    static func metricTable(_ root: H5Group, _ groupPath: String, path: String, live: Bool = false) throws -> MetricTable {
        guard try root.contains(groupPath) else { return MetricTable() }
        let group = try root.group(groupPath)
        var table = MetricTable()
        if try group.contains("step") { table.steps = try group.dataset("step").read(as: Int64.self) }
        for name in try group.linkNames() where name != "step" {
            let column = try group.dataset(name).read(as: Double.self)
            guard column.count == table.steps.count || live else {
                throw RunStoreError(.corrupt, path: path,
                                    "'\(path)': /\(groupPath)/\(name) has \(column.count) rows but /\(groupPath)/step has \(table.steps.count)")
            }
            table.columns[name] = column
        }
        if live {
            let rows = table.columns.values.map(\.count).reduce(table.steps.count, min)
            table.steps = Array(table.steps.prefix(rows))
            for name in table.columns.keys { table.columns[name] = Array(table.columns[name]!.prefix(rows)) }
        }
        return table
    }

    /// Layer numbers present under /moe, ascending.
    static func moeLayers(_ root: H5Group) throws -> [Int] {
        guard try root.contains(Layout.moe) else { return [] }
        return try root.group(Layout.moe).linkNames()
            .compactMap { $0.hasPrefix("layer_") ? Int($0.dropFirst("layer_".count)) : nil }
            .sorted()
    }

    /// One MoE layer's series; `live` cuts a file being written to the rows every dataset has
    /// (as `metricTable`).
    static func moeSeries(_ root: H5Group, layer: Int, path: String, live: Bool = false) throws -> MoELayerSeries {
        let group = try root.group("\(Layout.moe)/\(Layout.layerName(layer))")
        let loadSet = try group.dataset("load")
        let shape = try loadSet.shape()
        var series = MoELayerSeries(
            layer: layer, experts: shape.count == 2 ? shape[1] : 0,
            load: try loadSet.read(as: Int64.self), bias: try group.dataset("bias").read(as: Float.self),
            maxvio: try group.dataset("maxvio").read(as: Double.self),
            entropy: try group.dataset("entropy").read(as: Double.self),
            dropped: try group.dataset("dropped").read(as: Double.self))
        let loadRows = series.load.count / max(series.experts, 1)
        let lengths = [series.bias.count / max(series.experts, 1), series.maxvio.count, series.entropy.count, series.dropped.count]
        if live {
            let rows = lengths.reduce(loadRows, min), e = series.experts
            series.load = Array(series.load.prefix(rows * e))
            series.bias = Array(series.bias.prefix(rows * e))
            series.maxvio = Array(series.maxvio.prefix(rows))
            series.entropy = Array(series.entropy.prefix(rows))
            series.dropped = Array(series.dropped.prefix(rows))
            return series
        }
        let rows = shape.first ?? 0
        guard lengths.allSatisfy({ $0 == rows }) else {
            throw RunStoreError(.corrupt, path: path, "'\(path)': the datasets of /moe/layer_\(layer) have different lengths")
        }
        return series
    }

    /// Names of the tensors under /tensors (relative paths, without the `_steps` companions).
    static func tensorNames(_ root: H5Group) throws -> [String] {
        guard try root.contains(Layout.tensors) else { return [] }
        return try root.group(Layout.tensors).datasetPaths().filter { !$0.hasSuffix(Layout.stepsSuffix) }
    }

    static func tensor(_ root: H5Group, _ name: String, path: String) throws -> TensorSeries {
        let valuesPath = "\(Layout.tensors)/\(name)"
        guard try root.contains(valuesPath) else {
            throw RunStoreError(.invalid, path: path, "'\(path)' has no tensor /\(valuesPath)")
        }
        let dataset = try root.dataset(valuesPath)
        let shape = try dataset.shape()
        let steps = try root.dataset(valuesPath + Layout.stepsSuffix).read(as: Int64.self)
        guard shape.first == steps.count else {
            throw RunStoreError(.corrupt, path: path, "'\(path)': /\(valuesPath) has \(shape.first ?? 0) snapshots but \(steps.count) steps")
        }
        var axes: [String] = []
        if try dataset.hasAttribute("axes"), case .strings(let list) = try dataset.attribute("axes") { axes = list }
        var labels: [String: [String]] = [:]
        for axis in axes where try dataset.hasAttribute("labels_\(axis)") {
            if case .strings(let list) = try dataset.attribute("labels_\(axis)") { labels[axis] = list }
        }
        return TensorSeries(name: name, steps: steps, shape: Array(shape.dropFirst()),
                            values: try dataset.read(as: Float.self), axes: axes, labels: labels)
    }
}
