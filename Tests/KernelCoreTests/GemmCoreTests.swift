// GemmCore's driver on every lane type, compiled here for this test module's CPU (so the
// 16-lane AVX-512 tile logic is checked even on a CPU without AVX-512), with tiny cache blocks
// that force every edge: partial tiles, several K blocks (the chain stored and reloaded), several
// row and column blocks. The result must be the scalar fma chain, bit for bit.
import KernelCore
import Testing

struct SplitMix {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
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
        var rng = SplitMix(state: 7)
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
