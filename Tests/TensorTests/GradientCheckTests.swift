// Finite-difference gradient checks for every differentiable op (see TestSupport.swift for the
// method and the default tolerance: h = 1e-2, |num − ana| ≤ 1e-3 + 1e-2·|num|).
import Testing
@testable import Tensor

@Suite struct GradientCheckTests {
    // MARK: Elementwise

    @Test func binaryOpsSameShape() {
        let a = rnd([3, 4], seed: 1), b = rnd([3, 4], seed: 2, low: 0.5, high: 1.5)
        gradCheck("add", [a, b]) { $0[0] + $0[1] }
        gradCheck("sub", [a, b]) { $0[0] - $0[1] }
        gradCheck("mul", [a, b]) { $0[0] * $0[1] }
        gradCheck("div", [a, b]) { $0[0] / $0[1] }
    }

    @Test func binaryOpsBroadcast() {
        let a = rnd([2, 3, 4], seed: 3), row = rnd([4], seed: 4, low: 0.5, high: 1.5)
        let col = rnd([2, 1, 4], seed: 5, low: 0.5, high: 1.5), s = rnd([], seed: 6, low: 0.5, high: 1.5)
        let left = rnd([3, 1], seed: 7, low: 0.5, high: 1.5)
        for (name, b) in [("row", row), ("col", col), ("scalar", s), ("left", left)] {
            gradCheck("add \(name)", [a, b]) { $0[0] + $0[1] }
            gradCheck("sub \(name) reversed", [b, a]) { $0[0] - $0[1] }
            gradCheck("mul \(name)", [a, b]) { $0[0] * $0[1] }
            gradCheck("div \(name)", [a, b]) { $0[0] / $0[1] }
            gradCheck("div \(name) reversed", [b, a + 3]) { $0[0] / $0[1] }
        }
        // Both operands stretched: [3, 1] with [1, 4].
        gradCheck("mul outer", [left, rnd([1, 4], seed: 8)]) { $0[0] * $0[1] }
    }

    @Test func scalarOps() {
        let x = rnd([2, 3], seed: 9, low: 0.5, high: 2)
        gradCheck("x + s", [x]) { $0[0] + 1.5 }
        gradCheck("s + x", [x]) { 1.5 + $0[0] }
        gradCheck("x - s", [x]) { $0[0] - 0.5 }
        gradCheck("s - x", [x]) { 0.5 - $0[0] }
        gradCheck("x * s", [x]) { $0[0] * -2 }
        gradCheck("s * x", [x]) { 3 * $0[0] }
        gradCheck("x / s", [x]) { $0[0] / 4 }
        gradCheck("s / x", [x]) { 2 / $0[0] }
        gradCheck("neg", [x]) { -$0[0] }
        gradCheck("pow", [x]) { $0[0].pow(1.7) }
        gradCheck("squared", [x]) { $0[0].squared() }
    }

    @Test func unaryOps() {
        let x = rnd([2, 5], seed: 10, low: -2, high: 2)
        let pos = rnd([2, 5], seed: 11, low: 0.5, high: 2)
        gradCheck("exp", [x]) { $0[0].exp() }
        gradCheck("log", [pos]) { $0[0].log() }
        gradCheck("sqrt", [pos]) { $0[0].sqrt() }
        gradCheck("rsqrt", [pos]) { $0[0].rsqrt() }
        gradCheck("sigmoid", [x]) { $0[0].sigmoid() }
        gradCheck("silu", [x]) { $0[0].silu() }
    }

    @Test func reductions() {
        let x = rnd([2, 3, 4], seed: 12)
        gradCheck("sum all", [x]) { $0[0].sum() }
        gradCheck("sum axis 1", [x]) { $0[0].sum(axes: [1]) }
        gradCheck("sum axes 0,2 keep", [x]) { $0[0].sum(axes: [0, 2], keepDims: true) }
        gradCheck("sum last", [x]) { $0[0].sum(axes: [-1]) }
        gradCheck("mean all", [x]) { $0[0].mean() }
        gradCheck("mean axis 0", [x]) { $0[0].mean(axes: [0]) }
    }

    // MARK: Matmul

    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func matmul2D(transposeA: Bool, transposeB: Bool) {
        let a = rnd(transposeA ? [4, 3] : [3, 4], seed: 13), b = rnd(transposeB ? [5, 4] : [4, 5], seed: 14)
        gradCheck("matmul tA=\(transposeA) tB=\(transposeB)", [a, b]) {
            $0[0].matmul($0[1], transposeA: transposeA, transposeB: transposeB)
        }
    }

    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func matmulBatched(transposeA: Bool, transposeB: Bool) {
        let a = rnd(transposeA ? [2, 2, 4, 3] : [2, 2, 3, 4], seed: 15)
        let b = rnd(transposeB ? [2, 2, 5, 4] : [2, 2, 4, 5], seed: 16)
        gradCheck("batched matmul tA=\(transposeA) tB=\(transposeB)", [a, b]) {
            $0[0].matmul($0[1], transposeA: transposeA, transposeB: transposeB)
        }
    }

    @Test func matmulSharedWeightAndLinear() {
        let x = rnd([2, 3, 4], seed: 17), w = rnd([4, 5], seed: 18), wt = rnd([5, 4], seed: 19)
        gradCheck("matmul shared", [x, w]) { $0[0].matmul($0[1]) }
        gradCheck("linear", [x, wt]) { $0[0].linear($0[1]) }
    }

    // MARK: Softmax and loss

    @Test func softmaxFamily() {
        let x = rnd([3, 5], seed: 20, low: -3, high: 3)
        gradCheck("softmax", [x]) { $0[0].softmax() }
        gradCheck("logSoftmax", [x]) { $0[0].logSoftmax() }
        gradCheck("logSumExp", [x]) { $0[0].logSumExp() }
    }

    @Test func crossEntropy() {
        let logits = rnd([2, 3, 5], seed: 21, low: -3, high: 3)
        let targets = IntTensor(shape: [2, 3], scalars: [0, 4, 2, 1, 1, 3])
        let mask = Tensor(shape: [2, 3], scalars: [1, 0, 1, 1, 1, 0])
        gradCheck("crossEntropy", [logits]) { Tensor.crossEntropy(logits: $0[0], targets: targets) }
        gradCheck("crossEntropy masked", [logits]) { Tensor.crossEntropy(logits: $0[0], targets: targets, mask: mask) }
    }

    // MARK: Index ops

    @Test func indexOps() {
        let w = rnd([5, 3], seed: 22)
        let ids = IntTensor(shape: [2, 3], scalars: [4, 0, 4, 2, 2, 1])
        gradCheck("embedding", [w]) { Tensor.embedding($0[0], ids) }
        gradCheck("gatherRows", [w]) { $0[0].gatherRows(IntTensor([3, 3, 0])) }
        let src = rnd([4, 2, 2], seed: 23)
        gradCheck("scatterAddRows", [src]) { $0[0].scatterAddRows(IntTensor([1, 3, 1, 0]), rowCount: 5) }
        let scores = rnd([3, 4], seed: 38)
        gradCheck("takeAlongLastAxis", [scores]) {
            $0[0].takeAlongLastAxis(IntTensor(shape: [3, 2], scalars: [3, 1, 0, 0, 2, 3]))
        }
    }

    // MARK: Shape ops

    @Test func shapeOps() {
        let x = rnd([2, 3, 4], seed: 24)
        gradCheck("reshape", [x]) { $0[0].reshaped([6, -1]) * $0[0].reshaped([6, 4]) }
        gradCheck("rows", [x]) { $0[0].rows(1..<2) }
        gradCheck("narrow axis 2", [x]) { $0[0].narrow(axis: 2, start: 1, length: 2) }
        gradCheck("narrow axis 1", [x]) { $0[0].narrow(axis: -2, start: 2, length: 1) }
        gradCheck("split", [x]) { xs in
            let parts = xs[0].split(sizes: [1, 3], axis: 2)
            return parts[0] * 2 + parts[1].sum(axes: [2], keepDims: true)
        }
        gradCheck("concat", [x, rnd([2, 1, 4], seed: 25)]) { Tensor.concat([$0[0], $0[1], $0[0]], axis: 1) }
        gradCheck("concat axis 0", [x, x]) { Tensor.concat([$0[0], $0[1]], axis: 0) }
        gradCheck("permute", [x]) { $0[0].permuted([2, 0, 1]) }
        gradCheck("transpose", [x]) { $0[0].transposed(0, 2) }
        gradCheck("broadcasted", [rnd([2, 1, 4], seed: 39)]) { $0[0].broadcasted(to: [3, 2, 5, 4]) }
    }

    // MARK: Fused ops

    @Test func rmsNorm() {
        let x = rnd([3, 6], seed: 26, low: -2, high: 2), w = rnd([6], seed: 27, low: 0.5, high: 1.5)
        gradCheck("rmsNorm", [x, w]) { $0[0].rmsNorm(weight: $0[1]) }
    }

    @Test func rope() {
        let x4 = rnd([2, 3, 2, 4], seed: 28), x3 = rnd([1, 4, 6], seed: 29)
        gradCheck("rope 4-D", [x4]) { $0[0].rope() }
        gradCheck("rope 3-D offset", [x3]) { $0[0].rope(theta: 100, positionOffset: 5) }
    }

    @Test func swiGLU() {
        let a = rnd([3, 4], seed: 30, low: -2, high: 2), b = rnd([3, 4], seed: 31)
        gradCheck("swiGLU", [a, b]) { Tensor.swiGLU($0[0], $0[1]) }
    }

    /// MHA (G = H), GQA and MQA, with different q/k and v head dims as MLA uses.
    @Test(arguments: [(2, 2), (4, 2), (2, 1)])
    func causalAttention(heads: Int, kvHeads: Int) {
        let q = rnd([2, 3, heads, 4], seed: 32), k = rnd([2, 3, kvHeads, 4], seed: 33)
        let v = rnd([2, 3, kvHeads, 2], seed: 34)
        gradCheck("attention H=\(heads) G=\(kvHeads)", [q, k, v]) {
            Tensor.causalAttention(q: $0[0], k: $0[1], v: $0[2])
        }
    }

    /// Fewer queries than keys (decoding against a KV cache).
    @Test func causalAttentionWithCache() {
        let q = rnd([1, 2, 2, 4], seed: 35), k = rnd([1, 4, 1, 4], seed: 36), v = rnd([1, 4, 1, 3], seed: 37)
        gradCheck("attention Tq < Tk", [q, k, v]) { Tensor.causalAttention(q: $0[0], k: $0[1], v: $0[2]) }
    }
}
