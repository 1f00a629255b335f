// Every ISA path's entry points (KernelCore's `KernelPath`): the GEMM, attention, SwiGLU, RMSNorm
// and cross-entropy rows of KernelCore (GemmCore, AttentionCore, SwiGLUCore, NormLossCore),
// compiled with the including module's own -target-cpu (Package.swift). This one file is linked into KernelsAVX512, KernelsAVX2 and KernelsGeneric
// (Path.swift there is a symbolic link to it); each module names its enum `ThisPath` and its
// lanes `PathLanes`, with its cache blocking.
import KernelCore

extension ThisPath: KernelPath {
    /// Single-threaded GEMM with GemmCore's arithmetic (see GemmCore.swift).
    public static func serial(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        gemmSerialCore(PathLanes.self, blocking, transA: transA, transB: transB, m: m, n: n, k: k,
                       alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }

    /// One lane of a GEMM shared by several threads (see `gemmLaneCore`): the same bits.
    public static func lane(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int,
        rowBlock: Int, next: (Int) -> Int, done: (Int) -> Void
    ) {
        gemmLaneCore(PathLanes.self, blocking, transA: transA, transB: transB, m: m, n: n, k: k,
                     alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc,
                     rowBlock: rowBlock, next: next, done: done)
    }

    /// One head's causal attention forward (see `attentionForwardHeadCore`).
    public static func attentionForwardHead(
        _ s: AttentionHeadShape, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        o: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>,
        headMax: UnsafeMutablePointer<Float>?, scratch: UnsafeMutablePointer<Float>
    ) {
        attentionForwardHeadCore(PathLanes.self, blocking, s, q: q, k: k, v: v, o: o, lse: lse,
                                 headMax: headMax, scratch: scratch)
    }

    /// One head's causal attention backward (see `attentionBackwardHeadCore`).
    public static func attentionBackwardHead(
        _ s: AttentionHeadShape, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        lse: UnsafePointer<Float>, dout: UnsafePointer<Float>,
        dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
        pBuf: UnsafeMutablePointer<Float>, dpBuf: UnsafeMutablePointer<Float>
    ) {
        attentionBackwardHeadCore(PathLanes.self, blocking, s, q: q, k: k, v: v, lse: lse, dout: dout,
                                  dq: dq, dk: dk, dv: dv, pBuf: pBuf, dpBuf: dpBuf)
    }

    /// One query block's probabilities (see `attentionProbBlockCore`).
    public static func attentionProbBlock(
        _ s: AttentionHeadShape, q: UnsafePointer<Float>, k: UnsafePointer<Float>, i0: Int, rows: Int, kEnd: Int,
        p: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>
    ) {
        let kT = UnsafeMutablePointer<Float>.allocate(capacity: max(1, s.dqk * s.keys))
        defer { kT.deallocate() }
        attentionTransposeCore(k, ld: s.ldk, rows: s.keys, cols: s.dqk, into: kT)
        attentionProbBlockCore(PathLanes.self, blocking, s, q: q, kT: kT, i0: i0, rows: rows, kEnd: kEnd,
                               p: p, lse: lse, fromLSE: false, rowMax: nil)
    }

    /// SwiGLU forward over some rows (see `swigluForwardRowsCore`).
    public static func swigluForwardRows(
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        y: UnsafeMutablePointer<Float>, ldy: Int, rows: Range<Int>, cols: Int
    ) {
        swigluForwardRowsCore(PathLanes.self, a: a, lda: lda, b: b, ldb: ldb, y: y, ldy: ldy, rows: rows, cols: cols)
    }

    /// SwiGLU backward over some rows (see `swigluBackwardRowsCore`).
    public static func swigluBackwardRows(
        dy: UnsafePointer<Float>, lddy: Int, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int, da: UnsafeMutablePointer<Float>, ldda: Int,
        db: UnsafeMutablePointer<Float>, lddb: Int, rows: Range<Int>, cols: Int
    ) {
        swigluBackwardRowsCore(PathLanes.self, dy: dy, lddy: lddy, a: a, lda: lda, b: b, ldb: ldb,
                               da: da, ldda: ldda, db: db, lddb: lddb, rows: rows, cols: cols)
    }

    public static func rmsNormForwardRows(x: UnsafePointer<Float>, ldx: Int, weight: UnsafePointer<Float>,
                                          y: UnsafeMutablePointer<Float>, ldy: Int, rstd: UnsafeMutablePointer<Float>,
                                          rows: Range<Int>, dim: Int, eps: Float) {
        rmsNormForwardRowsCore(PathLanes.self, x: x, ldx: ldx, weight: weight, y: y, ldy: ldy, rstd: rstd,
                               rows: rows, dim: dim, eps: eps)
    }

    public static func rmsNormBackwardRows(dy: UnsafePointer<Float>, lddy: Int, x: UnsafePointer<Float>, ldx: Int,
                                           weight: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                                           dx: UnsafeMutablePointer<Float>, lddx: Int, rows: Range<Int>, dim: Int) {
        rmsNormBackwardRowsCore(PathLanes.self, dy: dy, lddy: lddy, x: x, ldx: ldx, weight: weight, rstd: rstd,
                                dx: dx, lddx: lddx, rows: rows, dim: dim)
    }

    public static func rmsNormWeightGrad(dy: UnsafePointer<Float>, lddy: Int, x: UnsafePointer<Float>, ldx: Int,
                                         rstd: UnsafePointer<Float>, dweight: UnsafeMutablePointer<Float>,
                                         blocks: Range<Int>, rows: Int, dim: Int) {
        rmsNormWeightGradCore(PathLanes.self, dy: dy, lddy: lddy, x: x, ldx: ldx, rstd: rstd, dweight: dweight,
                              blocks: blocks, rows: rows, dim: dim)
    }

    public static func crossEntropyForwardRows(logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>,
                                               mask: UnsafePointer<Float>?, losses: UnsafeMutablePointer<Float>,
                                               lse: UnsafeMutablePointer<Float>, rows: Range<Int>, vocab: Int) {
        crossEntropyForwardRowsCore(PathLanes.self, logits: logits, targets: targets, mask: mask, losses: losses,
                                    lse: lse, rows: rows, vocab: vocab)
    }

    public static func crossEntropyBackwardRows(logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>,
                                                mask: UnsafePointer<Float>?, lse: UnsafePointer<Float>, gradMean: Float,
                                                invDen: Float, dlogits: UnsafeMutablePointer<Float>, rows: Range<Int>, vocab: Int) {
        crossEntropyBackwardRowsCore(PathLanes.self, logits: logits, targets: targets, mask: mask, lse: lse,
                                     gradMean: gradMean, invDen: invDen, dlogits: dlogits, rows: rows, vocab: vocab)
    }

    public static func logs(_ x: UnsafeMutablePointer<Double>, count: Int) {
        VectorCore<PathLanes>.logs(x, count)
    }

    public static func adamwUpdate(p: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>?, m: UnsafeMutablePointer<Float>,
                                   v: UnsafeMutablePointer<Float>, range: Range<Int>, _ s: AdamWScalars) {
        adamwUpdateCore(PathLanes.self, p: p, g: g, m: m, v: v, range: range, s)
    }
}
