// The AVX-512 path's attention and SwiGLU rows: AttentionCore's and SwiGLUCore's source compiled with this module's own
// -target-cpu (Package.swift), with GemmCore's Lanes16 lanes and this path's blocking.
import KernelCore

extension GemmAVX512 {
    /// One head's causal attention forward (see `attentionForwardHeadCore`).
    public static func attentionForwardHead(
        _ s: AttentionHeadShape, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        o: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>,
        headMax: UnsafeMutablePointer<Float>?, scratch: UnsafeMutablePointer<Float>
    ) {
        attentionForwardHeadCore(Lanes16.self, blocking, s, q: q, k: k, v: v, o: o, lse: lse,
                                 headMax: headMax, scratch: scratch)
    }

    /// One head's causal attention backward (see `attentionBackwardHeadCore`).
    public static func attentionBackwardHead(
        _ s: AttentionHeadShape, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        lse: UnsafePointer<Float>, dout: UnsafePointer<Float>,
        dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
        pBuf: UnsafeMutablePointer<Float>, dpBuf: UnsafeMutablePointer<Float>
    ) {
        attentionBackwardHeadCore(Lanes16.self, blocking, s, q: q, k: k, v: v, lse: lse, dout: dout,
                                  dq: dq, dk: dk, dv: dv, pBuf: pBuf, dpBuf: dpBuf)
    }

    /// One query block's probabilities (see `attentionProbBlockCore`).
    public static func attentionProbBlock(
        _ s: AttentionHeadShape, q: UnsafePointer<Float>, k: UnsafePointer<Float>, i0: Int, rows: Int, kEnd: Int,
        p: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>
    ) {
        attentionProbBlockCore(Lanes16.self, blocking, s, q: q, k: k, i0: i0, rows: rows, kEnd: kEnd,
                               p: p, lse: lse, fromLSE: false, rowMax: nil)
    }

    /// SwiGLU forward over some rows (see `swigluForwardRowsCore`).
    public static func swigluForwardRows(
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        y: UnsafeMutablePointer<Float>, ldy: Int, rows: Range<Int>, cols: Int
    ) {
        swigluForwardRowsCore(Lanes16.self, a: a, lda: lda, b: b, ldb: ldb, y: y, ldy: ldy, rows: rows, cols: cols)
    }

    /// SwiGLU backward over some rows (see `swigluBackwardRowsCore`).
    public static func swigluBackwardRows(
        dy: UnsafePointer<Float>, lddy: Int, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int, da: UnsafeMutablePointer<Float>, ldda: Int,
        db: UnsafeMutablePointer<Float>, lddb: Int, rows: Range<Int>, cols: Int
    ) {
        swigluBackwardRowsCore(Lanes16.self, dy: dy, lddy: lddy, a: a, lda: lda, b: b, ldb: ldb,
                               da: da, ldda: ldda, db: db, lddb: lddb, rows: rows, cols: cols)
    }
}
