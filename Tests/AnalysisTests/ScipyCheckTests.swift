// Every statistic of Analysis against an independent implementation: this test computes each
// one on fixed data sets (including n = 1, n = 2, zero variance and NaN p-values), writes inputs
// and results to JSON, and tools/stats-check/check_stats.py recomputes them with scipy and
// statsmodels (t quantiles and intervals, paired t, Holm, BH, TOST, Clopper–Pearson, the trend
// slope with seeds as blocks, noncentral t, power and sample size, the token ratio of reach
// claims), and the mutual information of the specialisation telemetry (Training).
import Foundation
import Testing
import TestSupport
@testable import Analysis
import Training

@Suite struct ScipyCheckTests {
    static func number(_ x: Double) -> JSONValue { x.isFinite ? .double(x) : .null }
    static func numbers(_ xs: [Double]) -> JSONValue { .list(xs.map(number)) }

    static func cases() -> [JSONValue] {
        var cases: [JSONValue] = []
        func add(_ name: String, _ kind: String, _ input: [String: JSONValue], _ output: [String: JSONValue], tolerance: Double = 1e-9) {
            cases.append(.map(["name": .string(name), "kind": .string(kind), "input": .map(input),
                                  "output": .map(output), "tolerance": .double(tolerance)]))
        }
        for (p, df) in [(0.975, 1.0), (0.975, 2), (0.995, 3.5), (0.6, 8), (0.025, 30), (0.999, 4), (0.5, 7)] {
            add("t quantile p=\(p) df=\(df)", "t_quantile", ["p": .double(p), "df": .double(df)],
                ["q": .double(StudentT.quantile(p, df: df))])
        }
        for (t, df) in [(-2.5, 3.0), (0.7, 12), (4.2, 2)] {
            add("t cdf t=\(t) df=\(df)", "t_cdf", ["t": .double(t), "df": .double(df)], ["cdf": .double(StudentT.cdf(t, df: df))])
        }
        let samples: [(String, [Double])] = [
            ("n=1", [5.0]), ("n=2", [1.0, 2.5]), ("zero variance", [3, 3, 3]),
            ("three seeds", [2.0678, 2.0551, 2.0805]), ("twelve", (0..<12).map { 1.9 + 0.013 * Double(($0 * 7) % 12) }),
        ]
        for (name, values) in samples {
            let ci = Summary(values).meanInterval()
            add("mean CI \(name)", "mean_ci", ["values": numbers(values)], ["low": number(ci.low), "high": number(ci.high)])
        }
        let pairs: [(String, [Double], [Double], Double)] = [
            ("three seeds", [2.0261, 2.0411, 2.0110], [2.0407, 2.0470, 2.0350], 0.05),
            ("n=2", [1.0, 1.4], [1.1, 1.2], 0.5),
            ("zero-variance shift", [2.0, 3.0, 4.0], [1.5, 2.5, 3.5], 1.0),
            ("zero-variance outside margin", [2.0, 3.0, 4.0], [1.5, 2.5, 3.5], 0.2),
            ("equal", [1.0, 2.0, 3.0], [1.0, 2.0, 3.0], 0.1),
            ("eight seeds", [0.3, 0.1, 0.25, 0.4, 0.05, 0.2, 0.33, 0.18], [0.2, 0.15, 0.2, 0.3, 0.1, 0.1, 0.2, 0.2], 0.1),
        ]
        for (name, a, b, margin) in pairs {
            let d = PairedDifferences(a: Dictionary(uniqueKeysWithValues: a.enumerated().map { ($0, $1) }),
                                      b: Dictionary(uniqueKeysWithValues: b.enumerated().map { ($0, $1) }))
            let ci = d.interval()
            add("paired \(name)", "paired", ["a": numbers(a), "b": numbers(b), "margin": .double(margin)],
                ["estimate": number(d.estimate), "p": number(d.p), "low": number(ci.low), "high": number(ci.high),
                 "tost_p": number(d.equivalenceP(margin: margin))])
        }
        let single = PairedDifferences(a: [0: 1.0], b: [0: 2.0])
        add("paired n=1", "paired", ["a": numbers([1.0]), "b": numbers([2.0])],
            ["estimate": number(single.estimate), "p": number(single.p), "low": number(single.interval().low), "high": number(single.interval().high)])
        let families: [[Double]] = [
            [0.01, 0.04, 0.03, 0.005], [0.2, 0.2, 0.01, 0.5, 0.049], [0.9, .nan, 0.001, 0.02, 0.3, 0.3], [0.04], [.nan],
        ]
        for (index, p) in families.enumerated() {
            for method in [Correction.holm, .bh] {
                add("\(method.rawValue) family \(index)", "correction", ["p": numbers(p), "method": .string(method.rawValue)],
                    ["adjusted": numbers(method.adjust(p))])
            }
        }
        for (k, n) in [(0, 3), (1, 3), (3, 3), (5, 12), (0, 1), (1, 1), (7, 40)] {
            let ci = ClopperPearson.interval(successes: k, trials: n)
            add("Clopper-Pearson \(k)/\(n)", "clopper_pearson", ["k": .int(k), "n": .int(n)],
                ["low": number(ci.low), "high": number(ci.high)])
        }
        for (p, a, b) in [(0.025, 1.0, 3.0), (0.975, 2.0, 2.0), (0.5, 0.5, 7.0)] {
            add("beta quantile \(p) \(a) \(b)", "beta_quantile", ["p": .double(p), "a": .double(a), "b": .double(b)],
                ["q": .double(IncompleteBeta.quantile(p, a: a, b: b))])
        }
        // The trend: 4 levels × 3 seeds, and the same with one run missing.
        let levels = [4.0, 8, 16, 32]
        var points: [(seed: Int, x: Double, y: Double)] = []
        for seed in 0..<3 {
            for (i, e) in levels.enumerated() {
                let noise = [0.011, -0.02, 0.004, 0.017, -0.009, 0.013, -0.015, 0.002, 0.008, -0.004, 0.019, -0.012][seed * 4 + i]
                points.append((seed, log2(e), 2.07 - 0.017 * Double(i) + 0.01 * Double(seed) + noise))
            }
        }
        for (name, used) in [("balanced", points), ("one missing", Array(points.dropLast()))] {
            let trend = BlockTrend(used)
            let ci = trend.interval()
            add("trend \(name)", "trend", ["seeds": .list(used.map { .double(Double($0.seed)) }), "x": numbers(used.map(\.x)), "y": numbers(used.map(\.y))],
                ["slope": number(trend.slope), "se": number(trend.standardError), "p": number(trend.p), "df": .double(Double(trend.df)),
                 "low": number(ci.low), "high": number(ci.high)], tolerance: 1e-8)
        }
        for (t, df, nc) in [(2.0, 2.0, 1.5), (-1.0, 5, 0.5), (3.1, 29, 4), (2.306, 8, 0), (1.0, 1, 2.0), (4.3, 2, 3.0), (2.0, 200, 2.5)] {
            add("nct cdf t=\(t) df=\(df) nc=\(nc)", "nct_cdf", ["t": .double(t), "df": .double(df), "nc": .double(nc)],
                ["cdf": .double(NoncentralT.cdf(t, df: df, noncentrality: nc))], tolerance: 1e-8)
        }
        for (d, n, alpha) in [(0.5, 10, 0.05), (1.2, 3, 0.0167), (0.3, 90, 0.05), (2.0, 4, 0.0125)] {
            add("power paired d=\(d) n=\(n)", "power_paired", ["d": .double(d), "n": .double(Double(n)), "alpha": .double(alpha)],
                ["power": .double(Power.pairedT(effectSize: d, n: n, alpha: alpha))], tolerance: 1e-7)
        }
        for (d, alpha, power) in [(0.5, 0.05, 0.8), (1.0, 0.0125, 0.8), (0.25, 0.05, 0.9), (3.0, 0.05, 0.8)] {
            let n = Power.smallestN(target: power) { Power.pairedT(effectSize: d, n: $0, alpha: alpha) }
            add("seeds paired d=\(d) alpha=\(alpha)", "seeds_paired", ["d": .double(d), "alpha": .double(alpha), "power": .double(power)],
                ["n": n.map { .int($0) } ?? .null], tolerance: 0)
        }
        for (m, sigma, n, alpha) in [(0.1, 0.08, 10, 0.05), (0.05, 0.02, 4, 0.025), (0.2, 0.3, 40, 0.05)] {
            add("power equivalence m=\(m) n=\(n)", "power_equivalence",
                ["margin": .double(m), "sigma": .double(sigma), "n": .double(Double(n)), "alpha": .double(alpha)],
                ["power": .double(Power.equivalence(margin: m, sigma: sigma, n: n, alpha: alpha))], tolerance: 1e-7)
        }
        // Tokens to reach a target (reach claims): per seed, the crossing of a's eval curve with
        // b's final loss over b's final tokens; the mean ratio, its t interval and the t-test against 1.
        let reachTokens: [Double] = [2048, 4096, 6144, 8192, 10240, 12288]
        let aLoss: [[Double]] = [[2.9, 2.5, 2.21, 2.1, 2.02, 1.95], [2.8, 2.47, 2.3, 2.12, 2.05, 1.99],
                                 [3.0, 2.6, 2.2, 2.15, 2.0, 1.97], [2.7, 2.4, 2.25, 2.11, 2.07, 2.01],
                                 [2.95, 2.55, 2.35, 2.16, 2.04, 1.96]]
        let bFinal = [2.13, 2.08, 2.16, 2.09, 2.1]
        // Edges: two seeds; one seed (no interval, no p); every seed crossing at the same point (zero spread).
        let edges: [(String, [[Double]], [Double])] = [("five seeds", aLoss, bFinal), ("two seeds", Array(aLoss.prefix(2)), Array(bFinal.prefix(2))),
                                                       ("one seed", [aLoss[0]], [bFinal[0]]),
                                                       ("zero spread", [aLoss[0], aLoss[0], aLoss[0]], [bFinal[0], bFinal[0], bFinal[0]])]
        for (name, losses, finals) in edges {
            let ratios = TokenRatios(a: Dictionary(uniqueKeysWithValues: losses.enumerated().map { ($0, EvalCurve(tokens: reachTokens, loss: $1)) }),
                                     targets: Dictionary(uniqueKeysWithValues: finals.enumerated().map { ($0, $1) }),
                                     bTokens: Dictionary(uniqueKeysWithValues: finals.indices.map { ($0, 12288.0) }))
            let ratioCI = ratios.summary.meanInterval()
            add("token ratio \(name)", "token_ratio",
                ["tokens": numbers(reachTokens), "a_loss": .list(losses.map(numbers)), "b_final": numbers(finals), "b_tokens": .double(12288)],
                ["ratios": numbers(ratios.ratios), "estimate": number(ratios.summary.mean), "low": number(ratioCI.low),
                 "high": number(ratioCI.high), "p": number(ratios.againstOne.p)])
        }
        // Specialisation telemetry: I(source; expert) of a count table (Training.Specialisation).
        let tables: [(String, Int, Int, [Int])] = [
            ("independent", 2, 2, [5, 5, 5, 5]), ("diagonal", 3, 3, [7, 0, 0, 0, 4, 0, 0, 0, 9]),
            ("mixed", 2, 4, [10, 3, 0, 1, 2, 8, 6, 0]), ("one row", 1, 3, [1, 2, 3]), ("empty", 2, 2, [0, 0, 0, 0]),
            ("skewed", 4, 3, (0..<12).map { ($0 * 7 + 3) % 11 }),
        ]
        for (name, rows, columns, counts) in tables {
            add("mutual information \(name)", "mutual_information",
                ["counts": .list(counts.map { .int($0) }), "rows": .int(rows), "columns": .int(columns)],
                ["mi": .double(Specialisation.mutualInformation(counts: counts, rows: rows, columns: columns))], tolerance: 1e-12)
        }
        return cases
    }

    @Test func everyStatisticMatchesScipyAndStatsmodels() throws {
        let directory = try TestEnvironment.temporaryDirectory("stats-check")
        let file = directory.appendingPathComponent("cases.json").path
        let cases = Self.cases()
        try JSONValue.map(["cases": .list(cases)]).canonical.write(toFile: file, atomically: true, encoding: .utf8)
        let script = TestEnvironment.packageRoot.appendingPathComponent("tools/stats-check/check_stats.py").path
        let result = try runProcess(try TestEnvironment.python(), [script, file])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("\(cases.count) cases checked, 0 mismatch(es)"), "\(result.stdout)\(result.stderr)")
    }
}
