// Tuning as part of a sweep (docs/tuning.md). A spec's `tune` block names a grid (any keys; the
// learning rate first of all) and tuning seeds. `ablate sweep` then runs two sweeps:
//   1. the tuning sweep <name>-tune: every variant of the spec at every grid point, on the
//      tuning seeds;
//   2. the evaluation sweep <name>: every variant at the grid point with the lowest mean of
//      `tune.metric` over the tuning seeds, on the spec's own seeds.
// Both are ordinary sweeps written as spec files beside their runs, so resume, skip, Slurm
// tasks, tables and notebooks work on them unchanged. The tuning seeds never reach the table.
import Analysis
import Config
import Foundation
import JSON

/// A spec's `tune` block.
public struct TuneConfig: Sendable, Equatable {
    /// Dotted key path → the values to try, in sorted key order.
    public var grid: [(path: String, values: [ConfigValue])]
    public var seeds: [Int]
    /// final_loss or best_loss: lowest mean over the tuning seeds wins.
    public var metric: String

    public static func == (a: TuneConfig, b: TuneConfig) -> Bool {
        a.seeds == b.seeds && a.metric == b.metric && a.grid.map(\.path) == b.grid.map(\.path) && a.grid.map(\.values) == b.grid.map(\.values)
    }

    public var paths: [String] { grid.map(\.path) }

    /// Every grid point, keys in sorted order, the last varying fastest (as `sweep.grid`).
    public var points: [[ConfigValue]] {
        grid.reduce([[]]) { points, axis in points.flatMap { point in axis.values.map { point + [$0] } } }
    }
}

extension Spec {
    /// The `tune` block, checked: grid keys not swept by the spec, tuning seeds disjoint from
    /// the spec's seeds, a metric that can pick. nil when the spec has none.
    public func tune() throws(ConfigErrors) -> TuneConfig? {
        guard case .map(let block)? = resolved["tune"] else { return nil }
        var problems: [ConfigProblem] = []
        var grid: [(String, [ConfigValue])] = []
        if case .map(let axes)? = block["grid"], !axes.isEmpty {
            for path in axes.keys.sorted() {
                guard case .list(let values) = axes[path]!, !values.isEmpty else {
                    problems.append(ConfigProblem(file: file, path: "tune.grid.\(path)", "expected a non-empty list of values"))
                    continue
                }
                if Set(values.map(CanonicalJSON.encode)).count != values.count {
                    problems.append(ConfigProblem(file: file, path: "tune.grid.\(path)", "values must be distinct, got \(ConfigValue.list(values))"))
                }
                if cells.contains(where: { cell in cell.assignments.contains { $0.path == path } }) {
                    problems.append(ConfigProblem(file: file, path: "tune.grid.\(path)", "is also a sweep axis: a key is either compared or tuned, not both"))
                }
                if path == "seed" || path == "seeds" || path == "name" || path.hasPrefix("sweep") || path.hasPrefix("tune") || path.hasPrefix("table") {
                    problems.append(ConfigProblem(file: file, path: "tune.grid.\(path)", "cannot be tuned"))
                }
                grid.append((path, values))
            }
        } else {
            problems.append(ConfigProblem(file: file, path: "tune.grid", "expected a mapping {key.path: [values]} with at least one key"))
        }
        let seeds = (block["seeds"].flatMap { value -> [Int]? in
            guard case .list(let list) = value else { return nil }
            return list.compactMap(\.intValue)
        }) ?? []
        if seeds.isEmpty { problems.append(ConfigProblem(file: file, path: "tune.seeds", "expected at least one tuning seed")) }
        if Set(seeds).count != seeds.count { problems.append(ConfigProblem(file: file, path: "tune.seeds", "seeds must be distinct, got \(seeds)")) }
        let shared = Set(seeds).intersection(cells.map(\.seed)).sorted()
        if !shared.isEmpty {
            problems.append(ConfigProblem(file: file, path: "tune.seeds",
                                          "\(shared) also in seeds: the evaluation seeds must be fresh, so the choice is not tested on the runs that made it"))
        }
        let metric = block["metric"]?.stringValue ?? "final_loss"
        if !ClaimSpec.reachMetrics.contains(metric) {
            problems.append(ConfigProblem(file: file, path: "tune.metric", "expected final_loss or best_loss, got \(metric)"))
        }
        if !problems.isEmpty { throw ConfigErrors(problems) }
        return TuneConfig(grid: grid, seeds: seeds, metric: metric)
    }

    /// The tuning sweep's spec as given: <name>-tune, the tune grid added to the sweep, the
    /// tuning seeds, no table.
    func tuningGiven(_ tune: TuneConfig) -> ConfigValue {
        var value = given
        value = value.setting(.string(name + "-tune"), at: "name")
        value = value.setting(.list(tune.seeds.map { .int($0) }), at: "seeds")
        value = value.setting(.null, at: "tune")
        value = value.setting(.null, at: "table")
        var sweep = value["sweep"] ?? .null
        if sweep == .null { sweep = .map([:]) }
        var grid = sweep["grid"] ?? .null
        if grid == .null { grid = .map([:]) }
        guard case .map(var axes) = grid else { return value }
        for (path, values) in tune.grid { axes[path] = .list(values) }
        if case .map(var map) = sweep { map["grid"] = .map(axes); sweep = .map(map) }
        return value.setting(sweep, at: "sweep")
    }
}

/// The choice for one variant of the spec: the mean of the tuning metric at each grid point
/// over the tuning seeds, and the chosen point.
public struct TuningChoice: Sendable {
    /// The variant's sweep assignments (the spec's sweep point, without the seed).
    public var variant: [(path: String, value: ConfigValue)]
    /// In grid order: the point, the mean over completed tuning seeds (+∞ when any diverged), n.
    public var means: [(point: [ConfigValue], mean: Double, n: Int)]
    public var chosen: [ConfigValue]
}

public enum Tuning {
    /// Where the tuning sweep's spec is written: <runs>/<name>-tune/tune-spec.yaml.
    public static func tuningSpecPath(runs: String, spec: Spec) -> String {
        URL(fileURLWithPath: runs).appendingPathComponent(spec.name + "-tune").appendingPathComponent("tune-spec.yaml").path
    }

    /// Where the evaluation sweep's spec is written: <runs>/<name>/tuned-spec.yaml.
    public static func evaluationSpecPath(runs: String, spec: Spec) -> String {
        URL(fileURLWithPath: runs).appendingPathComponent(spec.name).appendingPathComponent("tuned-spec.yaml").path
    }

    /// Writes the tuning sweep's spec (it extends the spec file) and loads it with the same
    /// overrides.
    public static func writeTuningSpec(_ spec: Spec, tune: TuneConfig, runs: String) throws -> Spec {
        let path = tuningSpecPath(runs: runs, spec: spec)
        var top: [String: ConfigValue] = ["extends": .list([.string(absolute(spec.file))]), "name": .string(spec.name + "-tune"),
                                          "seeds": .list(tune.seeds.map { .int($0) }), "tune": .null, "table": .null]
        top["sweep"] = .map(["grid": .map(Dictionary(uniqueKeysWithValues: tune.grid.map { ($0.path, ConfigValue.list($0.values)) }))])
        let header = """
            # Written by `ablate sweep \(spec.file)`: the tuning sweep of its tune block. Every variant at
            # every point of tune.grid, on the tuning seeds \(tune.seeds). Edit the spec, not this file.

            """
        try write(header + YAMLText.emit(.map(top)), to: path)
        return try SpecLoader.load(path, overrides: derivedOverrides(spec))
    }

    /// The choice for every variant of `spec` from the tuning sweep's runs, or an error naming
    /// what is missing when a grid point has no completed or diverged run on some tuning seed.
    public static func choose(_ spec: Spec, tune: TuneConfig, tuning: SweepData) throws -> [TuningChoice] {
        var choices: [TuningChoice] = []
        var seen: Set<String> = []
        var missing: [String] = []
        for cell in spec.cells {
            let variant = cell.assignments.filter { $0.path != "seed" }
            guard seen.insert(CanonicalJSON.encode(.map(Dictionary(uniqueKeysWithValues: variant.map { ($0.path, $0.value) })))).inserted else { continue }
            var means: [(point: [ConfigValue], mean: Double, n: Int)] = []
            for point in tune.points {
                var match = Dictionary(uniqueKeysWithValues: variant.map { ($0.path, $0.value) })
                for (axis, value) in zip(tune.grid, point) { match[axis.path] = value }
                let group = tuning.groups.first { $0.matches(match) && $0.assignments.count == match.count }
                let runs = group?.runs ?? []
                let finished = runs.filter { $0.state == .read(.completed) || $0.state == .read(.diverged) }
                if finished.count < tune.seeds.count {
                    missing.append(SweepExpansion.label(variant + zip(tune.grid, point).map { ($0.path, $1) }, varying: variant.map(\.path) + tune.paths)
                                   + ": \(finished.count) of \(tune.seeds.count) tuning seeds finished")
                    continue
                }
                let values = finished.map { $0.state == .read(.diverged) ? Double.infinity : ($0.metrics[tune.metric] ?? .nan) }
                let mean = values.contains { !$0.isFinite } ? Double.infinity : values.reduce(0, +) / Double(values.count)
                means.append((point, mean, values.count))
            }
            // Lowest mean; ties go to the earlier grid point.
            var best = 0
            for i in means.indices where means[i].mean < means[best].mean { best = i }
            choices.append(TuningChoice(variant: variant, means: means, chosen: means.isEmpty ? [] : means[best].point))
        }
        if !missing.isEmpty {
            throw SweepError("the tuning sweep has not finished: " + missing.prefix(5).joined(separator: "; ")
                             + (missing.count > 5 ? "; and \(missing.count - 5) more" : ""))
        }
        return choices
    }

    /// Writes the evaluation sweep's spec (it extends the spec file; its cells are the spec's
    /// variants at their chosen points) and loads it with the same overrides.
    public static func writeEvaluationSpec(_ spec: Spec, tune: TuneConfig, choices: [TuningChoice], runs: String) throws -> Spec {
        let path = evaluationSpecPath(runs: runs, spec: spec)
        let cells: [ConfigValue] = choices.map { choice in
            var map = Dictionary(uniqueKeysWithValues: choice.variant.map { ($0.path, $0.value) })
            for (axis, value) in zip(tune.grid, choice.chosen) { map[axis.path] = value }
            return .map(map)
        }
        let top: [String: ConfigValue] = [
            "extends": .list([.string(absolute(spec.file))]), "tune": .null, "tuned": .list(tune.paths.map { .string($0) }),
            "sweep": .map(["cells": .list(cells), "grid": .null, "zip": .null]),
        ]
        var header = "# Written by `ablate sweep \(spec.file)`: its evaluation sweep, each variant at the point of\n"
        header += "# tune.grid with the lowest mean \(tune.metric) over the tuning seeds \(tune.seeds) (\(spec.name)-tune).\n"
        header += "# Edit the spec, not this file. The tuning means (∞: a run diverged):\n"
        for choice in choices { header += "#   " + summary(choice, tune: tune) + "\n" }
        try write(header + "\n" + YAMLText.emit(.map(top)), to: path)
        try write(CanonicalJSON.encode(meansJSON(choices, tune: tune)) + "\n", to: meansPath(runs: runs, spec: spec))
        return try SpecLoader.load(path, overrides: derivedOverrides(spec))
    }

    /// Where the tuning means are written beside the evaluation sweep: <runs>/<name>/tuning.json
    /// (the notebook's tuning curves read it; nothing recomputes them).
    public static func meansPath(runs: String, spec: Spec) -> String {
        URL(fileURLWithPath: runs).appendingPathComponent(spec.name).appendingPathComponent("tuning.json").path
    }

    /// The choices as JSON: the metric, the tuned keys and tuning seeds, and per variant its
    /// label, assignments, each grid point's mean (null when a run diverged: +∞) with its n, and
    /// the chosen point.
    public static func meansJSON(_ choices: [TuningChoice], tune: TuneConfig) -> JSONValue {
        .map([
            "metric": .string(tune.metric),
            "tuned": .strings(tune.paths),
            "seeds": .ints(tune.seeds),
            "variants": .list(choices.map { choice in
                .map([
                    "label": .string(SweepExpansion.label(choice.variant, varying: choice.variant.map(\.path))),
                    "assignments": .map(Dictionary(uniqueKeysWithValues: choice.variant.map { ($0.path, $0.value) })),
                    "points": .list(choice.means.map { entry in
                        .map(["point": .list(entry.point), "mean": .finite(entry.mean), "n": .int(entry.n)])
                    }),
                    "chosen": .list(choice.chosen),
                ])
            }),
        ])
    }

    /// "attention.kind=mha: optimizer.lr 0.001 → 2.2104, 0.003 → 2.0312 (chosen), …".
    public static func summary(_ choice: TuningChoice, tune: TuneConfig) -> String {
        let name = SweepExpansion.label(choice.variant, varying: choice.variant.map(\.path))
        let axes = tune.paths.map(SweepExpansion.shortName).joined(separator: ", ")
        let points = choice.means.map { entry in
            entry.point.map(SweepExpansion.display).joined(separator: ", ") + " → " + (entry.mean.isFinite ? String(format: "%.4f", entry.mean) : "∞")
                + (entry.point == choice.chosen ? " (chosen)" : "")
        }
        return "\(name): \(axes) " + points.joined(separator: ", ")
    }

    /// The spec's overrides for its derived sweeps: those of the tune block itself have done
    /// their work (the derived specs have no tune block).
    static func derivedOverrides(_ spec: Spec) -> [String] {
        spec.overrides.filter { !$0.hasPrefix("tune.") && !$0.hasPrefix("tune=") }
    }

    static func absolute(_ file: String) -> String { URL(fileURLWithPath: file).standardizedFileURL.path }

    static func write(_ text: String, to path: String) throws {
        try FileManager.default.createDirectory(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path,
                                                withIntermediateDirectories: true)
        // Whole or not at all: a reader never sees half a spec.
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }
}
