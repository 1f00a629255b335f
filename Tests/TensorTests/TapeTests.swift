// The tape's contract: accumulation into leaves, no-grad mode, release after backward, flat
// memory over many steps, shape errors that name the op and shapes, NaN propagation, and
// forward known answers that gradient checks cannot catch.
import Foundation
import Testing
@testable import Tensor

@Suite struct TapeTests {
    @Test func gradientsAccumulateUntilZeroed() {
        let w = Tensor(shape: [3], scalars: [1, 2, 3], requiresGrad: true)
        (w * w).sum().backward()
        #expect(w.grad?.scalars == [2, 4, 6])
        (w * 3).sum().backward()
        #expect(w.grad?.scalars == [5, 7, 9])
        w.zeroGrad()
        #expect(w.grad == nil)
        (w.sum() * 2).backward()
        #expect(w.grad?.scalars == [2, 2, 2])
    }

    /// A leaf used twice in one graph receives the sum of both paths.
    @Test func sharedSubgraphGetsSummedGradient() {
        let x = Tensor(2, requiresGrad: true)
        let y = x * x
        (y * y + y).backward()   // d/dx (x⁴ + x²) = 4x³ + 2x
        #expect(x.grad?.item == 36)
    }

    /// Backward writes a gradient buffer on its first use and adds to it afterwards, and hands
    /// a reshape or the first operand of add/sub its consumer's buffer. Each pattern here
    /// reaches an input through both a first write (or a handed-over buffer) and an addition,
    /// in both orders, and must give the analytic sum.
    @Test func firstWritesSharedBuffersAndAdditionsCombine() {
        let values: [Float] = [1, -2, 3, 0.5, -1.5, 2]
        let c = Tensor(shape: [2, 3], scalars: [2, 1, -1, 3, 0.5, 4])
        // A reshape's buffer goes to x; then x * c adds c into it (and the other order).
        for reshapeFirst in [true, false] {
            let x = Tensor(shape: [2, 3], scalars: values, requiresGrad: true)
            let r = (x.reshaped([3, 2]) * 5).sum(), p = (x * c).sum()
            (reshapeFirst ? r + p : p + r).backward()
            #expect(x.grad?.scalars == c.scalars.map { $0 + 5 })
        }
        // x + x and x − x: the first operand takes g's buffer, the second adds into it.
        let x = Tensor(shape: [2, 3], scalars: values, requiresGrad: true)
        ((x + x) * c).sum().backward()
        #expect(x.grad?.scalars == c.scalars.map { 2 * $0 })
        let y = Tensor(shape: [2, 3], scalars: values, requiresGrad: true)
        ((y - y) * c + y).sum().backward()
        #expect(y.grad?.scalars == [1, 1, 1, 1, 1, 1])
        // A matmul writes dA with beta = 0 first; the second product adds with beta = 1.
        let a = Tensor(shape: [2, 2], scalars: [1, 2, 3, 4], requiresGrad: true)
        let b = Tensor(shape: [2, 2], scalars: [0.5, -1, 2, 1])
        (a.matmul(b).sum() + a.matmul(b, transposeB: true).sum()).backward()
        // d/dA Σ(A·B) = 1·Bᵀ (row sums of B per column), d/dA Σ(A·Bᵀ) = column sums of B.
        let expected: [Float] = [2, 3, 2, 3]   // [-0.5 + 2.5, 3 + 0] per row
        #expect(a.grad?.scalars == expected)
        // A leaf that took a handed-over buffer keeps adding over later backward calls.
        let w = Tensor(shape: [2, 3], scalars: values, requiresGrad: true)
        w.reshaped([6]).sum().backward()
        w.reshaped([6]).sum().backward()
        #expect(w.grad?.scalars == [2, 2, 2, 2, 2, 2])
    }

    @Test func noGradRecordsNothing() {
        let w = Tensor(shape: [2, 2], scalars: [1, 2, 3, 4], requiresGrad: true)
        AllocationTracker.track { tracker in
            let y = Tensor.withoutGrad { (w.matmul(w) + 1).exp().sum() }
            #expect(!y.requiresGrad)
            #expect(tracker.liveTapeNodes == 0)
            let z = w.matmul(w).sum()
            #expect(z.requiresGrad)
            #expect(tracker.liveTapeNodes == 2)
        }
        #expect(GradMode.isEnabled)
        #expect(Tensor.withoutGrad { !GradMode.isEnabled })
    }

    @Test func detachedStopsGradient() {
        let x = Tensor(3, requiresGrad: true)
        (x * x.detached()).backward()
        #expect(x.grad?.item == 3)
    }

    /// Backward frees every activation the tape kept alive: with only the loss held, what
    /// remains are the parameters, their gradients and the loss itself.
    @Test func tapeIsReleasedAfterBackward() {
        AllocationTracker.track { tracker in
            let w = Tensor.normal([16, 16], seed: 1, stream: 1, requiresGrad: true)
            func lossOf(_ w: Tensor) -> Tensor {
                let x = Tensor.normal([8, 16], seed: 2, stream: 1)
                return x.matmul(w).silu().matmul(w, transposeB: true).softmax().mean()
            }
            let loss = lossOf(w)
            #expect(tracker.liveTapeNodes > 2)
            loss.backward()
            // w, w.grad and loss remain; the loss's node is released but alive with the tensor.
            #expect(tracker.liveStorages == 3)
            #expect(tracker.liveStorageBytes == (256 + 256 + 1) * 4)
            #expect(tracker.liveTapeNodes == 2)
        }
    }

    /// 200 training steps of a tiny model (embedding, RMSNorm, attention, SwiGLU, tied head,
    /// cross-entropy, SGD): live storages, bytes and tape nodes are the same after every step.
    @Test func memoryIsFlatOver200Steps() {
        AllocationTracker.track { tracker in
            let (v, d, b, t) = (11, 8, 2, 4)
            let params = [
                Tensor.normal([v, d], std: 0.3, seed: 1, stream: 1, requiresGrad: true),  // embed
                Tensor.ones([d], requiresGrad: true),                                       // norm
                Tensor.normal([3 * d, d], std: 0.3, seed: 1, stream: 2, requiresGrad: true), // wqkv
                Tensor.normal([2 * d, d], std: 0.3, seed: 1, stream: 3, requiresGrad: true), // w1|w3
                Tensor.normal([d, d], std: 0.3, seed: 1, stream: 4, requiresGrad: true),     // w2
            ]
            var samples: [(Int, Int, Int)] = []
            var losses: [Float] = []
            for step in 0..<200 {
                do {
                    let tokens = IntTensor(shape: [b, t]) { Int32(($0 * 3 + step) % v) }
                    let targets = IntTensor(shape: [b, t]) { Int32(($0 * 3 + step + 1) % v) }
                    let x = Tensor.embedding(params[0], tokens)                       // [B, T, D]
                    let h = x.rmsNorm(weight: params[1])
                    let qkv = h.linear(params[2]).split(sizes: [d, d, d], axis: 2)
                    let heads = qkv.map { $0.reshaped([b, t, 2, d / 2]) }
                    let a = Tensor.causalAttention(q: heads[0].rope(), k: heads[1].rope(), v: heads[2])
                    let x2 = x + a.reshaped([b, t, d])
                    let gu = x2.linear(params[3]).split(sizes: [d, d], axis: 2)
                    let x3 = x2 + Tensor.swiGLU(gu[0], gu[1]).linear(params[4])
                    let loss = Tensor.crossEntropy(logits: x3.linear(params[0]), targets: targets)
                    loss.backward()
                    losses.append(loss.item)
                    Tensor.withoutGrad {
                        for p in params {
                            p.withGradBuffer { g in
                                p.withUnsafeMutableBufferPointer { w in
                                    for i in 0..<w.count { w[i] -= 0.05 * (g?[i] ?? 0) }
                                }
                            }
                            p.zeroGrad()
                        }
                    }
                }
                samples.append((tracker.liveStorages, tracker.liveStorageBytes, tracker.liveTapeNodes))
            }
            #expect(samples.allSatisfy { $0 == samples[0] }, "first \(samples[0]) last \(samples[199])")
            #expect(samples[0].2 == params.count)
            #expect(losses.last! < losses.first!)
        }
    }

    /// A second backward through the same tape stops loudly instead of silently doing nothing.
    @Test func secondBackwardThroughReleasedTapeStops() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let x = Tensor(2, requiresGrad: true)
            let h = x * x
            (h * 3).backward()
            (h * 2).backward()
        }
        let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(stderr.contains("backward: reached a tensor whose tape was released"))
    }

    /// An MoE expert that receives no token still gets a (zero) gradient for its weights, and
    /// empty tensors flow through gather, matmul, SwiGLU and scatter-add (MODEL.md: every
    /// parameter gets a gradient every step).
    @Test func emptyExpertGetsZeroGradient() {
        let x = rnd([3, 4], seed: 90, low: -1, high: 1).requiringGrad()
        let w1 = rnd([5, 4], seed: 91).requiringGrad(), w3 = rnd([5, 4], seed: 92).requiringGrad()
        let w2 = rnd([4, 5], seed: 93).requiringGrad()
        let none = IntTensor(shape: [0], scalars: [])
        let tokens = x.gatherRows(none)                                            // [0, 4]
        let out = Tensor.swiGLU(tokens.linear(w1), tokens.linear(w3)).linear(w2)   // [0, 4]
        #expect(out.shape == [0, 4])
        let y = out.scatterAddRows(none, rowCount: 3) + x                          // [3, 4]
        (y * y).sum().backward()
        for w in [w1, w2, w3] {
            #expect(w.grad?.scalars.allSatisfy { $0 == 0 } == true)
        }
        #expect(x.grad?.scalars == x.scalars.map { 2 * $0 })
    }

    @Test func backwardNeedsAScalar() async {
        await #expect(processExitsWith: .failure) {
            let x = Tensor(shape: [2], scalars: [1, 2], requiresGrad: true)
            (x * 2).backward()
        }
    }
}

@Suite struct ShapeErrorTests {
    @Test func messagesNameOpAndShapes() {
        #expect(throws: ShapeError("add", "shapes [2, 3] and [4] are not broadcast-compatible")) {
            try Shapes.broadcast("add", [2, 3], [4])
        }
        #expect(throws: ShapeError("matmul", "shapes [2, 3] and [4, 5]: inner dimensions 3 and 4 differ")) {
            try Shapes.matmul("matmul", [2, 3], [4, 5], transposeA: false, transposeB: false)
        }
        #expect(throws: ShapeError("matmul", "shapes [2, 2, 3] and [3, 3, 5]: batch dimensions differ")) {
            try Shapes.matmul("matmul", [2, 2, 3], [3, 3, 5], transposeA: false, transposeB: false)
        }
        #expect(throws: ShapeError("concat", "shapes [2, 3] and [3, 3] differ outside axis 1")) {
            try Shapes.concat("concat", [[2, 3], [3, 3]], axis: 1)
        }
        #expect(throws: ShapeError("rmsNorm", "shapes [4, 8] and [6]: weight must be [8]")) {
            try Shapes.lastDim("rmsNorm", [4, 8], weight: [6])
        }
        #expect(throws: ShapeError("reshape", "cannot reshape [2, 3] (6 elements) to [4, 2]")) {
            try Shapes.reshape("reshape", [2, 3], [4, 2])
        }
        #expect(throws: ShapeError("causalAttention", "shapes [1, 2, 3, 4] and [1, 2, 2, 4]: query heads 3 not a multiple of kv heads 2")) {
            try Shapes.attention("causalAttention", q: [1, 2, 3, 4], k: [1, 2, 2, 4], v: [1, 2, 2, 4])
        }
        #expect(ShapeError("mul", "x").description == "mul: x")
    }

    /// The op itself stops with the message (exit test: runs in a child process).
    @Test func opStopsWithTheMessage() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]) * Tensor.zeros([4])
        }
        let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(stderr.contains("mul: shapes [2, 3] and [4] are not broadcast-compatible"))
    }
}

@Suite struct ForwardTests {
    @Test func matmulValues() {
        let a = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        let b = Tensor(shape: [3, 2], scalars: [7, 8, 9, 10, 11, 12])
        #expect(a.matmul(b).scalars == [58, 64, 139, 154])
        #expect(b.matmul(a, transposeA: true, transposeB: true).scalars == [58, 139, 64, 154])
    }

    @Test func crossEntropyIsStableAtLargeLogits() {
        let logits = Tensor(shape: [2, 3], scalars: [1e4, -1e4, 0, -1e4, 1e4, 1e4], requiresGrad: true)
        let loss = Tensor.crossEntropy(logits: logits, targets: IntTensor([0, 0]))
        // Row 0: target wins by 1e4 → 0. Row 1: lse = 1e4 + log 2, target −1e4 → 2e4 + log 2.
        #expect(abs(loss.item - (2e4 + Float(Foundation.log(2.0))) / 2) < 1e-2)
        loss.backward()
        let g = logits.grad!.scalars
        #expect(g.allSatisfy { $0.isFinite })
        // float32 spacing at 1e4 is ~1e-3, so x − lse carries an absolute error of that order.
        #expect(abs(g[3] + 0.5) < 1e-6 && abs(g[4] - 0.25) < 1e-3 && abs(g[5] - 0.25) < 1e-3)
        #expect(Tensor(shape: [1, 2], scalars: [1e4, -1e4]).logSoftmax().scalars == [0, -2e4])
        #expect(Tensor.crossEntropy(logits: logits, targets: IntTensor([0, 0]), mask: Tensor.zeros([2])).item == 0)
    }

    @Test func topKTiesGoToLowerIndex() {
        let x = Tensor(shape: [2, 5], scalars: [1, 3, 3, 0, 3, 2, .nan, 2, 5, 2])
        let idx = x.topK(3)
        #expect(idx.shape == [2, 3])
        #expect(idx.scalars == [1, 2, 4, 3, 0, 2])
    }

    @Test func ropeRotatesPairs() {
        // One pair at position 1 with theta such that the angle is 1 rad.
        let x = Tensor(shape: [1, 2, 2], scalars: [1, 0, 0, 1])
        let y = x.rope(positionOffset: 0).scalars
        #expect(y[0] == 1 && y[1] == 0)
        #expect(abs(y[2] + Float(Foundation.sin(1.0))) < 1e-6 && abs(y[3] - Float(Foundation.cos(1.0))) < 1e-6)
    }

    @Test func takeAlongLastAxisAndLogSumExp() {
        let x = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        #expect(x.takeAlongLastAxis(IntTensor(shape: [2, 2], scalars: [2, 0, 1, 1])).scalars == [3, 1, 5, 5])
        let big = Tensor(shape: [1, 2], scalars: [1e4, 1e4]).logSumExp()
        #expect(big.shape == [1] && abs(big.item - (1e4 + Float(Foundation.log(2.0)))) < 1e-2)
    }

    @Test func viewsShareStorage() {
        let x = Tensor(shape: [3, 2], scalars: [0, 1, 2, 3, 4, 5])
        let r = x.rows(1..<3).reshaped([4])
        x.withUnsafeMutableBufferPointer { $0[2] = 42 }
        #expect(r.scalars == [42, 3, 4, 5])
        #expect(x.split(sizes: [1, 1], axis: 1)[1].scalars == [1, 3, 5])
    }

    /// NaN in any input reaches the output (no max/clamp swallows it).
    @Test func nanPropagates() {
        let x = Tensor(shape: [2, 3], scalars: [1, .nan, 2, 0, 1, 2])
        let w = Tensor(shape: [3], scalars: [1, 1, 1])
        let row0IsNaN: (Tensor) -> Bool = { t in t.scalars.prefix(t.count / 2).contains { $0.isNaN } }
        #expect(row0IsNaN(x + 1))
        #expect(row0IsNaN(x.exp()))
        #expect(row0IsNaN(x.softmax()) && x.softmax().scalars.prefix(3).allSatisfy { $0.isNaN })
        #expect(row0IsNaN(x.logSoftmax()))
        #expect(row0IsNaN(x.rmsNorm(weight: w)))
        #expect(row0IsNaN(x.matmul(Tensor.ones([3, 2]))))
        #expect(x.sum().item.isNaN)
        #expect(Tensor.crossEntropy(logits: x, targets: IntTensor([0, 0])).item.isNaN)
        let q = Tensor(shape: [1, 2, 1, 3], scalars: [1, .nan, 2, 0, 1, 2])
        #expect(Tensor.causalAttention(q: q, k: q, v: q).scalars.prefix(3).allSatisfy { $0.isNaN })
        let big = Tensor(shape: [1, 2], scalars: [.nan, 1])
        #expect(big.softmax().scalars.allSatisfy { $0.isNaN })
    }
}
