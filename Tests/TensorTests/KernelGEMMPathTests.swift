// The in-tree GEMM's contract (KernelCore/GemmCore.swift): every output element is the
// ascending-k fma chain, on every ISA path this CPU supports, at any thread count. Checked
// bitwise against a scalar oracle of that definition, and with a tolerance against float64.
import Foundation
import Testing
@testable import Tensor

/// The definition, one element at a time: acc = β == 0 ? +0 : β·C; acc = fma(a, b, acc) for
/// k ascending; C = α·acc (α == 1 or β == 0), else α·(chain from 0) + β·C.
func gemmOracle(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: [Float], lda: Int,
                b: [Float], ldb: Int, beta: Float, c: [Float], ldc: Int) -> [Float] {
    var out = c
    for i in 0..<m {
        for j in 0..<n {
            let twoPass = alpha != 1 && beta != 0
            var acc: Float = (beta == 0 || twoPass) ? 0 : beta * c[i * ldc + j]
            for p in 0..<k {
                let x = transA ? a[p * lda + i] : a[i * lda + p]
                let y = transB ? b[j * ldb + p] : b[p * ldb + j]
                acc = acc.addingProduct(x, y)
            }
            out[i * ldc + j] = twoPass ? alpha * acc + beta * c[i * ldc + j] : (alpha == 1 ? acc : alpha * acc)
        }
    }
    return out
}

/// Bitwise equality, NaN matching NaN (payloads are not part of the contract).
func sameBits(_ x: [Float], _ y: [Float]) -> Int? {
    for i in x.indices where !(x[i].bitPattern == y[i].bitPattern || (x[i].isNaN && y[i].isNaN)) { return i }
    return nil
}

@Suite("GEMM on every ISA path")
struct KernelGEMMPathTests {
    static let sizes = [0, 1, 7, 17, 64, 255, 2048]

    /// Shapes from the issue's size set: every triple whose product fits a debug-build budget,
    /// plus each size of 2048 against small others.
    static var shapes: [(Int, Int, Int)] {
        var out: [(Int, Int, Int)] = []
        for m in sizes { for n in sizes { for k in sizes where m * n * k <= 70_000 { out.append((m, n, k)) } } }
        out += [(2048, 7, 17), (17, 2048, 7), (7, 17, 2048), (255, 64, 17), (64, 17, 255), (2048, 1, 64), (1, 255, 255)]
        return out
    }

    func run(_ isa: ISA, threads: Int, transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
             a: [Float], lda: Int, b: [Float], ldb: Int, beta: Float, c: [Float], ldc: Int) -> [Float] {
        var out = c
        let saved = ISA.active
        ISA.active = isa
        defer { ISA.active = saved }
        Parallel.withThreads(threads) {
            Kernels.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                         b: b, ldb: ldb, beta: beta, c: &out, ldc: ldc)
        }
        return out
    }

    @Test func everyPathEqualsTheOracleBitwise() {
        var rng = TestRNG(11)
        var checked = 0
        for (m, n, k) in Self.shapes {
            for tA in [false, true] {
                for tB in [false, true] {
                    for beta: Float in [0, 1] {
                        let pad = (m + n + k) % 3 == 0 ? 5 : 0   // leading dims larger than packed
                        let lda = max(1, tA ? m : k) + pad, ldb = max(1, tB ? k : n) + pad, ldc = max(1, n) + pad
                        let a = rng.floats(max(1, (tA ? k : m) * lda)), b = rng.floats(max(1, (tB ? n : k) * ldb))
                        let c = rng.floats(max(1, m * ldc))
                        let want = gemmOracle(transA: tA, transB: tB, m: m, n: n, k: k, alpha: 1, a: a, lda: lda,
                                              b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
                        for isa in ISA.supported {
                            let got = run(isa, threads: 1, transA: tA, transB: tB, m: m, n: n, k: k, alpha: 1,
                                          a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
                            let bad = sameBits(got, want)
                            #expect(bad == nil, "\(isa) \(m)x\(n)x\(k) tA=\(tA) tB=\(tB) beta=\(beta): first differing index \(bad ?? -1)")
                            checked += 1
                        }
                    }
                }
            }
        }
        #expect(checked >= Self.shapes.count * 8)
    }

    @Test func matchesFloat64WithinRoundingBound() {
        var rng = TestRNG(12)
        for (m, n, k) in [(255, 64, 17), (17, 7, 2048), (64, 255, 64), (7, 2048, 17)] {
            for (tA, tB) in [(false, false), (false, true), (true, false), (true, true)] {
                let lda = (tA ? m : k) + 3, ldb = (tB ? k : n) + 1, ldc = n + 2
                let a = rng.floats((tA ? k : m) * lda), b = rng.floats((tB ? n : k) * ldb), c = rng.floats(m * ldc)
                for (alpha, beta): (Float, Float) in [(1, 0), (1, 1), (0.5, 0), (0.5, 1.5), (1, -2)] {
                    let want = Ref.gemm(transA: tA, transB: tB, m: m, n: n, k: k, alpha: Double(alpha),
                                        a: toDouble(a), lda: lda, b: toDouble(b), ldb: ldb, beta: Double(beta),
                                        c: toDouble(c), ldc: ldc)
                    for isa in ISA.supported {
                        let got = run(isa, threads: 2, transA: tA, transB: tB, m: m, n: n, k: k, alpha: alpha,
                                      a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
                        // |terms| <= 1: a length-k chain errs by at most ~k·2^-24 (plus the epilogue).
                        expectClose(got, want, atol: 1e-6 * Double(k + 2), rtol: 1e-5, "\(isa) \(m)x\(n)x\(k) α=\(alpha) β=\(beta)")
                        let oracle = gemmOracle(transA: tA, transB: tB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                                                b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
                        #expect(sameBits(got, oracle) == nil, "\(isa) α=\(alpha) β=\(beta) differs from the oracle")
                    }
                }
            }
        }
    }

    /// The edge micro-kernels and where B is read: row edges of 1–5 rows (the 4- and 2-row
    /// kernels, on a scratch tile or straight into C), column edges of exactly half a panel
    /// (8 columns on AVX2, 16 on AVX-512: the narrow kernel straight into C) and of fewer, and
    /// B read in place (N a multiple of the panel, K · ldb ≤ 8192) or packed, with every α/β
    /// epilogue. Attention's and the studies' shapes (32 × 24 × 24, d_rope 8) are among them.
    @Test func edgeKernelsAndInPlaceBEqualTheOracle() {
        var rng = TestRNG(14)
        let shapes = [(32, 24, 24), (64, 48, 40), (14, 8, 9), (10, 40, 70), (62, 16, 33), (5, 32, 300),
                      (3, 96, 64), (64, 64, 128), (2, 8, 1)]
        var checked = 0
        for (m, n, k) in shapes {
            for (tA, tB) in [(false, false), (false, true), (true, false), (true, true)] {
                for pad in [0, 3] {
                    let lda = (tA ? m : k) + pad, ldb = (tB ? k : n) + pad, ldc = n + pad
                    let a = rng.floats((tA ? k : m) * lda), b = rng.floats((tB ? n : k) * ldb), c = rng.floats(m * ldc)
                    for (alpha, beta): (Float, Float) in [(1, 0), (1, 1), (0.5, 0), (0.5, 1)] {
                        let want = gemmOracle(transA: tA, transB: tB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                                              b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
                        for isa in ISA.supported {
                            let got = run(isa, threads: 1, transA: tA, transB: tB, m: m, n: n, k: k, alpha: alpha,
                                          a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
                            let bad = sameBits(got, want)
                            #expect(bad == nil, "\(isa) \(m)x\(n)x\(k) tA=\(tA) tB=\(tB) pad=\(pad) α=\(alpha) β=\(beta): index \(bad ?? -1)")
                            checked += 1
                        }
                    }
                }
            }
        }
        #expect(checked >= shapes.count * 32)
    }

    @Test func nanAndInfinityPropagateLikeTheChain() {
        var rng = TestRNG(13)
        let (m, n, k) = (19, 37, 300)   // 300 > the K block: the chain crosses a stored partial
        var a = rng.floats(m * k), b = rng.floats(k * n)
        a[3 * k + 5] = .nan; a[7 * k + 299] = .infinity; a[8 * k] = -.infinity
        b[10 * n + 4] = .infinity; b[0] = .nan; b[299 * n + 36] = .greatestFiniteMagnitude
        let c = rng.floats(m * n)
        let want = gemmOracle(transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: a, lda: k,
                              b: b, ldb: n, beta: 1, c: c, ldc: n)
        #expect(want.contains { $0.isNaN } && want.contains { $0.isInfinite })
        for isa in ISA.supported {
            for threads in [1, 2] {
                let got = run(isa, threads: threads, transA: false, transB: false, m: m, n: n, k: k, alpha: 1,
                              a: a, lda: k, b: b, ldb: n, beta: 1, c: c, ldc: n)
                #expect(sameBits(got, want) == nil, "\(isa) \(threads)T")
            }
        }
    }

    @Test func threadsAndPathsGiveTheSameBitsAtModelShapes() {
        var rng = TestRNG(14)
        // The reference model's products: forward, dX and the TN weight gradient (K = 2048).
        // Shared row blocks: one K block, several (K > 256, with Aᵀ packed: lda >= 256), and a row
        // count no block size divides; columns split (N > M).
        for (m, n, k, tA, tB) in [(2048, 96, 256, false, true), (2048, 256, 96, false, false), (96, 256, 2048, true, false),
                                  (300, 96, 600, true, false), (1001, 40, 517, false, true)] {
            let a = rng.floats(m * k), b = rng.floats(k * n), c = rng.floats(m * n)
            let lda = tA ? m : k, ldb = tB ? k : n
            let first = run(.generic, threads: 1, transA: tA, transB: tB, m: m, n: n, k: k, alpha: 1, a: a, lda: lda,
                            b: b, ldb: ldb, beta: 1, c: c, ldc: n)
            for isa in ISA.supported {
                for threads in [1, 2, 3] {
                    let got = run(isa, threads: threads, transA: tA, transB: tB, m: m, n: n, k: k, alpha: 1, a: a, lda: lda,
                                  b: b, ldb: ldb, beta: 1, c: c, ldc: n)
                    #expect(sameBits(got, first) == nil, "\(isa) \(threads)T \(m)x\(n)x\(k)")
                }
            }
        }
    }

    /// A GEMM whose threads share row blocks, called from inside a parallel loop: its lanes then
    /// run one after another on one thread (the first takes every block) with the same bits.
    @Test func sharedGemmInsideAParallelLoop() {
        var rng = TestRNG(15)
        let (m, n, k) = (400, 64, 520)
        let a = rng.floats(m * k), b = rng.floats(k * n)
        let want = gemmOracle(transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: a, lda: k,
                              b: b, ldb: n, beta: 0, c: [Float](repeating: 0, count: m * n), ldc: n)
        let outs = UnsafeMutablePointer<Float>.allocate(capacity: 2 * m * n)
        defer { outs.deallocate() }
        let po = SendablePointer(outs)
        Parallel.withThreads(2) {
            Parallel.for(2) { range in
                for i in range {
                    a.withUnsafeBufferPointer { pa in
                        b.withUnsafeBufferPointer { pb in
                            Kernels.gemm(m: m, n: n, k: k, a: pa.baseAddress!, b: pb.baseAddress!, c: po.p + i * m * n)
                        }
                    }
                }
            }
        }
        for i in 0..<2 {
            let got = Array(UnsafeBufferPointer(start: outs + i * m * n, count: m * n))
            #expect(sameBits(got, want) == nil, "product \(i)")
        }
    }

    @Test func dispatchFollowsFeatureBits() {
        let cpu = CPUInfo.current
        #expect(ISA.supported.contains(.generic))
        #expect(ISA.supported == ISA.supported.sorted(by: >))
        // Each path is supported exactly when every feature its module is compiled for is present.
        for isa in ISA.allCases {
            #expect(ISA.supported.contains(isa) == CPUInfo.required(for: isa).allSatisfy(cpu.features.contains))
        }
        #expect(CPUInfo.required(for: .avx512).starts(with: CPUInfo.required(for: .avx2)))
        if case .success = ISA.fromEnvironment("nonsense") { Issue.record("a bad ABLATE_ISA was accepted") }
        if case .failure(let e) = ISA.fromEnvironment("nonsense") { #expect(e.message.contains("ABLATE_ISA")) }
        for isa in ISA.allCases {
            switch ISA.fromEnvironment(isa.rawValue.uppercased()) {
            case .success(let chosen): #expect(chosen == isa && cpu.supports(isa))
            case .failure(let e): #expect(!cpu.supports(isa) && e.message.contains("lacks"))
            }
        }
        if case .success(let chosen) = ISA.fromEnvironment(nil) { #expect(chosen == ISA.best) }
    }
}
