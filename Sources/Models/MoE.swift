// The mixture-of-experts feed-forward (MODEL.md): router scores, selection with the balancing
// bias, unbiased gate values, dispatch → one GEMM per expert that received tokens → weighted
// combine, the always-on shared expert, and the auxiliary losses. Cost grows with the active
// experts, not with E.
//
// Glossary: N = B·T tokens, D d_model, E routed experts, k active, F expert hidden.
import KernelCore
import Foundation
import Tensor

/// Per-layer router telemetry of one forward pass.
public struct MoEStats: Sendable {
    public var layer: Int
    /// Tokens that selected each expert (before capacity drops) [E].
    public var load: [Int]
    /// Max violation of this batch's loads.
    public var maxVio: Double
    /// Mean over tokens of the entropy of the (per-token normalised) router scores, in nats.
    public var entropy: Double
    public var droppedFraction: Double
    public var aux: Double
    public var z: Double
    /// Each token's k selected experts (N·k, token-major), when the forward pass was asked for
    /// them (`ProbeRequest.routing`): specialisation telemetry.
    public var selected: [Int32]? = nil
}

struct MoEOutput {
    var y: Tensor          // [N, D]
    var aux: Tensor?       // scalar
    var z: Tensor?         // scalar
    var stats: MoEStats
    var scores: Tensor     // s [N, E], for telemetry
    var selected: [Int32]  // N·k selected experts, token-major
}

enum MoELayer {
    /// x [N, D] (normalised), batch b sequences of length t (N = b·t).
    /// `stepLoads`/`stepTokens`: the loads and tokens of the whole optimizer step (aux scope
    /// step, from the routing pre-pass); nil = this micro-batch's own.
    static func forward(_ x: Tensor, layer l: Int, shape m: MoEShape, weights w: MoEWeights,
                        batch b: Int, seqLen t: Int, stepLoads: [Int]? = nil, stepTokens: Int? = nil) -> MoEOutput {
        let n = x.shape[0], d = x.shape[1], e = m.experts, k = m.topK
        let router = m.router
        let z = x.linear(w.gate)                                                     // [N, E] router logits
        let s = router.score == .softmax ? z.softmax() : z.sigmoid()                 // [N, E] scores
        let scores = s.scalars
        let bias = w.bias?.scalars
        let routing = Router.route(scores: scores, tokens: n, experts: e, k: k, bias: bias,
                                   groups: router.groups, topkGroups: router.topkGroups,
                                   capacityFactor: m.capacityFactor)

        // Gate values: the UNBIASED scores at the selected experts, normalised before drops.
        let flatIndex = IntTensor(shape: [n * k]) { i in Int32(i / k * e) + routing.selected[i] }
        var gates = s.reshaped([n * e, 1]).gatherRows(flatIndex).reshaped([n, k])    // [N, k]
        if router.normalize && k == 1 {
            // g/Σg is exactly 1 for one expert; dividing would leave float noise in the router's
            // gradient that AdamW amplifies into full-size steps. Use the constant.
            gates = Tensor(repeating: 1, shape: [n, 1])
        } else if router.normalize {
            gates = gates / gates.sum(axes: [1], keepDims: true)
        }
        if router.scale != 1 { gates = gates * Float(router.scale) }

        // Dispatch: kept assignments grouped by expert, tokens in order within an expert.
        var perExpert = [[Int]](repeating: [], count: e)                             // assignment ids n·k + slot
        for index in 0..<(n * k) where routing.kept[index] {
            perExpert[Int(routing.selected[index])].append(index)
        }
        let order = perExpert.flatMap { $0 }
        var y: Tensor
        if order.isEmpty {
            y = Tensor.zeros([n, d])
        } else {
            let tokenOfRow = IntTensor(order.map { Int32($0 / k) })
            let xs = x.gatherRows(tokenOfRow)                                        // [M, D], M kept assignments
            // Every expert that received rows, side by side: W2·(silu(W1·x) ⊙ W3·x) per row.
            let active = (0..<e).filter { !perExpert[$0].isEmpty }
            let experts = active.map { w.experts[$0] }
            let expertOut = xs.groupedSwiGLU(experts, rowCounts: active.map { perExpert[$0].count })   // [M, D]
            let weights = gates.reshaped([n * k, 1]).gatherRows(IntTensor(order.map { Int32($0) }))  // [M, 1]
            y = expertOut.weightedScatterAddRows(weights, tokenOfRow, rowCount: n)   // [N, D]
        }
        if let shared = w.shared { y = y + shared.forward(x) }

        // Auxiliary losses over every token the router saw.
        let balance = m.balance
        var aux: Tensor? = nil
        switch m.auxScope {
        case .none:
            break
        case .microBatch, .step:
            // f_i = E/(k·N)·c_i over this micro-batch, or over the whole step (its pre-pass loads).
            let loads = m.auxScope == .step ? (stepLoads ?? routing.load) : routing.load
            let tokens = m.auxScope == .step ? (stepTokens ?? n) : n
            let f = loads.map { Float(Double(e) / Double(k * tokens) * Double($0)) }
            let pMean = s.mean(axes: [0])                                            // [E]
            aux = (pMean * Tensor(shape: [e], scalars: f)).sum() * Float(balance.auxCoef)
        case .group(let size):
            // Consecutive groups of g sequences: f and P per group (scores as scored), mean over groups.
            // (Validation makes g divide the micro-batch; a memory-estimate dry run of other rows
            // counts the whole batch as one group.)
            let g = b % size == 0 ? size : b
            let groups = b / g, groupTokens = g * t
            var f = [Float](repeating: 0, count: groups * e)
            for token in 0..<n {
                for slot in 0..<k { f[(token / groupTokens) * e + Int(routing.selected[token * k + slot])] += 1 }
            }
            let scaleF = Float(Double(e) / Double(k * groupTokens))
            for i in f.indices { f[i] *= scaleF }
            let pGroup = s.reshaped([groups, groupTokens, e]).mean(axes: [1])        // [groups, E]
            aux = (pGroup * Tensor(shape: [groups, e], scalars: f)).sum() * Float(balance.auxCoef / Double(groups))
        case .sequence:
            var f = [Float](repeating: 0, count: b * e)
            for token in 0..<n {
                for slot in 0..<k { f[(token / t) * e + Int(routing.selected[token * k + slot])] += 1 }
            }
            let scaleF = Float(Double(e) / Double(k * t))
            for i in f.indices { f[i] *= scaleF }
            let normalised = s / s.sum(axes: [1], keepDims: true)                    // s' [N, E]
            let pSeq = normalised.reshaped([b, t, e]).mean(axes: [1])                // [B, E]
            aux = (pSeq * Tensor(shape: [b, e], scalars: f)).sum() * Float(balance.auxCoef / Double(b))
        }
        var zLoss: Tensor? = nil
        if balance.zLossCoef > 0 {
            // logsumexp with a constant shift (no gradient through the max), then its square.
            let zs = z.scalars
            let maxes = (0..<n).map { row in (0..<e).map { zs[row * e + $0] }.max()! }
            let shift = Tensor(shape: [n, 1], scalars: maxes)
            let lse = (z - shift).exp().sum(axes: [1]).log() + Tensor(shape: [n], scalars: maxes)   // [N]
            zLoss = (lse * lse).mean() * Float(balance.zLossCoef)
        }

        let stats = MoEStats(layer: l, load: routing.load, maxVio: Router.maxViolation(routing.load),
                             entropy: routerEntropy(scores, n: n, e: e), droppedFraction: routing.droppedFraction,
                             aux: Double(aux?.item ?? 0), z: Double(zLoss?.item ?? 0))
        return MoEOutput(y: y, aux: aux, z: zLoss, stats: stats, scores: s, selected: routing.selected)
    }

    /// Mean entropy (nats) of the scores normalised to sum 1 per token.
    static func routerEntropy(_ s: [Float], n: Int, e: Int) -> Double {
        guard n > 0 else { return 0 }
        // p for every (row, expert) first (0 where the row's sum is not positive), their logs
        // in one vectorised pass (`Kernels.logs`: DetMath.log's bits), then the same sum in the
        // same order as one scalar loop would take.
        var p = [Double](repeating: 0, count: n * e)
        var logs = p
        for row in 0..<n {
            var sum = 0.0
            for i in 0..<e { sum += Double(s[row * e + i]) }
            guard sum > 0 else { continue }
            for i in 0..<e { p[row * e + i] = Double(s[row * e + i]) / sum }
        }
        logs.withUnsafeMutableBufferPointer { l in
            p.withUnsafeBufferPointer { l.baseAddress!.update(from: $0.baseAddress!, count: n * e) }
            Kernels.logs(l.baseAddress!, count: n * e)
        }
        var total = 0.0
        for j in 0..<(n * e) where p[j] > 0 { total -= p[j] * logs[j] }
        return total / Double(n)
    }
}
