// TensorBenchmarks: timings of the engine (ops through the tape) next to the raw kernels they
// call, for `ablate bench ops` and the closing notes. Not a test: nothing here asserts.
// Every row is the median (and minimum) of `repetitions` timed runs after one warm-up, and the
// variants of one shape are interleaved within each repetition so they see the same machine.
//
//   matmul rows   X [2048, 256] · W [out, 256]ᵀ (a linear layer, y = x·Wᵀ), out ∈ {96,128,256,512}:
//                 Kernels.gemm (1 and 2 threads),
//                 and the engine's `x.linear(w)` (1 and 2 threads, with and without recording;
//                 includes allocating the output).
//   tape rows     ns per `a + b` on [4] tensors: without tape, recorded (forward only), and a
//                 recorded chain of adds run forward and backward (per op).
//   attention     engine `causalAttention` at B 16, T 128, H 4, Dh 64: forward, and forward +
//                 backward of `out.sum()` (the sum adds a serial pass over 0.5 M elements).
import Tensor
import Dispatch

public enum TensorBenchmarks {
    public struct Row: Sendable, CustomStringConvertible {
        public var name: String
        public var shape: String
        /// Median of the repetitions, in the unit named by `unit`.
        public var median: Double
        public var min: Double
        public var unit: String
        /// GFLOP/s at the median time (nil where flops are not meaningful).
        public var gflops: Double?

        public var description: String {
            func f(_ x: Double, _ d: Int) -> String {
                let p = pow10(d)
                let v = (x * p).rounded() / p
                return "\(v)"
            }
            let g = gflops.map { f($0, 1) } ?? "-"
            return pad(name, 40) + pad(shape, 24) + lpad(f(median, 3) + " " + unit, 14)
                + lpad(f(min, 3) + " " + unit, 14) + lpad(g, 9)
        }
    }

    /// Runs every benchmark.
    public static func run(repetitions: Int = 9) -> [Row] {
        matmulRows(repetitions: repetitions) + tapeRows(repetitions: repetitions)
            + attentionRows(repetitions: repetitions)
    }

    public static func table(_ rows: [Row]) -> String {
        let header = pad("engine benchmark", 40) + pad("shape", 24) + lpad("median", 14) + lpad("min", 14)
            + lpad("GFLOP/s", 9)
        return ([header] + rows.map(\.description)).joined(separator: "\n")
    }

    // MARK: Matmul

    public static func matmulRows(repetitions: Int = 9, tokens: Int = 2048, dModel: Int = 256,
                                  outs: [Int] = [96, 128, 256, 512]) -> [Row] {
        var rows: [Row] = []
        for out in outs {
            let x = Tensor.uniform([tokens, dModel], low: -1, high: 1, seed: 1, stream: 1)
            let w = Tensor.uniform([out, dModel], low: -1, high: 1, seed: 1, stream: 2)
            let wGrad = w.requiringGrad()
            let c = UnsafeMutablePointer<Float>.allocate(capacity: tokens * out)
            defer { c.deallocate() }
            func rawGemm() {
                x.withUnsafeBufferPointer { xs in
                    w.withUnsafeBufferPointer { ws in
                        Kernels.gemm(transB: true, m: tokens, n: out, k: dModel, a: xs.baseAddress!, b: ws.baseAddress!, c: c)
                    }
                }
            }
            let variants: [(String, () -> Void)] = [
                ("Kernels.gemm (1 thread)", {
                    Parallel.withThreads(1) { rawGemm() }
                }),
                ("engine linear, no grad (1 thread)", {
                    Parallel.withThreads(1) { _ = Tensor.withoutGrad { x.linear(w) } }
                }),
                ("Kernels.gemm (2 threads)", {
                    Parallel.withThreads(2) { rawGemm() }
                }),
                ("engine linear, no grad (2 threads)", {
                    Parallel.withThreads(2) { _ = Tensor.withoutGrad { x.linear(w) } }
                }),
                ("engine linear, recorded (2 threads)", {
                    Parallel.withThreads(2) { _ = x.linear(wGrad) }
                }),
            ]
            let times = interleaved(variants.map(\.1), repetitions: repetitions)
            let flops = 2.0 * Double(tokens * out * dModel)
            for (i, v) in variants.enumerated() {
                rows.append(row(v.0, "\(tokens)x\(dModel) · \(out)x\(dModel)ᵀ", times[i], unit: "ms", scale: 1e3, flops: flops))
            }
        }
        return rows
    }

    // MARK: Tape overhead

    public static func tapeRows(repetitions: Int = 9, opsPerRun: Int = 20_000) -> [Row] {
        let a = Tensor(shape: [4], scalars: [1, 2, 3, 4]), b = Tensor(shape: [4], scalars: [5, 6, 7, 8])
        let pa = a.requiringGrad(), pb = b.requiringGrad()
        let chain = 1000
        let variants: [(String, () -> Void)] = [
            ("add [4], no tape", {
                for _ in 0..<opsPerRun { _ = a + b }
            }),
            ("add [4], recorded (forward)", {
                for _ in 0..<opsPerRun { _ = pa + pb }
            }),
            ("add [4], recorded chain, fwd+bwd", {
                for _ in 0..<(opsPerRun / chain) {
                    var s = pa
                    for _ in 0..<chain { s = s + pb }
                    s.sum().backward()
                }
                pa.zeroGrad(); pb.zeroGrad()
            }),
        ]
        let times = interleaved(variants.map(\.1), repetitions: repetitions)
        return variants.enumerated().map { i, v in
            row(v.0, "per op", times[i], unit: "ns", scale: 1e9 / Double(opsPerRun), flops: nil)
        }
    }

    // MARK: Attention

    public static func attentionRows(repetitions: Int = 9, batch: Int = 16, seq: Int = 128, heads: Int = 4,
                                     headDim: Int = 64) -> [Row] {
        let q = Tensor.normal([batch, seq, heads, headDim], seed: 2, stream: 1)
        let k = Tensor.normal([batch, seq, heads, headDim], seed: 2, stream: 2)
        let v = Tensor.normal([batch, seq, heads, headDim], seed: 2, stream: 3)
        let (qg, kg, vg) = (q.requiringGrad(), k.requiringGrad(), v.requiringGrad())
        let variants: [(String, () -> Void)] = [
            ("engine attention forward", {
                _ = Tensor.withoutGrad { Tensor.causalAttention(q: q, k: k, v: v) }
            }),
            ("engine attention fwd+bwd", {
                Tensor.causalAttention(q: qg, k: kg, v: vg).sum().backward()
                qg.zeroGrad(); kg.zeroGrad(); vg.zeroGrad()
            }),
        ]
        let times = interleaved(variants.map(\.1), repetitions: repetitions)
        // Causal: T(T+1)/2 score entries per (b, h); QKᵀ and PV each 2·Dh flops per entry.
        let fwd = Double(batch * heads) * Double(seq * (seq + 1) / 2) * 2 * Double(2 * headDim)
        let shape = "B\(batch) T\(seq) H\(heads) Dh\(headDim)"
        return [row(variants[0].0, shape, times[0], unit: "ms", scale: 1e3, flops: fwd),
                row(variants[1].0, shape, times[1], unit: "ms", scale: 1e3, flops: 3.5 * fwd)]
    }

    // MARK: Helpers

    /// times[variant][repetition] in seconds; one warm-up call of each variant first.
    static func interleaved(_ variants: [() -> Void], repetitions: Int) -> [[Double]] {
        for v in variants { v() }
        var times = [[Double]](repeating: [], count: variants.count)
        for _ in 0..<repetitions {
            for (i, v) in variants.enumerated() {
                let t0 = DispatchTime.now().uptimeNanoseconds
                v()
                times[i].append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
            }
        }
        return times
    }

    static func row(_ name: String, _ shape: String, _ seconds: [Double], unit: String, scale: Double, flops: Double?) -> Row {
        let sorted = seconds.sorted()
        let med = sorted.isEmpty ? .nan : sorted[sorted.count / 2]
        return Row(name: name, shape: shape, median: med * scale, min: (sorted.first ?? .nan) * scale, unit: unit,
                   gflops: flops.map { $0 / med / 1e9 })
    }

    private static func pow10(_ d: Int) -> Double { (0..<d).reduce(1.0) { r, _ in r * 10 } }
    private static func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
    private static func lpad(_ s: String, _ n: Int) -> String { s.count >= n ? " " + s : String(repeating: " ", count: n - s.count) + s }
}
