// `Kernels.logs` (VectorCore.logs on each ISA path) must give DetMath.log's bits exactly: the
// router entropy and attention's log-sum-exp use it, and run files must not change.
import Foundation
@testable import KernelCore
import Testing
@testable import Tensor

@Suite("Vectorised log")
struct KernelLogTests {
    /// Inputs that reach every branch: random bit patterns over all binades (subnormals
    /// included), both sides of the m ≥ √2 split, powers of two, 1, and the special values.
    static var inputs: [Double] {
        var rng = TestRNG(29)
        var xs: [Double] = [1, 2, 0.5, 0x1p-1022, 0x1p1023, .greatestFiniteMagnitude, .leastNonzeroMagnitude,
                            0x1p-1074 * 3, 0, -0.0, -1, .infinity, -.infinity, .nan, 0.999999, 1.000001]
        let split = Double(bitPattern: 0x3FF6_A09E_667F_3BCD)   // the mantissa where log halves m
        for e in [-40, -1, 0, 1, 7, 300] {
            var x = Foundation.scalbn(split, e)
            for _ in 0..<3 { x = x.nextDown }
            for _ in 0..<6 { xs.append(x); x = x.nextUp }
        }
        for _ in 0..<3000 { xs.append(Double(bitPattern: rng.next() % 0x7FF0_0000_0000_0000)) }
        for _ in 0..<2000 { xs.append(Double(rng.uniform(0, 1))) }             // probabilities
        for _ in 0..<500 { xs.append(Double(rng.uniform(1, 64))) }            // softmax sums
        return xs
    }

    @Test func everyPathGivesDetMathLogBitwise() {
        let xs = Self.inputs
        let want = xs.map { DetMath.log($0) }
        let saved = ISA.active
        defer { ISA.active = saved }
        for isa in ISA.supported {
            ISA.active = isa
            // Every start offset and length mod 4, so the vector body, the scalar fallback for a
            // lane that is not a positive normal number, and the tail all run.
            for (start, count) in [(0, xs.count), (1, xs.count - 1), (2, 13), (3, 2), (5, 0)] {
                var got = Array(xs[start..<(start + count)])
                got.withUnsafeMutableBufferPointer { Kernels.logs($0.baseAddress!, count: count) }
                for i in 0..<count {
                    let w = want[start + i], g = got[i]
                    #expect(g.bitPattern == w.bitPattern || (g.isNaN && w.isNaN),
                            "\(isa): log(\(xs[start + i])) = \(g), DetMath.log gives \(w)")
                }
            }
        }
    }

    /// Mutation check: the vector body runs (not only the scalar fallback) on runs of
    /// positive normal inputs, and agrees with the scalar log there too.
    @Test func positiveNormalRunsUseTheVectorBodyAndAgree() {
        var xs = (1...64).map { Double($0) * 0.37 }
        let want = xs.map { DetMath.log($0) }
        xs.withUnsafeMutableBufferPointer { VectorCore<LanesSoft>.logs($0.baseAddress!, 64) }
        #expect(xs.map(\.bitPattern) == want.map(\.bitPattern))
        // log4 itself on one vector, without the dispatcher.
        let v = SIMD4<Double>(0.3, 1.41, 1.42, 7e-300)
        let got = VectorCore<LanesSoft>.log4(v)
        for i in 0..<4 { #expect(got[i].bitPattern == DetMath.log(v[i]).bitPattern) }
    }
}
