// SwiGLU gate: y = silu(a) ⊙ b, silu(a) = a·σ(a), σ(a) = 1/(1 + e^(−a)).
//
//   a, b, y, da, db, dy   [N, F] with row strides (elements; >= F, default F), so a and b can
//                         be the two halves of one fused [N, 2F] projection.
// Backward: da = dy·b·σ(a)·(1 + a·(1 − σ(a))),  db = dy·silu(a).

import KernelCore
extension Kernels {
    /// Forward SwiGLU gate. `y` may alias `a` or `b` with equal strides.
    public static func swigluForward(
        a: UnsafePointer<Float>, lda: Int? = nil,
        b: UnsafePointer<Float>, ldb: Int? = nil,
        y: UnsafeMutablePointer<Float>, ldy: Int? = nil,
        rows n: Int, cols f: Int
    ) {
        let lda = lda ?? f, ldb = ldb ?? f, ldy = ldy ?? f
        let pa = SendablePointer(a), pb = SendablePointer(b), py = SendablePointer(y)
        Parallel.for(n, grain: max(1, 8192 / max(f, 1))) { range in
            for i in range {
                let ar = pa.p + i * lda, br = pb.p + i * ldb, yr = py.p + i * ldy
                var j = 0
                while j < f {
                    let c = min(16, f - j)
                    let av = c == 16 ? Vec.load16(ar + j) : Vec.loadPartial(ar + j, c, fill: 0)
                    let bv = c == 16 ? Vec.load16(br + j) : Vec.loadPartial(br + j, c, fill: 0)
                    let s = 1 / (1 + Vec.vexp(-av))
                    let v = av * s * bv
                    if c == 16 { Vec.store16(v, yr + j) } else { Vec.storePartial(v, yr + j, c) }
                    j += 16
                }
            }
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
            for i in range {
                let ar = pa.p + i * lda, br = pb.p + i * ldb, gr = pdy.p + i * lddy
                let dar = pda.p + i * ldda, dbr = pdb.p + i * lddb
                var j = 0
                while j < f {
                    let c = min(16, f - j)
                    let av = c == 16 ? Vec.load16(ar + j) : Vec.loadPartial(ar + j, c, fill: 0)
                    let bv = c == 16 ? Vec.load16(br + j) : Vec.loadPartial(br + j, c, fill: 0)
                    let gv = c == 16 ? Vec.load16(gr + j) : Vec.loadPartial(gr + j, c, fill: 0)
                    let s = 1 / (1 + Vec.vexp(-av))
                    let silu = av * s
                    let dav = gv * bv * (s * (1 + av * (1 - s)))
                    let dbv = gv * silu
                    if c == 16 {
                        Vec.store16(dav, dar + j); Vec.store16(dbv, dbr + j)
                    } else {
                        Vec.storePartial(dav, dar + j, c); Vec.storePartial(dbv, dbr + j, c)
                    }
                    j += 16
                }
            }
        }
    }
}
