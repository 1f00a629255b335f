// AdamW with PyTorch semantics, Muon (MODEL.md "Muon"), global-norm clipping and the
// learning-rate schedules (MODEL.md "Optimiser" and "Precise choices"). Updates run in place on
// the parameters' storage: AdamW elementwise, Muon's Newton–Schulz products through the
// project's GEMM (one fixed fma chain per output), so neither depends on the thread count.
import KernelCore
import Foundation
import Models
import Tensor

public enum LearningRate {
    /// Learning rate of 0-based step `s`.
    public static func at(step s: Int, train: TrainConfig) -> Double {
        let lr = train.optimizer.lr, schedule = train.schedule
        let warmup = schedule.warmup, total = train.steps
        if s < warmup { return lr * Double(s + 1) / Double(warmup) }
        switch schedule.kind {
        case .constant:
            return lr
        case .cosine:
            let span = max(total - warmup, 1)
            let progress = min(Double(s - warmup) / Double(span), 1)
            return schedule.minLr + 0.5 * (lr - schedule.minLr) * (1 + DetMath.cos(Double.pi * progress))
        case .wsd:
            let decayStart = total - schedule.decaySteps
            if s < decayStart || schedule.decaySteps == 0 { return lr }
            let progress = Double(s - decayStart + 1) / Double(schedule.decaySteps)
            return lr + (schedule.minLr - lr) * min(progress, 1)
        }
    }
}

/// Optimizer state: per trained parameter its first moment (Muon's momentum M for the
/// parameters Muon takes) and, for AdamW's parameters, the second moment; and the step count.
public struct Optimizer {
    public var config: OptimizerConfig
    /// Name → AdamW's m, or Muon's M (same shapes as the parameters), updated in place.
    public var m: [String: Tensor]
    /// Name → AdamW's v; absent for the parameters Muon takes.
    public var v: [String: Tensor]
    /// Optimizer steps taken (bias correction uses step + 1).
    public var steps: Int
    /// The parameters Muon updates (empty for AdamW), in enumeration order.
    public let muonNames: [String]

    public init(config: OptimizerConfig, params: ParameterSet) {
        self.config = config
        m = [:]
        v = [:]
        muonNames = config.resolvedKind == .muon ? params.trainedNames.filter { params.role($0).takesMuon } : []
        let muon = Set(muonNames)
        for name in params.trainedNames {
            m[name] = Tensor.zeros(params[name].shape)
            if !muon.contains(name) { v[name] = Tensor.zeros(params[name].shape) }
        }
        steps = 0
    }

    /// Floats of optimizer state for a model: two per AdamW parameter, one per Muon parameter.
    public static func stateFloats(model: ModelConfig, config: OptimizerConfig) -> Int {
        model.parameterDeclarations.filter(\.role.isTrained).reduce(0) { sum, declaration in
            sum + declaration.count * (config.resolvedKind == .muon && declaration.role.takesMuon ? 1 : 2)
        }
    }

    /// Raw buffers of one trained parameter for the update loop. Valid while the parameter set
    /// and the optimizer state are alive and no op runs (the update is outside any tape).
    struct Buffers: @unchecked Sendable {
        var p: UnsafeMutablePointer<Float>
        var g: UnsafeMutablePointer<Float>?
        var m: UnsafeMutablePointer<Float>
        var v: UnsafeMutablePointer<Float>
        var count: Int
        var decay: Float
    }

    /// Global L2 norm of the gradients: each parameter's sum of squares in Double, in element
    /// order (one thread per parameter, so the thread count never changes a bit), then summed
    /// in parameter order. Missing gradients count as zero.
    public static func gradientNorm(_ params: ParameterSet) -> Double {
        let grads: [(UnsafeMutablePointer<Float>?, Int)] = params.trainedNames.map { name in
            params[name].withGradBuffer { ($0?.baseAddress, params[name].count) }
        }
        return gradientNorm(grads.map { Buffers(p: UnsafeMutablePointer(bitPattern: 8)!, g: $0.0, m: UnsafeMutablePointer(bitPattern: 8)!,
                                                 v: UnsafeMutablePointer(bitPattern: 8)!, count: $0.1, decay: 0) })
    }

    static func gradientNorm(_ buffers: [Buffers]) -> Double {
        let sums = UnsafeMutablePointer<Double>.allocate(capacity: max(buffers.count, 1))
        defer { sums.deallocate() }
        let out = SumsPointer(pointer: sums)
        Parallel.for(buffers.count) { range in
            for index in range {
                out.pointer[index] = buffers[index].g.map { sumOfSquares($0, count: buffers[index].count) } ?? 0
            }
        }
        var total = 0.0
        for index in 0..<buffers.count { total += sums[index] }
        return total.squareRoot()
    }

    /// Σx² of `count` floats: 16 Float lanes per block of 4096, each block's lanes added in
    /// Double. Fast, and one fixed order for a given length (no thread count enters).
    static func sumOfSquares(_ x: UnsafePointer<Float>, count n: Int) -> Double {
        var sum = 0.0, start = 0
        while start < n {
            let end = min(start + 4096, n)
            var lanes = SIMD16<Float>(repeating: 0)
            var i = start
            while i + 16 <= end {
                let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self)
                lanes += v * v
                i += 16
            }
            var block = 0.0
            for lane in 0..<16 { block += Double(lanes[lane]) }
            while i < end { block += Double(x[i]) * Double(x[i]); i += 1 }
            sum += block
            start = end
        }
        return sum
    }

    struct SumsPointer: @unchecked Sendable { var pointer: UnsafeMutablePointer<Double> }

    /// One step: clip by global norm (scale = min(1, clip/(‖g‖+1e-6)); clip 0 = off), then
    /// Muon on the parameters it takes and AdamW on the rest: decay 2-D weights
    /// (p -= lr·wd·p), then Adam with bias correction. A parameter without a gradient (an
    /// expert no token reached) gets a zero gradient: it still decays and moves.
    /// Returns the gradient norm before clipping.
    @discardableResult
    public mutating func step(_ params: ParameterSet, lr: Double) -> Double {
        var buffers: [Buffers] = [], muonBuffers: [(buffer: Buffers, shape: [Int])] = []
        let muon = Set(muonNames)
        for name in params.trainedNames {
            let parameter = params[name]
            let decay = params.role(name).isMatrix ? Float(lr * config.weightDecay) : 0
            let p = parameter.withUnsafeMutableBufferPointer { $0.baseAddress! }
            let g = parameter.withGradBuffer { $0?.baseAddress }
            let m = m[name]!.withUnsafeMutableBufferPointer { $0.baseAddress! }
            let v = v[name]?.withUnsafeMutableBufferPointer { $0.baseAddress! } ?? m
            let buffer = Buffers(p: p, g: g, m: m, v: v, count: parameter.count, decay: decay)
            if muon.contains(name) { muonBuffers.append((buffer, parameter.shape)) } else { buffers.append(buffer) }
        }
        let norm = Self.gradientNorm(buffers + muonBuffers.map(\.buffer))
        let clipScale: Float = config.clip > 0 ? Float(min(1, config.clip / (norm + 1e-6))) : 1
        for (buffer, shape) in muonBuffers {
            muonUpdate(buffer, rows: shape[0], cols: shape[1], clipScale: clipScale, lr: lr)
        }
        steps += 1
        let beta1 = Float(config.betas[0]), beta2 = Float(config.betas[1])
        let correction1 = 1 - Float(DetMath.pow(Double(beta1), steps))
        let correction2 = 1 - Float(DetMath.pow(Double(beta2), steps))
        let lrF = Float(lr), eps = Float(config.eps)
        // Work items: blocks of up to 16K elements of every parameter, so that the many small
        // parameters (experts, norms) are spread over the threads too. Elementwise: which
        // thread updates a block never changes a bit.
        let items = Self.updateItems(buffers), all = buffers
        let scalars = AdamWScalars(clipScale: clipScale, decay: 0, beta1: beta1, beta2: beta2, lr: lrF, eps: eps,
                                   correction1: correction1, correction2: correction2)
        Parallel.for(items.count) { itemRange in
            for item in itemRange {
                let b = all[items[item].buffer]
                var s = scalars
                s.decay = b.decay
                // KernelCore's `adamwUpdateCore` on the active ISA path.
                Kernels.adamwUpdate(p: b.p, g: b.g.map { UnsafePointer($0) }, m: b.m, v: b.v,
                                    range: items[item].range, s)
            }
        }
        return norm
    }

    /// Muon on one matrix W [rows, cols] (MODEL.md "Muon"), in place on W and its momentum M:
    /// M ← μM + G; U = G + μM (Nesterov) or M; X = U/(‖U‖_F + 1e-7), transposed when
    /// rows > cols; ns_steps of A = X·Xᵀ, B = b·A + c·A·A, X = a·X + B·X; back; then
    /// W ← W·(1 − lr·wd) − lr·0.2·√max(rows, cols)·X. Float32; the products are `Kernels.gemm`.
    func muonUpdate(_ w: Buffers, rows: Int, cols: Int, clipScale: Float, lr: Double) {
        let count = rows * cols, mu = Float(config.muonMomentum), nesterov = config.muonNesterov
        let u = UnsafeMutablePointer<Float>.allocate(capacity: count)
        defer { u.deallocate() }
        for i in 0..<count {
            let grad = (w.g?[i] ?? 0) * clipScale
            w.m[i] = mu * w.m[i] + grad
            u[i] = nesterov ? grad + mu * w.m[i] : w.m[i]
        }
        // X [r, c] with r ≤ c: U itself, or Uᵀ when rows > cols; divided by ‖U‖_F + 1e-7.
        let transposed = rows > cols
        let (r, c) = transposed ? (cols, rows) : (rows, cols)
        let denominator = Float(Self.sumOfSquares(u, count: count).squareRoot() + 1e-7)
        var x = UnsafeMutablePointer<Float>.allocate(capacity: count)
        var next = UnsafeMutablePointer<Float>.allocate(capacity: count)
        let a = UnsafeMutablePointer<Float>.allocate(capacity: r * r)
        let bMatrix = UnsafeMutablePointer<Float>.allocate(capacity: r * r)
        defer { x.deallocate(); next.deallocate(); a.deallocate(); bMatrix.deallocate() }
        for i in 0..<rows {
            for j in 0..<cols {
                x[transposed ? j * rows + i : i * cols + j] = u[i * cols + j] / denominator
            }
        }
        let (ca, cb, cc) = Muon.coefficients
        for _ in 0..<config.muonNSSteps {
            Kernels.gemm(transB: true, m: r, n: r, k: c, a: x, b: x, c: a)                       // A = X·Xᵀ
            bMatrix.update(from: a, count: r * r)
            Kernels.gemm(m: r, n: r, k: r, alpha: cc, a: a, b: a, beta: cb, c: bMatrix)           // B = b·A + c·A·A
            next.update(from: x, count: count)
            Kernels.gemm(m: r, n: c, k: r, a: bMatrix, b: x, beta: ca, c: next)                   // X = a·X + B·X
            swap(&x, &next)
        }
        let keep = Float(1 - lr * config.weightDecay)
        let step = Float(lr * 0.2 * Double(max(rows, cols)).squareRoot())
        for i in 0..<rows {
            for j in 0..<cols {
                let update = x[transposed ? j * rows + i : i * cols + j]
                w.p[i * cols + j] = w.p[i * cols + j] * keep - step * update
            }
        }
    }

    /// Elements per work item of the update (a multiple of the 16 SIMD lanes).
    static let updateBlock = 1 << 14

    /// (parameter, element range) work items covering every parameter in blocks.
    static func updateItems(_ buffers: [Buffers]) -> [(buffer: Int, range: Range<Int>)] {
        var items: [(buffer: Int, range: Range<Int>)] = []
        for (index, b) in buffers.enumerated() {
            var start = 0
            while start < b.count {
                let end = min(start + updateBlock, b.count)
                items.append((index, start..<end))
                start = end
            }
        }
        return items
    }
}

public enum Muon {
    /// Newton–Schulz quintic coefficients (a, b, c) of MODEL.md "Muon" (Keller Jordan's; Moonlight's).
    public static let coefficients: (Float, Float, Float) = (3.4445, -4.7750, 2.0315)
}
