// The routed experts of an MoE layer as one op: every expert's SwiGLU FFN over its own rows,
// the experts side by side on the cores instead of one after another.
//
//   x [M, D]: the dispatched rows, grouped by expert (rowCounts[e] rows for expert e, in order)
//   expert e: a1 = x_e·W1ᵀ, a3 = x_e·W3ᵀ  [M_e, F];  h = silu(a1) ⊙ a3;  y_e = h·W2ᵀ  [M_e, D]
//
// The same bits as the composition it replaces (per expert `rows` → two `linear` → `swiGLU`
// → `linear`, then `concat`), forward and backward, because it runs the same kernels on the
// same operands: every GEMM output element is one ascending-k fma chain whatever rows a call
// covers, and the one sum of two products — dx = dh3·W3, then + dh1·W1 — keeps the order the
// tape gave it (the W3 branch's backward ran first: β = 0, then β = 1).
//
// Parallel work units (fixed by the row counts, never by the thread count):
//   forward and backward phase 1: row blocks of one expert (≤ `rowsPerUnit` rows; every
//     quantity there is row-local: a1, a3, h, y, dh, dh1, dh3, dx);
//   backward phase 2: one weight gradient of one expert (dW2 = dyᵀ·h, dW3 = dh3ᵀ·x,
//     dW1 = dh1ᵀ·x: a sum over the expert's rows, so one serial GEMM each).

/// One SwiGLU expert's weights (MODEL.md): w1 and w3 [F, D], w2 [D, F].
public struct SwiGLUExpert {
    public var w1: Tensor
    public var w3: Tensor
    public var w2: Tensor
    public init(w1: Tensor, w3: Tensor, w2: Tensor) {
        self.w1 = w1; self.w3 = w3; self.w2 = w2
    }
}

/// Where one expert's rows and hidden activations sit in the op's buffers.
private struct ExpertSlot: Sendable {
    let row: Int        // first row of the expert in x and y
    let rows: Int       // M_e
    let hidden: Int     // F_e
    let offset: Int     // first element of its [M_e, F_e] blocks in the hidden buffers
}

/// A block of rows of one expert.
private struct RowUnit: Sendable {
    let expert: Int
    let start: Int      // relative to the expert's first row
    let count: Int
}

extension Tensor {
    /// The routed experts in one op: `self` [M, D] holds `rowCounts[e]` rows for expert
    /// `experts[e]`, one expert after another; the result [M, D] holds each row's expert output
    /// (MODEL.md: W2·(silu(W1·x) ⊙ W3·x)). Bit-identical to the per-expert composition (see
    /// the file header). Experts with no rows are skipped and get no gradient.
    public func groupedSwiGLU(_ experts: [SwiGLUExpert], rowCounts: [Int]) -> Tensor {
        groupedSwiGLU(experts, rowCounts: rowCounts, rowsPerUnit: 256)
    }

    /// `rowsPerUnit`: the longest row block of one work unit (speed only; tests make it small
    /// so that tiny shapes still split).
    func groupedSwiGLU(_ experts: [SwiGLUExpert], rowCounts: [Int], rowsPerUnit: Int) -> Tensor {
        require(rank == 2, "groupedSwiGLU: x must be [M, D], got shape \(shape)")
        require(experts.count == rowCounts.count,
                "groupedSwiGLU: \(experts.count) experts but \(rowCounts.count) row counts")
        let m = shape[0], d = shape[1]
        require(rowCounts.allSatisfy { $0 >= 0 } && rowCounts.reduce(0, +) == m,
                "groupedSwiGLU: row counts \(rowCounts) must be >= 0 and add up to the \(m) rows of x")
        var slots: [ExpertSlot] = []
        var row = 0, offset = 0
        for (e, ex) in experts.enumerated() {
            let f = ex.w1.shape.first ?? 0
            require(ex.w1.shape == [f, d] && ex.w3.shape == [f, d] && ex.w2.shape == [d, f],
                    "groupedSwiGLU: expert \(e) has w1 \(ex.w1.shape), w3 \(ex.w3.shape), w2 \(ex.w2.shape); "
                    + "expected [F, \(d)], [F, \(d)] and [\(d), F]")
            slots.append(ExpertSlot(row: row, rows: rowCounts[e], hidden: f, offset: offset))
            row += rowCounts[e]
            offset += rowCounts[e] * f
        }
        let hiddenCount = offset
        var units: [RowUnit] = []
        let unitRows = max(1, rowsPerUnit)
        for (e, slot) in slots.enumerated() where slot.rows > 0 {
            let parts = (slot.rows + unitRows - 1) / unitRows
            for p in 0..<parts {
                let lo = slot.rows * p / parts, hi = slot.rows * (p + 1) / parts
                units.append(RowUnit(expert: e, start: lo, count: hi - lo))
            }
        }
        let w1 = experts.map { SendablePointer($0.w1.ptr) }, w3 = experts.map { SendablePointer($0.w3.ptr) }
        let w2 = experts.map { SendablePointer($0.w2.ptr) }

        var out = Tensor(uninitialized: [m, d])
        let a1 = TensorStorage(uninitializedCount: hiddenCount), a3 = TensorStorage(uninitializedCount: hiddenCount)
        let h = TensorStorage(uninitializedCount: hiddenCount)
        let px = SendablePointer(ptr), py = SendablePointer(out.ptr)
        let pa1 = SendablePointer(a1.pointer), pa3 = SendablePointer(a3.pointer), ph = SendablePointer(h.pointer)
        let unitList = units, slotList = slots
        Parallel.for(unitList.count) { range in
            for u in range {
                let unit = unitList[u], s = slotList[unit.expert], f = s.hidden, r = unit.count
                let xr = px.p + (s.row + unit.start) * d, hOff = s.offset + unit.start * f
                Kernels.gemmSerial(transA: false, transB: true, m: r, n: f, k: d, alpha: 1, a: xr, lda: d,
                                   b: w1[unit.expert].p, ldb: d, beta: 0, c: pa1.p + hOff, ldc: f)
                Kernels.gemmSerial(transA: false, transB: true, m: r, n: f, k: d, alpha: 1, a: xr, lda: d,
                                   b: w3[unit.expert].p, ldb: d, beta: 0, c: pa3.p + hOff, ldc: f)
                Kernels.swigluForward(a: pa1.p + hOff, b: pa3.p + hOff, y: ph.p + hOff, rows: r, cols: f)
                Kernels.gemmSerial(transA: false, transB: true, m: r, n: d, k: f, alpha: 1, a: ph.p + hOff, lda: f,
                                   b: w2[unit.expert].p, ldb: f, beta: 0, c: py.p + (s.row + unit.start) * d, ldc: d)
            }
        }

        let inputs = [self] + experts.flatMap { [$0.w1, $0.w3, $0.w2] }
        guard Tensor.recording(inputs) else { return out }
        let kept = inputs.map { $0.detached() }   // keeps x and the weights alive for backward
        out.record(inputs) { g, node in
            _ = kept
            let pg = SendablePointer(g)
            let gx = node.gradTarget(0)
            // Weight gradients of the experts that saw rows, in input order: w1, w3, w2.
            var targets: [GradTarget?] = []
            for (e, slot) in slotList.enumerated() {
                for j in 0..<3 { targets.append(slot.rows > 0 ? node.gradTarget(1 + 3 * e + j) : nil) }
            }
            let dh = TensorStorage(uninitializedCount: hiddenCount)
            let dh1 = TensorStorage(uninitializedCount: hiddenCount), dh3 = TensorStorage(uninitializedCount: hiddenCount)
            let pdh = SendablePointer(dh.pointer), pdh1 = SendablePointer(dh1.pointer), pdh3 = SendablePointer(dh3.pointer)

            // Phase 1, row-local: dh = dy·W2, the SwiGLU backward, dx = dh3·W3 + dh1·W1.
            Parallel.for(unitList.count) { range in
                for u in range {
                    let unit = unitList[u], s = slotList[unit.expert], f = s.hidden, r = unit.count
                    let firstRow = s.row + unit.start, hOff = s.offset + unit.start * f
                    Kernels.gemmSerial(transA: false, transB: false, m: r, n: f, k: d, alpha: 1, a: pg.p + firstRow * d, lda: d,
                                       b: w2[unit.expert].p, ldb: f, beta: 0, c: pdh.p + hOff, ldc: f)
                    Kernels.swigluBackward(dy: pdh.p + hOff, a: pa1.p + hOff, b: pa3.p + hOff,
                                           da: pdh1.p + hOff, db: pdh3.p + hOff, rows: r, cols: f)
                    guard let gx else { continue }
                    // Fresh: write dx in place; else form it aside and add it (as `rows` did).
                    let scratch = gx.fresh ? nil : UnsafeMutablePointer<Float>.allocate(capacity: r * d)
                    let c = scratch ?? gx.p + firstRow * d
                    Kernels.gemmSerial(transA: false, transB: false, m: r, n: d, k: f, alpha: 1, a: pdh3.p + hOff, lda: f,
                                       b: w3[unit.expert].p, ldb: d, beta: 0, c: c, ldc: d)
                    Kernels.gemmSerial(transA: false, transB: false, m: r, n: d, k: f, alpha: 1, a: pdh1.p + hOff, lda: f,
                                       b: w1[unit.expert].p, ldb: d, beta: 1, c: c, ldc: d)
                    if let scratch {
                        addInto(gx.p + firstRow * d, scratch, r * d)
                        scratch.deallocate()
                    }
                }
            }

            // Phase 2: one weight gradient per unit, each a sum over its expert's rows.
            let jobs = targets.indices.filter { targets[$0] != nil }
            let targetList = targets
            Parallel.for(jobs.count) { range in
                for j in range {
                    let job = jobs[j], e = job / 3, s = slotList[e], f = s.hidden
                    guard let target = targetList[job] else { continue }
                    let beta: Float = target.fresh ? 0 : 1
                    switch job % 3 {
                    case 0, 1:   // dW1 = dh1ᵀ · x_e, dW3 = dh3ᵀ · x_e   [F, D]
                        let dhx = job % 3 == 0 ? pdh1 : pdh3
                        Kernels.gemmSerial(transA: true, transB: false, m: f, n: d, k: s.rows, alpha: 1,
                                           a: dhx.p + s.offset, lda: f, b: px.p + s.row * d, ldb: d,
                                           beta: beta, c: target.p, ldc: d)
                    default:     // dW2 = dyᵀ · h   [D, F]
                        Kernels.gemmSerial(transA: true, transB: false, m: d, n: f, k: s.rows, alpha: 1,
                                           a: pg.p + s.row * d, lda: d, b: ph.p + s.offset, ldb: f,
                                           beta: beta, c: target.p, ldc: f)
                    }
                }
            }
            withExtendedLifetime((a1, a3, h, dh, dh1, dh3)) {}
        }
        return out
    }
}
