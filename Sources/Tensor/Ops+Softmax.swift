// Softmax, log-softmax (last axis) and cross-entropy with a target mask fused with log-softmax.
//
// Gradient rules (per row, y = result):
//   softmax:      gx = y ⊙ (g − Σ g⊙y)
//   log-softmax:  gx = g − softmax(x) · Σ g
//   cross-entropy: loss = Σ_i m_i (logsumexp(x_i) − x_i[t_i]) / Σ_i m_i;
//                  gx_i = g · m_i / Σm · (softmax(x_i) − onehot(t_i))
// Rows are independent, so threads split rows. Every row subtracts its max first, so logits of
// ±1e4 are exact to float rounding.
import Foundation

/// Minimum rows per thread for row-wise kernels of width `n`.
@inline(__always) func rowGrain(_ n: Int) -> Int { max(1, (1 << 14) / max(1, n)) }

extension Tensor {
    /// Softmax over the last axis.
    public func softmax() -> Tensor {
        rowwiseSoftmax(log: false)
    }

    /// Log-softmax over the last axis.
    public func logSoftmax() -> Tensor {
        rowwiseSoftmax(log: true)
    }

    private func rowwiseSoftmax(log: Bool) -> Tensor {
        require(rank >= 1, "\(log ? "logSoftmax" : "softmax"): needs rank >= 1, got shape \(shape)")
        let n = shape[rank - 1], rows = n == 0 ? 0 : count / n
        var out = Tensor(uninitialized: shape)
        let px = SendablePointer(ptr), po = SendablePointer(out.ptr)
        Parallel.for(rows, grain: rowGrain(n)) { range in
            for r in range {
                let x = px.p + r * n, y = po.p + r * n
                var mx = -Float.infinity
                for j in 0..<n where !(x[j] <= mx) { mx = x[j] }   // NaN wins: it propagates
                var s: Float = 0
                for j in 0..<n { s += Foundation.exp(x[j] - mx) }
                if log {
                    let lse = mx + Foundation.log(s)
                    for j in 0..<n { y[j] = x[j] - lse }
                } else {
                    let inv = 1 / s
                    for j in 0..<n { y[j] = Foundation.exp(x[j] - mx) * inv }
                }
            }
        }
        if Tensor.recording(self) {
            let yv = out.detached()
            out.record([self]) { g, node in
                guard let gx = node.inputGrad(0) else { return }
                let pg = SendablePointer(g), py = SendablePointer(yv.ptr), pgx = SendablePointer(gx)
                Parallel.for(rows, grain: rowGrain(n)) { range in
                    for r in range {
                        let g = pg.p + r * n, y = py.p + r * n, gx = pgx.p + r * n
                        if log {
                            var s: Float = 0
                            for j in 0..<n { s += g[j] }
                            for j in 0..<n { gx[j] += g[j] - Foundation.exp(y[j]) * s }
                        } else {
                            var s: Float = 0
                            for j in 0..<n { s += g[j] * y[j] }
                            for j in 0..<n { gx[j] += y[j] * (g[j] - s) }
                        }
                    }
                }
            }
        }
        return out
    }

    /// Mean cross-entropy of `logits` [..., V] against `targets` [...] over the positions where
    /// `mask` [...] is non-zero (weights; nil = all positions). A scalar. With no target
    /// positions the loss is 0 (and so is its gradient).
    public static func crossEntropy(logits: Tensor, targets: IntTensor, mask: Tensor? = nil) -> Tensor {
        require(logits.rank >= 1, "crossEntropy: logits need rank >= 1, got shape \(logits.shape)")
        let lead = Array(logits.shape.dropLast())
        checked { try Shapes.same("crossEntropy", lead, targets.shape) }
        if let mask { checked { try Shapes.same("crossEntropy", targets.shape, mask.shape) } }
        let v = logits.shape[logits.rank - 1], rows = targets.count
        for t in targets.scalars where t < 0 || Int(t) >= v {
            fatalError("crossEntropy: target \(t) out of range for logits of shape \(logits.shape)")
        }
        let weights: [Float] = mask?.scalars ?? [Float](repeating: 1, count: rows)
        var total: Float = 0
        for w in weights { total += w }
        let scale: Float = total == 0 ? 0 : 1 / total
        // Per-row losses and logsumexps, rows in parallel; the sum over rows is serial.
        var rowLoss = [Float](repeating: 0, count: rows)
        var lse = [Float](repeating: 0, count: rows)
        let tg = targets.scalars
        rowLoss.withUnsafeMutableBufferPointer { rl in
            lse.withUnsafeMutableBufferPointer { ls in
                tg.withUnsafeBufferPointer { tb in
                    let px = SendablePointer(logits.ptr), prl = SendablePointer(rl.baseAddress!)
                    let pls = SendablePointer(ls.baseAddress!)
                    let pt = SendablePointer(UnsafeMutablePointer(mutating: tb.baseAddress!))
                    Parallel.for(rows, grain: rowGrain(v)) { range in
                        for r in range {
                            let x = px.p + r * v
                            var mx = -Float.infinity
                            for j in 0..<v where !(x[j] <= mx) { mx = x[j] }
                            var s: Float = 0
                            for j in 0..<v { s += Foundation.exp(x[j] - mx) }
                            let l = mx + Foundation.log(s)
                            pls.p[r] = l
                            prl.p[r] = l - x[Int(pt.p[r])]
                        }
                    }
                }
            }
        }
        var loss: Float = 0
        for r in 0..<rows where weights[r] != 0 { loss += weights[r] * rowLoss[r] }
        var out = Tensor(loss * scale)
        if Tensor.recording(logits) {
            let xv = logits.detached(), lse = lse
            out.record([logits]) { g, node in
                guard let gx = node.inputGrad(0) else { return }
                let g0 = g[0]
                let px = SendablePointer(xv.ptr), pgx = SendablePointer(gx)
                Parallel.for(rows, grain: rowGrain(v)) { range in
                    for r in range where weights[r] != 0 {
                        let x = px.p + r * v, gr = pgx.p + r * v
                        let c = g0 * weights[r] * scale, l = lse[r]
                        for j in 0..<v { gr[j] += c * Foundation.exp(x[j] - l) }
                        gr[Int(tg[r])] -= c
                    }
                }
            }
        }
        return out
    }
}
