// Plain `ablate run` directories as sweeps: `status`, `table` and `export` take <runs>/<spec
// name> whether a sweep wrote it (sweep.json) or single runs did (only <run id>/run.h5). For the
// latter the manifest is built in memory from the run files and never written: the varying keys
// are the resolved-spec keys whose values differ between the runs, so runs made with different
// overrides land in different table rows.
import Config
import Foundation
import RunStore

extension SweepPlan {
    /// `<directory>/sweep.json`; without one, a manifest of the runs under `directory` (one
    /// cell per `<run id>/run.h5`, in run-id order). A run directory itself (holding run.h5)
    /// gives the one-cell manifest of that run.
    public static func manifestOrScan(directory: String) throws -> (directory: String, manifest: SweepManifest) {
        let fileManager = FileManager.default
        if fileManager.fileExists(atPath: directory + "/" + SweepManifest.fileName) {
            return (directory, try SweepManifest.read(directory: directory))
        }
        var isDirectory: ObjCBool = false
        guard fileManager.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw SweepError("no such directory '\(directory)' (expected <runs>/<spec name> or a spec file)")
        }
        let url = URL(fileURLWithPath: directory).standardizedFileURL
        if fileManager.fileExists(atPath: url.appendingPathComponent("run.h5").path) {
            let parent = url.deletingLastPathComponent().path
            let manifest = try scan(directory: parent, only: url.lastPathComponent)
            return (parent, manifest)
        }
        return (directory, try scan(directory: directory, only: nil))
    }

    static func scan(directory: String, only: String?) throws -> SweepManifest {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
            .filter { only == nil || $0 == only }
            .filter { FileManager.default.fileExists(atPath: "\(directory)/\($0)/run.h5")
                || FileManager.default.fileExists(atPath: "\(directory)/\($0)/\(CheckpointCopy.fileName)") }
        guard !names.isEmpty else {
            throw SweepError("'\(directory)' holds neither sweep.json nor run directories (<run id>/run.h5); give <runs>/<spec name> or a spec file")
        }
        struct Found { var runID: String; var cell: Cell?; var state: SweepManifest.State }
        let found = names.map { name -> Found in
            let file = "\(directory)/\(name)/run.h5"
            var cell: Cell?
            // Without run.h5 (a full disk removed it) its checkpoint copy has the same spec.
            let readable = FileManager.default.fileExists(atPath: file) ? file : CheckpointCopy.path(besides: file)
            if let reader = try? RunFileReader(path: readable) {
                if let texts = try? reader.spec() { cell = (try? SpecLoader.fromResolved(texts.resolved, source: file))?.cells.first }
                reader.close()
            }
            return Found(runID: name, cell: cell, state: state(runFile: file))
        }
        let flat = found.map { $0.cell.map { leaves($0.resolved) } ?? [:] }
        let keys = Set(flat.flatMap(\.keys)).subtracting(["seed", "name"]).sorted()
        let varying = keys.filter { key in Set(flat.map { $0[key].map(CanonicalJSON.encode) ?? "" }).count > 1 }
        let seeds = Set(found.compactMap { $0.cell?.seed })
        let cells = found.enumerated().map { position, run -> SweepManifest.Cell in
            var assignments: [String: String] = [:]
            for key in varying { if let value = flat[position][key] { assignments[key] = CanonicalJSON.encode(value) } }
            let point = varying.compactMap { key in flat[position][key].map { (path: key, value: $0) } }
            let label = run.cell == nil ? "unreadable run file"
                : varying.isEmpty ? (run.cell!.label.isEmpty ? "base" : run.cell!.label) : SweepExpansion.label(point, varying: varying)
            return SweepManifest.Cell(index: position, runID: run.runID, label: label, seed: run.cell?.seed ?? -1,
                                      assignments: assignments, state: run.state)
        }
        return SweepManifest(spec: URL(fileURLWithPath: directory).lastPathComponent, specFile: "", overrides: [],
                             varyingKeys: varying + (seeds.count > 1 ? ["seed"] : []), cells: cells)
    }

    /// Dotted key path → value of every non-mapping value in `value`.
    static func leaves(_ value: ConfigValue, prefix: String = "") -> [String: ConfigValue] {
        guard case .map(let map) = value else { return prefix.isEmpty ? [:] : [prefix: value] }
        var result: [String: ConfigValue] = [:]
        for (key, child) in map { result.merge(leaves(child, prefix: prefix.isEmpty ? key : prefix + "." + key)) { a, _ in a } }
        return result
    }
}
