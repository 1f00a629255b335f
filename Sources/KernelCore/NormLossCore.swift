// NormLossCore: the rows of RMSNorm and of the fused cross-entropy (Tensor/Kernels has the
// layouts, the threading and the cross-row reductions), compiled once per ISA path as
// AttentionCore is, with VectorCore's fixed-order helpers: the same bits on every path.

/// RMSNorm forward over rows `rows`: y = x · r · w with r = 1/sqrt(mean(x²) + eps), saved in rstd.
@inlinable
public func rmsNormForwardRowsCore<L: GemmLanes>(
    _: L.Type, x: UnsafePointer<Float>, ldx: Int, weight: UnsafePointer<Float>,
    y: UnsafeMutablePointer<Float>, ldy: Int, rstd: UnsafeMutablePointer<Float>,
    rows: Range<Int>, dim d: Int, eps: Float
) {
    typealias Vec = VectorCore<L>
    for i in rows {
        let xr = x + i * ldx, yr = y + i * ldy
        let ss = Vec.dot(xr, xr, d)
        let r = 1 / (ss / Float(d) + eps).squareRoot()
        rstd[i] = r
        let rv = F16(repeating: r)
        var j = 0
        while j + 16 <= d {
            Vec.store16(Vec.load16(xr + j) * rv * Vec.load16(weight + j), yr + j)
            j += 16
        }
        if j < d {
            let c = d - j
            Vec.storePartial(Vec.loadPartial(xr + j, c, fill: 0) * rv * Vec.loadPartial(weight + j, c, fill: 0), yr + j, c)
        }
    }
}

/// RMSNorm backward's dx over rows `rows`: dx_j = r·w_j·dy_j − x_j · r³/D · Σ_k dy_k w_k x_k.
@inlinable
public func rmsNormBackwardRowsCore<L: GemmLanes>(
    _: L.Type, dy: UnsafePointer<Float>, lddy: Int, x: UnsafePointer<Float>, ldx: Int,
    weight: UnsafePointer<Float>, rstd: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, lddx: Int,
    rows: Range<Int>, dim d: Int
) {
    typealias Vec = VectorCore<L>
    for i in rows {
        let xr = x + i * ldx, gr = dy + i * lddy, dxr = dx + i * lddx
        let r = rstd[i]
        var acc = F16()
        var j = 0
        while j + 16 <= d {
            acc += Vec.load16(gr + j) * Vec.load16(weight + j) * Vec.load16(xr + j)
            j += 16
        }
        if j < d {
            let c = d - j
            acc += Vec.loadPartial(gr + j, c, fill: 0) * Vec.loadPartial(weight + j, c, fill: 0) * Vec.loadPartial(xr + j, c, fill: 0)
        }
        let coef = F16(repeating: Vec.hsum(acc) * (r * r * r) / Float(d))
        let rv = F16(repeating: r)
        j = 0
        while j + 16 <= d {
            Vec.store16(rv * (Vec.load16(weight + j) * Vec.load16(gr + j)) - Vec.load16(xr + j) * coef, dxr + j)
            j += 16
        }
        if j < d {
            let c = d - j
            let v = rv * (Vec.loadPartial(weight + j, c, fill: 0) * Vec.loadPartial(gr + j, c, fill: 0))
                - Vec.loadPartial(xr + j, c, fill: 0) * coef
            Vec.storePartial(v, dxr + j, c)
        }
    }
}

/// RMSNorm backward's dweight for the 16-column blocks `blocks`: each block sums rows 0 ..< n in
/// order, dweight_j = Σ_n dy_nj · x_nj · r_n.
@inlinable
public func rmsNormWeightGradCore<L: GemmLanes>(
    _: L.Type, dy: UnsafePointer<Float>, lddy: Int, x: UnsafePointer<Float>, ldx: Int,
    rstd: UnsafePointer<Float>, dweight: UnsafeMutablePointer<Float>, blocks: Range<Int>, rows n: Int, dim d: Int
) {
    typealias Vec = VectorCore<L>
    for blk in blocks {
        let j = blk * 16, c = min(16, d - j)
        var acc = F16()
        if c == 16 {
            for i in 0..<n {
                acc += Vec.load16(dy + i * lddy + j) * Vec.load16(x + i * ldx + j) * F16(repeating: rstd[i])
            }
            Vec.store16(acc, dweight + j)
        } else {
            for i in 0..<n {
                acc += Vec.loadPartial(dy + i * lddy + j, c, fill: 0) * Vec.loadPartial(x + i * ldx + j, c, fill: 0)
                    * F16(repeating: rstd[i])
            }
            Vec.storePartial(acc, dweight + j, c)
        }
    }
}

/// Cross-entropy forward over rows `rows` of logits [N, V]: losses and lse per row (0 for rows
/// whose mask weight is 0; their targets are not read).
@inlinable
public func crossEntropyForwardRowsCore<L: GemmLanes>(
    _: L.Type, logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>, mask: UnsafePointer<Float>?,
    losses: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>, rows: Range<Int>, vocab v: Int
) {
    typealias Vec = VectorCore<L>
    for i in rows {
        let w: Float = mask?[i] ?? 1
        if w == 0 {
            losses[i] = 0
            lse[i] = 0
            continue
        }
        let t = Int(targets[i])
        precondition(t >= 0 && t < v, "crossEntropy: target \(t) of row \(i) outside 0..<\(v)")
        let xr = logits + i * v
        // loss = (max − x_t) + log Σ exp(x − max): no cancellation at |x| ~ 1e4.
        let (m, logSum) = Vec.logSumExpParts(xr, v)
        lse[i] = m + logSum
        losses[i] = (m - xr[t]) + logSum
    }
}

/// Cross-entropy backward over rows `rows`: dlogits_n = gradMean · w_n · invDen ·
/// (softmax(logits_n) − onehot(target_n)) from the forward's lse; 0 for rows with w_n = 0 or
/// invDen = 0. `dlogits` may alias `logits`.
@inlinable
public func crossEntropyBackwardRowsCore<L: GemmLanes>(
    _: L.Type, logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>, mask: UnsafePointer<Float>?,
    lse: UnsafePointer<Float>, gradMean: Float, invDen: Float, dlogits: UnsafeMutablePointer<Float>,
    rows: Range<Int>, vocab v: Int
) {
    typealias Vec = VectorCore<L>
    for i in rows {
        let w: Float = mask?[i] ?? 1
        let dr = dlogits + i * v
        if w == 0 || invDen == 0 {
            for j in 0..<v { dr[j] = 0 }
            continue
        }
        let xr = logits + i * v
        let coef = gradMean * w * invDen
        let cv = F16(repeating: coef), lv = F16(repeating: lse[i])
        Vec.forEach16(v) { j, c in
            let xv = c == 16 ? Vec.load16(xr + j) : Vec.loadPartial(xr + j, c, fill: 0)
            let out = Vec.vexp(xv - lv) * cv
            if c == 16 { Vec.store16(out, dr + j) } else { Vec.storePartial(out, dr + j, c) }
        }
        let t = Int(targets[i])
        dr[t] = (Vec.sexp(xr[t] - lse[i]) - 1) * coef
    }
}
