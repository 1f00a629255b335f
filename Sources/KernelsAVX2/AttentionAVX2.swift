// The AVX2 + FMA path's attention: AttentionCore's source compiled with this module's own
// -target-cpu (Package.swift), with GemmCore's Lanes8 lanes and this path's blocking.
import KernelCore

extension GemmAVX2 {
    /// One head's causal attention forward (see `attentionForwardHeadCore`).
    public static func attentionForwardHead(
        _ s: AttentionHeadShape, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        o: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>,
        headMax: UnsafeMutablePointer<Float>?, scratch: UnsafeMutablePointer<Float>
    ) {
        attentionForwardHeadCore(Lanes8.self, blocking, s, q: q, k: k, v: v, o: o, lse: lse,
                                 headMax: headMax, scratch: scratch)
    }

    /// One head's causal attention backward (see `attentionBackwardHeadCore`).
    public static func attentionBackwardHead(
        _ s: AttentionHeadShape, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        lse: UnsafePointer<Float>, dout: UnsafePointer<Float>,
        dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
        pBuf: UnsafeMutablePointer<Float>, dpBuf: UnsafeMutablePointer<Float>
    ) {
        attentionBackwardHeadCore(Lanes8.self, blocking, s, q: q, k: k, v: v, lse: lse, dout: dout,
                                  dq: dq, dk: dk, dv: dv, pBuf: pBuf, dpBuf: dpBuf)
    }

    /// One query block's probabilities (see `attentionProbBlockCore`).
    public static func attentionProbBlock(
        _ s: AttentionHeadShape, q: UnsafePointer<Float>, k: UnsafePointer<Float>, i0: Int, rows: Int, kEnd: Int,
        p: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>
    ) {
        attentionProbBlockCore(Lanes8.self, blocking, s, q: q, k: k, i0: i0, rows: rows, kEnd: kEnd,
                               p: p, lse: lse, fromLSE: false, rowMax: nil)
    }
}
