// RMSNorm over the last axis: y = x · rstd · w,  rstd = 1 / sqrt(mean(x², last axis) + eps).
//
//   x, y, dy, dx   [N, D] with row strides (elements; >= D, default D)
//   weight, dweight [D]
//   rstd           [N]   saved by the forward pass for the backward pass
import KernelCore
import Foundation

extension Kernels {
    /// Forward RMSNorm. `y` may alias `x` when the strides are equal (in place).
    public static func rmsNormForward(
        x: UnsafePointer<Float>, ldx: Int? = nil,
        weight: UnsafePointer<Float>,
        y: UnsafeMutablePointer<Float>, ldy: Int? = nil,
        rstd: UnsafeMutablePointer<Float>,
        rows n: Int, dim d: Int, eps: Float = 1e-6
    ) {
        let ldx = ldx ?? d, ldy = ldy ?? d
        let px = SendablePointer(x), pw = SendablePointer(weight)
        let py = SendablePointer(y), pr = SendablePointer(rstd)
        Parallel.for(n, grain: max(1, 8192 / max(d, 1))) { range in
            for i in range {
                let xr = px.p + i * ldx, yr = py.p + i * ldy
                let ss = Vec.dot(xr, xr, d)
                let r = 1 / (ss / Float(d) + eps).squareRoot()
                pr.p[i] = r
                let rv = F16(repeating: r)
                var j = 0
                while j + 16 <= d {
                    Vec.store16(Vec.load16(xr + j) * rv * Vec.load16(pw.p + j), yr + j)
                    j += 16
                }
                if j < d {
                    let c = d - j
                    Vec.storePartial(Vec.loadPartial(xr + j, c, fill: 0) * rv
                                 * Vec.loadPartial(pw.p + j, c, fill: 0), yr + j, c)
                }
            }
        }
    }

    /// Backward RMSNorm. Overwrites `dx` [N, D] and `dweight` [D]:
    ///   dx_j = r·w_j·dy_j − x_j · r³/D · Σ_k dy_k w_k x_k,     dweight_j = Σ_n dy_nj · x_nj · r_n.
    /// `dweight` is a reduction over rows: each thread owns a block of 16 columns and sums the
    /// rows in order, so the result does not depend on the thread count.
    public static func rmsNormBackward(
        dy: UnsafePointer<Float>, lddy: Int? = nil,
        x: UnsafePointer<Float>, ldx: Int? = nil,
        weight: UnsafePointer<Float>,
        rstd: UnsafePointer<Float>,
        dx: UnsafeMutablePointer<Float>, lddx: Int? = nil,
        dweight: UnsafeMutablePointer<Float>,
        rows n: Int, dim d: Int
    ) {
        let ldx = ldx ?? d, lddy = lddy ?? d, lddx = lddx ?? d
        let px = SendablePointer(x), pw = SendablePointer(weight), pdy = SendablePointer(dy)
        let pr = SendablePointer(rstd), pdx = SendablePointer(dx), pdw = SendablePointer(dweight)
        Parallel.for(n, grain: max(1, 4096 / max(d, 1))) { range in
            for i in range {
                let xr = px.p + i * ldx, gr = pdy.p + i * lddy, dxr = pdx.p + i * lddx
                let r = pr.p[i]
                // c = Σ_k dy_k w_k x_k
                var acc = F16()
                var j = 0
                while j + 16 <= d {
                    acc += Vec.load16(gr + j) * Vec.load16(pw.p + j) * Vec.load16(xr + j)
                    j += 16
                }
                if j < d {
                    let c = d - j
                    acc += Vec.loadPartial(gr + j, c, fill: 0) * Vec.loadPartial(pw.p + j, c, fill: 0)
                        * Vec.loadPartial(xr + j, c, fill: 0)
                }
                let coef = F16(repeating: Vec.hsum(acc) * (r * r * r) / Float(d))
                let rv = F16(repeating: r)
                j = 0
                while j + 16 <= d {
                    let v = rv * (Vec.load16(pw.p + j) * Vec.load16(gr + j)) - Vec.load16(xr + j) * coef
                    Vec.store16(v, dxr + j)
                    j += 16
                }
                if j < d {
                    let c = d - j
                    let v = rv * (Vec.loadPartial(pw.p + j, c, fill: 0) * Vec.loadPartial(gr + j, c, fill: 0))
                        - Vec.loadPartial(xr + j, c, fill: 0) * coef
                    Vec.storePartial(v, dxr + j, c)
                }
            }
        }
        // dweight: blocks of 16 columns, rows summed in order.
        let blocks = (d + 15) / 16
        Parallel.for(blocks, grain: max(1, 32768 / max(n * 16, 1))) { range in
            for blk in range {
                let j = blk * 16, c = min(16, d - j)
                var acc = F16()
                if c == 16 {
                    for i in 0..<n {
                        acc += Vec.load16(pdy.p + i * lddy + j) * Vec.load16(px.p + i * ldx + j)
                            * F16(repeating: pr.p[i])
                    }
                    Vec.store16(acc, pdw.p + j)
                } else {
                    for i in 0..<n {
                        acc += Vec.loadPartial(pdy.p + i * lddy + j, c, fill: 0)
                            * Vec.loadPartial(px.p + i * ldx + j, c, fill: 0) * F16(repeating: pr.p[i])
                    }
                    Vec.storePartial(acc, pdw.p + j, c)
                }
            }
        }
    }
}
