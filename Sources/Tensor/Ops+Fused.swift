// Fused ops of the hot path, each wrapping a forward/backward kernel pair (Kernels/): RMSNorm,
// interleaved RoPE, SwiGLU and causal scaled-dot-product attention (MODEL.md). Each is tested
// against the composition of primitives it replaces and by finite differences.
//
// Glossary: N rows, D row width, B batch, T sequence (Tq queries, Tk keys), H query heads,
// G kv heads (H % G == 0), Dqk query/key head dim, Dv value head dim.
//
// Gradient rules:
//   rmsNorm: r = 1/sqrt(mean(x²)+eps), n = x·r, y = n⊙w
//            gw = Σ_rows g⊙n;  gx = r·(g⊙w − n·mean(g⊙w⊙n))
//   rope:    the inverse rotation R(−θ)·g
//   swiGLU:  y = silu(a)⊙b; ga = g⊙b⊙s(1 + a(1−s)), gb = g⊙silu(a)
//   attention: per (b, h, t): p = softmax_j(scale·q·k_j) over causal j, o = Σ p_j v_j;
//            dp_j = g·v_j, ds_j = p_j(dp_j − g·o); gq = scale Σ ds_j k_j,
//            gk_j += scale ds_j q, gv_j += p_j g.

extension Tensor {
    /// RMSNorm over the last axis: x / sqrt(mean(x²) + eps) ⊙ weight. x [..., D], weight [D].
    public func rmsNorm(weight: Tensor, eps: Float = 1e-6) -> Tensor {
        checked { try Shapes.lastDim("rmsNorm", shape, weight: weight.shape) }
        let d = shape[rank - 1], rows = d == 0 ? 0 : count / d
        var out = Tensor(uninitialized: shape)
        let rstd = TensorStorage(uninitializedCount: rows)
        Kernels.rmsNormForward(x: ptr, weight: weight.ptr, y: out.ptr, rstd: rstd.pointer, rows: rows, dim: d, eps: eps)
        if Tensor.recording(self, weight) {
            let (xv, wv) = (detached(), weight.detached())
            out.record(self, weight) { g, node in
                node.overwriteGrads([xv.count, d]) { gr in
                    Kernels.rmsNormBackward(dy: g, x: xv.ptr, weight: wv.ptr, rstd: rstd.pointer,
                                            dx: gr[0], dweight: gr[1], rows: rows, dim: d)
                }
            }
        }
        return out
    }

    /// Interleaved rotary embedding (MODEL.md) of x [B, T, H, d] or [B, T, d] (d even): the pair
    /// (x[2i], x[2i+1]) at sequence index t is rotated by θ = (t + positionOffset)·theta^(−2i/d).
    /// Angles, cos and sin are computed in Double and rounded once to Float.
    public func rope(theta: Float = 10000, positionOffset: Int = 0) -> Tensor {
        require((rank == 3 || rank == 4) && shape[rank - 1] % 2 == 0 && shape[rank - 1] > 0,
                "rope: x must be [B, T, H, d] or [B, T, d] with even d > 0, got shape \(shape)")
        require(positionOffset >= 0, "rope: negative position offset \(positionOffset)")
        let b = shape[0], t = shape[1], d = shape[rank - 1]
        let h = rank == 4 ? shape[2] : 1
        let table = RopeTable(dim: d, positions: positionOffset + t, base: Double(theta))
        var out = Tensor(uninitialized: shape)
        Kernels.ropeForward(x: ptr, y: out.ptr, batch: b, seq: t, heads: h, positionOffset: positionOffset, table: table)
        if Tensor.recording(self) {
            let n = count
            out.record(self) { g, node in
                node.overwriteGrads([n]) { gx in
                    Kernels.ropeBackward(dy: g, dx: gx[0], batch: b, seq: t, heads: h,
                                         positionOffset: positionOffset, table: table)
                }
            }
        }
        return out
    }

    /// silu(a) ⊙ b for a, b of the same shape.
    public static func swiGLU(_ a: Tensor, _ b: Tensor) -> Tensor {
        checked { try Shapes.same("swiGLU", a.shape, b.shape) }
        let f = a.shape.last ?? 1, rows = f == 0 ? 0 : a.count / f
        var out = Tensor(uninitialized: a.shape)
        Kernels.swigluForward(a: a.ptr, b: b.ptr, y: out.ptr, rows: rows, cols: f)
        if Tensor.recording(a, b) {
            let (av, bv) = (a.detached(), b.detached())
            out.record(a, b) { g, node in
                node.overwriteGrads([av.count, bv.count]) { gr in
                    Kernels.swigluBackward(dy: g, a: av.ptr, b: bv.ptr, da: gr[0], db: gr[1], rows: rows, cols: f)
                }
            }
        }
        return out
    }

    /// Causal scaled-dot-product attention. q [B, Tq, H, Dqk], k [B, Tk, G, Dqk],
    /// v [B, Tk, G, Dv] → [B, Tq, H, Dv], Tk ≥ Tq: query i sits at position Tk − Tq + i and
    /// attends keys j ≤ Tk − Tq + i (Tq == Tk in training; Tq < Tk decoding against a cache).
    /// Query head h uses kv head h / (H/G). `scale` defaults to 1/sqrt(Dqk).
    /// `maxLogit`, when given, receives each query head's largest pre-softmax logit scale·q·k
    /// over every causal pair of the batch, [H] (QK-clip's S_h).
    public static func causalAttention(q: Tensor, k: Tensor, v: Tensor, scale: Float? = nil,
                                       maxLogit: (([Float]) -> Void)? = nil) -> Tensor {
        let outShape = checked { try Shapes.attention("causalAttention", q: q.shape, k: k.shape, v: v.shape) }
        let geo = AttentionGeometry(batch: q.shape[0], queries: q.shape[1], keys: k.shape[1], heads: q.shape[2],
                                 kvHeads: k.shape[2], dqk: q.shape[3], dv: v.shape[3], scale: scale)
        var out = Tensor(uninitialized: outShape)
        let lse = TensorStorage(uninitializedCount: geo.batch * geo.heads * geo.queries)
        if let maxLogit {
            var perBatchHead = [Float](repeating: -.infinity, count: geo.batch * geo.heads)
            Kernels.attentionForward(q: q.ptr, k: k.ptr, v: v.ptr, o: out.ptr, lse: lse.pointer, shape: geo,
                                     maxLogit: &perBatchHead)
            maxLogit((0..<geo.heads).map { h in
                (0..<geo.batch).reduce(-Float.infinity) { max($0, perBatchHead[$1 * geo.heads + h]) }
            })
        } else {
            Kernels.attentionForward(q: q.ptr, k: k.ptr, v: v.ptr, o: out.ptr, lse: lse.pointer, shape: geo)
        }
        if recording([q, k, v]) {
            let (qv, kv, vv) = (q.detached(), k.detached(), v.detached())
            out.record([q, k, v]) { g, node in
                node.overwriteGrads([qv.count, kv.count, vv.count]) { gr in
                    Kernels.attentionBackward(q: qv.ptr, k: kv.ptr, v: vv.ptr, lse: lse.pointer, dout: g,
                                              dq: gr[0], dk: gr[1], dv: gr[2], shape: geo)
                }
            }
        }
        return out
    }

    /// The probabilities `causalAttention` weights v with, for telemetry (no gradient): per
    /// head in `heads`, [B, Tq, Tk] row-major (row i = softmax over keys j ≤ Tk − Tq + i, zeros
    /// above the causal limit). The kernel's own mask, scale and arithmetic.
    public static func attentionProbabilities(q: Tensor, k: Tensor, scale: Float? = nil, heads: [Int]) -> [[Float]] {
        let geo = AttentionGeometry(batch: q.shape[0], queries: q.shape[1], keys: k.shape[1], heads: q.shape[2],
                                 kvHeads: k.shape[2], dqk: q.shape[3], dv: k.shape[3], scale: scale)
        return heads.filter { $0 < geo.heads }.map { head in
            var probs = [Float](repeating: 0, count: geo.batch * geo.queries * geo.keys)
            probs.withUnsafeMutableBufferPointer { buffer in
                for b in 0..<geo.batch {
                    Kernels.attentionProbabilities(q: q.ptr, k: k.ptr, shape: geo, batchIndex: b, head: head,
                                                   probs: buffer.baseAddress! + b * geo.queries * geo.keys)
                }
            }
            return probs
        }
    }
}
