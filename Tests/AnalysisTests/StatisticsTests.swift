// The statistics behind the tables, against values computed independently (mpmath 1.3 at 30
// digits: betainc(a, b, 0, x, regularized=True), and closed forms of Student's t for df 1 and 2).
import Foundation
import Testing
@testable import Analysis

@Suite struct StatisticsTests {
    @Test func regularizedIncompleteBetaMatchesMpmath() {
        #expect(abs(IncompleteBeta.regularized(x: 0.4, a: 2, b: 3) - 0.5248) < 1e-14)
        #expect(abs(IncompleteBeta.regularized(x: 0.3, a: 0.5, b: 0.5) - 0.36901011956554538) < 1e-14)
        #expect(abs(IncompleteBeta.regularized(x: 0.9, a: 10, b: 2.5) - 0.8121862743088557) < 1e-14)
        #expect(IncompleteBeta.regularized(x: 0, a: 2, b: 3) == 0)
        #expect(IncompleteBeta.regularized(x: 1, a: 2, b: 3) == 1)
        #expect(IncompleteBeta.regularized(x: 1.5, a: 2, b: 3).isNaN)
    }

    /// Two-sided p-values P(|T| ≥ t) from mpmath.
    @Test func studentTTwoSidedPMatchesMpmath() {
        let cases: [(t: Double, df: Double, p: Double)] = [
            (2.0, 5, 0.10193947882985836),
            (1.0, 1, 0.5),
            (3.4641016151377544, 2, 0.074179900227448546),
            (0.5, 10, 0.62789360574297294),
            (4.0, 3, 0.028008456010146167),
            (2.5, 30, 0.018115649068066694),
            (1e-3, 7, 0.99923001724499884),
            (10, 4, 0.00056200362271599116),
        ]
        for c in cases {
            let p = StudentT.twoSidedP(c.t, df: c.df)
            #expect(abs(p - c.p) < 1e-13 * max(1, c.p / 1e-3), "t=\(c.t) df=\(c.df): \(p) vs \(c.p)")
            #expect(abs(StudentT.twoSidedP(-c.t, df: c.df) - c.p) < 1e-13 * max(1, c.p / 1e-3))
        }
    }

    /// Closed forms: df=1 is Cauchy (F(t) = 1/2 + atan(t)/π), df=2 has F(t) = 1/2 + t/(2√(2+t²)).
    @Test func studentTCDFMatchesClosedForms() {
        for t in [-7.5, -2.0, -0.3, 0, 0.3, 1.7, 12] {
            #expect(abs(StudentT.cdf(t, df: 1) - (0.5 + atan(t) / .pi)) < 1e-14)
            #expect(abs(StudentT.cdf(t, df: 2) - (0.5 + t / (2 * (2 + t * t).squareRoot()))) < 1e-14)
        }
        #expect(StudentT.cdf(.infinity, df: 3) == 1)
        #expect(StudentT.cdf(-.infinity, df: 3) == 0)
        #expect(StudentT.cdf(1, df: 0).isNaN)
    }

    @Test func summaryIsMeanAndSampleStdOfFiniteValues() {
        let s = Summary([2.0, 2.2, 2.4])
        #expect(s.n == 3)
        #expect(abs(s.mean - 2.2) < 1e-15)
        #expect(abs(s.std - 0.2) < 1e-15)
        let withNaN = Summary([1, .nan, 3, .infinity])
        #expect(withNaN.n == 2 && withNaN.mean == 2 && abs(withNaN.std - 2.0.squareRoot()) < 1e-15)
        let one = Summary([5])
        #expect(one.n == 1 && one.mean == 5 && one.std.isNaN)
        let none = Summary([])
        #expect(none.n == 0 && none.mean.isNaN && none.std.isNaN)
    }

    /// d = (−0.1, −0.3, −0.2): mean −0.2, std 0.1, t = −2√3, df 2, p = 1 − √(6/7).
    @Test func pairedTestUsesSharedSeedsOnly() {
        let baseline = [0: 2.0, 1: 2.2, 2: 2.4, 7: 1.0]
        let row = [0: 1.9, 1: 1.9, 2: 2.2, 9: 0.0]
        let c = PairedComparison(row: row, baseline: baseline)
        #expect(c.pairs == 3)
        #expect(abs(c.meanDifference - -0.2) < 1e-12)
        #expect(abs(c.stdDifference - 0.1) < 1e-12)
        #expect(abs(c.t - -2 * 3.0.squareRoot()) < 1e-10)
        #expect(abs(c.p - (1 - (6.0 / 7).squareRoot())) < 1e-10)
    }

    @Test func pairedTestEdgeCases() {
        let single = PairedComparison(row: [0: 1], baseline: [0: 2, 1: 3])
        #expect(single.pairs == 1 && single.meanDifference == -1 && single.p.isNaN)
        let none = PairedComparison(row: [5: 1], baseline: [0: 2])
        #expect(none.pairs == 0 && none.meanDifference.isNaN)
        let same = PairedComparison(row: [0: 1, 1: 2], baseline: [0: 1, 1: 2])
        #expect(same.p == 1)
        let shifted = PairedComparison(row: [0: 2, 1: 3], baseline: [0: 1, 1: 2])
        #expect(shifted.p == 0 && shifted.t == .infinity)
        let nan = PairedComparison(row: [0: .nan, 1: 2, 2: 4], baseline: [0: 1, 1: 1, 2: 1])
        #expect(nan.pairs == 2)
    }
}
