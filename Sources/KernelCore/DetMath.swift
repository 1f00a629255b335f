// DetMath: deterministic transcendental functions and a software fused multiply-add.
//
// Every result is a fixed function of the input bits: the code uses only IEEE-754 basic
// operations (+ − × ÷ in round-to-nearest-even), comparisons, conversions and integer/bit
// manipulation — no libm, no hardware fma, no lookup of CPU features. Swift never contracts
// `a * b + c` into an fma and never reassociates floating-point expressions, so the same source
// gives the same bits on every x86-64 CPU and at every `-target-cpu` (checked bit for bit on
// 10⁵ inputs per function: baseline x86-64 -O, -Onone and -target-cpu haswell). NaN results are
// always the canonical quiet NaN, so not even NaN payloads depend on operand order.
//
// "Max error" = largest error measured against the exact value (glibc long double, 64-bit
// significand, cross-checked with mpmath) over ≥ 6·10⁶ random inputs per function spanning the
// whole domain, in ulps of the exact result. Notation: DD = double-double (hi + lo).
//
// Building blocks (all exact): TwoSum (Knuth), Fast2Sum (Dekker, |a| ≥ |b| in exponent),
// TwoProd (Dekker with Veltkamp splitting, valid while |a|, |b| < 2^995 and the product's
// error term does not underflow).

public enum DetMath {

    // MARK: - Double precision

    /// e^x. Cody–Waite reduction x = k·ln2 + r, |r| ≤ ½ln2 (ln2 as 42-bit hi + 53-bit lo, k·hi
    /// exact), r kept as DD; e^r by Taylor to degree 14 (truncation < 2^-63), summed as
    /// (1 + r) + [exact error + r²·P(r)]; result scaled by 2^k built from bits (subnormal
    /// results: rounded once from the DD onto the subnormal grid). Max error 0.61 ulp.
    /// +inf for x > 709.782712893384 (natural overflow), +0 for x < −745.1332191019412;
    /// NaN → NaN, +inf → +inf, −inf → +0.
    @inlinable
    public static func exp(_ x: Double) -> Double {
        if x.isNaN { return .nan }
        if x > 709.79 { return .infinity }
        if x < -745.2 { return 0 }
        return _expCore(x, 0)
    }

    /// Natural logarithm. x = m·2^e, m ∈ [√½, √2); log m = 2·atanh(f), f = (m−1)/(m+1) computed
    /// as DD (exact denominator, Dekker residual); 2f exact, (2/3)f³ in DD, f⁵·Q(f²) (Taylor of
    /// atanh to f²³, truncation < 2^-65) in double; + e·ln2 (42-bit hi exact, lo 53-bit). The DD
    /// result (relative error < 2^-64 measured, used by `pow`) is returned rounded to double.
    /// Max error 0.501 ulp. Subnormal x are scaled by 2^54 first. log(±0) = −inf, log(x < 0) = NaN,
    /// log(+inf) = +inf, log(1) = +0, NaN → NaN.
    @inlinable
    public static func log(_ x: Double) -> Double {
        if x.isNaN || x < 0 { return .nan }
        if x == 0 { return -.infinity }
        if x == .infinity { return x }
        return _logDD(x).hi
    }

    /// sin x. Reduction x = k·π/2 + r, |r| ≲ π/4, r as DD: for |x| < 2^20 Cody–Waite with π/2 in
    /// three 33-bit pieces (k·piece exact) plus a 53-bit tail (|π/2 − sum| < 2^-159); for
    /// |x| ≥ 2^20 Payne–Hanek with 1216 bits of 2/π. Both keep r to a relative error < 2^-66
    /// (the smallest |r| is 2^-60.5 for |x| < 2^20, found by exhaustive search over k, and
    /// ≈ 2^-61 over all doubles), so the accuracy below holds for every finite x.
    /// Kernels: Taylor to r¹⁷ (sin, h − h³/6 in DD) / r¹⁸ (cos, 1 − h²/2 in DD), truncation
    /// < 2^-62 relative. Max error 0.59 ulp. sin(±0) = ±0, |x| < 2^-26 → x; NaN, ±inf → NaN.
    @inlinable
    public static func sin(_ x: Double) -> Double {
        if !x.isFinite { return .nan }
        if x.magnitude < 0x1p-26 { return x }
        let (n, h, l) = _remPio2(x)
        switch n {
        case 0: return _sinKernel(h, l)
        case 1: return _cosKernel(h, l)
        case 2: return -_sinKernel(h, l)
        default: return -_cosKernel(h, l)
        }
    }

    /// cos x. Same reduction and kernels as `sin` (accurate for every finite x).
    /// Max error 0.59 ulp. cos(±0) = 1; NaN, ±inf → NaN.
    @inlinable
    public static func cos(_ x: Double) -> Double {
        if !x.isFinite { return .nan }
        let (n, h, l) = _remPio2(x)
        switch n {
        case 0: return _cosKernel(h, l)
        case 1: return -_sinKernel(h, l)
        case 2: return -_cosKernel(h, l)
        default: return _sinKernel(h, l)
        }
    }

    /// x^y = e^(y·log x) with log x as DD (relative error < 2^-64), y·log x as DD (TwoProd), and
    /// the low part fed into the exp reduction. Max error 0.62 ulp over random (x, y) and 0.73 ulp
    /// for |y·log x| ∈ [600, 709.7] (relative error < 1.7·10⁻¹⁶ wherever the result is normal).
    /// Special cases follow C99 Annex F exactly: pow(x, ±0) = 1 and pow(1, y) = 1 (even NaN);
    /// NaN otherwise propagates; pow(±0, y) = ±inf / +inf / ±0 / +0 by sign and oddness of y;
    /// pow(−1, ±inf) = 1; |x| < 1 vs > 1 decides ±inf exponents; pow(±inf, y) likewise;
    /// x < 0 finite with non-integer finite y → NaN; x < 0 with integer y → ±|x|^y.
    /// Results overflow to +inf and underflow through subnormals to +0 like `exp`.
    @inlinable
    public static func pow(_ x: Double, _ y: Double) -> Double {
        if y == 0 || x == 1 { return 1 }
        if x.isNaN || y.isNaN { return .nan }
        let ay = y.magnitude
        let ax = x.magnitude
        if ay == .infinity {
            if ax == 1 { return 1 }
            return (ax < 1) == (y < 0) ? .infinity : 0
        }
        // y is finite and nonzero: classify it as odd integer / other integer / non-integer.
        var yInt = true
        var yOdd = false
        if ay < 0x1p52 {
            let ry = (ay + 0x1p52) - 0x1p52  // nearest integer (|ay| < 2^52)
            yInt = ry == ay
            yOdd = yInt && (Int64(ay) & 1) == 1
        } else if ay < 0x1p53 {
            yOdd = (Int64(ay) & 1) == 1
        }
        if x == 0 {
            if y < 0 { return yOdd ? 1 / x : .infinity }
            return yOdd ? x : 0
        }
        if ax == .infinity {
            if x > 0 { return y < 0 ? 0 : .infinity }
            if y < 0 { return yOdd ? -0.0 : 0 }
            return yOdd ? -.infinity : .infinity
        }
        if x < 0 && !yInt { return .nan }
        let r: Double
        if ax == 1 {
            r = 1
        } else if ay > 0x1p64 {
            // |y·log x| ≥ 2^64 · 2^-53: certain overflow or underflow.
            r = (ax > 1) == (y > 0) ? .infinity : 0
        } else {
            let (lh, ll) = _logDD(ax)
            let (ph, pl) = _twoProd(y, lh)
            let (zh, zl) = _fast2Sum(ph, pl + y * ll)
            if zh > 709.79 {
                r = .infinity
            } else if zh < -745.2 {
                r = 0
            } else {
                r = _expCore(zh, zl)
            }
        }
        return x < 0 && yOdd ? -r : r
    }

    /// x^n by binary powering (square-and-multiply from the low bit of |n|, fixed order); n < 0
    /// returns 1 / x^|n| (so x^|n| overflowing gives 0 even where x^n is a representable
    /// subnormal). Relative error ≲ (|n| − 1)·2^-53, as for repeated multiplication.
    /// pow(x, 0) = 1 for every x (even NaN); zeros and infinities follow IEEE products
    /// (pow(−0, −1) = −inf).
    @inlinable
    public static func pow(_ x: Double, _ n: Int) -> Double {
        var m = n.magnitude
        var base = x
        var result = 1.0
        while m != 0 {
            if m & 1 == 1 { result *= base }
            m >>= 1
            if m != 0 { base *= base }
        }
        return n < 0 ? 1 / result : result
    }

    // MARK: - Single precision (evaluated in double, rounded once to float)

    /// Float(exp(Double(x))): ≤ 0.5 ulp + ~2^-29 from the double rounding (max error measured
    /// 0.500 ulp of float). +inf above 88.7228, +0 below −103.973; special cases as for Double.
    @inlinable
    public static func exp(_ x: Float) -> Float { Float(exp(Double(x))) }

    /// Float(log(Double(x))); subnormal floats are normal doubles. Max error 0.500 ulp.
    /// Special cases as for Double.
    @inlinable
    public static func log(_ x: Float) -> Float { Float(log(Double(x))) }

    /// Float(sin(Double(x))), for every finite x. Max error 0.500 ulp.
    @inlinable
    public static func sin(_ x: Float) -> Float { Float(sin(Double(x))) }

    /// Float(cos(Double(x))), for every finite x. Max error 0.500 ulp.
    @inlinable
    public static func cos(_ x: Float) -> Float { Float(cos(Double(x))) }

    /// 1 / (1 + e^−x) in double, rounded to float: no overflow or cancellation for any x
    /// (e^−x = inf gives 0, e^−x = 0 gives 1). Max error 0.500 ulp. NaN → NaN, +inf → 1,
    /// −inf → +0.
    @inlinable
    public static func sigmoid(_ x: Float) -> Float {
        Float(1 / (1 + exp(-Double(x))))
    }

    /// x · sigmoid(x), both factors in double, rounded once to float. Max error 0.500 ulp.
    /// silu(+inf) = +inf; silu(−inf) = −0 (the limit; a literal −inf·0 would be NaN); NaN → NaN.
    @inlinable
    public static func silu(_ x: Float) -> Float {
        if x.isNaN { return .nan }
        if x == -.infinity { return -0.0 }
        let xd = Double(x)
        return Float(xd * (1 / (1 + exp(-xd))))
    }

    // MARK: - Fused multiply-add

    /// a·b + c rounded once (IEEE fusedMultiplyAdd, round-to-nearest-even), without hardware fma.
    /// a·b is exact in double (24 + 24 bits); s = a·b + c is rounded to double with round-to-odd
    /// (TwoSum gives the exact error; a nonzero error with an even last bit moves s one ulp toward
    /// it); then double → float rounds to nearest. Round-to-odd at 53 ≥ 2·24 + 2 bits makes the
    /// double rounding innocuous (Boldo–Melquiond), including subnormal and overflowing results.
    /// Exact zero sums get IEEE signs (+0, or −0 when a·b and c are both −0). Any inf/NaN input
    /// gives the IEEE result (inf or NaN) of a·b + c in double. Verified bit-exact against the
    /// hardware instruction (10⁸ triples) and glibc fmaf (2·10⁷), random and crafted.
    @inlinable
    public static func fma(_ a: Float, _ b: Float, _ c: Float) -> Float {
        let p = Double(a) * Double(b)
        let cd = Double(c)
        var s = p + cd
        if !s.isFinite { return s.isNaN ? .nan : Float(s) }
        let bv = s - p
        let err = (p - (s - bv)) + (cd - bv)
        if err != 0 && s.bitPattern & 1 == 0 {
            // s ≠ 0 here: a nonzero exact sum of such operands is ≥ 2^-298 in magnitude.
            s = Double(bitPattern: (err > 0) == (s > 0) ? s.bitPattern + 1 : s.bitPattern - 1)
        }
        return Float(s)
    }

    /// Lanewise `fma(a[i], b[i], c[i])`.
    @inlinable
    public static func fma(_ a: SIMD4<Float>, _ b: SIMD4<Float>, _ c: SIMD4<Float>) -> SIMD4<Float> {
        var r = SIMD4<Float>()
        for i in 0..<4 { r[i] = fma(a[i], b[i], c[i]) }
        return r
    }

    /// Lanewise `fma(a[i], b[i], c[i])`.
    @inlinable
    public static func fma(_ a: SIMD8<Float>, _ b: SIMD8<Float>, _ c: SIMD8<Float>) -> SIMD8<Float> {
        var r = SIMD8<Float>()
        for i in 0..<8 { r[i] = fma(a[i], b[i], c[i]) }
        return r
    }

    /// Lanewise `fma(a[i], b[i], c[i])`.
    @inlinable
    public static func fma(_ a: SIMD16<Float>, _ b: SIMD16<Float>, _ c: SIMD16<Float>) -> SIMD16<Float> {
        var r = SIMD16<Float>()
        for i in 0..<16 { r[i] = fma(a[i], b[i], c[i]) }
        return r
    }

    // MARK: - Exact building blocks

    /// (s, e) with s = fl(a + b), s + e = a + b exactly.
    @inlinable @inline(__always)
    internal static func _twoSum(_ a: Double, _ b: Double) -> (Double, Double) {
        let s = a + b
        let bv = s - a
        return (s, (a - (s - bv)) + (b - bv))
    }

    /// TwoSum for exponent(a) ≥ exponent(b) (or a == 0).
    @inlinable @inline(__always)
    internal static func _fast2Sum<T: DDLanes>(_ a: T, _ b: T) -> (T, T) {
        let s = a + b
        return (s, b - (s - a))
    }

    /// (p, e) with p = fl(a·b), p + e = a·b exactly (Dekker; no fma). Generic over the lanes
    /// (`Double` or a SIMD vector of them): the same operations lane by lane.
    @inlinable @inline(__always)
    internal static func _twoProd<T: DDLanes>(_ a: T, _ b: T) -> (T, T) {
        let p = a * b
        let ta = 134217729.0 * a  // 2^27 + 1
        let ah = ta - (ta - a)
        let al = a - ah
        let tb = 134217729.0 * b
        let bh = tb - (tb - b)
        let bl = b - bh
        return (p, ((ah * bh - p) + ah * bl + al * bh) + al * bl)
    }

    // MARK: - exp core

    /// e^(x + tail) for −745.2 ≤ x ≤ 709.79, |tail| ≤ 2^-40.
    @inlinable
    internal static func _expCore(_ x: Double, _ tail: Double) -> Double {
        // k = round(x / ln2) via the 1.5·2^52 rounding trick (|x / ln2| < 2^51).
        let kd = (x * 0x1.71547652b82fep+0 + 0x1.8p52) - 0x1.8p52
        let k = Int(kd)
        // ln2 = 0x1.62e42fefa38p-1 (42 bits, k·hi exact for |k| < 2^11) + 0x1.ef35793c7673p-45.
        let rhi = x - kd * 0x1.62e42fefa3800p-1  // exact (Sterbenz)
        let rlo = kd * 0x1.ef35793c76730p-45
        let (r, rerr) = _twoSum(rhi, -rlo)
        let tau = rerr + tail                  // e^(r + τ) ≈ e^r · (1 + τ)
        // q = e^r − 1 − r = r²·(1/2! + r/3! + … + r^12/14!), |r| ≤ 0.3466.
        var p = 0x1.93974a8c07c9dp-37         // 1/14!
        p = 0x1.6124613a86d09p-33 + r * p     // 1/13!
        p = 0x1.1eed8eff8d898p-29 + r * p     // 1/12!
        p = 0x1.ae64567f544e4p-26 + r * p     // 1/11!
        p = 0x1.27e4fb7789f5cp-22 + r * p     // 1/10!
        p = 0x1.71de3a556c734p-19 + r * p     // 1/9!
        p = 0x1.a01a01a01a01ap-16 + r * p     // 1/8!
        p = 0x1.a01a01a01a01ap-13 + r * p     // 1/7!
        p = 0x1.6c16c16c16c17p-10 + r * p     // 1/6!
        p = 0x1.1111111111111p-7 + r * p      // 1/5!
        p = 0x1.5555555555555p-5 + r * p      // 1/4!
        p = 0x1.5555555555555p-3 + r * p      // 1/3!
        p = 0.5 + r * p
        let q = (r * r) * p
        let t = 1 + r
        let te = (1 - t) + r                  // exact: 1 + r = t + te
        let lo = te + (q + tau * (t + q))
        if k > -1022 {
            let y = t + lo                    // e^r, in [0.7, 1.42]
            if k <= 1023 { return y * Double(bitPattern: UInt64(k + 1023) << 52) }
            return (y * 2) * 0x1p1023         // k = 1024: overflows unless y < 1
        }
        // Result below 2^-1022·1.42: scale t and lo by 2^(k+1022) ∈ [2^-54, 2^-1] (exact), then
        // round once to a multiple of 2^-52 (the subnormal grid after the final ·2^-1022).
        let scale = Double(bitPattern: UInt64(k + 2045) << 52)
        let hs = t * scale
        let ls = lo * scale
        if hs + ls >= 1 { return (hs + ls) * 0x1p-1022 }
        let u = 1 + hs
        let ue = (1 - u) + hs
        let v = u + (ue + ls)
        return (v - 1) * 0x1p-1022            // exact
    }

    // MARK: - log core

    /// log x as DD for finite x > 0; relative error < 2^-62.
    @inlinable
    internal static func _logDD(_ x: Double) -> (hi: Double, lo: Double) {
        var bits = x.bitPattern
        var e = Int(bits >> 52) - 1023
        if bits >> 52 == 0 {                  // subnormal
            bits = (x * 0x1p54).bitPattern
            e = Int(bits >> 52) - 1023 - 54
        }
        var mbits = (bits & 0x000F_FFFF_FFFF_FFFF) | 0x3FF0_0000_0000_0000
        if mbits >= 0x3FF6_A09E_667F_3BCD {   // m ≥ √2 (rounded up): halve
            mbits -= 0x0010_0000_0000_0000
            e += 1
        }
        return _logDDCore(Double(bitPattern: mbits), Double(e))
    }

    /// log(m · 2^e) as DD for m in [0.7071, 1.4142) and an integer e, lane by lane: `_logDD`'s
    /// arithmetic after the reduction, shared by the scalar log and the four-lane one
    /// (`VectorCore.logs`), so both give the same bits.
    @inlinable @inline(__always)
    internal static func _logDDCore<T: DDLanes>(_ m: T, _ ed: T) -> (hi: T, lo: T) {
        let g = m - 1                         // exact
        let dh = 1 + m
        let dl = (1 - dh) + m                 // exact: m + 1 = dh + dl
        let fh = g / dh
        let (ph, pl) = _twoProd(fh, dh)
        let fl = (((g - ph) - pl) - fh * dl) / dh   // f = g / (m + 1) = fh + fl
        // f² and f³ as DD.
        let (s2h, s2e) = _twoProd(fh, fh)
        let s2l = s2e + 2 * fh * fl
        let (f3h, f3e) = _twoProd(fh, s2h)
        let f3l = f3e + (fh * s2l + fl * s2h)
        // B = (2/3)·f³ as DD; 2/3 = 0x1.5555555555555p-1 + 0x1.5555555555555p-55.
        let (bh, be) = _twoProd(T(0x1.5555555555555p-1), f3h)
        let bl = be + (0x1.5555555555555p-1 * f3l + 0x1.5555555555555p-55 * f3h)
        // C = f⁵·(2/5 + 2/7 f² + … + 2/23 f¹⁸), |C| ≤ 2^-12.4·|2f|.
        let z = s2h
        var qq = T(0x1.642c8590b2164p-4)      // 2/23
        qq = 0x1.8618618618618p-4 + z * qq    // 2/21
        qq = 0x1.af286bca1af28p-4 + z * qq    // 2/19
        qq = 0x1.e1e1e1e1e1e1ep-4 + z * qq    // 2/17
        qq = 0x1.1111111111111p-3 + z * qq    // 2/15
        qq = 0x1.3b13b13b13b14p-3 + z * qq    // 2/13
        qq = 0x1.745d1745d1746p-3 + z * qq    // 2/11
        qq = 0x1.c71c71c71c71cp-3 + z * qq    // 2/9
        qq = 0x1.2492492492492p-2 + z * qq    // 2/7
        qq = 0x1.999999999999ap-2 + z * qq    // 2/5
        let c = (f3h * s2h + (f3l * s2h + f3h * s2l)) * qq
        // log m = 2f + B + C.
        let (sh, se) = _fast2Sum(2 * fh, bh)
        let sl = c + (se + (2 * fl + bl))
        // + e·ln2 (e·hi exact for |e| ≤ 1075; |e·ln2| ≥ 0.69 > |log m| when e ≠ 0).
        let (th, te) = _fast2Sum(ed * 0x1.62e42fefa3800p-1, sh)
        let tl = te + (sl + ed * 0x1.ef35793c76730p-45)
        let (hi, lo) = _fast2Sum(th, tl)
        return (hi, lo)
    }

    // MARK: - sin / cos

    /// x = n·π/2 + (h + l), n ∈ 0...3, |h + l| ≲ π/4 (slightly more from rounding of k), finite x.
    @inlinable
    internal static func _remPio2(_ x: Double) -> (Int, Double, Double) {
        if x.magnitude < 0x1p20 {
            let kd = (x * 0x1.45f306dc9c883p-1 + 0x1.8p52) - 0x1.8p52   // round(x·2/π)
            // π/2 = P1 + P2 + P3 (33 bits each, k·Pi exact for |k| < 2^20) + P4.
            let a = x - kd * 0x1.921fb54400000p+0                          // exact (Sterbenz)
            let (b, eb) = _twoSum(a, -(kd * 0x1.0b4611a600000p-34))
            let (c, ec) = _twoSum(b, -(kd * 0x1.3198a2e000000p-69))
            let (h, l) = _twoSum(c, (ec + eb) - kd * 0x1.b839a252049c1p-104)
            return (Int(kd) & 3, h, l)
        }
        let (n, h, l) = _remPio2Large(x.magnitude)
        return x < 0 ? ((-n) & 3, -h, -l) : (n & 3, h, l)
    }

    /// Payne–Hanek for finite |x| ≥ 2^20: with x = M·2^E (M a 53-bit integer), the bits of 2/π
    /// from index E−1 on (earlier ones only add multiples of 4 to x·2/π) times M give x·2/π mod 4
    /// to 2^-128; the fraction, rounded to nearest, times π/2 in DD is r.
    @usableFromInline
    internal static func _remPio2Large(_ ax: Double) -> (Int, Double, Double) {
        let bits = ax.bitPattern
        let exponent = Int(bits >> 52) - 1075
        let mant = (bits & 0x000F_FFFF_FFFF_FFFF) | 0x0010_0000_0000_0000
        let pos = exponent - 1 + 63           // bit index E−1 in _twoOverPi (word 0 = bits −63...0)
        let w = pos >> 6
        let sh = UInt64(pos & 63)
        let t = _twoOverPi
        func window(_ i: Int) -> UInt64 {
            sh == 0 ? t[w + i] : (t[w + i] << sh) | (t[w + i + 1] >> (64 - sh))
        }
        // 192-bit window × 53-bit mantissa; x·2/π = product / 2^190.
        let p2 = mant.multipliedFullWidth(by: window(2))
        let p1 = mant.multipliedFullWidth(by: window(1))
        let p0 = mant.multipliedFullWidth(by: window(0))
        let q3 = p2.low
        let (q2, c1) = p2.high.addingReportingOverflow(p1.low)
        let (q1a, c2) = p1.high.addingReportingOverflow(p0.low)
        let q1 = q1a &+ (c1 ? 1 : 0)
        _ = c2                                // carries above bit 191 are multiples of 4
        var n = Int(q1 >> 62)
        var fh = (q1 << 2) | (q2 >> 62)       // fraction of x·2/π as 128-bit fixed point
        var fl = (q2 << 2) | (q3 >> 62)
        var negative = false
        if fh >> 63 == 1 {                    // fraction ≥ ½: r = (fraction − 1)·π/2, n + 1
            n += 1
            negative = true
            fl = ~fl &+ 1
            fh = ~fh &+ (fl == 0 ? 1 : 0)
        }
        let lz = UInt64(fh.leadingZeroBitCount)
        let hiW = (fh << lz) | (fl >> (64 - lz))
        let loW = fl << lz
        let scale = Double(bitPattern: (1023 - 64 - lz) << 52)  // 2^(−64−lz)
        let d1 = Double(hiW & ~0x7FF) * scale                  // exact: 53 bits
        let d2 = (Double(hiW & 0x7FF) + Double(loW) * 0x1p-64) * scale
        // r = (d1 + d2)·π/2, π/2 = 0x1.921fb54442d18p+0 + 0x1.1a62633145c07p-54.
        let (rh, re) = _twoProd(d1, 0x1.921fb54442d18p+0)
        let rl = re + (d1 * 0x1.1a62633145c07p-54 + d2 * 0x1.921fb54442d18p+0)
        let (h, l) = _fast2Sum(rh, rl)
        return negative ? (n, -h, -l) : (n, h, l)
    }

    /// Bits of 2/π: word 0 is zero padding (bit indices −63…0), word j ≥ 1 holds bits
    /// 64(j−1)+1 … 64j of the binary fraction (weight 2^-i for bit i).
    @usableFromInline
    internal static let _twoOverPi: [UInt64] = [
        0x0000000000000000, 0xA2F9836E4E441529, 0xFC2757D1F534DDC0, 0xDB6295993C439041,
        0xFE5163ABDEBBC561, 0xB7246E3A424DD2E0, 0x06492EEA09D1921C, 0xFE1DEB1CB129A73E,
        0xE88235F52EBB4484, 0xE99C7026B45F7E41, 0x3991D639835339F4, 0x9C845F8BBDF9283B,
        0x1FF897FFDE05980F, 0xEF2F118B5A0A6D1F, 0x6D367ECF27CB09B7, 0x4F463F669E5FEA2D,
        0x7527BAC7EBE5F17B, 0x3D0739F78A5292EA, 0x6BFB5FB11F8D5D08, 0x56033046FC7B6BAB,
    ]

    /// sin(h + l), |h| ≲ π/4, |l| ≤ ulp(h).
    @inlinable @inline(__always)
    internal static func _sinKernel(_ h: Double, _ l: Double) -> Double {
        let (zh, zl) = _twoProd(h, h)
        let (vh, ve) = _twoProd(zh, h)
        let vl = ve + zl * h                    // h³ = vh + vl
        // −h³/6 as DD; 1/6 = 0x1.5555555555555p-3 + 0x1.5555555555555p-57.
        let (th, te) = _twoProd(vh, -0x1.5555555555555p-3)
        let tl = te - (vl * 0x1.5555555555555p-3 + vh * 0x1.5555555555555p-57)
        // S = 1/5! − z/7! + … + z⁶/17!
        var s = 0x1.952c77030ad4ap-49           // 1/17!
        s = -0x1.ae7f3e733b81fp-41 + zh * s     // −1/15!
        s = 0x1.6124613a86d09p-33 + zh * s      // 1/13!
        s = -0x1.ae64567f544e4p-26 + zh * s     // −1/11!
        s = 0x1.71de3a556c734p-19 + zh * s      // 1/9!
        s = -0x1.a01a01a01a01ap-13 + zh * s     // −1/7!
        s = 0x1.1111111111111p-7 + zh * s       // 1/5!
        // sin(h + l) ≈ (h − h³/6) + h⁵·S + l·(1 − h²/2), with h − h³/6 summed exactly.
        let (sh, se) = _fast2Sum(h, th)
        return sh + (se + (tl + ((vh * zh) * s + l * (1 - 0.5 * zh))))
    }

    /// cos(h + l), |h| ≲ π/4, |l| ≤ ulp(h).
    @inlinable @inline(__always)
    internal static func _cosKernel(_ h: Double, _ l: Double) -> Double {
        let (zh, zl) = _twoProd(h, h)
        // C = 1/4! − z/6! + … − z⁷/18!
        var c = -0x1.6827863b97d97p-53          // −1/18!
        c = 0x1.ae7f3e733b81fp-45 + zh * c      // 1/16!
        c = -0x1.93974a8c07c9dp-37 + zh * c     // −1/14!
        c = 0x1.1eed8eff8d898p-29 + zh * c      // 1/12!
        c = -0x1.27e4fb7789f5cp-22 + zh * c     // −1/10!
        c = 0x1.a01a01a01a01ap-16 + zh * c      // 1/8!
        c = -0x1.6c16c16c16c17p-10 + zh * c     // −1/6!
        c = 0x1.5555555555555p-5 + zh * c       // 1/4!
        // cos(h + l) ≈ (1 − h²/2) + h⁴·C − h·l, with 1 − zh/2 split exactly.
        let hz = 0.5 * zh
        let w = 1 - hz
        let we = (1 - w) - hz                   // exact
        return w + (we + ((zh * zh) * c - (0.5 * zl + h * l)))
    }
}

/// What the double-double helpers (`_twoProd`, `_fast2Sum`, `_logDDCore`) need of their lanes:
/// IEEE arithmetic of `Double`s, one lane or several, each operation rounded on its own.
/// `Double` and `SIMD4<Double>` conform with their own operators, so the scalar functions and
/// the vectorised log run the same source.
public protocol DDLanes {
    init(_ value: Double)
    static func + (a: Self, b: Self) -> Self
    static func - (a: Self, b: Self) -> Self
    static func * (a: Self, b: Self) -> Self
    static func / (a: Self, b: Self) -> Self
    static func + (a: Double, b: Self) -> Self
    static func - (a: Double, b: Self) -> Self
    static func * (a: Double, b: Self) -> Self
    static func - (a: Self, b: Double) -> Self
    static func * (a: Self, b: Double) -> Self
}

extension Double: DDLanes {}

extension SIMD4: DDLanes where Scalar == Double {
    @inlinable public init(_ value: Double) { self.init(repeating: value) }
}
