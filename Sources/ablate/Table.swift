import Analysis
import ArgumentParser
import Config
import Experiments
import Foundation
import RunStore

struct Table: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a sweep as a paper-style table: mean ± std over seeds, best marked, reference and baseline.",
        discussion: """
        One row per group of cells that differ only by seed; columns: the varying keys, the model's \
        parameters, KV cache and FLOPs per token (from the run files), then each metric as mean ± \
        sample std over the completed seeds. The spec's `table.reference` numbers are shown beside \
        ours and `table.baseline` adds a paired t-test of every row against it (docs/analysis.md). \
        A sweep that is still running gives a table of what is done, with missing cells marked.
        Metrics: \(MetricColumn.all.map(\.id).joined(separator: ", ")).
        """)

    @Argument(help: "A sweep directory (<runs>/<spec name>, holding sweep.json) or the spec file (YAML).")
    var sweep: String

    @Option(help: "Directory that holds runs, when SWEEP is a spec file.")
    var runs = "runs"

    @Option(help: "Output format: md, latex or csv.")
    var format: TableFormat = .md

    @Option(parsing: .upToNextOption, help: "Metrics to show, in order (comma- or space-separated); default: every metric with data.")
    var metrics: [String] = []

    func run() throws {
        let resolved = try resolveSweep(sweep, runs: runs)
        let wanted = metrics.flatMap { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
            .filter { !$0.isEmpty }
        do {
            let data = try SweepData.load(directory: resolved.directory, manifest: resolved.manifest)
            let table = try SweepTable.build(data, settings: resolved.settings, metrics: wanted.isEmpty ? nil : wanted)
            print(table.render(format), terminator: "")
            if format == .csv, !table.notes.isEmpty {
                FileHandle.standardError.write(Data((table.notes.joined(separator: "\n") + "\n").utf8))
            }
        } catch {
            throw fail("\(error)")
        }
    }
}

extension TableFormat: ExpressibleByArgument {}

/// A SWEEP argument made concrete: the sweep directory and the spec's `table` settings.
struct ResolvedSweep {
    var directory: String
    var manifest: SweepManifest
    var settings: TableSettings
}

/// SWEEP is a directory holding sweep.json, or a spec file (its sweep is <runs>/<name>). The
/// `table` section comes from the spec: the file given, or the one sweep.json names.
func resolveSweep(_ argument: String, runs: String) throws -> ResolvedSweep {
    // Run files of a sweep still running are open for writing; HDF5 would refuse to read them.
    setenv("HDF5_USE_FILE_LOCKING", "FALSE", 0)
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory) else {
        throw fail("no such sweep directory or spec file '\(argument)'", code: 2)
    }
    let spec: Spec?
    var directory: String
    if isDirectory.boolValue {
        directory = argument
        let manifest: SweepManifest
        do {
            (directory, manifest) = try SweepPlan.manifestOrScan(directory: directory)
        } catch {
            throw fail("\(error)", code: 2)
        }
        if FileManager.default.fileExists(atPath: manifest.specFile) {
            spec = try? SpecLoader.load(manifest.specFile, overrides: manifest.overrides)
        } else {
            spec = nil
        }
        if spec == nil && !manifest.specFile.isEmpty {
            FileHandle.standardError.write(Data("warning: cannot load the sweep's spec '\(manifest.specFile)'; no table.reference or table.baseline\n".utf8))
        }
    } else {
        let loaded = try loadSpec(argument, overrides: [])
        spec = loaded
        directory = URL(fileURLWithPath: runs).appendingPathComponent(loaded.name).path
    }
    var settings = TableSettings()
    if let table = spec?.resolved["table"] {
        do {
            settings = try TableSettings.parse(json: CanonicalJSON.encode(table))
        } catch {
            throw fail("\(spec!.file): \(error)", code: 2)
        }
    }
    let manifest: SweepManifest
    do {
        manifest = try SweepPlan.manifestOrScan(directory: directory).manifest
    } catch {
        throw fail("\(error)", code: 2)
    }
    return ResolvedSweep(directory: directory, manifest: manifest, settings: settings)
}
