// The smoke job: until training exists, the quick start's main job writes a small file with
// every kind of object a run file uses, reads it back and checks it.
import Foundation
import HDF5

public enum SmokeFile {
    public struct Report: Sendable {
        public var path: String
        public var rows: Int
        public var checks: [String]
    }

    /// Writes `path` (creating its directory), appending `steps` metric rows in flushes of 10,
    /// then reopens it read-only and verifies every value. Throws on any mismatch.
    public static func run(path: String, steps: Int = 50) throws -> Report {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let provenance = Provenance.current()
        let losses = (0..<steps).map { step in 5.0 * exp(-Double(step) / 20.0) + 1.0 }
        do {
            let file = try H5File(path: path, mode: .truncate)
            let root = try file.root
            try root.setAttribute("schema", "ablate.smoke")
            try root.setAttribute("schema_version", 1)
            try root.setAttribute("git_commit", provenance.gitCommit)
            try root.setAttribute("created_utc", ISO8601DateFormatter().string(from: Date()))
            try root.createStringDataset("spec", value: "name: smoke\nsteps: \(steps)\n")
            let train = try root.createGroup("metrics/train")
            let step = try train.createExtendibleDataset("step", of: Int64.self)
            let loss = try train.createExtendibleDataset("loss", of: Double.self)
            for start in stride(from: 0, to: steps, by: 10) {
                let range = start..<min(start + 10, steps)
                try step.append(range.map { Int64($0) })
                try loss.append(range.map { losses[$0] })
                try file.flush()
            }
            let tensors = try root.createGroup("tensors")
            let probe = try tensors.createDataset(
                "probe", shape: [2, 3, 4], values: (0..<24).map { Float($0) / 8 },
                storage: H5Storage(chunks: [1, 3, 4], gzipLevel: 4, shuffle: true))
            try probe.setAttribute("steps", .ints([0, 10]))
            file.close()
        }
        var checks: [String] = []
        let file = try H5File(path: path, mode: .readOnly)
        defer { file.close() }
        let root = try file.root
        let readLoss = try root.dataset("metrics/train/loss").read(as: Double.self)
        guard readLoss == losses else { throw HDF5Error(context: "smoke check failed: metrics/train/loss differs") }
        checks.append("metrics/train/loss: \(steps) rows read back exactly")
        let probe = try root.dataset("tensors/probe").read(as: Float.self)
        guard probe == (0..<24).map({ Float($0) / 8 }) else {
            throw HDF5Error(context: "smoke check failed: tensors/probe differs")
        }
        checks.append("tensors/probe: (2, 3, 4) float32 read back exactly")
        guard try root.attribute("schema") == .string("ablate.smoke") else {
            throw HDF5Error(context: "smoke check failed: schema attribute differs")
        }
        checks.append("attributes read back")
        return Report(path: path, rows: steps, checks: checks)
    }
}
