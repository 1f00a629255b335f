// `ablate serve`'s request handling: the pages (one HTML shell and its own script, drawn in the
// browser from the JSONValue endpoints) and the endpoints
//
//   GET /api/home                     sweeps and single runs under RUNS_DIR, each cell's state
//   GET /api/sweep?path=<dir>         a sweep: cells, curves, mean ± std (and 95% CI) per group, the table and claims
//   GET /api/run?path=<dir or .h5>    one run: spec, provenance, metrics, MoE, tensors
//
// Every path parameter is relative to RUNS_DIR and checked by `PathGuard`. Nothing here writes.
import Analysis
import Foundation
import RunStore

public final class Dashboard: @unchecked Sendable {
    /// The runs directory as given.
    public let root: String
    /// Set once the runs directory exists (`ablate serve` may start before the first sweep makes it).
    private var guardStorage: PathGuard?
    /// The guarded runs directory; only used after `ready()` said it exists.
    public var paths: PathGuard { guardStorage! }
    /// The spec's `table` settings for a sweep (the CLI loads the spec the manifest names);
    /// defaults when it cannot.
    let tableSettings: @Sendable (SweepManifest) -> TableSettings
    private let lock = NSLock()
    private let cache: RunFileCache

    /// The read kinds the reader process answers for the dashboard.
    public static let summaryKind = "summary", detailKind = "detail"

    /// One read of a run file, as the dashboard needs it: in this process, or in the reader
    /// process (`ablate read-runs`) that calls this.
    public static func read(_ kind: String, _ path: String, relative: String) throws -> JSONValue {
        switch kind {
        case summaryKind: return try RunFileCache.readSummary(path)
        case detailKind: return try RunDetail.read(path, relative: relative)
        default: throw ServerError("unknown read kind '\(kind)'")
        }
    }

    /// `reader`: the process that reads run files (nil: read them in this process).
    public init(root: String, reader: ReaderProcess? = nil,
                tableSettings: @escaping @Sendable (SweepManifest) -> TableSettings = { _ in TableSettings() }) throws {
        cache = RunFileCache(reader: reader)
        self.root = root
        self.tableSettings = tableSettings
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory) {
            guardStorage = try PathGuard(root: root)   // a file where the directory should be is an error
        }
    }

    /// True once the runs directory exists (checked again on every request until it does).
    func ready() -> Bool {
        if guardStorage == nil { guardStorage = try? PathGuard(root: root) }
        return guardStorage != nil
    }

    /// What the server shows while the runs directory does not exist yet.
    public var waitingText: String {
        "waiting for '\(root)' to appear: nothing has been run there yet (start `ablate sweep SPEC` or `ablate run SPEC`; this page updates by itself)"
    }

    /// Reads done so far (cache misses).
    public var reads: Int { lock.withLock { cache.reads } }

    public func handle(_ request: HTTPRequest) -> HTTPResponse {
        // A request target with a `..` segment is refused whatever it asks for.
        if request.path.split(separator: "/").contains("..") || request.target.contains("\0") {
            return .error(400, "paths with '..' are refused")
        }
        switch request.path {
        case "/", "/index.html", "/sweep", "/run":
            return HTTPResponse(status: 200, contentType: "text/html; charset=utf-8", text: Assets.html)
        case "/app.js":
            return HTTPResponse(status: 200, contentType: "text/javascript; charset=utf-8", text: Assets.script)
        case "/app.css":
            return HTTPResponse(status: 200, contentType: "text/css; charset=utf-8", text: Assets.style)
        case "/api/home":
            return .json(lock.withLock { ready() ? home() : ["root": .string(root), "waiting": .string(waitingText), "sweeps": [], "groups": []] }.text)
        case "/api/sweep", "/api/run":
            guard lock.withLock({ ready() }) else { return .error(404, waitingText) }
            switch paths.resolve(request.query["path"] ?? "") {
            case .failure(let refusal):
                return .error(refusal.status, refusal.description)
            case .success(let real):
                let relative = paths.relative(real)
                if request.path == "/api/sweep" {
                    // cells=1,5: the cells whose own curves the page draws (groups are always sent).
                    let shown = Set((request.query["cells"] ?? "").split(separator: ",").compactMap { Int($0) })
                    return .json(lock.withLock { sweep(real, relative: relative, curvesOf: shown) }.text)
                }
                return lock.withLock { run(real, relative: relative) }
            }
        default:
            return .error(404, "no page '\(request.path)'")
        }
    }

    // MARK: Home

    /// The directories under RUNS_DIR: those with a sweep.json are sweeps; in the others, each
    /// `<id>/run.h5` is a single run (`ablate run`), listed under its directory.
    func home() -> JSONValue {
        var sweeps: [JSONValue] = []
        var singles: [JSONValue] = []
        for name in listing(paths.root) {
            guard case .success(let real) = paths.resolve(name), isDirectory(real) else { continue }
            let manifestPath = real + "/" + SweepManifest.fileName
            if FileManager.default.fileExists(atPath: manifestPath) {
                sweeps.append(sweepSummary(real, relative: name))
                continue
            }
            let runs = runDirectories(real, relative: name)
            if runs.isEmpty { continue }
            singles.append(["name": .string(name), "path": .string(name),
                            "note": .string("no \(SweepManifest.fileName): single runs (or a sweep whose manifest is missing)"),
                            "runs": .list(runs.map { runEntry($0.real, relative: $0.relative, cell: nil) })])
        }
        return ["root": .string(paths.root), "sweeps": .list(sweeps), "groups": .list(singles)]
    }

    func sweepSummary(_ real: String, relative: String) -> JSONValue {
        do {
            let manifest = try SweepManifest.read(directory: real)
            let cells = manifest.cells.map { cell in
                runEntry(runFile(real, cell), relative: relative + "/" + cell.runFile, cell: cell)
            }
            return ["name": .string(manifest.spec), "path": .string(relative), "cells": .list(cells),
                    "varying_keys": .strings(manifest.varyingKeys)]
        } catch {
            return ["name": .string(relative), "path": .string(relative), "manifest_error": .string("\(error)"),
                    "cells": .list(runDirectories(real, relative: relative).map { runEntry($0.real, relative: $0.relative, cell: nil) })]
        }
    }

    /// `<dir>/<id>/run.h5` for every subdirectory that has one, staying under RUNS_DIR.
    func runDirectories(_ real: String, relative: String) -> [(real: String, relative: String)] {
        listing(real).compactMap { id in
            let rel = relative + "/" + id + "/run.h5"
            guard case .success(let file) = paths.resolve(rel) else { return nil }
            return (file, rel)
        }
    }

    /// One cell or run: its state (from the run file; from sweep.json while the file does not
    /// exist), step, latest loss.
    func runEntry(_ file: String, relative: String, cell: SweepManifest.Cell?) -> JSONValue {
        var entry: [String: JSONValue] = [:]
        if let cell {
            entry.append("index", .int(cell.index))
            entry.append("label", .string(cell.label))
            entry.append("run_id", .string(cell.runID))
        }
        entry.append("path", .string(relative))
        let read = cache.summary(file)
        entry.append("state", .string(state(read, cell: cell)))
        if let error = read.error, error != "missing" { entry.append("read_error", .string(error)) }
        if let s = read.value {
            if cell == nil {
                entry.append("label", .string(s.label.isEmpty ? s.runID : s.label))
                entry.append("run_id", .string(s.runID))
            }
            entry.append("step", .int(s.trainSteps.last.map { Int($0) + 1 } ?? 0))
            entry.append("steps", s.totalSteps.map { .int($0) } ?? .null)
            entry.append("loss", .double(s.trainLoss.last ?? .nan))
            entry.append("eval_loss", .double(s.evalLoss.last ?? .nan))
        }
        return .map(entry)
    }

    /// What the pages call a cell's state: the run file's status, unless the file says
    /// `running` and sweep.json says the process ended (a killed cell stays `running` in its
    /// file); `pending` before the file exists; `unreadable` for a file never read.
    func state(_ read: Cached<RunSummary>, cell: SweepManifest.Cell?) -> String {
        guard let s = read.value else {
            if read.error == "missing" { return cell?.state.rawValue ?? "missing" }
            return "unreadable"
        }
        if s.status == .running, let cell, [.failed, .interrupted].contains(cell.state) { return cell.state.rawValue }
        return s.status.rawValue
    }

    // MARK: Sweep

    static let sweepPoints = 400

    /// `curvesOf`: the cell indices whose own downsampled curves are included (every cell's curve
    /// goes into its group's band either way); the others get empty `train`/`eval`.
    func sweep(_ real: String, relative: String, curvesOf shown: Set<Int> = []) -> JSONValue {
        let manifest: SweepManifest
        do {
            manifest = try SweepManifest.read(directory: real)
        } catch {
            return ["path": .string(relative), "name": .string(relative), "manifest_error": .string("\(error)"),
                    "cells": .list(runDirectories(real, relative: relative).map { runEntry($0.real, relative: $0.relative, cell: nil) })]
        }
        let summaries = manifest.cells.map { cache.summary(runFile(real, $0)) }
        let maxStep = summaries.compactMap { $0.value?.trainSteps.last }.max() ?? 0
        let width = Downsample.width(maxStep: maxStep, buckets: Self.sweepPoints)
        let evalWidth = Downsample.width(maxStep: maxStep, buckets: Self.sweepPoints)

        // Groups: cells that differ only by seed, in manifest order.
        var groupOf: [Int] = []
        var groupKeys: [String] = []
        var groupCells: [[Int]] = []
        for (i, cell) in manifest.cells.enumerated() {
            let key = cell.assignments.keys.sorted().filter { $0 != "seed" }.map { "\($0)=\(cell.assignments[$0]!)" }.joined(separator: ",")
            if let g = groupKeys.firstIndex(of: key) {
                groupOf.append(g)
                groupCells[g].append(i)
            } else {
                groupOf.append(groupKeys.count)
                groupKeys.append(key)
                groupCells.append([i])
            }
        }
        let varying = manifest.varyingKeys.filter { $0 != "seed" }
        var trainPoints: [[(bucket: Int64, step: Int64, value: Double)]] = []
        var evalPoints: [[(bucket: Int64, step: Int64, value: Double)]] = []
        var cells: [JSONValue] = []
        for (i, cell) in manifest.cells.enumerated() {
            let s = summaries[i].value
            let train = s.map { Downsample.series(steps: $0.trainSteps, values: $0.trainLoss, width: width) } ?? []
            let eval = s.map { Downsample.series(steps: $0.evalSteps, values: $0.evalLoss, width: evalWidth) } ?? []
            trainPoints.append(train)
            evalPoints.append(eval)
            let sent = shown.contains(cell.index)
            var entry: [String: JSONValue] = [
                "index": .int(cell.index), "label": .string(cell.label), "seed": .int(cell.seed),
                "run_id": .string(cell.runID), "path": .string(relative + "/" + cell.runFile), "group": .int(groupOf[i]),
                "state": .string(state(summaries[i], cell: cell)),
                "step": .int(s?.trainSteps.last.map { Int($0) + 1 } ?? 0), "steps": s?.totalSteps.map { .int($0) } ?? .null,
                "train": ["steps": .ints(sent ? train.map(\.step) : []), "loss": .numbers(sent ? train.map(\.value) : [])],
                "eval": ["steps": .ints(sent ? eval.map(\.step) : []), "loss": .numbers(sent ? eval.map(\.value) : [])],
            ]
            if let error = summaries[i].error, error != "missing" { entry.append("read_error", .string(error)) }
            cells.append(.map(entry))
        }
        let groups: [JSONValue] = groupCells.enumerated().map { g, members in
            let first = manifest.cells[members[0]]
            let assignments = Dictionary(uniqueKeysWithValues: varying.map { key in (key, JSONValue.string(first.assignments[key].map(Self.display) ?? "default")) })
            return ["index": .int(g), "label": .string(Self.groupLabel(first, varying: varying)),
                    "assignments": .map(assignments), "cells": .ints(members.map { manifest.cells[$0].index }),
                    "train": band(members.map { trainPoints[$0] }), "eval": band(members.map { evalPoints[$0] })]
        }
        var values: [String: JSONValue] = [:]
        for key in varying {
            var seen: [String] = []
            for cell in manifest.cells {
                let v = cell.assignments[key].map(Self.display) ?? "default"
                if !seen.contains(v) { seen.append(v) }
            }
            values.append(key, .strings(seen))
        }
        let optima = summaries.compactMap { $0.value?.optimum }
        let optimum = optima.isEmpty ? nil : optima.reduce(0, +) / Double(optima.count)
        return ["path": .string(relative), "name": .string(manifest.spec), "spec_file": .string(manifest.specFile),
                "varying_keys": .strings(varying), "values": .map(values),
                "optimum": optimum.map { .double($0) } ?? .null, "optimum_varies": .bool(Set(optima).count > 1),
                "max_step": .int(Int(maxStep)),
                "cells": .list(cells), "groups": .list(groups), "table": table(real, manifest)]
    }

    /// Mean, sample std and 95% t interval over the cells of a group at each bucket where at
    /// least one has data (Analysis's `Summary`, as the table computes them). The page draws
    /// curves as mean ± std (a 2-seed t interval is 12.7 std errors wide); tables carry the intervals.
    func band(_ series: [[(bucket: Int64, step: Int64, value: Double)]]) -> JSONValue {
        var byBucket: [Int64: (steps: [Int64], values: [Double])] = [:]
        for points in series {
            for p in points { byBucket[p.bucket, default: ([], [])].steps.append(p.step); byBucket[p.bucket]!.values.append(p.value) }
        }
        let buckets = byBucket.keys.sorted()
        var steps: [Int64] = [], mean: [Double] = [], std: [Double] = [], low: [Double] = [], high: [Double] = [], n: [Int] = []
        for b in buckets {
            let (s, v) = byBucket[b]!
            let summary = Summary(v), interval = summary.meanInterval()
            steps.append(s.max()!)
            mean.append(summary.mean)
            std.append(summary.n > 1 ? summary.std : 0)
            low.append(interval.low)
            high.append(interval.high)
            n.append(summary.n)
        }
        return ["steps": .ints(steps), "mean": .numbers(mean), "std": .numbers(std), "ci_low": .numbers(low),
                "ci_high": .numbers(high), "n": .ints(n)]
    }

    /// The sweep's `ablate table` as Analysis lays it out: sections of headed columns and typed
    /// cells (bold marks included), the claims' verdicts, and the Markdown `ablate table` prints.
    func table(_ real: String, _ manifest: SweepManifest) -> JSONValue {
        do {
            let results = try manifest.cells.map { try cache.result(runFile(real, $0), cell: $0) }
            let data = SweepData(directory: real, manifest: manifest, results: results)
            let table = try SweepTable.build(data, settings: tableSettings(manifest))
            guard case .map(var object) = table.json else { return ["error": "table has no sections"] }
            object["markdown"] = .string(table.render(.md))
            return .map(object)
        } catch {
            return ["error": .string("\(error)")]
        }
    }

    // MARK: Run

    func run(_ real: String, relative: String) -> HTTPResponse {
        var file = real
        var rel = relative
        if isDirectory(real) {
            file = real + "/run.h5"
            rel = relative.isEmpty ? "run.h5" : relative + "/run.h5"
            guard paths.contains(PathGuard.realPath(file) ?? real) else { return .error(403, PathGuard.Refusal.outside(rel).description) }
        }
        guard FileManager.default.fileExists(atPath: file) else {
            return .json(JSONValue.map(["path": .string(rel), "state": .string("missing"),
                                      "read_error": .string("no run file '\(rel)' (yet)")]).text)
        }
        let read = cache.detail(file, relative: rel)
        guard let text = read.value else {
            return .json(JSONValue.map(["path": .string(rel), "state": .string("unreadable"),
                                      "read_error": .string(read.error ?? "unknown")]).text)
        }
        if let error = read.error {
            // The last good read, marked stale: `"stale":"<why>",` spliced after the opening brace.
            return .json("{\"stale\":" + JSONValue.string(error).text + "," + text.dropFirst())
        }
        return .json(text)
    }

    // MARK: Helpers

    func runFile(_ directory: String, _ cell: SweepManifest.Cell) -> String {
        // A cell's run file path comes from sweep.json: checked like a request's.
        let relative = paths.relative(directory) + "/" + cell.runFile
        if case .success(let real) = paths.resolve(relative) { return real }
        return directory + "/" + cell.runID + "/run.h5.outside"   // never exists: shows as missing
    }

    func listing(_ directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { !$0.hasPrefix(".") }.sorted()
    }

    func isDirectory(_ path: String) -> Bool {
        var flag: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &flag) && flag.boolValue
    }

    /// A JSONValue text value as a table shows it: strings bare.
    static func display(_ text: String) -> String {
        (try? JSONValue.parse(text))?.display ?? text
    }

    static func groupLabel(_ cell: SweepManifest.Cell, varying: [String]) -> String {
        let parts = varying.compactMap { key in cell.assignments[key].map { "\(SweepData.shortName(key))=\(display($0))" } }
        return parts.isEmpty ? "base" : parts.joined(separator: ",")
    }
}
