// MQAR's guessing baseline: the exact loss and argmax accuracy of the best strategy without
// recall, against a simulation of that strategy and against a case small enough to work out by
// hand.
import Foundation
import Testing
@testable import Training

@Suite struct MQARBaselineTests {
    /// SplitMix64: a reproducible stream for the simulation's tie-breaks.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Plays the strategy: at each answer, pick uniformly among the most frequent values not yet
    /// answered; count hits. Written from the sequences' tokens, apart from `guessShares`.
    static func simulatedAccuracy(_ data: MQAR, sequences: Int, seqLen: Int, rounds: Int) -> (mean: Double, standardError: Double) {
        var generator = SplitMix(state: 12345)
        var hits: [Double] = []
        for round in 0..<rounds {
            var roundHits = 0, answers = 0
            for index in 0..<sequences {
                let (tokens, answer) = data.sequence(.validation, index: index, length: seqLen + 1)
                var left = (0..<data.config.pairs).map { tokens[2 * $0 + 1] }
                for position in 1..<tokens.count where answer[position] {
                    var counts: [Int32: Int] = [:]
                    for v in left { counts[v, default: 0] += 1 }
                    let most = counts.values.max()!
                    let modes = counts.keys.filter { counts[$0] == most }.sorted()
                    let guess = modes[Int.random(in: 0..<modes.count, using: &generator)]
                    if guess == tokens[position] { roundHits += 1 }
                    answers += 1
                    left.remove(at: left.firstIndex(of: tokens[position])!)
                }
            }
            _ = round
            hits.append(Double(roundHits) / Double(answers))
        }
        let mean = hits.reduce(0, +) / Double(rounds)
        let variance = hits.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(rounds - 1)
        return (mean, (variance / Double(rounds)).squareRoot())
    }

    @Test func baselineMatchesASimulationOfTheStrategy() throws {
        let data = MQAR(config: MQARConfig(pairs: 8, queries: 6, keyVocab: 16, valueVocab: 6), seed: 3)
        let exact = try #require(data.guessingBaseline(validationSequences: 64, seqLen: 28))
        let simulated = Self.simulatedAccuracy(data, sequences: 64, seqLen: 28, rounds: 200)
        // Only the tie-breaks are random: the simulation's mean is the exact expectation ± noise.
        #expect(abs(simulated.mean - exact.accuracy) < 4 * simulated.standardError + 1e-12,
                "simulated \(simulated.mean) ± \(simulated.standardError), exact \(exact.accuracy)")
        #expect(simulated.standardError > 0 && exact.accuracy > 0.2 && exact.accuracy < 0.9)
        // The loss is the mean of −log(share of the true value among the values not yet answered).
        let shares = (0..<64).flatMap { index -> [Double] in
            let (tokens, answer) = data.sequence(.validation, index: index, length: 29)
            return MQAR.guessShares(tokens: tokens, answer: answer, pairs: 8).map(\.probability)
        }
        #expect(shares.count == 64 * 6)
        #expect(abs(exact.loss - shares.reduce(0) { $0 - log($1) } / Double(shares.count)) < 1e-12)
    }

    /// Two pairs, both queried, two values: half the sequences repeat the value (both answers
    /// certain); the other half has a coin flip at the first answer and certainty at the second.
    /// Expectation: loss ln 2 / 4, accuracy 7/8.
    @Test func twoPairsOfTwoValuesGiveTheHandComputedBaseline() throws {
        let data = MQAR(config: MQARConfig(pairs: 2, queries: 2, keyVocab: 4, valueVocab: 2), seed: 0)
        let exact = try #require(data.guessingBaseline(validationSequences: 4000, seqLen: 8))
        #expect(abs(exact.loss - log(2) / 4) < 0.01, "\(exact.loss)")
        #expect(abs(exact.accuracy - 0.875) < 0.01, "\(exact.accuracy)")
        // One sequence worked by hand: values v, w (distinct), queries in either order.
        let shares = MQAR.guessShares(tokens: [0, 4, 1, 5, 1, 5, 0, 4, 6], answer: [false, false, false, false, false, true, false, true, false], pairs: 2)
        #expect(shares.map(\.probability) == [0.5, 1] && shares.map(\.argmaxHit) == [0.5, 1])
        let same = MQAR.guessShares(tokens: [0, 4, 1, 4, 1, 4, 0, 4, 6], answer: [false, false, false, false, false, true, false, true, false], pairs: 2)
        #expect(same.map(\.probability) == [1, 1] && same.map(\.argmaxHit) == [1, 1])
    }

    /// Data without a recall task has no baseline.
    @Test func otherDataHasNoBaseline() {
        let markov = MarkovMixture(config: MarkovMixtureConfig.defaults, seed: 0)
        #expect(markov.guessingBaseline(validationSequences: 4, seqLen: 16) == nil)
    }
}
