// What a table needs from one run file, and where run files are read (in this process or by a
// reader process).
import Foundation
import RunStore

/// What a table needs from one run file, read in this process or sent over by a helper process
/// as one JSON line.
public struct RunFileContents: Sendable, Equatable {
    public var state: RunResult.State = .missing
    public var lastStep = -1
    public var metrics: [String: Double] = MetricColumn.all.reduce(into: [:]) { $0[$1.id] = .nan }
    public var derived: [String: Int64] = [:]
    public var hasMoE = false, hasBias = false
    public var tokenUnit: String?
    public var wallSeconds: Double?
    /// Eval loss against the tokens trained before each evaluation (claims of kind reach).
    public var evalCurve = EvalCurve()

    public init() {}

    /// Reads one run file in this process; never throws (missing and unreadable are states).
    public static func read(_ path: String) -> RunFileContents {
        var result = RunFileContents()
        guard FileManager.default.fileExists(atPath: path) else { return result }
        do {
            let reader = try RunFileReader(path: path)
            defer { reader.close() }
            let attributes = try reader.attributes()
            result.state = .read(try reader.liveStatus().status)   // a dead writer's "running" reads interrupted
            result.lastStep = attributes.lastStep
            result.derived = attributes.run.modelStats
            let train = try reader.trainMetrics(), eval = try reader.evalMetrics()
            result.metrics = MetricColumn.extract(train: train, eval: eval)
            result.evalCurve = Self.evalCurve(train: train, eval: eval)
            let layers = try reader.moeLayers()
            result.hasMoE = !layers.isEmpty
            result.hasBias = layers.contains { $0.bias.contains { $0 != 0 } }
            let resolvedSpec = try reader.spec().resolved
            // Byte-level text counts per byte; synthetic data and token files per token.
            result.tokenUnit = resolvedSpec.contains("kind: text") ? "byte" : "token"
            if let start = Self.date(attributes.createdUTC), let end = Self.date(attributes.finishedUTC) {
                result.wallSeconds = end.timeIntervalSince(start)
            }
        } catch {
            result.state = .unreadable("\(error)")
        }
        return result
    }

    /// Each evaluation's loss against the train `tokens` logged at its step (NaN tokens where the
    /// step has no train row; a resumed run's later rows win).
    static func evalCurve(train: MetricTable, eval: MetricTable) -> EvalCurve {
        guard let losses = eval.columns["loss"], let tokens = train.columns["tokens"] else { return EvalCurve() }
        var tokensAt: [Int64: Double] = [:]
        for (step, t) in zip(train.steps, tokens) { tokensAt[step] = t }
        return EvalCurve(tokens: eval.steps.map { tokensAt[$0] ?? .nan }, loss: losses)
    }

    /// A run file's UTC time stamp ("2026-12-07T04:00:45.514Z"; fractional seconds optional).
    static func date(_ text: String) -> Date? {
        let iso = ISO8601DateFormatter()
        iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = iso.date(from: text) { return date }
        iso.formatOptions = [.withInternetDateTime]
        return iso.date(from: text)
    }

    /// One line of JSON (numbers at full precision; NaN as null).
    public var json: JSONValue {
        func number(_ x: Double) -> JSONValue { x.isFinite ? .double(x) : .null }
        var state: [String: JSONValue]
        switch self.state {
        case .missing: state = ["kind": .string("missing")]
        case .unreadable(let why): state = ["kind": .string("unreadable"), "why": .string(why)]
        case .read(let status): state = ["kind": .string("read"), "status": .string(status.rawValue)]
        }
        var object: [String: JSONValue] = [
            "state": .map(state), "last_step": .int(lastStep), "metrics": .map(metrics.mapValues(number)),
            "derived": .map(derived.mapValues { .int(Int($0)) }), "has_moe": .bool(hasMoE), "has_bias": .bool(hasBias),
        ]
        if let tokenUnit { object["token_unit"] = .string(tokenUnit) }
        if let wallSeconds { object["wall_seconds"] = .double(wallSeconds) }
        if !evalCurve.isEmpty {
            object["eval_curve"] = .map(["tokens": .list(evalCurve.tokens.map(number)), "loss": .list(evalCurve.loss.map(number))])
        }
        return .map(object)
    }

    public init(json: JSONValue) throws {
        guard let state = json["state"], let kind = state["kind"]?.stringValue else { throw AnalysisError("run file contents: no state in \(json)") }
        switch kind {
        case "missing": self.state = .missing
        case "unreadable": self.state = .unreadable(state["why"]?.stringValue ?? "unknown")
        case "read":
            guard let status = state["status"]?.stringValue.flatMap(RunStatus.init(rawValue:)) else { throw AnalysisError("run file contents: bad status in \(json)") }
            self.state = .read(status)
        default: throw AnalysisError("run file contents: unknown state '\(kind)'")
        }
        lastStep = Int(json["last_step"]?.numberValue ?? -1)
        if case .map(let m)? = json["metrics"] { for (k, v) in m { metrics[k] = v.numberValue ?? .nan } }
        if case .map(let d)? = json["derived"] { for (k, v) in d { if let x = v.intValue { derived[k] = Int64(x) } } }
        hasMoE = json["has_moe"] == .bool(true)
        hasBias = json["has_bias"] == .bool(true)
        tokenUnit = json["token_unit"]?.stringValue
        wallSeconds = json["wall_seconds"]?.numberValue
        if let curve = json["eval_curve"], case .list(let tokens)? = curve["tokens"], case .list(let loss)? = curve["loss"] {
            evalCurve = EvalCurve(tokens: tokens.map { $0.numberValue ?? .nan }, loss: loss.map { $0.numberValue ?? .nan })
        }
    }
}

/// Where run files are read: in this process, or by a reader process (`ablate read-runs`, see
/// RunStore's ReaderProcess) that answers what a table needs of each file as JSON. libhdf5 can
/// still crash on some damaged files (a flipped byte in a string's heap index); with the reader
/// process, such a file marks its cell unreadable, the next file starts a new reader, and the
/// command carries on.
public enum RunFileSource: Sendable {
    case inProcess
    case reader(ReaderProcess)

    /// The request kind the reader process answers with `RunFileContents.json`.
    public static let kind = "table"

    public func read(_ paths: [String]) -> [RunFileContents] {
        switch self {
        case .inProcess:
            return paths.map(RunFileContents.read)
        case .reader(let reader):
            return paths.map { path in
                // A missing file is not opened by anyone.
                guard FileManager.default.fileExists(atPath: path) else { return RunFileContents() }
                var contents = RunFileContents()
                switch reader.read(Self.kind, path) {
                case .value(let value):
                    do { return try RunFileContents(json: value) } catch { contents.state = .unreadable("\(error)") }
                case .failed(let why):
                    contents.state = .unreadable(why)
                case .crashed(let how):
                    contents.state = .unreadable("reading it ended the reader process (\(how)); the file is damaged")
                }
                return contents
            }
        }
    }
}
