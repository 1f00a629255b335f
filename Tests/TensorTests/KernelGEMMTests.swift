// GEMM wrapper tests: every transpose combination with padded leading dims, alpha/beta, the
// strided batched variant, and bitwise equality across thread counts.
import Testing
@testable import Tensor

@Suite("Kernel GEMM")
struct KernelGEMMTests {
    /// Runs Kernels.gemm on padded buffers and compares with the Double reference.
    func check(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, beta: Float,
               pad: Int, seed: UInt64) {
        var rng = TestRNG(seed)
        let lda = (transA ? m : k) + pad, ldb = (transB ? k : n) + pad, ldc = n + pad
        let a = rng.floats((transA ? k : m) * lda)
        let b = rng.floats((transB ? n : k) * ldb)
        var c = rng.floats(m * ldc)
        let want = Ref.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: Double(alpha),
                            a: toDouble(a), lda: lda, b: toDouble(b), ldb: ldb, beta: Double(beta),
                            c: toDouble(c), ldc: ldc)
        Kernels.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                     a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: &c, ldc: ldc)
        // float32 dot products of length k with |terms| <= 1: error ~ k·2^-24.
        expectClose(c, want, atol: 1e-5 * Double(k + 1), rtol: 1e-5,
                    "gemm tA=\(transA) tB=\(transB) \(m)x\(n)x\(k)")
    }

    @Test func allTransposesMatchReference() {
        for tA in [false, true] {
            for tB in [false, true] {
                check(transA: tA, transB: tB, m: 7, n: 5, k: 3, alpha: 1, beta: 0, pad: 0, seed: 1)
                check(transA: tA, transB: tB, m: 37, n: 91, k: 53, alpha: 0.5, beta: 1.5, pad: 3, seed: 2)
            }
        }
    }

    @Test func betaZeroIgnoresNaNInC() {
        let a: [Float] = [1, 2, 3, 4], b: [Float] = [1, 0, 0, 1]
        var c = [Float](repeating: .nan, count: 4)
        Kernels.gemm(m: 2, n: 2, k: 2, a: a, b: b, c: &c)
        #expect(c == [1, 2, 3, 4])
    }

    /// Empty products with default leading dims must not trip the argument checks.
    @Test func emptyShapesWithDefaults() {
        var c: [Float] = [1, 2, 3, 4]
        let empty: [Float] = [0]
        Kernels.gemm(m: 2, n: 2, k: 0, a: empty, b: empty, c: &c)
        #expect(c == [0, 0, 0, 0])
        Kernels.gemm(transA: true, transB: true, m: 0, n: 2, k: 3, a: empty, b: [1, 2, 3, 4, 5, 6], c: &c)
        Kernels.gemmBatched(batch: 0, m: 2, n: 2, k: 2, a: empty, strideA: 4, b: empty, strideB: 4,
                            c: &c, strideC: 4)
    }

    @Test func kZeroScalesC() {
        var c: [Float] = [1, 2, 3, 4]
        let empty: [Float] = [0]
        Kernels.gemm(m: 2, n: 2, k: 0, a: empty, lda: 1, b: empty, ldb: 2, beta: 2, c: &c)
        #expect(c == [2, 4, 6, 8])
    }

    @Test func batchedMatchesLoopOfGemm() {
        var rng = TestRNG(3)
        let (batch, m, n, k) = (5, 9, 6, 4)
        for (tA, tB) in [(false, false), (true, false), (false, true), (true, true)] {
            let a = rng.floats(batch * m * k), b = rng.floats(batch * k * n)
            var c = [Float](repeating: 0, count: batch * m * n)
            Kernels.gemmBatched(transA: tA, transB: tB, batch: batch, m: m, n: n, k: k,
                                a: a, strideA: m * k, b: b, strideB: k * n,
                                c: &c, strideC: m * n)
            var want = [Double]()
            for i in 0..<batch {
                want += Ref.gemm(transA: tA, transB: tB, m: m, n: n, k: k, alpha: 1,
                                 a: toDouble(Array(a[(i * m * k)..<((i + 1) * m * k)])), lda: tA ? m : k,
                                 b: toDouble(Array(b[(i * k * n)..<((i + 1) * k * n)])), ldb: tB ? k : n,
                                 beta: 0, c: [Double](repeating: 0, count: m * n), ldc: n)
            }
            expectClose(c, want, atol: 1e-5, rtol: 1e-5, "gemmBatched tA=\(tA) tB=\(tB)")
        }
        // A shared across the batch (strideA = 0).
        let a = rng.floats(m * k), b = rng.floats(batch * k * n)
        var c = [Float](repeating: 0, count: batch * m * n)
        Kernels.gemmBatched(batch: batch, m: m, n: n, k: k, a: a, strideA: 0, b: b, strideB: k * n,
                            c: &c, strideC: m * n)
        var c0 = [Float](repeating: 0, count: m * n)
        Kernels.gemm(m: m, n: n, k: k, a: a, b: Array(b[(2 * k * n)..<(3 * k * n)]), c: &c0)
        let same = bitsEqual(Array(c[(2 * m * n)..<(3 * m * n)]), c0)
        #expect(same)
    }
}
