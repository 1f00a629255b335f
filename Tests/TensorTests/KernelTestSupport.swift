// Shared helpers for the kernel tests: a seeded generator, Double-precision reference
// implementations of every kernel, central finite differences, and comparison helpers.
//
// Tolerances (documented in Sources/Tensor/Kernels/README.md): float32 kernels are compared
// with Double references with |got − want| <= atol + rtol·|want|.
import Foundation
import Testing
import TestSupport
@testable import Tensor

/// SplitMix64 (TestSupport): reproducible test data without depending on the Tensor RNG.
struct TestRNG {
    var base: SplitMix64
    init(_ seed: UInt64) { base = SplitMix64(state: seed) }
    mutating func next() -> UInt64 { base.next() }
    /// Uniform in [lo, hi).
    mutating func uniform(_ lo: Float = -1, _ hi: Float = 1) -> Float {
        lo + (hi - lo) * Float(next() >> 40) / Float(1 << 24)
    }
    mutating func floats(_ n: Int, _ lo: Float = -1, _ hi: Float = 1) -> [Float] {
        (0..<n).map { _ in uniform(lo, hi) }
    }
}

func toDouble(_ x: [Float]) -> [Double] { x.map(Double.init) }

/// Fails the test with the worst offending index when |got − want| > atol + rtol·|want|.
func expectClose(_ got: [Float], _ want: [Double], atol: Double, rtol: Double,
                 _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(got.count == want.count, "\(what): count \(got.count) vs \(want.count)",
            sourceLocation: sourceLocation)
    var worst = -1, worstExcess = 0.0
    for i in 0..<min(got.count, want.count) {
        let err = abs(Double(got[i]) - want[i])
        let excess = err - (atol + rtol * abs(want[i]))
        if excess > worstExcess || got[i].isNaN != want[i].isNaN { worst = i; worstExcess = max(excess, 1) }
    }
    #expect(worst < 0,
            "\(what): index \(worst) got \(worst >= 0 ? got[worst] : 0) want \(worst >= 0 ? want[worst] : 0)",
            sourceLocation: sourceLocation)
}

/// Bitwise equality of two float arrays (NaN payloads included).
func bitsEqual(_ a: [Float], _ b: [Float]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern }
}

/// Central finite differences of a scalar function in Double: ∂f/∂x_i ≈ (f(x+h) − f(x−h)) / 2h.
func finiteDifferences(_ x: [Double], h: Double = 1e-5, _ f: ([Double]) -> Double) -> [Double] {
    var x = x
    var g = [Double](repeating: 0, count: x.count)
    for i in 0..<x.count {
        let old = x[i]
        x[i] = old + h
        let fp = f(x)
        x[i] = old - h
        let fm = f(x)
        x[i] = old
        g[i] = (fp - fm) / (2 * h)
    }
    return g
}

func weightedSum(_ y: [Double], _ w: [Double]) -> Double {
    zip(y, w).reduce(0) { $0 + $1.0 * $1.1 }
}

// MARK: - Double references

enum Ref {
    /// C[M,N] = alpha·op(A)·op(B) + beta·C (row-major, leading dims).
    static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Double,
                     a: [Double], lda: Int, b: [Double], ldb: Int, beta: Double,
                     c: [Double], ldc: Int) -> [Double] {
        var out = c
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k {
                    let av = transA ? a[p * lda + i] : a[i * lda + p]
                    let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                    s += av * bv
                }
                out[i * ldc + j] = alpha * s + (beta == 0 ? 0 : beta * c[i * ldc + j])
            }
        }
        return out
    }

    static func rmsNorm(_ x: [Double], _ w: [Double], n: Int, d: Int, eps: Double = 1e-6) -> [Double] {
        var y = x
        for i in 0..<n {
            var ss = 0.0
            for j in 0..<d { ss += x[i * d + j] * x[i * d + j] }
            let r = 1 / (ss / Double(d) + eps).squareRoot()
            for j in 0..<d { y[i * d + j] = x[i * d + j] * r * w[j] }
        }
        return y
    }

    /// Interleaved RoPE on contiguous [B, T, H, d], positions offset + t.
    static func rope(_ x: [Double], b: Int, t: Int, h: Int, d: Int, offset: Int,
                     base: Double = 10000) -> [Double] {
        var y = x
        for bi in 0..<b { for ti in 0..<t { for hi in 0..<h {
            let o = ((bi * t + ti) * h + hi) * d
            for i in 0..<(d / 2) {
                let ang = Double(offset + ti) * pow(base, -2.0 * Double(i) / Double(d))
                let x0 = x[o + 2 * i], x1 = x[o + 2 * i + 1]
                y[o + 2 * i] = x0 * cos(ang) - x1 * sin(ang)
                y[o + 2 * i + 1] = x0 * sin(ang) + x1 * cos(ang)
            }
        } } }
        return y
    }

    static func swiglu(_ a: [Double], _ b: [Double]) -> [Double] {
        zip(a, b).map { a, b in a / (1 + exp(-a)) * b }
    }

    static func softmax(_ x: [Double], n: Int, v: Int) -> [Double] {
        var y = x
        for i in 0..<n {
            let row = x[(i * v)..<((i + 1) * v)]
            let m = row.max()!
            let s = row.reduce(0) { $0 + exp($1 - m) }
            for j in 0..<v { y[i * v + j] = exp(x[i * v + j] - m) / s }
        }
        return y
    }

    static func logSoftmax(_ x: [Double], n: Int, v: Int) -> [Double] {
        var y = x
        for i in 0..<n {
            let row = x[(i * v)..<((i + 1) * v)]
            let m = row.max()!
            let l = m + log(row.reduce(0) { $0 + exp($1 - m) })
            for j in 0..<v { y[i * v + j] = x[i * v + j] - l }
        }
        return y
    }

    /// Weighted mean cross-entropy.
    static func crossEntropy(_ x: [Double], targets: [Int32], mask: [Double], n: Int, v: Int) -> Double {
        let ls = logSoftmax(x, n: n, v: v)
        var num = 0.0, den = 0.0
        for i in 0..<n where mask[i] != 0 {
            num += mask[i] * -ls[i * v + Int(targets[i])]
            den += mask[i]
        }
        return den == 0 ? 0 : num / den
    }

    /// Causal attention forward in Double; returns o [B,Tq,H,Dv] and P [B,H,Tq,Tk].
    static func attention(q: [Double], k: [Double], v: [Double], s: AttentionGeometry)
        -> (o: [Double], p: [Double]) {
        let (B, Tq, Tk, H, G, dk, dv) = (s.batch, s.queries, s.keys, s.heads, s.kvHeads, s.dqk, s.dv)
        let off = Tk - Tq, grp = H / G
        var o = [Double](repeating: 0, count: B * Tq * H * dv)
        var P = [Double](repeating: 0, count: B * H * Tq * Tk)
        for b in 0..<B { for h in 0..<H {
            let g = h / grp
            for i in 0..<Tq {
                var sc = [Double](repeating: -.infinity, count: Tk)
                for j in 0...(off + i) {
                    var d = 0.0
                    for c in 0..<dk {
                        d += q[((b * Tq + i) * H + h) * dk + c] * k[((b * Tk + j) * G + g) * dk + c]
                    }
                    sc[j] = Double(s.scale) * d
                }
                let m = sc.max()!
                let z = sc.reduce(0) { $0 + exp($1 - m) }
                for j in 0...(off + i) {
                    let p = exp(sc[j] - m) / z
                    P[((b * H + h) * Tq + i) * Tk + j] = p
                    for c in 0..<dv {
                        o[((b * Tq + i) * H + h) * dv + c] += p * v[((b * Tk + j) * G + g) * dv + c]
                    }
                }
            }
        } }
        return (o, P)
    }

    /// Analytic causal attention backward in Double (checked against finite differences).
    static func attentionBackward(q: [Double], k: [Double], v: [Double], dout: [Double],
                                  s: AttentionGeometry) -> (dq: [Double], dk: [Double], dv: [Double]) {
        let (B, Tq, Tk, H, G, dk, dv) = (s.batch, s.queries, s.keys, s.heads, s.kvHeads, s.dqk, s.dv)
        let off = Tk - Tq, grp = H / G, sc = Double(s.scale)
        let P = attention(q: q, k: k, v: v, s: s).p
        var dQ = [Double](repeating: 0, count: q.count)
        var dK = [Double](repeating: 0, count: k.count)
        var dV = [Double](repeating: 0, count: v.count)
        for b in 0..<B { for h in 0..<H {
            let g = h / grp
            for i in 0..<Tq {
                var dP = [Double](repeating: 0, count: Tk)
                var D = 0.0
                for j in 0...(off + i) {
                    let p = P[((b * H + h) * Tq + i) * Tk + j]
                    for c in 0..<dv {
                        let go = dout[((b * Tq + i) * H + h) * dv + c]
                        dV[((b * Tk + j) * G + g) * dv + c] += p * go
                        dP[j] += go * v[((b * Tk + j) * G + g) * dv + c]
                    }
                    D += p * dP[j]
                }
                for j in 0...(off + i) {
                    let ds = P[((b * H + h) * Tq + i) * Tk + j] * (dP[j] - D) * sc
                    for c in 0..<dk {
                        dQ[((b * Tq + i) * H + h) * dk + c] += ds * k[((b * Tk + j) * G + g) * dk + c]
                        dK[((b * Tk + j) * G + g) * dk + c] += ds * q[((b * Tq + i) * H + h) * dk + c]
                    }
                }
            }
        } }
        return (dQ, dK, dV)
    }
}
