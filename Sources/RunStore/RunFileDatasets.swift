// The extendible datasets a run file grows step by step: metric groups, MoE layer series and
// tensor snapshots (RunFileWriter appends through them).
import Foundation
import HDF5
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A metric group: `step` (int64) and one float64 column per metric, always the same length.
final class MetricGroup {
    private let root: H5Group
    private let groupPath: String
    private var group: H5Group?
    private var stepSet: H5Dataset?
    private var columns: [String: H5Dataset] = [:]
    private(set) var rows = 0
    private(set) var lastStep: Int?

    init(root: H5Group, path: String, filePath: String) throws {
        self.root = root
        self.groupPath = path
        guard try root.contains(path) else { return }
        let group = try root.group(path)
        self.group = group
        let stepSet = try group.dataset("step")
        self.stepSet = stepSet
        rows = try stepSet.shape().first ?? 0
        // Lengths are not checked here: a killed writer may leave them uneven past its last
        // flush, and resume (the only way to reopen a file) cuts every dataset back anyway.
        for name in try group.linkNames() where name != "step" { columns[name] = try group.dataset(name) }
        try readLastStep()
    }

    private func readLastStep() throws {
        lastStep = rows == 0 ? nil : Int(try stepSet!.read(start: [rows - 1], count: [1], as: Int64.self)[0])
    }

    func check(step: Int, metrics: [String: Double], filePath: String) throws {
        for name in metrics.keys where name == "step" || !RunFileSchema.validName(name, allowSlash: false) {
            throw RunStoreError(.invalid, path: filePath, "'\(filePath)': invalid metric name '\(name)' for /\(groupPath) (letters, digits, _ . -; not 'step')")
        }
        if let lastStep, step <= lastStep {
            throw RunStoreError(.invalid, path: filePath, "'\(filePath)': /\(groupPath) row for step \(step) after step \(lastStep); steps must increase")
        }
    }

    func append(step: Int, metrics: [String: Double]) throws {
        if group == nil {
            let created = try root.requireGroup(groupPath)
            group = created
            stepSet = try created.createExtendibleDataset("step", of: Int64.self, gzipLevel: nil, shuffle: false)
        }
        for name in metrics.keys.sorted() where columns[name] == nil {
            let column = try group!.createExtendibleDataset(name, of: Double.self, gzipLevel: nil, shuffle: false)
            if rows > 0 { try column.append([Double](repeating: .nan, count: rows)) }
            columns[name] = column
        }
        for (name, column) in columns { try column.append([metrics[name] ?? .nan]) }
        try stepSet!.append([Int64(step)])
        rows += 1
        lastStep = step
    }

    /// Cuts every dataset of the group to `count` rows (all of them, so uneven lengths left by
    /// a kill are evened out too).
    func truncate(to count: Int, filePath: String) throws {
        guard let stepSet else {
            if count == 0 { return }
            throw RunStoreError(.corrupt, path: filePath, "'\(filePath)': /\(groupPath) is missing; the checkpoint covers \(count) of its rows")
        }
        for dataset in [stepSet] + columns.values {
            let length = try dataset.shape().first ?? 0
            guard length >= count else {
                throw RunStoreError(.corrupt, path: filePath, "'\(filePath)': \(dataset.path) has \(length) rows, fewer than the \(count) its checkpoint covers")
            }
            try dataset.resize(rows: count)
        }
        rows = count
        try readLastStep()
    }
}

/// /moe/layer_<l>: load [n, E] int64, bias [n, E] float32, maxvio, entropy, dropped [n] float64.
final class MoELayerDatasets {
    let layer: Int
    let experts: Int
    let load, bias, maxvio, entropy, dropped: H5Dataset

    init(create root: H5Group, layer: Int, experts: Int) throws {
        let group = try root.createGroup("\(Layout.moe)/\(Layout.layerName(layer))")
        self.layer = layer
        self.experts = experts
        load = try group.createExtendibleDataset("load", of: Int64.self, rowShape: [experts], gzipLevel: nil, shuffle: false)
        bias = try group.createExtendibleDataset("bias", of: Float.self, rowShape: [experts], gzipLevel: nil, shuffle: false)
        maxvio = try group.createExtendibleDataset("maxvio", of: Double.self, gzipLevel: nil, shuffle: false)
        entropy = try group.createExtendibleDataset("entropy", of: Double.self, gzipLevel: nil, shuffle: false)
        dropped = try group.createExtendibleDataset("dropped", of: Double.self, gzipLevel: nil, shuffle: false)
    }

    init(open group: H5Group) throws {
        layer = Int(group.path.split(separator: "_").last ?? "") ?? -1
        load = try group.dataset("load")
        experts = try load.shape().last ?? 0
        bias = try group.dataset("bias")
        maxvio = try group.dataset("maxvio")
        entropy = try group.dataset("entropy")
        dropped = try group.dataset("dropped")
    }

    func append(_ row: MoELayerRow) throws {
        try load.append(row.load)
        try bias.append(row.bias)
        try maxvio.append([row.maxvio])
        try entropy.append([row.entropy])
        try dropped.append([row.dropped])
    }

    func truncate(to rows: Int, filePath: String) throws {
        for dataset in [load, bias, maxvio, entropy, dropped] {
            guard try dataset.shape()[0] >= rows else {
                throw RunStoreError(.corrupt, path: filePath, "'\(filePath)': \(dataset.path) has fewer rows than the checkpoint's \(rows)")
            }
            try dataset.resize(rows: rows)
        }
    }
}

/// /tensors/<name> [k, shape…] float32 and /tensors/<name>_steps [k] int64.
final class TensorDatasets {
    let values: H5Dataset
    let steps: H5Dataset
    let shape: [Int]
    private(set) var rows: Int
    private(set) var lastStep: Int?

    init(create root: H5Group, name: String, shape: [Int], axes: [String], labels: [String: [String]] = [:]) throws {
        let group = try root.requireGroup(Layout.tensors)
        values = try group.createExtendibleDataset(name, of: Float.self, rowShape: shape, chunkRows: 1)
        steps = try group.createExtendibleDataset(name + Layout.stepsSuffix, of: Int64.self, gzipLevel: nil, shuffle: false)
        if !axes.isEmpty { try values.setAttribute("axes", .strings(axes)) }
        for axis in labels.keys.sorted() { try values.setAttribute("labels_\(axis)", .strings(labels[axis]!)) }
        self.shape = shape
        rows = 0
    }

    init(open root: H5Group, name: String) throws {
        values = try root.dataset("\(Layout.tensors)/\(name)")
        steps = try root.dataset("\(Layout.tensors)/\(name)\(Layout.stepsSuffix)")
        let full = try values.shape()
        shape = Array(full.dropFirst())
        rows = full.first ?? 0
        try readLastStep()
    }

    private func readLastStep() throws {
        lastStep = rows == 0 ? nil : Int(try steps.read(start: [rows - 1], count: [1], as: Int64.self)[0])
    }

    func append(step: Int, values snapshot: [Float]) throws {
        try values.append(snapshot)
        try steps.append([Int64(step)])
        rows += 1
        lastStep = step
    }

    func truncate(to count: Int, filePath: String) throws {
        guard try steps.shape()[0] >= count, rows >= count else {
            throw RunStoreError(.corrupt, path: filePath, "'\(filePath)': \(values.path) has fewer snapshots than the checkpoint's \(count)")
        }
        try values.resize(rows: count)
        try steps.resize(rows: count)
        rows = count
        try readLastStep()
    }
}
