import Analysis
import ArgumentParser
import Config
import Dashboard
import Experiments
import Foundation
import RunStore

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve a live dashboard of the runs and sweeps under RUNS_DIR (read-only).",
        discussion: """
        Open http://127.0.0.1:8080/ in a browser: the sweeps and single runs with each cell's state; \
        per sweep its loss curves (mean ± std over seeds), table and cells; per run its metrics, expert \
        loads, MaxVio, balancing biases and tensor snapshots. Pages update while runs train. Run files \
        are only read (without HDF5's file lock, so writers are never waited for), and only files under \
        RUNS_DIR are served. Listens on 127.0.0.1 unless --host says otherwise (docs/dashboard.md).
        """)

    @Argument(help: "Directory that holds runs (<runs>/<spec name>/…).")
    var runsDir = "runs"

    @Option(help: "TCP port (0: any free port, printed at start).")
    var port = 8080

    @Option(help: "Address to listen on. Anything but loopback exposes every run to the network.")
    var host = "127.0.0.1"

    func run() throws {
        // Run files being written by other processes are read without HDF5's file lock.
        setenv("HDF5_USE_FILE_LOCKING", "FALSE", 1)
        guard (0...65535).contains(port) else { throw fail("--port \(port) is not a TCP port (0–65535)", code: 2) }
        let dashboard: Dashboard
        do {
            dashboard = try Dashboard(root: runsDir, reader: isolatedReader(), tableSettings: Self.tableSettings)
        } catch {
            throw fail("\(error)", code: 2)
        }
        let server: HTTPServer
        do {
            server = try HTTPServer(host: host, port: port) { dashboard.handle($0) }
        } catch {
            throw fail("\(error)", code: 2)
        }
        if !Self.isLoopback(host) {
            FileHandle.standardError.write(Data("""
            warning: listening on \(host), not on loopback: anyone who can reach this machine on port \(server.port) \
            can read every run under \(dashboard.root) (there is no authentication)\n
            """.utf8))
        }
        // Ctrl-C and SIGTERM stop the server, whatever mask or dispositions the parent left.
        var stopSignals = sigset_t()
        sigemptyset(&stopSignals)
        for number in [SIGINT, SIGTERM, SIGHUP] {
            sigaddset(&stopSignals, number)
            signal(number, SIG_DFL)
        }
        pthread_sigmask(SIG_UNBLOCK, &stopSignals, nil)
        // Training processes come first: the dashboard yields the CPU to them.
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10)
        let shown = host.contains(":") ? "[\(host)]" : host
        FileHandle.standardOutput.write(Data("serving \(dashboard.root) at http://\(shown):\(server.port)/ (read-only; Ctrl-C stops)\n".utf8))
        if !FileManager.default.fileExists(atPath: runsDir) {
            FileHandle.standardOutput.write(Data("\(dashboard.waitingText)\n".utf8))
        }
        server.run()
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// The spec's `table` section, as `ablate table` uses it; defaults when the spec is gone.
    @Sendable static func tableSettings(_ manifest: SweepManifest) -> TableSettings {
        guard FileManager.default.fileExists(atPath: manifest.specFile),
              let spec = try? SpecLoader.load(manifest.specFile, overrides: manifest.overrides),
              let settings = try? spec.tableSettings() else { return TableSettings() }
        return settings
    }
}
