// The dashboard's JSON endpoints against run files with known contents, called in-process
// (no socket): home, sweep, run; corrupt files, missing manifests; paths that leave RUNS_DIR.
import Foundation
import Testing
import TestSupport
@testable import Dashboard
@testable import RunStore

/// A sweep of 2 groups × 2 seeds written with RunFileWriter: train loss of cell c at step s is
/// `c + 1 + s / 100`, eval every 5 steps is `10 + c`, optimum 0.5; one MoE layer of 2 experts
/// with loads (s, 3s) and bias (0, 0.5); one c_kv spectrum snapshot at step 4.
enum FakeSweep {
    static let name = "fake"
    static let groups = ["false", "true"]
    static let key = "model.ffn.moe.balance.loss_free.enabled"

    static func cells() -> [SweepManifest.Cell] {
        (0..<4).map { c in
            SweepManifest.Cell(index: c, runID: "run\(c)", label: "enabled=\(groups[c / 2]),seed=\(c % 2)", seed: c % 2,
                               assignments: [key: groups[c / 2]], state: c == 3 ? .pending : .running)
        }
    }

    /// Writes the manifest and cells 0...2 (cell 3 is pending: no file); `steps` rows each.
    static func write(root: URL, steps: Int = 10) throws {
        let directory = root.appendingPathComponent(name)
        let manifest = SweepManifest(spec: name, specFile: "/nonexistent/fake.yaml", overrides: [],
                                     varyingKeys: [key, "seed"], cells: cells())
        try manifest.write(directory: directory.path)
        for cell in manifest.cells.prefix(3) {
            let info = RunInfo(runID: cell.runID, specName: name, label: cell.label, specSHA256: String(repeating: "0", count: 64),
                               seed: cell.seed, isa: "generic", threads: 1, modelStats: ["total_parameters": 100])
            let spec = SpecTexts(given: "name: fake\n", resolved: "name: fake\ntrain:\n  batch_size: 4\n  steps: 20\n")
            let writer = try RunFileWriter.create(path: directory.appendingPathComponent(cell.runFile).path, run: info, spec: spec)
            for s in 0..<steps {
                let moe = [MoELayerRow(load: [Int64(s), Int64(3 * s)], bias: [0, 0.5], maxvio: 0.5, entropy: 0.6, dropped: 0)]
                try writer.appendTrain(step: s, metrics: ["loss": Double(cell.index + 1) + Double(s) / 100], moe: moe)
                if s % 5 == 4 {
                    try writer.appendEval(step: s, metrics: ["loss": 10 + Double(cell.index), "optimum": 0.5])
                }
                if s == 4 { try writer.appendTensor("ckv_spectrum_layer_0", step: s, shape: [3], values: [3, 2, 1], axes: ["singular_value"]) }
                if s == 9 {
                    // One MoE layer (index 1), 2 sources, 2 experts: source a → (3, 1), source b → (0, 4).
                    try writer.appendTensor("source_loads", step: s, shape: [1, 2, 2], values: [3, 1, 0, 4], axes: ["layer", "source", "expert"],
                                            labels: ["layer": ["1"], "source": ["a", "b"]])
                    try writer.appendTensor("source_mi", step: s, shape: [1], values: [0.25], axes: ["layer"], labels: ["layer": ["1"]])
                }
            }
            if cell.index == 0 { try writer.finish(.completed) }
            writer.close()
        }
    }
}

func object(_ response: HTTPResponse) throws -> [String: Any] {
    try #require(JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
}

func get(_ dashboard: Dashboard, _ target: String) -> HTTPResponse {
    dashboard.handle(HTTPRequest(method: "GET", target: target))
}

@Suite struct DashboardEndpointTests {
    let root: URL
    let dashboard: Dashboard

    init() throws {
        setenv("HDF5_USE_FILE_LOCKING", "FALSE", 1)
        root = try TestEnvironment.temporaryDirectory("dashboard")
        try FakeSweep.write(root: root)
        dashboard = try Dashboard(root: root.path)
    }

    @Test func homeListsCellsWithStates() throws {
        let home = try object(get(dashboard, "/api/home"))
        let sweeps = try #require(home["sweeps"] as? [[String: Any]])
        #expect(sweeps.count == 1)
        let cells = try #require(sweeps[0]["cells"] as? [[String: Any]])
        #expect(cells.map { $0["state"] as? String } == ["completed", "running", "running", "pending"])
        #expect(cells.map { $0["step"] as? Int } == [10, 10, 10, nil])
        #expect(cells[1]["steps"] as? Int == 20)
        #expect(cells[2]["loss"] as? Double == 3.09)
        #expect(cells[1]["eval_loss"] as? Double == 11)
    }

    @Test func sweepHasBandsOptimumAndTable() throws {
        let sweep = try object(get(dashboard, "/api/sweep?path=fake&cells=2"))
        #expect(sweep["varying_keys"] as? [String] == [FakeSweep.key])
        #expect(sweep["optimum"] as? Double == 0.5)
        let groups = try #require(sweep["groups"] as? [[String: Any]])
        #expect(groups.map { $0["label"] as? String } == ["loss_free.enabled=false", "loss_free.enabled=true"])
        // Group 0 = cells 0 and 1: train loss 1 + s/100 and 2 + s/100 → mean 1.5 + s/100, std √0.5.
        let band = try #require(groups[0]["train"] as? [String: Any])
        #expect(band["steps"] as? [Int] == Array(0..<10))
        let mean = try #require(band["mean"] as? [Double])
        #expect(zip(mean, (0..<10).map { 1.5 + Double($0) / 100 }).allSatisfy { abs($0 - $1) < 1e-12 })
        #expect((band["std"] as? [Double])?.allSatisfy { abs($0 - 0.5.squareRoot()) < 1e-12 } == true)
        #expect((band["n"] as? [Int]) == Array(repeating: 2, count: 10))
        // Group 1 has one cell with data (cell 3 is pending): n = 1, std 0.
        let single = try #require(groups[1]["train"] as? [String: Any])
        #expect((single["n"] as? [Int]) == Array(repeating: 1, count: 10))
        let evalBand = try #require(groups[0]["eval"] as? [String: Any])
        #expect(evalBand["steps"] as? [Int] == [4, 9])
        #expect(evalBand["mean"] as? [Double] == [10.5, 10.5])
        // Group 0's band is the 95% t interval: mean ± t(0.975, 1) · √0.5/√2 = mean ± 12.706 · 0.5.
        let low = try #require(band["ci_low"] as? [Double]), high = try #require(band["ci_high"] as? [Double])
        #expect(zip(zip(low, high), mean).allSatisfy { abs(($0.1 - $0.0) / 2 - 12.706204736174707 * 0.5) < 1e-9 && abs(($0.0 + $0.1) / 2 - $1) < 1e-12 })
        // The table: Analysis's sections of typed cells, one row per group, and the Markdown of `ablate table`.
        let table = try #require(sweep["table"] as? [String: Any])
        let sections = try #require(table["sections"] as? [[String: Any]])
        #expect(sections.map { $0["id"] as? String } == ["rows"])
        let rows = try #require(sections[0]["rows"] as? [[[String: Any]]])
        #expect(rows.count == 2)
        #expect(rows.map { $0.first?["text"] as? String } == ["false", "true"])
        let columns = try #require(sections[0]["columns"] as? [[String: Any]])
        #expect(columns.contains { $0["id"] as? String == "final_loss" && $0["unit"] as? String == "nats/token" })
        #expect((table["markdown"] as? String)?.contains("| false |") == true)
        let cells = try #require(sweep["cells"] as? [[String: Any]])
        #expect(cells.map { $0["group"] as? Int } == [0, 0, 1, 1])
        #expect(((cells[2]["train"] as? [String: Any])?["loss"] as? [Double])?.last == 3.09)
        #expect(((cells[1]["train"] as? [String: Any])?["loss"] as? [Double]) == [], "only the cells asked for carry curves")
    }

    @Test func runHasMetricsExpertsAndSnapshots() throws {
        let run = try object(get(dashboard, "/api/run?path=fake/run1"))
        #expect(run["run_id"] as? String == "run1")
        #expect(run["status"] as? String == "running")
        #expect(run["total_steps"] as? Int == 20)
        let train = try #require((run["train"] as? [String: Any])?["columns"] as? [String: Any])
        #expect(((train["loss"] as? [String: Any])?["values"] as? [Double])?.first == 2)
        let moe = try #require(run["moe"] as? [[String: Any]])
        #expect(moe.count == 1)
        // Loads (s, 3s) of 2 experts: shares 0.5 and 1.5 of the balanced share (step 0: no tokens).
        let shares = try #require(moe[0]["load_share"] as? [[Double]])
        #expect(shares.count == 10)
        #expect(shares[0] == [0, 0])
        #expect(shares[5] == [0.5, 1.5])
        #expect((moe[0]["bias"] as? [[Double]])?.last == [0, 0.5])
        let tensors = try #require(run["tensors"] as? [[String: Any]])
        #expect(tensors.map { $0["kind"] as? String } == ["spectrum", "specialisation", "source_mi"])
        #expect(tensors[0]["values"] as? [[Double]] == [[3, 2, 1]])
        #expect(tensors[0]["steps"] as? [Int] == [4])
        // Each source's share per expert, columns = experts: expert 0 gets 3/4 of a and 0 of b.
        #expect(tensors[1]["share"] as? [[[Double]]] == [[[0.75, 0], [0.25, 1]]])
        #expect(tensors[1]["sources"] as? [String] == ["a", "b"] && tensors[1]["layers"] as? [String] == ["1"])
        #expect(tensors[2]["values"] as? [[Double]] == [[0.25]])
        #expect(run["optimum"] as? Double == 0.5)
    }

    @Test func corruptFilesAndMissingManifestsShowAsSuch() throws {
        // Cell 2's file becomes garbage; a second directory has runs but no sweep.json; a third
        // has a sweep.json that is not JSON.
        try Data("not hdf5 at all".utf8).write(to: root.appendingPathComponent("fake/run2/run.h5"))
        let fresh = try Dashboard(root: root.path)
        try FakeSweep.write(root: root.appendingPathComponent("orphans"))
        try FileManager.default.moveItem(at: root.appendingPathComponent("orphans/fake"), to: root.appendingPathComponent("nomanifest"))
        try FileManager.default.removeItem(at: root.appendingPathComponent("nomanifest/sweep.json"))
        try FileManager.default.createDirectory(at: root.appendingPathComponent("broken"), withIntermediateDirectories: true)
        try Data("{ half".utf8).write(to: root.appendingPathComponent("broken/sweep.json"))

        let home = try object(get(fresh, "/api/home"))
        let sweeps = try #require(home["sweeps"] as? [[String: Any]])
        #expect(sweeps.map { $0["path"] as? String } == ["broken", "fake"])
        #expect((sweeps[0]["manifest_error"] as? String)?.contains("not a valid sweep manifest") == true)
        let cells = try #require(sweeps[1]["cells"] as? [[String: Any]])
        #expect(cells.map { $0["state"] as? String } == ["completed", "running", "unreadable", "pending"])
        #expect(cells[2]["read_error"] is String)
        let groups = try #require(home["groups"] as? [[String: Any]])
        #expect(groups.map { $0["path"] as? String } == ["nomanifest"])
        #expect((groups[0]["runs"] as? [[String: Any]])?.count == 3)

        let sweep = try object(get(fresh, "/api/sweep?path=fake"))
        #expect((sweep["cells"] as? [[String: Any]])?.map { $0["state"] as? String } == ["completed", "running", "unreadable", "pending"])
        #expect((sweep["table"] as? [String: Any])?["sections"] is [[String: Any]])
        let orphan = try object(get(fresh, "/api/sweep?path=nomanifest"))
        #expect((orphan["manifest_error"] as? String)?.contains("no sweep manifest") == true)
        let bad = try object(get(fresh, "/api/run?path=fake/run2"))
        #expect(bad["state"] as? String == "unreadable")
        #expect(bad["read_error"] is String)
        let good = try object(get(fresh, "/api/run?path=fake/run0"))
        #expect(good["status"] as? String == "completed")
    }

    @Test func unchangedFilesAreNotReadAgain() throws {
        _ = get(dashboard, "/api/sweep?path=fake")
        let reads = dashboard.reads
        _ = get(dashboard, "/api/sweep?path=fake")
        _ = get(dashboard, "/api/home")
        #expect(dashboard.reads == reads)
    }

    @Test func pathsLeavingTheRunsDirectoryAreRefused() throws {
        let outside = try TestEnvironment.temporaryDirectory("outside")
        try FakeSweep.write(root: outside)
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("escape").path,
                                                   withDestinationPath: outside.appendingPathComponent("fake").path)
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("inside").path,
                                                   withDestinationPath: root.appendingPathComponent("fake").path)
        let fresh = try Dashboard(root: root.path)
        let refused = [
            ("/api/sweep?path=../\(outside.lastPathComponent)/fake", 400),
            ("/api/sweep?path=fake/../../\(outside.lastPathComponent)/fake", 400),
            ("/api/run?path=%2e%2e%2f\(outside.lastPathComponent)%2ffake%2frun0", 400),
            ("/api/sweep?path=\(outside.path)/fake", 400),
            ("/api/sweep?path=%2Fetc", 400),
            ("/api/sweep?path=escape", 403),
            ("/api/run?path=escape/run0", 403),
            ("/api/sweep?path=./fake", 400),
            ("/api/sweep?path=fake//run0", 400),
            ("/api/run?path=nothing/here", 404),
            ("/../../etc/passwd", 400),
            ("/%2e%2e/etc/passwd", 400),
        ]
        for (target, status) in refused {
            let response = get(fresh, target)
            #expect(response.status == status, "\(target)")
            #expect(!String(decoding: response.body, as: UTF8.self).contains("run0\",\"spec_name"), "\(target) leaked a run")
        }
        // A symlink that stays under RUNS_DIR is followed; the escaping one is not listed.
        #expect(get(fresh, "/api/sweep?path=inside").status == 200)
        let home = try object(get(fresh, "/api/home"))
        #expect((home["sweeps"] as? [[String: Any]])?.map { $0["path"] as? String } == ["fake", "inside"])
    }

    @Test func downsamplingKeepsTheLastStep() {
        let steps = (0..<5000).map(Int64.init)
        let width = Downsample.width(maxStep: 4999, buckets: 400)
        let points = Downsample.series(steps: steps, values: steps.map(Double.init), width: width)
        #expect(points.count <= 400)
        #expect(points.last?.step == 4999)
        #expect(points.first?.value == Double(width - 1) / 2)
    }
}

/// The scale the issue names: 64 cells × 5,000 steps. Writing them takes a while in a debug
/// build, so this runs only when asked (`ABLATE_DASHBOARD_SCALE=1`); it prints the sweep
/// response's size and time (docs/dashboard.md, "Large sweeps").
@Suite(.enabled(if: ProcessInfo.processInfo.environment["ABLATE_DASHBOARD_SCALE"] == "1"))
struct DashboardScaleTests {
    @Test func sixtyFourCellsOfFiveThousandSteps() throws {
        setenv("HDF5_USE_FILE_LOCKING", "FALSE", 1)
        let root = try TestEnvironment.temporaryDirectory("dashboard-scale")
        let directory = root.appendingPathComponent("big")
        let key = "model.ffn.moe.experts"
        let cells = (0..<64).map { c in
            SweepManifest.Cell(index: c, runID: "cell\(c)", label: "experts=\(c / 4),seed=\(c % 4)", seed: c % 4,
                               assignments: [key: "\(c / 4)"], state: .completed)
        }
        try SweepManifest(spec: "big", specFile: "/nonexistent.yaml", overrides: [], varyingKeys: [key, "seed"], cells: cells)
            .write(directory: directory.path)
        for cell in cells {
            let info = RunInfo(runID: cell.runID, specName: "big", label: cell.label, specSHA256: String(repeating: "0", count: 64),
                               seed: cell.seed, isa: "generic", threads: 1)
            let writer = try RunFileWriter.create(path: directory.appendingPathComponent(cell.runFile).path, run: info,
                                                  spec: SpecTexts(given: "", resolved: "train:\n  steps: 5000\n"))
            for s in 0..<5000 {
                try writer.appendTrain(step: s, metrics: ["loss": 3 / Double(s + 1) + Double(cell.index) / 100])
                if s % 50 == 49 { try writer.appendEval(step: s, metrics: ["loss": 3 / Double(s + 1)]) }
                if s % 1000 == 999 { try writer.flush() }
            }
            try writer.finish(.completed)
            writer.close()
        }
        let dashboard = try Dashboard(root: root.path)
        let start = Date()
        let response = get(dashboard, "/api/sweep?path=big&cells=0")
        let cold = Date().timeIntervalSince(start)
        let again = Date()
        _ = get(dashboard, "/api/sweep?path=big")
        let warm = Date().timeIntervalSince(again)
        print("64 × 5000: /api/sweep \(response.body.count) bytes, \(String(format: "%.2f", cold)) s cold, \(String(format: "%.3f", warm)) s cached")
        let sweep = try object(response)
        let first = try #require((sweep["cells"] as? [[String: Any]])?.first?["train"] as? [String: Any])
        #expect((first["steps"] as? [Int])?.count ?? 0 <= Dashboard.sweepPoints)
        #expect((first["steps"] as? [Int])?.last == 4999)
        #expect((sweep["groups"] as? [[String: Any]])?.count == 16)
    }
}
