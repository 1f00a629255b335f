// `ablate serve` through the release binary: bad input, refused paths over real HTTP, and a
// real headless Chromium loading the pages of a sweep that is still training (DOM checks, a curve
// that grows between two loads, a screenshot of each page under ci-artifacts/dashboard/).
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A running `ablate serve`, stopped (SIGTERM, by its pid) when the test is done with it.
final class ServeProcess {
    let process = Process()
    let port: Int
    let stderrURL: URL

    init(_ binary: String, _ arguments: [String]) throws {
        stderrURL = FileManager.default.temporaryDirectory.appendingPathComponent("serve-err-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["serve"] + arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = try FileHandle(forWritingTo: stderrURL)
        try process.run()
        // First line: "serving <dir> at http://127.0.0.1:<port>/ …".
        var line = ""
        while !line.contains("\n") {
            let data = out.fileHandleForReading.availableData
            if data.isEmpty { break }
            line += String(decoding: data, as: UTF8.self)
        }
        guard let range = line.range(of: #":([0-9]+)/"#, options: .regularExpression) else {
            process.waitUntilExit()
            throw SetupError("ablate serve did not start: \(line) \((try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "")")
        }
        port = Int(line[range].dropFirst().dropLast())!
    }

    var stderr: String { (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "" }

    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            Issue.record("ablate serve did not stop within 10 s of SIGTERM")
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: stderrURL)
    }
}

/// One raw HTTP request (the target is sent exactly as given: no client normalises `..`).
func rawHTTP(port: Int, _ requestLine: String) throws -> (status: Int, body: String) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw SetupError("socket failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { throw SetupError("cannot connect to port \(port)") }
    let request = Array("\(requestLine) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
    _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
    var response: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        response += buffer[0..<n]
    }
    let text = String(decoding: response, as: UTF8.self)
    let status = Int(text.split(separator: " ").dropFirst().first ?? "") ?? -1
    let body = text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
    return (status, body)
}

@Suite struct ServeTests {
    let binary: String
    let directory: URL

    init() throws {
        (binary, directory) = try TestEnvironment.endToEnd("serve")
    }

    @Test func badInputIsAClearError() throws {
        let file = directory.appendingPathComponent("a-file")
        try "x".write(to: file, atomically: true, encoding: .utf8)
        let notDirectory = try runProcess(binary, ["serve", file.path, "--port", "0"])
        #expect(notDirectory.status == 2)
        #expect(notDirectory.stderr.contains("is not a directory"), "\(notDirectory.stderr)")

        let runs = directory.appendingPathComponent("runs")
        try FileManager.default.createDirectory(at: runs, withIntermediateDirectories: true)
        let first = try ServeProcess(binary, [runs.path, "--port", "0"])
        defer { first.stop() }
        let second = try runProcess(binary, ["serve", runs.path, "--port", "\(first.port)"])
        #expect(second.status == 2)
        #expect(second.stderr.contains("port \(first.port) on 127.0.0.1 is already in use"), "\(second.stderr)")
        #expect(!first.stderr.contains("warning"), "loopback needs no warning")

        let exposed = try ServeProcess(binary, [runs.path, "--port", "0", "--host", "0.0.0.0"])
        defer { exposed.stop() }
        #expect(exposed.stderr.contains("warning: listening on 0.0.0.0, not on loopback"), "\(exposed.stderr)")
    }

    @Test func pathsOutsideTheRunsDirectoryAreRefusedOverHTTP() throws {
        let runs = directory.appendingPathComponent("runs")
        let secret = directory.appendingPathComponent("secret")
        try FileManager.default.createDirectory(at: runs.appendingPathComponent("ok"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: secret, withIntermediateDirectories: true)
        try Data("TOP SECRET".utf8).write(to: secret.appendingPathComponent("run.h5"))
        try Data(#"{"TOP SECRET": 1}"#.utf8).write(to: secret.appendingPathComponent("sweep.json"))
        try FileManager.default.createSymbolicLink(atPath: runs.appendingPathComponent("escape").path, withDestinationPath: secret.path)
        let server = try ServeProcess(binary, [runs.path, "--port", "0"])
        defer { server.stop() }
        let attempts: [(String, Set<Int>)] = [
            ("GET /api/run?path=../secret", [400]),
            ("GET /api/run?path=..%2Fsecret", [400]),
            ("GET /api/run?path=%2e%2e/secret", [400]),
            ("GET /api/sweep?path=ok/../../secret", [400]),
            ("GET /api/run?path=\(secret.path)", [400]),
            ("GET /api/run?path=%2F\(secret.path.dropFirst())", [400]),
            ("GET /api/run?path=escape", [403]),
            ("GET /api/sweep?path=escape", [403]),
            ("GET /../secret/run.h5", [400]),
            ("GET /%2e%2e/%2e%2e/etc/passwd", [400]),
            ("GET /api/run.h5", [404]),
            ("POST /api/home", [405]),
            ("DELETE /api/run?path=ok", [405]),
        ]
        for (line, statuses) in attempts {
            let response = try rawHTTP(port: server.port, line)
            #expect(statuses.contains(response.status), "\(line) → \(response.status) \(response.body)")
            #expect(!response.body.contains("TOP SECRET"), "\(line) leaked the file outside RUNS_DIR")
        }
        let home = try rawHTTP(port: server.port, "GET /api/home")
        #expect(home.status == 200)
        #expect(!home.body.contains("escape"), "a symlink leaving RUNS_DIR must not be listed: \(home.body)")
        // Nothing was written or deleted.
        #expect(try String(contentsOf: secret.appendingPathComponent("run.h5"), encoding: .utf8) == "TOP SECRET")
        #expect(try FileManager.default.contentsOfDirectory(atPath: runs.path).sorted() == ["escape", "ok"])
    }
}

// MARK: Chromium

enum Chromium {
    static var required: Bool {
        let env = ProcessInfo.processInfo.environment
        return env["ABLATE_REQUIRE_CHROMIUM"] == "1" || env["CI"] != nil
    }
    static var binary: String? {
        if let path = ProcessInfo.processInfo.environment["ABLATE_CHROMIUM"], !path.isEmpty { return path }
        return ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }
    static var available: Bool { required || binary != nil }
    static let skipReason: Comment = "Chromium is not installed: apt-get install --no-install-recommends chromium"

    static func run(_ url: String, profile: URL, _ extra: [String]) throws -> ProcessResult {
        guard let binary else { throw SetupError("Chromium is required here (CI) but not installed: apt-get install chromium") }
        // --no-sandbox: CI runs as root, where Chromium refuses its sandbox. Headless Chromium has
        // been seen to hang (a --screenshot under a loaded machine, the page's server idle): each
        // call is bounded by coreutils `timeout`, and a call that timed out is tried once more
        // with a fresh profile (the killed one may hold its lock).
        func attempt(_ dir: URL) throws -> ProcessResult {
            try runProcess("/usr/bin/timeout", ["-k", "10", "120", binary, "--headless", "--no-sandbox", "--disable-gpu",
                                                "--hide-scrollbars", "--mute-audio", "--user-data-dir=\(dir.path)",
                                                "--virtual-time-budget=6000"] + extra + [url])
        }
        let first = try attempt(profile)
        guard first.status == 124 || first.status == 137 else { return first }
        return try attempt(profile.appendingPathExtension("retry"))
    }

    static func dom(_ url: String, profile: URL) throws -> String {
        let result = try run(url, profile: profile, ["--dump-dom"])
        guard result.status == 0 else { throw SetupError("chromium failed (\(result.status)): \(result.stderr.suffix(2000))") }
        return result.stdout
    }

    /// A picture for ci-artifacts/, not a check (the DOM checks are the test): headless
    /// Chromium's --screenshot has hung on a loaded CI machine with the page's server idle, so a
    /// screenshot that times out is reported on stderr and skipped, never waited for.
    static func screenshot(_ url: String, to path: URL, profile: URL, height: Int) throws {
        try FileManager.default.createDirectory(at: path.deletingLastPathComponent(), withIntermediateDirectories: true)
        guard let binary else { return }
        let result = try runProcess("/usr/bin/timeout", ["-k", "10", "60", binary, "--headless", "--no-sandbox", "--disable-gpu",
                                                         "--hide-scrollbars", "--mute-audio", "--user-data-dir=\(profile.path).shot",
                                                         "--virtual-time-budget=6000", "--window-size=1280,\(height)",
                                                         "--screenshot=\(path.path)", url])
        if result.status == 124 || result.status == 137 {
            FileHandle.standardError.write(Data("note: the screenshot \(path.lastPathComponent) timed out (headless Chromium); skipped\n".utf8))
            return
        }
        #expect(result.status == 0 && FileManager.default.fileExists(atPath: path.path), "screenshot \(path.path): \(result.stderr.suffix(1000))")
    }
}

func count(_ pattern: String, in text: String) -> Int {
    (try? NSRegularExpression(pattern: pattern))?.numberOfMatches(in: text, range: NSRange(text.startIndex..., in: text)) ?? 0
}

func captures(_ pattern: String, in text: String) -> [String] {
    guard let regex = try? NSRegularExpression(pattern: pattern) else { return [] }
    return regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).compactMap {
        Range($0.range(at: 1), in: text).map { String(text[$0]) }
    }
}

/// The `<svg …id="ID"…>…</svg>` element of a dumped DOM.
func svg(_ id: String, in dom: String) -> String {
    guard let start = dom.range(of: "id=\"\(id)\"") else { return "" }
    let rest = dom[start.lowerBound...]
    return String(rest[..<(rest.range(of: "</svg>")?.upperBound ?? rest.endIndex)])
}

let liveSpec = "name: livesweep\n" + tinyMLAMoEModelAndData + """
train: {steps: 1000000, batch_size: 4, seq_len: 16, eval_every: 10}
log: {flush_every: 10, checkpoint_every: 1000, tensors: {steps: [0, 20], attention_layers: [0], attention_heads: [0, 1]}}
seeds: [0, 1]
sweep:
  grid:
    model.ffn.moe.balance.loss_free.enabled: [false, true]
table:
  claims:
    - name: loss-free balances better
      metric: maxvio_global
      a: {match: {model.ffn.moe.balance.loss_free.enabled: true}}
      b: {match: {model.ffn.moe.balance.loss_free.enabled: false}}
      expect: less
      min_effect: 0.1
"""

@Suite(.serialized, .enabled(if: Chromium.available, Chromium.skipReason))
struct ServeBrowserTests {
    @Test(.timeLimit(.minutes(10))) func chromiumRendersALiveSweep() throws {
        let binary = try TestEnvironment.ablateBinary()
        let directory = try TestEnvironment.temporaryDirectory("serve-live")
        let spec = directory.appendingPathComponent("live.yaml")
        try liveSpec.write(to: spec, atomically: true, encoding: .utf8)
        let runs = directory.appendingPathComponent("runs")
        // The server starts first, on a runs directory that does not exist yet (the README's order
        // in reverse): it says it waits, then shows the sweep once the sweep has made it.
        let server = try ServeProcess(binary, [runs.path, "--port", "0"])
        defer { server.stop() }
        let waiting = try rawHTTP(port: server.port, "GET /api/home")
        #expect(waiting.status == 200 && waiting.body.contains("waiting for"), "\(waiting.body)")
        let sweep = Process()
        sweep.executableURL = URL(fileURLWithPath: binary)
        sweep.arguments = ["sweep", spec.path, "--runs", runs.path, "--jobs", "4"]
        sweep.standardOutput = FileHandle.nullDevice
        sweep.standardError = FileHandle.nullDevice
        try sweep.run()
        defer {
            // Ctrl-C the sweep (it interrupts its cells), bounded; then kill it by its pid.
            kill(sweep.processIdentifier, SIGINT)
            let deadline = Date().addingTimeInterval(60)
            while sweep.isRunning && Date() < deadline { usleep(50_000) }
            if sweep.isRunning { kill(sweep.processIdentifier, SIGKILL) }
            sweep.waitUntilExit()
        }
        // Wait until every cell has logged an evaluation (its run file has eval rows).
        let deadline = Date().addingTimeInterval(90)
        func logged() -> Int {
            let ids = (try? FileManager.default.contentsOfDirectory(atPath: runs.path + "/livesweep")) ?? []
            return ids.filter { (try? String(contentsOfFile: "\(runs.path)/livesweep/\($0)/run.log", encoding: .utf8))?.contains("eval") == true }.count
        }
        while logged() < 4 && Date() < deadline { usleep(100_000) }
        #expect(logged() == 4, "the sweep's 4 cells did not all start evaluating within 90 s")

        let base = "http://127.0.0.1:\(server.port)"
        let profile = directory.appendingPathComponent("chromium-profile")
        let artifacts = TestEnvironment.packageRoot.appendingPathComponent("ci-artifacts/dashboard")

        // Home: the sweep with its 4 cells, running.
        let home = try Chromium.dom(base + "/", profile: profile)
        #expect(home.contains("data-loaded=\"yes\""), "the home page did not load its data")
        #expect(home.contains("data-sweep=\"livesweep\""))
        #expect(count(#"<tr class="cell" data-state="[a-z]+" data-index="\d""#, in: home) == 4, "\(home.suffix(3000))")
        #expect(count(#"<tr class="cell" data-state="running""#, in: home) == 4, "every cell should be running")
        try Chromium.screenshot(base + "/", to: artifacts.appendingPathComponent("home.png"), profile: profile, height: 700)

        // Sweep: a table row per group, an SVG path per curve (2 groups, train and eval), cells.
        let sweepURL = base + "/sweep?path=livesweep"
        let first = try Chromium.dom(sweepURL, profile: profile)
        #expect(first.contains("data-loaded=\"yes\""))
        #expect(count(#"<tr class="group-row">"#, in: first) == 2, "one table row per group")
        #expect(count(#"<tr class="cell" data-state="running""#, in: first) == 4)
        for chart in ["train-chart", "eval-chart"] {
            let element = svg(chart, in: first)
            #expect(count(#"<path[^>]*class="curve group-curve""#, in: element) == 2, "\(chart): one path per group curve")
            #expect(count(#"<path[^>]*class="band""#, in: element) == 2, "\(chart): a mean ± std band per group")
        }
        #expect(count(#"class="hline""#, in: svg("train-chart", in: first)) == 1, "the Bayes-optimum line")
        // The claim's verdict: nothing is complete while the sweep trains, so inconclusive.
        #expect(first.contains("data-claim=\"loss-free balances better\"") && first.contains("verdict-inconclusive"), "the claim's verdict")
        #expect(first.contains("data-section=\"claims\""), "the claims table")
        #expect(first.contains("fieldset data-key=\"model.ffn.moe.balance.loss_free.enabled\""), "the picker")
        let before = captures(#"data-last-step="(\d+)""#, in: svg("train-chart", in: first)).compactMap(Int.init)
        sleep(3)
        let second = try Chromium.dom(sweepURL, profile: profile)
        let after = captures(#"data-last-step="(\d+)""#, in: svg("train-chart", in: second)).compactMap(Int.init)
        #expect(before.count == 2 && after.count == 2, "\(before) \(after)")
        #expect(after.max() ?? 0 > before.max() ?? 0, "the curves must grow between two loads: \(before) → \(after)")
        // Single cells on demand: ?cells=0,3 draws those two cells' own curves (dashed) too.
        let withCells = try Chromium.dom(sweepURL + "&cells=0,3", profile: profile)
        #expect(count(#"<path[^>]*class="curve cell-curve""#, in: svg("train-chart", in: withCells)) == 2, "the two ticked cells")
        #expect(count(#"<path[^>]*class="curve cell-curve""#, in: svg("train-chart", in: second)) == 0, "no cell curve unless ticked")
        try Chromium.screenshot(sweepURL + "&cells=0", to: artifacts.appendingPathComponent("sweep.png"), profile: profile, height: 1400)

        // Run page of cell 2 (loss-free balancing): metrics, expert loads, MaxVio, biases, snapshots.
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: runs.appendingPathComponent("livesweep/sweep.json"))) as? [String: Any]
        let cell = try #require((manifest?["cells"] as? [[String: Any]])?[2]["run_id"] as? String)
        let runURL = base + "/run?path=livesweep/\(cell)"
        let run = try Chromium.dom(runURL, profile: profile)
        #expect(run.contains("data-loaded=\"yes\""))
        #expect(run.contains("data-state=\"running\""))
        #expect(count(#"<svg[^>]*class="chart heatmap load-map""#, in: run) == 2, "a load heatmap per MoE layer")
        #expect(count(#"<path[^>]*class="curve ""#, in: svg("maxvio-chart", in: run)) == 2, "MaxVio of both layers")
        #expect(count(#"class="chart spectrum""#, in: run) == 2, "the c_kv spectrum of both MLA layers")
        #expect(count(#"class="chart heatmap attention-map""#, in: run) == 2, "attention maps of heads 0 and 1")
        #expect(run.contains("balancing bias per expert"))
        #expect(run.contains(cell))
        try Chromium.screenshot(runURL, to: artifacts.appendingPathComponent("run.png"), profile: profile, height: 2600)
    }
}
