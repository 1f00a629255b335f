// Index ops: embedding lookup, gather and scatter-add of rows by index (MoE dispatch and
// combine), and top-k indices.
//
// Gradient rules: gather's gradient scatter-adds g rows back to the rows they came from;
// scatter-add's gradient gathers g rows. Accumulation into a row hit several times happens in
// index order; threads split the destination rows (independent outputs), never one row's sum.

extension Tensor {
    /// Rows of `self` [N, ...] picked by `indices` (any shape S) → [S..., ...].
    /// Embedding lookup is `weight.gatherRows(tokens)`.
    public func gatherRows(_ indices: IntTensor) -> Tensor {
        require(rank >= 1, "gatherRows: needs rank >= 1, got shape \(shape)")
        let n = shape[0], rowSize = shape.dropFirst().reduce(1, *)
        let ids = indices.scalars
        for i in ids where i < 0 || Int(i) >= n {
            fatalError("gatherRows: index \(i) out of range for shape \(shape)")
        }
        var out = Tensor(uninitialized: indices.shape + shape.dropFirst())
        copyRows(from: ptr, picking: ids, rowSize: rowSize, into: out.ptr)
        if Tensor.recording(self) {
            out.record(self) { g, node in
                guard let gx = node.gradTarget(0) else { return }
                scatterAdd(g, ids, rowSize: rowSize, into: gx.p, dstRows: n, overwrite: gx.fresh)
            }
        }
        return out
    }

    /// Token embedding: rows of `weight` [V, D] for `tokens` (any shape S) → [S..., D].
    public static func embedding(_ weight: Tensor, _ tokens: IntTensor) -> Tensor {
        weight.gatherRows(tokens)
    }

    /// A [rowCount, ...] tensor of zeros to which row r of `self` [M, ...] is added at row
    /// `indices[r]` (indices [M]; repeated indices add up, in order of r).
    public func scatterAddRows(_ indices: IntTensor, rowCount: Int) -> Tensor {
        require(rank >= 1 && indices.count == shape[0],
                     "scatterAddRows: shapes \(shape) and \(indices.shape): need one index per row")
        let rowSize = shape.dropFirst().reduce(1, *)
        let ids = destinationRows("scatterAddRows", indices, rowCount: rowCount)
        var out = Tensor(uninitialized: [rowCount] + shape.dropFirst())
        scatterAdd(ptr, ids, rowSize: rowSize, into: out.ptr, dstRows: rowCount, overwrite: true)
        if Tensor.recording(self) {
            out.record(self) { g, node in
                // Row r of the input's gradient is row ids[r] of g: one term per element,
                // so threads split the rows.
                guard let gx = node.gradTarget(0) else { return }
                copyRows(from: g, picking: ids, rowSize: rowSize, into: gx.p, adding: !gx.fresh)
            }
        }
        return out
    }

    /// The MoE combine in one pass: a [rowCount, ...] tensor of zeros to which `weights[r] ·`
    /// row r of `self` [M, ...] is added at row `indices[r]` (weights [M] or [M, 1]; repeated
    /// indices add up, in order of r). The same bits as `(self * weights)` followed by
    /// `scatterAddRows`, without the [M, ...] product in between.
    /// Gradients: self gets g[indices[r]] · weights[r]; weights[r] gets Σ_j g[indices[r], j] ·
    /// self[r, j] (j ascending).
    public func weightedScatterAddRows(_ weights: Tensor, _ indices: IntTensor, rowCount: Int) -> Tensor {
        require(rank >= 1 && indices.count == shape[0] && weights.count == shape[0]
                && (weights.rank == 1 || (weights.rank == 2 && weights.shape[1] == 1)),
                "weightedScatterAddRows: shapes \(shape), weights \(weights.shape), indices \(indices.shape): need one weight and one index per row")
        let rowSize = shape.dropFirst().reduce(1, *)
        let ids = destinationRows("weightedScatterAddRows", indices, rowCount: rowCount)
        var out = Tensor(uninitialized: [rowCount] + shape.dropFirst())
        scatterAdd(ptr, ids, rowSize: rowSize, into: out.ptr, dstRows: rowCount, overwrite: true, weights: weights.ptr)
        if Tensor.recording(self, weights) {
            let (xv, wv) = (detached(), weights.detached())
            out.record(self, weights) { g, node in
                let px = SendablePointer(xv.ptr), pw = SendablePointer(wv.ptr), pg = SendablePointer(g)
                let gx = node.gradTarget(0), gw = node.gradTarget(1)
                withSendablePointer(to: ids) { pi in
                    // Row r of both gradients depends on row r only: threads split the rows.
                    parallelFor(ids.count, grain: max(1, elementwiseGrain / max(rowSize, 1))) { rows in
                        for r in rows {
                            let src = pg.p + Int(pi.p[r]) * rowSize, x = px.p + r * rowSize, w = pw.p[r]
                            if let gx {
                                let d = gx.p + r * rowSize
                                if gx.fresh {
                                    for j in 0..<rowSize { d[j] = 0 + src[j] * w }
                                } else {
                                    for j in 0..<rowSize { d[j] += src[j] * w }
                                }
                            }
                            if let gw {
                                var acc: Float = gw.fresh ? 0 : gw.p[r]
                                for j in 0..<rowSize { acc += src[j] * x[j] }
                                gw.p[r] = acc
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// Indices of the k largest elements along the last axis, largest first; equal values go
    /// to the lower index; NaN never beats a number. No gradient. [..., n] → [..., k].
    public func topK(_ k: Int) -> IntTensor {
        require(rank >= 1, "topK: needs rank >= 1, got shape \(shape)")
        let n = shape[rank - 1]
        require(k >= 0 && k <= n, "topK: k = \(k) out of range for shape \(shape)")
        let rows = n == 0 ? 0 : count / n
        var result = [Int32](repeating: 0, count: rows * k)
        var taken = [Bool](repeating: false, count: n)
        for r in 0..<rows {
            let row = ptr + r * n
            for i in 0..<n { taken[i] = false }
            for slot in 0..<k {
                var best = -1
                for i in 0..<n where !taken[i] {
                    if best < 0 || row[i] > row[best] || (row[best].isNaN && !row[i].isNaN) { best = i }
                }
                taken[best] = true
                result[r * k + slot] = Int32(best)
            }
        }
        return IntTensor(shape: Array(shape.dropLast()) + [k], scalars: result)
    }
}

/// The indices of a scatter, each checked to name one of `rowCount` destination rows.
func destinationRows(_ op: String, _ indices: IntTensor, rowCount: Int) -> [Int32] {
    let ids = indices.scalars
    for i in ids where i < 0 || Int(i) >= rowCount {
        fatalError("\(op): index \(i) out of range for \(rowCount) rows")
    }
    return ids
}

/// Calls `body` with `values`' elements as a pointer a parallel loop may capture (valid only
/// inside `body`; the loops only read it).
@inline(__always)
func withSendablePointer<T, R>(to values: [T], _ body: (SendablePointer<T>) -> R) -> R {
    values.withUnsafeBufferPointer { buffer in
        body(SendablePointer(UnsafeMutablePointer(mutating: buffer.baseAddress
                                                  ?? UnsafePointer(bitPattern: MemoryLayout<T>.alignment)!)))
    }
}

/// dst[r] = src[ids[r]] (or += with `adding`) for each row r; threads split the rows, each of
/// which is written once.
func copyRows(from src: UnsafePointer<Float>, picking ids: [Int32], rowSize: Int,
              into dst: UnsafeMutablePointer<Float>, adding: Bool = false) {
    let ps = SendablePointer(src), pd = SendablePointer(dst)
    withSendablePointer(to: ids) { pi in
        parallelFor(ids.count, grain: max(1, elementwiseGrain / max(rowSize, 1))) { rows in
            for r in rows {
                let d = pd.p + r * rowSize, s = ps.p + Int(pi.p[r]) * rowSize
                if adding {
                    for j in 0..<rowSize { d[j] += s[j] }
                } else {
                    d.update(from: s, count: rowSize)
                }
            }
        }
    }
}

/// dst[ids[r]] += src[r] for each row r, in order of r (dst has `dstRows` rows). With
/// `overwrite`, dst is uninitialised: each row becomes 0 + its terms in that order, and a row no
/// index names becomes 0. The indices are grouped by destination first (a counting sort that
/// keeps r ascending), so threads split the DESTINATION rows: each sums its own terms, in the
/// same order as one pass over r would, and reads and writes whole rows.
/// With `weights`, row r contributes weights[r] · src[r] (each product rounded, then added).
func scatterAdd(_ src: UnsafePointer<Float>, _ ids: [Int32], rowSize: Int, into dst: UnsafeMutablePointer<Float>,
                dstRows: Int, overwrite: Bool = false, weights: UnsafePointer<Float>? = nil) {
    // start[t] ..< start[t + 1]: positions in `order` of the rows r with ids[r] == t, ascending.
    var start = [Int](repeating: 0, count: dstRows + 1)
    for i in ids { start[Int(i) + 1] += 1 }
    for t in 0..<dstRows { start[t + 1] += start[t] }
    var order = [Int32](repeating: 0, count: ids.count)
    var fill = start
    for (r, i) in ids.enumerated() {
        order[fill[Int(i)]] = Int32(r)
        fill[Int(i)] += 1
    }
    let ps = SendablePointer(src), pd = SendablePointer(dst), pw = weights.map(SendablePointer.init)
    withSendablePointer(to: start) { st in
        withSendablePointer(to: order) { ord in
            let grain = max(1, elementwiseGrain / max(1, rowSize * max(1, ids.count / max(dstRows, 1))))
            parallelFor(dstRows, grain: grain) { rows in
                for t in rows {
                    let d = pd.p + t * rowSize
                    var e = st.p[t]
                    let end = st.p[t + 1]
                    if overwrite {
                        if e == end {
                            d.update(repeating: 0, count: rowSize)
                            continue
                        }
                        let r = Int(ord.p[e]), s = ps.p + r * rowSize
                        if let pw {
                            let w = pw.p[r]
                            for j in 0..<rowSize { d[j] = 0 + s[j] * w }
                        } else {
                            for j in 0..<rowSize { d[j] = 0 + s[j] }
                        }
                        e += 1
                    }
                    while e < end {
                        let r = Int(ord.p[e]), s = ps.p + r * rowSize
                        if let pw {
                            let w = pw.p[r]
                            for j in 0..<rowSize { d[j] += s[j] * w }
                        } else {
                            for j in 0..<rowSize { d[j] += s[j] }
                        }
                        e += 1
                    }
                }
            }
        }
    }
}

extension Tensor {
    /// Elements picked along the last axis: x [..., n], indices [..., k] → [..., k] with
    /// result[..., j] = x[..., indices[..., j]] (PyTorch `gather(-1, …)`; e.g. router scores at
    /// the selected experts). Gradient: scatter-add back (repeated indices add up).
    public func takeAlongLastAxis(_ indices: IntTensor) -> Tensor {
        require(rank >= 1 && indices.rank == rank && Array(indices.shape.dropLast()) == Array(shape.dropLast()),
                "takeAlongLastAxis: shapes \(shape) and \(indices.shape): indices must match all but the last axis")
        let n = shape[rank - 1], k = indices.shape[rank - 1]
        let flat = indices.scalars.enumerated().map { i, j -> Int32 in
            require(j >= 0 && Int(j) < n, "takeAlongLastAxis: index \(j) out of range for shape \(shape)")
            return Int32(i / max(k, 1) * n) + j
        }
        return reshaped([count]).gatherRows(IntTensor(shape: indices.shape, scalars: flat))
    }

    /// log Σ exp over the last axis ([..., n] → [...]), max-shifted. Gradient: softmax · g.
    public func logSumExp() -> Tensor {
        require(rank >= 1 && shape[rank - 1] > 0, "logSumExp: needs a non-empty last axis, got shape \(shape)")
        // lse = x_0 − logSoftmax(x)_0, exactly (both terms from the same row).
        return (self - logSoftmax()).narrow(axis: rank - 1, start: 0, length: 1).reshaped(Array(shape.dropLast()))
    }
}
