// RMSNorm over the last axis: y = x · rstd · w,  rstd = 1 / sqrt(mean(x², last axis) + eps).
//
//   x, y, dy, dx   [N, D] with row strides (elements; >= D, default D)
//   weight, dweight [D]
//   rstd           [N]   saved by the forward pass for the backward pass
// The rows run on the active ISA path (KernelCore's NormLossCore).
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
            path.rmsNormForwardRows(x: px.p, ldx: ldx, weight: pw.p, y: py.p, ldy: ldy, rstd: pr.p,
                                    rows: range, dim: d, eps: eps)
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
            path.rmsNormBackwardRows(dy: pdy.p, lddy: lddy, x: px.p, ldx: ldx, weight: pw.p, rstd: pr.p,
                                     dx: pdx.p, lddx: lddx, rows: range, dim: d)
        }
        // dweight: blocks of 16 columns, rows summed in order.
        let blocks = (d + 15) / 16
        Parallel.for(blocks, grain: max(1, 32768 / max(n * 16, 1))) { range in
            path.rmsNormWeightGrad(dy: pdy.p, lddy: lddy, x: px.p, ldx: ldx, rstd: pr.p, dweight: pdw.p,
                                   blocks: range, rows: n, dim: d)
        }
    }
}
