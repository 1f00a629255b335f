// Matrix products through `Kernels.gemm` (the in-tree GEMM, one ascending-k fma chain per output,
// blocks split across threads by the kernel layer). Transposes are BLAS flags, never copies.
//
// Shapes: op(A) [.., M, K] · op(B) [.., K, N] → [.., M, N]. B is either 2-D (a weight shared by
// every leading index of A, flattened into one GEMM of M·batch rows) or carries the same batch
// axes as A (one GEMM per batch index).
//
// Gradient rules (C = op(A)·op(B), G = dC); each is one GEMM, accumulating with beta = 1, or
// writing with beta = 0 when the input has no gradient buffer yet (the same bits: the chain
// starts at +0 either way):
//   !tA: dA = G · op(B)ᵀ        tA: dA = op(B) · Gᵀ
//   !tB: dB = op(A)ᵀ · G        tB: dB = Gᵀ · op(A)
// For a shared 2-D B the batch is already folded into M, so dB sums over it inside the GEMM.

extension Tensor {
    /// `op(self) · op(b)` over the last two axes, with transposes as flags.
    public func matmul(_ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
        let a = self
        let outShape = checked {
            try Shapes.matmul("matmul", a.shape, b.shape, transposeA: transposeA, transposeB: transposeB)
        }
        let k = transposeB ? b.shape[b.rank - 1] : b.shape[b.rank - 2]
        let n = outShape[outShape.count - 1]
        // A shared 2-D B folds A's leading axes into M.
        let shared = b.rank == 2
        let batch = shared ? 1 : outShape.dropLast(2).reduce(1, *)
        let m = shared ? outShape.dropLast().reduce(1, *) : outShape[outShape.count - 2]
        var out = Tensor(uninitialized: outShape)
        Kernels.gemmBatched(transA: transposeA, transB: transposeB, batch: batch, m: m, n: n, k: k,
                            a: a.ptr, strideA: m * k, b: b.ptr, strideB: k * n,
                            beta: 0, c: out.ptr, strideC: m * n)
        if Tensor.recording(a, b) {
            let (av, bv) = (a.detached(), b.detached())
            let (tA, tB) = (transposeA, transposeB)
            out.record(a, b) { g, node in
                if let target = node.gradTarget(0) {
                    let ga = target.p, beta: Float = target.fresh ? 0 : 1
                    if !tA {
                        Kernels.gemmBatched(transA: false, transB: !tB, batch: batch, m: m, n: k, k: n,
                                            a: g, strideA: m * n, b: bv.ptr, strideB: k * n,
                                            beta: beta, c: ga, strideC: m * k)
                    } else {
                        Kernels.gemmBatched(transA: tB, transB: true, batch: batch, m: k, n: m, k: n,
                                            a: bv.ptr, strideA: k * n, b: g, strideB: m * n,
                                            beta: beta, c: ga, strideC: m * k)
                    }
                }
                if let target = node.gradTarget(1) {
                    let gb = target.p, beta: Float = target.fresh ? 0 : 1
                    if !tB {
                        Kernels.gemmBatched(transA: !tA, transB: false, batch: batch, m: k, n: n, k: m,
                                            a: av.ptr, strideA: m * k, b: g, strideB: m * n,
                                            beta: beta, c: gb, strideC: k * n)
                    } else {
                        Kernels.gemmBatched(transA: true, transB: tA, batch: batch, m: n, n: k, k: m,
                                            a: g, strideA: m * n, b: av.ptr, strideB: m * k,
                                            beta: beta, c: gb, strideC: k * n)
                    }
                }
            }
        }
        return out
    }

    /// `self · weightᵀ` for a PyTorch-layout weight [out, in] (MODEL.md: y = x·Wᵀ).
    public func linear(_ weight: Tensor) -> Tensor {
        matmul(weight, transposeB: true)
    }
}
