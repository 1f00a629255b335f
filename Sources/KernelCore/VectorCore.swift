// VectorCore: SIMD16 helpers shared by the kernels — unaligned loads/stores with tails, a
// fixed-order horizontal sum and max, a vectorised exp, and the row helpers of softmax and
// attention.
//
// Every helper is a pure function of its inputs with a fixed operation order, so results
// depend only on the data — never on thread count, on where a range starts, or on the ISA path:
// each is `@inlinable` source in `VectorCore<L>`, generic over an ISA path's lanes so that each
// path gets its own specialisation under its own symbol, compiled with its module's -target-cpu
// (Tensor uses `VectorCore<LanesSoft>` at baseline x86-64; KernelsAVX2 / KernelsAVX512 their own
// lanes, where SIMD16 is two ymm or one zmm register instead of four xmm). Non-generic
// `@inlinable` helpers were called from the ISA modules as KernelCore's one baseline copy, and
// copies under one symbol would be merged by the linker whatever their -target-cpu. Only IEEE adds, multiplies, compares and bit operations,
// each rounded on its own (no contraction into fma), so every path gives the same bits.

public typealias F16 = SIMD16<Float>

/// The helpers, specialised per ISA path by `L` (the arithmetic never depends on it).
public enum VectorCore<L: GemmLanes> {

    @inlinable @inline(__always)
    public static func load16(_ p: UnsafePointer<Float>) -> F16 {
        UnsafeRawPointer(p).loadUnaligned(as: F16.self)
    }

    @inlinable @inline(__always)
    public static func store16(_ v: F16, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: F16.self)
    }

    /// Loads `count` (< 16) floats; the other lanes get `fill`. One copy of the bytes into the
    /// vector's memory (lane-by-lane inserts went through the stack once per lane).
    @inlinable @inline(__always)
    public static func loadPartial(_ p: UnsafePointer<Float>, _ count: Int, fill: Float) -> F16 {
        var v = F16(repeating: fill)
        withUnsafeMutablePointer(to: &v) { vp in
            UnsafeMutableRawPointer(vp).copyMemory(from: p, byteCount: count &* MemoryLayout<Float>.stride)
        }
        return v
    }

    /// Stores the first `count` (< 16) lanes.
    @inlinable @inline(__always)
    public static func storePartial(_ v: F16, _ p: UnsafeMutablePointer<Float>, _ count: Int) {
        withUnsafePointer(to: v) { vp in
            UnsafeMutableRawPointer(p).copyMemory(from: vp, byteCount: count &* MemoryLayout<Float>.stride)
        }
    }

    /// `v` with lanes `count` ..< 16 set to +0 (a compare and a blend, not a loop over lanes).
    @inlinable @inline(__always)
    public static func keepFirst(_ v: F16, _ count: Int) -> F16 {
        let lane = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
        return v.replacing(with: 0, where: lane .>= SIMD16<Int32>(repeating: Int32(truncatingIfNeeded: count)))
    }

    /// Horizontal sum in a fixed pairwise order.
    @inlinable @inline(__always)
    public static func hsum(_ v: F16) -> Float {
        let a = v.lowHalf + v.highHalf
        let b = a.lowHalf + a.highHalf
        let c = b.lowHalf + b.highHalf
        return c[0] + c[1]
    }

    /// Lane-wise max as compare + blend (`pointwiseMax` is a slow per-lane library call).
    /// NaN lanes of `b` are skipped; callers let NaN propagate through the exp-sum instead.
    @inlinable @inline(__always)
    public static func vmax(_ a: F16, _ b: F16) -> F16 { a.replacing(with: b, where: b .> a) }

    @inlinable @inline(__always)
    public static func vmax8(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a.replacing(with: b, where: b .> a) }

    /// Horizontal max in a fixed order.
    @inlinable @inline(__always)
    public static func hmax(_ v: F16) -> Float {
        let a = vmax8(v.lowHalf, v.highHalf)
        let b = a.lowHalf.replacing(with: a.highHalf, where: a.highHalf .> a.lowHalf)
        let c = b.lowHalf.replacing(with: b.highHalf, where: b.highHalf .> b.lowHalf)
        return c[1] > c[0] ? c[1] : c[0]
    }

    /// Dot product of two length-`n` float vectors with a SIMD16 accumulator (order fixed by `n`).
    @inlinable @inline(__always)
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = F16()
        var j = 0
        while j + 16 <= n {
            acc += load16(a + j) * load16(b + j)
            j += 16
        }
        if j < n {
            acc += loadPartial(a + j, n - j, fill: 0) * loadPartial(b + j, n - j, fill: 0)
        }
        return hsum(acc)
    }

    /// Maximum of `n >= 1` floats.
    @inlinable @inline(__always)
    public static func rowMax(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = F16(repeating: -.infinity)
        var j = 0
        while j + 16 <= n {
            acc = vmax(acc, load16(x + j))
            j += 16
        }
        if j < n { acc = vmax(acc, loadPartial(x + j, n - j, fill: -.infinity)) }
        return hmax(acc)
    }

    /// Vectorised exp(x), Cephes-style: x = n·ln2 + r, |r| <= ln2/2, degree-6 polynomial for e^r,
    /// times 2^n built from bits. Max error ~2 ulp over [-86.6, 88.7] (tested against Double).
    /// Results below ~2^-125 (x < -86.6) flush to 0; x > 88.72 gives +inf; NaN gives NaN.
    @inlinable @inline(__always)
    public static func vexp(_ x: F16) -> F16 {
        let hi: Float = 88.7228394
        let lo: Float = -86.6
        var xc = x.replacing(with: hi, where: x .> hi)
        xc = xc.replacing(with: lo, where: xc .< lo)
        let magic: Float = 12582912 // 1.5·2^23: adding it rounds to an integer in the low bits
        let t = xc * 1.44269504088896341 + magic
        let n = t - magic
        var r = xc - n * 0.693359375
        r = r - n * -2.12194440e-4
        var p = F16(repeating: 1.9875691500e-4)
        p = p * r + 1.3981999507e-3
        p = p * r + 8.3334519073e-3
        p = p * r + 4.1665795894e-2
        p = p * r + 1.6666665459e-1
        p = p * r + 5.0000001201e-1
        p = p * (r * r) + r + 1
        // 2^(n-1) from the integer in t's low mantissa bits; then ×2 (exact) so n = 128 works.
        let ni = unsafeBitCast(t, to: SIMD16<Int32>.self) &- 0x4B40_0000
        let scale = unsafeBitCast((ni &+ 126) &<< 23, to: F16.self)
        var y = p * scale * 2
        y = y.replacing(with: 0, where: x .< lo)
        y = y.replacing(with: Float.infinity, where: x .> hi)
        return y
    }

    /// Scalar exp with exactly the arithmetic of one `vexp` lane.
    @inlinable @inline(__always)
    public static func sexp(_ x: Float) -> Float {
        vexp(F16(repeating: x))[0]
    }

    // MARK: - Row helpers (fixed order; used by softmax and attention)

    /// Calls `body(j, c)` for j = 0, 16, 32, … with c = min(16, n − j) lanes.
    @inlinable @inline(__always)
    public static func forEach16(_ n: Int, _ body: (Int, Int) -> Void) {
        var j = 0
        while j < n {
            body(j, min(16, n - j))
            j += 16
        }
    }

    /// Σ x_j with a SIMD16 accumulator.
    @inlinable @inline(__always)
    public static func rowSum(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = F16()
        var j = 0
        while j + 16 <= n {
            acc += load16(x + j)
            j += 16
        }
        if j < n { acc += loadPartial(x + j, n - j, fill: 0) }
        return hsum(acc)
    }

    /// y_j = exp(x_j − shift); returns Σ_j y_j. `y` may alias `x`.
    @inlinable @inline(__always)
    public static func expShifted(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int,
                    shift: Float) -> Float {
        let sv = F16(repeating: shift)
        var acc = F16()
        var j = 0
        while j + 16 <= n {
            let e = vexp(load16(x + j) - sv)
            store16(e, y + j)
            acc += e
            j += 16
        }
        if j < n {
            let c = n - j
            let e = keepFirst(vexp(loadPartial(x + j, c, fill: 0) - sv), c)
            storePartial(e, y + j, c)
            acc += e
        }
        return hsum(acc)
    }

    /// log Σ_j exp(x_j), shifted by the row max (NaN propagates; a row of all −inf gives −inf).
    @inlinable @inline(__always)
    public static func logSumExp(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        let (m, l) = logSumExpParts(x, n)
        return m + l
    }

    /// (m, log Σ_j exp(x_j − m)) with m the row max.
    @inlinable @inline(__always)
    public static func logSumExpParts(_ x: UnsafePointer<Float>, _ n: Int) -> (Float, Float) {
        let m = rowMax(x, n)
        if m == -.infinity { return (-.infinity, 0) }
        let sv = F16(repeating: m)
        var acc = F16()
        var j = 0
        while j + 16 <= n {
            acc += vexp(load16(x + j) - sv)
            j += 16
        }
        if j < n {
            acc += keepFirst(vexp(loadPartial(x + j, n - j, fill: 0) - sv), n - j)
        }
        return (m, DetMath.log(hsum(acc)))
    }

    /// x_j *= s
    @inlinable @inline(__always)
    public static func scaleRow(_ x: UnsafeMutablePointer<Float>, _ n: Int, by s: Float) {
        let sv = F16(repeating: s)
        var j = 0
        while j + 16 <= n {
            store16(load16(x + j) * sv, x + j)
            j += 16
        }
        while j < n {
            x[j] *= s
            j += 1
        }
    }

    // MARK: - log, four doubles at a time

    public typealias D4 = SIMD4<Double>

    /// `DetMath.log` of four positive normal doubles: `DetMath._logDD`'s reduction as lane
    /// operations (its branch on m ≥ √2 as a select), then the same `_logDDCore`, so the same
    /// bits.
    @inlinable @inline(__always)
    static func log4(_ x: D4) -> D4 {
        let bits = unsafeBitCast(x, to: SIMD4<UInt64>.self)
        var biased = bits &>> 52
        var mbits = (bits & 0x000F_FFFF_FFFF_FFFF) | 0x3FF0_0000_0000_0000
        let halve = mbits .>= 0x3FF6_A09E_667F_3BCD
        mbits.replace(with: mbits &- 0x0010_0000_0000_0000, where: halve)
        biased.replace(with: biased &+ 1, where: halve)
        let e = SIMD4<Int64>(truncatingIfNeeded: biased) &- 1023
        return DetMath._logDDCore(unsafeBitCast(mbits, to: D4.self), D4(e)).hi
    }

    /// x_i = DetMath.log(x_i) for i in 0..<count, the same bits as the scalar function: four
    /// lanes at a time where all four are positive normal numbers, `DetMath.log` otherwise
    /// (zeros, subnormals, negatives, infinities, NaN, and the tail).
    @inlinable
    public static func logs(_ x: UnsafeMutablePointer<Double>, _ count: Int) {
        var i = 0
        while i + 4 <= count {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: D4.self)
            let biased = unsafeBitCast(v, to: SIMD4<UInt64>.self) &>> 52   // sign and exponent
            if all((biased .>= 1) .& (biased .<= 2046)) {
                UnsafeMutableRawPointer(x + i).storeBytes(of: log4(v), as: D4.self)
            } else {
                for j in i..<(i + 4) { x[j] = DetMath.log(x[j]) }
            }
            i += 4
        }
        while i < count {
            x[i] = DetMath.log(x[i])
            i += 1
        }
    }
}
