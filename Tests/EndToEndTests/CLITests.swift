// End-to-end tests of the `ablate` command: they run the release binary that scripts/test.sh
// builds (ABLATE_BIN), the way a researcher would.
import Foundation
import Testing
import TestSupport

@Suite struct CLITests {
    func ablate(_ arguments: String...) throws -> ProcessResult {
        try runProcess(try TestEnvironment.ablateBinary(), arguments)
    }

    @Test func versionNamesReleaseCommitAndBuild() throws {
        let result = try ablate("--version")
        #expect(result.status == 0)
        #expect(result.stdout.hasPrefix("ablate 0."))
        #expect(result.stdout.contains("build: release"))
        let commit = result.stdout.split(separator: "\n").first { $0.hasPrefix("commit: ") }
        #expect(commit != nil && commit?.contains("unknown") == false, "\(result.stdout)")
    }

    @Test func everySubcommandHasHelp() throws {
        let top = try ablate("--help")
        #expect(top.status == 0)
        // Subcommands are listed after "SUBCOMMANDS:" as "  name   abstract".
        let section = top.stdout.components(separatedBy: "SUBCOMMANDS:").last ?? ""
        // Subcommand lines have their name at column 2; wrapped abstracts are indented further.
        let names = section.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("  "), line.dropFirst(2).first?.isLowercase == true,
                  let word = line.split(separator: " ").first else { return nil }
            return String(word)
        }.filter { $0 != "help" }
        #expect(names.contains("inspect") && names.contains("smoke"), "\(names)")
        for name in names {
            let help = try ablate(name, "--help")
            #expect(help.status == 0, "\(name) --help failed")
            #expect(help.stdout.contains("USAGE: ablate \(name)"), "\(name): \(help.stdout)")
            expectCleanHelp(name, help.stdout)
        }
        expectCleanHelp("ablate", top.stdout)
        for sub in ["ops", "gemm", "moe", "mfu"] {
            let help = try ablate("bench", sub, "--help")
            #expect(help.status == 0, "bench \(sub) --help failed")
            expectCleanHelp("bench \(sub)", help.stdout)
        }
    }

    /// The prose of a help page (before USAGE) fits 80 columns as written, has no stray runs of
    /// spaces inside a sentence, and says why rather than citing the tracker.
    func expectCleanHelp(_ name: String, _ text: String) {
        let prose = text.components(separatedBy: "USAGE:").first ?? ""
        for line in prose.split(separator: "\n", omittingEmptySubsequences: false) {
            #expect(line.count <= 80, "\(name) --help: line longer than 80 columns: \(line)")
            let body = line.drop { $0 == " " }
            #expect(!body.contains("   ") || line.hasPrefix("  "), "\(name) --help: stray spaces: \(line)")
        }
        #expect(!text.lowercased().contains("issue"), "\(name) --help cites the tracker")
    }

    /// A claim that names no row, or a metric the data cannot give, is refused before any work,
    /// naming the claim and the key; `run` and `sweep` refuse the same spec.
    @Test func validateRefusesClaimsThatMatchNoRow() throws {
        let directory = try TestEnvironment.temporaryDirectory("claims-validate")
        let expertCount = TestEnvironment.packageRoot.appendingPathComponent("experiments/expert-count.yaml").path
        let good = try ablate("validate", expertCount)
        #expect(good.status == 0, "\(good.stderr)")
        var text = try String(contentsOfFile: expertCount, encoding: .utf8)
        text = text.replacingOccurrences(of: "a: {match: {model.ffn.moe.experts: 32}}", with: "a: {match: {model.ffn.moe.experts: 64}}")
            .replacingOccurrences(of: "metric: maxvio_global", with: "metric: accuracy")
        let spec = directory.appendingPathComponent("bad-claims.yaml").path
        try text.write(toFile: spec, atomically: true, encoding: .utf8)
        let bad = try ablate("validate", spec)
        #expect(bad.status == 2, "\(bad.stdout)")
        #expect(bad.stderr.contains("table.claims[1].a") && bad.stderr.contains("claim 'E = 32 has a lower loss than E = 4'")
                && bad.stderr.contains("matches 0 rows"), "\(bad.stderr)")
        #expect(bad.stderr.contains("table.claims[2].metric") && bad.stderr.contains("accuracy needs MQAR data"), "\(bad.stderr)")
        let sweep = try ablate("sweep", spec, "--runs", directory.appendingPathComponent("runs").path)
        #expect(sweep.status == 2 && !FileManager.default.fileExists(atPath: directory.appendingPathComponent("runs").path))
        let unknown = directory.appendingPathComponent("unknown-metric.yaml").path
        try text.replacingOccurrences(of: "metric: whole_loss", with: "metric: loss").write(toFile: unknown, atomically: true, encoding: .utf8)
        let refused = try ablate("validate", unknown)
        #expect(refused.status == 2 && refused.stderr.contains("metric: unknown metric 'loss'"), "\(refused.stderr)")
    }

    @Test func smokeJobWritesAFileInspectCanRead() throws {
        let directory = try TestEnvironment.temporaryDirectory("smoke")
        let out = directory.appendingPathComponent("smoke.h5").path
        let smoke = try ablate("smoke", "--out", out, "--steps", "23")
        #expect(smoke.status == 0, "\(smoke.stderr)")
        #expect(smoke.stdout.contains("smoke job passed"))
        let inspect = try ablate("inspect", out, "--json")
        #expect(inspect.status == 0)
        let tree = try JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8)) as? [String: Any]
        let metrics = (tree?["children"] as? [[String: Any]])?.first { $0["name"] as? String == "metrics" }
        let train = (metrics?["children"] as? [[String: Any]])?.first
        let loss = (train?["children"] as? [[String: Any]])?.first { $0["name"] as? String == "loss" }
        #expect(loss?["shape"] as? [Int] == [23])
        #expect(loss?["dtype"] as? String == "float64")
        #expect(loss?["compression"] as? String == "gzip 4")
    }

    @Test func inspectShowsAFileWrittenByH5py() throws {
        let directory = try TestEnvironment.temporaryDirectory("inspect")
        let file = directory.appendingPathComponent("py.h5").path
        let made = try runPython("""
        import sys, h5py, numpy as np
        with h5py.File(sys.argv[1], "w") as f:
            f.attrs["origin"] = "h5py"
            f.create_dataset("model/embed.weight", data=np.zeros((64, 16), np.float32), chunks=(16, 16), compression="gzip", compression_opts=5)
            f["model"].attrs["layers"] = np.int64(2)
            f.create_dataset("steps", data=np.arange(3), maxshape=(None,))
        """, [file])
        #expect(made.status == 0, "\(made.stderr)")
        let result = try ablate("inspect", file)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("@origin = \"h5py\""))
        #expect(result.stdout.contains("model/"))
        #expect(result.stdout.contains("@layers = 2"))
        #expect(result.stdout.contains("embed.weight  float32 (64, 16)  chunks (16, 16)  gzip 5"))
        #expect(result.stdout.contains("steps  int64 (3)  max (∞)"))
    }

    @Test func corruptOrMissingFileIsAOneLineErrorWithExitCode1() throws {
        let directory = try TestEnvironment.temporaryDirectory("corrupt")
        let corrupt = directory.appendingPathComponent("corrupt.h5")
        try Data(repeating: 0x5A, count: 4096).write(to: corrupt)
        for target in [corrupt.path, directory.appendingPathComponent("missing.h5").path] {
            let result = try ablate("inspect", target)
            #expect(result.status == 1)
            #expect(result.stdout.isEmpty)
            let lines = result.stderr.split(separator: "\n")
            #expect(lines.count == 1, "expected one line, got: \(result.stderr)")
            #expect(lines.first?.hasPrefix("error: ") == true)
            #expect(lines.first?.contains(target) == true)
        }
    }
}
