// SwiGLU gate: y = silu(a) ⊙ b, silu(a) = a·σ(a), σ(a) = 1/(1 + e^(−a)).
//
//   a, b, y, da, db, dy   [N, F] with row strides (elements; >= F, default F), so a and b can
//                         be the two halves of one fused [N, 2F] projection.
// Backward: da = dy·b·σ(a)·(1 + a·(1 − σ(a))),  db = dy·silu(a).

import KernelCore

extension Kernels {
    /// Forward SwiGLU gate. `y` may alias `a` or `b` with equal strides. The rows run on the
    /// active ISA path (KernelCore's SwiGLUCore; the same bits on every path).
    public static func swigluForward(
        a: UnsafePointer<Float>, lda: Int? = nil,
        b: UnsafePointer<Float>, ldb: Int? = nil,
        y: UnsafeMutablePointer<Float>, ldy: Int? = nil,
        rows n: Int, cols f: Int
    ) {
        let lda = lda ?? f, ldb = ldb ?? f, ldy = ldy ?? f
        let pa = SendablePointer(a), pb = SendablePointer(b), py = SendablePointer(y)
        Parallel.for(n, grain: max(1, 8192 / max(f, 1))) { range in
            path.swigluForwardRows(a: pa.p, lda: lda, b: pb.p, ldb: ldb, y: py.p, ldy: ldy, rows: range, cols: f)
        }
    }

    /// Backward SwiGLU gate: overwrites `da` and `db` (which may alias `a` and `b`: each element
    /// is read before it is written).
    public static func swigluBackward(
        dy: UnsafePointer<Float>, lddy: Int? = nil,
        a: UnsafePointer<Float>, lda: Int? = nil,
        b: UnsafePointer<Float>, ldb: Int? = nil,
        da: UnsafeMutablePointer<Float>, ldda: Int? = nil,
        db: UnsafeMutablePointer<Float>, lddb: Int? = nil,
        rows n: Int, cols f: Int
    ) {
        let lda = lda ?? f, ldb = ldb ?? f, lddy = lddy ?? f
        let ldda = ldda ?? f, lddb = lddb ?? f
        let pa = SendablePointer(a), pb = SendablePointer(b), pdy = SendablePointer(dy)
        let pda = SendablePointer(da), pdb = SendablePointer(db)
        Parallel.for(n, grain: max(1, 4096 / max(f, 1))) { range in
            path.swigluBackwardRows(dy: pdy.p, lddy: lddy, a: pa.p, lda: lda, b: pb.p, ldb: ldb,
                                    da: pda.p, ldda: ldda, db: pdb.p, lddb: lddb, rows: range, cols: f)
        }
    }
}
