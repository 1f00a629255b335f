// VectorMath: SIMD16 helpers shared by the kernels — unaligned loads/stores with tails, a
// fixed-order horizontal sum and max, and a vectorised exp.
//
// Every helper is a pure function of its inputs with a fixed operation order, so results
// depend only on the data and the build — never on thread count or on where a range starts.

typealias F16 = SIMD16<Float>

@inline(__always)
func load16(_ p: UnsafePointer<Float>) -> F16 {
    UnsafeRawPointer(p).loadUnaligned(as: F16.self)
}

@inline(__always)
func store16(_ v: F16, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: F16.self)
}

/// Loads `count` (< 16) floats; the other lanes get `fill`.
@inline(__always)
func loadPartial(_ p: UnsafePointer<Float>, _ count: Int, fill: Float) -> F16 {
    var v = F16(repeating: fill)
    for i in 0..<count { v[i] = p[i] }
    return v
}

/// Stores the first `count` (< 16) lanes.
@inline(__always)
func storePartial(_ v: F16, _ p: UnsafeMutablePointer<Float>, _ count: Int) {
    for i in 0..<count { p[i] = v[i] }
}

/// Horizontal sum in a fixed pairwise order.
@inline(__always)
func hsum(_ v: F16) -> Float {
    let a = v.lowHalf + v.highHalf
    let b = a.lowHalf + a.highHalf
    let c = b.lowHalf + b.highHalf
    return c[0] + c[1]
}

/// Lane-wise max as compare + blend (`pointwiseMax` is a slow per-lane library call).
/// NaN lanes of `b` are skipped; callers let NaN propagate through the exp-sum instead.
@inline(__always)
func vmax(_ a: F16, _ b: F16) -> F16 { a.replacing(with: b, where: b .> a) }

@inline(__always)
func vmax8(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a.replacing(with: b, where: b .> a) }

/// Horizontal max in a fixed order.
@inline(__always)
func hmax(_ v: F16) -> Float {
    let a = vmax8(v.lowHalf, v.highHalf)
    let b = a.lowHalf.replacing(with: a.highHalf, where: a.highHalf .> a.lowHalf)
    let c = b.lowHalf.replacing(with: b.highHalf, where: b.highHalf .> b.lowHalf)
    return c[1] > c[0] ? c[1] : c[0]
}

/// Dot product of two length-`n` float vectors with a SIMD16 accumulator (order fixed by `n`).
@inline(__always)
func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
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
@inline(__always)
func rowMax(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
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
@inline(__always)
func vexp(_ x: F16) -> F16 {
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
@inline(__always)
func sexp(_ x: Float) -> Float {
    vexp(F16(repeating: x))[0]
}
