// Counter-based random numbers: Philox4x32-10 (Salmon et al., "Parallel random numbers: as
// easy as 1, 2, 3", SC'11; the Random123 reference). A draw is a pure function of
// (seed, stream, index): no state is carried, so any init or batch can be regenerated from its
// coordinates alone and parallel fills are trivially deterministic.
//
// Layout: key = (seed low 32 bits, seed high 32 bits); counter = (block low, block high,
// stream low, stream high) where block = index / 4. One Philox call yields 4 words, used for
// the elements 4·block ..< 4·block + 4. Uniforms use the top 24 bits of a word.
// Normals use Box–Muller on the word pairs (0,1) and (2,3) of the block (in Double, rounded
// once to Float).
import KernelCore
import Foundation

public enum Philox {
    /// One Philox4x32-10 block: 10 rounds of the 4×32 bijection keyed by `key`.
    public static func block(counter: (UInt32, UInt32, UInt32, UInt32), key: (UInt32, UInt32))
        -> (UInt32, UInt32, UInt32, UInt32)
    {
        let m0: UInt64 = 0xD251_1F53, m1: UInt64 = 0xCD9E_8D57
        let w0: UInt32 = 0x9E37_79B9, w1: UInt32 = 0xBB67_AE85
        var (c0, c1, c2, c3) = counter
        var (k0, k1) = key
        for round in 0..<10 {
            if round > 0 { k0 &+= w0; k1 &+= w1 }
            let p0 = m0 &* UInt64(c0), p1 = m1 &* UInt64(c2)
            let (hi0, lo0) = (UInt32(truncatingIfNeeded: p0 >> 32), UInt32(truncatingIfNeeded: p0))
            let (hi1, lo1) = (UInt32(truncatingIfNeeded: p1 >> 32), UInt32(truncatingIfNeeded: p1))
            (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)
        }
        return (c0, c1, c2, c3)
    }
}

/// A random source keyed by (seed, stream). Value semantics, no state: `uniform(at: i)` is the
/// same number every time.
public struct RandomStream: Sendable, Hashable {
    public let seed: UInt64
    public let stream: UInt64

    public init(seed: UInt64, stream: UInt64) {
        self.seed = seed
        self.stream = stream
    }

    /// The 4 words of Philox block `block`.
    public func words(block: UInt64) -> (UInt32, UInt32, UInt32, UInt32) {
        Philox.block(
            counter: (UInt32(truncatingIfNeeded: block), UInt32(truncatingIfNeeded: block >> 32),
                      UInt32(truncatingIfNeeded: stream), UInt32(truncatingIfNeeded: stream >> 32)),
            key: (UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32)))
    }

    /// The raw 32-bit word for element `index`.
    public func word(at index: UInt64) -> UInt32 {
        let w = words(block: index / 4)
        switch index % 4 {
        case 0: return w.0
        case 1: return w.1
        case 2: return w.2
        default: return w.3
        }
    }

    /// Uniform in [0, 1), a multiple of 2⁻²⁴.
    public func uniform(at index: UInt64) -> Float {
        Float(word(at: index) >> 8) * 0x1p-24
    }

    /// Standard normal draw for element `index` (Box–Muller).
    public func normal(at index: UInt64) -> Float {
        let w = words(block: index / 4)
        let j = index % 4
        let (a, b) = j < 2 ? (w.0, w.1) : (w.2, w.3)
        let (z0, z1) = RandomStream.boxMuller(a, b)
        return j % 2 == 0 ? z0 : z1
    }

    /// Box–Muller on two words: u1 in (0, 1] (never 0, so log is finite), u2 in [0, 1).
    static func boxMuller(_ a: UInt32, _ b: UInt32) -> (Float, Float) {
        let u1 = (Double(a >> 8) + 1) * 0x1p-24
        let u2 = Double(b >> 8) * 0x1p-24
        let r = (-2 * DetMath.log(u1)).squareRoot()
        let th = 2 * Double.pi * u2
        return (Float(r * DetMath.cos(th)), Float(r * DetMath.sin(th)))
    }

    /// Fills `buffer[i]` with uniform(at: first + i) · (high − low) + low.
    public func fillUniform(_ buffer: UnsafeMutableBufferPointer<Float>, low: Float = 0, high: Float = 1, first: UInt64 = 0) {
        let p = SendablePointer(buffer.baseAddress ?? UnsafeMutablePointer(bitPattern: 8)!)
        let me = self
        parallelFor(buffer.count, grain: 1 << 14) { range in
            for i in range { p.p[i] = me.uniform(at: first + UInt64(i)) * (high - low) + low }
        }
    }

    /// Fills `buffer[i]` with normal(at: first + i) · std + mean. One Philox block and two
    /// Box–Muller pairs give four elements (`normal(at:)` computes a whole block per element);
    /// the values are the same.
    public func fillNormal(_ buffer: UnsafeMutableBufferPointer<Float>, mean: Float = 0, std: Float = 1, first: UInt64 = 0) {
        let p = SendablePointer(buffer.baseAddress ?? UnsafeMutablePointer(bitPattern: 8)!)
        let me = self
        parallelFor(buffer.count, grain: 1 << 13) { range in
            var i = range.lowerBound
            while i < range.upperBound {
                let index = first + UInt64(i)
                let w = me.words(block: index / 4)
                let (z0, z1) = RandomStream.boxMuller(w.0, w.1)
                let (z2, z3) = RandomStream.boxMuller(w.2, w.3)
                var j = Int(index % 4)
                while j < 4 && i < range.upperBound {
                    let z = j == 0 ? z0 : j == 1 ? z1 : j == 2 ? z2 : z3
                    p.p[i] = z * std + mean
                    i += 1
                    j += 1
                }
            }
        }
    }
}

extension Tensor {
    /// Element i = uniform(seed, stream, i) scaled to [low, high).
    public static func uniform(_ shape: [Int], low: Float = 0, high: Float = 1, seed: UInt64, stream: UInt64,
                               requiresGrad: Bool = false) -> Tensor {
        var t = Tensor(uninitialized: shape)
        t.withUnsafeMutableBufferPointer { RandomStream(seed: seed, stream: stream).fillUniform($0, low: low, high: high) }
        if requiresGrad { t.node = TapeNode(leafCount: t.count) }
        return t
    }

    /// Element i = normal(seed, stream, i) · std + mean.
    public static func normal(_ shape: [Int], mean: Float = 0, std: Float = 1, seed: UInt64, stream: UInt64,
                              requiresGrad: Bool = false) -> Tensor {
        var t = Tensor(uninitialized: shape)
        t.withUnsafeMutableBufferPointer { RandomStream(seed: seed, stream: stream).fillNormal($0, mean: mean, std: std) }
        if requiresGrad { t.node = TapeNode(leafCount: t.count) }
        return t
    }
}
