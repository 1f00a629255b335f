// KernelPath: what every ISA path exports (Sources/KernelPathShared/Path.swift implements it
// once, compiled in each ISA module). Tensor calls the active path through this protocol
// (`Kernels.path`), so each call runs the code its module compiled with its own -target-cpu.

public protocol KernelPath {
    /// Cache blocking of the path's GEMM (speed only; bits never depend on it).
    static var blocking: GemmBlocking { get }

    /// Single-threaded GEMM (GemmCore.swift).
    static func serial(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                       a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                       beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int)

    /// One lane of a GEMM shared by several threads (`gemmLaneCore`).
    static func lane(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                     a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                     beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int,
                     rowBlock: Int, next: (Int) -> Int, done: (Int) -> Void)

    /// One head's causal attention forward (`attentionForwardHeadCore`).
    static func attentionForwardHead(_ s: AttentionHeadShape, q: UnsafePointer<Float>, k: UnsafePointer<Float>,
                                     v: UnsafePointer<Float>, o: UnsafeMutablePointer<Float>,
                                     lse: UnsafeMutablePointer<Float>, headMax: UnsafeMutablePointer<Float>?,
                                     scratch: UnsafeMutablePointer<Float>)

    /// One head's causal attention backward (`attentionBackwardHeadCore`).
    static func attentionBackwardHead(_ s: AttentionHeadShape, q: UnsafePointer<Float>, k: UnsafePointer<Float>,
                                      v: UnsafePointer<Float>, lse: UnsafePointer<Float>, dout: UnsafePointer<Float>,
                                      dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>,
                                      dv: UnsafeMutablePointer<Float>, pBuf: UnsafeMutablePointer<Float>,
                                      dpBuf: UnsafeMutablePointer<Float>)

    /// One query block's attention probabilities (`attentionProbBlockCore`).
    static func attentionProbBlock(_ s: AttentionHeadShape, q: UnsafePointer<Float>, k: UnsafePointer<Float>,
                                   i0: Int, rows: Int, kEnd: Int, p: UnsafeMutablePointer<Float>,
                                   lse: UnsafeMutablePointer<Float>)

    /// SwiGLU forward rows (`swigluForwardRowsCore`).
    static func swigluForwardRows(a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                                  y: UnsafeMutablePointer<Float>, ldy: Int, rows: Range<Int>, cols: Int)

    /// SwiGLU backward rows (`swigluBackwardRowsCore`).
    static func swigluBackwardRows(dy: UnsafePointer<Float>, lddy: Int, a: UnsafePointer<Float>, lda: Int,
                                   b: UnsafePointer<Float>, ldb: Int, da: UnsafeMutablePointer<Float>, ldda: Int,
                                   db: UnsafeMutablePointer<Float>, lddb: Int, rows: Range<Int>, cols: Int)

    /// RMSNorm forward rows (`rmsNormForwardRowsCore`).
    static func rmsNormForwardRows(x: UnsafePointer<Float>, ldx: Int, weight: UnsafePointer<Float>,
                                   y: UnsafeMutablePointer<Float>, ldy: Int, rstd: UnsafeMutablePointer<Float>,
                                   rows: Range<Int>, dim: Int, eps: Float)

    /// RMSNorm backward's dx rows (`rmsNormBackwardRowsCore`).
    static func rmsNormBackwardRows(dy: UnsafePointer<Float>, lddy: Int, x: UnsafePointer<Float>, ldx: Int,
                                    weight: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                                    dx: UnsafeMutablePointer<Float>, lddx: Int, rows: Range<Int>, dim: Int)

    /// RMSNorm backward's dweight column blocks (`rmsNormWeightGradCore`).
    static func rmsNormWeightGrad(dy: UnsafePointer<Float>, lddy: Int, x: UnsafePointer<Float>, ldx: Int,
                                  rstd: UnsafePointer<Float>, dweight: UnsafeMutablePointer<Float>,
                                  blocks: Range<Int>, rows: Int, dim: Int)

    /// Cross-entropy forward rows (`crossEntropyForwardRowsCore`).
    static func crossEntropyForwardRows(logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>,
                                        mask: UnsafePointer<Float>?, losses: UnsafeMutablePointer<Float>,
                                        lse: UnsafeMutablePointer<Float>, rows: Range<Int>, vocab: Int)

    /// Cross-entropy backward rows (`crossEntropyBackwardRowsCore`).
    static func crossEntropyBackwardRows(logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>,
                                         mask: UnsafePointer<Float>?, lse: UnsafePointer<Float>, gradMean: Float,
                                         invDen: Float, dlogits: UnsafeMutablePointer<Float>, rows: Range<Int>, vocab: Int)

    /// x_i = DetMath.log(x_i), the same bits, vectorised (`VectorCore.logs`).
    static func logs(_ x: UnsafeMutablePointer<Double>, count: Int)

    /// AdamW's elementwise update of one parameter's elements `range` (`adamwUpdateCore`).
    static func adamwUpdate(p: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>?, m: UnsafeMutablePointer<Float>,
                            v: UnsafeMutablePointer<Float>, range: Range<Int>, _ s: AdamWScalars)
}
