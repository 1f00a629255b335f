// Parallel: a tiny parallel-for over the machine's cores, used by every kernel in this folder.
//
// Determinism contract: `Parallel.for` hands out contiguous ranges of INDEPENDENT outputs. A body
// must compute every output element it owns completely, with an arithmetic order that does not
// depend on where its range starts or ends. Reductions across ranges are never split; so the
// thread count never changes a bit of any result.
//
import Dispatch
import Foundation
#if os(Linux)
import Synchronization
#endif

public enum Parallel {
    /// Process-wide worker count used by `Parallel.for` (>= 1). Defaults to the number of
    /// active processors. Setting it never changes results, only speed.
    public static var threads: Int {
        get { state.load() }
        set { state.store(max(1, newValue)) }
    }

    /// How long an idle worker thread busy-waits for the next `Parallel.for` before it sleeps,
    /// in microseconds (default 2000). Waking a sleeping worker took ~0.6 ms on the 2-vCPU VM
    /// this was tuned on — as long as a whole 2048×96×256 GEMM — so workers keep spinning
    /// through the short serial gaps between kernels. Set 0 to sleep at once (saves CPU when
    /// several processes share the cores).
    public static var spinMicroseconds: Int {
        get { spin.load() }
        set { spin.store(max(0, newValue)) }
    }

    /// Runs `body` with `threads` set to `n`, then restores the previous value. Calls are
    /// serialised process-wide by one lock, so tests that compare thread counts can run
    /// concurrently with each other without stepping on the setting. Do not call it from inside
    /// a `Parallel.for` body (a worker would wait for the lock its caller holds).
    public static func withThreads<T>(_ n: Int, _ body: () throws -> T) rethrows -> T {
        exclusive.lock()
        defer { exclusive.unlock() }
        let saved = threads
        threads = n
        defer { threads = saved }
        return try body()
    }

    /// Splits [0, n) into contiguous ranges of at least `grain` indices each (sizes differ by at
    /// most one index; up to 4 ranges per thread, so a late-waking worker costs at most one
    /// small range) and runs `body` on each range in parallel — on Linux
    /// through a pool of persistent worker threads (WorkerPool.swift explains why not
    /// `DispatchQueue.concurrentPerform`, which is used elsewhere). Runs inline, range after
    /// range in order, when `threads == 1`, when `n < 2 * grain`, when called from inside
    /// another `Parallel.for` body, or while another thread's `Parallel.for` is running.
    /// Returns after every range has finished.
    ///
    /// - Parameters:
    ///   - n: number of independent work items.
    ///   - grain: minimum number of items worth a thread of its own (choose it so that one
    ///     range is at least ~50 µs of work).
    ///   - body: computes the outputs of the items in its range, and only those.
    public static func `for`(_ n: Int, grain: Int = 1, _ body: @Sendable (Range<Int>) -> Void) {
        guard n > 0 else { return }
        let g = splitEverything.load() != 0 ? 1 : max(1, grain)
        let t = threads
        let chunks = t <= 1 ? 1 : min(4 * t, max(1, n / g), n)
        if chunks <= 1 {
            body(0..<n)
            return
        }
        #if os(Linux)
        func chunk(_ c: Int) {
            let lo = n * c / chunks
            let hi = n * (c + 1) / chunks
            if lo < hi { body(lo..<hi) }
        }
        if !WorkerPool.shared.run(count: chunks, threads: t, chunk) {
            for c in 0..<chunks { chunk(c) }
        }
        #else
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let lo = n * c / chunks
            let hi = n * (c + 1) / chunks
            if lo < hi { body(lo..<hi) }
        }
        #endif
    }

    /// Test hook: like `withThreads`, but also ignores every `grain`, so even tiny test shapes
    /// are split into `n` ranges (to prove that splitting never changes a bit).
    static func withThreadsSplittingEverything<T>(_ n: Int, _ body: () throws -> T) rethrows -> T {
        try withThreads(n) {
            splitEverything.store(1)
            defer { splitEverything.store(0) }
            return try body()
        }
    }

    // MARK: - Private state

    private static let splitEverything = SharedInt(0)
    private static let spin = SharedInt(2000)
    private static let state = SharedInt(max(1, ProcessInfo.processInfo.activeProcessorCount))
    private static let exclusive = NSRecursiveLock()
}

/// A process-wide Int setting (Swift 6: no unprotected global mutable state): an atomic on
/// Linux (read on every `Parallel.for`, so no lock there), a lock elsewhere.
final class SharedInt: @unchecked Sendable {
    #if os(Linux)
    private let value: Atomic<Int>
    init(_ value: Int) { self.value = Atomic(value) }
    @inline(__always) func load() -> Int { value.load(ordering: .acquiring) }
    @inline(__always) func store(_ v: Int) { value.store(v, ordering: .releasing) }
    #else
    private let lock = NSLock()
    private var value: Int
    init(_ value: Int) { self.value = value }
    func load() -> Int { lock.lock(); defer { lock.unlock() }; return value }
    func store(_ v: Int) { lock.lock(); value = v; lock.unlock() }
    #endif
}

/// Raw pointers made `Sendable` for `Parallel.for` closures. Safe here because every range of
/// a parallel loop writes disjoint memory (see the determinism contract above).
@usableFromInline
struct SendablePointer<T>: @unchecked Sendable {
    @usableFromInline let p: UnsafeMutablePointer<T>
    @inlinable init(_ p: UnsafeMutablePointer<T>) { self.p = p }
    @inlinable init(_ p: UnsafePointer<T>) { self.p = UnsafeMutablePointer(mutating: p) }
}
