// Faults, reproduced for real against the release binary (docs/reliability.md): a cell too big
// for memory is refused up front; the memory estimate is within ±25% of the measured peak RSS;
// a SIGKILLed run shows as "interrupted (process gone)" and resumes to the same bits; a full
// disk (a real tmpfs that .ci/run mounts) stops the run with one line and exit 4, and resume
// after freeing space ends bitwise identical; sweeps exit non-zero on failed and diverged
// cells; status, table and export take a plain `ablate run` directory.
import Foundation
import Testing
import TestSupport
import RunStore

/// The quick start spec of the repository.
let quickstartSpec = TestEnvironment.packageRoot.appendingPathComponent("experiments/quickstart.yaml").path

@Suite(.serialized) struct ReliabilityTests {
    let binary: String
    let directory: URL

    init() throws {
        (binary, directory) = try TestEnvironment.endToEnd("reliability")
    }

    func runFile(_ runs: String) throws -> String {
        let spec = try #require(try FileManager.default.contentsOfDirectory(atPath: runs).first)
        let id = try #require(try FileManager.default.contentsOfDirectory(atPath: "\(runs)/\(spec)").first { !$0.hasSuffix(".json") && !$0.hasPrefix(".") })
        return "\(runs)/\(spec)/\(id)/run.h5"
    }

    func identical(_ a: String, _ b: String) throws {
        let first = try RunFileReader(path: a), second = try RunFileReader(path: b)
        defer { first.close(); second.close() }
        let comparison = try RunComparison.compare(first, second)
        #expect(comparison.entries.count > 50, "only \(comparison.entries.count) datasets compared")
        for entry in comparison.entries where !entry.identical { Issue.record("\(entry.name) differs: \(entry.detail)") }
    }

    @Test func tooBigForMemoryIsRefusedBeforeAnyFile() throws {
        let runs = directory.appendingPathComponent("oom").path
        let result = try runProcess(binary, ["run", quickstartSpec, "train.batch_size=100000000", "--runs", runs])
        #expect(result.status == 2, "\(result.stdout)\(result.stderr)")
        #expect(result.stderr.contains("estimated peak memory"), "\(result.stderr)")
        #expect(result.stderr.contains("train.batch_size"), "\(result.stderr)")
        #expect(result.stderr.contains("train.micro_batches"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: runs), "a refused run created \(runs)")
        let sweep = try runProcess(binary, ["sweep", quickstartSpec, "train.batch_size=100000000", "--runs", runs])
        #expect(sweep.status == 2, "\(sweep.stdout)\(sweep.stderr)")
        #expect(!FileManager.default.fileExists(atPath: runs), "a refused sweep created \(runs)")
        let validate = try runProcess(binary, ["validate", quickstartSpec, "train.batch_size=100000000"])
        #expect(validate.stdout.contains("DOES NOT FIT"), "\(validate.stdout)")
    }

    /// validate --json's estimate against the peak RSS the run records (VmHWM).
    @Test(arguments: [
        ("quickstart", quickstartSpec, ["train.steps=30", "train.schedule.warmup=2"]),
        ("mla-moe", TestEnvironment.packageRoot.appendingPathComponent("experiments/bench/mla-moe.yaml").path, ["train.steps=6", "train.schedule.warmup=2"]),
        ("mha-dense", TestEnvironment.packageRoot.appendingPathComponent("experiments/bench/mha-dense.yaml").path, ["train.steps=6", "train.schedule.warmup=2"]),
        ("batch-1024", quickstartSpec, ["train.steps=4", "train.schedule.warmup=2", "train.batch_size=1024"]),
    ])
    func memoryEstimateIsWithin25PercentOfPeakRSS(name: String, spec: String, overrides: [String]) throws {
        let json = directory.appendingPathComponent("\(name).json").path
        let validate = try runProcess(binary, ["validate", spec] + overrides + ["--json", json])
        #expect(validate.status == 0, "\(validate.stderr)")
        let object = try JSONSerialization.jsonObject(with: try Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any]
        let cells = try #require(object?["cells"] as? [[String: Any]])
        let estimate = try #require(cells.first?["total_bytes"] as? Int)
        let runs = directory.appendingPathComponent("mem-\(name)").path
        let run = try runProcess(binary, ["run", spec] + overrides + ["--runs", runs, "--quiet", "--threads", "2"])
        #expect(run.status == 0, "\(run.stderr)")
        let reader = try RunFileReader(path: try runFile(runs))
        defer { reader.close() }
        let peak = try #require(try reader.peakResidentBytes())
        let ratio = Double(estimate) / Double(peak)
        print("\(name): estimate \(estimate >> 20) MiB, peak RSS \(peak >> 20) MiB, ratio \(String(format: "%.2f", ratio))")
        #expect(ratio >= 0.75 && ratio <= 1.25, "\(name): estimate \(estimate) vs peak RSS \(peak) (ratio \(ratio))")
    }

    @Test func killedRunShowsAsGoneAndResumesToTheSameBits() throws {
        let runs = directory.appendingPathComponent("killed").path
        let overrides = ["train.steps=160", "log.checkpoint_every=20"]
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["run", quickstartSpec] + overrides + ["--runs", runs, "--quiet", "--threads", "1"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(120)
        var copy: String?
        while Date() < deadline, process.isRunning {
            if let id = try? FileManager.default.contentsOfDirectory(atPath: runs + "/quickstart").first,
               FileManager.default.fileExists(atPath: "\(runs)/quickstart/\(id)/checkpoint.h5") {
                copy = "\(runs)/quickstart/\(id)/checkpoint.h5"
                break
            }
            usleep(100_000)
        }
        #expect(copy != nil && process.isRunning, "no checkpoint while the run was alive")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()

        let status = try runProcess(binary, ["status", runs + "/quickstart"])
        #expect(status.status == 0, "\(status.stderr)")
        #expect(status.stdout.contains("interrupted (process gone)"), "\(status.stdout)")
        #expect(!status.stdout.contains(" running "), "\(status.stdout)")

        let again = try runProcess(binary, ["run", quickstartSpec] + overrides + ["--runs", runs, "--quiet"])
        #expect(again.status == 0, "\(again.stdout)\(again.stderr)")
        let reference = directory.appendingPathComponent("killed-reference").path
        #expect(try runProcess(binary, ["run", quickstartSpec] + overrides + ["--runs", reference, "--quiet"]).status == 0)
        try identical(try runFile(runs), try runFile(reference))
    }

    /// A real full disk: a tmpfs (ABLATE_DISKFULL_DIR, mounted by .ci/run) filled with a ballast
    /// file until the second checkpoint cannot be written.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["ABLATE_DISKFULL_DIR"] != nil
                   || ProcessInfo.processInfo.environment["ABLATE_REQUIRE_DISKFULL"] == "1",
                   "set ABLATE_DISKFULL_DIR to an empty tmpfs of ≥ 32 MB (.ci/run mounts one)"))
    func diskFullStopsCleanlyAndResumesToTheSameBits() throws {
        let mount = try #require(ProcessInfo.processInfo.environment["ABLATE_DISKFULL_DIR"], "ABLATE_REQUIRE_DISKFULL=1 but no ABLATE_DISKFULL_DIR")
        let overrides = ["train.steps=120", "log.checkpoint_every=20"]
        let reference = directory.appendingPathComponent("disk-reference").path
        #expect(try runProcess(binary, ["run", quickstartSpec] + overrides + ["--runs", reference, "--quiet"]).status == 0)
        let referenceFile = try runFile(reference)
        let size = try #require(try FileManager.default.attributesOfItem(atPath: referenceFile)[.size] as? Int)

        let runs = mount + "/runs-\(UUID().uuidString.prefix(6))"
        let ballast = mount + "/ballast-\(UUID().uuidString.prefix(6))"
        defer { try? FileManager.default.removeItem(atPath: runs); try? FileManager.default.removeItem(atPath: ballast) }
        var stats = statvfs()
        #expect(statvfs(mount, &stats) == 0)
        let free = Int(stats.f_bavail) * Int(stats.f_frsize)
        // The first checkpoint (half the final file, plus its copy) fits; the second does not.
        let leave = size * 14 / 10
        try #require(free > 3 * size + leave / 2, "\(mount) has \(free) bytes free; needs \(3 * size + leave / 2)")
        #expect(FileManager.default.createFile(atPath: ballast, contents: Data(count: free - leave)))

        let full = try runProcess(binary, ["run", quickstartSpec] + overrides + ["--runs", runs, "--quiet"])
        #expect(full.status == 4, "exit \(full.status): \(full.stdout)\(full.stderr)")
        let lines = full.stderr.split(separator: "\n")
        #expect(lines.count == 1, "expected one line:\n\(full.stderr)")
        #expect(full.stderr.contains("disk full") && full.stderr.contains("No space left on device"), "\(full.stderr)")
        #expect(full.stderr.contains("checkpoint.h5"), "\(full.stderr)")
        let runDirectory = URL(fileURLWithPath: try runFile(runs)).deletingLastPathComponent().path
        #expect(FileManager.default.fileExists(atPath: runDirectory + "/checkpoint.h5"))
        let status = try runProcess(binary, ["status", runs + "/quickstart"])
        #expect(status.stdout.contains("interrupted"), "\(status.stdout)\(status.stderr)")

        try FileManager.default.removeItem(atPath: ballast)
        let resumed = try runProcess(binary, ["resume", runDirectory, "--quiet"])
        #expect(resumed.status == 0, "\(resumed.stdout)\(resumed.stderr)")
        try identical(runDirectory + "/run.h5", referenceFile)
    }

    @Test func sweepExitCodesAndQuiet() throws {
        let runs = directory.appendingPathComponent("codes").path
        let small = ["train.steps=20", "train.schedule.warmup=2"]
        let diverging = try runProcess(binary, ["sweep", quickstartSpec] + small + ["train.divergence_loss=0.5", "--runs", runs, "--quiet"])
        #expect(diverging.status == 3, "a diverged cell: exit \(diverging.status)\n\(diverging.stdout)\(diverging.stderr)")
        #expect(diverging.stdout.split(separator: "\n").count == 1, "--quiet printed:\n\(diverging.stdout)")

        // A cell whose run file is garbage is failed: the sweep says so with exit 1.
        let other = directory.appendingPathComponent("codes-failed").path
        let plan = try runProcess(binary, ["sweep", quickstartSpec] + small + ["--runs", other, "--quiet"])
        #expect(plan.status == 0, "\(plan.stderr)")
        let file = try runFile(other)
        try Data("not an HDF5 file".utf8).write(to: URL(fileURLWithPath: file))
        let failed = try runProcess(binary, ["sweep", quickstartSpec] + small + ["--runs", other])
        #expect(failed.status == 1, "a failed cell: exit \(failed.status)\n\(failed.stdout)\(failed.stderr)")

        let help = try runProcess(binary, ["--help"])
        for code in ["130", "disk filled up", "diverged", "bad input"] { #expect(help.stdout.contains(code), "--help lacks \(code)") }
    }

    @Test func plainRunDirectoriesWorkWithStatusTableAndExport() throws {
        let runs = directory.appendingPathComponent("plain").path
        for rank in [4, 8] {
            let run = try runProcess(binary, ["run", quickstartSpec, "train.steps=10", "train.schedule.warmup=2",
                                              "model.attention.kv_rank=\(rank)", "--runs", runs, "--quiet"])
            #expect(run.status == 0, "\(run.stderr)")
        }
        let status = try runProcess(binary, ["status", runs + "/quickstart"])
        #expect(status.status == 0, "\(status.stderr)")
        #expect(statusRows(status.stdout).values.map(\.state) == ["completed", "completed"], "\(status.stdout)")
        let table = try runProcess(binary, ["table", runs + "/quickstart", "--format", "csv"])
        #expect(table.status == 0, "\(table.stderr)")
        let rows = table.stdout.split(separator: "\n")
        #expect(rows.count == 3, "header + one row per kv_rank:\n\(table.stdout)")
        #expect(rows.first?.contains("kv_rank") == true, "\(table.stdout)")
        let csv = directory.appendingPathComponent("plain.csv").path
        let notebook = directory.appendingPathComponent("plain.ipynb").path
        let export = try runProcess(binary, ["export", runs + "/quickstart", "--csv", csv, "--notebook", notebook])
        #expect(export.status == 0, "\(export.stderr)")
        #expect(try String(contentsOfFile: notebook, encoding: .utf8).contains("EMBEDDED_MANIFEST = \\\""))
        // One run directory on its own works too.
        let single = URL(fileURLWithPath: try runFile(runs)).deletingLastPathComponent().path
        let one = try runProcess(binary, ["status", single])
        #expect(statusRows(one.stdout).count == 1, "\(one.stdout)\(one.stderr)")
    }
}
