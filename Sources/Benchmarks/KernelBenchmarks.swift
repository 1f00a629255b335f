// KernelBenchmarks: timings of the raw kernels, for `ablate bench gemm` / `ablate bench ops` (not
// a test; nothing here asserts). GEMM rows time the in-tree `Kernels.gemm` on each ISA path at 1
// and N threads, optionally beside OpenBLAS `cblas_sgemm` (OpenBLASYardstick, loaded with
// dlopen), at the shapes of the reference model; the variants of one shape alternate in rounds.
// The first call of each block is not timed. Medians (and minima) over all rounds are reported.
//
// Shapes: tokens N = 2048, d = 256, out ∈ {96, 128, 256, 512}; a linear layer y = x·Wᵀ gives
//   forward  Y[N, out] = X[N, d] · W[out, d]ᵀ        (m N, n out, k d, transB)
//   dX       dX[N, d] = dY[N, out] · W[out, d]        (m N, n d, k out)
//   dW       dW[out, d] = dY[N, out]ᵀ · X[N, d]       (m out, n d, k N, transA)
import Tensor
import Dispatch
import Foundation

/// One benchmark result row.
public struct BenchRow: Sendable, CustomStringConvertible {
    public var name: String
    public var shape: String
    /// Median wall time of one call, milliseconds.
    public var medianMs: Double
    /// Fastest repetition, milliseconds (the machine is shared: the minimum shows the kernel
    /// without interference, the median what a run sees).
    public var minMs: Double
    /// Useful floating-point operations per second at the median time (nil for memory-bound ops).
    public var gflops: Double?
    /// Every timed call, seconds (to merge rounds measured in different processes).
    public var times: [Double] = []
    /// Floating-point operations of one call.
    public var flops: Double?

    public init(name: String, shape: String, medianMs: Double, minMs: Double, gflops: Double?) {
        self.name = name
        self.shape = shape
        self.medianMs = medianMs
        self.minMs = minMs
        self.gflops = gflops
    }

    public init(name: String, shape: String, times: [Double], flops: Double?) {
        let med = KernelBenchmarks.median(times)
        self.init(name: name, shape: shape, medianMs: med * 1e3,
                  minMs: (times.min() ?? .nan) * 1e3, gflops: flops.map { $0 / med / 1e9 })
        self.times = times
        self.flops = flops
    }

    public var description: String {
        let g = gflops.map { fmt($0, 1) } ?? "-"
        return pad(name, 30) + pad(shape, 22) + lpad(fmt(medianMs, 3), 10) + lpad(fmt(minMs, 3), 10)
            + lpad(g, 10)
    }
}

public enum KernelBenchmarks {
    /// Runs every benchmark; `repetitions` timed calls per row (after one warm-up call).
    public static func run(repetitions: Int = 9, attention: Bool = true, ops: Bool = true) -> [BenchRow] {
        var rows = gemmRows(repetitions: repetitions)
        if attention { rows += attentionRows(repetitions: repetitions) }
        if ops { rows += opRows(repetitions: repetitions) }
        return rows
    }

    /// A printable table with a header line.
    public static func table(_ rows: [BenchRow]) -> String {
        let header = pad("kernel", 30) + pad("shape", 22) + lpad("median ms", 10) + lpad("min ms", 10)
            + lpad("GFLOP/s", 10)
        return ([header] + rows.map(\.description)).joined(separator: "\n")
    }

    // MARK: - GEMM

    /// GEMM rows as one line per product and one GFLOP/s column per variant ("avx2 1T",
    /// "OpenBLAS Haswell 2T", …), then the ratios of each ISA path to each OpenBLAS core at the
    /// same thread count (medians).
    public static func gemmTable(_ rows: [BenchRow]) -> String {
        var columns: [String] = [], products: [String] = []
        var value: [String: Double] = [:]
        for row in rows {
            guard let r = row.name.range(of: #" \d+T "#, options: .regularExpression) else { continue }
            let column = String(row.name[..<r.upperBound]).trimmingCharacters(in: .whitespaces)
            let product = String(row.name[r.upperBound...]) + " " + row.shape
            if !columns.contains(column) { columns.append(column) }
            if !products.contains(product) { products.append(product) }
            value[product + "|" + column] = row.gflops
        }
        func threads(_ c: String) -> String { String(c.split(separator: " ").last ?? "") }
        var header = "| product | " + columns.joined(separator: " | ") + " |"
        var ratioColumns: [(String, String)] = []
        for c in columns where !c.hasPrefix("OpenBLAS") {
            for o in columns where o.hasPrefix("OpenBLAS") && threads(o) == threads(c) {
                ratioColumns.append((c, o))
            }
        }
        header += ratioColumns.map { " \($0.0) / \($0.1.replacingOccurrences(of: "OpenBLAS ", with: "")) |" }.joined()
        var lines = [header, "|" + String(repeating: "---|", count: 1 + columns.count + ratioColumns.count)]
        for p in products {
            var line = "| \(p) |"
            for c in columns { line += " " + (value[p + "|" + c].map { fmt($0, 1) } ?? "-") + " |" }
            for (c, o) in ratioColumns {
                if let a = value[p + "|" + c], let b = value[p + "|" + o] { line += " " + fmt(a / b * 100, 0) + "% |" } else { line += " - |" }
            }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }

    /// GEMM GFLOP/s per ISA path this CPU supports, at 1 thread and at `Parallel.threads`, on the
    /// reference model's shapes: X[tokens, d]·Wᵀ for each `out`, its dX and TN weight gradient,
    /// and one MoE expert's [expertTokens, d]·[hidden, d]ᵀ with its gradients. Beside them OpenBLAS
    /// `cblas_sgemm` (its own threads, at the same counts) when `yardstick` is given. The
    /// variants of one shape are interleaved in three rounds so they see the same machine.
    public static func gemmRows(repetitions: Int = 9, tokens: Int = 2048, dModel: Int = 256,
                                outs: [Int] = [96, 128, 256, 512], expertTokens: Int = 512,
                                expertHidden: Int = 128, rounds: Int = 3, paths: [ISA] = ISA.supported,
                                yardstick: OpenBLASYardstick? = nil) -> [BenchRow] {
        var rows: [BenchRow] = []
        let threads = Parallel.threads
        let counts = threads > 1 ? [1, threads] : [1]
        // (label, m, n, k, transA, transB)
        typealias Case = (String, Int, Int, Int, Bool, Bool)
        var cases: [Case] = []
        for out in outs {
            cases += [("fwd X·Wᵀ", tokens, out, dModel, false, true),
                      ("dX = dY·W", tokens, dModel, out, false, false),
                      ("dW = dYᵀ·X", out, dModel, tokens, true, false)]
        }
        cases += [("expert X·W1ᵀ", expertTokens, expertHidden, dModel, false, true),
                  ("expert dX = dY·W1", expertTokens, dModel, expertHidden, false, false),
                  ("expert dW1 = dYᵀ·X", expertHidden, dModel, expertTokens, true, false)]
        let original = ISA.active
        defer { ISA.active = original }
        for (label, m, n, k, tA, tB) in cases {
            let a = filled(m * k, seed: 1), b = filled(k * n, seed: 2)
            var c = [Float](repeating: 0, count: m * n)
            let lda = tA ? m : k, ldb = tB ? k : n
            let flops = 2.0 * Double(m * n * k)
            // Variants: (name, body).
            var variants: [(String, () -> Void)] = []
            for t in counts {
                for isa in paths {
                    variants.append(("\(isa.rawValue) \(t)T " + label, {
                        ISA.active = isa
                        Parallel.withThreads(t) {
                            c.withUnsafeMutableBufferPointer { cp in
                                Kernels.gemm(transA: tA, transB: tB, m: m, n: n, k: k, a: a, lda: lda,
                                             b: b, ldb: ldb, c: cp.baseAddress!, ldc: n)
                            }
                        }
                    }))
                }
                if let y = yardstick {
                    variants.append(("OpenBLAS \(y.core) \(t)T " + label, {
                        y.threads(t)
                        c.withUnsafeMutableBufferPointer { cp in
                            y.sgemm(transA: tA, transB: tB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb,
                                    c: cp.baseAddress!, ldc: n)
                        }
                        y.threads(1)
                    }))
                }
            }
            var times = [[Double]](repeating: [], count: variants.count)
            let perRound = max(1, rounds == 1 ? repetitions : (repetitions + rounds - 1) / rounds)
            for _ in 0..<rounds {
                for (vi, v) in variants.enumerated() {
                    for rep in 0...perRound {
                        let t0 = now()
                        v.1()
                        if rep > 0 { times[vi].append(now() - t0) }
                    }
                }
            }
            for (vi, v) in variants.enumerated() {
                rows.append(BenchRow(name: v.0, shape: "\(m)x\(n)x\(k)", times: times[vi], flops: flops))
            }
        }
        return rows
    }

    // MARK: - Attention

    /// Causal attention at B=16, T=128, H=4, d=64. Useful flops count the causal half only:
    /// forward 2 matmuls (QKᵀ, PV), backward 4 (dV, dP, dQ, dK; the recomputed QKᵀ not counted).
    public static func attentionRows(repetitions: Int = 9, batch: Int = 16, seq: Int = 128,
                                     heads: Int = 4, kvHeads: Int = 4, dim: Int = 64) -> [BenchRow] {
        let s = AttentionGeometry(batch: batch, queries: seq, heads: heads, kvHeads: kvHeads, dqk: dim)
        let q = filled(batch * seq * heads * dim, seed: 4)
        let k = filled(batch * seq * kvHeads * dim, seed: 5)
        let v = filled(batch * seq * kvHeads * dim, seed: 6)
        let dout = filled(batch * seq * heads * dim, seed: 7)
        var o = [Float](repeating: 0, count: q.count), lse = [Float](repeating: 0, count: batch * heads * seq)
        var dq = q, dk = k, dv = v
        var fwd: [Double] = [], bwd: [Double] = []
        for rep in 0...repetitions {
            let t0 = now()
            Kernels.attentionForward(q: q, k: k, v: v, o: &o, lse: &lse, shape: s)
            let t1 = now()
            Kernels.attentionBackward(q: q, k: k, v: v, lse: lse, dout: dout, dq: &dq, dk: &dk,
                                      dv: &dv, shape: s)
            let t2 = now()
            if rep > 0 { fwd.append(t1 - t0); bwd.append(t2 - t1) }
        }
        let pairs = Double(batch * heads) * Double(seq * (seq + 1) / 2)
        let f1 = 2 * 2 * pairs * Double(dim)
        let shape = "B\(batch) T\(seq) H\(heads) G\(kvHeads) d\(dim)"
        return [
            BenchRow(name: "attention fwd", shape: shape, times: fwd, flops: f1),
            BenchRow(name: "attention bwd", shape: shape, times: bwd, flops: 2 * f1),
        ]
    }

    // MARK: - Fused elementwise ops (memory-bound; no GFLOP/s)

    public static func opRows(repetitions: Int = 9, tokens: Int = 2048, dModel: Int = 256,
                              hidden: Int = 512, vocab: Int = 4096) -> [BenchRow] {
        var rows: [BenchRow] = []
        let x = filled(tokens * dModel, seed: 8), w = filled(dModel, seed: 9)
        var y = x, dx = x, dw = w, r = [Float](repeating: 0, count: tokens)
        rows.append(timed("rmsnorm fwd", "\(tokens)x\(dModel)", repetitions) {
            Kernels.rmsNormForward(x: x, weight: w, y: &y, rstd: &r, rows: tokens, dim: dModel)
        })
        rows.append(timed("rmsnorm bwd", "\(tokens)x\(dModel)", repetitions) {
            Kernels.rmsNormBackward(dy: x, x: x, weight: w, rstd: r, dx: &dx, dweight: &dw,
                                    rows: tokens, dim: dModel)
        })
        let a = filled(tokens * hidden, seed: 10), b = filled(tokens * hidden, seed: 11)
        var g = a, da = a, db = b
        rows.append(timed("swiglu fwd", "\(tokens)x\(hidden)", repetitions) {
            Kernels.swigluForward(a: a, b: b, y: &g, rows: tokens, cols: hidden)
        })
        rows.append(timed("swiglu bwd", "\(tokens)x\(hidden)", repetitions) {
            Kernels.swigluBackward(dy: a, a: a, b: b, da: &da, db: &db, rows: tokens, cols: hidden)
        })
        let table = RopeTable(dim: 64, positions: 128)
        let qr = filled(16 * 128 * 4 * 64, seed: 12)
        var qo = qr
        rows.append(timed("rope fwd", "16x128x4x64", repetitions) {
            Kernels.ropeForward(x: qr, y: &qo, batch: 16, seq: 128, heads: 4, table: table)
        })
        let logits = filled(tokens * vocab, seed: 13)
        let targets = (0..<tokens).map { Int32($0 * 31 % vocab) }
        var losses = [Float](repeating: 0, count: tokens), lse = losses
        var dl = logits
        rows.append(timed("cross-entropy fwd", "\(tokens)x\(vocab)", repetitions) {
            _ = Kernels.crossEntropyForward(logits: logits, targets: targets, losses: &losses,
                                            lse: &lse, rows: tokens, vocab: vocab)
        })
        rows.append(timed("cross-entropy bwd", "\(tokens)x\(vocab)", repetitions) {
            Kernels.crossEntropyBackward(logits: logits, targets: targets, lse: lse,
                                         dlogits: &dl, rows: tokens, vocab: vocab)
        })
        rows.append(timed("softmax fwd", "\(tokens)x\(vocab)", repetitions) {
            Kernels.softmaxForward(x: logits, y: &dl, rows: tokens, cols: vocab)
        })
        return rows
    }

    // MARK: - Helpers

    static func timed(_ name: String, _ shape: String, _ reps: Int, _ body: () -> Void) -> BenchRow {
        var times: [Double] = []
        for rep in 0...reps {
            let t0 = now()
            body()
            if rep > 0 { times.append(now() - t0) }
        }
        return BenchRow(name: name, shape: shape, times: times, flops: nil)
    }

    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }

    static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        guard !s.isEmpty else { return .nan }
        return s.count % 2 == 1 ? s[s.count / 2] : 0.5 * (s[s.count / 2 - 1] + s[s.count / 2])
    }

    /// Deterministic values in [-1, 1) (an LCG; benchmarks need no statistical quality).
    static func filled(_ n: Int, seed: UInt32) -> [Float] {
        var state = seed &* 2_654_435_761 &+ 1
        return (0..<n).map { _ in
            state = state &* 1_664_525 &+ 1_013_904_223
            return Float(state >> 8) / Float(1 << 23) - 1
        }
    }
}

private func fmt(_ x: Double, _ digits: Int) -> String {
    guard x.isFinite else { return "\(x)" }
    var p = 1.0
    for _ in 0..<digits { p *= 10 }
    let r = (x * p).rounded() / p
    var s = "\(r)"
    if let dot = s.firstIndex(of: ".") {
        let decimals = s.distance(from: dot, to: s.endIndex) - 1
        if decimals < digits { s += String(repeating: "0", count: digits - decimals) }
    }
    return s
}

private func pad(_ s: String, _ w: Int) -> String {
    s.count >= w ? s + " " : s + String(repeating: " ", count: w - s.count)
}

private func lpad(_ s: String, _ w: Int) -> String {
    s.count >= w ? " " + s : String(repeating: " ", count: w - s.count) + s
}
