// Shared helpers for the Tensor tests: deterministic inputs, a finite-difference gradient
// checker and a thread-count invariance checker.
//
// Gradient check: for inputs x_k, f(x) is reduced to a scalar L = Σ w ⊙ f(x) with fixed random
// weights w; the analytic gradient of L from backward() is compared with central differences
// (L(x + h e_i) − L(x − h e_i)) / 2h, where L is evaluated without the tape and summed in
// Double. Default tolerance: |num − ana| ≤ atol + rtol·|num| with h = 1e-2, atol = 1e-3,
// rtol = 1e-2 (float32 forward rounding ~1e-6 relative / h, plus O(h²) truncation on inputs
// of order 1). Tests tighten or loosen these per op with a comment.
import Testing
@testable import Tensor

/// Uniform values in [low, high), deterministic in (shape, seed).
func rnd(_ shape: [Int], seed: UInt64, low: Float = -1, high: Float = 1) -> Tensor {
    Tensor.uniform(shape, low: low, high: high, seed: seed, stream: 1234)
}

func bits(_ t: Tensor) -> [UInt32] { t.scalars.map(\.bitPattern) }

struct GradCheckTolerance {
    var h: Float = 1e-2
    var atol: Float = 1e-3
    var rtol: Float = 1e-2
}

/// Compares backward() against central differences for every element of every input.
/// `differentiable[k] == false` skips input k (e.g. a constant mask).
func gradCheck(_ name: String, _ inputs: [Tensor], tol: GradCheckTolerance = .init(),
               differentiable: [Bool]? = nil,
               sourceLocation: SourceLocation = #_sourceLocation,
               _ f: ([Tensor]) -> Tensor) {
    let diff = differentiable ?? inputs.map { _ in true }
    let leaves = inputs.enumerated().map { diff[$0.offset] ? $0.element.copy().requiringGrad() : $0.element.copy() }
    let y = f(leaves)
    let w = Tensor.uniform(y.shape, low: -1, high: 1, seed: 4242, stream: 77)
    (y * w).sum().backward()

    func objective(_ xs: [Tensor]) -> Double {
        Tensor.withoutGrad {
            let y = f(xs)
            var s = 0.0
            for (a, b) in zip(y.scalars, w.scalars) { s += Double(a) * Double(b) }
            return s
        }
    }
    var worst: Float = 0
    for (k, leaf) in leaves.enumerated() where diff[k] {
        let analytic = leaf.grad?.scalars ?? [Float](repeating: 0, count: leaf.count)
        let base = leaves.map { $0.detached().copy() }
        for i in 0..<leaf.count {
            let orig = base[k].scalars[i]
            base[k].withUnsafeMutableBufferPointer { $0[i] = orig + tol.h }
            let fp = objective(base)
            base[k].withUnsafeMutableBufferPointer { $0[i] = orig - tol.h }
            let fm = objective(base)
            base[k].withUnsafeMutableBufferPointer { $0[i] = orig }
            let numeric = Float((fp - fm) / (2 * Double(tol.h)))
            let err = abs(numeric - analytic[i])
            worst = max(worst, err / (tol.atol + tol.rtol * abs(numeric)))
            #expect(err <= tol.atol + tol.rtol * abs(numeric),
                    "\(name): input \(k) element \(i): numeric \(numeric) analytic \(analytic[i])",
                    sourceLocation: sourceLocation)
        }
    }
}

/// Runs forward + backward with 1 and 2 threads and expects bitwise identical results and
/// gradients. Shapes must be big enough to be split (see the grains in the ops).
func expectThreadInvariant(_ name: String, _ inputs: [Tensor], sourceLocation: SourceLocation = #_sourceLocation,
                           _ f: ([Tensor]) -> Tensor) {
    func run(_ threads: Int) -> [[UInt32]] {
        Parallel.withThreads(threads) {
            let leaves = inputs.map { $0.copy().requiringGrad() }
            let y = f(leaves)
            let w = Tensor.uniform(y.shape, low: -1, high: 1, seed: 4242, stream: 77)
            (y * w).sum().backward()
            return [bits(y)] + leaves.map { $0.grad.map(bits) ?? [] }
        }
    }
    let one = run(1), two = run(2)
    #expect(one == two, "\(name): results differ between 1 and 2 threads", sourceLocation: sourceLocation)
}

/// Max |a − b| over elements (shapes must match).
func maxAbsDiff(_ a: Tensor, _ b: Tensor) -> Float {
    precondition(a.shape == b.shape, "maxAbsDiff: \(a.shape) vs \(b.shape)")
    return zip(a.scalars, b.scalars).reduce(0) { max($0, abs($1.0 - $1.1)) }
}
