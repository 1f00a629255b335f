// Damaged run files never crash a command (issue 13, item 5; docs/reliability.md, "Corrupt and
// truncated files"). A real run file is cut at 200 seeded offsets and has a byte flipped at 200
// more; inspect, resume and verify run on every variant, and status, table and export once on a
// sweep whose 400 cells are the variants (one process reads them all). Every command must end
// with exit 0, or exit 1 and a one-line error; never by a signal (a Swift trap is one too).
import Foundation
import Testing
import TestSupport
import RunStore

let corruptSpec = """
name: tiny
model:
  vocab: 16
  d_model: 16
  n_layers: 1
  attention: {kind: mla, heads: 2, kv_rank: 8, q_rank: 0, d_nope: 8, d_rope: 4, d_v: 8}
  ffn:
    kind: moe
    hidden: 32
    moe: {experts: 4, top_k: 2, expert_hidden: 16, shared_experts: 1, balance: {loss_free: {enabled: true, rate: 0.001}}}
data: {kind: markov_mixture, markov_mixture: {sources: 2, symbols: 16}, val_sequences: 4}
train: {steps: 12, batch_size: 4, seq_len: 16, eval_every: 6}
log: {flush_every: 2, checkpoint_every: 4, tensors: {steps: [0, 8], attention_layers: [0], probe_sequences: 2}}
seeds: [0]
"""

/// How a process ended: exit code, or the signal that killed it.
struct Ending: Sendable {
    var code: Int32
    var signal: Int32?
    var stderr: String
}

/// Runs the binary; unlike `runProcess`, tells an exit code from a signal.
func runEnding(_ binary: String, _ arguments: [String]) throws -> Ending {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: binary)
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging([
        "ABLATE_GIT_COMMIT": "corrupt-file-test",   // no `git rev-parse` per process
        "HDF5_USE_FILE_LOCKING": "FALSE",
        "SWIFT_BACKTRACE": "enable=no",
    ]) { $1 }
    let errURL = FileManager.default.temporaryDirectory.appendingPathComponent("err-\(UUID().uuidString)")
    _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: errURL) }
    let errHandle = try FileHandle(forWritingTo: errURL)
    process.standardOutput = FileHandle.nullDevice
    process.standardError = errHandle
    process.standardInput = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    try errHandle.close()
    let stderr = String(decoding: try Data(contentsOf: errURL), as: UTF8.self)
    if process.terminationReason == .uncaughtSignal {
        return Ending(code: -1, signal: process.terminationStatus, stderr: stderr)
    }
    return Ending(code: process.terminationStatus, signal: nil, stderr: stderr)
}

/// The 400 damaged variants of a file: 200 cuts, then 200 single-byte flips (seeded).
func damagedVariants(of bytes: [UInt8], seed: UInt64 = 13, each: Int = 200) -> [(label: String, bytes: [UInt8])] {
    var rng = SplitMix64(state: seed)
    var variants: [(String, [UInt8])] = []
    for _ in 0..<each {
        let offset = Int(rng.next() % UInt64(bytes.count))
        variants.append(("cut at \(offset)", Array(bytes[..<offset])))
    }
    for _ in 0..<each {
        let offset = Int(rng.next() % UInt64(bytes.count))
        let mask = UInt8(1 + rng.next() % 255)
        var copy = bytes
        copy[offset] ^= mask
        variants.append(("byte \(offset) xor \(mask)", copy))
    }
    return variants
}

/// The same file with `@status` "running" instead of "completed", so that resume works on it:
/// the variable-length string in the global heap is rewritten in place.
func markedRunning(_ bytes: [UInt8]) throws -> [UInt8] {
    let needle = Array("completed\0".utf8)
    var copy = bytes
    for start in stride(from: bytes.count - needle.count, through: 8, by: -1)
    where bytes[start] == needle[0] && Array(bytes[start..<start + needle.count]) == needle {
        guard bytes[(start - 8)..<start].elementsEqual([9, 0, 0, 0, 0, 0, 0, 0]) else { continue }
        // Same heap object size (the heap's layout must not change): "running" and two NULs.
        copy.replaceSubrange(start..<start + 9, with: Array("running\0\0".utf8))
        return copy
    }
    throw SetupError("no @status \"completed\" in the run file's global heap")
}

@Suite struct CorruptFileTests {
    let binary: String
    let directory: URL
    let runID: String
    let original: [UInt8]

    init() throws {
        let spec: String
        (binary, directory, spec) = try TestEnvironment.endToEnd("corrupt", spec: corruptSpec, file: "tiny.yaml")
        let made = try runEnding(binary, ["run", spec, "--runs", directory.appendingPathComponent("runs").path, "--quiet", "--threads", "1"])
        guard made.code == 0 else { throw SetupError("ablate run failed: \(made.stderr)") }
        let manifestDirectory = directory.appendingPathComponent("runs/tiny").path
        let ids = try FileManager.default.contentsOfDirectory(atPath: manifestDirectory)
        guard let id = ids.first(where: { $0.count == 12 }) else { throw SetupError("no run directory in \(ids)") }
        runID = id
        original = Array(try Data(contentsOf: URL(fileURLWithPath: "\(manifestDirectory)/\(id)/run.h5")))
    }

    /// A sweep directory whose cells are the given files (cell i: `<name i>/<run id>/run.h5`).
    func writeSweep(at sweep: URL, files: [(name: String, bytes: [UInt8])]) throws {
        var cells: [SweepManifest.Cell] = []
        for (index, file) in files.enumerated() {
            let runDirectory = sweep.appendingPathComponent("\(file.name)/\(runID)")
            try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
            try Data(file.bytes).write(to: runDirectory.appendingPathComponent("run.h5"))
            var cell = SweepManifest.Cell(index: index, runID: runID, label: "seed=\(index)", seed: index,
                                          assignments: [:], state: .completed, exitCode: 0)
            cell.runFile = "\(file.name)/\(runID)/run.h5"
            cell.log = "\(file.name)/\(runID)/run.log"
            cells.append(cell)
        }
        try SweepManifest(spec: "tiny", specFile: directory.appendingPathComponent("tiny.yaml").path, overrides: [],
                          varyingKeys: ["seed"], cells: cells).write(directory: sweep.path)
    }

    /// Exit 0, or exit 1 with exactly one line on stderr that starts with "error:".
    static func problem(_ ending: Ending) -> String? {
        if let signal = ending.signal { return "killed by signal \(signal)" }
        if ending.code == 0 { return nil }
        let lines = ending.stderr.split(separator: "\n")
        if ending.code == 1, lines.count == 1, lines[0].hasPrefix("error: ") { return nil }
        return "exit \(ending.code), stderr: \(ending.stderr.prefix(400))"
    }

    @Test func damagedRunFilesNeverCrashACommand() throws {
        let running = try markedRunning(original)
        let completedVariants = damagedVariants(of: original)
        let runningVariants = damagedVariants(of: running)
        let variantsDirectory = directory.appendingPathComponent("variants")
        try writeSweep(at: variantsDirectory, files: completedVariants.indices.map { ("c\($0)", completedVariants[$0].bytes) })
        for (index, variant) in runningVariants.enumerated() {
            let runDirectory = directory.appendingPathComponent("resume/r\(index)/tiny/\(runID)")
            try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
            try Data(variant.bytes).write(to: runDirectory.appendingPathComponent("run.h5"))
        }

        // One process each reads all 400 files.
        let sweepPath = variantsDirectory.path
        var failures: [String] = []
        var counts: [String: [String: Int]] = [:]
        func note(_ command: String, _ label: String, _ ending: Ending) {
            let key = ending.signal.map { "signal \($0)" } ?? "exit \(ending.code)"
            counts[command, default: [:]][key, default: 0] += 1
            if let problem = Self.problem(ending) { failures.append("\(command) on \(label): \(problem)") }
        }
        let table = try runEnding(binary, ["table", sweepPath])
        note("table", "the 400-cell sweep", table)
        note("status", "the 400-cell sweep", try runEnding(binary, ["status", sweepPath]))
        note("export", "the 400-cell sweep",
             try runEnding(binary, ["export", sweepPath, "--csv", directory.appendingPathComponent("t.csv").path]))

        // One process per file and command, three at a time.
        let resumeRoot = directory.appendingPathComponent("resume").path
        var jobs: [(index: Int, command: String, arguments: [String])] = []
        for index in completedVariants.indices {
            jobs.append((index, "inspect", ["inspect", "\(sweepPath)/c\(index)/\(runID)/run.h5"]))
            jobs.append((index, "verify", ["verify", "\(sweepPath)/c\(index)/\(runID)", "--threads", "1"]))
            jobs.append((index, "resume", ["resume", "\(resumeRoot)/r\(index)/tiny/\(runID)", "--threads", "1", "--quiet"]))
        }
        let argumentLists = jobs.map(\.arguments)
        let results = ResultBox(count: jobs.count)
        let binary = self.binary
        DispatchQueue.concurrentPerform(iterations: 3) { worker in
            for job in stride(from: worker, to: argumentLists.count, by: 3) {
                results.set(job, Result { try runEnding(binary, argumentLists[job]) })
            }
        }
        for (job, entry) in jobs.enumerated() {
            note(entry.command, completedVariants[entry.index].label, try results.get(job).get())
        }
        print("corrupt-file endings per command:", counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: "; "))
        #expect(failures.isEmpty, "\(failures.count) bad endings:\n\(failures.prefix(20).joined(separator: "\n"))")
        // The sweep table reads the intact-enough files and marks the others.
        #expect(table.code == 0)
        #expect(counts["inspect"]?["exit 1"] ?? 0 > 100, "most damaged files are reported as damaged")
        #expect(counts["resume"]?["exit 0"] ?? 0 > 50, "resume still works on files damaged only where it does not read")
    }

    @Test func aSweepWithOneCorruptFileStillTablesTheOthers() throws {
        let sweep = directory.appendingPathComponent("three")
        try writeSweep(at: sweep, files: [("a", original), ("b", original), ("c", Array(original.prefix(original.count / 2)))])
        let result = try runProcess(binary, ["table", sweep.path], environment: ["ABLATE_GIT_COMMIT": "corrupt-file-test"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("2/3"), "the row counts the two readable runs: \(result.stdout)")
        #expect(result.stdout.contains("unreadable") && result.stdout.contains("c/\(runID)/run.h5"),
                "the damaged cell is marked with its file: \(result.stdout)")
        let status = try runProcess(binary, ["status", sweep.path], environment: ["ABLATE_GIT_COMMIT": "corrupt-file-test"])
        #expect(status.status == 0, "\(status.stderr)")
        #expect(status.stdout.contains("not readable"), "status marks the damaged cell: \(status.stdout)")
    }
}

/// Results written by concurrent workers, one slot each.
final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [Result<Ending, Error>?]
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ index: Int, _ result: Result<Ending, Error>) { lock.withLock { slots[index] = result } }
    func get(_ index: Int) throws -> Result<Ending, Error> {
        try lock.withLock { guard let slot = slots[index] else { throw SetupError("job \(index) did not run") }; return slot }
    }
}
