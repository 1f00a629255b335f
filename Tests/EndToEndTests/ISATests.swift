// Same bits on every kernel path: training runs forced onto each ISA path this CPU supports
// (ABLATE_ISA) and onto 1 and 2 threads give identical run files, dataset by dataset; `ablate
// verify --isa` says so; and under qemu-user, an emulated CPU without AVX-512 (Haswell) picks
// avx2 by itself and one without AVX2 (Nehalem) picks generic, each without an illegal
// instruction and with the native run's bits.
import Foundation
import Testing
import TestSupport
import RunStore

@Suite(.serialized) struct ISATests {
    let binary: String
    let directory: URL

    init() throws {
        (binary, directory) = try TestEnvironment.endToEnd("isa")
    }

    /// The paths this CPU supports, from `ablate --version` ("… this CPU supports avx2, generic)").
    func supportedPaths(_ prefix: [String] = []) throws -> (active: String, supported: [String]) {
        let r = try runProcess(prefix.isEmpty ? binary : prefix[0], Array(prefix.dropFirst()) + (prefix.isEmpty ? [] : [binary]) + ["--version"])
        #expect(r.status == 0, "\(r.stderr)")
        let line = r.stdout.split(separator: "\n").first { $0.hasPrefix("kernels: ") } ?? ""
        let active = line.dropFirst("kernels: ".count).split(separator: " ").first.map(String.init) ?? ""
        let list = line.components(separatedBy: "supports ").last?.trimmingCharacters(in: CharacterSet(charactersIn: ")")) ?? ""
        return (active, list.components(separatedBy: ", ").filter { !$0.isEmpty })
    }

    /// Every run file under `runs`, keyed by "spec/run id".
    func runFiles(_ runs: URL) throws -> [String: String] {
        var out: [String: String] = [:]
        for spec in try FileManager.default.contentsOfDirectory(atPath: runs.path) {
            let specDir = runs.appendingPathComponent(spec)
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: specDir.path, isDirectory: &isDir), isDir.boolValue else { continue }
            for id in try FileManager.default.contentsOfDirectory(atPath: specDir.path) {
                let file = specDir.appendingPathComponent(id).appendingPathComponent("run.h5").path
                if FileManager.default.fileExists(atPath: file) { out["\(spec)/\(id)"] = file }
            }
        }
        return out
    }

    /// Asserts that two sets of run files are identical dataset by dataset (wall-clock excepted).
    func expectIdentical(_ a: [String: String], _ b: [String: String], _ label: String) throws {
        #expect(!a.isEmpty && a.keys.sorted() == b.keys.sorted(), "\(label): runs \(a.keys.sorted()) vs \(b.keys.sorted())")
        for key in a.keys.sorted() {
            guard let fb = b[key] else { continue }
            let ra = try RunFileReader(path: a[key]!), rb = try RunFileReader(path: fb)
            defer { ra.close(); rb.close() }
            let comparison = try RunComparison.compare(ra, rb)
            let differing = comparison.entries.filter { !$0.identical }.map(\.name)
            #expect(comparison.identical, "\(label) \(key): datasets differ: \(differing)")
            #expect(comparison.entries.count > 10, "\(label) \(key): only \(comparison.entries.count) datasets compared")
        }
    }

    func sweep(_ spec: String, _ overrides: [String], runs: String, isa: String, threads: Int) throws -> [String: String] {
        let out = directory.appendingPathComponent(runs)
        let r = try runProcess(binary, ["sweep", spec] + overrides + ["--runs", out.path, "--jobs", "1", "--threads", String(threads)],
                               environment: ["ABLATE_ISA": isa])
        #expect(r.status == 0, "sweep on \(isa) \(threads)T: \(r.stdout)\(r.stderr)")
        return try runFiles(out)
    }

    func run(_ spec: String, _ overrides: [String], runs: String, isa: String, threads: Int, prefix: [String] = []) throws -> [String: String] {
        let out = directory.appendingPathComponent(runs)
        let args = ["run", spec] + overrides + ["--runs", out.path, "--threads", String(threads), "--quiet"]
        let r = prefix.isEmpty
            ? try runProcess(binary, args, environment: isa.isEmpty ? [:] : ["ABLATE_ISA": isa])
            : try runProcess(prefix[0], Array(prefix.dropFirst()) + [binary] + args)
        #expect(r.status == 0, "run on \(isa.isEmpty ? "auto" : isa) \(threads)T \(prefix): \(r.stdout)\(r.stderr)")
        return try runFiles(out)
    }

    @Test func parityCellsAreIdenticalOnEveryPathAndThreadCount() throws {
        let spec = TestEnvironment.packageRoot.appendingPathComponent("experiments/parity.yaml").path
        let paths = try supportedPaths().supported
        #expect(paths.contains("generic") && paths.count >= 2, "paths: \(paths)")
        let listing = try runProcess(binary, ["validate", spec])
        let cells = listing.stdout.split(separator: "\n").filter { $0.hasPrefix("  [") }.count
        #expect(cells >= 16, "parity cells: \(cells)")
        let reference = try sweep(spec, ["train.steps=30"], runs: "parity-\(paths[0])-2", isa: paths[0], threads: 2)
        #expect(reference.count == cells)
        try expectIdentical(reference, try sweep(spec, ["train.steps=30"], runs: "parity-\(paths[0])-1", isa: paths[0], threads: 1), "\(paths[0]) 1T")
        for isa in paths.dropFirst() {
            for threads in [1, 2] {
                try expectIdentical(reference, try sweep(spec, ["train.steps=30"], runs: "parity-\(isa)-\(threads)", isa: isa, threads: threads), "\(isa) \(threads)T")
            }
        }
    }

    @Test func quickStartIsIdenticalOnEveryPath() throws {
        let spec = TestEnvironment.packageRoot.appendingPathComponent("experiments/quickstart.yaml").path
        let overrides = ["train.steps=30", "train.eval_every=15"]
        let paths = try supportedPaths().supported
        let reference = try run(spec, overrides, runs: "qs-\(paths[0])-2", isa: paths[0], threads: 2)
        try expectIdentical(reference, try run(spec, overrides, runs: "qs-\(paths[0])-1", isa: paths[0], threads: 1), "\(paths[0]) 1T")
        for isa in paths.dropFirst() {
            try expectIdentical(reference, try run(spec, overrides, runs: "qs-\(isa)-2", isa: isa, threads: 2), "\(isa) 2T")
        }
    }

    @Test func verifyIsaReexecutesOnAnotherPath() throws {
        let spec = directory.appendingPathComponent("tiny.yaml")
        try tinySpec.write(to: spec, atomically: true, encoding: .utf8)
        let files = try run(spec.path, ["train.steps=12"], runs: "verify", isa: "", threads: 2)
        let runDir = URL(fileURLWithPath: try #require(files.values.first)).deletingLastPathComponent().path
        let r = try runProcess(binary, ["verify", runDir, "--isa", "generic", "--threads", "1"])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("kernel path generic"))
        #expect(r.stdout.contains("bitwise identical"))
        let bad = try runProcess(binary, ["verify", runDir, "--isa", "sse9"])
        #expect(bad.status != 0 && bad.stderr.contains("--isa sse9 is not a kernel path"))
        // A path this CPU lacks is refused up front, naming the missing features.
        if !(try supportedPaths().supported.contains("avx512")) {
            let lacking = try runProcess(binary, ["verify", runDir, "--isa", "avx512"])
            #expect(lacking.status != 0 && lacking.stderr.contains("lacks avx512f"), "\(lacking.stderr)")
            let forced = try runProcess(binary, ["run", spec.path, "--runs", directory.appendingPathComponent("never").path],
                                        environment: ["ABLATE_ISA": "avx512"])
            #expect(forced.status == 2 && forced.stderr.contains("ABLATE_ISA=avx512") && forced.stderr.contains("lacks"))
            #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("never").path))
        }
    }

    /// Debian's qemu-user emulates CPUs without AVX-512 (TCG has none) and without AVX2.
    @Test func emulatedCPUsPickTheirPathAndMatchNativeBits() throws {
        let qemu = ["/usr/bin/qemu-x86_64", "/usr/local/bin/qemu-x86_64"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let qemu else {
            if ProcessInfo.processInfo.environment["ABLATE_REQUIRE_QEMU"] == "1" {
                Issue.record("qemu-x86_64 is not installed (apt-get install qemu-user) but ABLATE_REQUIRE_QEMU=1")
            }
            return
        }
        let spec = directory.appendingPathComponent("tiny-qemu.yaml")
        try tinySpec.write(to: spec, atomically: true, encoding: .utf8)
        let overrides = ["train.steps=6", "train.eval_every=3", "train.schedule.warmup=2", "log.tensors.steps=[0]"]
        let native = try run(spec.path, overrides, runs: "native", isa: "", threads: 1)
        for (cpu, expected) in [("Haswell", "avx2"), ("Nehalem", "generic")] {
            let version = try supportedPaths([qemu, "-cpu", cpu])
            #expect(version.active == expected, "qemu -cpu \(cpu) chose \(version.active)")
            #expect(!version.supported.contains("avx512"))
            let emulated = try run(spec.path, overrides, runs: "qemu-\(cpu)", isa: "", threads: 1, prefix: [qemu, "-cpu", cpu])
            try expectIdentical(native, emulated, "qemu \(cpu)")
            for file in emulated.values {
                let reader = try RunFileReader(path: file)
                defer { reader.close() }
                #expect(try reader.attributes().run.isa == expected)
            }
        }
    }
}
