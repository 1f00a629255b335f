// GemmCore's driver on every lane type, compiled here for this test module's CPU (so the
// 16-lane AVX-512 tile logic is checked even on a CPU without AVX-512), with tiny cache blocks
// that force every edge: partial tiles, several K blocks (the chain stored and reloaded), several
// row and column blocks. The result must be the scalar fma chain, bit for bit.
import KernelCore
import Testing
import TestSupport

extension SplitMix64 {
    mutating func floats(_ n: Int) -> [Float] { (0..<n).map { _ in Float(Int(next() >> 40) - (1 << 23)) / Float(1 << 23) } }
}

func chain(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, a: [Float], lda: Int, b: [Float], ldb: Int,
           beta: Float, c: [Float], ldc: Int) -> [Float] {
    var out = c
    for i in 0..<m {
        for j in 0..<n {
            var acc: Float = beta == 0 ? 0 : beta * c[i * ldc + j]
            for p in 0..<k {
                acc = acc.addingProduct(transA ? a[p * lda + i] : a[i * lda + p], transB ? b[j * ldb + p] : b[p * ldb + j])
            }
            out[i * ldc + j] = acc
        }
    }
    return out
}

func product<L: GemmLanes>(_ lanes: L.Type, _ blocking: GemmBlocking, transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                           a: [Float], lda: Int, b: [Float], ldb: Int, beta: Float, c: [Float], ldc: Int) -> [Float] {
    var out = c
    a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            out.withUnsafeMutableBufferPointer { pc in
                gemmSerialCore(lanes, blocking, transA: transA, transB: transB, m: m, n: n, k: k, alpha: 1,
                               a: pa.baseAddress!, lda: lda, b: pb.baseAddress!, ldb: ldb, beta: beta,
                               c: pc.baseAddress!, ldc: ldc)
            }
        }
    }
    return out
}

@Suite("GemmCore driver")
struct GemmCoreTests {
    @Test(arguments: [GemmBlocking(mc: 12, kc: 5, nc: 64), GemmBlocking(mc: 6, kc: 1, nc: 32), GemmBlocking(mc: 72, kc: 256, nc: 4096)])
    func everyLaneTypeIsTheScalarChain(blocking: GemmBlocking) {
        var rng = SplitMix64(state: 7)
        for (m, n, k) in [(1, 1, 1), (7, 33, 11), (13, 70, 9), (6, 32, 5), (25, 17, 40)] {
            for (tA, tB) in [(false, false), (false, true), (true, false), (true, true)] {
                for beta: Float in [0, 1, -0.5] {
                    let lda = (tA ? m : k) + 2, ldb = (tB ? k : n) + 1, ldc = n + 3
                    let a = rng.floats((tA ? k : m) * lda), b = rng.floats((tB ? n : k) * ldb), c = rng.floats(m * ldc)
                    let want = chain(transA: tA, transB: tB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb,
                                     beta: beta, c: c, ldc: ldc)
                    let got16 = product(Lanes16.self, blocking, transA: tA, transB: tB, m: m, n: n, k: k, a: a, lda: lda,
                                        b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
                    let got8 = product(Lanes8.self, blocking, transA: tA, transB: tB, m: m, n: n, k: k, a: a, lda: lda,
                                       b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
                    let gotSoft = product(LanesSoft.self, blocking, transA: tA, transB: tB, m: m, n: n, k: k, a: a,
                                          lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
                    let tag = "\(m)x\(n)x\(k) tA=\(tA) tB=\(tB) β=\(beta) blocking \(blocking.mc)/\(blocking.kc)/\(blocking.nc)"
                    #expect(got16.map(\.bitPattern) == want.map(\.bitPattern), "16 lanes \(tag)")
                    #expect(got8.map(\.bitPattern) == want.map(\.bitPattern), "8 lanes \(tag)")
                    #expect(gotSoft.map(\.bitPattern) == want.map(\.bitPattern), "software fma \(tag)")
                }
            }
        }
    }
}

@Suite("Generic-path software fma")
struct LanesSoftTests {
    /// Triples built to hit the fast path's two hazards often: sums that land exactly on a float
    /// midpoint after rounding to Double (few significant bits, nearby exponents), and results in
    /// the float subnormal range; plus plain random triples and specials.
    @Test func equalsTheCorrectlyRoundedFmaOnHardCases() {
        var rng = SplitMix64(state: 99)
        func structured() -> Float {
            let mantissa = Float(Int(rng.next() % 64) + 1)            // 1…64: short significands
            let exponent = Int(rng.next() % 9) - 4
            let sign: Float = rng.next() & 1 == 0 ? 1 : -1
            return sign * mantissa * Float(sign: .plus, exponent: exponent - 6, significand: 1)
        }
        func tiny() -> Float {
            Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()) & 0x80FF_FFFF | (UInt32(rng.next() % 8) << 23))
        }
        func random() -> Float { Float(bitPattern: UInt32(truncatingIfNeeded: rng.next())) }
        let specials: [Float] = [0, -0, 1, -1, .infinity, -.infinity, .nan, .leastNonzeroMagnitude,
                                 .leastNormalMagnitude, .greatestFiniteMagnitude, 1 + .ulpOfOne, 0.5]
        var mismatches = 0, midpointHits = 0, total = 0
        for round in 0..<60_000 {
            var a = SIMD4<Float>(), b = SIMD4<Float>(), c = SIMD4<Float>()
            for l in 0..<4 {
                switch (round + l) % 4 {
                case 0:
                    a[l] = structured(); b[l] = structured()
                    // c near −a·b with a half-ulp offset: exact midpoints in float.
                    let p = a[l] * b[l]
                    c[l] = -p + (rng.next() & 1 == 0 ? p.ulp / 2 : -p.ulp / 2) + structured() * p.ulp
                case 1:
                    if rng.next() & 1 == 0 {
                        a[l] = tiny(); b[l] = structured(); c[l] = tiny()
                    } else {
                        // Double-rounding trap: p = 2^e·(1 − i²·2^-46) lies just below the midpoint
                        // above c = 2^(e+24)·(odd significand); rounding p + c to Double lands on
                        // the midpoint, whose tie goes to even (up), while the exact sum rounds down.
                        let i = Float(Int(rng.next() % 1000) + 1), e = Int(rng.next() % 40) - 20
                        let u = Float.ulpOfOne
                        a[l] = Float(sign: .plus, exponent: e / 2, significand: 1 + i * u)
                        b[l] = Float(sign: .plus, exponent: e - e / 2, significand: 1 - i * u)
                        let odd = Float(Int(rng.next() % 1000) * 2 + 1)
                        c[l] = Float(sign: .plus, exponent: e + 24, significand: 1 + odd * u)
                        if rng.next() & 1 == 0 { a[l] = -a[l]; c[l] = -c[l] }
                    }
                case 2: a[l] = random(); b[l] = random(); c[l] = random()
                default: a[l] = specials[Int(rng.next() % 12)]; b[l] = specials[Int(rng.next() % 12)]; c[l] = structured()
                }
            }
            let got = LanesSoft.fma(a, b, c)
            for l in 0..<4 {
                let want = c[l].addingProduct(a[l], b[l])
                let s = Double(a[l]) * Double(b[l]) + Double(c[l])   // rounded once, to Double
                if s.isFinite, !s.isZero, Float(s).isNormal, abs(Double(Float(s)) - s) * 2 == Double(Float(s).ulp) { midpointHits += 1 }
                if !(got[l].bitPattern == want.bitPattern || (got[l].isNaN && want.isNaN)) { mismatches += 1 }
                total += 1
            }
        }
        #expect(mismatches == 0, "\(mismatches) of \(total) software fma results differ from the correctly rounded fma")
        #expect(total == 240_000)
        #expect(midpointHits > 1000, "only \(midpointHits) exact midpoints were exercised")
    }
}
