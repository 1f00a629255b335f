// Shape ops: reshape and leading-dim slices (views, free), narrow / split / concat along any
// axis and permute (copies).
//
// Gradient rules: a view or copy passes g back to the elements it came from (accumulated);
// concat hands each input its block of g; permute applies the inverse permutation.

extension BroadcastPlan {
    /// A plan over `out` with explicit operand strides (for permutations).
    init(out: [Int], explicitStrides: [[Int]]) {
        shape = out
        count = Tensor.elementCount(out)
        inner = out.last ?? 1
        strides = explicitStrides
    }
}

extension Tensor {
    /// Same elements with a new shape (one dimension may be -1). A view: no copy.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        let s = checked { try Shapes.reshape("reshape", shape, newShape) }
        var out = Tensor(shape: s, storage: storage, offset: offset, node: nil)
        if Tensor.recording(self) {
            let n = count
            out.record(self) { g, node in
                if node.shareGrad(0, g) { return }
                guard let gx = node.inputGrad(0) else { return }
                addInto(gx, g, n)
            }
        }
        return out
    }

    /// Rows `range` of the leading axis. A view: no copy.
    public func rows(_ range: Range<Int>) -> Tensor {
        require(rank >= 1 && range.lowerBound >= 0 && range.upperBound <= shape[0],
                     "rows: range \(range) out of bounds for shape \(shape)")
        let inner = shape.dropFirst().reduce(1, *)
        var out = Tensor(shape: [range.count] + shape.dropFirst(), storage: storage,
                         offset: offset + range.lowerBound * inner, node: nil)
        if Tensor.recording(self) {
            let start = range.lowerBound * inner, n = out.count
            out.record(self) { g, node in
                guard let gx = node.inputGrad(0) else { return }
                addInto(gx + start, g, n)
            }
        }
        return out
    }

    /// Elements `start..<start+length` along `axis` (a view for axis 0, else a copy).
    public func narrow(axis: Int, start: Int, length: Int) -> Tensor {
        let ax = checked { try Shapes.axis("narrow", axis, rank: rank, shape: shape) }
        require(start >= 0 && length >= 0 && start + length <= shape[ax],
                     "narrow: \(start)..<\(start + length) out of bounds on axis \(axis) of shape \(shape)")
        if ax == 0 { return rows(start..<(start + length)) }
        let outer = shape[..<ax].reduce(1, *), inner = shape[(ax + 1)...].reduce(1, *)
        let dim = shape[ax]
        var outShape = shape
        outShape[ax] = length
        var out = Tensor(uninitialized: outShape)
        let block = length * inner
        let (px, po) = (ptr, out.ptr)
        for o in 0..<outer {
            (po + o * block).update(from: px + o * dim * inner + start * inner, count: block)
        }
        if Tensor.recording(self) {
            out.record(self) { g, node in
                guard let gx = node.inputGrad(0) else { return }
                for o in 0..<outer {
                    let dst = gx + o * dim * inner + start * inner, src = g + o * block
                    for i in 0..<block { dst[i] += src[i] }
                }
            }
        }
        return out
    }

    /// Pieces of the given sizes along `axis` (sizes must add up to the axis length).
    public func split(sizes: [Int], axis: Int) -> [Tensor] {
        let ax = checked { try Shapes.axis("split", axis, rank: rank, shape: shape) }
        require(sizes.reduce(0, +) == shape[ax],
                     "split: sizes \(sizes) do not add up to \(shape[ax]) on axis \(axis) of shape \(shape)")
        var start = 0
        return sizes.map { size in
            defer { start += size }
            return narrow(axis: ax, start: start, length: size)
        }
    }

    /// Joins tensors along `axis`; all other dimensions must agree.
    public static func concat(_ xs: [Tensor], axis: Int) -> Tensor {
        let outShape = checked { try Shapes.concat("concat", xs.map(\.shape), axis: axis) }
        let ax = axis < 0 ? axis + outShape.count : axis
        let outer = outShape[..<ax].reduce(1, *), inner = outShape[(ax + 1)...].reduce(1, *)
        let total = outShape[ax] * inner
        var out = Tensor(uninitialized: outShape)
        var starts: [Int] = []
        var start = 0
        for x in xs {
            starts.append(start)
            let block = x.shape[ax] * inner
            for o in 0..<outer {
                copyElements(from: x.ptr + o * block, into: out.ptr + o * total + start, count: block)
            }
            start += block
        }
        if Tensor.recording(xs) {
            let blocks = xs.map { $0.shape[ax] * inner }
            out.record(xs) { g, node in
                for (i, block) in blocks.enumerated() {
                    // Every element of an input's gradient gets exactly one term.
                    guard let gx = node.gradTarget(i) else { continue }
                    for o in 0..<outer {
                        let src = g + o * total + starts[i], dst = gx.p + o * block
                        if gx.fresh { copyElements(from: src, into: dst, count: block) } else { addInto(dst, src, block) }
                    }
                }
            }
        }
        return out
    }

    /// Axes reordered: result axis i is input axis `dims[i]`. A copy.
    public func permuted(_ dims: [Int]) -> Tensor {
        require(dims.count == rank && Set(dims) == Set(0..<rank),
                     "permute: \(dims) is not a permutation of the axes of shape \(shape)")
        let outShape = dims.map { shape[$0] }
        var xStrides = [Int](repeating: 1, count: rank)
        for i in stride(from: rank - 2, through: 0, by: -1) { xStrides[i] = xStrides[i + 1] * shape[i + 1] }
        let permStrides = dims.map { xStrides[$0] }
        var out = Tensor(uninitialized: outShape)
        let plan = BroadcastPlan(out: outShape, explicitStrides: [permStrides])
        let s = plan.innerStride(0), n = plan.inner
        let (px, po) = (ptr, out.ptr)
        plan.forEachRow { o, offs in
            let io = offs[0]
            for j in 0..<n { po[o + j] = px[io + j * s] }
        }
        if Tensor.recording(self) {
            out.record(self) { g, node in
                // A permutation: every element of the input's gradient gets one term, and
                // distinct rows of g go to distinct elements, so threads split the rows.
                guard let gx = node.gradTarget(0) else { return }
                let pg = SendablePointer(g)
                parallelFor(plan.rowCount, grain: max(1, elementwiseGrain / max(n, 1))) { rows in
                    plan.forEachRow(in: rows) { o, offs in
                        let io = offs[0]
                        if gx.fresh {
                            for j in 0..<n { gx.p[io + j * s] = pg.p[o + j] }
                        } else {
                            for j in 0..<n { gx.p[io + j * s] += pg.p[o + j] }
                        }
                    }
                }
            }
        }
        return out
    }

    /// Swaps two axes (a copy).
    public func transposed(_ a: Int = -2, _ b: Int = -1) -> Tensor {
        let a = checked { try Shapes.axis("transpose", a, rank: rank, shape: shape) }
        let b = checked { try Shapes.axis("transpose", b, rank: rank, shape: shape) }
        var dims = Array(0..<rank)
        dims.swapAt(a, b)
        return permuted(dims)
    }
}

extension Tensor {
    /// A copy stretched to `shape` by NumPy broadcasting (e.g. MLA's shared k_rope
    /// [B, T, 1, Dr] → [B, T, H, Dr]). Gradient: g summed over the stretched axes (serial).
    public func broadcasted(to newShape: [Int]) -> Tensor {
        let s = checked { try Shapes.broadcast("broadcast", shape, newShape) }
        require(s == newShape, "broadcast: shape \(shape) cannot be stretched to \(newShape)")
        var out = Tensor(uninitialized: newShape)
        let plan = BroadcastPlan(out: newShape, operands: [shape])
        let st = plan.innerStride(0), n = plan.inner
        let px = SendablePointer(ptr), po = SendablePointer(out.ptr)
        parallelFor(plan.rowCount, grain: max(1, elementwiseGrain / max(n, 1))) { rows in
            plan.forEachRow(in: rows) { o, offs in
                let ix = offs[0]
                for j in 0..<n { po.p[o + j] = px.p[ix + j * st] }
            }
        }
        if Tensor.recording(self) {
            out.record(self) { g, node in
                guard let gx = node.inputGrad(0) else { return }
                plan.forEachRow { o, offs in
                    let ix = offs[0]
                    for j in 0..<n { gx[ix + j * st] += g[o + j] }
                }
            }
        }
        return out
    }
}
