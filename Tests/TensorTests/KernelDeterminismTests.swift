// Bitwise equality of every kernel's outputs for Parallel.threads = 1, 2 and 3, with every
// `grain` ignored so that even these small shapes are split (a split must never change a bit).
// Serialized, and thread-count changes go through Parallel's process-wide lock.
import Testing
@testable import Tensor

@Suite("Kernel determinism across thread counts", .serialized)
struct KernelDeterminismTests {
    /// Runs `body` with 1, 2 and 3 threads (everything split) and expects identical bits.
    func expectSameBits(_ what: String, _ body: () -> [Float]) {
        let one = Parallel.withThreadsSplittingEverything(1) { body() }
        for t in [2, 3] {
            let other = Parallel.withThreadsSplittingEverything(t) { body() }
            let same = bitsEqual(one, other)
            let diff = zip(one, other).filter { $0.bitPattern != $1.bitPattern }.count
            #expect(same, "\(what): threads 1 vs \(t): \(diff) of \(one.count) values differ")
        }
    }

    @Test func gemmShapes() {
        var rng = TestRNG(50)
        for (m, n, k) in [(37, 91, 53), (2048, 256, 512), (96, 256, 2048)] {
            let a = rng.floats(m * k), b = rng.floats(n * k), bt = rng.floats(k * n)
            expectSameBits("gemm A·Bᵀ \(m)x\(n)x\(k)") {
                var c = [Float](repeating: 0, count: m * n)
                Kernels.gemm(transB: true, m: m, n: n, k: k, a: a, b: b, c: &c)
                return c
            }
            expectSameBits("gemm A·B \(m)x\(n)x\(k)") {
                var c = [Float](repeating: 1, count: m * n)
                Kernels.gemm(m: m, n: n, k: k, alpha: 0.5, a: a, b: bt, beta: 1, c: &c)
                return c
            }
            expectSameBits("gemm Aᵀ·B \(m)x\(n)x\(k)") {
                var c = [Float](repeating: 0, count: m * n)
                Kernels.gemm(transA: true, m: m, n: n, k: k, a: a, b: bt, c: &c)
                return c
            }
        }
        let a = rng.floats(6 * 33 * 20), b = rng.floats(6 * 20 * 41)
        expectSameBits("gemmBatched") {
            var c = [Float](repeating: 0, count: 6 * 33 * 41)
            Kernels.gemmBatched(batch: 6, m: 33, n: 41, k: 20, a: a, strideA: 33 * 20,
                                b: b, strideB: 20 * 41, c: &c, strideC: 33 * 41)
            return c
        }
    }

    @Test func rmsNorm() {
        var rng = TestRNG(51)
        let (n, d) = (13, 37)
        let x = rng.floats(n * d), w = rng.floats(d), gy = rng.floats(n * d)
        expectSameBits("rmsnorm") {
            var y = [Float](repeating: 0, count: n * d), r = [Float](repeating: 0, count: n)
            var dx = y, dw = [Float](repeating: 0, count: d)
            Kernels.rmsNormForward(x: x, weight: w, y: &y, rstd: &r, rows: n, dim: d)
            Kernels.rmsNormBackward(dy: gy, x: x, weight: w, rstd: r, dx: &dx, dweight: &dw, rows: n, dim: d)
            return y + r + dx + dw
        }
    }

    @Test func ropeAndSwiglu() {
        var rng = TestRNG(52)
        let table = RopeTable(dim: 6, positions: 20)
        let x = rng.floats(3 * 5 * 2 * 6)
        expectSameBits("rope") {
            var y = [Float](repeating: 0, count: x.count), dx = y
            Kernels.ropeForward(x: x, y: &y, batch: 3, seq: 5, heads: 2, positionOffset: 4, table: table)
            Kernels.ropeBackward(dy: x, dx: &dx, batch: 3, seq: 5, heads: 2, positionOffset: 4, table: table)
            return y + dx
        }
        let a = rng.floats(9 * 19, -5, 5), b = rng.floats(9 * 19), gy = rng.floats(9 * 19)
        expectSameBits("swiglu") {
            var y = [Float](repeating: 0, count: a.count), da = y, db = y
            Kernels.swigluForward(a: a, b: b, y: &y, rows: 9, cols: 19)
            Kernels.swigluBackward(dy: gy, a: a, b: b, da: &da, db: &db, rows: 9, cols: 19)
            return y + da + db
        }
    }

    @Test func softmaxFamily() {
        var rng = TestRNG(53)
        let (n, v) = (11, 29)
        let x = rng.floats(n * v, -3, 3), gy = rng.floats(n * v)
        let targets = (0..<n).map { Int32($0 * 7 % v) }
        let mask = (0..<n).map { Float($0 % 3 == 0 ? 0 : 1) }
        expectSameBits("softmax / log-softmax / cross-entropy") {
            var y = [Float](repeating: 0, count: n * v), dx = y, ly = y, ldx = y, dl = y
            var lse = [Float](repeating: 0, count: n), losses = lse, lse2 = lse
            Kernels.softmaxForward(x: x, y: &y, rows: n, cols: v)
            Kernels.softmaxBackward(y: y, dy: gy, dx: &dx, rows: n, cols: v)
            Kernels.logSoftmaxForward(x: x, y: &ly, lse: &lse2, rows: n, cols: v)
            Kernels.logSoftmaxBackward(y: ly, dy: gy, dx: &ldx, rows: n, cols: v)
            let r = Kernels.crossEntropyForward(logits: x, targets: targets, mask: mask,
                                                losses: &losses, lse: &lse, rows: n, vocab: v)
            Kernels.crossEntropyBackward(logits: x, targets: targets, mask: mask, lse: lse,
                                         dlogits: &dl, rows: n, vocab: v)
            return y + dx + ly + ldx + lse2 + losses + lse + dl + [r.mean]
        }
    }

    @Test func attention() {
        for s in [AttentionGeometry(batch: 3, queries: 70, heads: 4, kvHeads: 2, dqk: 12, dv: 8),
                  AttentionGeometry(batch: 2, queries: 9, keys: 20, heads: 3, kvHeads: 1, dqk: 5)] {
            let (q, k, v, dout) = KernelAttentionTests.inputs(s, seed: 54)
            expectSameBits("attention \(s)") {
                let r = KernelAttentionTests.run(s, q, k, v, dout)
                return r.o + r.lse + r.dq + r.dk + r.dv
            }
        }
    }
}
