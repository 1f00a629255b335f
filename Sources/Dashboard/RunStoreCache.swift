// Reading run files that are being written, for the dashboard. Every read opens the file
// read-only (the caller sets HDF5_USE_FILE_LOCKING=FALSE, so the writer's lock is ignored and
// the writer is never waited for), takes what it needs and closes it. What was read is cached
// by (mtime, size): a file that has not changed since the last poll is not read again. A read
// that fails — a flush in progress, a damaged file — keeps the last good result, marked stale;
// a file never read successfully is reported as unreadable, with HDF5's reason.
import Analysis
import Foundation
import RunStore

/// Identifies one version of a file on disk.
struct FileStamp: Equatable, Sendable {
    var seconds: Int
    var nanoseconds: Int
    var size: Int

    static func of(_ path: String) -> FileStamp? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return FileStamp(seconds: Int(info.st_mtim.tv_sec), nanoseconds: Int(info.st_mtim.tv_nsec), size: Int(info.st_size))
    }
}

/// What the home and sweep pages need of one run file.
struct RunSummary: Sendable {
    var runID: String
    var specName: String
    var label: String
    var seed: Int
    var status: RunStatus
    var lastStep: Int
    /// train.steps of the resolved spec, when it says.
    var totalSteps: Int?
    var trainSteps: [Int64]
    var trainLoss: [Double]
    var evalSteps: [Int64]
    var evalLoss: [Double]
    /// The validation set's Bayes-optimal loss, when the data has one (last finite eval `optimum`).
    var optimum: Double?
}

/// A cached read: the value, whether it is older than the file, and why the last read failed.
struct Cached<Value: Sendable>: Sendable {
    var value: Value?
    var stamp: FileStamp?
    var error: String?
    var stale: Bool { value != nil && error != nil }
}

/// The cache of everything read from run files. Not thread-safe by itself: the dashboard calls
/// it with its one lock held (the HDF5 library in Debian is built without thread safety).
final class RunFileCache {
    /// Where files are read: nil = in this process; else the reader process (`ablate read-runs`).
    let reader: ReaderProcess?
    init(reader: ReaderProcess? = nil) { self.reader = reader }

    private var summaries: [String: Cached<RunSummary>] = [:]
    private var results: [String: (stamp: FileStamp, cell: SweepManifest.Cell, result: RunResult)] = [:]
    private var details: [String: Cached<String>] = [:]
    /// Reads actually done (not served from the cache); for tests and docs.
    private(set) var reads = 0
    static let attempts = 3
    static let firstAttempts = 12
    static let retryMicroseconds: UInt32 = 30_000

    func summary(_ path: String) -> Cached<RunSummary> {
        load(path, &summaries) { try RunSummary(json: self.read(Dashboard.summaryKind, $0, relative: "")) }
    }

    /// The run page's JSON text.
    func detail(_ path: String, relative: String) -> Cached<String> {
        load(path, &details) { try self.read(Dashboard.detailKind, $0, relative: relative).text }
    }

    /// One read, here or in the reader process. A file that ends the reader process is damaged:
    /// it throws (and is not tried again until it changes).
    func read(_ kind: String, _ path: String, relative: String) throws -> JSONValue {
        guard let reader else { return try Dashboard.read(kind, path, relative: relative) }
        switch reader.read(kind, path, relative: relative) {
        case .value(let value): return value
        case .failed(let why): throw ServerError(why)
        case .crashed(let how): throw DamagedFile(description: "reading it ended the reader process (\(how)); the file is damaged")
        }
    }

    /// Analysis's view of one cell (for the table), cached like the rest. RunResult.load never
    /// throws for an unreadable file (it is a state); it does for assignments that are not JSONValue.
    func result(_ path: String, cell: SweepManifest.Cell) throws -> RunResult {
        let stamp = FileStamp.of(path)
        if let stamp, let hit = results[path], hit.stamp == stamp, hit.cell == cell { return hit.result }
        let source: RunFileSource = reader.map { .reader($0) } ?? .inProcess
        func load() throws -> RunResult { try RunResult(cell: cell, contents: source.read([path])[0]) }
        var result = try load()
        guard let stamp else { return result }   // a missing file is not opened
        reads += 1
        let attempts = results[path] == nil ? Self.firstAttempts : Self.attempts
        for _ in 1..<attempts {
            guard case .unreadable(let why) = result.state, !why.contains("ended the reader process") else { break }
            usleep(Self.retryMicroseconds)
            result = try load()
            reads += 1
        }
        if case .read = result.state {
            results[path] = (stamp, cell, result)
        } else if let hit = results[path], hit.cell == cell {
            return hit.result   // mid-flush: the last good read (the next poll tries again)
        }
        return result
    }

    private func load<Value>(_ path: String, _ store: inout [String: Cached<Value>],
                             _ read: (String) throws -> Value) -> Cached<Value> {
        guard let stamp = FileStamp.of(path) else {
            return Cached(value: nil, stamp: nil, error: "missing")
        }
        if let hit = store[path], hit.stamp == stamp, hit.error == nil { return hit }
        do {
            // A read that meets a flush in progress (uneven dataset lengths, a torn B-tree node)
            // is tried again a moment later: twice when there is a last good read to fall back
            // on, up to 12 times (~0.4 s) for a file never read yet.
            let attempts = store[path]?.value == nil ? Self.firstAttempts : Self.attempts
            var attempt = 1
            let value: Value
            while true {
                reads += 1
                do {
                    value = try read(path)
                    break
                } catch where attempt < attempts && !(error is DamagedFile) {
                    attempt += 1
                    usleep(Self.retryMicroseconds)
                }
            }
            let entry = Cached(value: value, stamp: stamp, error: nil)
            store[path] = entry
            return entry
        } catch {
            // Keep the last good value; the next poll tries again (the stamp is not stored).
            var entry = store[path] ?? Cached(value: nil, stamp: nil, error: nil)
            entry.error = "\(error)"
            store[path] = entry
            return entry
        }
    }

    static func readSummary(_ path: String) throws -> JSONValue {
        let reader = try RunFileReader(path: path)
        defer { reader.close() }
        let attributes = try reader.attributes()
        let train = try reader.trainMetrics()
        let eval = try reader.evalMetrics()
        let spec = try reader.spec()
        return RunSummary(runID: attributes.run.runID, specName: attributes.run.specName, label: attributes.run.label,
                          seed: attributes.run.seed, status: attributes.status, lastStep: attributes.lastStep,
                          totalSteps: SpecText.trainSteps(spec.resolved),
                          trainSteps: train.steps, trainLoss: train.columns["loss"] ?? [],
                          evalSteps: eval.steps, evalLoss: eval.columns["loss"] ?? [],
                          optimum: (eval.columns["optimum"] ?? []).last(where: \.isFinite)).json
    }
}

/// A read that ended the reader process: the file is damaged; reading it again will not help.
struct DamagedFile: Error, CustomStringConvertible { var description: String }

extension RunSummary {
    /// The per-step series (a long run has hundreds of thousands of rows) travel as base64 of
    /// their little-endian bytes: exact, non-finite values included, and fast to decode.
    var json: JSONValue {
        return .map(["run_id": .string(runID), "spec_name": .string(specName), "label": .string(label), "seed": .int(seed),
                     "status": .string(status.rawValue), "last_step": .int(lastStep), "total_steps": totalSteps.map { .int($0) } ?? .null,
                     "train_steps": Self.packed(trainSteps), "train_loss": Self.packed(trainLoss), "eval_steps": Self.packed(evalSteps),
                     "eval_loss": Self.packed(evalLoss), "optimum": optimum.map { .double($0) } ?? .null])
    }

    static func packed<T: FixedWidthInteger>(_ values: [T]) -> JSONValue {
        .string(values.map(\.littleEndian).withUnsafeBytes { Data($0) }.base64EncodedString())
    }

    static func packed(_ values: [Double]) -> JSONValue { packed(values.map(\.bitPattern)) }

    static func unpacked<T: FixedWidthInteger>(_ value: JSONValue?, as: T.Type) -> [T] {
        guard let text = value?.stringValue, let data = Data(base64Encoded: text) else { return [] }
        let count = data.count / MemoryLayout<T>.size
        var out = [T](repeating: 0, count: count)
        _ = out.withUnsafeMutableBytes { data.copyBytes(to: $0) }
        return out.map { T(littleEndian: $0) }
    }

    init(json: JSONValue) throws {
        func numbers(_ v: JSONValue?) -> [Double] { Self.unpacked(v, as: UInt64.self).map(Double.init(bitPattern:)) }
        func ints(_ v: JSONValue?) -> [Int64] { Self.unpacked(v, as: Int64.self) }
        guard let runID = json["run_id"]?.stringValue, let status = json["status"]?.stringValue.flatMap(RunStatus.init(rawValue:)) else {
            throw ServerError("a run summary without run_id or status")
        }
        self.init(runID: runID, specName: json["spec_name"]?.stringValue ?? "", label: json["label"]?.stringValue ?? "",
                  seed: json["seed"]?.intValue ?? 0, status: status, lastStep: json["last_step"]?.intValue ?? -1,
                  totalSteps: json["total_steps"]?.intValue, trainSteps: ints(json["train_steps"]), trainLoss: numbers(json["train_loss"]),
                  evalSteps: ints(json["eval_steps"]), evalLoss: numbers(json["eval_loss"]), optimum: json["optimum"]?.doubleValue)
    }
}

enum SpecText {
    /// `train.steps` from a resolved spec (canonical YAML: two-space indents, sorted keys).
    static func trainSteps(_ yaml: String) -> Int? {
        var inTrain = false
        for line in yaml.split(separator: "\n", omittingEmptySubsequences: false) {
            if !line.hasPrefix(" ") { inTrain = line.hasPrefix("train:"); continue }
            if inTrain, line.hasPrefix("  steps:") {
                return Int(line.dropFirst("  steps:".count).trimmingCharacters(in: .whitespaces))
            }
        }
        return nil
    }
}
