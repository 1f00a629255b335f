// mqar: multi-query associative recall (Zoology). A sequence shows `pairs` key-value pairs
// (distinct keys), then `queries` of those keys, each followed by its value. The loss and the
// accuracy count only the answer positions (input = a query key, target = its value), where
// the answer is determined by the prefix: the optimal loss is 0.
//
// Tokens: keys 0 ..< key_vocab, values key_vocab ..< key_vocab + value_vocab, and the filler
// token key_vocab + value_vocab after the queries (never a target).
//
// The guessing baseline: a model that cannot bind a key to its value still sees which values
// the pairs hold and which of them earlier answers used. The best it can do is predict the
// values not yet answered, each with its share of them. Its loss and the accuracy of its argmax
// are computed exactly over the validation set and recorded beside the model's (docs/data.md).
import KernelCore
import Models
import Tensor

public struct MQAR: DataSource {
    public let config: MQARConfig
    public let seed: Int

    public init(config: MQARConfig, seed: Int) {
        self.config = config
        self.seed = seed
    }

    public var summary: String {
        "mqar(pairs=\(config.pairs), queries=\(config.queries), keys=\(config.keyVocab), values=\(config.valueVocab), seed \(seed))"
    }
    public var vocabNeeded: Int { config.keyVocab + config.valueVocab + 1 }
    public var reportsAccuracy: Bool { true }
    var filler: Int32 { Int32(config.keyVocab + config.valueVocab) }

    /// Tokens (T + 1) and answer flags (for targets) of one sequence.
    func sequence(_ split: Split, index: Int, length: Int) -> (tokens: [Int32], answer: [Bool]) {
        let purpose: RNGPurpose = split == .train ? .dataSequences : .dataValidation
        let stream = RandomStream(seed: UInt64(seed), stream: purpose.stream(index))
        var counter: UInt64 = 0
        func draw(_ n: Int) -> Int {
            defer { counter += 1 }
            return min(Int(uniformDouble(stream, counter) * Double(n)), n - 1)
        }
        // Distinct keys: a partial Fisher–Yates shuffle of 0 ..< key_vocab.
        var keys = Array(0..<config.keyVocab)
        for i in 0..<config.pairs {
            let j = i + draw(config.keyVocab - i)
            keys.swapAt(i, j)
        }
        let values = (0..<config.pairs).map { _ in config.keyVocab + draw(config.valueVocab) }
        var tokens: [Int32] = []
        var answer: [Bool] = []
        for i in 0..<config.pairs {
            tokens += [Int32(keys[i]), Int32(values[i])]
            answer += [false, false]
        }
        // Queries: distinct earlier pairs, in random order.
        var order = Array(0..<config.pairs)
        for i in 0..<config.queries {
            let j = i + draw(config.pairs - i)
            order.swapAt(i, j)
        }
        for i in 0..<config.queries {
            tokens += [Int32(keys[order[i]]), Int32(values[order[i]])]
            answer += [false, true]
        }
        while tokens.count < length {
            tokens.append(filler)
            answer.append(false)
        }
        return (Array(tokens.prefix(length)), Array(answer.prefix(length)))
    }

    public func sequences(_ split: Split, first: Int, count: Int, seqLen: Int) -> Batch {
        var inputs: [Int32] = [], targets: [Int32] = [], mask: [Float] = []
        for index in first..<(first + count) {
            let (tokens, answer) = sequence(split, index: index, length: seqLen + 1)
            inputs += tokens[0..<seqLen]
            targets += tokens[1...seqLen]
            mask += answer[1...seqLen].map { $0 ? 1 : 0 }
        }
        return Batch(inputs: IntTensor(shape: [count, seqLen], scalars: inputs),
                     targets: IntTensor(shape: [count, seqLen], scalars: targets),
                     mask: Tensor(shape: [count, seqLen], scalars: mask))
    }

    public func optimumLoss(validationSequences count: Int, seqLen: Int) -> Double? { 0 }

    public func guessingBaseline(validationSequences count: Int, seqLen: Int) -> GuessingBaseline? {
        var lossSum = 0.0, accuracySum = 0.0, answers = 0
        for index in 0..<count {
            let (tokens, answer) = sequence(.validation, index: index, length: seqLen + 1)
            for share in Self.guessShares(tokens: tokens, answer: answer, pairs: config.pairs) {
                lossSum -= DetMath.log(share.probability)
                accuracySum += share.argmaxHit
                answers += 1
            }
        }
        guard answers > 0 else { return nil }
        return GuessingBaseline(loss: lossSum / Double(answers), accuracy: accuracySum / Double(answers))
    }

    /// For each answer among the targets (positions 1 ..< tokens.count, in order): the
    /// probability the no-recall predictor gives the true value (its count among the values not
    /// yet answered over their number) and the expected hit of its argmax (1/m when the true
    /// value is one of m most frequent, else 0).
    static func guessShares(tokens: [Int32], answer: [Bool], pairs: Int) -> [(probability: Double, argmaxHit: Double)] {
        var remaining: [Int32: Int] = [:]
        for i in 0..<pairs where 2 * i + 1 < tokens.count { remaining[tokens[2 * i + 1], default: 0] += 1 }
        var total = remaining.values.reduce(0, +)
        var shares: [(Double, Double)] = []
        for position in 1..<tokens.count where answer[position] {
            let value = tokens[position], count = remaining[value] ?? 0
            let most = remaining.values.max() ?? 0
            let modes = remaining.values.filter { $0 == most }.count
            shares.append((Double(count) / Double(max(total, 1)), count == most && count > 0 ? 1 / Double(modes) : 0))
            if count > 0 { remaining[value] = count - 1; total -= 1 }
        }
        return shares
    }
}
