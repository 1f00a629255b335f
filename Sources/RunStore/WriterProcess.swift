// Which process writes a run file, so that a reader can tell a live run from a dead one. A run
// whose status is still `running` after its process was killed (SIGKILL, a trap, the OOM
// killer, power loss) is shown as "interrupted (process gone)" instead of running for ever.
//
// The writer records its pid, host name and the process start time (field 22 of
// /proc/<pid>/stat, clock ticks since boot) with the boot id, each time it creates or resumes the
// file. A pid alone would be ambiguous: pids are reused. Same host, same boot, a process with
// that pid and that start time: alive. Anything else on the same host: gone. On another host
// the reader cannot tell (liveness nil); Slurm's own view covers those.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public struct WriterProcess: Sendable, Equatable {
    public var pid: Int
    public var host: String
    /// Start time of the process in clock ticks since boot; -1 when unknown.
    public var startTicks: Int64
    /// /proc/sys/kernel/random/boot_id; "" when unknown.
    public var bootID: String
    /// How often Slurm requeued the job that writes it ($SLURM_RESTART_COUNT), 0 outside Slurm.
    public var requeues: Int

    public init(pid: Int, host: String, startTicks: Int64, bootID: String, requeues: Int) {
        self.pid = pid
        self.host = host
        self.startTicks = startTicks
        self.bootID = bootID
        self.requeues = requeues
    }

    /// This process.
    public static var current: WriterProcess {
        let pid = Int(getpid())
        return WriterProcess(pid: pid, host: hostName, startTicks: startTicks(of: pid) ?? -1, bootID: bootID,
                             requeues: ProcessInfo.processInfo.environment["SLURM_RESTART_COUNT"].flatMap(Int.init) ?? 0)
    }

    /// true: the writer is running; false: it is gone; nil: it runs (ran) on another host or
    /// the file does not say (written before these attributes existed).
    public var isAlive: Bool? {
        guard pid > 0, !host.isEmpty, host == Self.hostName else { return nil }
        if !bootID.isEmpty, bootID != Self.bootID { return false }   // the machine rebooted since
        guard let ticks = Self.startTicks(of: pid) else { return false }
        return startTicks < 0 || ticks == startTicks
    }

    static var hostName: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static var bootID: String {
        ((try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8)) ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Field 22 of /proc/<pid>/stat; nil when there is no such process. The command name (field
    /// 2) may hold spaces and parentheses, so fields are counted after its last ')'.
    static func startTicks(of pid: Int) -> Int64? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After ')': field 3 (state) is fields[0], so field 22 is fields[19].
        guard fields.count > 19 else { return nil }
        return Int64(fields[19])
    }
}

/// The process's peak resident memory (VmHWM in /proc/self/status).
public enum PeakMemory {
    public static var residentBytes: Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kilobytes = Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "") else { return nil }
        return kilobytes * 1024
    }
}

extension RunFileReader {
    /// The status as a reader should show it: a `running` file whose writer process is gone
    /// (same host, no such process) is interrupted. `processGone` says that this happened.
    public func liveStatus() throws -> (status: RunStatus, processGone: Bool, writer: WriterProcess?) {
        let stored = try status()
        let writer = try writerProcess()
        if stored == .running, writer?.isAlive == false { return (.interrupted, true, writer) }
        return (stored, false, writer)
    }
}
