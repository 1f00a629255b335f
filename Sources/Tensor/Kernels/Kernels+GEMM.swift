// GEMM: row-major C = alpha·op(A)·op(B) + beta·C with the in-tree kernel (KernelCore/GemmCore.swift),
// on the ISA path chosen from CPUID (ISA.swift).
//
// Determinism. Every output element is one ascending-k fma chain (GemmCore.swift), so no block
// boundary, thread count or ISA path changes a bit. `gemm` still cuts C into a fixed partition
// of (M, N, K) — blocks of rows (or of columns, when N > M, so the smaller operand is the one
// re-packed per block), each one single-threaded `gemmSerial` — and `Parallel` hands out whole
// blocks: the partition decides speed only.

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
        let lda = lda ?? max(1, transA ? m : k)
        let ldb = ldb ?? max(1, transB ? k : n)
        let ldc = ldc ?? max(1, n)
        checkGemmArguments("gemm", transA: transA, transB: transB, m: m, n: n, k: k,
                           lda: lda, ldb: ldb, ldc: ldc)
        guard m > 0 && n > 0 else { return }
        let part = GemmPartition(m: m, n: n, k: k)
        let pa = SendablePointer(a), pb = SendablePointer(b), pc = SendablePointer(c)
        Parallel.for(part.count) { blocks in
            for blk in blocks {
                part.run(blk, transA: transA, transB: transB, k: k, alpha: alpha,
                         a: pa.p, lda: lda, b: pb.p, ldb: ldb, beta: beta, c: pc.p, ldc: ldc)
            }
        }
    }

    /// Strided batched GEMM: for every batch index `i` in 0..<batch,
    /// `C_i = alpha · op(A_i) · op(B_i) + beta · C_i` with `A_i = a + i·strideA`,
    /// `B_i = b + i·strideB`, `C_i = c + i·strideC` (strides in elements; a stride of 0 shares
    /// one matrix across the batch — allowed for A and B, not for C). Layout of each matrix as
    /// in `gemm`. The work units are (batch, block) pairs of the fixed partition, so results
    /// do not depend on the thread count.
    public static func gemmBatched(
        transA: Bool = false, transB: Bool = false,
        batch: Int, m: Int, n: Int, k: Int,
        alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int? = nil, strideA: Int,
        b: UnsafePointer<Float>, ldb: Int? = nil, strideB: Int,
        beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int? = nil, strideC: Int
    ) {
        let lda = lda ?? max(1, transA ? m : k)
        let ldb = ldb ?? max(1, transB ? k : n)
        let ldc = ldc ?? max(1, n)
        checkGemmArguments("gemmBatched", transA: transA, transB: transB, m: m, n: n, k: k,
                           lda: lda, ldb: ldb, ldc: ldc)
        precondition(batch >= 0, "gemmBatched: negative batch \(batch)")
        guard batch > 0 && m > 0 && n > 0 else { return }
        let part = GemmPartition(m: m, n: n, k: k)
        let pa = SendablePointer(a), pb = SendablePointer(b), pc = SendablePointer(c)
        // Work units: (batch, block) pairs, flattened; the same units for any thread count.
        Parallel.for(batch * part.count) { units in
            for u in units {
                let i = u / part.count
                part.run(u % part.count, transA: transA, transB: transB, k: k, alpha: alpha,
                         a: pa.p + i * strideA, lda: lda, b: pb.p + i * strideB, ldb: ldb,
                         beta: beta, c: pc.p + i * strideC, ldc: ldc)
            }
        }
    }

    /// Bad sizes are programming errors: fail loudly.
    static func checkGemmArguments(_ op: String, transA: Bool, transB: Bool, m: Int, n: Int,
                                   k: Int, lda: Int, ldb: Int, ldc: Int) {
        precondition(m >= 0 && n >= 0 && k >= 0, "\(op): negative size m=\(m) n=\(n) k=\(k)")
        precondition(lda >= max(1, transA ? m : k) && ldb >= max(1, transB ? k : n)
                     && ldc >= max(1, n),
                     "\(op): leading dimensions too small (m \(m) n \(n) k \(k) transA \(transA) "
                     + "transB \(transB) lda \(lda) ldb \(ldb) ldc \(ldc))")
    }
}

/// The fixed block partition of one GEMM's output: a function of (M, N, K) only.
struct GemmPartition: Sendable {
    /// true: blocks of rows of C; false: blocks of columns.
    let byRows: Bool
    /// Rows (or columns) per block, a multiple of 16 unless it is the whole extent.
    let size: Int
    let count: Int
    let m: Int
    let n: Int

    /// Products under 2 MFLOP are one block. Otherwise an even number of blocks, 2 to 8, of
    /// >= ~256 MFLOP each (about 2 ms on one core) and >= 64 rows (or columns) wide: every block
    /// re-packs the other operand, and on 2 cores fewer, bigger blocks won — a 2048×512×256
    /// product ran at 241 GFLOP/s with 2 blocks, 229 with 4, 220 with 8 (raw 2-thread OpenBLAS:
    /// 224–250), and 512×256×2048 (dW) lost 5 % on one thread with 4 blocks. The partition
    /// deliberately ignores the thread count and the core count, so every machine computes the
    /// same blocks (the price: products under ~1 GFLOP use at most 2 cores). The small end (2
    /// MFLOP, 64 wide; it was 8 MFLOP and 128) is for fine-grained MoE: with E = 64 experts of
    /// hidden 128, an expert sees ~64 tokens, and its 64×256×128 products (4 MFLOP, ~60 µs) ran
    /// on one core while the other waited. Split in two, `ablate bench moe` gave E = 64 / E = 8
    /// = 1.61× median against 1.70× over six alternating runs.
    init(m: Int, n: Int, k: Int) {
        self.m = m
        self.n = n
        byRows = m >= n
        let extent = byRows ? m : n
        let flops = 2 * m * n * max(k, 1)
        var blocks = flops < (1 << 21) ? 1 : min(8, max(2, flops >> 28), extent / 64)
        if blocks > 1 { blocks &= ~1 }
        if blocks <= 1 {
            size = extent
            count = 1
        } else {
            let raw = (extent + blocks - 1) / blocks
            size = (raw + 15) / 16 * 16
            count = (extent + size - 1) / size
        }
    }

    /// Runs block `blk` as one single-threaded sgemm.
    @inline(__always)
    func run(_ blk: Int, transA: Bool, transB: Bool, k: Int, alpha: Float,
             a: UnsafeMutablePointer<Float>, lda: Int, b: UnsafeMutablePointer<Float>, ldb: Int,
             beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        let lo = blk * size
        if byRows {
            let rows = min(size, m - lo)
            let aOff = transA ? lo : lo * lda
            Kernels.gemmSerial(transA: transA, transB: transB, m: rows, n: n, k: k, alpha: alpha,
                               a: a + aOff, lda: lda, b: b, ldb: ldb, beta: beta,
                               c: c + lo * ldc, ldc: ldc)
        } else {
            let cols = min(size, n - lo)
            let bOff = transB ? lo * ldb : lo
            Kernels.gemmSerial(transA: transA, transB: transB, m: m, n: cols, k: k, alpha: alpha,
                               a: a, lda: lda, b: b + bOff, ldb: ldb, beta: beta,
                               c: c + lo, ldc: ldc)
        }
    }
}
