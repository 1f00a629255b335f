// The SIMD16 row helpers of the Tensor module's kernels: KernelCore's VectorCore (the source and
// its arithmetic are there), specialised for this module's own baseline x86-64 code.
import KernelCore

typealias Vec = VectorCore<LanesSoft>

extension Kernels {
    /// x_i = DetMath.log(x_i) for i in 0..<count on the active ISA path: the same bits as the
    /// scalar `DetMath.log`, four lanes at a time.
    public static func logs(_ x: UnsafeMutablePointer<Double>, count: Int) {
        path.logs(x, count: count)
    }

    /// AdamW's elementwise update of `range` on the active ISA path (KernelCore's
    /// `adamwUpdateCore`: the same bits on every path).
    public static func adamwUpdate(p: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>?, m: UnsafeMutablePointer<Float>,
                                   v: UnsafeMutablePointer<Float>, range: Range<Int>, _ s: AdamWScalars) {
        path.adamwUpdate(p: p, g: g, m: m, v: v, range: range, s)
    }
}
