// `ablate status`: one row per cell — state, step, latest loss, ETA — from sweep.json, the run
// files, and (for Slurm sweeps) squeue/scontrol.
import Foundation
import JSON
import RunStore

public struct CellStatus: Sendable {
    public var index: Int
    public var runID: String
    public var label: String
    public var state: String
    public var step: Int?
    public var steps: Int?
    public var loss: Double?
    public var evalLoss: Double?
    public var etaSeconds: Double?
    /// Exit code and where to look, for failed cells.
    public var note: String?
    /// How often Slurm requeued the cell's task (preemption, `scontrol requeue`).
    public var requeues = 0
}

/// What one run file says about its cell (computed where the file is read: here, or in the
/// reader process, and sent back as JSON).
public struct FileStatus: Sendable, Equatable {
    /// The file's live status ("running", "interrupted (process gone)", …); nil when unread.
    public var state: String?
    public var note: String?
    public var requeues = 0
    public var step: Int?
    public var steps: Int?
    public var loss: Double?
    public var evalLoss: Double?
    public var etaSeconds: Double?

    public init() {}

    public var json: JSONValue {
        func number(_ x: Double?) -> JSONValue { x.map { $0.isFinite ? .double($0) : .string(String($0)) } ?? .null }
        return .map(["state": state.map { .string($0) } ?? .null, "note": note.map { .string($0) } ?? .null,
                     "requeues": .int(requeues), "step": step.map { .int($0) } ?? .null, "steps": steps.map { .int($0) } ?? .null,
                     "loss": number(loss), "eval_loss": number(evalLoss), "eta_seconds": number(etaSeconds)])
    }

    public init(json: JSONValue) {
        func number(_ v: JSONValue?) -> Double? {
            switch v {
            case .string(let text)?: return Double(text)
            default: return v?.doubleValue
            }
        }
        state = json["state"]?.stringValue
        note = json["note"]?.stringValue
        requeues = json["requeues"]?.intValue ?? 0
        step = json["step"]?.intValue
        steps = json["steps"]?.intValue
        loss = number(json["loss"])
        evalLoss = number(json["eval_loss"])
        etaSeconds = number(json["eta_seconds"])
    }
}

public enum SweepStatus {
    /// The request kind the reader process answers with `fileStatus(path).json`.
    public static let readKind = "status"

    /// The cells of the sweep in `directory`, or of the plain runs there (no sweep.json). With a
    /// reader process, run files are read there (a file that crashes libhdf5 marks its cell).
    public static func cells(sweepDirectory: String, reader: ReaderProcess? = nil) throws -> [CellStatus] {
        let (directory, manifest) = try SweepPlan.manifestOrScan(directory: sweepDirectory)
        let slurm = manifest.slurmJobs.isEmpty ? [:] : SlurmExecutor.tasks(jobs: manifest.slurmJobs, sweepDirectory: directory)
        return manifest.cells.map { entry in
            var status = CellStatus(index: entry.index, runID: entry.runID, label: entry.label, state: entry.state.rawValue)
            let file = URL(fileURLWithPath: directory).appendingPathComponent(entry.runFile).path
            var read = FileStatus()
            if let reader, FileManager.default.fileExists(atPath: file) {
                switch reader.read(readKind, file) {
                case .value(let value): read = FileStatus(json: value)
                case .failed(let why): read.note = "run file not readable now (\(oneLine(why, limit: 160)))"
                case .crashed(let how): read.note = "run file damaged: reading it ended the reader process (\(how))"
                }
            } else {
                read = fileStatus(file)
            }
            if let state = read.state { status.state = state }
            status.note = read.note
            status.requeues = read.requeues
            status.step = read.step
            status.steps = read.steps
            status.loss = read.loss
            status.evalLoss = read.evalLoss
            status.etaSeconds = read.etaSeconds
            if let task = slurm[entry.index] {
                merge(task, into: &status)
            } else if entry.state == .failed || status.state == "failed" {
                status.state = "failed"
                let exit = entry.exitCode.map { "exit code \($0); log: \(directory)/\(entry.runID)/process.log" }
                status.note = [status.note, exit ?? (status.note == nil ? "exit code ?; log: \(directory)/\(entry.runID)/process.log" : nil)]
                    .compactMap { $0 }.joined(separator: "; ")
            }
            return status
        }
    }

    /// What the run file at `file` says: live state, step, losses, ETA, or why it says nothing.
    public static func fileStatus(_ file: String) -> FileStatus {
        var status = FileStatus()
        if FileManager.default.fileExists(atPath: file), let reader = try? RunFileReader(path: file) {
            defer { reader.close() }
            if let live = try? reader.liveStatus() {
                status.state = live.status.rawValue
                if live.processGone, let writer = live.writer {
                    status.state = "interrupted (process gone)"
                    status.note = "pid \(writer.pid) on \(writer.host) ended without finishing; resuming continues from the last checkpoint"
                }
                status.requeues = live.writer?.requeues ?? 0
            }
            if let train = try? reader.trainMetrics(), let last = train.steps.last {
                status.step = Int(last)
                status.loss = train.columns["loss"]?.last
                if let texts = try? reader.spec(), let spec = try? SpecLoader.fromResolved(texts.resolved, source: file) {
                    let cell = spec.cells[0]
                    status.steps = cell.train.steps
                    let speeds = (train.columns["tokens_per_s"] ?? []).suffix(20).sorted()
                    if status.state == "running", let speed = speeds.isEmpty ? nil : speeds[speeds.count / 2], speed > 0 {
                        // In Double: a damaged file's step or speed must not overflow an Int.
                        let remaining = Double(cell.train.steps) - Double(last) - 1
                        let eta = remaining * Double(cell.train.batchSize) * Double(cell.train.seqLen) / speed
                        if eta.isFinite, abs(eta) < 1e9 { status.etaSeconds = eta }
                    }
                }
            }
            status.evalLoss = (try? reader.evalMetrics())?.columns["loss"]?.last
        } else if FileManager.default.fileExists(atPath: file) {
            // Say why: a file caught mid-flush reads again later, a damaged one does not.
            var reason = "being written?"
            do { _ = try RunFileReader(path: file) } catch { reason = Self.oneLine("\(error)", limit: 160) }
            status.note = "run file not readable now (\(reason))"
        } else if FileManager.default.fileExists(atPath: CheckpointCopy.path(besides: file)) {
            status.note = "only checkpoint.h5 is left (the disk filled up); resuming restores the run from it"
        }
        return status
    }

    /// Combines what Slurm says about a cell's array task with what its run file says. The run
    /// file wins when it says the cell ended (completed, diverged, interrupted); a task that
    /// Slurm still has is `pending`/`running` (prefixed `slurm:`); a cancelled one is
    /// `cancelled`; a task that ended otherwise is `failed`, with its exit code (or signal) and
    /// its output file.
    static func merge(_ task: SlurmTask, into status: inout CellStatus) {
        let fileState = status.state
        if task.isActive {
            if !["completed", "diverged"].contains(fileState) { status.state = "slurm:" + task.state.lowercased() }
            status.note = "Slurm job \(task.jobID)_\(task.index)"
            return
        }
        let succeeded = task.state == "COMPLETED" || (task.state == "EXITED" && task.exitCode == 0)
        switch fileState {
        case "completed", "diverged":
            return
        case "interrupted", "interrupted (process gone)":
            status.note = "\(task.outcome); log: \(task.log)"
        default:
            if succeeded && fileState != "failed" { return }
            if task.state == "CANCELLED" && fileState != "failed" {
                // scancel: not a failure of the cell; the next `ablate sweep` submits (or resumes) it.
                status.state = "cancelled"
                status.note = "Slurm job \(task.jobID)_\(task.index) cancelled; log: \(task.log)"
                return
            }
            status.state = "failed"
            status.note = "\(task.outcome); log: \(task.log)"
        }
    }

    /// `text` on one line, cut to `limit` characters.
    static func oneLine(_ text: String, limit: Int) -> String {
        let flat = text.split(whereSeparator: \.isNewline).joined(separator: " ")
        return flat.count <= limit ? flat : String(flat.prefix(limit - 1)) + "…"
    }

    public static func table(_ cells: [CellStatus]) -> String {
        func fixed(_ value: Double?, _ digits: Int) -> String {
            guard let value, value.isFinite else { return "-" }
            return String(format: "%.\(digits)f", value)
        }
        var rows = [["cell", "run id", "state", "step", "loss", "eval", "ETA", "label"]]
        for cell in cells {
            let step = cell.step.map { "\($0 + 1)" + (cell.steps.map { "/\($0)" } ?? "") } ?? "-"
            let eta = cell.etaSeconds.map { Progress.duration($0) } ?? "-"
            rows.append(["\(cell.index)", cell.runID, cell.state, step, fixed(cell.loss, 4), fixed(cell.evalLoss, 4), eta,
                         cell.label + (cell.note.map { "  (\($0))" } ?? "") + (cell.requeues > 0 ? "  [requeued \(cell.requeues)×]" : "")])
        }
        let widths = (0..<rows[0].count).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { column, text in
                column == row.count - 1 ? text : text + String(repeating: " ", count: widths[column] - text.count)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
