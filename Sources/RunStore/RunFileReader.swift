// Reads a run file for analysis and resume: opened read-only, schema checked on open, then
// attributes, spec texts, metric groups, MoE series, tensor snapshots and the checkpoint.
import Foundation
import HDF5

public final class RunFileReader {
    public let path: String
    private let file: H5File
    private let root: H5Group

    /// Opens `path` read-only. Throws `RunStoreError.Kind.schemaMismatch` for a file of another
    /// schema or version (the message names both), `HDF5Error` for a missing or damaged file.
    public init(path: String) throws {
        self.path = path
        file = try H5File(path: path, mode: .readOnly)
        do {
            root = try file.root
            try RunFileSchema.check(root, path: path)
        } catch {
            file.close()
            throw error
        }
    }

    public func close() { file.close() }
    deinit { file.close() }

    public func status() throws -> RunStatus {
        let text = try root.stringAttribute("status")
        guard let status = RunStatus(rawValue: text) else {
            throw RunStoreError(.corrupt, path: path, "'\(path)' has unknown status '\(text)'")
        }
        return status
    }

    /// Every root attribute.
    public func attributes() throws -> RunAttributes {
        func string(_ name: String) throws -> String { try root.stringAttribute(name) }
        func int(_ name: String) throws -> Int { Int(try root.intAttribute(name)) }
        let dirty = try root.intAttribute("git_dirty")
        var modelStats: [String: Int64] = [:]
        for name in try root.attributeNames() where name.hasPrefix("model_") {
            if let value = try root.attribute(name).intValue { modelStats[String(name.dropFirst(6))] = value }
        }
        return RunAttributes(
            schemaVersion: try int("schema_version"),
            run: RunInfo(runID: try string("run_id"), specName: try string("spec_name"), label: try string("label"),
                         specSHA256: try string("spec_sha256"), seed: try int("seed"),
                         // Files written before the in-tree kernels have `blas` and no `isa`.
                         isa: (try? string("isa")) ?? "unknown (\((try? string("blas")) ?? "no isa attribute"))",
                         cpuFeatures: (try? string("cpu_features")) ?? "",
                         kernelVersion: (try? string("kernel_version")) ?? "",
                         threads: try int("threads"), modelStats: modelStats,
                         dataSHA256: (try? string("data_sha256")) ?? ""),
            status: try status(),
            createdUTC: try string("created_utc"), updatedUTC: try string("updated_utc"),
            finishedUTC: try string("finished_utc"),
            provenance: Provenance(
                version: try string("harness_version"), gitCommit: try string("git_commit"),
                gitDirty: dirty < 0 ? nil : dirty == 1, buildConfiguration: try string("build_configuration"),
                kernelTarget: try string("kernel_target"), swiftVersion: try string("swift_version"),
                os: try string("os"), cpuModel: try string("cpu_model"), hdf5Version: try string("hdf5_version")),
            lastStep: try int("last_step"), divergedStep: try int("diverged_step"), error: try string("error"))
    }

    /// The process that last created or resumed the file; nil for files written before the
    /// writer was recorded.
    public func writerProcess() throws -> WriterProcess? {
        let pid = try root.intAttribute("writer_pid")
        guard pid > 0 else { return nil }
        return WriterProcess(pid: Int(pid), host: try root.stringAttribute("writer_host"),
                             startTicks: try root.intAttribute("writer_start_ticks"),
                             bootID: try root.stringAttribute("writer_boot_id"),
                             requeues: Int(try root.intAttribute("requeues", default: 0)))
    }

    /// Peak resident memory of the writing process as of its last flush (bytes); nil when not recorded.
    public func peakResidentBytes() throws -> Int? {
        let bytes = try root.intAttribute("peak_rss_bytes")
        return bytes > 0 ? Int(bytes) : nil
    }

    public func spec() throws -> SpecTexts {
        SpecTexts(given: try root.dataset("spec/given").readString(),
                  overrides: try root.dataset("spec/overrides").readStrings(),
                  resolved: try root.dataset("spec/resolved").readString())
    }

    /// /metrics/train: steps and every metric column (empty before the first row). In a file
    /// still being written, cut to the rows every column has (a flush may be half done).
    public func trainMetrics() throws -> MetricTable { try RunFileRead.metricTable(root, Layout.train, path: path, live: isLive) }

    /// /metrics/eval.
    public func evalMetrics() throws -> MetricTable { try RunFileRead.metricTable(root, Layout.eval, path: path, live: isLive) }

    /// The file says it is being written (status running).
    var isLive: Bool { (try? status()) == .running }

    /// Every /moe/layer_<l>, by layer; rows aligned with `trainMetrics().steps`.
    public func moeLayers() throws -> [MoELayerSeries] {
        try RunFileRead.moeLayers(root).map { try RunFileRead.moeSeries(root, layer: $0, path: path, live: isLive) }
    }

    public func tensorNames() throws -> [String] { try RunFileRead.tensorNames(root) }

    public func tensor(_ name: String) throws -> TensorSeries { try RunFileRead.tensor(root, name, path: path) }

    /// The last good checkpoint (see `RunFileWriter.writeCheckpoint`), nil if none was written.
    public func checkpoint() throws -> Checkpoint? {
        try RunFileRead.currentSlot(root).map { try RunFileRead.checkpoint(root, slot: $0, path: path).checkpoint }
    }

    /// Which slot (0 or 1) holds the last good checkpoint, nil if none.
    public func checkpointSlot() throws -> Int? { try RunFileRead.currentSlot(root) }

    /// The checkpoint stored in `slot` whether or not it is current (for diagnostics and tests).
    public func checkpoint(slot: Int) throws -> Checkpoint {
        guard Layout.slots.indices.contains(slot) else {
            throw RunStoreError(.invalid, path: path, "checkpoint slot \(slot) does not exist; slots are 0 and 1")
        }
        return try RunFileRead.checkpoint(root, slot: slot, path: path).checkpoint
    }
}
