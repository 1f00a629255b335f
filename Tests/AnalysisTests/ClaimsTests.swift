// Pre-registered claims: parsing with errors that name the claim, selectors checked against the
// rows before any work, and verdicts computed from corrected tests on sweeps of known values.
import Foundation
import RunStore
import Testing
@testable import Analysis

@Suite struct ClaimsTests {
    func settings(_ json: String) throws -> TableSettings { try TableSettings.parse(json: json) }

    func message(_ json: String) -> String {
        do { _ = try TableSettings.parse(json: json); return "" } catch { return "\(error)" }
    }

    @Test func claimsParseAndErrorsNameTheClaim() throws {
        let s = try settings(#"""
            {"alpha":0.01,"correct":"bh","claims":[
              {"name":"x beats y","metric":"final_loss","a":{"match":{"variant":"x"}},"b":{"match":{"variant":"y"}},"expect":"less","min_effect":0.01},
              {"name":"trend","metric":"maxvio_global","trend":{"axis":"model.ffn.moe.experts","scale":"log2"},"expect":"greater"}]}
            """#)
        #expect(s.alpha == 0.01 && s.correction == .bh && s.claims.count == 2)
        #expect(s.claims[0].test == .contrast(a: ["variant": "x"], b: ["variant": "y"]) && s.claims[0].minEffect == 0.01)
        #expect(s.claims[1].test == .trend(axis: "model.ffn.moe.experts", scale: .log2, match: [:]) && s.claims[1].expect == .greater)
        #expect(message(#"{"claims":[{"name":"c","metric":"loss","a":{"match":{}},"b":{"match":{}},"expect":"less"}]}"#)
            .hasPrefix("table.claims[0] ('c').metric: unknown metric 'loss'"))
        #expect(message(#"{"claims":[{"name":"c","metric":"ppl","a":{"match":{}},"b":{"match":{}},"expect":"equivalent"}]}"#)
            .hasPrefix("table.claims[0] ('c').min_effect: an equivalent claim needs its margin"))
        #expect(message(#"{"claims":[{"name":"c","metric":"ppl","a":{"match":{}},"expect":"less"}]}"#)
            .hasPrefix("table.claims[0] ('c'): expected either a and b"))
        #expect(message(#"{"claims":[{"name":"c","metric":"ppl","trend":{"axis":"k","scale":"log3"},"expect":"less"}]}"#)
            .hasPrefix("table.claims[0] ('c').trend.scale: expected linear, log2, log10 or ln"))
        // A whole-number margin (`min_effect: 100`) is a number like any other; zero and negatives are not margins.
        let whole = try settings(#"{"claims":[{"name":"c","metric":"max_logit","a":{"match":{}},"b":{"match":{}},"expect":"less","min_effect":100}]}"#)
        #expect(whole.claims[0].minEffect == 100)
        #expect(message(#"{"claims":[{"name":"c","metric":"ppl","a":{"match":{}},"b":{"match":{}},"expect":"less","min_effect":0}]}"#)
            .hasPrefix("table.claims[0] ('c').min_effect: expected a positive number"))
        #expect(message(#"{"alpha":1.5}"#).hasPrefix("table.alpha: expected a number between 0 and 1"))
        #expect(message(#"{"correct":"bonferroni"}"#).hasPrefix("table.correct: expected holm, bh or none"))
        #expect(message(#"{"claims":[{"name":"c","metric":"ppl","a":{"match":{}},"b":{"match":{}},"expect":"less"},{"name":"c","metric":"ppl","a":{"match":{}},"b":{"match":{}},"expect":"less"}]}"#)
            .contains("is used by an earlier claim"))
    }

    @Test func selectorsThatMatchNoRowAreProblems() throws {
        let s = try settings(#"""
            {"baseline":{"variant":"z"},"claims":[
              {"name":"ok","metric":"final_loss","a":{"match":{"variant":"x"}},"b":{"match":{"variant":"y"}},"expect":"less"},
              {"name":"typo","metric":"final_loss","a":{"match":{"variant":"xx"}},"b":{"match":{"variant":"y"}},"expect":"less"},
              {"name":"flat","metric":"final_loss","trend":{"axis":"variant"},"expect":"less"}]}
            """#)
        let problems = s.selectorProblems(rows: [["variant": "x"], ["variant": "y"]])
        #expect(problems.map(\.path) == ["table.baseline", "table.claims[1].a", "table.claims[2].trend.axis"])
        #expect(problems[1].message.contains("claim 'typo'") && problems[1].message.contains("matches 0 rows"))
    }

    func claim(_ name: String, _ a: String, _ b: String, _ expect: ClaimSpec.Expectation, _ minEffect: Double? = nil) -> ClaimSpec {
        ClaimSpec(name: name, metric: "final_loss", test: .contrast(a: ["variant": .string(a)], b: ["variant": .string(b)]),
                  expect: expect, minEffect: minEffect)
    }

    @Test func verdictsFollowTheCorrectedTests() throws {
        let sweep = try TableFixtures.sweep([
            "low": [1.00, 1.10, 1.20, 1.05, 1.15],
            "high": [2.00, 2.12, 2.18, 2.07, 2.16],
            "noisy": [0.5, 2.6, 1.1, 1.9, 1.4],
            "same": [1.01, 1.11, 1.19, 1.06, 1.14],
        ])
        let claims = [claim("low < high", "low", "high", .less, 0.1),
                      claim("low > high", "low", "high", .greater, 0.1),
                      claim("noisy < high", "noisy", "high", .less, 0.05),
                      claim("same ≈ low", "same", "low", .equivalent, 0.05),
                      claim("high ≈ low", "high", "low", .equivalent, 0.05)]
        let results = ClaimEvaluation.evaluate(claims, groups: sweep.groups, alpha: 0.05, correction: .holm)
        #expect(results.map(\.verdict) == [.holds, .contradicted, .inconclusive, .holds, .contradicted])
        // p adjusted by Holm over the five claims; estimate and interval as PairedDifferences gives them.
        #expect(results.map(\.pAdjusted) == Correction.holm.adjust(results.map(\.p)))
        let d = PairedDifferences(a: [0: 1.00, 1: 1.10, 2: 1.20, 3: 1.05, 4: 1.15], b: [0: 2.00, 1: 2.12, 2: 2.18, 3: 2.07, 4: 2.16])
        #expect(results[0].estimate == d.estimate && results[0].interval == d.interval() && results[0].p == d.p && results[0].pairs == 5)
        #expect(abs(results[3].p - PairedDifferences(a: [0: 1.01, 1: 1.11, 2: 1.19, 3: 1.06, 4: 1.14],
                                                     b: [0: 1.00, 1: 1.10, 2: 1.20, 3: 1.05, 4: 1.15]).equivalenceP(margin: 0.05)) < 1e-15)
        // An inconclusive claim says how many seeds 80% power at min_effect needs, at α/5.
        let spread = results[2].spread
        #expect(results[2].seedsNeeded == Power.smallestN(target: 0.8) { Power.pairedT(effectSize: 0.05 / spread, n: $0, alpha: 0.01) })
        #expect((results[2].seedsNeeded ?? 0) > 5)
        // Without correction the noisy claim's p is its own.
        let uncorrected = ClaimEvaluation.evaluate(claims, groups: sweep.groups, alpha: 0.05, correction: .none)
        #expect(uncorrected[2].pAdjusted == uncorrected[2].p)
    }

    /// Slope on log2 of the axis with seeds as blocks: a seed offset common to all levels does not
    /// blur the slope.
    @Test func trendClaimUsesSeedsAsBlocks() throws {
        let levels: [(JSONValue, [Double])] = [4, 8, 16, 32].enumerated().map { i, e in
            (.int(e), (0..<3).map { seed in 2.0 - 0.02 * Double(i) + 0.1 * Double(seed) + [0.001, -0.002, 0.0015][(i + seed) % 3] })
        }
        let sweep = try TableFixtures.sweep(levels, key: "model.ffn.moe.experts")
        let spec = ClaimSpec(name: "more experts, lower loss", metric: "final_loss",
                             test: .trend(axis: "model.ffn.moe.experts", scale: .log2, match: [:]), expect: .less, minEffect: 0.005)
        let r = ClaimEvaluation.evaluate([spec], groups: sweep.groups, alpha: 0.05, correction: .holm)[0]
        #expect(r.verdict == .holds && abs(r.estimate - -0.02) < 0.002 && r.pairs == 12)
        #expect(r.test.contains("per doubling of moe.experts") && r.test.contains("df 8"))
        let greater = ClaimSpec(name: "g", metric: "final_loss", test: spec.test, expect: .greater, minEffect: 0.005)
        #expect(ClaimEvaluation.evaluate([greater], groups: sweep.groups, alpha: 0.05, correction: .holm)[0].verdict == .contradicted)
    }

    /// Edges: one seed, zero variance, every cell diverged.
    @Test func edgesGiveInconclusiveNotACrash() throws {
        let one = try TableFixtures.sweep(["x": [1.0], "y": [2.0]])
        let r1 = ClaimEvaluation.evaluate([claim("c", "x", "y", .less, 0.1)], groups: one.groups, alpha: 0.05, correction: .holm)[0]
        #expect(r1.verdict == .inconclusive && r1.pairs == 1 && r1.p.isNaN && r1.problem != nil && r1.seedsNeeded == nil)
        let constant = try TableFixtures.sweep(["x": [1.0, 2.0, 3.0], "y": [1.5, 2.5, 3.5]])
        let r2 = ClaimEvaluation.evaluate([claim("c", "x", "y", .less, 0.1)], groups: constant.groups, alpha: 0.05, correction: .holm)[0]
        #expect(r2.verdict == .holds && r2.p == 0 && r2.interval.low == -0.5 && r2.interval.high == -0.5)
        let diverged = try TableFixtures.sweep(["x": [1.0, 1.1], "y": [2.0, 2.1]],
                                               states: ["x": [0: .diverged, 1: .diverged], "y": [0: .diverged, 1: .diverged]])
        let table = try SweepTable.build(diverged, settings: TableSettings(claims: [claim("c", "x", "y", .less, 0.1)]), metrics: ["final_loss"])
        #expect(table.excluded == ["diverged": 4])
        #expect(table.rows.allSatisfy { $0.completed == 0 && $0.stats["final_loss"]!.n == 0 && $0.best.isEmpty })
        #expect(table.claims[0].verdict == .inconclusive && table.claims[0].pairs == 0)
        #expect(table.render(.md).contains("excluded from the statistics: 4 of 4 cells (4 diverged)"))
    }

    @Test func tokensToReachInterpolatesBetweenEvaluations() {
        // Binary fractions, so the interpolation is exact.
        let curve = EvalCurve(tokens: [100, 200, .nan, 300, 400], loss: [3.0, 2.5, 1.0, 2.0, 1.75])
        // 2.25 lies between 2.5 (200 tokens) and 2.0 (300 tokens; the NaN-token point is skipped).
        #expect(curve.tokensToReach(2.25) == .between(250))
        #expect(curve.tokensToReach(2.0) == .between(300))
        #expect(curve.tokensToReach(1.875) == .between(350))
        #expect(curve.tokensToReach(3.5) == .atFirst(100))
        #expect(curve.tokensToReach(1.7) == .never && curve.tokensToReach(1.7).tokens == nil)
        #expect(curve.finalTokens == 400)
        #expect(EvalCurve(tokens: [100, 200], loss: [3.0, .nan]).finalTokens == 100)
        #expect(EvalCurve().tokensToReach(1) == .never && EvalCurve().finalTokens == nil)
    }

    static let tokens: [Double] = [100, 200, 300, 400]

    /// a reaches b's final loss at 175, 260, 250, 300 tokens of b's 400 (linear between evaluations).
    static func reachSweep(neverOn seed: Int? = nil) throws -> SweepData {
        let b = [[3.0, 2.6, 2.4, 2.3], [3.1, 2.7, 2.5, 2.2], [3.0, 2.6, 2.45, 2.35], [2.9, 2.7, 2.5, 2.1]]
        var a = [[2.6, 2.2, 2.0, 1.9], [2.9, 2.5, 2.0, 1.9], [2.8, 2.45, 2.25, 2.0], [2.8, 2.5, 2.1, 2.0]]
        if let seed { a[seed] = [3.0, 2.9, 2.8, 2.7] }
        return try TableFixtures.sweep(curves: ["adamw": b.map { EvalCurve(tokens: tokens, loss: $0) },
                                                "muon": a.map { EvalCurve(tokens: tokens, loss: $0) }])
    }

    static func reach(_ expect: ClaimSpec.Expectation, metric: String = "final_loss", minEffect: Double? = 0.1) -> ClaimSpec {
        ClaimSpec(name: "muon reaches adamw sooner", metric: metric,
                  test: .reach(a: ["variant": "muon"], b: ["variant": "adamw"]), expect: expect, minEffect: minEffect)
    }

    @Test func reachClaimTestsTheTokenRatioAgainstOne() throws {
        let sweep = try Self.reachSweep()
        let r = ClaimEvaluation.evaluate([Self.reach(.less)], groups: sweep.groups, alpha: 0.05, correction: .holm)[0]
        let ratios = [175.0 / 400, 260.0 / 400, 250.0 / 400, 300.0 / 400]
        let summary = Summary(ratios)
        #expect(r.pairs == 4 && r.null == 1 && r.problem == nil)
        #expect(abs(r.estimate - summary.mean) < 1e-12 && abs(r.interval.low - summary.meanInterval().low) < 1e-9)
        let d = PairedDifferences(a: [0: ratios[0], 1: ratios[1], 2: ratios[2], 3: ratios[3]], b: [0: 1, 1: 1, 2: 1, 3: 1])
        #expect(abs(r.p - d.p) < 1e-9 && r.p < 0.05)
        #expect(r.verdict == .holds && r.test.contains("one-sample t-test of the ratio against 1"))
        let greater = ClaimEvaluation.evaluate([Self.reach(.greater)], groups: sweep.groups, alpha: 0.05, correction: .holm)[0]
        #expect(greater.verdict == .contradicted)
        // Against best_loss the target of seed 2 is b's best (2.35 = final here); the same ratios.
        let best = ClaimEvaluation.evaluate([Self.reach(.less, metric: "best_loss")], groups: sweep.groups, alpha: 0.05, correction: .holm)[0]
        #expect(abs(best.estimate - summary.mean) < 1e-12 && best.test.contains("b's best eval loss"))
        // Equivalence around 1 at margin 0.1: the ratios are far from 1, so the interval lies outside.
        let equal = ClaimEvaluation.evaluate([Self.reach(.equivalent)], groups: sweep.groups, alpha: 0.05, correction: .holm)[0]
        #expect(equal.verdict == .contradicted && abs(equal.p - d.equivalenceP(margin: 0.1)) < 1e-9)
        // The table reports the ratio and its interval unsigned.
        let table = try SweepTable.build(sweep, settings: TableSettings(claims: [Self.reach(.less)]), metrics: ["final_loss"])
        let md = table.render(.md, claimsOnly: true)
        #expect(md.contains("a/b < 1") && md.contains(String(format: "%.3f", summary.mean)) && md.contains("**holds**"), "\(md)")
        guard case .list(let items) = try JSONValue.parse(table.render(.json, claimsOnly: true)), let first = items.first else {
            Issue.record("claims JSON is not a list"); return
        }
        #expect(first["statistic"] == "tokens_ratio" && first["null"] == .double(1))
    }

    /// A seed where a never reaches the target would need more tokens than a trained: the claim is
    /// not tested rather than biased low.
    @Test func aSeedThatNeverReachesTheTargetMakesTheClaimUntested() throws {
        let sweep = try Self.reachSweep(neverOn: 1)
        let r = ClaimEvaluation.evaluate([Self.reach(.less)], groups: sweep.groups, alpha: 0.05, correction: .holm)[0]
        #expect(r.verdict == .inconclusive && r.p.isNaN && r.pairs == 3)
        #expect(r.problem?.contains("1 seed(s) where a never reached the target within its run (seeds 1)") == true, "\(r.problem ?? "")")
        let ratios = TokenRatios(a: [0: EvalCurve(tokens: Self.tokens, loss: [2.0, 1.9, 1.8, 1.7])], targets: [0: 2.5], bTokens: [0: 400])
        #expect(ratios.atFirst == [0] && ratios.ratios == [0.25] && ratios.censored.isEmpty)
    }

    @Test func reachClaimsParseAndCheckTheirRows() throws {
        let s = try settings(#"{"claims":[{"name":"r","metric":"final_loss","reach":{"a":{"match":{"variant":"x"}},"b":{"match":{"variant":"zz"}}},"expect":"less","min_effect":0.1}]}"#)
        #expect(s.claims[0].test == .reach(a: ["variant": "x"], b: ["variant": "zz"]))
        let problems = s.selectorProblems(rows: [["variant": "x"], ["variant": "y"]])
        #expect(problems.map(\.path) == ["table.claims[0].reach.b"])
        #expect(message(#"{"claims":[{"name":"r","metric":"ppl","reach":{"a":{"match":{}},"b":{"match":{}}},"expect":"less"}]}"#)
            .hasPrefix("table.claims[0] ('r').metric: a reach claim reads a's eval-loss curve against b's final_loss or best_loss, got ppl"))
        #expect(message(#"{"claims":[{"name":"r","metric":"final_loss","reach":{"a":{"match":{}},"c":{"match":{}}},"expect":"less"}]}"#)
            .hasPrefix("table.claims[0] ('r').reach.c: unknown key (expected a, b)"))
        #expect(message(#"{"claims":[{"name":"r","metric":"final_loss","reach":{"a":{"match":{}}},"expect":"less"}]}"#)
            .hasPrefix("table.claims[0] ('r').reach: expected both a and b"))
        #expect(message(#"{"claims":[{"name":"r","metric":"final_loss","reach":{"a":{"match":{}},"b":{"match":{}}},"trend":{"axis":"k"},"expect":"less"}]}"#)
            .hasPrefix("table.claims[0] ('r'): a claim has either trend or reach, not both"))
    }

    @Test func evalCurvesTravelFromTheReaderProcessAsJSON() throws {
        var contents = RunFileContents()
        contents.state = .read(.completed)
        contents.evalCurve = EvalCurve(tokens: [2048, 4096, .nan], loss: [2.5, 2.25, 2.0])
        let back = try RunFileContents(json: try JSONValue.parse(contents.json.canonical))
        #expect(back.evalCurve.tokens[0...1] == [2048, 4096] && back.evalCurve.tokens[2].isNaN && back.evalCurve.loss == [2.5, 2.25, 2.0])
        let train = MetricTable(steps: [0, 1, 2, 3], columns: ["tokens": [10, 20, 30, 40]])
        let eval = MetricTable(steps: [1, 3, 5], columns: ["loss": [2.0, 1.5, 1.2]])
        let curve = RunFileContents.evalCurve(train: train, eval: eval)
        #expect(curve.tokens[0...1] == [20, 40] && curve.tokens[2].isNaN && curve.loss == [2.0, 1.5, 1.2])
    }

    /// MQAR's guessing baseline is a property of the data: shown, never marked best.
    @Test func guessingBaselineIsNeverBold() throws {
        let sweep = try TableFixtures.sweep(["few pairs": [0.9, 0.9, 0.9], "many pairs": [0.3, 0.31, 0.29]], metric: "guess_accuracy")
        let table = try SweepTable.build(sweep, settings: TableSettings(), metrics: ["guess_accuracy"])
        #expect(table.rows.allSatisfy { $0.best.isEmpty } && table.rows[0].stats["guess_accuracy"]!.mean == 0.9)
        #expect(table.render(.md).contains("guessing acc [fraction]"))
        let accuracy = try SweepTable.build(try TableFixtures.sweep(["a": [0.9, 0.9, 0.9], "b": [0.3, 0.31, 0.29]], metric: "accuracy"),
                                            settings: TableSettings(), metrics: ["accuracy"])
        #expect(accuracy.rows[0].best == ["accuracy"])
        let eval = MetricTable(steps: [9], columns: ["accuracy": [0.7], "guess_accuracy": [0.55], "guess_loss": [0.74]])
        let extracted = MetricColumn.extract(train: MetricTable(), eval: eval)
        #expect(extracted["guess_accuracy"] == 0.55 && extracted["guess_loss"] == 0.74)
    }

    @Test func claimsJSONHasTheDocumentedFields() throws {
        let sweep = try TableFixtures.sweep(["low": [1.0, 1.1, 1.2], "high": [2.0, 2.1, 2.3]])
        let table = try SweepTable.build(sweep, settings: TableSettings(claims: [claim("low < high", "low", "high", .less, 0.1)]))
        let parsed = try JSONValue.parse(table.render(.json, claimsOnly: true))
        guard case .list(let items) = parsed, case .map(let object)? = items.first else { Issue.record("not a list of objects"); return }
        for key in ["name", "verdict", "estimate", "ci", "p", "p_adjusted", "pairs", "seeds_needed"] { #expect(object[key] != nil, "\(key)") }
        #expect(object["verdict"] == "holds" && object["pairs"] == .int(3))
        let md = table.render(.md, claimsOnly: true)
        #expect(md.contains("| low < high |") && md.contains("**holds**"))
    }

    @Test func solveRateHasAnExactIntervalAndEverySeed() throws {
        let sweep = try TableFixtures.sweep(["a": [1.0, 0.55, 0.54], "b": [1.0, 0.995, 0.999]], metric: "accuracy")
        let table = try SweepTable.build(sweep, settings: TableSettings(solve: .init(metric: "accuracy", threshold: 0.99, atLeast: true)),
                                         metrics: ["accuracy"])
        #expect(table.rows[0].solve?.solved == 1 && table.rows[0].solve?.runs == 3)
        #expect(table.rows[0].solve?.interval == ClopperPearson.interval(successes: 1, trials: 3))
        #expect(table.rows[1].solve?.solved == 3)
        let md = table.render(.md)
        #expect(md.contains("1/3 [0.01, 0.91]") && md.contains("1.000, 0.550, 0.540"))
    }

    @Test func labelsReplaceKeysAndSwitchedOffKeysAreBlank() throws {
        let rows: [(JSONValue, [Double])] = [(.map(["enabled": false, "rate": 0.001]), [1.0, 1.1]), (.map(["enabled": true, "rate": 0.001]), [0.9, 1.0])]
        var sweep = try TableFixtures.sweep(rows, key: "model.balance")
        // As sweeps over several keys record them: one assignment per key.
        sweep.varyingKeys = ["model.balance.enabled", "model.balance.rate"]
        let plain = try SweepTable.build(sweep, metrics: ["final_loss"])
        #expect(plain.rows.map(\.keyValues) == [["false", ""], ["true", "0.001"]])
        let labelled = try SweepTable.build(sweep, settings: TableSettings(labels: [.init(match: ["model.balance.enabled": false], label: "off")]),
                                            metrics: ["final_loss"])
        #expect(labelled.rows.map(\.label) == ["off", labelled.rows[1].group.label])   // unlabelled rows keep key=value
        #expect(labelled.render(.md).hasPrefix("| variant |") && labelled.render(.md).contains("| off |"))
    }

    /// A run file that crashes the reader process marks its cell unreadable; the next file starts
    /// a new reader, and every other file is read.
    @Test func aReaderThatDiesOnAFileMarksOnlyThatCell() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("reader-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let script = directory.appendingPathComponent("reader.sh").path
        // Speaks the reader protocol: answers a completed run for every request, and dies by
        // SIGSEGV on a path whose name says crash.
        try """
            #!/bin/sh
            while read -r request; do
              case "$request" in *crash*) kill -SEGV $$ ;; esac
              echo '{"value":{"state":{"kind":"read","status":"completed"},"last_step":9,"metrics":{"final_loss":1.5},"derived":{},"has_moe":false,"has_bias":false}}'
            done
            """.write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        var paths: [String] = []
        for name in ["a", "b-crash", "c", "d-crash", "e"] {
            let path = directory.appendingPathComponent(name).path
            try "not hdf5".write(toFile: path, atomically: true, encoding: .utf8)   // exists; never opened here
            paths.append(path)
        }
        let reader = ReaderProcess(executable: script, arguments: [])
        let contents = RunFileSource.reader(reader).read(paths + [directory.appendingPathComponent("missing").path])
        #expect(contents.count == 6)
        #expect(contents.map { if case .unreadable = $0.state { true } else { false } } == [false, true, false, true, false, false])
        if case .unreadable(let why) = contents[1].state { #expect(why.contains("signal 11") && why.contains("damaged"), "\(why)") }
        #expect(contents[0].state == .read(.completed) && contents[0].metrics["final_loss"] == 1.5 && contents[4].lastStep == 9)
        #expect(contents[5].state == .missing)                  // a missing file is not sent to the reader
        #expect(reader.starts == 3)                              // the first reader, and one after each crash
    }
}
