// GEMM: row-major C = alpha·op(A)·op(B) + beta·C with the in-tree kernel (KernelCore/GemmCore.swift),
// on the ISA path chosen from CPUID (ISA.swift).
//
// Determinism. Every output element is one ascending-k fma chain (GemmCore.swift), so no block
// boundary, thread count or ISA path changes a bit. How a product is split decides speed only:
// - at least as many rows as columns (and big enough to split): the threads share it in row
//   blocks claimed one at a time (`gemmShared`), each thread packing its own copy of B;
// - otherwise a fixed partition of (M, N, K) — blocks of columns (or of rows), each one
//   single-threaded `gemmSerial` — of which `Parallel` hands out whole blocks.
import CPUFeatures
import Synchronization

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
        if gemmShared(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                      b: b, ldb: ldb, beta: beta, c: c, ldc: ldc) { return }
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
        if batch == 1 && gemmShared(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                                    b: b, ldb: ldb, beta: beta, c: c, ldc: ldc) { return }
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

    /// Runs a GEMM on all threads as row blocks claimed one at a time, when it is big enough to
    /// split and has at least as many rows as columns; returns false (nothing done) otherwise,
    /// and the caller uses the fixed partition. Each thread packs its own copy of B and takes
    /// the next free block of rows, so a thread that starts late or runs slow gets fewer
    /// blocks instead of making the others wait for its half (the main thread waited ~8 % of
    /// a step for the worker's half of a 2-block partition). Which thread computes a row
    /// changes nothing: every element is the same fma chain wherever it is computed.
    static func gemmShared(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) -> Bool {
        let threads = Parallel.threads
        guard threads > 1, k > 0, m >= n, 2 * m * n * k >= 1 << 21,
              beta == 0 || beta == 1, alpha == 1 || beta == 0 else { return false }
        let pa = SendablePointer(a), pb = SendablePointer(b), pc = SendablePointer(c)
        // Blocks of 12 to 72 rows (a multiple of the 6-row tile), about 4 per thread.
        let perThread = (m + 4 * threads - 1) / (4 * threads)
        let rowBlock = min(72, max(12, (perThread + 5) / 6 * 6))
        let blocks = (m + rowBlock - 1) / rowBlock
        guard blocks >= 2 else { return false }
        let board = GemmLaneBoard(blocks: blocks, lanes: threads, stages: gemmBlocking.stages(n: n, k: k))
        Parallel.for(threads) { lanes in
            for lane in lanes {
                gemmLane(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: pa.p, lda: lda,
                         b: pb.p, ldb: ldb, beta: beta, c: pc.p, ldc: ldc, rowBlock: rowBlock,
                         next: { board.next(lane: lane, stage: $0) }, done: board.done)
            }
        }
        return true
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

/// The shared state of one GEMM run by `Kernels.gemmShared`. The row blocks are cut into one
/// contiguous range per lane; in every stage (a column block × K block of B) a lane takes
/// blocks from the front of its own range, then from the back of the others' — so each
/// thread mostly works on the same rows in every stage and as the op before it (whose
/// outputs sit in its cache), and a late or slow thread just ends up with fewer blocks.
/// Per row block it also counts the stages finished (a stage continues the chains in C).
final class GemmLaneBoard: @unchecked Sendable {
    private let blocks: Int
    private let lanes: Int
    private let stages: Int
    /// [stage][lane]: (front << 32) | back, the unclaimed blocks front ..< back of that range.
    private let ranges: UnsafeMutablePointer<Atomic<UInt64>>
    private let progress: UnsafeMutablePointer<Atomic<Int>>

    init(blocks: Int, lanes: Int, stages: Int) {
        self.blocks = blocks
        self.lanes = lanes
        self.stages = stages
        ranges = .allocate(capacity: stages * lanes)
        progress = .allocate(capacity: blocks)
        for s in 0..<stages {
            for l in 0..<lanes {
                let lo = UInt64(blocks * l / lanes), hi = UInt64(blocks * (l + 1) / lanes)
                (ranges + s * lanes + l).initialize(to: Atomic(lo << 32 | hi))
            }
        }
        for b in 0..<blocks { (progress + b).initialize(to: Atomic(0)) }
    }

    deinit {
        ranges.deinitialize(count: stages * lanes)
        progress.deinitialize(count: blocks)
        ranges.deallocate()
        progress.deallocate()
    }

    /// The next row block of `stage` for `lane`, once its previous stage is done; −1 when every
    /// block of the stage is taken.
    func next(lane: Int, stage: Int) -> Int {
        var blk = -1
        for step in 0..<lanes {
            let r = (lane + step) % lanes
            let word = ranges + stage * lanes + r
            var old = word.pointee.load(ordering: .relaxed)
            while true {
                let front = old >> 32, back = old & 0xFFFF_FFFF
                if front >= back { break }
                // Own range: from the front; another lane's: from the back.
                let new = step == 0 ? (front + 1) << 32 | back : front << 32 | (back - 1)
                let (done, current) = word.pointee.compareExchange(expected: old, desired: new, ordering: .relaxed)
                if done { blk = Int(step == 0 ? front : back - 1); break }
                old = current
            }
            if blk >= 0 { break }
        }
        if blk < 0 { return -1 }
        while progress[blk].load(ordering: .acquiring) < stage { ablate_cpu_relax() }
        return blk
    }

    /// Row block `blk` has finished its current stage (its C rows are written).
    func done(_ blk: Int) {
        progress[blk].wrappingAdd(1, ordering: .releasing)
    }
}

