// RMSNorm, RoPE, SwiGLU and the vectorised exp against Double references; backward passes
// against central finite differences of the Double forward.
import KernelCore
import Foundation
import Testing
@testable import Tensor

@Suite("Kernel elementwise")
struct KernelElementwiseTests {
    @Test func vexpMatchesDoubleExp() {
        var worst = 0.0
        var x: Float = -86
        while x < 88.7 {
            let got = Double(Vec.sexp(x)), want = exp(Double(x))
            worst = max(worst, abs(got - want) / want)
            x += 0.0137
        }
        #expect(worst < 4e-7, "vexp max relative error \(worst)")
        #expect(Vec.sexp(-.infinity) == 0)
        #expect(Vec.sexp(-100) == 0)
        #expect(Vec.sexp(.infinity) == .infinity)
        #expect(Vec.sexp(89) == .infinity)
        #expect(Vec.sexp(.nan).isNaN)
        #expect(Vec.sexp(0) == 1)
    }

    @Test func rmsNormForwardAndBackward() {
        var rng = TestRNG(10)
        for (n, d, ld) in [(3, 5, 5), (4, 37, 40), (2, 16, 16)] {
            let x = rng.floats(n * ld), w = rng.floats(d, 0.5, 1.5), gy = rng.floats(n * d)
            // Packed copy for the reference.
            var xp = [Double]()
            for i in 0..<n { xp += toDouble(Array(x[(i * ld)..<(i * ld + d)])) }
            var y = [Float](repeating: 0, count: n * d), r = [Float](repeating: 0, count: n)
            Kernels.rmsNormForward(x: x, ldx: ld, weight: w, y: &y, rstd: &r, rows: n, dim: d)
            expectClose(y, Ref.rmsNorm(xp, toDouble(w), n: n, d: d), atol: 1e-6, rtol: 1e-5, "rmsnorm fwd")

            var dx = [Float](repeating: 0, count: n * ld), dw = [Float](repeating: 0, count: d)
            Kernels.rmsNormBackward(dy: gy, x: x, ldx: ld, weight: w, rstd: r, dx: &dx, lddx: ld,
                                    dweight: &dw, rows: n, dim: d)
            let wd = toDouble(w), gd = toDouble(gy)
            let gx = finiteDifferences(xp) { weightedSum(Ref.rmsNorm($0, wd, n: n, d: d), gd) }
            let gw = finiteDifferences(wd) { weightedSum(Ref.rmsNorm(xp, $0, n: n, d: d), gd) }
            var dxp = [Float]()
            for i in 0..<n { dxp += Array(dx[(i * ld)..<(i * ld + d)]) }
            expectClose(dxp, gx, atol: 2e-5, rtol: 1e-4, "rmsnorm dx")
            expectClose(dw, gw, atol: 2e-5, rtol: 1e-4, "rmsnorm dweight")
        }
    }

    @Test func rmsNormPropagatesNaN() {
        let x: [Float] = [1, .nan, 2, 3, 4, 5]
        let w: [Float] = [1, 1, 1]
        var y = [Float](repeating: 0, count: 6), r: [Float] = [0, 0]
        Kernels.rmsNormForward(x: x, weight: w, y: &y, rstd: &r, rows: 2, dim: 3)
        #expect(y[0].isNaN && y[1].isNaN && y[2].isNaN)
        #expect(!y[3].isNaN)
    }

    @Test func ropeForwardBackwardWithOffsetAndStrides() {
        var rng = TestRNG(11)
        let (b, t, h, d, off) = (2, 3, 2, 8, 5)
        let table = RopeTable(dim: d, positions: 16)
        let x = rng.floats(b * t * h * d)
        var y = [Float](repeating: 0, count: x.count)
        Kernels.ropeForward(x: x, y: &y, batch: b, seq: t, heads: h, positionOffset: off, table: table)
        let want = Ref.rope(toDouble(x), b: b, t: t, h: h, d: d, offset: off)
        expectClose(y, want, atol: 2e-6, rtol: 1e-5, "rope fwd")

        // Strided view: the rope part is the last d dims of rows of width 3 + d per head.
        let width = 3 + d
        var xs = rng.floats(b * t * h * width)
        for bi in 0..<b { for ti in 0..<t { for hi in 0..<h { for c in 0..<d {
            xs[((bi * t + ti) * h + hi) * width + 3 + c] = x[((bi * t + ti) * h + hi) * d + c]
        } } } }
        let before = xs
        let strides = HeadStrides(batch: t * h * width, seq: h * width, head: width)
        xs.withUnsafeMutableBufferPointer { p in
            Kernels.ropeForward(x: p.baseAddress! + 3, xStrides: strides, y: p.baseAddress! + 3,
                                yStrides: strides, batch: b, seq: t, heads: h,
                                positionOffset: off, table: table)
        }
        for bi in 0..<b { for ti in 0..<t { for hi in 0..<h {
            let o = ((bi * t + ti) * h + hi) * width
            #expect(Array(xs[o..<(o + 3)]) == Array(before[o..<(o + 3)]))
            #expect(Array(xs[(o + 3)..<(o + width)]) == Array(y[(((bi * t + ti) * h + hi) * d)...].prefix(d)))
        } } }

        let gy = rng.floats(x.count)
        var dx = [Float](repeating: 0, count: x.count)
        Kernels.ropeBackward(dy: gy, dx: &dx, batch: b, seq: t, heads: h, positionOffset: off, table: table)
        let gd = toDouble(gy)
        let fd = finiteDifferences(toDouble(x)) {
            weightedSum(Ref.rope($0, b: b, t: t, h: h, d: d, offset: off), gd)
        }
        expectClose(dx, fd, atol: 2e-5, rtol: 1e-4, "rope backward")
    }

    @Test func ropeTableIsDoubleRounded() {
        let table = RopeTable(dim: 4, positions: 3000, base: 10000)
        // position 2999, pair 1: angle = 2999 · 10000^(-1/2)
        let ang = 2999.0 * pow(10000.0, -0.5)
        #expect(table.cos[2999 * 2 + 1] == Float(cos(ang)))
        #expect(table.sin[2999 * 2 + 1] == Float(sin(ang)))
    }

    @Test func swigluForwardAndBackward() {
        var rng = TestRNG(12)
        let (n, f) = (3, 21)
        // a and b as halves of one fused [n, 2f] projection.
        let ab = rng.floats(n * 2 * f, -6, 6)
        var a = [Double](), bb = [Double]()
        for i in 0..<n {
            a += toDouble(Array(ab[(i * 2 * f)..<(i * 2 * f + f)]))
            bb += toDouble(Array(ab[(i * 2 * f + f)..<(i * 2 * f + 2 * f)]))
        }
        var y = [Float](repeating: 0, count: n * f)
        ab.withUnsafeBufferPointer { p in
            Kernels.swigluForward(a: p.baseAddress!, lda: 2 * f, b: p.baseAddress! + f, ldb: 2 * f,
                                  y: &y, rows: n, cols: f)
        }
        expectClose(y, Ref.swiglu(a, bb), atol: 1e-6, rtol: 1e-5, "swiglu fwd")
        let gy = rng.floats(n * f)
        var dab = [Float](repeating: 0, count: n * 2 * f)
        ab.withUnsafeBufferPointer { p in
            dab.withUnsafeMutableBufferPointer { d in
                Kernels.swigluBackward(dy: gy, a: p.baseAddress!, lda: 2 * f, b: p.baseAddress! + f,
                                       ldb: 2 * f, da: d.baseAddress!, ldda: 2 * f,
                                       db: d.baseAddress! + f, lddb: 2 * f, rows: n, cols: f)
            }
        }
        let gd = toDouble(gy)
        let ga = finiteDifferences(a) { weightedSum(Ref.swiglu($0, bb), gd) }
        let gb = finiteDifferences(bb) { weightedSum(Ref.swiglu(a, $0), gd) }
        var da = [Float](), db = [Float]()
        for i in 0..<n {
            da += Array(dab[(i * 2 * f)..<(i * 2 * f + f)])
            db += Array(dab[(i * 2 * f + f)..<(i * 2 * f + 2 * f)])
        }
        expectClose(da, ga, atol: 2e-5, rtol: 1e-4, "swiglu da")
        expectClose(db, gb, atol: 2e-5, rtol: 1e-4, "swiglu db")
    }
}
