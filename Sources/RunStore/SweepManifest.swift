// sweep.json: the cells of one spec's sweep and their states, beside the run directories
// (<runs>/<spec name>/sweep.json). Written by `ablate sweep` (Experiments), read by `ablate
// status` and by Analysis to know which runs belong together and which keys vary.
import Foundation

public struct SweepManifest: Codable, Sendable, Equatable {
    public static let fileName = "sweep.json"
    public static let currentVersion = 1

    public enum State: String, Codable, Sendable, CaseIterable {
        case pending, running, completed, diverged, failed, interrupted
    }

    public struct Cell: Codable, Sendable, Equatable {
        /// Position in the spec's documented expansion order (the Slurm array index).
        public var index: Int
        public var runID: String
        /// Readable name from the varying keys ("attention.kind=mla,seed=1").
        public var label: String
        public var seed: Int
        /// The sweep assignments of this cell: dotted key path → value (as JSON text), seed excluded.
        public var assignments: [String: String]
        public var state: State
        /// Process exit code of the last attempt, when it ended.
        public var exitCode: Int?
        /// Relative to the manifest's directory: "<run id>/run.h5".
        public var runFile: String
        public var log: String

        public init(index: Int, runID: String, label: String, seed: Int, assignments: [String: String], state: State,
                    exitCode: Int? = nil) {
            self.index = index
            self.runID = runID
            self.label = label
            self.seed = seed
            self.assignments = assignments
            self.state = state
            self.exitCode = exitCode
            runFile = "\(runID)/run.h5"
            log = "\(runID)/run.log"
        }

        enum CodingKeys: String, CodingKey {
            case index, label, seed, assignments, state, log
            case runID = "run_id"
            case exitCode = "exit_code"
            case runFile = "run_file"
        }
    }

    public var version: Int
    public var spec: String
    /// Path of the spec file the sweep was started from.
    public var specFile: String
    public var overrides: [String]
    /// Dotted key paths that differ between cells ("seed" included when there are several seeds).
    public var varyingKeys: [String]
    public var cells: [Cell]
    /// Slurm job ids this sweep submitted (newest last); empty for local sweeps.
    public var slurmJobs: [String] = []
    /// The keys a tune block chose per row (the evaluation sweep of a tuned spec); nil otherwise.
    public var tuned: [String]?

    public init(spec: String, specFile: String, overrides: [String], varyingKeys: [String], cells: [Cell]) {
        version = Self.currentVersion
        self.spec = spec
        self.specFile = specFile
        self.overrides = overrides
        self.varyingKeys = varyingKeys
        self.cells = cells
    }

    enum CodingKeys: String, CodingKey {
        case version, spec, cells, overrides, tuned
        case slurmJobs = "slurm_jobs"
        case specFile = "spec_file"
        case varyingKeys = "varying_keys"
    }

    /// Reads `<directory>/sweep.json`.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        version = try container.decode(Int.self, forKey: .version)
        spec = try container.decode(String.self, forKey: .spec)
        specFile = try container.decode(String.self, forKey: .specFile)
        overrides = try container.decode([String].self, forKey: .overrides)
        varyingKeys = try container.decode([String].self, forKey: .varyingKeys)
        cells = try container.decode([Cell].self, forKey: .cells)
        slurmJobs = try container.decodeIfPresent([String].self, forKey: .slurmJobs) ?? []
        tuned = try container.decodeIfPresent([String].self, forKey: .tuned)
    }

    public static func read(directory: String) throws -> SweepManifest {
        let path = URL(fileURLWithPath: directory).appendingPathComponent(fileName).path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RunStoreError(.invalid, path: path, "no sweep manifest '\(path)' (is this a sweep directory, <runs>/<spec name>?)")
        }
        do {
            let manifest = try JSONDecoder().decode(SweepManifest.self, from: data)
            guard manifest.version == currentVersion else {
                throw RunStoreError(.schemaMismatch, path: path, "'\(path)' is sweep manifest version \(manifest.version); this build reads \(currentVersion)")
            }
            return manifest
        } catch let error as RunStoreError {
            throw error
        } catch {
            throw RunStoreError(.corrupt, path: path, "'\(path)' is not a valid sweep manifest: \(error)")
        }
    }

    /// Writes `<directory>/sweep.json` atomically (a reader never sees half a file).
    public func write(directory: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let url = URL(fileURLWithPath: directory).appendingPathComponent(Self.fileName)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try encoder.encode(self).write(to: url, options: .atomic)
    }
}
