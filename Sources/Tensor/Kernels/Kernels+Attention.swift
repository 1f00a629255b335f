// Causal scaled-dot-product attention (MHA / GQA / MQA / MLA), forward and backward.
//
//   q    [B, Tq, H, Dqk]      k  [B, Tk, G, Dqk]      v  [B, Tk, G, Dv]
//   o    [B, Tq, H, Dv]       lse [B, H, Tq]  (log Σ_j exp(s_ij), saved for backward; packed)
//   Heads of a token are contiguous; batch and token strides are free (`AttentionGeometry`'s
//   q/k/v/oStrides, default packed), and dq/dk/dv/dout use the strides of q/k/v/o.
//   Tk >= Tq: query i sits at absolute position Tk − Tq + i and attends keys j <= Tk − Tq + i
//   (Tq == Tk for training; Tq < Tk when decoding against a KV cache).
//   Head h uses kv head h / (H / G).  s_ij = scale · q_i·k_j,  p = softmax_j(s),  o_i = Σ_j p_ij v_j.
//
// Algorithm: per (b, h), query rows in blocks of `blockRows`; each block computes its score
// block S [rows, keys so far] with one sgemm, the causal softmax in place, then O = P·V with a
// second sgemm. Scratch is O(blockRows · Tk) per thread, never O(Tk²).
// Backward per (b, g), heads of the group in order, recomputing P from `lse`:
//   dV += Pᵀ·dO,  dP = dO·Vᵀ,  dS = P ⊙ (dP − rowsum(P ⊙ dP)),  dQ = scale·dS·K,  dK += scale·dSᵀ·Q.
// Each thread owns whole (b, g) slices of dK and dV and whole (b, h) slices of dQ, so results
// do not depend on the thread count. All sgemm calls are single-threaded (inside Parallel).
// The per-head work is KernelCore's AttentionCore, compiled in each ISA module and called on
// the active path (`Kernels.path`), so its GEMMs and softmax rows run on that path's registers.
import KernelCore
import Foundation

/// Element strides of a [B, T, …] sequence tensor: between batches and between tokens.
public struct SeqStrides: Sendable, Equatable {
    public var batch: Int
    public var token: Int
    public init(batch: Int, token: Int) {
        self.batch = batch
        self.token = token
    }
}

/// Sizes (and optional strides) of one causal attention call (layouts: Kernels+Attention.swift).
public struct AttentionGeometry: Sendable, Equatable {
    public var batch: Int
    /// Tq
    public var queries: Int
    /// Tk (>= Tq)
    public var keys: Int
    /// H
    public var heads: Int
    /// G (divides H)
    public var kvHeads: Int
    public var dqk: Int
    public var dv: Int
    /// Multiplies q·k; usually 1/sqrt(dqk).
    public var scale: Float
    /// Element strides between batches and between tokens of q (and dq); the heads of a token
    /// are contiguous. Default packed [B, Tq, H, Dqk]: (Tq·H·Dqk, H·Dqk). A wider token stride
    /// reads q straight out of a fused projection, e.g. [B, T, (H + 2G)·D] for q|k|v.
    public var qStrides: SeqStrides
    /// k and dk; default packed [B, Tk, G, Dqk]. A batch stride > Tk·token reads a KV cache
    /// allocated for more positions than `keys`.
    public var kStrides: SeqStrides
    /// v and dv; default packed [B, Tk, G, Dv].
    public var vStrides: SeqStrides
    /// o and dout; default packed [B, Tq, H, Dv].
    public var oStrides: SeqStrides

    public init(batch: Int, queries: Int, keys: Int? = nil, heads: Int, kvHeads: Int? = nil,
                dqk: Int, dv: Int? = nil, scale: Float? = nil,
                qStrides: SeqStrides? = nil, kStrides: SeqStrides? = nil,
                vStrides: SeqStrides? = nil, oStrides: SeqStrides? = nil) {
        self.batch = batch
        self.queries = queries
        self.keys = keys ?? queries
        self.heads = heads
        self.kvHeads = kvHeads ?? heads
        self.dqk = dqk
        self.dv = dv ?? dqk
        self.scale = scale ?? 1 / Float(dqk).squareRoot()
        let tk = self.keys, g = self.kvHeads, dv = self.dv
        self.qStrides = qStrides ?? SeqStrides(batch: queries * heads * dqk, token: heads * dqk)
        self.kStrides = kStrides ?? SeqStrides(batch: tk * g * dqk, token: g * dqk)
        self.vStrides = vStrides ?? SeqStrides(batch: tk * g * dv, token: g * dv)
        self.oStrides = oStrides ?? SeqStrides(batch: queries * heads * dv, token: heads * dv)
        precondition(self.qStrides.token >= heads * dqk && self.kStrides.token >= g * dqk
                     && self.vStrides.token >= g * dv && self.oStrides.token >= heads * dv,
                     "attention: a token stride is smaller than its heads × head dim")
        precondition(batch >= 0 && queries >= 0 && self.keys >= queries,
                     "attention: need keys (\(self.keys)) >= queries (\(queries))")
        precondition(heads > 0 && self.kvHeads > 0 && heads % self.kvHeads == 0,
                     "attention: kvHeads \(self.kvHeads) must divide heads \(heads)")
    }

    var group: Int { heads / kvHeads }
    var offset: Int { keys - queries }
}

extension AttentionGeometry {
    /// One head's sizes and token strides, for KernelCore's per-head attention.
    var head: AttentionHeadShape {
        AttentionHeadShape(queries: queries, keys: keys, dqk: dqk, dv: dv, scale: scale,
                           ldq: qStrides.token, ldk: kStrides.token, ldv: vStrides.token, ldo: oStrides.token,
                           blockRows: Kernels.blockRowsFor(self))
    }
}

extension Kernels {
    /// Query rows per block in attention (scratch per thread: `AttentionHeadShape.forwardScratch`,
    /// or `backwardScratch` + blockRows · Tk floats).
    static let attentionBlockRows = 32

    /// Causal attention forward: writes `o` [B, Tq, H, Dv] and `lse` [B, H, Tq]. With
    /// `maxLogit` [B, H], also writes each (batch, head)'s largest pre-softmax logit
    /// scale·q·k over its causal pairs (QK-clip's S_h before the max over the batch); a max is
    /// exact, so it does not depend on the blocking or the thread count.
    public static func attentionForward(
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        o: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>,
        shape s: AttentionGeometry, maxLogit: UnsafeMutablePointer<Float>? = nil
    ) {
        guard s.batch > 0 && s.queries > 0 else { return }
        let pq = SendablePointer(q), pk = SendablePointer(k), pv = SendablePointer(v)
        let po = SendablePointer(o), pl = SendablePointer(lse)
        let pm = maxLogit.map(SendablePointer.init)
        let head = s.head
        Parallel.for(s.batch * s.heads) { range in
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: max(head.forwardScratch, 1))
            defer { scratch.deallocate() }
            for bh in range {
                let b = bh / s.heads, h = bh % s.heads, g = h / s.group
                let qh = pq.p + b * s.qStrides.batch + h * s.dqk
                let kh = pk.p + b * s.kStrides.batch + g * s.dqk
                let vh = pv.p + b * s.vStrides.batch + g * s.dv
                let oh = po.p + b * s.oStrides.batch + h * s.dv
                let lseh = pl.p + (b * s.heads + h) * s.queries
                let headMax: UnsafeMutablePointer<Float>? = pm.map { $0.p + bh }
                headMax?.pointee = -Float.infinity
                path.attentionForwardHead(head, q: qh, k: kh, v: vh, o: oh, lse: lseh, headMax: headMax, scratch: scratch)
            }
        }
    }

    /// Causal attention backward: overwrites `dq` [B, Tq, H, Dqk], `dk` [B, Tk, G, Dqk] and
    /// `dv` [B, Tk, G, Dv] from `dout` [B, Tq, H, Dv] and the forward's `lse`.
    public static func attentionBackward(
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        lse: UnsafePointer<Float>, dout: UnsafePointer<Float>,
        dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>,
        dv: UnsafeMutablePointer<Float>,
        shape s: AttentionGeometry
    ) {
        guard s.batch > 0 else { return }
        let pq = SendablePointer(q), pk = SendablePointer(k), pv = SendablePointer(v)
        let pl = SendablePointer(lse), pdo = SendablePointer(dout)
        let pdq = SendablePointer(dq), pdk = SendablePointer(dk), pdv = SendablePointer(dv)
        let head = s.head
        Parallel.for(s.batch * s.kvHeads) { range in
            let cap = blockRowsFor(s) * s.keys
            let pBuf = UnsafeMutablePointer<Float>.allocate(capacity: max(head.backwardScratch, 1))
            let dpBuf = UnsafeMutablePointer<Float>.allocate(capacity: max(cap, 1))
            defer { pBuf.deallocate(); dpBuf.deallocate() }
            for bg in range {
                let b = bg / s.kvHeads, g = bg % s.kvHeads
                let kh = pk.p + b * s.kStrides.batch + g * s.dqk
                let vh = pv.p + b * s.vStrides.batch + g * s.dv
                let dkh = pdk.p + b * s.kStrides.batch + g * s.dqk
                let dvh = pdv.p + b * s.vStrides.batch + g * s.dv
                for j in 0..<s.keys {
                    (dkh + j * s.kStrides.token).update(repeating: 0, count: s.dqk)
                    (dvh + j * s.vStrides.token).update(repeating: 0, count: s.dv)
                }
                for h in (g * s.group)..<((g + 1) * s.group) {
                    let qh = pq.p + b * s.qStrides.batch + h * s.dqk
                    let dqh = pdq.p + b * s.qStrides.batch + h * s.dqk
                    let doh = pdo.p + b * s.oStrides.batch + h * s.dv
                    let lseh = pl.p + (b * s.heads + h) * s.queries
                    path.attentionBackwardHead(head, q: qh, k: kh, v: vh, lse: lseh, dout: doh,
                                               dq: dqh, dk: dkh, dv: dvh, pBuf: pBuf, dpBuf: dpBuf)
                }
            }
        }
    }

    /// Attention probabilities of one (batch, head) for telemetry: writes `probs` [Tq, Tk]
    /// (row i = softmax over keys j <= Tk − Tq + i, zeros above the causal limit), with the same
    /// arithmetic as `attentionForward`.
    public static func attentionProbabilities(
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, shape s: AttentionGeometry,
        batchIndex b: Int, head h: Int, probs: UnsafeMutablePointer<Float>
    ) {
        precondition(b >= 0 && b < s.batch && h >= 0 && h < s.heads,
                     "attentionProbabilities: (b \(b), h \(h)) outside [\(s.batch), \(s.heads)]")
        guard s.queries > 0 else { return }
        let g = h / s.group
        let qh = q + b * s.qStrides.batch + h * s.dqk
        let kh = k + b * s.kStrides.batch + g * s.dqk
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: blockRowsFor(s) * s.keys)
        let lse = UnsafeMutablePointer<Float>.allocate(capacity: s.queries)
        defer { scratch.deallocate(); lse.deallocate() }
        let head = s.head
        head.forEachBlock { i0, rows, kEnd in
            let qb = qh + i0 * head.ldq
            path.attentionProbBlock(head, q: qb, k: kh, i0: i0, rows: rows, kEnd: kEnd, p: scratch, lse: lse + i0)
            for r in 0..<rows {
                let dst = probs + (i0 + r) * s.keys
                dst.update(from: scratch + r * kEnd, count: kEnd)
                if kEnd < s.keys { (dst + kEnd).update(repeating: 0, count: s.keys - kEnd) }
            }
        }
    }

    @inline(__always)
    static func blockRowsFor(_ s: AttentionGeometry) -> Int {
        max(1, min(attentionBlockRows, s.queries))
    }
}
