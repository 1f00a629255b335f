// Parallel.for: coverage, contiguity, grain, nesting and concurrent callers (the worker pool
// must never lose or duplicate a range, deadlock, or leak a job into the next call).
import Dispatch
import Foundation
import Testing
@testable import Tensor

/// Per-index hit counters written from many threads.
final class HitCounter: @unchecked Sendable {
    let lock = NSLock()
    var hits: [Int]
    var ranges: [Range<Int>] = []
    init(_ n: Int) { hits = [Int](repeating: 0, count: n) }
    func record(_ r: Range<Int>) {
        lock.lock()
        for i in r { hits[i] += 1 }
        ranges.append(r)
        lock.unlock()
    }
}

@Suite("Kernel Parallel.for", .serialized)
struct KernelParallelTests {
    @Test func coversEveryIndexOnceInContiguousRanges() {
        for threads in [1, 2, 3, 5] {
            for n in [0, 1, 2, 3, 7, 100, 1001] {
                let counter = HitCounter(n)
                Parallel.withThreads(threads) {
                    Parallel.for(n) { r in counter.record(r) }
                }
                #expect(counter.hits.allSatisfy { $0 == 1 }, "threads \(threads) n \(n)")
                #expect(counter.ranges.count == (threads == 1 ? min(1, n) : min(4 * threads, n)))
                let sorted = counter.ranges.sorted { $0.lowerBound < $1.lowerBound }
                #expect(zip(sorted, sorted.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
            }
        }
    }

    @Test func grainKeepsSmallWorkInline() {
        let counter = HitCounter(100)
        Parallel.withThreads(2) {
            Parallel.for(100, grain: 64) { r in counter.record(r) }
        }
        #expect(counter.ranges == [0..<100])
    }

    @Test func nestedCallsRunAndCoverEverything() {
        let counter = HitCounter(40 * 40)
        Parallel.withThreads(2) {
            Parallel.for(40) { outer in
                for i in outer {
                    Parallel.for(40) { inner in
                        counter.record((i * 40 + inner.lowerBound)..<(i * 40 + inner.upperBound))
                    }
                }
            }
        }
        #expect(counter.hits.allSatisfy { $0 == 1 })
    }

    @Test func concurrentCallersFromManyThreads() {
        let counters = (0..<8).map { _ in HitCounter(500) }
        Parallel.withThreads(2) {
            DispatchQueue.concurrentPerform(iterations: 8) { t in
                for _ in 0..<50 {
                    let local = HitCounter(500)
                    Parallel.for(500) { r in local.record(r) }
                    if local.hits.allSatisfy({ $0 == 1 }) { counters[t].record(0..<1) }
                }
            }
        }
        #expect(counters.allSatisfy { $0.hits[0] == 50 })
    }
}
