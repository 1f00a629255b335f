// Expert selection (no gradient): top-k over biased scores with optional group limiting, ties
// to the lower index; capacity drops in flattened token order. MODEL.md "Feed-forward" and
// "Precise choices".
//
// Glossary: N tokens, E routed experts, k active experts per token.

/// The outcome of routing one batch.
public struct Routing: Sendable {
    /// Selected experts per token, best first: [N · k].
    public var selected: [Int32]
    /// Whether each (token, slot) assignment survived the capacity limit: [N · k].
    public var kept: [Bool]
    /// Tokens that selected each expert, before capacity drops: [E].
    public var load: [Int]
    public var tokens: Int
    public var k: Int

    /// Fraction of (token, slot) assignments dropped by capacity.
    public var droppedFraction: Double {
        let dropped = kept.reduce(0) { $0 + ($1 ? 0 : 1) }
        return kept.isEmpty ? 0 : Double(dropped) / Double(kept.count)
    }
}

public enum Router {
    /// Selects k experts per token from scores `s` [N, E] (plus `bias` [E] when given).
    /// - Group-limited (groups > 1): E splits into contiguous groups; a group scores the max of
    ///   its s (no bias) or the sum of its top min(2, group size) biased scores (with bias); the
    ///   best `topkGroups` groups stay (ties: lower group), then top-k among their experts.
    /// - Ties between equal scores go to the lower index.
    /// - Capacity (when given) = ceil(factor · N · k / E) in float64; each expert takes its
    ///   tokens in flattened token order and drops the rest.
    public static func route(scores s: [Float], tokens n: Int, experts e: Int, k: Int, bias: [Float]?,
                             groups: Int, topkGroups: Int, capacityFactor: Double?) -> Routing {
        precondition(s.count == n * e && k <= e)
        var selected = [Int32](repeating: 0, count: n * k)
        var load = [Int](repeating: 0, count: e)
        var biased = [Float](repeating: 0, count: e)
        var allowed = [Bool](repeating: true, count: e)
        let groupSize = e / max(groups, 1)
        for token in 0..<n {
            let row = token * e
            for i in 0..<e { biased[i] = s[row + i] + (bias?[i] ?? 0) }
            if groups > 1 {
                var groupScores = [Float](repeating: 0, count: groups)
                for group in 0..<groups {
                    let range = (group * groupSize)..<((group + 1) * groupSize)
                    if bias != nil {
                        let top = range.map { biased[$0] }.sorted(by: >).prefix(min(2, groupSize))
                        groupScores[group] = top.reduce(0, +)
                    } else {
                        groupScores[group] = range.map { s[row + $0] }.max() ?? -.infinity
                    }
                }
                let keptGroups = Set(topIndices(groupScores, topkGroups))
                for i in 0..<e { allowed[i] = keptGroups.contains(i / groupSize) }
            }
            var candidates = biased
            for i in 0..<e where !allowed[i] { candidates[i] = -.infinity }
            let top = topIndices(candidates, k, allowed: allowed)
            for (slot, expert) in top.enumerated() {
                selected[token * k + slot] = Int32(expert)
                load[expert] += 1
            }
        }
        var kept = [Bool](repeating: true, count: n * k)
        if let factor = capacityFactor {
            let capacity = Int((factor * Double(n * k) / Double(e)).rounded(.up))
            var used = [Int](repeating: 0, count: e)
            for index in 0..<(n * k) {
                let expert = Int(selected[index])
                if used[expert] < capacity { used[expert] += 1 } else { kept[index] = false }
            }
        }
        return Routing(selected: selected, kept: kept, load: load, tokens: n, k: k)
    }

    /// Indices of the `k` largest values, largest first; equal values go to the lower index.
    /// Entries with `allowed[i] == false` are never chosen.
    static func topIndices(_ values: [Float], _ k: Int, allowed: [Bool]? = nil) -> [Int] {
        var chosen: [Int] = []
        var taken = [Bool](repeating: false, count: values.count)
        for _ in 0..<k {
            var best = -1
            for i in values.indices where !taken[i] && (allowed?[i] ?? true) {
                // Strictly greater keeps the lower index on ties; NaN never wins.
                if best < 0 || values[i] > values[best] || (values[best].isNaN && !values[i].isNaN) { best = i }
            }
            if best < 0 { break }
            taken[best] = true
            chosen.append(best)
        }
        return chosen
    }

    /// MaxVio = (max_i c_i − c̄) / c̄ (0 when no tokens).
    public static func maxViolation(_ load: [Int]) -> Double {
        guard !load.isEmpty else { return 0 }
        let mean = Double(load.reduce(0, +)) / Double(load.count)
        guard mean > 0 else { return 0 }
        return (Double(load.max()!) - mean) / mean
    }

    /// Loss-free balancing update (MODEL.md): bias_i += u·sign(c̄ − c_i) (sign(0) = 0), or
    /// u·(c̄ − c_i)/c̄ for the proportional rule. Computed in Double, stored as Float.
    public static func updatedBias(_ bias: [Float], load: [Int], rate: Double, rule: LossFreeConfig.Rule) -> [Float] {
        let mean = Double(load.reduce(0, +)) / Double(max(load.count, 1))
        return zip(bias, load).map { b, c in
            let error = mean - Double(c)
            switch rule {
            case .sign:
                let sign: Double = error > 0 ? 1 : (error < 0 ? -1 : 0)
                return Float(Double(b) + rate * sign)
            case .proportional:
                return mean > 0 ? Float(Double(b) + rate * error / mean) : b
            }
        }
    }
}
