// Statistics for tables over seeds: mean ± sample standard deviation, and the paired t-test
// against a baseline row, with the Student t distribution computed here (regularized incomplete
// beta function by Lentz's continued fraction) rather than taken from a library.
import Foundation

/// Mean and sample standard deviation (n − 1 in the denominator) of the finite values given.
/// NaN and infinite values are left out and do not count in `n`.
public struct Summary: Sendable, Equatable {
    public var n: Int
    /// NaN when n = 0.
    public var mean: Double
    /// Sample standard deviation; NaN when n < 2.
    public var std: Double

    public init(_ values: [Double]) {
        let finite = values.filter(\.isFinite)
        n = finite.count
        guard n > 0 else { mean = .nan; std = .nan; return }
        // Two-pass: the mean first, then squared deviations from it (no cancellation).
        let m = finite.reduce(0, +) / Double(n)
        mean = m
        if n < 2 {
            std = .nan
        } else {
            std = (finite.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(n - 1)).squareRoot()
        }
    }
}

public enum StudentT {
    /// P(T ≤ t) for Student's t with `df` degrees of freedom (df > 0, need not be an integer).
    /// Accurate to about 1e-14 absolute (tested against mpmath).
    public static func cdf(_ t: Double, df: Double) -> Double {
        guard df > 0, !t.isNaN else { return .nan }
        if t.isInfinite { return t > 0 ? 1 : 0 }
        let tail = 0.5 * IncompleteBeta.regularized(x: df / (df + t * t), a: df / 2, b: 0.5)
        return t > 0 ? 1 - tail : tail
    }

    /// Two-sided p-value P(|T| ≥ |t|) = I_{df/(df+t²)}(df/2, 1/2).
    public static func twoSidedP(_ t: Double, df: Double) -> Double {
        guard df > 0, !t.isNaN else { return .nan }
        if t.isInfinite { return 0 }
        return IncompleteBeta.regularized(x: df / (df + t * t), a: df / 2, b: 0.5)
    }
}

public enum IncompleteBeta {
    /// The regularized incomplete beta function I_x(a, b) for a, b > 0 and 0 ≤ x ≤ 1.
    /// Uses the continued fraction (Numerical Recipes §6.4, modified Lentz) on the side of
    /// x < (a + 1)/(a + b + 2) where it converges fast, and the symmetry I_x(a,b) = 1 − I_{1−x}(b,a).
    public static func regularized(x: Double, a: Double, b: Double) -> Double {
        guard a > 0, b > 0, x >= 0, x <= 1 else { return .nan }
        if x == 0 { return 0 }
        if x == 1 { return 1 }
        // x^a (1−x)^b / (a B(a,b)), in logs.
        let logFront = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x)
        if x < (a + 1) / (a + b + 2) {
            return exp(logFront) * continuedFraction(x: x, a: a, b: b) / a
        }
        return 1 - exp(logFront) * continuedFraction(x: 1 - x, a: b, b: a) / b
    }

    static func continuedFraction(x: Double, a: Double, b: Double) -> Double {
        let tiny = 1e-300, epsilon = 1e-16
        let qab = a + b, qap = a + 1, qam = a - 1
        var c = 1.0
        var d = 1 - qab * x / qap
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var h = d
        for m in 1...10_000 {
            let m = Double(m), m2 = 2 * m
            // Even step.
            var aa = m * (b - m) * x / ((qam + m2) * (a + m2))
            d = 1 + aa * d
            if abs(d) < tiny { d = tiny }
            c = 1 + aa / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            h *= d * c
            // Odd step.
            aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
            d = 1 + aa * d
            if abs(d) < tiny { d = tiny }
            c = 1 + aa / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            let delta = d * c
            h *= delta
            if abs(delta - 1) < epsilon { break }
        }
        return h
    }
}

/// A paired comparison of one row against the baseline over the seeds both have.
public struct PairedComparison: Sendable, Equatable {
    /// Number of seeds with a finite value in both rows.
    public var pairs: Int
    /// Mean of (row − baseline) over the pairs; NaN without pairs.
    public var meanDifference: Double
    /// Sample std of the differences; NaN with fewer than 2 pairs.
    public var stdDifference: Double
    /// t = mean / (std / √n); NaN with fewer than 2 pairs.
    public var t: Double
    /// Two-sided p-value of the paired t-test (df = pairs − 1). NaN with fewer than 2 pairs.
    /// When every difference is the same: 1 if they are all zero, else 0 (t is infinite).
    public var p: Double

    /// `row` and `baseline` map seed → value.
    public init(row: [Int: Double], baseline: [Int: Double]) {
        self.init(differences: PairedDifferences(a: row, b: baseline).summary)
    }

    /// The test on the summary of the paired differences.
    init(differences summary: Summary) {
        pairs = summary.n
        meanDifference = summary.mean
        stdDifference = summary.std
        guard pairs >= 2 else { t = .nan; p = .nan; return }
        if summary.std == 0 {
            t = summary.mean == 0 ? 0 : (summary.mean > 0 ? .infinity : -.infinity)
            p = summary.mean == 0 ? 1 : 0
            return
        }
        t = summary.mean / (summary.std / Double(pairs).squareRoot())
        p = StudentT.twoSidedP(t, df: Double(pairs - 1))
    }
}
