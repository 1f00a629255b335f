// GEMM: row-major C = alpha·op(A)·op(B) + beta·C through OpenBLAS `cblas_sgemm`.
//
// OpenBLAS runs single-threaded (see Parallel.swift); `gemm` splits the M rows of C — and
// `gemmBatched` the batches, or the rows within a batch when there are fewer batches than
// threads — across `Parallel`. Each element of C is then computed by one single-threaded sgemm
// whose arithmetic (K blocking, micro-kernel order) does not depend on the split, which the
// tests check bitwise for threads 1 vs 2.
import CBLAS

extension Kernels {
    /// Row-major GEMM: `C[M, Nc] = alpha · op(A)[M, K] · op(B)[K, Nc] + beta · C`.
    ///
    /// - `transA == false`: A is stored [M, K] with row stride `lda` (>= K);
    ///   `transA == true`:  A is stored [K, M] with row stride `lda` (>= M), op(A) = Aᵀ.
    /// - `transB == false`: B is stored [K, Nc] with row stride `ldb` (>= Nc);
    ///   `transB == true`:  B is stored [Nc, K] with row stride `ldb` (>= K), op(B) = Bᵀ.
    /// - C is [M, Nc] with row stride `ldc` (>= Nc). With `beta == 0`, C is not read (NaN in
    ///   the old C does not propagate), as in BLAS.
    /// Transposes are flags: nothing is copied. `nil` leading dimensions mean "packed".
    public static func gemm(
        transA: Bool = false, transB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int? = nil,
        b: UnsafePointer<Float>, ldb: Int? = nil,
        beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int? = nil
    ) {
        let lda = lda ?? (transA ? m : k)
        let ldb = ldb ?? (transB ? k : n)
        let ldc = ldc ?? n
        precondition(m >= 0 && n >= 0 && k >= 0, "gemm: negative size m=\(m) n=\(n) k=\(k)")
        guard m > 0 && n > 0 else { return }
        let pa = SendablePointer(a), pb = SendablePointer(b), pc = SendablePointer(c)
        Parallel.for(m, grain: gemmRowGrain(n: n, k: k)) { rows in
            let aOff = transA ? rows.lowerBound : rows.lowerBound * lda
            gemmSerial(transA: transA, transB: transB, m: rows.count, n: n, k: k, alpha: alpha,
                       a: pa.p + aOff, lda: lda, b: pb.p, ldb: ldb, beta: beta,
                       c: pc.p + rows.lowerBound * ldc, ldc: ldc)
        }
    }

    /// Strided batched GEMM: for every batch index `i` in 0..<batch,
    /// `C_i = alpha · op(A_i) · op(B_i) + beta · C_i` with `A_i = a + i·strideA`,
    /// `B_i = b + i·strideB`, `C_i = c + i·strideC` (strides in elements; a stride of 0 shares
    /// one matrix across the batch — allowed for A and B, not for C). Layout of each matrix as
    /// in `gemm`. Batches are split across threads; when there are fewer batches than threads
    /// the rows of each batch are split instead (results are identical either way).
    public static func gemmBatched(
        transA: Bool = false, transB: Bool = false,
        batch: Int, m: Int, n: Int, k: Int,
        alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int? = nil, strideA: Int,
        b: UnsafePointer<Float>, ldb: Int? = nil, strideB: Int,
        beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int? = nil, strideC: Int
    ) {
        let lda = lda ?? (transA ? m : k)
        let ldb = ldb ?? (transB ? k : n)
        let ldc = ldc ?? n
        guard batch > 0 && m > 0 && n > 0 else { return }
        if batch < Parallel.threads {
            for i in 0..<batch {
                gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                     a: a + i * strideA, lda: lda, b: b + i * strideB, ldb: ldb, beta: beta,
                     c: c + i * strideC, ldc: ldc)
            }
            return
        }
        let pa = SendablePointer(a), pb = SendablePointer(b), pc = SendablePointer(c)
        let perBatch = max(1, 2 * m * n * max(k, 1))
        Parallel.for(batch, grain: max(1, (1 << 20) / perBatch)) { range in
            for i in range {
                gemmSerial(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                           a: pa.p + i * strideA, lda: lda, b: pb.p + i * strideB, ldb: ldb,
                           beta: beta, c: pc.p + i * strideC, ldc: ldc)
            }
        }
    }

    /// One single-threaded `cblas_sgemm` call (row-major); no splitting. For use inside an
    /// already parallel region (e.g. per-head attention blocks).
    @inline(__always)
    static func gemmSerial(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        _ = Parallel.blasSingleThreaded
        if k == 0 {
            // BLAS semantics: C = beta·C (and C is not read when beta == 0).
            for i in 0..<m {
                let row = c + i * ldc
                for j in 0..<n { row[j] = beta == 0 ? 0 : beta * row[j] }
            }
            return
        }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans,
                    transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb),
                    beta, c, Int32(ldc))
    }

    /// Minimum rows per thread: about 2^21 flops (~25 µs at 80 GFLOP/s) and at least 16 rows,
    /// so small products run inline and each split keeps the micro-kernel's full tiles busy.
    @inline(__always)
    static func gemmRowGrain(n: Int, k: Int) -> Int {
        max(16, (1 << 21) / max(1, 2 * n * max(k, 1)))
    }
}
