// WorkerPool: persistent worker threads behind `Parallel.for` on Linux.
//
// Why not DispatchQueue.concurrentPerform: measured on this 2-vCPU Linux VM (Swift 6.3.1,
// release), concurrentPerform(iterations: 2) of two 1.3 ms halves used a second thread in only
// 17 of 50 calls and was no faster than running both halves serially (libdispatch's Linux
// thread pool wakes workers too late; the calling thread takes every iteration itself). Sub-ms
// halves never ran in parallel. A pool of persistent threads that spin briefly before sleeping
// starts a second core within microseconds.
//
// Protocol (all atomics sequentially consistent):
//   caller  publishes a job box in `slot`, wakes sleepers, runs chunks itself (claimed through
//           the box's `next` counter), waits until `done == count`, clears `slot`, then waits
//           until no worker is still inside (`active == 0`) before the box may die.
//   worker  `active += 1`, loads `slot`; if a job is there, claims chunks until none are left;
//           `active -= 1`. Spins `Parallel.spinMicroseconds` for new work, then sleeps on a
//           condition variable (waking a sleeping worker took ~0.6 ms on this VM).
// One job runs at a time; a `Parallel.for` issued while the pool is busy (nested inside a body,
// or from another thread) runs inline. Which thread runs a chunk never changes its result.
#if os(Linux)
import CPUFeatures
import Foundation
import Synchronization

final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool()

    final class Job: @unchecked Sendable {
        let body: (Int) -> Void
        let count: Int
        let next = Atomic<Int>(0)
        let done = Atomic<Int>(0)
        init(count: Int, body: @escaping (Int) -> Void) {
            self.count = count
            self.body = body
        }
        /// Claims and runs chunks until none are left.
        func work() {
            while true {
                let c = next.wrappingAdd(1, ordering: .sequentiallyConsistent).oldValue
                if c >= count { return }
                body(c)
                done.wrappingAdd(1, ordering: .sequentiallyConsistent)
            }
        }
    }

    /// Bits of an `Unmanaged<Job>` pointer, or 0.
    private let slot = Atomic<Int>(0)
    /// Workers currently between `active += 1` and `active -= 1`.
    private let active = Atomic<Int>(0)
    /// Set while a job is in flight (one at a time).
    private let busy = Atomic<Bool>(false)
    /// Bumped on every publish; sleepers wait for a change.
    private let generation = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let condition = NSCondition()
    /// Number of started workers (guarded by `condition`).
    private var workers = 0

    /// Runs `body(c)` for every c in 0..<count on up to `threads` threads (the caller included).
    /// Returns false (having run nothing) when the pool is busy; the caller then runs inline.
    func run(count: Int, threads: Int, _ body: (Int) -> Void) -> Bool {
        // Workers beyond `threads - 1` may exist (a larger setting earlier); chunks are claimed
        // dynamically, so they only make the job finish sooner.
        guard busy.compareExchange(expected: false, desired: true,
                                   ordering: .sequentiallyConsistent).exchanged else { return false }
        defer { busy.store(false, ordering: .sequentiallyConsistent) }
        ensureWorkers(threads - 1)
        withoutActuallyEscaping(body) { escapable in
            runJob(Job(count: count, body: escapable))
        }
        return true
    }

    private func runJob(_ job: Job) {
        let ptr = Unmanaged.passUnretained(job).toOpaque()
        slot.store(Int(bitPattern: ptr), ordering: .sequentiallyConsistent)
        generation.wrappingAdd(1, ordering: .sequentiallyConsistent)
        if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
            condition.lock()
            condition.broadcast()
            condition.unlock()
        }
        job.work()
        while job.done.load(ordering: .sequentiallyConsistent) < job.count { spinPause() }
        slot.store(0, ordering: .sequentiallyConsistent)
        while active.load(ordering: .sequentiallyConsistent) > 0 { spinPause() }
    }

    private func ensureWorkers(_ n: Int) {
        condition.lock()
        defer { condition.unlock() }
        while workers < n {
            workers += 1
            let t = Thread { [unowned self] in self.workerLoop() }
            t.name = "ablate-worker-\(workers)"
            t.start()
        }
    }

    private func workerLoop() {
        var seen = generation.load(ordering: .sequentiallyConsistent)
        while true {
            // Spin for a while waiting for a new generation, then sleep.
            var spins = 0
            var deadline: UInt64 = 0
            let spinNanos = UInt64(Parallel.spinMicroseconds) * 1000
            while generation.load(ordering: .sequentiallyConsistent) == seen {
                spins += 1
                if spins & 63 == 0 {
                    let now = DispatchTime.now().uptimeNanoseconds
                    if deadline == 0 {
                        deadline = now + spinNanos
                    } else if now > deadline {
                        condition.lock()
                        sleepers.wrappingAdd(1, ordering: .sequentiallyConsistent)
                        while generation.load(ordering: .sequentiallyConsistent) == seen {
                            condition.wait()
                        }
                        sleepers.wrappingSubtract(1, ordering: .sequentiallyConsistent)
                        condition.unlock()
                        break
                    }
                }
                spinPause()
            }
            seen = generation.load(ordering: .sequentiallyConsistent)
            active.wrappingAdd(1, ordering: .sequentiallyConsistent)
            let bits = slot.load(ordering: .sequentiallyConsistent)
            if bits != 0 {
                let job = Unmanaged<Job>.fromOpaque(UnsafeRawPointer(bitPattern: bits)!)
                job._withUnsafeGuaranteedRef { $0.work() }
            }
            active.wrappingSubtract(1, ordering: .sequentiallyConsistent)
        }
    }
}

@inline(__always)
private func spinPause() {
    // Swift has no PAUSE intrinsic; the C target provides one (a no-op off x86).
    ablate_cpu_relax()
}
#endif
