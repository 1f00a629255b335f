import Testing
import Foundation
@testable import Tensor

/// What the attention kernel reports besides its output: each head's largest logit (QK-clip's
/// S_h) and the probabilities the probes store. Both must be the kernel's own arithmetic.
struct AttentionTelemetryTests {
    /// Brute force in Double: logits scale·q_i·k_j over causal pairs (query i at Tk − Tq + i).
    static func logits(_ q: Tensor, _ k: Tensor, scale: Double) -> [[[[Double]]]] {   // [b][h][i][j ≤ limit]
        let (b, tq, h, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
        let (tk, g) = (k.shape[1], k.shape[2])
        let qs = q.scalars, ks = k.scalars
        return (0..<b).map { bi in (0..<h).map { head in (0..<tq).map { i in
            (0...(tk - tq + i)).map { j in
                (0..<d).reduce(0.0) { $0 + Double(qs[((bi * tq + i) * h + head) * d + $1])
                    * Double(ks[((bi * tk + j) * g + head / (h / g)) * d + $1]) } * scale
            }
        } } }
    }

    @Test(arguments: [(2, 5, 5, 4, 2), (3, 2, 7, 4, 1), (1, 40, 40, 2, 2)])
    func maxLogitIsTheLargestCausalLogitPerHead(_ dims: (Int, Int, Int, Int, Int)) {
        let (b, tq, tk, h, g) = dims, d = 6
        let q = rnd([b, tq, h, d], seed: 71, low: -2, high: 2), k = rnd([b, tk, g, d], seed: 72, low: -2, high: 2)
        let v = rnd([b, tk, g, d], seed: 73)
        var reported: [Float] = []
        let out = Tensor.causalAttention(q: q, k: k, v: v, scale: 0.5) { reported = $0 }
        let all = Self.logits(q, k, scale: 0.5)
        let expected = (0..<h).map { head in all.map { $0[head].flatMap { $0 }.max()! }.max()! }
        #expect(reported.count == h)
        for head in 0..<h { #expect(abs(Double(reported[head]) - expected[head]) < 1e-5, "head \(head)") }
        // Thread count cannot change it.
        for threads in [1, 3] {
            var again: [Float] = []
            _ = Parallel.withThreadsSplittingEverything(threads) { Tensor.causalAttention(q: q, k: k, v: v, scale: 0.5) { again = $0 } }
            #expect(again == reported, "\(threads) threads")
        }
        // Asking for the max changes nothing else.
        #expect(maxAbsDiff(out, Tensor.causalAttention(q: q, k: k, v: v, scale: 0.5)) == 0)
    }

    @Test func probabilitiesAreTheKernelsSoftmax() {
        let (b, t, h, g, d) = (2, 9, 4, 2, 4)
        let q = rnd([b, t, h, d], seed: 81), k = rnd([b, t, g, d], seed: 82), v = rnd([b, t, g, d], seed: 83)
        let heads = [0, 3]
        let probs = Tensor.attentionProbabilities(q: q, k: k, heads: heads + [7])   // head 7 does not exist
        #expect(probs.count == 2)
        let all = Self.logits(q, k, scale: 1 / Double(d).squareRoot())
        let out = Tensor.causalAttention(q: q, k: k, v: v).scalars, vs = v.scalars
        for (index, head) in heads.enumerated() {
            for bi in 0..<b {
                for i in 0..<t {
                    let row = Array(probs[index][((bi * t + i) * t)..<((bi * t + i + 1) * t)])
                    let scores = all[bi][head][i], m = scores.max()!
                    let total = scores.reduce(0.0) { $0 + ($1 - m).exp() }
                    for j in 0..<t {
                        let expected = j <= i ? (scores[j] - m).exp() / total : 0
                        #expect(abs(Double(row[j]) - expected) < 1e-6, "b \(bi) head \(head) [\(i), \(j)]")
                    }
                    // Σ_j p_ij v_j is the kernel's output for that query and head.
                    for c in 0..<d {
                        let weighted = (0...i).reduce(0.0) { $0 + Double(row[$1]) * Double(vs[((bi * t + $1) * g + head / 2) * d + c]) }
                        #expect(abs(weighted - Double(out[((bi * t + i) * h + head) * d + c])) < 1e-5)
                    }
                }
            }
        }
    }
}

private extension Double {
    func exp() -> Double { Foundation.exp(self) }
}
