// A spec's `table` section, checked against the sweep it presents: its settings parse, its
// claims, baseline and labels name rows the sweep will have, and its metrics are ones the data
// and model can give. `SpecLoader.loadChecked` is what every command that takes a spec calls.
import Analysis
import Config
import Foundation
import RunStore

extension Spec {
    /// The spec's `table` settings, as Analysis reads them.
    public func tableSettings() throws -> TableSettings {
        guard let table = resolved["table"] else { return TableSettings() }
        return try TableSettings.parse(table)
    }

    /// Problems of the `table` section against this spec's cells (empty when it has none).
    public var tableProblems: [ConfigProblem] {
        let settings: TableSettings
        do {
            settings = try tableSettings()
        } catch {
            return [ConfigProblem(file: file, path: "", "\(error)")]
        }
        var rows: [[String: JSONValue]] = []
        var seen: Set<String> = []
        for cell in cells {
            var row: [String: JSONValue] = [:]
            for (path, value) in cell.assignments where path != "seed" {
                row[path] = value
            }
            if seen.insert(JSONValue.map(row).canonical).inserted { rows.append(row) }
        }
        var problems = settings.selectorProblems(rows: rows).map { ConfigProblem(file: file, path: $0.path, $0.message) }
        // Metrics the data or model cannot give.
        let kinds = Set(cells.compactMap { $0.resolved.value(at: "data.kind")?.stringValue })
        let moe = cells.contains { $0.resolved.value(at: "model.ffn.kind")?.stringValue == "moe" }
        func check(_ metric: String, _ path: String) {
            if metric == "accuracy", !kinds.contains("mqar") {
                problems.append(ConfigProblem(file: file, path: path, "metric accuracy needs MQAR data (data.kind: mqar); this sweep has \(kinds.sorted().joined(separator: ", "))"))
            }
            if metric.hasPrefix("maxvio"), !moe {
                problems.append(ConfigProblem(file: file, path: path, "metric \(metric) needs an MoE model (model.ffn.kind: moe)"))
            }
            if metric == "gap", !kinds.contains("markov_mixture") {
                problems.append(ConfigProblem(file: file, path: path, "metric gap needs data with a known optimum (data.kind: markov_mixture)"))
            }
        }
        for (index, claim) in settings.claims.enumerated() { check(claim.metric, "table.claims[\(index)].metric") }
        if let solve = settings.solve { check(solve.metric, "table.solve.metric") }
        return problems
    }
}

extension SpecLoader {
    /// `load`, then the `table` section checked against the cells: every problem of both, at once.
    public static func loadChecked(_ file: String, overrides: [String] = []) throws(ConfigErrors) -> Spec {
        let spec = try load(file, overrides: overrides)
        let problems = spec.tableProblems
        if !problems.isEmpty { throw ConfigErrors(problems) }
        return spec
    }
}

/// A refusal of a command's input, with the exit code the CLI gives it (docs/reliability.md:
/// 2 = bad input, refused before any work; 1 = an error).
public struct CommandFailure: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var exitCode: Int32
    public init(_ message: String, exitCode: Int32 = 1) {
        self.message = message
        self.exitCode = exitCode
    }
    public var description: String { message }
}

/// A SWEEP argument made concrete: the sweep directory, its plan, and the spec's `table`
/// settings.
public struct SweepTarget: Sendable {
    public var directory: String
    public var manifest: SweepManifest
    public var settings: TableSettings
    /// The spec file the settings come from ("" when none could be loaded).
    public var specFile: String

    /// `--alpha` given on the command line replaces the spec's `table.alpha`.
    public mutating func override(alpha: Double?) throws {
        guard let alpha else { return }
        guard alpha > 0, alpha < 1 else { throw CommandFailure("--alpha: expected a number between 0 and 1, got \(alpha)", exitCode: 2) }
        settings.alpha = alpha
    }

    /// SWEEP is a directory holding sweep.json (or run directories), or a spec file (its sweep
    /// is <runs>/<name>). The `table` section comes from the spec: the file given, or the one
    /// sweep.json names; `warn` hears when that one cannot be loaded.
    public static func resolve(_ argument: String, runs: String, warn: (String) -> Void) throws -> SweepTarget {
        // Run files of a sweep still running are open for writing; HDF5 would refuse to read them.
        setenv("HDF5_USE_FILE_LOCKING", "FALSE", 0)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory) else {
            throw CommandFailure("no such sweep directory or spec file '\(argument)'", exitCode: 2)
        }
        let spec: Spec?
        var directory: String
        if isDirectory.boolValue {
            let manifest: SweepManifest
            do {
                (directory, manifest) = try SweepPlan.manifestOrScan(directory: argument)
            } catch {
                throw CommandFailure("\(error)", exitCode: 2)
            }
            spec = FileManager.default.fileExists(atPath: manifest.specFile)
                ? try? SpecLoader.load(manifest.specFile, overrides: manifest.overrides) : nil
            if spec == nil && !manifest.specFile.isEmpty {
                warn("cannot load the sweep's spec '\(manifest.specFile)'; no table.reference, table.baseline or table.claims")
            }
        } else {
            let loaded = try SpecLoader.loadChecked(argument)
            spec = loaded
            directory = SweepPlan.directory(runs: runs, spec: loaded)
        }
        var settings = TableSettings()
        if let spec {
            do {
                settings = try spec.tableSettings()
            } catch {
                throw CommandFailure("\(spec.file): \(error)", exitCode: 2)
            }
        }
        let manifest: SweepManifest
        do {
            manifest = try SweepPlan.manifestOrScan(directory: directory).manifest
        } catch {
            throw CommandFailure("\(error)", exitCode: 2)
        }
        return SweepTarget(directory: directory, manifest: manifest, settings: settings, specFile: spec?.file ?? "")
    }
}
