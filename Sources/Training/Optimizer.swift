// AdamW with PyTorch semantics, global-norm clipping and the learning-rate schedules (MODEL.md
// "Optimiser" and "Precise choices"). Updates run in place on the parameters' storage,
// elementwise, so they are deterministic whatever the thread count.
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
            return schedule.minLr + 0.5 * (lr - schedule.minLr) * (1 + cos(Double.pi * progress))
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

    /// Global L2 norm of the gradients (Double accumulation in parameter order; missing
    /// gradients count as zero).
    public static func gradientNorm(_ params: ParameterSet) -> Double {
        var total = 0.0
        for name in params.trainedNames {
            params[name].withGradBuffer { grad in
                guard let grad else { return }
                var sum = 0.0
                for g in grad { sum += Double(g) * Double(g) }
                total += sum
            }
        }
        return total.squareRoot()
    }

    /// One step: clip by global norm (scale = min(1, clip/(‖g‖+1e-6)); clip 0 = off), decay
    /// 2-D weights (p -= lr·wd·p), then Adam with bias correction. A parameter without a
    /// gradient (an expert no token reached) gets a zero gradient: it still decays and moves.
    /// Returns the gradient norm before clipping.
    @discardableResult
    public mutating func step(_ params: ParameterSet, lr: Double) -> Double {
        let norm = Self.gradientNorm(params)
        let clipScale: Float = config.clip > 0 ? Float(min(1, config.clip / (norm + 1e-6))) : 1
        steps += 1
        let beta1 = Float(config.betas[0]), beta2 = Float(config.betas[1])
        let correction1 = 1 - Float(Foundation.pow(Double(beta1), Double(steps)))
        let correction2 = 1 - Float(Foundation.pow(Double(beta2), Double(steps)))
        let lrF = Float(lr), eps = Float(config.eps)
        for name in params.trainedNames {
            let parameter = params[name]
            let decay = ParameterSet.isDecayed(name, shape: parameter.shape) ? Float(lr * config.weightDecay) : 0
            let (mTensor, vTensor) = (m[name]!, v[name]!)
            parameter.withGradBuffer { grad in
                parameter.withUnsafeMutableBufferPointer { p in
                    mTensor.withUnsafeMutableBufferPointer { mState in
                        vTensor.withUnsafeMutableBufferPointer { vState in
                            for i in 0..<p.count {
                                let g = (grad?[i] ?? 0) * clipScale
                                p[i] -= decay * p[i]
                                mState[i] = beta1 * mState[i] + (1 - beta1) * g
                                vState[i] = beta2 * vState[i] + (1 - beta2) * g * g
                                let mHat = mState[i] / correction1
                                let vHat = vState[i] / correction2
                                p[i] -= lrF * mHat / (vHat.squareRoot() + eps)
                            }
                        }
                    }
                }
            }
        }
        return norm
    }
}
