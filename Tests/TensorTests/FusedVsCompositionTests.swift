// Every fused op against the composition of primitive ops it replaces: forward values and the
// gradients of every input must agree to float32 rounding (max abs difference ≤ 1e-5 on inputs
// of order 1, unless stated).
import Foundation
import Testing
@testable import Tensor

/// Runs `fused` and `composed` forward and backward on copies of the same inputs and compares.
func expectSameAsComposition(_ name: String, _ inputs: [Tensor], tol: Float = 1e-5,
                             sourceLocation: SourceLocation = #_sourceLocation,
                             fused: ([Tensor]) -> Tensor, composed: ([Tensor]) -> Tensor) {
    func run(_ f: ([Tensor]) -> Tensor) -> (Tensor, [Tensor?]) {
        let leaves = inputs.map { $0.copy().requiringGrad() }
        let y = f(leaves)
        let w = Tensor.uniform(y.shape, low: -1, high: 1, seed: 4242, stream: 77)
        (y * w).sum().backward()
        return (y, leaves.map(\.grad))
    }
    let (yf, gf) = run(fused), (yc, gc) = run(composed)
    #expect(yf.shape == yc.shape, "\(name): shapes \(yf.shape) vs \(yc.shape)", sourceLocation: sourceLocation)
    guard yf.shape == yc.shape else { return }
    #expect(maxAbsDiff(yf, yc) <= tol, "\(name) forward: max diff \(maxAbsDiff(yf, yc))", sourceLocation: sourceLocation)
    for (k, (a, b)) in zip(gf, gc).enumerated() {
        guard let a, let b else {
            #expect(a == nil && b == nil, "\(name): gradient \(k) missing on one side", sourceLocation: sourceLocation)
            continue
        }
        #expect(maxAbsDiff(a, b) <= tol, "\(name) grad \(k): max diff \(maxAbsDiff(a, b))", sourceLocation: sourceLocation)
    }
}

@Suite struct FusedVsCompositionTests {
    @Test func rmsNorm() {
        let x = rnd([4, 8], seed: 40, low: -2, high: 2), w = rnd([8], seed: 41, low: 0.5, high: 1.5)
        expectSameAsComposition("rmsNorm", [x, w]) {
            $0[0].rmsNorm(weight: $0[1])
        } composed: {
            $0[0] * ($0[0].squared().mean(axes: [-1], keepDims: true) + 1e-6).rsqrt() * $0[1]
        }
    }

    /// The MoE combine: bit-identical to multiply-then-scatter, forward and both gradients,
    /// with repeated and missing destination rows.
    @Test func weightedScatterAddRows() {
        let x = rnd([7, 5], seed: 45, low: -2, high: 2), w = rnd([7, 1], seed: 46, low: 0, high: 1)
        let ids = IntTensor([3, 0, 3, 1, 3, 0, 1])   // row 2 of 5 receives nothing
        expectSameAsComposition("weightedScatterAddRows", [x, w], tol: 0) {
            $0[0].weightedScatterAddRows($0[1], ids, rowCount: 5)
        } composed: {
            ($0[0] * $0[1]).scatterAddRows(ids, rowCount: 5)
        }
    }

    /// The routed experts in one op: bit-identical to per-expert rows → linear → swiGLU →
    /// linear → concat, forward and every gradient, with uneven row counts, an expert without
    /// rows (no gradient on either side), work units of a few rows, and gradients that are
    /// added to (x used twice, the weights by two calls) as well as written.
    @Test(arguments: [1, 2])
    func groupedSwiGLU(threads: Int) {
        let (d, f) = (8, 5), counts = [3, 0, 7, 1]
        let m = counts.reduce(0, +)
        var inputs = [rnd([m, d], seed: 47, low: -2, high: 2)]
        for e in counts.indices {
            inputs += [rnd([f, d], seed: 50 + 3 * UInt64(e), low: -1, high: 1),
                       rnd([f, d], seed: 51 + 3 * UInt64(e), low: -1, high: 1),
                       rnd([d, f], seed: 52 + 3 * UInt64(e), low: -1, high: 1)]
        }
        func experts(_ t: [Tensor]) -> [SwiGLUExpert] {
            counts.indices.map { SwiGLUExpert(w1: t[1 + 3 * $0], w3: t[2 + 3 * $0], w2: t[3 + 3 * $0]) }
        }
        func composed(_ x: Tensor, _ ex: [SwiGLUExpert]) -> Tensor {
            var outputs: [Tensor] = []
            var start = 0
            for (e, c) in counts.enumerated() where c > 0 {
                let rows = x.rows(start..<(start + c))
                start += c
                outputs.append(Tensor.swiGLU(rows.linear(ex[e].w1), rows.linear(ex[e].w3)).linear(ex[e].w2))
            }
            return Tensor.concat(outputs, axis: 0)
        }
        Parallel.withThreadsSplittingEverything(threads) {
            expectSameAsComposition("groupedSwiGLU", inputs, tol: 0) {
                $0[0].groupedSwiGLU(experts($0), rowCounts: counts, rowsPerUnit: 2)
            } composed: {
                composed($0[0], experts($0))
            }
            expectSameAsComposition("groupedSwiGLU, gradients added", inputs, tol: 0) {
                let x2 = $0[0] * 0.5
                return $0[0].groupedSwiGLU(experts($0), rowCounts: counts, rowsPerUnit: 3)
                    + x2.groupedSwiGLU(experts($0), rowCounts: counts, rowsPerUnit: 256) + $0[0]
            } composed: {
                let x2 = $0[0] * 0.5
                return composed($0[0], experts($0)) + composed(x2, experts($0)) + $0[0]
            }
        }
    }

    @Test func swiGLUAndSilu() {
        let a = rnd([3, 8], seed: 42, low: -3, high: 3), b = rnd([3, 8], seed: 43)
        expectSameAsComposition("swiGLU", [a, b]) { Tensor.swiGLU($0[0], $0[1]) } composed: { $0[0] * $0[0].sigmoid() * $0[1] }
        expectSameAsComposition("silu", [a]) { $0[0].silu() } composed: { $0[0] * $0[0].sigmoid() }
    }

    /// RoPE as pairs: even/odd halves rotated with cos/sin tables and interleaved back.
    @Test(arguments: [0, 7])
    func rope(offset: Int) {
        let (b, t, h, d) = (2, 5, 3, 6)
        let x = rnd([b, t, h, d], seed: 44)
        var cosV: [Float] = [], sinV: [Float] = []
        for p in 0..<t {
            for i in 0..<(d / 2) {
                let angle = Double(p + offset) * Foundation.pow(10000.0, -Double(2 * i) / Double(d))
                cosV.append(Float(Foundation.cos(angle)))
                sinV.append(Float(Foundation.sin(angle)))
            }
        }
        let cos = Tensor(shape: [t, 1, d / 2, 1], scalars: cosV), sin = Tensor(shape: [t, 1, d / 2, 1], scalars: sinV)
        expectSameAsComposition("rope offset \(offset)", [x]) {
            $0[0].rope(positionOffset: offset)
        } composed: { xs in
            let pairs = xs[0].reshaped([b, t, h, d / 2, 2])
            let parts = pairs.split(sizes: [1, 1], axis: 4)
            let (x0, x1) = (parts[0], parts[1])
            let y0 = x0 * cos - x1 * sin, y1 = x0 * sin + x1 * cos
            return Tensor.concat([y0, y1], axis: 4).reshaped([b, t, h, d])
        }
    }

    /// Attention as batched matmuls, an additive causal mask and softmax; kv heads are shared by
    /// folding the query heads of a group into the row axis.
    @Test(arguments: [(4, 2, 6, 3), (2, 2, 4, 4), (3, 1, 4, 5)])
    func causalAttention(heads: Int, kvHeads: Int, dqk: Int, dv: Int) {
        let (b, t) = (2, 5)
        let r = heads / kvHeads
        let q = rnd([b, t, heads, dqk], seed: 45), k = rnd([b, t, kvHeads, dqk], seed: 46)
        let v = rnd([b, t, kvHeads, dv], seed: 47)
        let mask = Tensor(shape: [t, t]) { i in i % t > i / t ? -Float.infinity : 0 }
        let scale = 1 / Float(dqk).squareRoot()
        expectSameAsComposition("attention H=\(heads) G=\(kvHeads)", [q, k, v]) {
            Tensor.causalAttention(q: $0[0], k: $0[1], v: $0[2])
        } composed: { xs in
            let qh = xs[0].permuted([0, 2, 1, 3]).reshaped([b, kvHeads, r * t, dqk])  // [B, G, R·T, Dqk]
            let kh = xs[1].permuted([0, 2, 1, 3])                                       // [B, G, T, Dqk]
            let vh = xs[2].permuted([0, 2, 1, 3])                                       // [B, G, T, Dv]
            let scores = qh.matmul(kh, transposeB: true).reshaped([b, kvHeads, r, t, t]) * scale + mask
            let p = scores.softmax().reshaped([b, kvHeads, r * t, t])
            return p.matmul(vh).reshaped([b, heads, t, dv]).permuted([0, 2, 1, 3])
        }
    }

    @Test func crossEntropyAgainstLogSoftmax() {
        let (n, v) = (6, 7)
        let logits = rnd([n, v], seed: 48, low: -4, high: 4)
        let targets = IntTensor([3, 0, 6, 6, 1, 2])
        let maskValues: [Float] = [1, 1, 0, 1, 0, 1]
        let mask = Tensor(shape: [n], scalars: maskValues)
        let onehot = Tensor(shape: [n, v]) { i in Int32(i % v) == targets.scalars[i / v] ? 1 : 0 }
        expectSameAsComposition("crossEntropy", [logits]) {
            Tensor.crossEntropy(logits: $0[0], targets: targets, mask: mask)
        } composed: {
            -(($0[0].logSoftmax() * onehot).sum(axes: [1]) * mask).sum() / maskValues.reduce(0, +)
        }
    }

    @Test func softmaxAgainstExpOverSum() {
        let x = rnd([3, 6], seed: 49, low: -3, high: 3)
        expectSameAsComposition("softmax", [x]) { $0[0].softmax() } composed: {
            let e = $0[0].exp()
            return e / e.sum(axes: [-1], keepDims: true)
        }
        expectSameAsComposition("logSoftmax", [x]) { $0[0].logSoftmax() } composed: {
            $0[0] - $0[0].exp().sum(axes: [-1], keepDims: true).log()
        }
    }

    /// Transposes as BLAS flags give the same products as explicit transposed copies.
    @Test func matmulFlagsAgainstCopies() {
        let a = rnd([2, 4, 3], seed: 50), bm = rnd([2, 5, 4], seed: 51)
        expectSameAsComposition("matmul flags", [a, bm]) {
            $0[0].matmul($0[1], transposeA: true, transposeB: true)
        } composed: {
            $0[0].transposed().matmul($0[1].transposed())
        }
        let x = rnd([2, 3, 4], seed: 52), w = rnd([5, 4], seed: 53)
        expectSameAsComposition("linear", [x, w]) { $0[0].linear($0[1]) } composed: { $0[0].matmul($0[1].transposed()) }
    }

    /// Embedding and MoE-style dispatch/combine against one-hot matrix products.
    @Test func gatherAndScatterAgainstOneHotMatmul() {
        let table = rnd([5, 3], seed: 54)
        let ids = IntTensor([4, 1, 1, 0])
        let onehot = Tensor(shape: [4, 5]) { i in Int32(i % 5) == ids.scalars[i / 5] ? 1 : 0 }
        expectSameAsComposition("gatherRows", [table]) { $0[0].gatherRows(ids) } composed: { onehot.matmul($0[0]) }
        let src = rnd([4, 3], seed: 55)
        expectSameAsComposition("scatterAddRows", [src]) { $0[0].scatterAddRows(ids, rowCount: 5) } composed: {
            onehot.matmul($0[0], transposeA: true)
        }
    }

    /// Queries at the end of a longer key sequence give the last rows of full attention.
    @Test func attentionWithCacheMatchesLastRows() {
        let (b, t, h, g, d) = (2, 6, 4, 2, 4)
        let q = rnd([b, t, h, d], seed: 56), k = rnd([b, t, g, d], seed: 57), v = rnd([b, t, g, d], seed: 58)
        let full = Tensor.causalAttention(q: q, k: k, v: v).narrow(axis: 1, start: t - 2, length: 2)
        let tail = Tensor.causalAttention(q: q.narrow(axis: 1, start: t - 2, length: 2), k: k, v: v)
        #expect(maxAbsDiff(full, tail) <= 1e-6)
    }
}
