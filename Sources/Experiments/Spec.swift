// A spec: the YAML file a researcher writes (with `extends` and command-line overrides), its
// validation, and the cells it expands to (sweep × seeds), each a fully resolved spec with a
// content-addressed run id.
import Config
import Foundation
import Models
import RunStore
import Training

/// The top-level schema. `model`, `data`, `train` and `log` come from their layers.
public enum SpecSchema {
    public static let root = Section("An Ablate spec.", [
        Field.required("name", .string, "spec name: runs go to <runs>/<name>/<run id>/"),
        Field("description", .string, default: .string(""), "free text"),
        Field("extends", .list(.string), default: .list([]),
              "spec files merged first, in order (paths relative to this file); this file wins"),
        Field("model", .section(ModelConfig.schema), "the model (MODEL.md)"),
        Field("data", .section(DataConfig.schema), "the data source"),
        Field("train", .section(TrainConfig.schema), "optimisation"),
        Field("log", .section(LogConfig.schema), "logging and checkpoints"),
        Field("seeds", .list(.int(min: 0)), default: .list([.int(0)]),
              "seeds; every sweep cell runs once per seed (model init; data too unless data.seed is set)"),
        Field("sweep", .optional(.section(Section("The axes to ablate (dotted key paths).", [
            Field("grid", .optional(.any), "{path: [values]}: every combination"),
            Field("zip", .optional(.any), "{path: [values]}: lists of equal length, taken together"),
            Field("cells", .optional(.any), "[{path: value, …}]: explicit cells"),
        ]))), "sweep axes; null = one cell"),
        Field("tune", .optional(.section(Section("Tuning before the sweep (docs/tuning.md): each variant trains at every grid point on the tuning seeds, and the sweep's seeds train at the best.", [
            Field("grid", .any, "{path: [values]}: every combination is tried, e.g. {train.optimizer.lr: [0.001, 0.003, 0.01]}"),
            Field("seeds", .list(.int(min: 0)), "tuning seeds; disjoint from `seeds`, which alone the table and claims see"),
            Field("metric", .string, default: .string("final_loss"), "what picks the best: final_loss or best_loss (lowest mean over the tuning seeds)"),
        ]))), "learning-rate (or any key) tuning per variant; null = none"),
        Field("tuned", .optional(.list(.string)), "written by `ablate sweep` into the evaluation spec it derives from a tune block: the keys the tuning chose (shown as table columns)"),
        Field("table", .optional(.section(Section("How `ablate table` presents the sweep.", [
            Field("reference", .optional(.any), "a paper's numbers to show side by side: {source, rows: [{match: {path: value}, <metric>: number}]} (docs/analysis.md)"),
            Field("baseline", .optional(.any), "the row other rows are compared with over shared seeds: {path: value} or {match: {…}, metrics: […]} (docs/analysis.md)"),
            Field("alpha", .optional(.any), "significance level after correction, for contrasts, bold marks and claims (default 0.05)"),
            Field("correct", .optional(.any), "multiple-testing correction: holm (default), bh or none"),
            Field("labels", .optional(.any), "display names of rows: [{match: {path: value}, label: text}]"),
            Field("solve", .optional(.any), "a threshold that makes a metric solved or not per seed: {metric: accuracy, at_least: 0.99}; rows get the solve rate with its exact interval"),
            Field("claims", .optional(.any), "pre-registered claims with computed verdicts: [{name, metric, a: {match}, b: {match} | trend: {axis, scale} | reach: {a, b}, expect: less|greater|equivalent, min_effect}] (docs/analysis.md)"),
        ]))), "table settings"),
    ])

    /// The schema of one resolved cell: `seeds` becomes `seed`, the sweep is gone.
    static let cellKeys: Set<String> = ["name", "description", "model", "data", "train", "log", "seed"]
}

/// One runnable cell of a spec: a resolved spec for one sweep point and one seed.
public struct Cell: Sendable, Equatable {
    /// Position in the documented expansion order.
    public var index: Int
    /// Short content hash: sha256 of the canonical JSON of `resolved` and the harness version.
    public var runID: String
    /// Readable name from the keys that vary across the sweep ("attention.kind=mla,seed=1").
    public var label: String
    /// The overrides this cell applies to the base spec (dotted paths), seed included.
    public var assignments: [(path: String, value: ConfigValue)]
    public var seed: Int
    /// The fully resolved cell spec (every default filled, `seed` instead of `seeds`).
    public var resolved: ConfigValue
    public var model: ModelConfig
    public var data: DataConfig
    public var train: TrainConfig
    public var log: LogConfig

    public static func == (a: Cell, b: Cell) -> Bool { a.runID == b.runID && a.index == b.index }
}

/// A loaded, validated spec and its cells.
public struct Spec: Sendable {
    public var name: String
    public var file: String
    /// The spec as given: files merged through `extends`, then command-line overrides applied.
    public var given: ConfigValue
    public var overrides: [String]
    /// Fully resolved base spec (defaults filled), before sweep expansion.
    public var resolved: ConfigValue
    public var cells: [Cell]
    /// The dotted paths that vary across cells (sweep axes, and "seed" when several seeds).
    public var varyingKeys: [String]
}

public enum SpecLoader {
    /// Loads `file`, merges its `extends` chain, applies `overrides` ("key.path=value", YAML
    /// typed), validates everything and expands the cells. Every problem is reported at once.
    public static func load(_ file: String, overrides: [String] = []) throws(ConfigErrors) -> Spec {
        var visited: [String] = []
        var given = try loadMerged(file, visited: &visited)
        var problems: [ConfigProblem] = []
        for override in overrides {
            guard let equals = override.firstIndex(of: "="), equals != override.startIndex else {
                problems.append(ConfigProblem(file: "command line", path: override, "expected key.path=value"))
                continue
            }
            let path = String(override[..<equals])
            do {
                let value = try YAMLReader.parseValue(String(override[override.index(after: equals)...]), path: path)
                given = given.setting(value, at: path)
                // A relative corpus path on the command line is relative to where the command runs.
                given = absolutizingTextPath(given, base: FileManager.default.currentDirectoryPath)
            } catch {
                problems += error.problems
            }
        }
        if !problems.isEmpty { throw ConfigErrors(problems) }
        let spec = try expand(given: given, file: file, overrides: overrides)
        // A tune block: its own checks, and the tuning sweep it implies must load too.
        if let tune = try spec.tune() {
            _ = try expand(given: spec.tuningGiven(tune), file: file, overrides: overrides)
        }
        return spec
    }

    /// Validates a merged spec (overrides applied) and expands its cells.
    static func expand(given: ConfigValue, file: String, overrides: [String]) throws(ConfigErrors) -> Spec {
        // Validate the base spec against the schema (unknown keys, types, ranges).
        var resolver = Resolver(file: file)
        let resolved = resolver.resolve(given, against: SpecSchema.root, at: "")
        if !resolver.problems.isEmpty { throw ConfigErrors(resolver.problems) }
        let name = resolved["name"]?.stringValue ?? ""
        if name.isEmpty || name.contains("/") || name.hasPrefix(".") {
            throw ConfigErrors([ConfigProblem(file: file, path: "name", "expected a non-empty name without '/', got '\(name)'")])
        }

        let points = try SweepExpansion.points(resolved["sweep"] ?? .null, seeds: resolved["seeds"], file: file)
        var cells: [Cell] = []
        var seen: [String: Int] = [:]
        for (index, point) in points.enumerated() {
            let cell = try resolveCell(index: index, given: given, point: point, file: file)
            if let earlier = seen[cell.runID] {
                throw ConfigErrors([ConfigProblem(file: file, path: "sweep",
                    "cells \(earlier) and \(index) resolve to the same spec (\(cell.label)); remove the duplicate")])
            }
            seen[cell.runID] = index
            cells.append(cell)
        }
        var varying = SweepExpansion.varyingKeys(points)
        // Keys a tuning sweep chose are columns of the table even when every row chose the same.
        if case .list(let tuned)? = resolved["tuned"] {
            for case .string(let path) in tuned where !varying.contains(path) { varying.insert(path, at: max(0, varying.count - (varying.last == "seed" ? 1 : 0))) }
        }
        for index in cells.indices {
            cells[index].label = SweepExpansion.label(cells[index].assignments, varying: varying)
        }
        return Spec(name: name, file: file, given: given, overrides: overrides, resolved: resolved,
                    cells: cells, varyingKeys: varying)
    }

    /// One cell: apply the point's assignments to the given spec, validate, decode, hash.
    static func resolveCell(index: Int, given: ConfigValue, point: [(path: String, value: ConfigValue)],
                            file: String) throws(ConfigErrors) -> Cell {
        var cellGiven = given
        var seed = 0
        for (path, value) in point {
            if path == "seed" {
                seed = value.intValue ?? 0
            } else {
                cellGiven = cellGiven.setting(value, at: path)
            }
        }
        // A relative corpus path set by a sweep cell is relative to the spec file, like the spec's own.
        cellGiven = absolutizingTextPath(cellGiven, base: URL(fileURLWithPath: file).deletingLastPathComponent().path)
        let context = point.isEmpty ? "" : " (sweep cell \(index): " + point.map { "\($0.path)=\($0.value)" }.joined(separator: ", ") + ")"
        var resolver = Resolver(file: file + context)
        let resolved = resolver.resolve(cellGiven, against: SpecSchema.root, at: "")
        if !resolver.problems.isEmpty { throw ConfigErrors(resolver.problems) }

        // Sizes a machine could never hold are refused before anything multiplies them.
        let sizeProblems = SpecSizeLimits.problems(resolved)
        if !sizeProblems.isEmpty {
            throw ConfigErrors(sizeProblems.map { ConfigProblem(file: file + context, path: $0.path, $0.message) })
        }

        let model: ModelConfig, data: DataConfig, train: TrainConfig, log: LogConfig
        do {
            model = try ConfigDecoding.decode(ModelConfig.self, from: resolved["model"]!)
            data = try ConfigDecoding.decode(DataConfig.self, from: resolved["data"]!)
            train = try ConfigDecoding.decode(TrainConfig.self, from: resolved["train"]!)
            log = try ConfigDecoding.decode(LogConfig.self, from: resolved["log"]!)
        } catch {
            throw ConfigErrors([ConfigProblem(file: file + context, path: "", "internal: resolved spec does not decode: \(error)")])
        }
        var problems = model.problems() + train.problems() + data.problems(model: model)
        if let g = model.ffn.moe?.balance.auxGroup, model.ffn.moe?.balance.auxScope == .group,
           train.microBatches > 0, (train.batchSize / train.microBatches) % g != 0 {
            problems.append(ConfigProblem(path: "model.ffn.moe.balance.aux_group",
                                          "must divide the micro-batch (train.batch_size / train.micro_batches = \(train.batchSize / train.microBatches) sequences), got \(g)"))
        }
        if model.mtpDepth >= train.seqLen {
            problems.append(ConfigProblem(path: "model.mtp.depth",
                                          "must be < train.seq_len (\(train.seqLen)): module j predicts j + 2 ahead and needs a position to do it from, got \(model.mtpDepth)"))
        }
        if data.kind == .mqar {
            let mqar = data.mqar ?? .defaults
            let needed = 2 * mqar.pairs + 2 * mqar.queries   // both ≤ SpecSizeLimits.maxInteger
            if train.seqLen < needed {
                problems.append(ConfigProblem(path: "train.seq_len", "mqar with \(mqar.pairs) pairs and \(mqar.queries) queries needs ≥ \(needed) tokens, got \(train.seqLen)"))
            }
            if mqar.queries > mqar.pairs {
                problems.append(ConfigProblem(path: "data.mqar.queries", "must be ≤ pairs (\(mqar.pairs)): queries ask distinct earlier keys"))
            }
            if mqar.pairs > mqar.keyVocab {
                problems.append(ConfigProblem(path: "data.mqar.pairs", "must be ≤ key_vocab (\(mqar.keyVocab)): keys in a sequence are distinct"))
            }
        }
        for layer in log.tensors.attentionLayers where layer >= model.nLayers {
            problems.append(ConfigProblem(path: "log.tensors.attention_layers", "layer \(layer) does not exist (n_layers = \(model.nLayers))"))
        }
        for head in log.tensors.attentionHeads where head >= model.attention.heads {
            problems.append(ConfigProblem(path: "log.tensors.attention_heads", "head \(head) does not exist (heads = \(model.attention.heads))"))
        }
        if !problems.isEmpty {
            throw ConfigErrors(problems.map { ConfigProblem(file: file + context, path: $0.path, $0.message) })
        }

        // The cell's own resolved spec: seed instead of seeds, no sweep or table.
        guard case .map(var map) = resolved else { fatalError("resolved spec is a mapping") }
        map = map.filter { SpecSchema.cellKeys.contains($0.key) }
        map["seed"] = .int(seed)
        let cellValue = ConfigValue.map(map)
        let runID = String(SHA256.hex(CanonicalJSON.encode(cellValue) + "\nablate " + Provenance.harnessVersion).prefix(12))
        return Cell(index: index, runID: runID, label: "", assignments: point, seed: seed, resolved: cellValue,
                    model: model, data: data, train: train, log: log)
    }

    static func loadMerged(_ file: String, visited: inout [String]) throws(ConfigErrors) -> ConfigValue {
        let url = URL(fileURLWithPath: file).standardizedFileURL
        if visited.contains(url.path) {
            throw ConfigErrors([ConfigProblem(file: file, path: "extends",
                "circular extends: " + (visited + [url.path]).map { URL(fileURLWithPath: $0).lastPathComponent }.joined(separator: " → "))])
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw ConfigErrors([ConfigProblem(file: file, path: "", "no such spec file")])
        }
        let text: String
        do {
            text = try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw ConfigErrors([ConfigProblem(file: file, path: "", "cannot read the spec: \(error.localizedDescription)")])
        }
        let value = try YAMLReader.parse(text, file: file)
        guard case .map(var map) = value else {
            throw ConfigErrors([ConfigProblem(file: file, path: "", "a spec must be a mapping of keys, got \(value.typeName)")])
        }
        var parents: [String] = []
        switch map["extends"] {
        case nil, .null?: break
        case .string(let one)?: parents = [one]
        case .list(let list)? where list.allSatisfy({ $0.stringValue != nil }): parents = list.compactMap(\.stringValue)
        case let other?:
            throw ConfigErrors([ConfigProblem(file: file, path: "extends", "expected a file path or a list of them, got \(other.typeName)")])
        }
        map["extends"] = nil
        visited.append(url.path)
        var merged = ConfigValue.map([:])
        for parent in parents {
            let parentPath = parent.hasPrefix("/") ? parent : url.deletingLastPathComponent().appendingPathComponent(parent).path
            merged = merged.merged(with: try loadMerged(parentPath, visited: &visited))
        }
        visited.removeLast()
        // Relative data paths are relative to the spec file that names them.
        if case .string(let dataPath)? = map["data"]?["text"]?["path"], !dataPath.hasPrefix("/") {
            let absolute = url.deletingLastPathComponent().appendingPathComponent(dataPath).standardizedFileURL.path
            map["data"] = (map["data"] ?? .null).setting(.string(absolute), at: "text.path")
        }
        return merged.merged(with: .map(map))
    }
}

extension SpecLoader {
    /// Rebuilds the one-cell spec of a run from its stored resolved spec (YAML text, as in a
    /// run file's /spec/resolved). The cell's run id is recomputed, so a run directory can be
    /// checked against it.
    public static func fromResolved(_ text: String, source: String) throws(ConfigErrors) -> Spec {
        let value = try YAMLReader.parse(text, file: source)
        guard case .map(var map) = value, let seed = map["seed"]?.intValue else {
            throw ConfigErrors([ConfigProblem(file: source, path: "seed", "a resolved run spec needs a seed")])
        }
        map["seed"] = nil
        map["seeds"] = .list([.int(seed)])
        let given = ConfigValue.map(map)
        var resolver = Resolver(file: source)
        let resolved = resolver.resolve(given, against: SpecSchema.root, at: "")
        if !resolver.problems.isEmpty { throw ConfigErrors(resolver.problems) }
        let cell = try resolveCell(index: 0, given: given, point: [("seed", .int(seed))], file: source)
        return Spec(name: resolved["name"]?.stringValue ?? "", file: source, given: given, overrides: [],
                    resolved: resolved, cells: [cell], varyingKeys: [])
    }
}

/// `value` with a relative `data.text.path` made absolute against `base`.
func absolutizingTextPath(_ value: ConfigValue, base: String) -> ConfigValue {
    var value = value
    for key in Cell.inputPaths {
        guard case .string(let path)? = value.value(at: key), !path.hasPrefix("/"), !path.isEmpty else { continue }
        let absolute = URL(fileURLWithPath: base).appendingPathComponent(path).standardizedFileURL.path
        value = value.setting(.string(absolute), at: key)
    }
    return value
}

extension Cell {
    /// Inputs the cell reads that are missing now (a text corpus). Checked by the commands that
    /// start work, before anything is written — not by spec loading, so one cell's missing data
    /// never stops another cell of the same sweep from running.
    public func inputProblems(file: String) -> [ConfigProblem] {
        let used: [(String, String?)] = [("data.text.path", data.kind == .text ? data.text?.path : nil),
                                         ("data.tokens.train", data.kind == .tokens ? data.tokens?.train : nil),
                                         ("data.tokens.val", data.kind == .tokens ? data.tokens?.val : nil),
                                         ("data.tokens.tokenizer", data.kind == .tokens ? data.tokens?.tokenizer : nil)]
        return used.compactMap { key, path in
            guard let path, !FileManager.default.fileExists(atPath: path) else { return nil }
            return ConfigProblem(file: file, path: key, "'\(path)' does not exist" + (label == "base" ? "" : " (cell \(index): \(label))"))
        }
    }

    /// Spec keys that name files the data reads: a relative path is relative to the spec file
    /// (or, on the command line, to where the command runs).
    static let inputPaths = ["data.text.path", "data.tokens.train", "data.tokens.val", "data.tokens.tokenizer"]
}

/// Upper bounds that keep every size computed from a spec (parameter counts, FLOPs, buffer
/// lengths) far from Int overflow: a spec past them could not run on any machine, and without
/// them a typo such as `model.d_model=9223372036854775807` would trap in arithmetic.
enum SpecSizeLimits {
    /// No integer of the model, data, train or log sections (seeds aside) may exceed this (2^24).
    static let maxInteger = 1 << 24
    /// Counts of sequences and steps may be larger (2^40): a huge batch is refused by the
    /// memory check, which names the keys and how far to shrink them.
    static let maxCount = 1 << 40
    static let countKeys: Set<String> = ["train.batch_size", "train.steps"]
    /// Estimated parameters, and activations of one step, must stay below this (2^50).
    static let maxProduct = Double(1 << 50)

    static func problems(_ resolved: ConfigValue) -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        func walk(_ value: ConfigValue, _ path: String) {
            switch value {
            case .int(let number) where number > (countKeys.contains(path) ? maxCount : maxInteger) && !path.hasSuffix("seed"):
                let limit = countKeys.contains(path) ? maxCount : maxInteger
                problems.append(ConfigProblem(path: path, "\(number) is too large (at most \(limit))"))
            case .map(let map):
                for key in map.keys.sorted() { walk(map[key]!, Resolver.join(path, key)) }
            case .list(let items):
                for (index, item) in items.enumerated() { walk(item, "\(path)[\(index)]") }
            default:
                break
            }
        }
        for section in ["model", "data", "train", "log"] { walk(resolved[section] ?? .null, section) }
        if !problems.isEmpty { return problems }
        // Every integer is ≤ 2^24 now; bound the products the model's derived counts form.
        func number(_ path: String) -> Double { Double(resolved.value(at: path)?.intValue ?? 0) }
        let d = number("model.d_model"), layers = number("model.n_layers"), vocab = number("model.vocab")
        let heads = number("model.attention.heads")
        let headWidth = max(number("model.attention.head_dim"), number("model.attention.d_nope") + number("model.attention.d_rope") + number("model.attention.d_v"), d)
        let ranks = number("model.attention.kv_rank") + number("model.attention.q_rank")
        let experts = number("model.ffn.moe.experts") + number("model.ffn.moe.shared_experts") + 1
        let ffnWidth = max(number("model.ffn.hidden"), number("model.ffn.moe.expert_hidden") * experts)
        let seqLen = number("train.seq_len"), batch = number("train.batch_size")
        let perLayer = heads * headWidth * (d + ranks) + ranks * d + d * ffnWidth + d * experts + heads * seqLen * seqLen
        let estimates: [(key: String, value: Double)] = [
            ("model", vocab * d + layers * perLayer),
            ("train", batch * seqLen * max(d, vocab, ffnWidth, heads * seqLen) * max(layers, 1)),
        ]
        for (key, value) in estimates where value > maxProduct {
            problems.append(ConfigProblem(path: key, String(format: "sizes multiply to about %.3g elements, more than any machine holds (d_model, n_layers, vocab, heads, ffn widths, experts, batch_size, seq_len)", value)))
        }
        return problems
    }
}
