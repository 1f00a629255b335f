// AttentionCore: the per-head work of causal attention (Tensor/Kernels/Kernels+Attention.swift
// has the layouts, the algorithm and the threading), written once and compiled once per ISA
// path, as GemmCore is. Each ISA module calls these with its own lane type, so the score and
// output GEMMs run GemmCore's micro-kernel directly and the softmax rows (VectorCore's SIMD16
// helpers) compile to that path's registers. The arithmetic is GemmCore's fma chains and
// VectorCore's fixed-order row helpers on every path: the bits do not depend on the path.

/// The sizes and token strides one head's attention needs (Tensor's `AttentionGeometry`
/// without the batch strides, which the caller applies to the head pointers).
public struct AttentionHeadShape: Sendable {
    public var queries: Int
    public var keys: Int
    public var dqk: Int
    public var dv: Int
    public var scale: Float
    /// Token strides of q (and dq), k (and dk), v (and dv), o (and dout).
    public var ldq: Int, ldk: Int, ldv: Int, ldo: Int
    /// Query rows per block.
    public var blockRows: Int

    @inlinable
    public init(queries: Int, keys: Int, dqk: Int, dv: Int, scale: Float,
                ldq: Int, ldk: Int, ldv: Int, ldo: Int, blockRows: Int) {
        self.queries = queries; self.keys = keys; self.dqk = dqk; self.dv = dv; self.scale = scale
        self.ldq = ldq; self.ldk = ldk; self.ldv = ldv; self.ldo = ldo; self.blockRows = blockRows
    }

    /// Tk − Tq: query i sits at absolute position offset + i.
    @inlinable public var offset: Int { keys - queries }

    /// Floats of the forward's per-thread scratch: a block of probabilities (blockRows · Tk)
    /// and Kᵀ (Dqk · Tk).
    @inlinable public var forwardScratch: Int { (blockRows + dqk) * keys }

    /// Floats of the backward's `pBuf`: a block of probabilities (blockRows · Tk), Kᵀ
    /// (Dqk · Tk) and Vᵀ (Dv · Tk). `dpBuf` holds blockRows · Tk.
    @inlinable public var backwardScratch: Int { (blockRows + dqk + dv) * keys }

    /// Calls body(i0, rows, kEnd) for each query block; keys 0..<kEnd are visible to the block.
    @inlinable @inline(__always)
    public func forEachBlock(_ body: (Int, Int, Int) -> Void) {
        var i0 = 0
        while i0 < queries {
            let rows = min(blockRows, queries - i0)
            body(i0, rows, offset + i0 + rows)
            i0 += rows
        }
    }
}

/// dst [cols, rows] (row stride `rows`) = src [rows, cols] (row stride `ld`) transposed. The
/// score GEMMs then read Kᵀ and Vᵀ as plain row-major B, in place, instead of packing K (or V)
/// transposed again for every block of queries; a copy changes no bit.
@inlinable
public func attentionTransposeCore(_ src: UnsafePointer<Float>, ld: Int, rows: Int, cols: Int,
                                   into dst: UnsafeMutablePointer<Float>) {
    for r in 0..<rows {
        let row = src + r * ld
        var o = dst + r
        for c in 0..<cols {
            o.pointee = row[c]
            o += rows
        }
    }
}

/// P [rows, kEnd] = causal softmax of scale·Q_blk·K[0..<kEnd]ᵀ, for the query block at i0
/// (`qb` points at its first row; `kT` is Kᵀ [Dqk, Tk], row stride Tk). With `fromLSE == false` computes and writes lse [rows] (and
/// raises `rowMax` to the largest logit of the block when given); with `true` uses the given lse
/// (backward recompute). Entries past each row's causal limit are 0.
@inlinable
public func attentionProbBlockCore<L: GemmLanes>(
    _ lanes: L.Type, _ blocking: GemmBlocking, _ s: AttentionHeadShape,
    q qb: UnsafePointer<Float>, kT: UnsafePointer<Float>, i0: Int, rows: Int, kEnd: Int,
    p: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>, fromLSE: Bool,
    rowMax maxOut: UnsafeMutablePointer<Float>?
) {
    typealias Vec = VectorCore<L>
    gemmSerialCore(lanes, blocking, transA: false, transB: false, m: rows, n: kEnd, k: s.dqk, alpha: s.scale,
                   a: qb, lda: s.ldq, b: kT, ldb: s.keys, beta: 0, c: p, ldc: kEnd)
    if fromLSE {
        for r in 0..<rows {
            let valid = s.offset + i0 + r + 1
            let row = p + r * kEnd
            _ = Vec.expShifted(row, row, valid, shift: lse[r])
            if valid < kEnd { (row + valid).update(repeating: 0, count: kEnd - valid) }
        }
        return
    }
    // lse_r = m_r + log(sum_r): the row maxima and sums first, then the block's logs in one
    // vectorised pass (DetMath.log's bits).
    withUnsafeTemporaryAllocation(of: Double.self, capacity: 2 * rows) { buffer in
        let maxes = buffer.baseAddress!, logs = maxes + rows
        for r in 0..<rows {
            let valid = s.offset + i0 + r + 1
            let row = p + r * kEnd
            let m = Vec.rowMax(row, valid)
            if let maxOut, m > maxOut.pointee { maxOut.pointee = m }
            let sum = Vec.expShifted(row, row, valid, shift: m)
            Vec.scaleRow(row, valid, by: 1 / sum)
            maxes[r] = Double(m)
            logs[r] = Double(sum)
            if valid < kEnd { (row + valid).update(repeating: 0, count: kEnd - valid) }
        }
        Vec.logs(logs, rows)
        for r in 0..<rows { lse[r] = Float(maxes[r]) + Float(logs[r]) }
    }
}

/// One head's forward: o [Tq, Dv] and lse [Tq] from q, k, v (head pointers, token strides in
/// `s`). `scratch` holds `s.forwardScratch` floats. `headMax`, when given, is raised to the head's
/// largest logit (the caller initialises it).
@inlinable
public func attentionForwardHeadCore<L: GemmLanes>(
    _ lanes: L.Type, _ blocking: GemmBlocking, _ s: AttentionHeadShape,
    q qh: UnsafePointer<Float>, k kh: UnsafePointer<Float>, v vh: UnsafePointer<Float>,
    o oh: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>,
    headMax: UnsafeMutablePointer<Float>?, scratch: UnsafeMutablePointer<Float>
) {
    let kT = scratch + s.blockRows * s.keys
    attentionTransposeCore(kh, ld: s.ldk, rows: s.keys, cols: s.dqk, into: kT)
    s.forEachBlock { i0, rows, kEnd in
        attentionProbBlockCore(lanes, blocking, s, q: qh + i0 * s.ldq, kT: kT, i0: i0, rows: rows, kEnd: kEnd,
                               p: scratch, lse: lse + i0, fromLSE: false, rowMax: headMax)
        gemmSerialCore(lanes, blocking, transA: false, transB: false, m: rows, n: s.dv, k: kEnd, alpha: 1,
                       a: scratch, lda: kEnd, b: vh, ldb: s.ldv, beta: 0, c: oh + i0 * s.ldo, ldc: s.ldo)
    }
}

/// One head's backward: writes dq [Tq, Dqk] and adds into dk [Tk, Dqk] and dv [Tk, Dv] (its kv
/// head's, which the caller zeroes before the group's first head), recomputing P from lse.
/// `pBuf` holds `s.backwardScratch` floats, `dpBuf` blockRows · Tk.
@inlinable
public func attentionBackwardHeadCore<L: GemmLanes>(
    _ lanes: L.Type, _ blocking: GemmBlocking, _ s: AttentionHeadShape,
    q qh: UnsafePointer<Float>, k kh: UnsafePointer<Float>, v vh: UnsafePointer<Float>,
    lse: UnsafePointer<Float>, dout doh: UnsafePointer<Float>,
    dq dqh: UnsafeMutablePointer<Float>, dk dkh: UnsafeMutablePointer<Float>, dv dvh: UnsafeMutablePointer<Float>,
    pBuf: UnsafeMutablePointer<Float>, dpBuf: UnsafeMutablePointer<Float>
) {
    typealias Vec = VectorCore<L>
    let kT = pBuf + s.blockRows * s.keys, vT = kT + s.dqk * s.keys
    attentionTransposeCore(kh, ld: s.ldk, rows: s.keys, cols: s.dqk, into: kT)
    attentionTransposeCore(vh, ld: s.ldv, rows: s.keys, cols: s.dv, into: vT)
    s.forEachBlock { i0, rows, kEnd in
        // P [rows, kEnd] recomputed from lse.
        attentionProbBlockCore(lanes, blocking, s, q: qh + i0 * s.ldq, kT: kT, i0: i0, rows: rows, kEnd: kEnd,
                               p: pBuf, lse: UnsafeMutablePointer(mutating: lse + i0), fromLSE: true, rowMax: nil)
        // dV[0..<kEnd] += Pᵀ · dO_blk
        gemmSerialCore(lanes, blocking, transA: true, transB: false, m: kEnd, n: s.dv, k: rows, alpha: 1,
                       a: pBuf, lda: kEnd, b: doh + i0 * s.ldo, ldb: s.ldo, beta: 1, c: dvh, ldc: s.ldv)
        // dP = dO_blk · V[0..<kEnd]ᵀ
        gemmSerialCore(lanes, blocking, transA: false, transB: false, m: rows, n: kEnd, k: s.dv, alpha: 1,
                       a: doh + i0 * s.ldo, lda: s.ldo, b: vT, ldb: s.keys, beta: 0, c: dpBuf, ldc: kEnd)
        // dS = P ⊙ (dP − Σ_j P dP), in dpBuf; zero beyond the causal limit.
        for r in 0..<rows {
            let valid = s.offset + i0 + r + 1
            let pr = pBuf + r * kEnd, dr = dpBuf + r * kEnd
            let dsum = F16(repeating: Vec.dot(pr, dr, valid))
            Vec.forEach16(valid) { j, c in
                if c == 16 {
                    Vec.store16(Vec.load16(pr + j) * (Vec.load16(dr + j) - dsum), dr + j)
                } else {
                    Vec.storePartial(Vec.loadPartial(pr + j, c, fill: 0) * (Vec.loadPartial(dr + j, c, fill: 0) - dsum), dr + j, c)
                }
            }
            if valid < kEnd { (dr + valid).update(repeating: 0, count: kEnd - valid) }
        }
        // dQ_blk = scale · dS · K[0..<kEnd]
        gemmSerialCore(lanes, blocking, transA: false, transB: false, m: rows, n: s.dqk, k: kEnd, alpha: s.scale,
                       a: dpBuf, lda: kEnd, b: kh, ldb: s.ldk, beta: 0, c: dqh + i0 * s.ldq, ldc: s.ldq)
        // dK[0..<kEnd] += scale · dSᵀ · Q_blk
        gemmSerialCore(lanes, blocking, transA: true, transB: false, m: kEnd, n: s.dqk, k: rows, alpha: s.scale,
                       a: dpBuf, lda: kEnd, b: qh + i0 * s.ldq, ldb: s.ldq, beta: 1, c: dkh, ldc: s.ldk)
    }
}
