// Kernels: the raw, pointer-level compute layer of the Tensor target. Every kernel is a pair of
// `…Forward` / `…Backward` static functions on `Kernels` over float32, row-major buffers; the
// autodiff layer wraps them into differentiable ops. Kernels never allocate their outputs (the
// caller owns every buffer), and "backward" functions OVERWRITE their gradient outputs (the
// tape adds them into accumulated gradients).
//
// Glossary of dimension letters used in shape comments throughout this folder:
//   N   rows (tokens, usually B·T)          D   feature width of a row (d_model, hidden …)
//   B   batch                               T   sequence length (Tq queries, Tk keys)
//   H   query heads                         G   key/value heads (Hkv; H % G == 0)
//   Dqk query/key head dim                  Dv  value head dim
//   V   vocabulary (logit width)            M, K, Nc  GEMM dims: C[M, Nc] = A[M, K]·B[K, Nc]
//
// Determinism: every kernel is bitwise identical for any `Parallel.threads`, because work is
// split only over independent outputs (see Parallel.swift). Reductions use fixed-width SIMD
// accumulators whose order depends only on the reduction length and the build.

public enum Kernels {}
