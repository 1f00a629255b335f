// Softmax, log-softmax and fused cross-entropy against Double references; backward passes
// against finite differences; stability at ±1e4; NaN propagation; masked rows.
import Foundation
import Testing
@testable import Tensor

@Suite("Kernel softmax")
struct KernelSoftmaxTests {
    @Test func softmaxForwardAndBackward() {
        var rng = TestRNG(20)
        for (n, v) in [(3, 5), (2, 37), (2, 16)] {
            let x = rng.floats(n * v, -4, 4), gy = rng.floats(n * v)
            var y = [Float](repeating: 0, count: n * v)
            Kernels.softmaxForward(x: x, y: &y, rows: n, cols: v)
            expectClose(y, Ref.softmax(toDouble(x), n: n, v: v), atol: 1e-7, rtol: 2e-6, "softmax fwd")
            var dx = [Float](repeating: 0, count: n * v)
            Kernels.softmaxBackward(y: y, dy: gy, dx: &dx, rows: n, cols: v)
            let gd = toDouble(gy)
            let fd = finiteDifferences(toDouble(x)) { weightedSum(Ref.softmax($0, n: n, v: v), gd) }
            expectClose(dx, fd, atol: 1e-5, rtol: 1e-4, "softmax dx")
        }
    }

    @Test func logSoftmaxForwardAndBackward() {
        var rng = TestRNG(21)
        for (n, v) in [(3, 5), (2, 37)] {
            let x = rng.floats(n * v, -4, 4), gy = rng.floats(n * v)
            var y = [Float](repeating: 0, count: n * v), lse = [Float](repeating: 0, count: n)
            Kernels.logSoftmaxForward(x: x, y: &y, lse: &lse, rows: n, cols: v)
            expectClose(y, Ref.logSoftmax(toDouble(x), n: n, v: v), atol: 2e-6, rtol: 1e-6, "logsoftmax fwd")
            var dx = [Float](repeating: 0, count: n * v)
            Kernels.logSoftmaxBackward(y: y, dy: gy, dx: &dx, rows: n, cols: v)
            let gd = toDouble(gy)
            let fd = finiteDifferences(toDouble(x)) { weightedSum(Ref.logSoftmax($0, n: n, v: v), gd) }
            expectClose(dx, fd, atol: 2e-5, rtol: 1e-4, "logsoftmax dx")
        }
    }

    @Test func crossEntropyForwardBackwardWithMask() {
        var rng = TestRNG(22)
        let (n, v) = (6, 19)
        let x = rng.floats(n * v, -5, 5)
        let targets: [Int32] = [3, 0, -1, 18, 7, 7]  // row 2 is masked: its target is never read
        let mask: [Float] = [1, 1, 0, 1, 0.5, 1]
        var losses = [Float](repeating: 0, count: n), lse = [Float](repeating: 0, count: n)
        let r = Kernels.crossEntropyForward(logits: x, targets: targets, mask: mask, losses: &losses,
                                            lse: &lse, rows: n, vocab: v)
        let md = toDouble(mask)
        let safeTargets = targets.map { max($0, 0) }
        let want = Ref.crossEntropy(toDouble(x), targets: safeTargets, mask: md, n: n, v: v)
        #expect(abs(Double(r.mean) - want) < 2e-6 * max(1, want))
        #expect(r.weightSum == 4.5)
        #expect(losses[2] == 0)
        let ls = Ref.logSoftmax(toDouble(x), n: n, v: v)
        expectClose([losses[0], losses[3]], [-ls[3], -ls[3 * v + 18]], atol: 2e-6, rtol: 1e-6, "row losses")

        var dl = [Float](repeating: 1, count: n * v)
        Kernels.crossEntropyBackward(logits: x, targets: targets, mask: mask, lse: lse, gradMean: 2,
                                     dlogits: &dl, rows: n, vocab: v)
        let fd = finiteDifferences(toDouble(x)) {
            2 * Ref.crossEntropy($0, targets: safeTargets, mask: md, n: n, v: v)
        }
        expectClose(dl, fd, atol: 1e-5, rtol: 1e-4, "cross-entropy dlogits")
        #expect(dl[(2 * v)..<(3 * v)].allSatisfy { $0 == 0 })
    }

    @Test func crossEntropyStableAtHugeLogits() {
        let v = 4
        let x: [Float] = [1e4, -1e4, 0, 1e4 - 1,   -1e4, -1e4, -1e4, -1e4 + 2]
        let targets: [Int32] = [3, 0]
        var losses = [Float](repeating: 0, count: 2), lse = [Float](repeating: 0, count: 2)
        let r = Kernels.crossEntropyForward(logits: x, targets: targets, losses: &losses, lse: &lse,
                                            rows: 2, vocab: v)
        let want = Ref.crossEntropy(toDouble(x), targets: targets, mask: [1, 1], n: 2, v: v)
        #expect(r.mean.isFinite)
        #expect(abs(Double(r.mean) - want) < 1e-4, "mean \(r.mean) vs \(want)")
        var dl = [Float](repeating: 0, count: 2 * v)
        Kernels.crossEntropyBackward(logits: x, targets: targets, lse: lse, dlogits: &dl, rows: 2, vocab: v)
        #expect(dl.allSatisfy { $0.isFinite })
        var y = [Float](repeating: 0, count: 2 * v)
        Kernels.softmaxForward(x: x, y: &y, rows: 2, cols: v)
        expectClose(y, Ref.softmax(toDouble(x), n: 2, v: v), atol: 1e-7, rtol: 2e-6, "softmax ±1e4")
    }

    @Test func nanPropagatesThroughSoftmaxAndCrossEntropy() {
        let v = 20
        var x = [Float](repeating: 0.5, count: 2 * v)
        x[17] = .nan
        var y = [Float](repeating: 0, count: 2 * v)
        Kernels.softmaxForward(x: x, y: &y, rows: 2, cols: v)
        #expect(y[0..<v].allSatisfy { $0.isNaN })
        #expect(y[v...].allSatisfy { !$0.isNaN })
        Kernels.logSoftmaxForward(x: x, y: &y, rows: 2, cols: v)
        #expect(y[0..<v].allSatisfy { $0.isNaN })
        var losses: [Float] = [0, 0], lse: [Float] = [0, 0]
        let r = Kernels.crossEntropyForward(logits: x, targets: [1, 2], losses: &losses, lse: &lse,
                                            rows: 2, vocab: v)
        #expect(r.mean.isNaN && losses[0].isNaN && !losses[1].isNaN)
        var dl = [Float](repeating: 0, count: 2 * v)
        Kernels.crossEntropyBackward(logits: x, targets: [1, 2], lse: lse, dlogits: &dl, rows: 2, vocab: v)
        #expect(dl[0..<v].allSatisfy { $0.isNaN })
    }

    @Test func allMaskedGivesZeroLossAndGradient() {
        let x: [Float] = [1, 2, 3, 4]
        var losses: [Float] = [9, 9], lse: [Float] = [9, 9]
        let r = Kernels.crossEntropyForward(logits: x, targets: [0, 1], mask: [0, 0], losses: &losses,
                                            lse: &lse, rows: 2, vocab: 2)
        #expect(r.mean == 0 && r.weightSum == 0)
        var dl: [Float] = [9, 9, 9, 9]
        Kernels.crossEntropyBackward(logits: x, targets: [0, 1], mask: [0, 0], lse: lse, dlogits: &dl,
                                     rows: 2, vocab: 2)
        #expect(dl == [0, 0, 0, 0])
    }
}
