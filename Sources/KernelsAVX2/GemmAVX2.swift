// The AVX2 + FMA (x86-64-v3) path: GemmCore's source compiled with this module's own -target-cpu (Package.swift).
import KernelCore

public enum GemmAVX2 {
    /// Cache blocking of this path (speed only; bits never depend on it).
    public static let blocking = GemmBlocking(mc: 72, kc: 256, nc: 4096)

    /// Single-threaded GEMM with GemmCore's arithmetic (see GemmCore.swift).
    public static func serial(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        gemmSerialCore(Lanes8.self, blocking, transA: transA, transB: transB, m: m, n: n, k: k,
                       alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }

    /// One lane of a GEMM shared by several threads (see `gemmLaneCore`): the same bits.
    public static func lane(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int,
        rowBlock: Int, next: (Int) -> Int, done: (Int) -> Void
    ) {
        gemmLaneCore(Lanes8.self, blocking, transA: transA, transB: transB, m: m, n: n, k: k,
                     alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc,
                     rowBlock: rowBlock, next: next, done: done)
    }
}
