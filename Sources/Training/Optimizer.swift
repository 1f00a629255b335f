// AdamW with PyTorch semantics, global-norm clipping and the learning-rate schedules (MODEL.md
// "Optimiser" and "Precise choices"). Updates run in place on the parameters' storage,
// elementwise, so they are deterministic whatever the thread count.
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

/// AdamW state: first and second moments per trained parameter, and the step count.
public struct AdamW {
    public var config: OptimizerConfig
    /// Name → m, v (same shapes as the parameters), updated in place.
    public var m: [String: Tensor]
    public var v: [String: Tensor]
    /// Optimizer steps taken (bias correction uses step + 1).
    public var steps: Int

    public init(config: OptimizerConfig, params: ParameterSet) {
        self.config = config
        m = [:]
        v = [:]
        for name in params.trainedNames {
            m[name] = Tensor.zeros(params[name].shape)
            v[name] = Tensor.zeros(params[name].shape)
        }
        steps = 0
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
                var sum = 0.0
                if let g = buffers[index].g {
                    // 16 Float lanes per block of 4096, each block's lanes added in Double: fast
                    // and a fixed order for a given length (thread count does not enter).
                    let n = buffers[index].count
                    var start = 0
                    while start < n {
                        let end = min(start + 4096, n)
                        var lanes = SIMD16<Float>(repeating: 0)
                        var i = start
                        while i + 16 <= end {
                            let x = UnsafeRawPointer(g + i).loadUnaligned(as: SIMD16<Float>.self)
                            lanes += x * x
                            i += 16
                        }
                        var block = 0.0
                        for lane in 0..<16 { block += Double(lanes[lane]) }
                        while i < end { block += Double(g[i]) * Double(g[i]); i += 1 }
                        sum += block
                        start = end
                    }
                }
                out.pointer[index] = sum
            }
        }
        var total = 0.0
        for index in 0..<buffers.count { total += sums[index] }
        return total.squareRoot()
    }

    struct SumsPointer: @unchecked Sendable { var pointer: UnsafeMutablePointer<Double> }

    /// One step: clip by global norm (scale = min(1, clip/(‖g‖+1e-6)); clip 0 = off), decay
    /// 2-D weights (p -= lr·wd·p), then Adam with bias correction. A parameter without a
    /// gradient (an expert no token reached) gets a zero gradient: it still decays and moves.
    /// Elementwise, so threads split the elements of each parameter freely.
    /// Returns the gradient norm before clipping.
    @discardableResult
    public mutating func step(_ params: ParameterSet, lr: Double) -> Double {
        var buffers: [Buffers] = []
        for name in params.trainedNames {
            let parameter = params[name]
            let decay = params.role(name).isMatrix ? Float(lr * config.weightDecay) : 0
            let p = parameter.withUnsafeMutableBufferPointer { $0.baseAddress! }
            let g = parameter.withGradBuffer { $0?.baseAddress }
            let m = m[name]!.withUnsafeMutableBufferPointer { $0.baseAddress! }
            let v = v[name]!.withUnsafeMutableBufferPointer { $0.baseAddress! }
            buffers.append(Buffers(p: p, g: g, m: m, v: v, count: parameter.count, decay: decay))
        }
        let norm = Self.gradientNorm(buffers)
        let clipScale: Float = config.clip > 0 ? Float(min(1, config.clip / (norm + 1e-6))) : 1
        steps += 1
        let beta1 = Float(config.betas[0]), beta2 = Float(config.betas[1])
        let correction1 = 1 - Float(DetMath.pow(Double(beta1), steps))
        let correction2 = 1 - Float(DetMath.pow(Double(beta2), steps))
        let lrF = Float(lr), eps = Float(config.eps)
        // Work items: blocks of up to 16K elements of every parameter, so that the many small
        // parameters (experts, norms) are spread over the threads too. Elementwise: which
        // thread updates a block never changes a bit.
        let items = Self.updateItems(buffers), all = buffers
        Parallel.for(items.count) { itemRange in
            for item in itemRange {
                let b = all[items[item].buffer], range = items[item].range
                let (p, m, v, decay) = (b.p, b.m, b.v, b.decay)
                if let g = b.g {
                    // The same arithmetic as the scalar tail, 16 lanes at a time (explicit SIMD:
                    // the compiler cannot prove the four buffers do not alias).
                    var i = range.lowerBound
                    typealias V = SIMD16<Float>
                    while i + 16 <= range.upperBound {
                        let grad = UnsafeRawPointer(g + i).loadUnaligned(as: V.self) * clipScale
                        var pv = UnsafeRawPointer(p + i).loadUnaligned(as: V.self)
                        var mv = UnsafeRawPointer(m + i).loadUnaligned(as: V.self)
                        var vv = UnsafeRawPointer(v + i).loadUnaligned(as: V.self)
                        pv -= decay * pv
                        mv = beta1 * mv + (1 - beta1) * grad
                        vv = beta2 * vv + (1 - beta2) * grad * grad
                        pv -= lrF * (mv / correction1) / ((vv / correction2).squareRoot() + eps)
                        UnsafeMutableRawPointer(p + i).storeBytes(of: pv, as: V.self)
                        UnsafeMutableRawPointer(m + i).storeBytes(of: mv, as: V.self)
                        UnsafeMutableRawPointer(v + i).storeBytes(of: vv, as: V.self)
                        i += 16
                    }
                    while i < range.upperBound {
                        let grad = g[i] * clipScale
                        p[i] -= decay * p[i]
                        m[i] = beta1 * m[i] + (1 - beta1) * grad
                        v[i] = beta2 * v[i] + (1 - beta2) * grad * grad
                        p[i] -= lrF * (m[i] / correction1) / ((v[i] / correction2).squareRoot() + eps)
                        i += 1
                    }
                } else {
                    for i in range {
                        p[i] -= decay * p[i]
                        m[i] = beta1 * m[i]
                        v[i] = beta2 * v[i]
                        p[i] -= lrF * (m[i] / correction1) / ((v[i] / correction2).squareRoot() + eps)
                    }
                }
            }
        }
        return norm
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
