// Philox4x32-10 known answers (Random123 kat_vectors) and the fill contract.
import Testing
@testable import Tensor

@Suite struct RandomTests {
    @Test func philoxKnownAnswers() {
        let zero = Philox.block(counter: (0, 0, 0, 0), key: (0, 0))
        #expect([zero.0, zero.1, zero.2, zero.3] == [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8])
        let ones = Philox.block(counter: (.max, .max, .max, .max), key: (.max, .max))
        #expect([ones.0, ones.1, ones.2, ones.3] == [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd])
        let pi = Philox.block(counter: (0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344),
                              key: (0xa409_3822, 0x299f_31d0))
        #expect([pi.0, pi.1, pi.2, pi.3] == [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1])
    }

    /// Element i depends only on (seed, stream, i): a longer fill extends a shorter one, and
    /// seed or stream change the values.
    @Test func fillIsAFunctionOfIndex() {
        let short = Tensor.normal([5], seed: 3, stream: 9).scalars
        let long = Tensor.normal([2, 7], seed: 3, stream: 9).scalars
        #expect(Array(long.prefix(5)) == short)
        #expect(Tensor.normal([5], seed: 4, stream: 9).scalars != short)
        #expect(Tensor.normal([5], seed: 3, stream: 10).scalars != short)
        let s = RandomStream(seed: 3, stream: 9)
        #expect((0..<5).map { s.normal(at: UInt64($0)) } == short)
        let u = Tensor.uniform([9], low: -2, high: 2, seed: 1, stream: 2).scalars
        #expect(u.allSatisfy { $0 >= -2 && $0 < 2 })
    }

    /// The block-wise fill equals the element-wise draw at every offset and length, including
    /// fills that start and end inside a Philox block, scaled and shifted in Float.
    @Test func blockwiseFillEqualsElementwiseDraws() {
        let s = RandomStream(seed: 7, stream: 21)
        for first in [0, 1, 2, 3, 5, 4094] as [UInt64] {
            for count in [1, 2, 3, 4, 5, 9, 17] {
                var out = [Float](repeating: .nan, count: count)
                out.withUnsafeMutableBufferPointer { s.fillNormal($0, mean: 0.25, std: 0.02, first: first) }
                let expected = (0..<count).map { s.normal(at: first + UInt64($0)) * 0.02 + 0.25 }
                #expect(out.map(\.bitPattern) == expected.map(\.bitPattern), "first \(first), count \(count)")
            }
        }
    }

    @Test func momentsAreRoughlyRight() {
        let n = 40_000
        let z = Tensor.normal([n], seed: 11, stream: 0).scalars.map(Double.init)
        let mean = z.reduce(0, +) / Double(n)
        let variance = z.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n)
        #expect(abs(mean) < 0.02)
        #expect(abs(variance - 1) < 0.03)
        let u = Tensor.uniform([n], seed: 11, stream: 1).scalars.map(Double.init)
        #expect(abs(u.reduce(0, +) / Double(n) - 0.5) < 0.01)
    }

    @Test func fillIsThreadInvariant() {
        let a = Parallel.withThreads(1) { Tensor.normal([70_000], seed: 5, stream: 6) }
        let b = Parallel.withThreads(2) { Tensor.normal([70_000], seed: 5, stream: 6) }
        #expect(bits(a) == bits(b))
    }
}
