// The run file's schema (version 1): names, the status vocabulary, the values a writer takes and
// a reader returns, and the errors of both. docs/hdf5-schema.md documents every field; the h5py
// test in Tests/RunStoreTests parses that document and checks a real file against it.
//
// Glossary: n = rows of an aligned group (one per logged step), E = experts of a MoE layer,
// k = snapshots of one tensor.
import Foundation
import HDF5

/// Names and version of the run-file schema.
public enum RunFileSchema {
    public static let name = "ablate.run"
    public static let version = 1

    /// Throws unless `root` carries this schema's name and a version this build reads.
    static func check(_ root: H5Group, path: String) throws {
        guard try root.hasAttribute("schema") else {
            throw RunStoreError(.schemaMismatch, path: path,
                                "'\(path)' is not an Ablate run file: it has no 'schema' attribute (expected '\(name)' version \(version))")
        }
        let schema = try root.attribute("schema").stringValue ?? "?"
        let fileVersion = (try? root.attribute("schema_version").intValue) ?? nil
        let versionText = fileVersion.map(String.init) ?? "?"
        guard schema == name else {
            throw RunStoreError(.schemaMismatch, path: path,
                                "'\(path)' has schema '\(schema)' version \(versionText); this build reads '\(name)' version \(version)")
        }
        guard let fileVersion, fileVersion == Int64(version) else {
            let hint = (fileVersion ?? 0) > Int64(version) ? " (written by a newer ablate; upgrade to read it)" : ""
            throw RunStoreError(.schemaMismatch, path: path,
                                "'\(path)' is '\(name)' schema version \(versionText); this build reads version \(version)\(hint)")
        }
    }

    /// Metric, tensor and checkpoint-array names: path segments of letters, digits, `_ . -`.
    static func validName(_ name: String, allowSlash: Bool) -> Bool {
        let segments = name.split(separator: "/", omittingEmptySubsequences: false)
        guard !name.isEmpty, allowSlash || segments.count == 1 else { return false }
        return segments.allSatisfy { segment in
            !segment.isEmpty && segment != "." && segment != ".."
                && segment.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_.-".contains($0)) }
        }
    }

    static func utcNow() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date())
    }
}

/// The life of a run. `running` until the writer finishes it; a resumed run is `running` again.
public enum RunStatus: String, Sendable, Codable, CaseIterable {
    case running, completed, diverged, failed, interrupted
}

/// How a run ended, with what each ending records.
public enum RunOutcome: Sendable, Equatable {
    case completed
    /// Loss became NaN/inf or diverged at `step`; `message` says how.
    case diverged(step: Int, message: String)
    /// An error ended the run; `message` is its description.
    case failed(message: String)
    /// Stopped from outside (Ctrl-C, a scheduler's time limit); resumable.
    case interrupted

    public var status: RunStatus {
        switch self {
        case .completed: .completed
        case .diverged: .diverged
        case .failed: .failed
        case .interrupted: .interrupted
        }
    }
}

/// A run-file error. The message always names the file.
public struct RunStoreError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: String, Sendable {
        /// A new run file was requested where a file already exists.
        case exists
        /// The directory cannot be created or written.
        case unwritable
        /// Not an `ablate.run` file, or a schema version this build does not read.
        case schemaMismatch
        /// The spec given on resume is not the spec the run file was written for.
        case specMismatch
        /// The run is completed; resuming would discard its results.
        case alreadyCompleted
        /// The caller broke a rule of the schema (misaligned rows, a bad name, a wrong shape).
        case invalid
        /// The file contradicts the schema (datasets of one group with different lengths, …).
        case corrupt
    }

    public var kind: Kind
    public var path: String
    public var message: String

    public init(_ kind: Kind, path: String, _ message: String) {
        self.kind = kind
        self.path = path
        self.message = message
    }

    public var description: String { message }
}

/// Who the run is: identity and the settings that are not in the spec. Written at creation.
public struct RunInfo: Sendable, Equatable {
    /// Content-addressed run id (sha256 of the canonical spec + code version).
    public var runID: String
    /// The spec's `name`.
    public var specName: String
    /// A human label for the run (a sweep cell's label, or "").
    public var label: String
    /// sha256 (hex) of the resolved canonical spec; resume refuses a different one.
    public var specSHA256: String
    public var seed: Int
    /// The kernel ISA path that computed the run: "avx512", "avx2" or "generic" (every path gives
    /// the same bits; recorded so a user can see where a file came from).
    public var isa: String
    /// The CPU's feature flags as the dispatcher saw them (space-separated).
    public var cpuFeatures: String
    /// `Kernels.version`: changes whenever any kernel's arithmetic changes.
    public var kernelVersion: String
    /// Worker threads of the numeric kernels.
    public var threads: Int
    /// sha256 (hex) of data read from outside the spec (a text corpus); "" for synthetic data
    /// and for files written before it was recorded.
    public var dataSHA256: String

    /// Numbers derived from the model config, stored as root attributes `model_<key>`:
    /// total_parameters, active_parameters, kv_cache_per_token, flops_per_token.
    public var modelStats: [String: Int64]

    public init(runID: String, specName: String, label: String = "", specSHA256: String, seed: Int,
                isa: String, cpuFeatures: String = "", kernelVersion: String = "", threads: Int,
                modelStats: [String: Int64] = [:], dataSHA256: String = "") {
        self.modelStats = modelStats
        self.dataSHA256 = dataSHA256
        self.runID = runID
        self.specName = specName
        self.label = label
        self.specSHA256 = specSHA256
        self.seed = seed
        self.isa = isa
        self.cpuFeatures = cpuFeatures
        self.kernelVersion = kernelVersion
        self.threads = threads
    }
}

/// The spec as text, stored in `/spec`.
public struct SpecTexts: Sendable, Equatable {
    /// The YAML file as the user gave it.
    public var given: String
    /// The command-line overrides applied to it, in order ("model.ffn.moe.experts=16").
    public var overrides: [String]
    /// The resolved spec (defaults filled, overrides applied), canonical YAML.
    public var resolved: String

    public init(given: String, overrides: [String] = [], resolved: String) {
        self.given = given
        self.overrides = overrides
        self.resolved = resolved
    }
}

/// One MoE layer's row at one training step.
public struct MoELayerRow: Sendable, Equatable {
    /// Tokens routed to each expert. [E]
    public var load: [Int64]
    /// Loss-free balancing bias of each expert after the step. [E]
    public var bias: [Float]
    /// MaxVio of this layer's load: (max load − mean load) / mean load.
    public var maxvio: Double
    /// Entropy (nats) of the mean router distribution over experts.
    public var entropy: Double
    /// Fraction of token-expert assignments dropped by a capacity limit (0 without one).
    public var dropped: Double

    public init(load: [Int64], bias: [Float], maxvio: Double, entropy: Double, dropped: Double) {
        self.load = load
        self.bias = bias
        self.maxvio = maxvio
        self.entropy = entropy
        self.dropped = dropped
    }
}

/// A float32 array of any shape (row-major).
public struct CheckpointArray: Sendable, Equatable {
    public var shape: [Int]
    public var values: [Float]

    public init(shape: [Int], values: [Float]) {
        self.shape = shape
        self.values = values
    }
}

/// Everything resume needs. Array names may contain `/` (stored as nested groups).
public struct Checkpoint: Sendable, Equatable {
    /// The training step the state is after (the step of the last train row it covers).
    public var step: Int
    public var parameters: [String: CheckpointArray]
    /// AdamW first and second moments, keyed like `parameters`.
    public var adamM: [String: CheckpointArray]
    public var adamV: [String: CheckpointArray]
    /// Loss-free balancing biases, e.g. "layers.1.moe.bias".
    public var balancingBiases: [String: CheckpointArray]
    /// Anything else the caller needs (opaque to RunStore).
    public var arrays: [String: CheckpointArray]
    public var scalars: [String: Int64]

    public init(step: Int, parameters: [String: CheckpointArray], adamM: [String: CheckpointArray] = [:],
                adamV: [String: CheckpointArray] = [:], balancingBiases: [String: CheckpointArray] = [:],
                arrays: [String: CheckpointArray] = [:], scalars: [String: Int64] = [:]) {
        self.step = step
        self.parameters = parameters
        self.adamM = adamM
        self.adamV = adamV
        self.balancingBiases = balancingBiases
        self.arrays = arrays
        self.scalars = scalars
    }
}

/// A metric group read back: its steps and one column per metric, aligned.
public struct MetricTable: Sendable, Equatable {
    public var steps: [Int64]
    public var columns: [String: [Double]]

    public init(steps: [Int64] = [], columns: [String: [Double]] = [:]) {
        self.steps = steps
        self.columns = columns
    }
}

/// One MoE layer's series, aligned with `/metrics/train/step`.
public struct MoELayerSeries: Sendable, Equatable {
    public var layer: Int
    public var experts: Int
    /// Row-major [n, E].
    public var load: [Int64]
    /// Row-major [n, E].
    public var bias: [Float]
    public var maxvio: [Double]
    public var entropy: [Double]
    public var dropped: [Double]
}

/// The snapshots of one tensor: `values` is row-major [k, shape…].
public struct TensorSeries: Sendable, Equatable {
    public var name: String
    public var steps: [Int64]
    /// Shape of one snapshot.
    public var shape: [Int]
    public var values: [Float]
    /// What each axis of one snapshot means, if the writer said so.
    public var axes: [String]
    /// Names of the positions along some axes (e.g. the sources of `source_loads`).
    public var labels: [String: [String]] = [:]
}

/// The root attributes of a run file.
public struct RunAttributes: Sendable, Equatable {
    public var schemaVersion: Int
    public var run: RunInfo
    public var status: RunStatus
    public var createdUTC: String
    public var updatedUTC: String
    /// "" while running.
    public var finishedUTC: String
    /// What wrote the file: harness version, git commit and dirty flag, build, toolchain, machine.
    public var provenance: Provenance
    /// Last train step as of the last flush; -1 before the first.
    public var lastStep: Int
    /// -1 unless diverged.
    public var divergedStep: Int
    /// "" unless failed or diverged.
    public var error: String
}
