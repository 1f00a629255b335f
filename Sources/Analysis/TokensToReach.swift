// Tokens to reach a target loss: how many training tokens a run's eval-loss curve needs to first
// reach another run's final eval loss, as a fraction of the tokens that other run trained on.
// Moonlight's "Muon needs about half of AdamW's tokens" is this ratio. Definitions and the
// interpolation: docs/analysis.md, "Claims and verdicts" (reach).
import Foundation

/// A run's eval curve: the tokens trained before each evaluation and the eval loss there, in
/// step order.
public struct EvalCurve: Sendable, Equatable {
    public var tokens: [Double]
    public var loss: [Double]
    public init(tokens: [Double] = [], loss: [Double] = []) {
        self.tokens = tokens
        self.loss = loss
    }

    public var isEmpty: Bool { tokens.isEmpty }

    /// The tokens at which the curve first reaches `target` (loss ≤ target), linear in tokens
    /// between the two evaluations either side of the first crossing. `.atFirst` when the first
    /// evaluation already reaches it (the crossing lies at or before it), `.never` when no
    /// evaluation does. Non-finite points are skipped.
    public func tokensToReach(_ target: Double) -> Crossing {
        var previous: (tokens: Double, loss: Double)?
        for (t, l) in zip(tokens, loss) where t.isFinite && l.isFinite {
            if l <= target {
                guard let p = previous else { return .atFirst(t) }
                // p.loss > target ≥ l: the chord from p to (t, l) meets the target once.
                return .between(p.tokens + (p.loss - target) / (p.loss - l) * (t - p.tokens))
            }
            previous = (t, l)
        }
        return .never
    }

    public enum Crossing: Sendable, Equatable {
        case between(Double)
        case atFirst(Double)
        case never

        public var tokens: Double? {
            switch self {
            case .between(let t), .atFirst(let t): t
            case .never: nil
            }
        }
    }

    /// The tokens of the last finite evaluation (a run's training tokens when it evaluates at its end).
    public var finalTokens: Double? {
        (0..<min(tokens.count, loss.count)).last { tokens[$0].isFinite && loss[$0].isFinite }.map { tokens[$0] }
    }
}

/// Per seed: tokens for run a to reach run b's final value of the target metric, divided by b's
/// tokens at its final evaluation. Seeds where a never reaches the target are censored: they are
/// counted, left out of the ratios, and make the claim untestable (the mean would be biased low).
public struct TokenRatios: Sendable, Equatable {
    /// Seeds with a ratio, ascending.
    public var seeds: [Int]
    public var ratios: [Double]
    /// Seeds present in both rows where a never reached b's target within its run.
    public var censored: [Int]
    /// Seeds where a's first evaluation already reached the target: their ratio is an upper bound.
    public var atFirst: [Int]
    public var summary: Summary

    /// `targets`: seed → b's value of the target metric; `a`: seed → a's eval curve; `bTokens`:
    /// seed → b's final tokens.
    public init(a: [Int: EvalCurve], targets: [Int: Double], bTokens: [Int: Double]) {
        var seeds: [Int] = [], ratios: [Double] = [], censored: [Int] = [], atFirst: [Int] = []
        for seed in Set(a.keys).intersection(targets.keys).intersection(bTokens.keys).sorted() {
            let target = targets[seed]!, denominator = bTokens[seed]!
            guard target.isFinite, denominator.isFinite, denominator > 0, !a[seed]!.isEmpty else { continue }
            let crossing = a[seed]!.tokensToReach(target)
            guard let t = crossing.tokens else { censored.append(seed); continue }
            if case .atFirst = crossing { atFirst.append(seed) }
            seeds.append(seed)
            ratios.append(t / denominator)
        }
        self.seeds = seeds
        self.ratios = ratios
        self.censored = censored
        self.atFirst = atFirst
        summary = Summary(ratios)
    }

    /// The ratios against 1: a one-sample t-test of mean ratio 1 (scipy `ttest_1samp(r, 1)`), its
    /// TOST around 1, and the interval of ratio − 1.
    public var againstOne: PairedDifferences {
        PairedDifferences(a: Dictionary(uniqueKeysWithValues: zip(seeds, ratios).map { ($0, $1) }),
                          b: Dictionary(uniqueKeysWithValues: seeds.map { ($0, 1.0) }))
    }
}
