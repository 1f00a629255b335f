// Softmax, log-softmax (last axis) and cross-entropy with a target mask fused with log-softmax,
// all wrapping the row kernels of Kernels+Softmax.swift.
//
// Gradient rules (per row, y = result):
//   softmax:      gx = y ⊙ (g − Σ g⊙y)
//   log-softmax:  gx = g − softmax(x) · Σ g
//   cross-entropy: loss = Σ_i m_i (logsumexp(x_i) − x_i[t_i]) / Σ_i m_i;
//                  gx_i = g · m_i / Σm · (softmax(x_i) − onehot(t_i))
// Every row subtracts its max first, so logits of ±1e4 are fine.

extension Tensor {
    /// Softmax over the last axis.
    public func softmax() -> Tensor {
        rowwiseSoftmax(log: false)
    }

    /// Log-softmax over the last axis.
    public func logSoftmax() -> Tensor {
        rowwiseSoftmax(log: true)
    }

    private func rowwiseSoftmax(log: Bool) -> Tensor {
        require(rank >= 1, "\(log ? "logSoftmax" : "softmax"): needs rank >= 1, got shape \(shape)")
        let n = shape[rank - 1], rows = n == 0 ? 0 : count / n
        var out = Tensor(uninitialized: shape)
        if log {
            Kernels.logSoftmaxForward(x: ptr, y: out.ptr, rows: rows, cols: n)
        } else {
            Kernels.softmaxForward(x: ptr, y: out.ptr, rows: rows, cols: n)
        }
        if Tensor.recording(self) {
            let yv = out.detached(), count = count
            out.record(self) { g, node in
                node.overwriteGrads([count]) { gx in
                    if log {
                        Kernels.logSoftmaxBackward(y: yv.ptr, dy: g, dx: gx[0], rows: rows, cols: n)
                    } else {
                        Kernels.softmaxBackward(y: yv.ptr, dy: g, dx: gx[0], rows: rows, cols: n)
                    }
                }
            }
        }
        return out
    }

    /// Mean cross-entropy of `logits` [..., V] against `targets` [...] over the positions where
    /// `mask` [...] is non-zero (weights; nil = all positions). A scalar. With no target
    /// positions the loss is 0 (and so is its gradient). Targets of masked-out positions are
    /// not read (they may be −1 padding).
    public static func crossEntropy(logits: Tensor, targets: IntTensor, mask: Tensor? = nil) -> Tensor {
        require(logits.rank >= 1, "crossEntropy: logits need rank >= 1, got shape \(logits.shape)")
        let lead = Array(logits.shape.dropLast())
        checked { try Shapes.same("crossEntropy", lead, targets.shape) }
        if let mask { checked { try Shapes.same("crossEntropy", targets.shape, mask.shape) } }
        let v = logits.shape[logits.rank - 1], rows = targets.count
        let maskValues = mask?.scalars
        for (r, t) in targets.scalars.enumerated() where (maskValues?[r] ?? 1) != 0 && (t < 0 || Int(t) >= v) {
            fatalError("crossEntropy: target \(t) at position \(r) out of range for logits of shape \(logits.shape)")
        }
        let lse = TensorStorage(uninitializedCount: rows)
        let losses = UnsafeMutablePointer<Float>.allocate(capacity: max(rows, 1))
        defer { losses.deallocate() }
        let tg = targets.scalars
        let result = tg.withUnsafeBufferPointer { tb in
            withOptionalPointer(maskValues) { mp in
                Kernels.crossEntropyForward(logits: logits.ptr, targets: tb.baseAddress ?? UnsafePointer(bitPattern: 8)!,
                                            mask: mp, losses: losses, lse: lse.pointer, rows: rows, vocab: v)
            }
        }
        var out = Tensor(result.mean)
        if Tensor.recording(logits) {
            let xv = logits.detached()
            out.record(logits) { g, node in
                let gradMean = g[0]
                node.overwriteGrads([xv.count]) { gx in
                    tg.withUnsafeBufferPointer { tb in
                        withOptionalPointer(maskValues) { mp in
                            Kernels.crossEntropyBackward(logits: xv.ptr, targets: tb.baseAddress ?? UnsafePointer(bitPattern: 8)!,
                                                         mask: mp, lse: lse.pointer, gradMean: gradMean,
                                                         dlogits: gx[0], rows: rows, vocab: v)
                        }
                    }
                }
            }
        }
        return out
    }
}

/// Calls `body` with a pointer to the array's elements, or nil for a nil array.
func withOptionalPointer<R>(_ a: [Float]?, _ body: (UnsafePointer<Float>?) -> R) -> R {
    guard let a else { return body(nil) }
    return a.withUnsafeBufferPointer { body($0.baseAddress) }
}
