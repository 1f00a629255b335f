// Fused ops of the hot path, each with a hand-written backward: RMSNorm, interleaved RoPE,
// SwiGLU and causal scaled-dot-product attention (MODEL.md). Each is tested against the
// composition of primitives it replaces and by finite differences.
//
// Glossary: N rows, D row width, B batch, T sequence, H query heads, G kv heads (H % G == 0),
// Dqk query/key head dim, Dv value head dim.
//
// Gradient rules:
//   rmsNorm: r = 1/sqrt(mean(x²)+eps), n = x·r, y = n⊙w
//            gw = Σ_rows g⊙n;  gx = r·(g⊙w − n·mean(g⊙w⊙n))
//   rope:    the transpose rotation: gx[2i] = g[2i]cos + g[2i+1]sin,
//                                    gx[2i+1] = −g[2i]sin + g[2i+1]cos
//   swiGLU:  y = silu(a)⊙b; ga = g⊙b⊙s(1 + a(1−s)), gb = g⊙silu(a)
//   attention: per (b, h, t): p = softmax_j≤t(scale·q·k_j), o = Σ p_j v_j;
//            dp_j = g·v_j, ds_j = p_j(dp_j − g·o); gq = scale Σ ds_j k_j,
//            gk_j += scale ds_j q, gv_j += p_j g.
import Foundation

extension Tensor {
    /// RMSNorm over the last axis: x / sqrt(mean(x²) + eps) ⊙ weight. x [..., D], weight [D].
    public func rmsNorm(weight: Tensor, eps: Float = 1e-6) -> Tensor {
        checked { try Shapes.lastDim("rmsNorm", shape, weight: weight.shape) }
        let d = shape[rank - 1], rows = d == 0 ? 0 : count / d
        var out = Tensor(uninitialized: shape)
        var rstd = [Float](repeating: 0, count: rows)
        let px = SendablePointer(ptr), pw = SendablePointer(weight.ptr), po = SendablePointer(out.ptr)
        rstd.withUnsafeMutableBufferPointer { rb in
            let pr = SendablePointer(rb.baseAddress ?? UnsafeMutablePointer(bitPattern: 8)!)
            Parallel.for(rows, grain: rowGrain(d)) { range in
                for r in range {
                    let x = px.p + r * d, y = po.p + r * d
                    var ss: Float = 0
                    for j in 0..<d { ss += x[j] * x[j] }
                    let rs = 1 / (ss / Float(d) + eps).squareRoot()
                    pr.p[r] = rs
                    for j in 0..<d { y[j] = x[j] * rs * pw.p[j] }
                }
            }
        }
        if Tensor.recording(self, weight) {
            let (xv, wv) = (detached(), weight.detached())
            let rstd = rstd
            out.record([self, weight]) { g, node in
                let pg = SendablePointer(g), px = SendablePointer(xv.ptr), pw = SendablePointer(wv.ptr)
                if let gw = node.inputGrad(1) {
                    // Columns split across threads; each column sums its rows in order.
                    let pgw = SendablePointer(gw)
                    Parallel.for(d, grain: max(1, (1 << 14) / max(1, rows))) { cols in
                        for r in 0..<rows {
                            let x = px.p + r * d, g = pg.p + r * d, rs = rstd[r]
                            for j in cols { pgw.p[j] += g[j] * x[j] * rs }
                        }
                    }
                }
                if let gx = node.inputGrad(0) {
                    let pgx = SendablePointer(gx)
                    Parallel.for(rows, grain: rowGrain(d)) { range in
                        for r in range {
                            let x = px.p + r * d, g = pg.p + r * d, gxr = pgx.p + r * d, rs = rstd[r]
                            var dot: Float = 0
                            for j in 0..<d { dot += g[j] * pw.p[j] * x[j] * rs }
                            let c = dot / Float(d)
                            for j in 0..<d { gxr[j] += rs * (g[j] * pw.p[j] - x[j] * rs * c) }
                        }
                    }
                }
            }
        }
        return out
    }

    /// Interleaved rotary embedding (MODEL.md) of x [B, T, H, d] or [B, T, d] (d even): the pair
    /// (x[2i], x[2i+1]) at sequence index t is rotated by θ = (t + positionOffset)·theta^(−2i/d).
    /// Angles, cos and sin are computed in Double and rounded once to Float.
    public func rope(theta: Float = 10000, positionOffset: Int = 0) -> Tensor {
        require((rank == 3 || rank == 4) && shape[rank - 1] % 2 == 0,
                     "rope: x must be [B, T, H, d] or [B, T, d] with even d, got shape \(shape)")
        let b = shape[0], t = shape[1], d = shape[rank - 1]
        let h = rank == 4 ? shape[2] : 1
        let table = RopeTable(positions: t, dim: d, theta: theta, offset: positionOffset)
        var out = Tensor(uninitialized: shape)
        Tensor.ropeApply(src: ptr, dst: out.ptr, b: b, t: t, h: h, d: d, table: table, inverse: false, accumulate: false)
        if Tensor.recording(self) {
            out.record([self]) { g, node in
                guard let gx = node.inputGrad(0) else { return }
                Tensor.ropeApply(src: g, dst: gx, b: b, t: t, h: h, d: d, table: table, inverse: true, accumulate: true)
            }
        }
        return out
    }

    static func ropeApply(src: UnsafePointer<Float>, dst: UnsafeMutablePointer<Float>, b: Int, t: Int, h: Int, d: Int,
                          table: RopeTable, inverse: Bool, accumulate: Bool) {
        let ps = SendablePointer(src), pd = SendablePointer(dst)
        let half = d / 2
        Parallel.for(b * t, grain: max(1, (1 << 14) / max(1, h * d))) { range in
            for bt in range {
                let pos = bt % t
                let c = table.cos + pos * half, s = table.sin + pos * half
                for hh in 0..<h {
                    let x = ps.p + (bt * h + hh) * d, y = pd.p + (bt * h + hh) * d
                    for i in 0..<half {
                        let (x0, x1) = (x[2 * i], x[2 * i + 1])
                        let sn = inverse ? -s[i] : s[i]
                        let y0 = x0 * c[i] - x1 * sn, y1 = x0 * sn + x1 * c[i]
                        if accumulate { y[2 * i] += y0; y[2 * i + 1] += y1 } else { y[2 * i] = y0; y[2 * i + 1] = y1 }
                    }
                }
            }
        }
    }

    /// silu(a) ⊙ b for a, b of the same shape.
    public static func swiGLU(_ a: Tensor, _ b: Tensor) -> Tensor {
        checked { try Shapes.same("swiGLU", a.shape, b.shape) }
        var out = Tensor(uninitialized: a.shape)
        let pa = SendablePointer(a.ptr), pb = SendablePointer(b.ptr), po = SendablePointer(out.ptr)
        Parallel.for(a.count, grain: elementwiseGrain) { r in
            for i in r { po.p[i] = pa.p[i] / (1 + Foundation.exp(-pa.p[i])) * pb.p[i] }
        }
        if Tensor.recording(a, b) {
            let (av, bv) = (a.detached(), b.detached())
            out.record([a, b]) { g, node in
                let ga = node.inputGrad(0), gb = node.inputGrad(1)
                let (pa, pb) = (av.ptr, bv.ptr)
                for i in 0..<av.count {
                    let x = pa[i], s = 1 / (1 + Foundation.exp(-x))
                    ga?[i] += g[i] * pb[i] * s * (1 + x * (1 - s))
                    gb?[i] += g[i] * x * s
                }
            }
        }
        return out
    }

    /// Causal scaled-dot-product attention. q [B, T, H, Dqk], k [B, T, G, Dqk], v [B, T, G, Dv]
    /// → [B, T, H, Dv]; query head h uses kv head h / (H/G); position t attends to j ≤ t.
    /// `scale` defaults to 1/sqrt(Dqk).
    public static func causalAttention(q: Tensor, k: Tensor, v: Tensor, scale: Float? = nil) -> Tensor {
        let outShape = checked { try Shapes.attention("causalAttention", q: q.shape, k: k.shape, v: v.shape) }
        let (bs, t, h, dk) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
        let (g, dv) = (k.shape[2], v.shape[3])
        let scale = scale ?? 1 / Float(dk).squareRoot()
        let geo = AttentionGeometry(b: bs, t: t, h: h, g: g, dk: dk, dv: dv, scale: scale)
        var out = Tensor(uninitialized: outShape)
        var lse = [Float](repeating: 0, count: bs * h * t)
        lse.withUnsafeMutableBufferPointer { lb in
            attentionForward(geo, q: q.ptr, k: k.ptr, v: v.ptr, out: out.ptr, lse: lb.baseAddress ?? UnsafeMutablePointer(bitPattern: 8)!)
        }
        if recording([q, k, v]) {
            let (qv, kv, vv, ov) = (q.detached(), k.detached(), v.detached(), out.detached())
            let lse = lse
            out.record([q, k, v]) { gOut, node in
                let (gq, gk, gv) = (node.inputGrad(0), node.inputGrad(1), node.inputGrad(2))
                lse.withUnsafeBufferPointer { lb in
                    attentionBackward(geo, q: qv.ptr, k: kv.ptr, v: vv.ptr, out: ov.ptr, lse: lb.baseAddress ?? UnsafePointer(bitPattern: 8)!,
                                      gOut: gOut, gq: gq, gk: gk, gv: gv)
                }
            }
        }
        return out
    }
}

/// cos/sin of every (position, pair) angle, [T, d/2] each.
final class RopeTable: @unchecked Sendable {
    let cos: UnsafeMutablePointer<Float>
    let sin: UnsafeMutablePointer<Float>
    init(positions t: Int, dim d: Int, theta: Float, offset: Int) {
        let half = d / 2
        cos = .allocate(capacity: max(1, t * half))
        sin = .allocate(capacity: max(1, t * half))
        for p in 0..<t {
            for i in 0..<half {
                let freq = Foundation.pow(Double(theta), -Double(2 * i) / Double(d))
                let angle = Double(p + offset) * freq
                cos[p * half + i] = Float(Foundation.cos(angle))
                sin[p * half + i] = Float(Foundation.sin(angle))
            }
        }
    }
    deinit { cos.deallocate(); sin.deallocate() }
}

struct AttentionGeometry: Sendable {
    let b, t, h, g, dk, dv: Int
    let scale: Float
    var group: Int { h / g }
    // Element offsets in [B, T, heads, dim] layouts.
    @inline(__always) func qOff(_ b: Int, _ t: Int, _ h: Int) -> Int { ((b * self.t + t) * self.h + h) * dk }
    @inline(__always) func kOff(_ b: Int, _ t: Int, _ g: Int) -> Int { ((b * self.t + t) * self.g + g) * dk }
    @inline(__always) func vOff(_ b: Int, _ t: Int, _ g: Int) -> Int { ((b * self.t + t) * self.g + g) * dv }
    @inline(__always) func oOff(_ b: Int, _ t: Int, _ h: Int) -> Int { ((b * self.t + t) * self.h + h) * dv }
}

/// Reference loops; out [B, T, H, Dv], lse [B, H, T] (log-sum-exp of the scaled scores).
func attentionForward(_ a: AttentionGeometry, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                      out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>) {
    let pq = SendablePointer(q), pk = SendablePointer(k), pv = SendablePointer(v)
    let po = SendablePointer(out), pl = SendablePointer(lse)
    Parallel.for(a.b * a.h, grain: 1) { range in
        var s = [Float](repeating: 0, count: a.t)
        for bh in range {
            let (b, h) = (bh / a.h, bh % a.h), gg = h / a.group
            for t in 0..<a.t {
                let qi = pq.p + a.qOff(b, t, h)
                var mx = -Float.infinity
                for j in 0...t {
                    let kj = pk.p + a.kOff(b, j, gg)
                    var dot: Float = 0
                    for c in 0..<a.dk { dot += qi[c] * kj[c] }
                    s[j] = dot * a.scale
                    if !(s[j] <= mx) { mx = s[j] }
                }
                var sum: Float = 0
                for j in 0...t { s[j] = Foundation.exp(s[j] - mx); sum += s[j] }
                let o = po.p + a.oOff(b, t, h)
                for c in 0..<a.dv { o[c] = 0 }
                let inv = 1 / sum
                for j in 0...t {
                    let p = s[j] * inv, vj = pv.p + a.vOff(b, j, gg)
                    for c in 0..<a.dv { o[c] += p * vj[c] }
                }
                pl.p[(b * a.h + h) * a.t + t] = mx + Foundation.log(sum)
            }
        }
    }
}

/// Accumulates gq, gk, gv. Threads split (b, kv head) pairs: every gradient element is owned by
/// one pair and summed in a fixed order (query heads of the group, then t, then j).
func attentionBackward(_ a: AttentionGeometry, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                       out: UnsafePointer<Float>, lse: UnsafePointer<Float>, gOut: UnsafePointer<Float>,
                       gq: UnsafeMutablePointer<Float>?, gk: UnsafeMutablePointer<Float>?, gv: UnsafeMutablePointer<Float>?) {
    let pq = SendablePointer(q), pk = SendablePointer(k), pv = SendablePointer(v), po = SendablePointer(out)
    let pl = SendablePointer(lse), pg = SendablePointer(gOut)
    let pgq = gq.map(SendablePointer.init), pgk = gk.map(SendablePointer.init), pgv = gv.map(SendablePointer.init)
    Parallel.for(a.b * a.g, grain: 1) { range in
        var p = [Float](repeating: 0, count: a.t)
        var ds = [Float](repeating: 0, count: a.t)
        for bg in range {
            let (b, gg) = (bg / a.g, bg % a.g)
            for h in (gg * a.group)..<((gg + 1) * a.group) {
                for t in 0..<a.t {
                    let qi = pq.p + a.qOff(b, t, h), go = pg.p + a.oOff(b, t, h), o = po.p + a.oOff(b, t, h)
                    let l = pl.p[(b * a.h + h) * a.t + t]
                    var dOut: Float = 0
                    for c in 0..<a.dv { dOut += go[c] * o[c] }
                    for j in 0...t {
                        let kj = pk.p + a.kOff(b, j, gg), vj = pv.p + a.vOff(b, j, gg)
                        var dot: Float = 0
                        for c in 0..<a.dk { dot += qi[c] * kj[c] }
                        p[j] = Foundation.exp(dot * a.scale - l)
                        var dp: Float = 0
                        for c in 0..<a.dv { dp += go[c] * vj[c] }
                        ds[j] = p[j] * (dp - dOut) * a.scale
                    }
                    if let pgq {
                        let gqi = pgq.p + a.qOff(b, t, h)
                        for j in 0...t {
                            let kj = pk.p + a.kOff(b, j, gg)
                            for c in 0..<a.dk { gqi[c] += ds[j] * kj[c] }
                        }
                    }
                    for j in 0...t {
                        if let pgk {
                            let gkj = pgk.p + a.kOff(b, j, gg)
                            for c in 0..<a.dk { gkj[c] += ds[j] * qi[c] }
                        }
                        if let pgv {
                            let gvj = pgv.p + a.vOff(b, j, gg)
                            for c in 0..<a.dv { gvj[c] += p[j] * go[c] }
                        }
                    }
                }
            }
        }
    }
}
