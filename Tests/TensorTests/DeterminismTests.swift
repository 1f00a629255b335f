// Thread-count invariance: every op, forward and gradients, is bitwise identical with
// Parallel.threads = 1 and 2. Shapes are chosen to exceed each op's parallel grain so the work
// really is split (elementwise: 2^15 elements per thread; row ops: 2^14 elements per thread).
import Testing
@testable import Tensor

@Suite struct DeterminismTests {
    @Test func elementwise() {
        let a = rnd([256, 256], seed: 60), b = rnd([256, 256], seed: 61, low: 0.5, high: 1.5)
        let row = rnd([256], seed: 62, low: 0.5, high: 1.5)
        expectThreadInvariant("add", [a, b]) { $0[0] + $0[1] }
        expectThreadInvariant("sub", [a, b]) { $0[0] - $0[1] }
        expectThreadInvariant("mul broadcast", [a, row]) { $0[0] * $0[1] }
        expectThreadInvariant("div", [a, b]) { $0[0] / $0[1] }
        expectThreadInvariant("scalar ops", [a]) { (2 - $0[0] * 3 + 1) / 2 + 1 / (-$0[0] + 3) }
        expectThreadInvariant("exp log sqrt rsqrt", [b]) { $0[0].exp().log().sqrt().rsqrt().pow(1.5) }
        expectThreadInvariant("sigmoid silu", [a]) { $0[0].sigmoid() + $0[0].silu() }
        expectThreadInvariant("sum mean", [a]) { $0[0].sum(axes: [0]) + $0[0].mean(axes: [1]) }
        let col = rnd([256, 1], seed: 77, low: 0.5, high: 1.5)
        expectThreadInvariant("broadcast both ways", [a, col, row]) { ($0[0] - $0[1]) / $0[2] + $0[1] * $0[2] }
    }

    @Test func matmul() {
        let a = rnd([512, 64], seed: 63), w = rnd([96, 64], seed: 64)
        expectThreadInvariant("linear", [a, w]) { $0[0].linear($0[1]) }
        let x = rnd([4, 128, 32], seed: 65), y = rnd([4, 128, 32], seed: 66)
        expectThreadInvariant("batched matmul", [x, y]) { $0[0].matmul($0[1], transposeB: true) }
        expectThreadInvariant("batched matmul tA", [x, y]) { $0[0].matmul($0[1], transposeA: true) }
        let m = rnd([256, 512], seed: 79), n = rnd([256, 64], seed: 80)
        expectThreadInvariant("matmul tA 2-D", [m, n]) { $0[0].matmul($0[1], transposeA: true) }
        expectThreadInvariant("matmul plain 2-D", [m.transposed(), n]) { $0[0].matmul($0[1]) }
    }

    @Test func rowOps() {
        let x = rnd([1024, 64], seed: 67, low: -3, high: 3)
        let targets = IntTensor(shape: [1024]) { Int32($0 * 7 % 64) }
        let mask = Tensor(shape: [1024]) { Float($0 % 3 == 0 ? 0 : 1) }
        expectThreadInvariant("softmax", [x]) { $0[0].softmax() }
        expectThreadInvariant("logSoftmax", [x]) { $0[0].logSoftmax() }
        expectThreadInvariant("crossEntropy", [x]) { Tensor.crossEntropy(logits: $0[0], targets: targets, mask: mask) }
        expectThreadInvariant("rmsNorm", [x, rnd([64], seed: 68)]) { $0[0].rmsNorm(weight: $0[1]) }
        let a = rnd([1024, 64], seed: 69)
        expectThreadInvariant("swiGLU", [x, a]) { Tensor.swiGLU($0[0], $0[1]) }
    }

    @Test func ropeAndAttention() {
        let x = rnd([4, 128, 4, 32], seed: 70)
        expectThreadInvariant("rope", [x]) { $0[0].rope(positionOffset: 3) }
        let q = rnd([2, 16, 4, 8], seed: 71), k = rnd([2, 16, 2, 8], seed: 72), v = rnd([2, 16, 2, 6], seed: 73)
        expectThreadInvariant("attention", [q, k, v]) { Tensor.causalAttention(q: $0[0], k: $0[1], v: $0[2]) }
    }

    @Test func indexAndShapeOps() {
        let table = rnd([64, 512], seed: 74)
        let ids = IntTensor(shape: [96]) { Int32($0 * 5 % 64) }
        expectThreadInvariant("gatherRows", [table]) { $0[0].gatherRows(ids) }
        let src = rnd([96, 512], seed: 75)
        let scores = rnd([2048, 16], seed: 78)
        let sel = IntTensor(shape: [2048, 4]) { Int32($0 * 7 % 16) }
        expectThreadInvariant("takeAlongLastAxis logSumExp", [scores]) { $0[0].takeAlongLastAxis(sel).logSumExp() }
        expectThreadInvariant("scatterAddRows", [src]) { $0[0].scatterAddRows(ids, rowCount: 64) }
        let x = rnd([8, 64, 32], seed: 76)
        expectThreadInvariant("broadcasted", [rnd([8, 1, 32], seed: 81)]) { $0[0].broadcasted(to: [8, 256, 32]) }
        expectThreadInvariant("reshape permute", [x]) { $0[0].reshaped([64, 8, 32]).permuted([2, 0, 1]) }
        expectThreadInvariant("split concat", [x]) { xs in
            let p = xs[0].split(sizes: [16, 16], axis: 2)
            return Tensor.concat([p[1], p[0], xs[0].rows(2..<4).narrow(axis: 2, start: 0, length: 16)], axis: 0)
        }
        let topA = Parallel.withThreads(1) { x.topK(4) }, topB = Parallel.withThreads(2) { x.topK(4) }
        #expect(topA == topB)
    }
}
