// Causal attention (MHA, GQA, MQA, MLA head dims, KV-cache decoding with Tq < Tk, several query
// blocks) against a Double reference; backward against the analytic Double backward, which is
// itself checked by finite differences.
import Foundation
import Testing
@testable import Tensor

@Suite("Kernel attention")
struct KernelAttentionTests {
    struct Run {
        var o: [Float], lse: [Float], dq: [Float], dk: [Float], dv: [Float]
    }

    static func inputs(_ s: AttentionGeometry, seed: UInt64)
        -> (q: [Float], k: [Float], v: [Float], dout: [Float]) {
        var rng = TestRNG(seed)
        return (rng.floats(s.batch * s.queries * s.heads * s.dqk, -2, 2),
                rng.floats(s.batch * s.keys * s.kvHeads * s.dqk, -2, 2),
                rng.floats(s.batch * s.keys * s.kvHeads * s.dv),
                rng.floats(s.batch * s.queries * s.heads * s.dv))
    }

    static func run(_ s: AttentionGeometry, _ q: [Float], _ k: [Float], _ v: [Float], _ dout: [Float]) -> Run {
        var o = [Float](repeating: 0, count: s.batch * s.queries * s.heads * s.dv)
        var lse = [Float](repeating: 0, count: s.batch * s.heads * s.queries)
        Kernels.attentionForward(q: q, k: k, v: v, o: &o, lse: &lse, shape: s)
        var dq = [Float](repeating: .nan, count: q.count)
        var dk = [Float](repeating: .nan, count: k.count)
        var dv = [Float](repeating: .nan, count: v.count)
        Kernels.attentionBackward(q: q, k: k, v: v, lse: lse, dout: dout, dq: &dq, dk: &dk, dv: &dv, shape: s)
        return Run(o: o, lse: lse, dq: dq, dk: dk, dv: dv)
    }

    static let shapes: [AttentionGeometry] = [
        AttentionGeometry(batch: 2, queries: 5, heads: 2, dqk: 4),                       // MHA
        AttentionGeometry(batch: 1, queries: 6, heads: 4, kvHeads: 2, dqk: 3),           // GQA
        AttentionGeometry(batch: 2, queries: 4, heads: 3, kvHeads: 1, dqk: 5),           // MQA
        AttentionGeometry(batch: 1, queries: 5, heads: 2, dqk: 6, dv: 4),                // MLA dims
        AttentionGeometry(batch: 1, queries: 3, keys: 7, heads: 2, kvHeads: 1, dqk: 4),  // decode, cache
        AttentionGeometry(batch: 1, queries: 70, heads: 2, kvHeads: 1, dqk: 17, dv: 9),  // 2 query blocks
        AttentionGeometry(batch: 1, queries: 67, keys: 131, heads: 1, dqk: 8, dv: 8),    // blocks + cache
    ]

    @Test(arguments: 0..<shapes.count)
    func forwardAndBackwardMatchReference(_ index: Int) {
        let s = Self.shapes[index]
        let (q, k, v, dout) = Self.inputs(s, seed: UInt64(30 + index))
        let r = Self.run(s, q, k, v, dout)
        let ref = Ref.attention(q: toDouble(q), k: toDouble(k), v: toDouble(v), s: s)
        expectClose(r.o, ref.o, atol: 2e-6, rtol: 1e-5, "attention o \(s)")
        let g = Ref.attentionBackward(q: toDouble(q), k: toDouble(k), v: toDouble(v),
                                      dout: toDouble(dout), s: s)
        expectClose(r.dq, g.dq, atol: 1e-5, rtol: 1e-4, "attention dq \(s)")
        expectClose(r.dk, g.dk, atol: 1e-5, rtol: 1e-4, "attention dk \(s)")
        expectClose(r.dv, g.dv, atol: 1e-5, rtol: 1e-4, "attention dv \(s)")
    }

    /// Guards the Double reference backward itself (and so every comparison above).
    @Test func referenceBackwardMatchesFiniteDifferences() {
        let s = AttentionGeometry(batch: 1, queries: 3, keys: 4, heads: 2, kvHeads: 1, dqk: 3, dv: 2)
        let (q, k, v, dout) = Self.inputs(s, seed: 40)
        let qd = toDouble(q), kd = toDouble(k), vd = toDouble(v), gd = toDouble(dout)
        let g = Ref.attentionBackward(q: qd, k: kd, v: vd, dout: gd, s: s)
        let fq = finiteDifferences(qd) { weightedSum(Ref.attention(q: $0, k: kd, v: vd, s: s).o, gd) }
        let fk = finiteDifferences(kd) { weightedSum(Ref.attention(q: qd, k: $0, v: vd, s: s).o, gd) }
        let fv = finiteDifferences(vd) { weightedSum(Ref.attention(q: qd, k: kd, v: $0, s: s).o, gd) }
        for (a, b) in zip(g.dq + g.dk + g.dv, fq + fk + fv) { #expect(abs(a - b) < 1e-8) }
        // And the float kernel directly against finite differences, for good measure.
        let r = Self.run(s, q, k, v, dout)
        expectClose(r.dq + r.dk + r.dv, fq + fk + fv, atol: 2e-5, rtol: 1e-4, "kernel vs FD")
    }

    @Test func probabilitiesMatchReference() {
        let s = AttentionGeometry(batch: 2, queries: 70, keys: 75, heads: 4, kvHeads: 2, dqk: 5, dv: 3)
        let (q, k, v, _) = Self.inputs(s, seed: 41)
        let ref = Ref.attention(q: toDouble(q), k: toDouble(k), v: toDouble(v), s: s)
        var probs = [Float](repeating: .nan, count: s.queries * s.keys)
        Kernels.attentionProbabilities(q: q, k: k, shape: s, batchIndex: 1, head: 3, probs: &probs)
        let off = (1 * s.heads + 3) * s.queries * s.keys
        expectClose(probs, Array(ref.p[off..<(off + s.queries * s.keys)]), atol: 1e-7, rtol: 1e-5, "probs")
    }

    /// q, k, v read straight out of one fused [B, T, (H + 2G)·D] projection, o written into a
    /// padded buffer, k/v as a cache with room for more positions: same numbers as packed.
    @Test func stridedViewsMatchPackedLayout() {
        let (B, T, H, G, D) = (2, 37, 4, 2, 8)
        let packed = AttentionGeometry(batch: B, queries: T, heads: H, kvHeads: G, dqk: D)
        let (q, k, v, dout) = Self.inputs(packed, seed: 42)
        let ref = Self.run(packed, q, k, v, dout)

        let width = (H + 2 * G) * D
        var fused = [Float](repeating: .nan, count: B * T * width)
        for b in 0..<B { for t in 0..<T {
            let row = (b * T + t) * width
            for c in 0..<(H * D) { fused[row + c] = q[(b * T + t) * H * D + c] }
            for c in 0..<(G * D) {
                fused[row + H * D + c] = k[(b * T + t) * G * D + c]
                fused[row + (H + G) * D + c] = v[(b * T + t) * G * D + c]
            }
        } }
        let oWidth = H * D + 3
        var doutPadded = [Float](repeating: .nan, count: B * T * oWidth)
        for b in 0..<B { for t in 0..<T { for c in 0..<(H * D) {
            doutPadded[(b * T + t) * oWidth + c] = dout[(b * T + t) * H * D + c]
        } } }
        let seq = SeqStrides(batch: T * width, token: width)
        let s = AttentionGeometry(batch: B, queries: T, heads: H, kvHeads: G, dqk: D,
                               qStrides: seq, kStrides: seq, vStrides: seq,
                               oStrides: SeqStrides(batch: T * oWidth, token: oWidth))
        var o = [Float](repeating: 7, count: B * T * oWidth)
        var lse = [Float](repeating: 0, count: B * H * T)
        var dfused = [Float](repeating: 7, count: fused.count)
        fused.withUnsafeBufferPointer { f in
            dfused.withUnsafeMutableBufferPointer { d in
                let fp = f.baseAddress!, dp = d.baseAddress!
                Kernels.attentionForward(q: fp, k: fp + H * D, v: fp + (H + G) * D, o: &o,
                                         lse: &lse, shape: s)
                Kernels.attentionBackward(q: fp, k: fp + H * D, v: fp + (H + G) * D, lse: lse,
                                          dout: doutPadded, dq: dp, dk: dp + H * D,
                                          dv: dp + (H + G) * D, shape: s)
            }
        }
        var gotO = [Float](), gotDQ = [Float](), gotDK = [Float](), gotDV = [Float]()
        for b in 0..<B { for t in 0..<T {
            let row: Int = (b * T + t) * width
            let oRow: Int = (b * T + t) * oWidth
            let hd: Int = H * D, kvEnd: Int = (H + G) * D
            gotO += o[oRow..<(oRow + hd)]
            gotDQ += dfused[row..<(row + hd)]
            gotDK += dfused[(row + hd)..<(row + kvEnd)]
            gotDV += dfused[(row + kvEnd)..<(row + width)]
            let padding = o[(oRow + hd)..<(oRow + oWidth)]
            #expect(padding.allSatisfy { $0 == 7 })
        } }
        expectClose(gotO, toDouble(ref.o), atol: 1e-6, rtol: 1e-6, "strided o")
        expectClose(lse, toDouble(ref.lse), atol: 1e-6, rtol: 1e-6, "strided lse")
        expectClose(gotDQ, toDouble(ref.dq), atol: 1e-6, rtol: 1e-6, "strided dq")
        expectClose(gotDK, toDouble(ref.dk), atol: 1e-6, rtol: 1e-6, "strided dk")
        expectClose(gotDV, toDouble(ref.dv), atol: 1e-6, rtol: 1e-6, "strided dv")
    }

    /// Decoding against a KV cache allocated for more positions than are filled.
    @Test func kvCacheBatchStride() {
        let (B, Tq, Tk, cap, H, D) = (2, 2, 9, 16, 2, 4)
        let packed = AttentionGeometry(batch: B, queries: Tq, keys: Tk, heads: H, dqk: D)
        let (q, k, v, _) = Self.inputs(packed, seed: 43)
        var kc = [Float](repeating: .nan, count: B * cap * H * D), vc = kc
        for b in 0..<B { for j in 0..<(Tk * H * D) {
            kc[b * cap * H * D + j] = k[b * Tk * H * D + j]
            vc[b * cap * H * D + j] = v[b * Tk * H * D + j]
        } }
        let cache = SeqStrides(batch: cap * H * D, token: H * D)
        let s = AttentionGeometry(batch: B, queries: Tq, keys: Tk, heads: H, dqk: D,
                               kStrides: cache, vStrides: cache)
        var o = [Float](repeating: 0, count: B * Tq * H * D)
        var lse = [Float](repeating: 0, count: B * H * Tq)
        Kernels.attentionForward(q: q, k: kc, v: vc, o: &o, lse: &lse, shape: s)
        let ref = Ref.attention(q: toDouble(q), k: toDouble(k), v: toDouble(v), s: packed)
        expectClose(o, ref.o, atol: 2e-6, rtol: 1e-5, "cache o")
    }
}
