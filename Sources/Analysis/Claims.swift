// Pre-registered claims evaluated on a sweep: each claim's test (paired contrast over seeds,
// two one-sided tests for equivalence, or a trend with seeds as blocks), its p-value adjusted
// over every claim of the table, the verdict, and the seeds that would give 80% power at the
// claim's min_effect. Definitions: docs/analysis.md, "Claims and verdicts".
import Foundation

public enum Verdict: String, Sendable, Equatable {
    /// Significant after correction, in the expected direction (equivalent: within the margin).
    case holds
    /// Significant after correction the other way (equivalent: the whole interval outside the margin).
    case contradicted
    /// Neither: the data cannot tell at this scale.
    case inconclusive
}

public struct ClaimResult: Sendable, Equatable {
    public var spec: ClaimSpec
    public var verdict: Verdict
    /// a − b (mean paired difference), the slope, or the mean token ratio (reach).
    public var estimate: Double
    /// The estimate's value under no effect: 0 for differences and slopes, 1 for token ratios.
    public var null: Double = 0
    /// 95% t interval of the estimate.
    public var interval: Interval
    /// The claim's own test: two-sided t (contrast, trend) or TOST (equivalent).
    public var p: Double
    /// p adjusted over every claim of the table.
    public var pAdjusted: Double
    /// Paired seeds (contrast) or observations (trend) used.
    public var pairs: Int
    /// Sd of the paired differences, or the residual sd of the trend: the spread power comes from.
    public var spread: Double
    /// Seeds per row for `power` at min_effect and α/claims (Bonferroni, conservative for Holm and
    /// BH); nil without min_effect, without a spread, or past 10,000.
    public var seedsNeeded: Int?
    /// What was tested, for the reader ("paired t over 3 seeds", "slope per doubling of experts…").
    public var test: String
    /// Why a claim could not be tested ("fewer than 2 paired seeds"), if so.
    public var problem: String?
}

public enum ClaimEvaluation {
    /// Evaluates every claim; `power` is the target for seeds_needed.
    public static func evaluate(_ claims: [ClaimSpec], groups: [SweepGroup], alpha: Double, correction: Correction,
                                power: Double = 0.8) -> [ClaimResult] {
        var results = claims.map { evaluate($0, groups: groups, alpha: alpha / Double(max(claims.count, 1)), power: power) }
        let adjusted = correction.adjust(results.map(\.p))
        for i in results.indices {
            results[i].pAdjusted = adjusted[i]
            results[i].verdict = verdict(results[i], alpha: alpha, familyAlpha: alpha / Double(max(claims.count, 1)))
        }
        return results
    }

    static func verdict(_ r: ClaimResult, alpha: Double, familyAlpha: Double) -> Verdict {
        guard r.pAdjusted.isFinite else { return .inconclusive }
        switch r.spec.expect {
        case .less, .greater:
            guard r.pAdjusted < alpha else { return .inconclusive }
            let expectedSign: Double = r.spec.expect == .less ? -1 : 1
            return (r.estimate - r.null) * expectedSign > 0 ? .holds : .contradicted
        case .equivalent:
            if r.pAdjusted < alpha { return .holds }
            // Contradicted: the interval at the Bonferroni level lies wholly outside ±margin.
            guard let margin = r.spec.minEffect, let wide = r.wideInterval(familyAlpha), wide.exists else { return .inconclusive }
            return (wide.low - r.null > margin || wide.high - r.null < -margin) ? .contradicted : .inconclusive
        }
    }

    /// Seed → value of `metric` over the completed runs of one group.
    static func bySeed(_ group: SweepGroup, _ metric: String) -> [Int: Double] {
        group.completed.reduce(into: [:]) { $0[$1.cell.seed] = $1.metrics[metric] ?? .nan }
    }

    static func evaluate(_ claim: ClaimSpec, groups: [SweepGroup], alpha planningAlpha: Double, power: Double) -> ClaimResult {
        var result = ClaimResult(spec: claim, verdict: .inconclusive, estimate: .nan, interval: .none, p: .nan,
                                 pAdjusted: .nan, pairs: 0, spread: .nan, seedsNeeded: nil, test: "", problem: nil)
        var rowA: SweepGroup?, rowB: SweepGroup?
        /// p, test text and seeds needed of a paired comparison (a − b, or ratio − 1).
        func pairedTest(_ d: PairedDifferences, what: String) {
            if claim.expect == .equivalent, let margin = claim.minEffect {
                result.p = d.equivalenceP(margin: margin)
                result.test = "two one-sided \(what), margin ±\(JSONValue.double(margin).canonical), \(d.pairs) seeds"
                if result.spread > 0 {
                    result.seedsNeeded = Power.smallestN(target: power) { Power.equivalence(margin: margin, sigma: result.spread, n: $0, alpha: planningAlpha) }
                }
            } else {
                result.p = d.p
                result.test = "\(what) (two-sided), \(d.pairs) seeds"
                if let m = claim.minEffect, result.spread > 0 {
                    result.seedsNeeded = Power.smallestN(target: power) { Power.pairedT(effectSize: m / result.spread, n: $0, alpha: planningAlpha) }
                }
            }
        }
        // A two-row claim's rows, or nil (and the problem said) when a or b is not exactly one row.
        if let (a, b) = claim.test.rows {
            let rowsA = groups.filter { $0.matches(a) }, rowsB = groups.filter { $0.matches(b) }
            guard rowsA.count == 1, rowsB.count == 1 else {
                result.problem = "a matches \(rowsA.count) rows and b \(rowsB.count); each must name exactly one"
                if case .reach = claim.test { result.test = "token ratio" } else { result.test = "paired contrast" }
                return result
            }
            rowA = rowsA[0]
            rowB = rowsB[0]
        }
        switch claim.test {
        case .contrast:
            let d = PairedDifferences(a: bySeed(rowA!, claim.metric), b: bySeed(rowB!, claim.metric))
            result.pairs = d.pairs
            result.estimate = d.estimate
            result.interval = d.interval()
            result.spread = d.summary.std
            pairedTest(d, what: claim.expect == .equivalent ? "paired t-tests" : "paired t-test")
            if d.pairs < 2 { result.problem = "\(d.pairs) paired seed(s): a test needs at least 2" }
        case .reach:
            let curves = rowA!.completed.reduce(into: [Int: EvalCurve]()) { $0[$1.cell.seed] = $1.evalCurve }
            let bTokens = rowB!.completed.reduce(into: [Int: Double]()) { $0[$1.cell.seed] = $1.evalCurve.finalTokens ?? .nan }
            let ratios = TokenRatios(a: curves, targets: bySeed(rowB!, claim.metric), bTokens: bTokens)
            let d = ratios.againstOne
            result.null = 1
            result.pairs = d.pairs
            result.estimate = ratios.summary.mean
            result.interval = ratios.summary.meanInterval()
            result.spread = ratios.summary.std
            pairedTest(d, what: claim.expect == .equivalent ? "one-sample t-tests of the ratio against 1" : "one-sample t-test of the ratio against 1")
            let target = claim.metric == "best_loss" ? "best" : "final"
            result.test = "tokens for a's eval loss to reach b's \(target) eval loss ÷ b's tokens, linear between evaluations; " + result.test
            var problems: [String] = []
            if !ratios.censored.isEmpty {
                // A censored seed would need more tokens than a trained: leaving it out biases the
                // mean low, so the claim is not tested.
                result.p = .nan
                problems.append("\(ratios.censored.count) seed(s) where a never reached the target within its run (seeds \(ratios.censored.map(String.init).joined(separator: ", "))): not tested")
            }
            if !ratios.atFirst.isEmpty {
                problems.append("\(ratios.atFirst.count) seed(s) reached it by a's first evaluation (their ratio is an upper bound)")
            }
            if d.pairs < 2 && ratios.censored.isEmpty { problems.append("\(d.pairs) seed(s) with a ratio: a test needs at least 2") }
            if !problems.isEmpty { result.problem = problems.joined(separator: "; ") }
        case .trend(let axis, let scale, let match):
            var points: [(seed: Int, x: Double, y: Double)] = []
            for group in groups where group.matches(match) {
                guard let level = group.value(at: axis)?.numberValue, level > 0 || scale == .linear else { continue }
                for run in group.completed {
                    points.append((run.cell.seed, scale.apply(level), run.metrics[claim.metric] ?? .nan))
                }
            }
            let trend = BlockTrend(points)
            result.pairs = trend.observations
            result.estimate = trend.slope
            result.interval = trend.interval()
            result.p = trend.p
            result.spread = trend.residualStd
            result.test = "slope \(scale.unitText(axis)), seeds as blocks, \(trend.observations) runs over \(trend.blocks) seeds (df \(max(trend.df, 0)))"
            if trend.df < 1 { result.problem = "\(trend.observations) runs over \(trend.blocks) seeds leave no residual degrees of freedom" }
            if let m = claim.minEffect, result.spread > 0, trend.blocks > 0 {
                let levelsPerSeed = Double(trend.observations) / Double(trend.blocks)
                let sxxPerSeed = trend.sxx / Double(trend.blocks)
                result.seedsNeeded = Power.smallestN(target: power) { seeds in
                    let df = Int((Double(seeds) * levelsPerSeed).rounded()) - seeds - 1
                    return Power.regressionT(effectSize: m / result.spread, scale: (Double(seeds) * sxxPerSeed).squareRoot(), df: df, alpha: planningAlpha)
                }
            }
        }
        return result
    }
}

extension ClaimResult {
    /// The interval at level 1 − α (two-sided), for the equivalence's contradicted check.
    func wideInterval(_ alpha: Double) -> Interval? {
        guard pairs >= 2, spread.isFinite, estimate.isFinite else { return nil }
        let half = StudentT.quantile(1 - alpha / 2, df: Double(pairs - 1)) * spread / Double(pairs).squareRoot()
        return Interval(estimate - half, estimate + half)
    }

    /// "tokens_ratio" for reach claims, else "difference" (contrast) or "slope" (trend).
    public var statistic: String {
        switch spec.test {
        case .contrast: "difference"
        case .trend: "slope"
        case .reach: "tokens_ratio"
        }
    }

    /// One JSON object per claim, for scripts (`ablate table DIR --claims --format json`).
    public var json: JSONValue {
        func number(_ x: Double) -> JSONValue { x.isFinite ? .double(x) : .null }
        var object: [String: JSONValue] = [
            "name": .string(spec.name), "metric": .string(spec.metric), "expect": .string(spec.expect.rawValue),
            "verdict": .string(verdict.rawValue), "estimate": number(estimate),
            "ci": .list([number(interval.low), number(interval.high)]), "p": number(p), "p_adjusted": number(pAdjusted),
            "pairs": .int(pairs), "seeds_needed": seedsNeeded.map { .int($0) } ?? .null,
            "min_effect": spec.minEffect.map { .double($0) } ?? .null, "test": .string(test),
            "statistic": .string(statistic), "null": .double(null),
        ]
        if let problem { object["problem"] = .string(problem) }
        return .map(object)
    }
}
