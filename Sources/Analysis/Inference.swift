// The inference behind tables and claims: t intervals, quantiles of Student's t and of the
// beta distribution, multiple-testing corrections (Holm, Benjamini–Hochberg), two one-sided
// tests for equivalence, Clopper–Pearson intervals for solve rates, the slope of a trend with
// seeds as blocks, and the power of t tests (noncentral t) that sizes a study. Every function is
// checked against scipy / statsmodels on fixed data sets (Tests/AnalysisTests/ScipyCheckTests).
import Foundation

public enum Normal {
    /// Φ(x), the standard normal CDF.
    public static func cdf(_ x: Double) -> Double { 0.5 * erfc(-x / 2.0.squareRoot()) }
}

extension StudentT {
    /// The p-quantile of Student's t with `df` degrees of freedom: t with cdf(t) = p. Bisection
    /// on the CDF to full double precision (the CDF is monotone; 200 halvings of a bracket).
    public static func quantile(_ p: Double, df: Double) -> Double {
        guard df > 0, p > 0, p < 1 else {
            if p == 0 { return -.infinity }
            if p == 1 { return .infinity }
            return .nan
        }
        if p == 0.5 { return 0 }
        var lo = -1.0, hi = 1.0
        while cdf(lo, df: df) > p { lo *= 2 }
        while cdf(hi, df: df) < p { hi *= 2 }
        for _ in 0..<200 {
            let mid = 0.5 * (lo + hi)
            if mid == lo || mid == hi { break }
            if cdf(mid, df: df) < p { lo = mid } else { hi = mid }
        }
        return 0.5 * (lo + hi)
    }
}

extension IncompleteBeta {
    /// The p-quantile of Beta(a, b): x with I_x(a, b) = p (bisection on [0, 1]).
    public static func quantile(_ p: Double, a: Double, b: Double) -> Double {
        guard a > 0, b > 0, p >= 0, p <= 1 else { return .nan }
        if p == 0 { return 0 }
        if p == 1 { return 1 }
        var lo = 0.0, hi = 1.0
        for _ in 0..<200 {
            let mid = 0.5 * (lo + hi)
            if mid == lo || mid == hi { break }
            if regularized(x: mid, a: a, b: b) < p { lo = mid } else { hi = mid }
        }
        return 0.5 * (lo + hi)
    }
}

/// A two-sided confidence interval; both ends NaN when there is none (n < 2).
public struct Interval: Sendable, Equatable {
    public var low: Double
    public var high: Double
    public init(_ low: Double, _ high: Double) { self.low = low; self.high = high }
    public static let none = Interval(.nan, .nan)
    public var exists: Bool { low.isFinite && high.isFinite }
    public var halfWidth: Double { (high - low) / 2 }
    public func contains(_ x: Double) -> Bool { exists && low <= x && x <= high }
}

extension Summary {
    /// The t interval of the mean: mean ± t_{1−(1−level)/2, n−1} · std/√n. None for n < 2; a
    /// zero-width interval when every value is the same.
    public func meanInterval(level: Double = 0.95) -> Interval {
        guard n >= 2, std.isFinite else { return .none }
        let half = StudentT.quantile(1 - (1 - level) / 2, df: Double(n - 1)) * std / Double(n).squareRoot()
        return Interval(mean - half, mean + half)
    }
}

/// Multiple-testing corrections over one family of p-values.
public enum Correction: String, Sendable, CaseIterable, Codable {
    /// Holm–Bonferroni: controls the family-wise error rate; uniformly more powerful than Bonferroni.
    case holm
    /// Benjamini–Hochberg: controls the false discovery rate.
    case bh
    case none

    /// Adjusted p-values in the order given (statsmodels' `multipletests(p, method='holm' | 'fdr_bh')`).
    /// NaN p-values stay NaN and do not count in the family's size.
    public func adjust(_ p: [Double]) -> [Double] {
        let valid = p.indices.filter { p[$0].isFinite }
        let m = valid.count
        var out = p.map { _ in Double.nan }
        guard m > 0 else { return out }
        switch self {
        case .none:
            for i in valid { out[i] = p[i] }
        case .holm:
            // Ascending; adjusted_k = max_{j ≤ k} min(1, (m − j) p_(j)).
            let order = valid.sorted { p[$0] < p[$1] || (p[$0] == p[$1] && $0 < $1) }
            var running = 0.0
            for (rank, i) in order.enumerated() {
                running = max(running, min(1, Double(m - rank) * p[i]))
                out[i] = running
            }
        case .bh:
            // Descending; adjusted_k = min_{j ≥ k} min(1, m p_(j) / j).
            let order = valid.sorted { p[$0] < p[$1] || (p[$0] == p[$1] && $0 < $1) }
            var running = 1.0
            for rank in stride(from: m - 1, through: 0, by: -1) {
                let i = order[rank]
                running = min(running, min(1, Double(m) * p[i] / Double(rank + 1)))
                out[i] = running
            }
        }
        return out
    }

    /// What the adjustment controls, for legends.
    public var description: String {
        switch self {
        case .holm: "Holm–Bonferroni (family-wise error)"
        case .bh: "Benjamini–Hochberg (false discovery rate)"
        case .none: "no correction"
        }
    }
}

/// The paired differences of two rows over the seeds both completed: the estimate, its t interval,
/// the two-sided t-test of zero difference, and the two one-sided tests of equivalence.
public struct PairedDifferences: Sendable, Equatable {
    /// seed → a − b, only seeds with a finite value in both, in ascending seed order.
    public var seeds: [Int]
    public var differences: [Double]
    public var summary: Summary

    public init(a: [Int: Double], b: [Int: Double]) {
        seeds = Set(a.keys).intersection(b.keys).sorted().filter { (a[$0]! - b[$0]!).isFinite }
        differences = seeds.map { a[$0]! - b[$0]! }
        summary = Summary(differences)
    }

    public var pairs: Int { summary.n }
    public var estimate: Double { summary.mean }
    public func interval(level: Double = 0.95) -> Interval { summary.meanInterval(level: level) }
    /// Two-sided paired t-test of zero mean difference (scipy `ttest_rel`), as PairedComparison.
    public var p: Double { PairedComparison(differences: summary).p }

    /// Two one-sided tests (statsmodels `ttost_paired(a, b, −margin, +margin)`): the larger of the
    /// p-values of H0: d ≤ −margin and H0: d ≥ +margin. Small p = equivalent within ±margin.
    /// NaN with fewer than 2 pairs; with zero spread, 0 when |d| < margin and 1 otherwise.
    public func equivalenceP(margin: Double) -> Double {
        guard pairs >= 2, margin > 0 else { return .nan }
        let s = summary.std
        if s == 0 { return abs(estimate) < margin ? 0 : 1 }
        let se = s / Double(pairs).squareRoot(), df = Double(pairs - 1)
        let pLower = 1 - StudentT.cdf((estimate + margin) / se, df: df)
        let pUpper = StudentT.cdf((estimate - margin) / se, df: df)
        return max(pLower, pUpper)
    }
}

/// The exact (Clopper–Pearson) interval of a binomial proportion k/n
/// (statsmodels `proportion_confint(k, n, alpha, method='beta')`).
public enum ClopperPearson {
    public static func interval(successes k: Int, trials n: Int, level: Double = 0.95) -> Interval {
        guard n > 0, k >= 0, k <= n else { return .none }
        let alpha = 1 - level
        let low = k == 0 ? 0 : IncompleteBeta.quantile(alpha / 2, a: Double(k), b: Double(n - k + 1))
        let high = k == n ? 1 : IncompleteBeta.quantile(1 - alpha / 2, a: Double(k + 1), b: Double(n - k))
        return Interval(low, high)
    }
}

/// The slope of y on x with seeds as blocks: ordinary least squares with one intercept per seed
/// (statsmodels `ols('y ~ x + C(seed)')`), i.e. x and y centred within each seed. Residual degrees
/// of freedom: observations − seeds − 1.
public struct BlockTrend: Sendable, Equatable {
    public var observations: Int
    public var blocks: Int
    public var slope: Double
    public var standardError: Double
    public var df: Int
    /// Residual standard deviation (√(RSS/df)).
    public var residualStd: Double
    /// Σ (x − x̄_seed)² over all observations.
    public var sxx: Double

    /// `points`: (seed, x, y); non-finite y are left out.
    public init(_ points: [(seed: Int, x: Double, y: Double)]) {
        let used = points.filter { $0.y.isFinite && $0.x.isFinite }
        var bySeed: [Int: [(x: Double, y: Double)]] = [:]
        for p in used { bySeed[p.seed, default: []].append((p.x, p.y)) }
        observations = used.count
        blocks = bySeed.count
        df = observations - blocks - 1
        var sxx = 0.0, sxy = 0.0
        var centred: [(x: Double, y: Double)] = []
        for seed in bySeed.keys.sorted() {
            let members = bySeed[seed]!
            let mx = members.reduce(0) { $0 + $1.x } / Double(members.count)
            let my = members.reduce(0) { $0 + $1.y } / Double(members.count)
            for m in members {
                centred.append((m.x - mx, m.y - my))
                sxx += (m.x - mx) * (m.x - mx)
                sxy += (m.x - mx) * (m.y - my)
            }
        }
        self.sxx = sxx
        guard sxx > 0 else { slope = .nan; standardError = .nan; residualStd = .nan; return }
        let b = sxy / sxx
        slope = b
        guard df > 0 else { standardError = .nan; residualStd = .nan; return }
        let rss = centred.reduce(0) { $0 + ($1.y - b * $1.x) * ($1.y - b * $1.x) }
        residualStd = (rss / Double(df)).squareRoot()
        standardError = residualStd / sxx.squareRoot()
    }

    public var t: Double {
        guard df > 0, standardError.isFinite else { return .nan }
        if standardError == 0 { return slope == 0 ? 0 : (slope > 0 ? .infinity : -.infinity) }
        return slope / standardError
    }

    public var p: Double {
        let t = t
        guard t.isFinite || t.isInfinite else { return .nan }
        if t.isInfinite { return 0 }
        return StudentT.twoSidedP(t, df: Double(df))
    }

    public func interval(level: Double = 0.95) -> Interval {
        guard df > 0, standardError.isFinite else { return .none }
        let half = StudentT.quantile(1 - (1 - level) / 2, df: Double(df)) * standardError
        return Interval(slope - half, slope + half)
    }
}

/// The noncentral t distribution, for the power of t tests.
public enum NoncentralT {
    /// P(T ≤ t) for T = (Z + δ)/√(V/ν), Z standard normal, V ~ χ²_ν: the integral of
    /// Φ(t·u − δ) against the density of u = √(V/ν), by composite Simpson's rule over the range
    /// where that density is not negligible (scipy `nct.cdf(t, ν, δ)` to about 1e-10).
    public static func cdf(_ t: Double, df nu: Double, noncentrality delta: Double) -> Double {
        guard nu > 0, t.isFinite || t.isInfinite, delta.isFinite else { return .nan }
        if t == .infinity { return 1 }
        if t == -.infinity { return 0 }
        let logNorm = log(2.0) + (nu / 2) * log(nu / 2) - lgamma(nu / 2)
        func density(_ u: Double) -> Double {
            if u <= 0 { return nu == 1 ? exp(logNorm) : (nu < 1 ? .infinity : 0) }
            return exp(logNorm + (nu - 1) * log(u) - nu * u * u / 2)
        }
        // The density of u has mean ≈ 1 and sd ≈ 1/√(2ν); for small ν it has a long right tail.
        let upper = 1 + 40 / (2 * nu).squareRoot() + (nu < 4 ? 40 : 0)
        let lower = max(0, 1 - 40 / (2 * nu).squareRoot())
        let steps = 20_000
        let h = (upper - lower) / Double(steps)
        var sum = 0.0
        for i in 0...steps {
            let u = lower + Double(i) * h
            let weight: Double = (i == 0 || i == steps) ? 1 : (i % 2 == 1 ? 4 : 2)
            let f = density(u)
            if f == 0 || !f.isFinite { continue }
            sum += weight * f * Normal.cdf(t * u - delta)
        }
        return min(1, max(0, sum * h / 3))
    }
}

/// Power and sample size of t tests (statsmodels `TTestPower`), and of the two one-sided tests.
public enum Power {
    /// Power of a two-sided one-sample (or paired) t-test with `n` observations at standardized
    /// effect `d` = effect/σ: P(|T| > t_{1−α/2}) with T noncentral t(n − 1, d√n).
    public static func pairedT(effectSize d: Double, n: Int, alpha: Double) -> Double {
        regressionT(effectSize: d, scale: Double(n).squareRoot(), df: n - 1, alpha: alpha)
    }

    /// Power of a two-sided t-test whose statistic is noncentral t(df, d·scale).
    public static func regressionT(effectSize d: Double, scale: Double, df: Int, alpha: Double) -> Double {
        guard df >= 1 else { return .nan }
        let critical = StudentT.quantile(1 - alpha / 2, df: Double(df))
        let delta = abs(d) * scale
        return 1 - NoncentralT.cdf(critical, df: Double(df), noncentrality: delta)
            + NoncentralT.cdf(-critical, df: Double(df), noncentrality: delta)
    }

    /// Power of the two one-sided tests with margin m when the true difference is 0 and the
    /// differences have sd σ: the standard lower bound 1 − 2·P(T ≤ t_{1−α}) with T noncentral
    /// t(n − 1, m√n/σ) (each one-sided test fails with that probability).
    public static func equivalence(margin m: Double, sigma: Double, n: Int, alpha: Double) -> Double {
        guard n >= 2, sigma > 0 else { return .nan }
        let df = Double(n - 1)
        let critical = StudentT.quantile(1 - alpha, df: df)
        return max(0, 1 - 2 * NoncentralT.cdf(critical, df: df, noncentrality: m * Double(n).squareRoot() / sigma))
    }

    /// The smallest n in 2…limit with `power(n)` ≥ target; nil when even `limit` falls short.
    public static func smallestN(target: Double, limit: Int = 10_000, _ power: (Int) -> Double) -> Int? {
        guard power(limit) >= target else { return nil }
        var lo = 2, hi = limit
        if power(lo) >= target { return lo }
        // power rises with n: bisection for the first n that reaches the target.
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if power(mid) >= target { hi = mid } else { lo = mid }
        }
        return hi
    }
}
