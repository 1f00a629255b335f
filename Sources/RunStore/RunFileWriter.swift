// Writes one run file: created with provenance and spec, then appended to step by step (train
// rows with their MoE rows, eval rows, tensor snapshots), checkpointed into two alternating
// slots, finished with a status. Resume reopens a file and cuts every aligned group back to the
// rows its last good checkpoint covers, so appends continue exactly where it left off.
//
// Durability: the caller flushes (every log.flush_every steps); checkpoints and `finish` flush
// themselves. A killed writer's file holds everything up to its last flush. A checkpoint is
// written into the slot that is not current, flushed, and only then does /checkpoint@current
// flip to it (flushed again): a kill at any point leaves the previous checkpoint intact.
import Foundation
import HDF5
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public final class RunFileWriter {
    public let path: String
    private let file: H5File
    private let root: H5Group
    public private(set) var status: RunStatus
    private var train: MetricGroup
    private var eval: MetricGroup
    private var moeLayers: [MoELayerDatasets] = []
    private var tensors: [String: TensorDatasets] = [:]
    /// Index into `Layout.slots` of the last good checkpoint, nil before the first.
    private var currentSlot: Int?

    private init(path: String, file: H5File, status: RunStatus) throws {
        self.path = path
        self.file = file
        self.root = try file.root
        self.status = status
        train = try MetricGroup(root: root, path: Layout.train, filePath: path)
        eval = try MetricGroup(root: root, path: Layout.eval, filePath: path)
        for layer in try RunFileRead.moeLayers(root) {
            moeLayers.append(try MoELayerDatasets(open: try root.group("\(Layout.moe)/\(Layout.layerName(layer))")))
        }
        guard moeLayers.enumerated().allSatisfy({ $0.offset == $0.element.layer }) else {
            throw RunStoreError(.corrupt, path: path, "'\(path)': /moe layers are not numbered 0, 1, …")
        }
        for name in try RunFileRead.tensorNames(root) {
            tensors[name] = try TensorDatasets(open: root, name: name)
        }
        currentSlot = try RunFileRead.currentSlot(root)
    }

    // MARK: Creating and resuming

    /// Creates a new run file at `path` (creating its directory) with every root attribute and
    /// `/spec`, status `running`, and flushes it. An existing file at `path` is never replaced.
    public static func create(path: String, run: RunInfo, spec: SpecTexts,
                              provenance: Provenance = .current()) throws -> RunFileWriter {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw RunStoreError(.unwritable, path: path,
                                "cannot create run file '\(path)': cannot create directory '\(directory)' (\(reason(error)))")
        }
        // Claim the path atomically: O_EXCL fails if anything is already there.
        let descriptor = open(path, O_CREAT | O_EXCL | O_WRONLY, 0o644)
        if descriptor < 0 {
            let code = errno
            if code == EEXIST {
                throw RunStoreError(.exists, path: path,
                                    "run file '\(path)' already exists; refusing to replace it (resume it, or choose another run directory)")
            }
            throw RunStoreError(.unwritable, path: path,
                                "cannot create run file '\(path)': \(String(cString: strerror(code)))")
        }
        _ = closeDescriptor(descriptor)
        let file: H5File
        do {
            file = try H5File(path: path, mode: .truncate)
        } catch {
            try? FileManager.default.removeItem(atPath: path)  // our own empty claim, nothing else
            throw error
        }
        do {
            let root = try file.root
            let now = RunFileSchema.utcNow()
            let attributes: [(String, H5AttributeValue)] = [
                ("schema", .string(RunFileSchema.name)),
                ("schema_version", .int(Int64(RunFileSchema.version))),
                ("run_id", .string(run.runID)),
                ("spec_name", .string(run.specName)),
                ("label", .string(run.label)),
                ("status", .string(RunStatus.running.rawValue)),
                ("created_utc", .string(now)),
                ("updated_utc", .string(now)),
                ("finished_utc", .string("")),
                ("spec_sha256", .string(run.specSHA256)),
                ("data_sha256", .string(run.dataSHA256)),
                ("git_commit", .string(provenance.gitCommit)),
                ("git_dirty", .int(provenance.gitDirty.map { $0 ? 1 : 0 } ?? -1)),
                ("harness_version", .string(provenance.version)),
                ("build_configuration", .string(provenance.buildConfiguration)),
                ("kernel_target", .string(provenance.kernelTarget)),
                ("swift_version", .string(provenance.swiftVersion)),
                ("os", .string(provenance.os)),
                ("cpu_model", .string(provenance.cpuModel)),
                ("hdf5_version", .string(provenance.hdf5Version)),
                ("isa", .string(run.isa)),
                ("cpu_features", .string(run.cpuFeatures)),
                ("kernel_version", .string(run.kernelVersion)),
                ("threads", .int(Int64(run.threads))),
                ("seed", .int(Int64(run.seed))),
                ("last_step", .int(-1)),
                ("diverged_step", .int(-1)),
                ("error", .string("")),
            ]
            for (name, value) in attributes { try root.setAttribute(name, value) }
            try recordWriter(root, requeuesSoFar: 0)
            for key in run.modelStats.keys.sorted() {
                guard RunFileSchema.validName(key, allowSlash: false) else {
                    throw RunStoreError(.invalid, path: path, "model stat name '\(key)' is not a valid attribute name")
                }
                try root.setAttribute("model_\(key)", .int(run.modelStats[key]!))
            }
            let specGroup = try root.createGroup("spec")
            try specGroup.createStringDataset("given", value: spec.given)
            try specGroup.createStringArrayDataset("overrides", values: spec.overrides)
            try specGroup.createStringDataset("resolved", value: spec.resolved)
            let checkpoint = try root.createGroup(Layout.checkpoint)
            try checkpoint.setAttribute("current", "")
            try checkpoint.setAttribute("step", .int(-1))
            try file.flush()
            return try RunFileWriter(path: path, file: file, status: .running)
        } catch {
            if StorageFailure(error, path: path) != nil {
                // A full disk before the first flush: nothing worth keeping, and closing could crash.
                RunFileWriter.keepForever(file)
                unlink(path)
            } else {
                file.close()
            }
            throw error
        }
    }

    /// Refuses to continue or re-execute a run on other data than it was trained on: the same spec
    /// can name a corpus whose files changed (another package version, an edited file). Files
    /// from before `data_sha256` was recorded (empty) are not checked.
    public static func checkData(recorded: String, current: String, path: String, doing: String) throws {
        guard !recorded.isEmpty, recorded != current else { return }
        throw RunStoreError(.specMismatch, path: path,
                            "run file '\(path)' was trained on data with sha256 \(recorded), but its data files (data.text.path, or data.tokens' files) now read as \(current.isEmpty ? "no corpus" : current): the data changed; refusing to \(doing) on other data (restore the corpus, or start a new run directory)")
    }

    /// Reopens the run file at `path` to continue it. Checks the schema, that `specSHA256` is the
    /// spec the file was written for, and that the run is not completed — before changing
    /// anything. Then cuts every aligned group back to the rows the last good checkpoint covers
    /// (to zero rows without a checkpoint), sets status `running` and flushes. Returns the
    /// checkpoint to restore, nil to start from step 0.
    public static func resume(path: String, specSHA256: String, dataSHA256: String = "") throws -> (writer: RunFileWriter, checkpoint: Checkpoint?) {
        do {
            let reader = try RunFileReader(path: path)
            defer { reader.close() }
            let attributes = try reader.attributes()
            guard attributes.run.specSHA256 == specSHA256 else {
                throw RunStoreError(.specMismatch, path: path,
                                    "run file '\(path)' was written for spec sha256 \(attributes.run.specSHA256), not \(specSHA256); refusing to resume it with a different spec")
            }
            try checkData(recorded: attributes.run.dataSHA256, current: dataSHA256, path: path, doing: "resume")
            guard attributes.status != .completed else {
                throw RunStoreError(.alreadyCompleted, path: path,
                                    "run file '\(path)' is completed; nothing to resume (its results are kept as they are)")
            }
        }
        let file = try H5File(path: path, mode: .readWrite)
        do {
            let writer = try RunFileWriter(path: path, file: file, status: .running)
            let stored = try writer.currentSlot.map { try RunFileRead.checkpoint(writer.root, slot: $0, path: path) }
            try writer.truncate(to: stored?.alignedRows ?? [:])
            let root = writer.root
            try root.setAttribute("status", RunStatus.running.rawValue)
            try root.setAttribute("finished_utc", "")
            try root.setAttribute("diverged_step", .int(-1))
            try root.setAttribute("error", "")
            try recordWriter(root, requeuesSoFar: Int(try root.intAttribute("requeues", default: 0)))
            try writer.flush()
            return (writer, stored?.checkpoint)
        } catch {
            file.close()
            throw error
        }
    }

    /// Cuts aligned groups back to `rows` (missing keys: zero rows).
    private func truncate(to rows: [String: Int]) throws {
        let trainRows = rows[Layout.train] ?? 0
        try train.truncate(to: trainRows, filePath: path)
        for layer in moeLayers { try layer.truncate(to: trainRows, filePath: path) }
        try eval.truncate(to: rows[Layout.eval] ?? 0, filePath: path)
        for (name, tensor) in tensors { try tensor.truncate(to: rows[Layout.tensorKey(name)] ?? 0, filePath: path) }
    }

    // MARK: Appending

    /// Appends one training row: `step` (strictly increasing), a value for every metric (a name
    /// new to the group gets a dataset backfilled with NaN; a known name left out gets NaN), and
    /// one row per MoE layer — every train row of a MoE model carries all its layers.
    public func appendTrain(step: Int, metrics: [String: Double], moe: [MoELayerRow] = []) throws {
        try requireRunning()
        if moeLayers.isEmpty && !moe.isEmpty && train.rows > 0 {
            throw RunStoreError(.invalid, path: path, "'\(path)': MoE rows must start with the first train row, not at step \(step)")
        }
        if !moeLayers.isEmpty && moe.count != moeLayers.count {
            throw RunStoreError(.invalid, path: path, "'\(path)': step \(step) gives \(moe.count) MoE layer rows; the run has \(moeLayers.count)")
        }
        for (layer, row) in moe.enumerated() {
            guard row.load.count == row.bias.count, !row.load.isEmpty,
                  layer >= moeLayers.count || moeLayers[layer].experts == row.load.count else {
                throw RunStoreError(.invalid, path: path, "'\(path)': MoE layer \(layer) at step \(step) has \(row.load.count) loads and \(row.bias.count) biases; expected \(layer < moeLayers.count ? moeLayers[layer].experts : row.load.count) of each")
            }
        }
        try train.check(step: step, metrics: metrics, filePath: path)
        if moeLayers.isEmpty && !moe.isEmpty {
            for (layer, row) in moe.enumerated() {
                moeLayers.append(try MoELayerDatasets(create: root, layer: layer, experts: row.load.count))
            }
        }
        try train.append(step: step, metrics: metrics)
        for (layer, row) in zip(moeLayers, moe) { try layer.append(row) }
    }

    /// Appends one evaluation row (same rules as train metrics).
    public func appendEval(step: Int, metrics: [String: Double]) throws {
        try requireRunning()
        try eval.check(step: step, metrics: metrics, filePath: path)
        try eval.append(step: step, metrics: metrics)
    }

    /// Appends a snapshot of tensor `name` (e.g. "attn_probs/layer_0") taken at `step`. Every
    /// snapshot of a name has the same `shape`; `axes` (optional) names its axes, kept from the first.
    /// `labels`: names of the positions along some axes (axis name → one label per position),
    /// stored with the first snapshot as string attributes `labels_<axis>`.
    public func appendTensor(_ name: String, step: Int, shape: [Int], values: [Float], axes: [String] = [],
                             labels: [String: [String]] = [:]) throws {
        try requireRunning()
        guard RunFileSchema.validName(name, allowSlash: true), !name.hasSuffix(Layout.stepsSuffix) else {
            throw RunStoreError(.invalid, path: path, "'\(path)': invalid tensor name '\(name)' (letters, digits, _ . - and /; not ending in _steps)")
        }
        guard shape.reduce(1, *) == values.count, shape.allSatisfy({ $0 > 0 }) else {
            throw RunStoreError(.invalid, path: path, "'\(path)': tensor '\(name)' of shape \(shape) cannot hold \(values.count) values")
        }
        guard axes.isEmpty || axes.count == shape.count else {
            throw RunStoreError(.invalid, path: path, "'\(path)': tensor '\(name)' has \(shape.count) axes but \(axes.count) axis names")
        }
        for (axis, names) in labels {
            guard let index = axes.firstIndex(of: axis), shape[index] == names.count, RunFileSchema.validName(axis, allowSlash: false) else {
                throw RunStoreError(.invalid, path: path, "'\(path)': tensor '\(name)' labels axis '\(axis)' with \(names.count) names; its axes are \(axes), shape \(shape)")
            }
        }
        if let existing = tensors[name] {
            guard existing.shape == shape else {
                throw RunStoreError(.invalid, path: path, "'\(path)': tensor '\(name)' has snapshots of shape \(existing.shape), not \(shape)")
            }
            if let last = existing.lastStep, step <= last {
                throw RunStoreError(.invalid, path: path, "'\(path)': tensor '\(name)' snapshot at step \(step) after step \(last)")
            }
        } else {
            tensors[name] = try TensorDatasets(create: root, name: name, shape: shape, axes: axes, labels: labels)
        }
        try tensors[name]!.append(step: step, values: values)
    }

    // MARK: Checkpoints, status, flush

    /// Writes `checkpoint` into the slot that is not current, then makes it current. Flushes
    /// three times: the target slot marked incomplete, the slot written and marked complete, the
    /// pointer flipped. A kill at any point leaves the previous checkpoint readable and current.
    public func writeCheckpoint(_ checkpoint: Checkpoint) throws {
        try requireRunning()
        try validate(checkpoint)
        let target = currentSlot == 0 ? 1 : 0
        let checkpointGroup = try root.requireGroup(Layout.checkpoint)
        let slot = try checkpointGroup.requireGroup(Layout.slots[target])
        try slot.setAttribute("complete", .int(0))
        try file.flush()

        for section in Layout.arraySections {
            let arrays = checkpoint[keyPath: section.keyPath]
            try writeSection(try slot.requireGroup(section.name), arrays.mapValues { ($0.shape, $0.values) })
        }
        try writeSection(try slot.requireGroup(Layout.scalarSection), checkpoint.scalars.mapValues { ([], [$0]) })
        try writeSection(slot, ["step": ([], [Int64(checkpoint.step)])], removeOthers: false)

        var aligned: [(String, Int)] = [(Layout.train, train.rows), (Layout.eval, eval.rows)]
        for name in tensors.keys.sorted() { aligned.append((Layout.tensorKey(name), tensors[name]!.rows)) }
        try slot.setAttribute("aligned_groups", .strings(aligned.map(\.0)))
        try slot.setAttribute("aligned_rows", .ints(aligned.map { Int64($0.1) }))
        try slot.setAttribute("step", .int(Int64(checkpoint.step)))
        try slot.setAttribute("written_utc", RunFileSchema.utcNow())
        try slot.setAttribute("complete", .int(1))
        try flush()

        try checkpointGroup.setAttribute("current", Layout.slots[target])
        try checkpointGroup.setAttribute("step", .int(Int64(checkpoint.step)))
        try file.flush()
        currentSlot = target
        // The flushed file is consistent on disk: keep a copy that no later failed write can damage.
        try CheckpointCopy.write(from: path)
    }

    /// Gives up the file after a failed write: HDF5's cache for it can no longer be trusted,
    /// and closing it (which flushes) may crash inside libhdf5. The writer is kept alive so
    /// that nothing closes the file; the process is expected to exit soon without HDF5's
    /// atexit cleanup (`_exit`), leaving the file as the last successful flush left it.
    public func abandon() {
        abandoned = true
        RunFileWriter.keepForever(self)
    }

    private var abandoned = false
    /// Abandoned writers and files live until the process exits, so no deinit closes them.
    private static let keptLock = NSLock()
    nonisolated(unsafe) private static var kept: [AnyObject] = []
    static func keepForever(_ object: AnyObject) {
        keptLock.lock()
        kept.append(object)
        keptLock.unlock()
    }

    /// Bad names and shapes are refused before anything is written.
    private func validate(_ checkpoint: Checkpoint) throws {
        for section in Layout.arraySections {
            for (name, array) in checkpoint[keyPath: section.keyPath] {
                guard RunFileSchema.validName(name, allowSlash: true) else {
                    throw RunStoreError(.invalid, path: path, "'\(path)': invalid checkpoint array name '\(name)' in \(section.name)")
                }
                guard array.shape.reduce(1, *) == array.values.count, array.shape.allSatisfy({ $0 >= 0 }) else {
                    throw RunStoreError(.invalid, path: path, "'\(path)': checkpoint array \(section.name)/\(name) of shape \(array.shape) cannot hold \(array.values.count) values")
                }
            }
        }
        for name in checkpoint.scalars.keys where !RunFileSchema.validName(name, allowSlash: true) {
            throw RunStoreError(.invalid, path: path, "'\(path)': invalid checkpoint scalar name '\(name)'")
        }
    }

    /// Overwrites same-shaped datasets in place (raw data only, no metadata change), replaces
    /// the others, and removes datasets of names no longer given.
    private func writeSection<T: H5Scalar>(_ group: H5Group, _ arrays: [String: (shape: [Int], values: [T])],
                                           removeOthers: Bool = true) throws {
        if removeOthers {
            for existing in try group.datasetPaths() where arrays[existing] == nil { try group.remove(existing) }
        }
        for name in arrays.keys.sorted() {
            let (shape, values) = arrays[name]!
            if try group.contains(name) {
                let dataset = try group.dataset(name)
                if try dataset.shape() == shape, try dataset.scalarType() == T.h5Type {
                    try dataset.write(values)
                    continue
                }
                try group.remove(name)
            }
            try group.createDataset(name, shape: shape, values: values)
        }
    }

    /// Ends the run: status, finished time, last step, and for `diverged` the step and message,
    /// for `failed` the message. Flushes. Appends and checkpoints are refused afterwards.
    public func finish(_ outcome: RunOutcome) throws {
        try requireRunning()
        switch outcome {
        case .diverged(let step, let message):
            try root.setAttribute("diverged_step", .int(Int64(step)))
            try root.setAttribute("error", message)
        case .failed(let message):
            try root.setAttribute("error", message)
        case .completed, .interrupted:
            break
        }
        try root.setAttribute("status", outcome.status.rawValue)
        try root.setAttribute("finished_utc", RunFileSchema.utcNow())
        status = outcome.status
        try flush()
    }

    /// Records the last step, the time and the process's peak memory so far, then writes
    /// everything appended so far to disk.
    public func flush() throws {
        try root.setAttribute("last_step", .int(train.lastStep.map(Int64.init) ?? -1))
        if let peak = PeakMemory.residentBytes { try root.setAttribute("peak_rss_bytes", .int(Int64(peak))) }
        try root.setAttribute("updated_utc", RunFileSchema.utcNow())
        try file.flush()
    }

    /// Flushes (unless closed) and closes the file. The status stays as it is: a run closed
    /// without `finish` reads as `running` (as a killed one does) and can be resumed.
    public func close() {
        guard !abandoned else { return }
        if file.isOpen { try? flush() }
        file.close()
    }

    deinit { if !abandoned { file.close() } }

    private func requireRunning() throws {
        guard file.isOpen else {
            throw RunStoreError(.invalid, path: path, "run file '\(path)' is closed")
        }
        guard status == .running else {
            throw RunStoreError(.invalid, path: path, "run file '\(path)' is \(status.rawValue); a finished run takes no more rows")
        }
    }
}

/// The writing process (pid, host, start time, boot id; docs/hdf5-schema.md), so readers can
/// tell a live run from a dead one, and how often Slurm requeued it.
private func recordWriter(_ root: H5Group, requeuesSoFar: Int) throws {
    let process = WriterProcess.current
    try root.setAttribute("writer_pid", .int(Int64(process.pid)))
    try root.setAttribute("writer_host", process.host)
    try root.setAttribute("writer_start_ticks", .int(process.startTicks))
    try root.setAttribute("writer_boot_id", process.bootID)
    try root.setAttribute("requeues", .int(Int64(max(requeuesSoFar, process.requeues))))
}

private func closeDescriptor(_ descriptor: Int32) -> Int32 {
    #if canImport(Glibc)
    Glibc.close(descriptor)
    #else
    Darwin.close(descriptor)
    #endif
}

private func reason(_ error: Error) -> String {
    if let cocoa = error as? CocoaError, let underlying = cocoa.userInfo[NSUnderlyingErrorKey] as? NSError {
        return underlying.localizedDescription
    }
    return (error as NSError).localizedDescription
}

// MARK: - Aligned groups
