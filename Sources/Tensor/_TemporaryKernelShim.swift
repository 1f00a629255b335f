// TEMPORARY stand-in for the kernels colleague's API (Parallel, Kernels.gemm). Deleted when the
// `kernels` branch is merged.
import CBLAS
import Dispatch
import Foundation

public enum Kernels {}

public enum Parallel {
    public static var threads: Int {
        get { state.withLock { $0 } }
        set { state.withLock { $0 = max(1, newValue) } }
    }
    public static func withThreads<T>(_ n: Int, _ body: () throws -> T) rethrows -> T {
        exclusive.lock()
        defer { exclusive.unlock() }
        let saved = threads
        threads = n
        defer { threads = saved }
        return try body()
    }
    public static func `for`(_ n: Int, grain: Int = 1, _ body: @Sendable (Range<Int>) -> Void) {
        guard n > 0 else { return }
        let chunks = min(threads, max(1, n / max(1, grain)), n)
        if chunks <= 1 { body(0..<n); return }
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let lo = n * c / chunks, hi = n * (c + 1) / chunks
            if lo < hi { body(lo..<hi) }
        }
    }
    private static let state = LockedInt(ProcessInfo.processInfo.activeProcessorCount)
    private static let exclusive = NSRecursiveLock()
    static let blasSingleThreaded: Void = { openblas_set_num_threads(1) }()
}

final class LockedInt: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Int
    init(_ value: Int) { self.value = max(1, value) }
    func withLock<R>(_ body: (inout Int) -> R) -> R {
        lock.lock(); defer { lock.unlock() }
        return body(&value)
    }
}

@usableFromInline
struct SendablePointer<T>: @unchecked Sendable {
    @usableFromInline let p: UnsafeMutablePointer<T>
    @inlinable init(_ p: UnsafeMutablePointer<T>) { self.p = p }
    @inlinable init(_ p: UnsafePointer<T>) { self.p = UnsafeMutablePointer(mutating: p) }
}

extension Kernels {
    public static func gemm(
        transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int? = nil, b: UnsafePointer<Float>, ldb: Int? = nil,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int? = nil
    ) {
        _ = Parallel.blasSingleThreaded
        let lda = lda ?? (transA ? m : k), ldb = ldb ?? (transB ? k : n), ldc = ldc ?? n
        guard m > 0 && n > 0 else { return }
        if k == 0 {
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
            return
        }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
    public static func gemmBatched(
        transA: Bool = false, transB: Bool = false, batch: Int, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int? = nil, strideA: Int,
        b: UnsafePointer<Float>, ldb: Int? = nil, strideB: Int, beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int? = nil, strideC: Int
    ) {
        for i in 0..<batch {
            gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                 a: a + i * strideA, lda: lda, b: b + i * strideB, ldb: ldb, beta: beta,
                 c: c + i * strideC, ldc: ldc)
        }
    }
}
