// Interleaved rotary position embedding (docs MODEL.md, DeepSeek convention).
//
// For a head vector x of even dim Dr at absolute position t, pair i = (x[2i], x[2i+1]) and
//   θ_i(t) = t · base^(−2i/Dr),
//   y[2i]   = x[2i]·cos θ − x[2i+1]·sin θ
//   y[2i+1] = x[2i]·sin θ + x[2i+1]·cos θ.
// Backward is the rotation by −θ (the rotation is orthogonal): dx = R(−θ)·dy.
//
//   x, y   [B, T, H, Dr] addressed through `HeadStrides` (element strides of b, t, h; the last
//          axis is contiguous), so q_rope / k_rope slices of wider rows need no copy.
//   table  cos/sin [P, Dr/2] for positions 0..<P; position of (b, t) = positionOffset + t.
import KernelCore
import Foundation

/// Element strides of a [B, T, H, Dr] view whose last axis is contiguous.
public struct HeadStrides: Sendable, Equatable {
    public var batch: Int
    public var seq: Int
    public var head: Int
    public init(batch: Int, seq: Int, head: Int) {
        self.batch = batch
        self.seq = seq
        self.head = head
    }
    /// The packed layout of a contiguous [B, T, H, Dr] tensor.
    public static func contiguous(seq t: Int, heads h: Int, dim d: Int) -> HeadStrides {
        HeadStrides(batch: t * h * d, seq: h * d, head: d)
    }
}

/// cos/sin tables for interleaved RoPE: computed in Double, rounded once to Float.
public struct RopeTable: Sendable {
    /// Rotated dims per head (even).
    public let dim: Int
    /// Number of positions covered (0..<positions).
    public let positions: Int
    public let base: Double
    /// [positions, dim/2]
    public let cos: [Float]
    /// [positions, dim/2]
    public let sin: [Float]

    public init(dim: Int, positions: Int, base: Double = 10000) {
        precondition(dim > 0 && dim % 2 == 0, "RopeTable: dim must be even and > 0, got \(dim)")
        self.dim = dim
        self.positions = positions
        self.base = base
        let half = dim / 2
        var c = [Float](repeating: 0, count: positions * half)
        var s = [Float](repeating: 0, count: positions * half)
        for i in 0..<half {
            let invFreq = DetMath.pow(base, -2.0 * Double(i) / Double(dim))
            for t in 0..<positions {
                let angle = Double(t) * invFreq
                c[t * half + i] = Float(DetMath.cos(angle))
                s[t * half + i] = Float(DetMath.sin(angle))
            }
        }
        self.cos = c
        self.sin = s
    }
}

extension Kernels {
    /// Forward interleaved RoPE on [B, T, H, Dr] (Dr = table.dim). `y` may alias `x` with the
    /// same strides (in place). Positions are `positionOffset + t` (a KV cache's length during
    /// incremental decoding) and must be < `table.positions`.
    public static func ropeForward(
        x: UnsafePointer<Float>, xStrides: HeadStrides? = nil,
        y: UnsafeMutablePointer<Float>, yStrides: HeadStrides? = nil,
        batch: Int, seq: Int, heads: Int,
        positionOffset: Int = 0, table: RopeTable
    ) {
        rope(x: x, xStrides: xStrides, y: y, yStrides: yStrides, batch: batch, seq: seq,
             heads: heads, positionOffset: positionOffset, table: table, inverse: false)
    }

    /// Backward interleaved RoPE: dx = R(−θ)·dy. `dx` may alias `dy` with the same strides.
    public static func ropeBackward(
        dy: UnsafePointer<Float>, dyStrides: HeadStrides? = nil,
        dx: UnsafeMutablePointer<Float>, dxStrides: HeadStrides? = nil,
        batch: Int, seq: Int, heads: Int,
        positionOffset: Int = 0, table: RopeTable
    ) {
        rope(x: dy, xStrides: dyStrides, y: dx, yStrides: dxStrides, batch: batch, seq: seq,
             heads: heads, positionOffset: positionOffset, table: table, inverse: true)
    }

    static func rope(
        x: UnsafePointer<Float>, xStrides: HeadStrides?,
        y: UnsafeMutablePointer<Float>, yStrides: HeadStrides?,
        batch: Int, seq: Int, heads: Int, positionOffset: Int, table: RopeTable, inverse: Bool
    ) {
        let d = table.dim, half = d / 2
        precondition(positionOffset >= 0 && positionOffset + seq <= table.positions,
                     "rope: positions \(positionOffset)..<\(positionOffset + seq) exceed table of \(table.positions)")
        let xs = xStrides ?? .contiguous(seq: seq, heads: heads, dim: d)
        let ys = yStrides ?? .contiguous(seq: seq, heads: heads, dim: d)
        let px = SendablePointer(x), py = SendablePointer(y)
        table.cos.withUnsafeBufferPointer { cosBuf in
            table.sin.withUnsafeBufferPointer { sinBuf in
                let pc = SendablePointer(cosBuf.baseAddress!), ps = SendablePointer(sinBuf.baseAddress!)
                Parallel.for(batch * seq, grain: max(1, 4096 / max(1, heads * d))) { range in
                    for bt in range {
                        let b = bt / seq, t = bt % seq
                        let cr = pc.p + (positionOffset + t) * half
                        let sr = ps.p + (positionOffset + t) * half
                        for h in 0..<heads {
                            let xv = px.p + b * xs.batch + t * xs.seq + h * xs.head
                            let yv = py.p + b * ys.batch + t * ys.seq + h * ys.head
                            for i in 0..<half {
                                let c = cr[i]
                                let s = inverse ? -sr[i] : sr[i]
                                let x0 = xv[2 * i], x1 = xv[2 * i + 1]
                                yv[2 * i] = x0 * c - x1 * s
                                yv[2 * i + 1] = x0 * s + x1 * c
                            }
                        }
                    }
                }
            }
        }
    }
}
