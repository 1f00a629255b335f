// The SIMD16 row helpers of the Tensor module's kernels: KernelCore's VectorCore (the source and
// its arithmetic are there), specialised for this module's own baseline x86-64 code.
import KernelCore

typealias Vec = VectorCore<LanesSoft>
