// Planning a sweep: the manifest (sweep.json) of a spec's cells and their states, and the states
// read back from run files (the local executor that runs them is in LocalExecutor.swift). Cells are content-addressed: a changed spec gives new run
// ids, so an old run is never mixed into a new cell.
import Config
import Foundation
import RunStore

public enum SweepPlan {
    /// <runs>/<spec name>
    public static func directory(runs: String, spec: Spec) -> String {
        URL(fileURLWithPath: runs).appendingPathComponent(spec.name).path
    }

    /// The manifest for `spec`, each cell's state read from its run file (pending when none).
    public static func manifest(for spec: Spec, runs: String) -> SweepManifest {
        let directory = directory(runs: runs, spec: spec)
        let previous = try? SweepManifest.read(directory: directory)
        let cells = spec.cells.map { cell -> SweepManifest.Cell in
            var assignments: [String: String] = [:]
            for (path, value) in cell.assignments where path != "seed" { assignments[path] = CanonicalJSON.encode(value) }
            let state = SweepPlan.state(runFile: RunPaths(runs: runs, spec: spec.name, runID: cell.runID).file)
            var entry = SweepManifest.Cell(index: cell.index, runID: cell.runID, label: cell.label, seed: cell.seed,
                                           assignments: assignments, state: state)
            entry.exitCode = previous?.cells.first { $0.runID == cell.runID }?.exitCode
            return entry
        }
        var manifest = SweepManifest(spec: spec.name, specFile: URL(fileURLWithPath: spec.file).standardizedFileURL.path,
                                     overrides: spec.overrides, varyingKeys: spec.varyingKeys, cells: cells)
        if case .list(let tuned)? = spec.resolved["tuned"] { manifest.tuned = tuned.compactMap(\.stringValue) }
        return manifest
    }

    /// A cell's state from its run file: pending without one; `failed` when it cannot be read.
    public static func state(runFile: String) -> SweepManifest.State {
        guard FileManager.default.fileExists(atPath: runFile) else {
            // Only the checkpoint copy left (a full disk removed the run file): resumable.
            return FileManager.default.fileExists(atPath: CheckpointCopy.path(besides: runFile)) ? .interrupted : .pending
        }
        guard let reader = try? RunFileReader(path: runFile) else { return .failed }
        defer { reader.close() }
        switch (try? reader.liveStatus().status) ?? .failed {
        case .running: return .running
        case .completed: return .completed
        case .diverged: return .diverged
        case .failed: return .failed
        case .interrupted: return .interrupted
        }
    }

    /// Whether a cell in `state` still needs to run.
    public static func needsRun(_ state: SweepManifest.State, retryFailed: Bool) -> Bool {
        switch state {
        case .pending, .running, .interrupted: true
        case .failed: retryFailed
        case .completed, .diverged: false
        }
    }

    /// Loads the cell `index` of the sweep in `directory` from the spec file and overrides the
    /// manifest names, and checks that it is still the cell the manifest recorded.
    public static func cell(sweepDirectory directory: String, index: Int) throws -> (Spec, Cell) {
        let manifest = try SweepManifest.read(directory: directory)
        guard let entry = manifest.cells.first(where: { $0.index == index }) else {
            throw SweepError("sweep '\(directory)' has no cell \(index) (cells 0..<\(manifest.cells.count))")
        }
        let spec: Spec
        do {
            spec = try SpecLoader.load(manifest.specFile, overrides: manifest.overrides)
        } catch {
            throw SweepError("cannot load the sweep's spec '\(manifest.specFile)': \(error)")
        }
        guard let cell = spec.cells.first(where: { $0.index == index }), cell.runID == entry.runID else {
            throw SweepError("cell \(index) of '\(manifest.specFile)' is no longer run \(entry.runID): the spec changed since the sweep was planned; run `ablate sweep` again to re-plan")
        }
        return (spec, cell)
    }
}

public struct SweepError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
