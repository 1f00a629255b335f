// OptimizerCore: AdamW's elementwise update (Training/Optimizer.swift has the semantics, the
// clipping and the threading), compiled once per ISA path as SwiGLUCore is. Only IEEE
// multiplies, adds, divides and square roots, each rounded on its own, in the same order on
// every path and for every lane count, so the bits do not depend on the path.

/// The scalars of one AdamW step: the clipping factor, the decoupled weight decay (lr · wd for
/// matrices, else 0), β1, β2, lr, ε and the bias corrections 1 − β^t.
public struct AdamWScalars: Sendable {
    public var clipScale: Float, decay: Float, beta1: Float, beta2: Float
    public var lr: Float, eps: Float, correction1: Float, correction2: Float

    @inlinable
    public init(clipScale: Float, decay: Float, beta1: Float, beta2: Float, lr: Float, eps: Float,
                correction1: Float, correction2: Float) {
        self.clipScale = clipScale; self.decay = decay; self.beta1 = beta1; self.beta2 = beta2
        self.lr = lr; self.eps = eps; self.correction1 = correction1; self.correction2 = correction2
    }
}

/// Elements `range` of one parameter: p ← p − decay·p; m ← β1·m + (1 − β1)·g';
/// v ← β2·v + (1 − β2)·g'²; p ← p − lr·(m / c1) / (√(v / c2) + ε), with g' = clipScale·g
/// (no gradient: g' = 0, written without the gradient terms).
@inlinable
public func adamwUpdateCore<L: GemmLanes>(
    _: L.Type, p: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>?, m: UnsafeMutablePointer<Float>,
    v: UnsafeMutablePointer<Float>, range: Range<Int>, _ s: AdamWScalars
) {
    let (clipScale, decay, beta1, beta2) = (s.clipScale, s.decay, s.beta1, s.beta2)
    let (lrF, eps, correction1, correction2) = (s.lr, s.eps, s.correction1, s.correction2)
    guard let g else {
        for i in range {
            p[i] -= decay * p[i]
            m[i] = beta1 * m[i]
            v[i] = beta2 * v[i]
            p[i] -= lrF * (m[i] / correction1) / ((v[i] / correction2).squareRoot() + eps)
        }
        return
    }
    // 16 lanes at a time (explicit SIMD: the compiler cannot prove the four buffers do not
    // alias), then the same arithmetic on the tail.
    var i = range.lowerBound
    typealias V = SIMD16<Float>
    while i + 16 <= range.upperBound {
        let grad = UnsafeRawPointer(g + i).loadUnaligned(as: V.self) * clipScale
        var pv = UnsafeRawPointer(p + i).loadUnaligned(as: V.self)
        var mv = UnsafeRawPointer(m + i).loadUnaligned(as: V.self)
        var vv = UnsafeRawPointer(v + i).loadUnaligned(as: V.self)
        pv -= decay * pv
        mv = beta1 * mv + (1 - beta1) * grad
        vv = beta2 * vv + (1 - beta2) * grad * grad
        pv -= lrF * (mv / correction1) / ((vv / correction2).squareRoot() + eps)
        UnsafeMutableRawPointer(p + i).storeBytes(of: pv, as: V.self)
        UnsafeMutableRawPointer(m + i).storeBytes(of: mv, as: V.self)
        UnsafeMutableRawPointer(v + i).storeBytes(of: vv, as: V.self)
        i += 16
    }
    while i < range.upperBound {
        let grad = g[i] * clipScale
        p[i] -= decay * p[i]
        m[i] = beta1 * m[i] + (1 - beta1) * grad
        v[i] = beta2 * v[i] + (1 - beta2) * grad * grad
        p[i] -= lrF * (m[i] / correction1) / ((v[i] / correction2).squareRoot() + eps)
        i += 1
    }
}
