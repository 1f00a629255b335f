// Softmax, log-softmax and cross-entropy fused with log-softmax, over the last axis.
//
//   x, y, dy, dx, logits, dlogits   [N, V] contiguous rows
//   lse                             [N]    log Σ_j exp(x_j) per row, saved for backward
//   targets                         [N]    Int32 class ids in 0..<V
//   mask                            [N]    float weights (0/1); nil = all ones
//
// Stability: every row is shifted by its max before exp, so logits of ±1e4 are fine. NaN in a
// row makes that row's outputs NaN (it enters the exp-sum), it is never hidden.
import KernelCore
import Foundation

extension Kernels {
    /// y = softmax(x) per row. `y` may alias `x`.
    public static func softmaxForward(
        x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, rows n: Int, cols v: Int
    ) {
        let px = SendablePointer(x), py = SendablePointer(y)
        Parallel.for(n, grain: max(1, 4096 / max(v, 1))) { range in
            for i in range {
                let xr = px.p + i * v, yr = py.p + i * v
                let m = Vec.rowMax(xr, v)
                let s = Vec.expShifted(xr, yr, v, shift: m)
                Vec.scaleRow(yr, v, by: 1 / s)
            }
        }
    }

    /// dx = y ⊙ (dy − Σ_j dy_j y_j) per row, from the forward output `y`. `dx` may alias `dy`.
    public static func softmaxBackward(
        y: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
        rows n: Int, cols v: Int
    ) {
        let py = SendablePointer(y), pdy = SendablePointer(dy), pdx = SendablePointer(dx)
        Parallel.for(n, grain: max(1, 4096 / max(v, 1))) { range in
            for i in range {
                let yr = py.p + i * v, gr = pdy.p + i * v, dr = pdx.p + i * v
                let s = F16(repeating: Vec.dot(yr, gr, v))
                Vec.forEach16(v) { j, c in
                    let yv = c == 16 ? Vec.load16(yr + j) : Vec.loadPartial(yr + j, c, fill: 0)
                    let gv = c == 16 ? Vec.load16(gr + j) : Vec.loadPartial(gr + j, c, fill: 0)
                    let out = yv * (gv - s)
                    if c == 16 { Vec.store16(out, dr + j) } else { Vec.storePartial(out, dr + j, c) }
                }
            }
        }
    }

    /// y = x − logsumexp(x) per row; also writes `lse` [N] when given. `y` may alias `x`.
    public static func logSoftmaxForward(
        x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
        lse: UnsafeMutablePointer<Float>? = nil, rows n: Int, cols v: Int
    ) {
        let px = SendablePointer(x), py = SendablePointer(y)
        let pl = lse.map { SendablePointer($0) }
        Parallel.for(n, grain: max(1, 4096 / max(v, 1))) { range in
            for i in range {
                let xr = px.p + i * v, yr = py.p + i * v
                let l = Vec.logSumExp(xr, v)
                pl?.p[i] = l
                let lv = F16(repeating: l)
                Vec.forEach16(v) { j, c in
                    if c == 16 {
                        Vec.store16(Vec.load16(xr + j) - lv, yr + j)
                    } else {
                        Vec.storePartial(Vec.loadPartial(xr + j, c, fill: 0) - lv, yr + j, c)
                    }
                }
            }
        }
    }

    /// dx = dy − exp(y) · Σ_j dy_j per row, from the forward output `y`. `dx` may alias `dy`.
    public static func logSoftmaxBackward(
        y: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
        rows n: Int, cols v: Int
    ) {
        let py = SendablePointer(y), pdy = SendablePointer(dy), pdx = SendablePointer(dx)
        Parallel.for(n, grain: max(1, 4096 / max(v, 1))) { range in
            for i in range {
                let yr = py.p + i * v, gr = pdy.p + i * v, dr = pdx.p + i * v
                let s = F16(repeating: Vec.rowSum(gr, v))
                Vec.forEach16(v) { j, c in
                    let yv = c == 16 ? Vec.load16(yr + j) : Vec.loadPartial(yr + j, c, fill: 0)
                    let gv = c == 16 ? Vec.load16(gr + j) : Vec.loadPartial(gr + j, c, fill: 0)
                    let out = gv - Vec.vexp(yv) * s
                    if c == 16 { Vec.store16(out, dr + j) } else { Vec.storePartial(out, dr + j, c) }
                }
            }
        }
    }

    /// Result of `crossEntropyForward`.
    public struct CrossEntropyResult: Sendable, Equatable {
        /// Σ_n w_n·loss_n / Σ_n w_n (0 when Σ w = 0).
        public var mean: Float
        /// Σ_n w_n, summed in row order in Double.
        public var weightSum: Float
    }

    /// Cross-entropy fused with log-softmax over logits [N, V]:
    ///   loss_n = w_n ≠ 0 ? logsumexp(logits_n) − logits_n[target_n] : 0,
    /// writes `losses` [N] and `lse` [N] (0 for rows with w_n = 0, whose targets are not read and
    /// may be invalid, e.g. −1 padding), and returns the weighted mean over rows.
    public static func crossEntropyForward(
        logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>,
        mask: UnsafePointer<Float>? = nil,
        losses: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>,
        rows n: Int, vocab v: Int
    ) -> CrossEntropyResult {
        let px = SendablePointer(logits), pt = SendablePointer(targets)
        let pm = mask.map { SendablePointer($0) }
        let pl = SendablePointer(losses), pe = SendablePointer(lse)
        Parallel.for(n, grain: max(1, 4096 / max(v, 1))) { range in
            path.crossEntropyForwardRows(logits: px.p, targets: pt.p, mask: pm?.p, losses: pl.p, lse: pe.p,
                                         rows: range, vocab: v)
        }
        // The only cross-row reduction: one thread, row order, Double.
        var num = 0.0, den = 0.0
        for i in 0..<n {
            let w = Double(mask?[i] ?? 1)
            if w == 0 { continue }
            num += w * Double(losses[i])
            den += w
        }
        return CrossEntropyResult(mean: den == 0 ? 0 : Float(num / den), weightSum: Float(den))
    }

    /// Gradient of `gradMean · mean loss` with respect to the logits (overwrites `dlogits`):
    ///   dlogits_n = gradMean · w_n / Σw · (softmax(logits_n) − onehot(target_n)),
    /// using `lse` from the forward pass; rows with w_n = 0 get 0. `dlogits` may alias `logits`.
    public static func crossEntropyBackward(
        logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>,
        mask: UnsafePointer<Float>? = nil, lse: UnsafePointer<Float>,
        gradMean: Float = 1,
        dlogits: UnsafeMutablePointer<Float>, rows n: Int, vocab v: Int
    ) {
        var den = 0.0
        for i in 0..<n { den += Double(mask?[i] ?? 1) }
        let invDen: Float = den == 0 ? 0 : Float(1 / den)
        let px = SendablePointer(logits), pt = SendablePointer(targets)
        let pm = mask.map { SendablePointer($0) }
        let pe = SendablePointer(lse), pd = SendablePointer(dlogits)
        Parallel.for(n, grain: max(1, 4096 / max(v, 1))) { range in
            path.crossEntropyBackwardRows(logits: px.p, targets: pt.p, mask: pm?.p, lse: pe.p, gradMean: gradMean,
                                          invDen: invDen, dlogits: pd.p, rows: range, vocab: v)
        }
    }
}
