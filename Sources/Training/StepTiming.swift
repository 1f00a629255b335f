// How long a training step took, on the wall and on the CPU, and how long the process took to
// reach its first step. The CPU figure is the one a noisy host cannot move: the kernel charges a
// process only for the time it ran (with CONFIG_PARAVIRT_TIME_ACCOUNTING, time the hypervisor
// took away, steal, is not charged), while wall time includes every stall the host adds.
import Foundation
import Synchronization

/// Wall and CPU time of one training step as the loop measured it (batch generation, forward,
/// backward, clipping and the optimizer; not evaluation, logging or checkpoints).
public struct StepTiming: Sendable, Equatable {
    /// CLOCK_MONOTONIC seconds when the step began.
    public var started: Double
    /// The process's CPU time (since exec) when the step began.
    public var startedCPU: Double
    public var wallSeconds: Double
    /// CPU time of the whole process during the step: every thread, user + system. At 2 threads
    /// it includes a worker's spinning while it waits for the other.
    public var cpuSeconds: Double

    public init(started: Double, startedCPU: Double, wallSeconds: Double, cpuSeconds: Double) {
        self.started = started
        self.startedCPU = startedCPU
        self.wallSeconds = wallSeconds
        self.cpuSeconds = cpuSeconds
    }
}

public enum ProcessClock {
    /// CLOCK_MONOTONIC in seconds: the clock Python's time.monotonic() reads on Linux, so a
    /// launcher can time this process from its own start.
    public static func monotonic() -> Double { read(CLOCK_MONOTONIC) }

    /// CPU time the process has used so far, all threads, user + system.
    public static func cpu() -> Double { read(CLOCK_PROCESS_CPUTIME_ID) }

    private static func read(_ clock: clockid_t) -> Double {
        var ts = timespec()
        clock_gettime(clock, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// `monotonic()` when `ablate`'s main began (bit pattern; 0 = not marked, e.g. in tests).
    private static let launchedBits = Atomic<UInt64>(0)

    /// Called first thing in `ablate`'s main.
    public static func markLaunch() { launchedBits.store(monotonic().bitPattern, ordering: .relaxed) }

    /// When main began, if it was marked.
    public static var launched: Double? {
        let bits = launchedBits.load(ordering: .relaxed)
        return bits == 0 ? nil : Double(bitPattern: bits)
    }
}
