// The local executor of a sweep: cells as separate `ablate run-cell` processes, N at a time.
import Config
import Foundation
import RunStore

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
        // `ablate sweep` has checked every cell's memory here: the cell skips the dry steps.
        process.arguments = ["run-cell", sweepDirectory, "--index", "\(index)", "--threads", "\(threads)", "--quiet", "--memory-checked"]
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
