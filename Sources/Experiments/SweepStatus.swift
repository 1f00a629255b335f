// `ablate status`: one row per cell — state, step, latest loss, ETA — from sweep.json, the run
// files, and (for Slurm sweeps) squeue/scontrol.
import Foundation
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
}

public enum SweepStatus {
    public static func cells(sweepDirectory directory: String) throws -> [CellStatus] {
        let manifest = try SweepManifest.read(directory: directory)
        let slurm = manifest.slurmJobs.isEmpty ? [:] : SlurmExecutor.taskStates(jobs: manifest.slurmJobs)
        return manifest.cells.map { entry in
            var status = CellStatus(index: entry.index, runID: entry.runID, label: entry.label, state: entry.state.rawValue)
            let file = URL(fileURLWithPath: directory).appendingPathComponent(entry.runFile).path
            if FileManager.default.fileExists(atPath: file), let reader = try? RunFileReader(path: file) {
                defer { reader.close() }
                if let runStatus = try? reader.status() { status.state = runStatus.rawValue }
                if let train = try? reader.trainMetrics(), let last = train.steps.last {
                    status.step = Int(last)
                    status.loss = train.columns["loss"]?.last
                    if let texts = try? reader.spec(), let spec = try? SpecLoader.fromResolved(texts.resolved, source: file) {
                        let cell = spec.cells[0]
                        status.steps = cell.train.steps
                        let speeds = (train.columns["tokens_per_s"] ?? []).suffix(20).sorted()
                        if status.state == "running", let speed = speeds.isEmpty ? nil : speeds[speeds.count / 2], speed > 0 {
                            let remaining = Double(cell.train.steps - Int(last) - 1)
                            status.etaSeconds = remaining * Double(cell.train.batchSize * cell.train.seqLen) / speed
                        }
                    }
                }
                status.evalLoss = (try? reader.evalMetrics())?.columns["loss"]?.last
            } else if FileManager.default.fileExists(atPath: file) {
                status.note = "run file not readable now (being written?)"
            }
            if let task = slurm[entry.index] {
                let finishedInFile = ["completed", "diverged", "interrupted"].contains(status.state)
                if !finishedInFile {
                    let slurmState = task.state.lowercased()
                    status.state = slurmState == "completed" ? status.state : "slurm:" + slurmState
                    if let code = task.exitCode, code != "0:0", let job = manifest.slurmJobs.last {
                        status.state = "failed"
                        status.note = "exit code \(code); log: \(directory)/slurm/\(job)_\(entry.index).out"
                    }
                }
            } else if entry.state == .failed || status.state == "failed" {
                status.state = "failed"
                status.note = "exit code \(entry.exitCode.map(String.init) ?? "?"); log: \(directory)/\(entry.runID)/process.log"
            }
            return status
        }
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
                         cell.label + (cell.note.map { "  (\($0))" } ?? "")])
        }
        let widths = (0..<rows[0].count).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { column, text in
                column == row.count - 1 ? text : text + String(repeating: " ", count: widths[column] - text.count)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
