// SwiGLUCore: the SwiGLU gate's rows (Tensor/Kernels/Kernels+SwiGLU.swift has the layouts and
// the threading), compiled once per ISA path as AttentionCore is: σ(a) through VectorCore's
// `vexp`, the same operations in the same order on every path.

/// y = silu(a) ⊙ b for rows `rows` (row strides lda, ldb, ldy; `cols` per row).
@inlinable
public func swigluForwardRowsCore<L: GemmLanes>(
    _: L.Type, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    y: UnsafeMutablePointer<Float>, ldy: Int, rows: Range<Int>, cols f: Int
) {
    typealias Vec = VectorCore<L>
    for i in rows {
        let ar = a + i * lda, br = b + i * ldb, yr = y + i * ldy
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

/// da = dy·b·σ(a)·(1 + a·(1 − σ(a))), db = dy·silu(a) for rows `rows`; each element is read
/// before it is written, so da and db may alias a and b.
@inlinable
public func swigluBackwardRowsCore<L: GemmLanes>(
    _: L.Type, dy: UnsafePointer<Float>, lddy: Int, a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int, da: UnsafeMutablePointer<Float>, ldda: Int,
    db: UnsafeMutablePointer<Float>, lddb: Int, rows: Range<Int>, cols f: Int
) {
    typealias Vec = VectorCore<L>
    for i in rows {
        let ar = a + i * lda, br = b + i * ldb, gr = dy + i * lddy
        let dar = da + i * ldda, dbr = db + i * lddb
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
