// Running a sweep: the manifest (sweep.json) of a spec's cells and their states, the local
// executor that runs cells as separate `ablate run-cell` processes N at a time, and the
// states read back from run files. Cells are content-addressed: a changed spec gives new run
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
        return SweepManifest(spec: spec.name, specFile: URL(fileURLWithPath: spec.file).standardizedFileURL.path,
                             overrides: spec.overrides, varyingKeys: spec.varyingKeys, cells: cells)
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

/// Runs the pending cells of a sweep as child processes, `jobs` at a time.
public final class LocalExecutor {
    public let executable: String
    public let sweepDirectory: String
    public let jobs: Int
    public let threads: Int
    public private(set) var manifest: SweepManifest
    private var running: [Int: Process] = [:]   // cell index → process
    private let lock = NSLock()

    public init(executable: String, sweepDirectory: String, manifest: SweepManifest, jobs: Int, threads: Int) {
        self.executable = executable
        self.sweepDirectory = sweepDirectory
        self.manifest = manifest
        self.jobs = jobs
        self.threads = threads
    }

    /// Runs every cell in `indices`. `report` receives a line per event. Stops launching when
    /// `shouldStop` turns true, forwards SIGINT to running cells (they checkpoint and end
    /// interrupted) and waits for them.
    public func run(_ indices: [Int], shouldStop: @escaping () -> Bool, report: @escaping (String) -> Void) throws {
        var queue = indices[...]
        var forwarded = false
        try manifest.write(directory: sweepDirectory)
        while true {
            lock.lock()
            let active = running.count
            lock.unlock()
            if shouldStop() {
                if !forwarded {
                    forwarded = true
                    report("stopping: interrupting \(active) running cell(s); they checkpoint and can be resumed")
                    lock.lock()
                    for process in running.values where process.isRunning { kill(process.processIdentifier, SIGINT) }
                    lock.unlock()
                }
                if active == 0 { break }
            } else if active < jobs, let index = queue.popFirst() {
                try launch(index, report: report)
                continue
            } else if active == 0 && queue.isEmpty {
                break
            }
            usleep(50_000)
            try reap(report: report)
        }
        try reap(report: report)
        try manifest.write(directory: sweepDirectory)
    }

    private func launch(_ index: Int, report: (String) -> Void) throws {
        guard let position = manifest.cells.firstIndex(where: { $0.index == index }) else { return }
        let entry = manifest.cells[position]
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["run-cell", sweepDirectory, "--index", "\(index)", "--threads", "\(threads)", "--quiet"]
        let runDirectory = URL(fileURLWithPath: sweepDirectory).appendingPathComponent(entry.runID)
        try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
        let output = runDirectory.appendingPathComponent("process.log")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        lock.lock()
        running[index] = process
        lock.unlock()
        manifest.cells[position].state = .running
        manifest.cells[position].exitCode = nil
        try manifest.write(directory: sweepDirectory)
        report("started cell \(index) \(entry.runID) (\(entry.label))")
    }

    private func reap(report: (String) -> Void) throws {
        lock.lock()
        let finished = running.filter { !$0.value.isRunning }
        for index in finished.keys { running[index] = nil }
        lock.unlock()
        for (index, process) in finished.sorted(by: { $0.key < $1.key }) {
            guard let position = manifest.cells.firstIndex(where: { $0.index == index }) else { continue }
            let file = URL(fileURLWithPath: sweepDirectory).appendingPathComponent(manifest.cells[position].runFile).path
            var state = SweepPlan.state(runFile: file)
            let code = Int(process.terminationStatus)
            if code != 0 && state == .running { state = .failed }   // died without writing a status
            if code != 0 && state == .pending { state = .failed }   // failed before creating its run file
            manifest.cells[position].state = state
            manifest.cells[position].exitCode = code
            try manifest.write(directory: sweepDirectory)
            let entry = manifest.cells[position]
            report("cell \(index) \(entry.runID) (\(entry.label)): \(state.rawValue), exit code \(code)"
                   + (state == .failed ? " — log: \(URL(fileURLWithPath: sweepDirectory).appendingPathComponent(entry.runID).path)/process.log" : ""))
        }
    }
}
