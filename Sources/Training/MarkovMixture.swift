// markov_mixture: K order-1 Markov sources over V_s symbols. Each source's transition rows are
// drawn from a symmetric Dirichlet(α) by the data seed; the first symbol is uniform. Each
// sequence comes from one source picked uniformly. The Bayes-optimal predictor keeps a
// posterior over sources given the prefix; its mean loss on the validation set is computed
// exactly (in Double) so every run reports its gap to the optimum.
import KernelCore
import Foundation
import Models
import Tensor

public struct MarkovMixture: DataSource {
    public let config: MarkovMixtureConfig
    public let seed: Int
    /// Cumulative transition probabilities [K][V_s · V_s] (row-major: from → to).
    let cumulative: [[Double]]
    /// Transition probabilities [K][V_s · V_s].
    let transitions: [[Double]]

    public init(config: MarkovMixtureConfig, seed: Int) {
        self.config = config
        self.seed = seed
        let v = config.symbols
        var transitions: [[Double]] = []
        var cumulative: [[Double]] = []
        for source in 0..<config.sources {
            var table = [Double](repeating: 0, count: v * v)
            var cum = table
            for from in 0..<v {
                let stream = RandomStream(seed: UInt64(seed), stream: RNGPurpose.dataTables.stream(source * v + from))
                var counter: UInt64 = 0
                var row = (0..<v).map { _ in sampleGamma(config.alpha, stream, counter: &counter) }
                var total = row.reduce(0, +)
                if total <= 0 || !total.isFinite {  // all draws underflowed: fall back to one-hot
                    row = (0..<v).map { $0 == from ? 1 : 0 }
                    total = 1
                }
                var running = 0.0
                for to in 0..<v {
                    table[from * v + to] = row[to] / total
                    running += row[to] / total
                    cum[from * v + to] = running
                }
                cum[from * v + v - 1] = 1
            }
            transitions.append(table)
            cumulative.append(cum)
        }
        self.transitions = transitions
        self.cumulative = cumulative
    }

    public var summary: String {
        "markov_mixture(K=\(config.sources), V_s=\(config.symbols), α=\(config.alpha), seed \(seed))"
    }
    public var vocabNeeded: Int { config.symbols }
    public var reportsAccuracy: Bool { false }

    /// Symbols of sequence `index` of `split` (T + 1 of them) and its source.
    func sequence(_ split: Split, index: Int, length: Int) -> (source: Int, symbols: [Int32]) {
        let purpose: RNGPurpose = split == .train ? .dataSequences : .dataValidation
        let stream = RandomStream(seed: UInt64(seed), stream: purpose.stream(index))
        let v = config.symbols
        let source = min(Int(uniformDouble(stream, 0) * Double(config.sources)), config.sources - 1)
        var symbols = [Int32](repeating: 0, count: length)
        var current = min(Int(uniformDouble(stream, 1) * Double(v)), v - 1)
        symbols[0] = Int32(current)
        let table = cumulative[source]
        for position in 1..<length {
            let row = table[(current * v)..<(current * v + v)]
            current = sampleCategorical(row, uniformDouble(stream, UInt64(position + 1)))
            symbols[position] = Int32(current)
        }
        return (source, symbols)
    }

    public func sequences(_ split: Split, first: Int, count: Int, seqLen: Int) -> Batch {
        var inputs: [Int32] = [], targets: [Int32] = []
        inputs.reserveCapacity(count * seqLen)
        targets.reserveCapacity(count * seqLen)
        for index in first..<(first + count) {
            let symbols = sequence(split, index: index, length: seqLen + 1).symbols
            inputs += symbols[0..<seqLen]
            targets += symbols[1...seqLen]
        }
        return Batch(inputs: IntTensor(shape: [count, seqLen], scalars: inputs),
                     targets: IntTensor(shape: [count, seqLen], scalars: targets),
                     mask: Tensor.ones([count, seqLen]))
    }

    /// Every validation sequence comes from one source (of K, all named even when unused).
    public func validationSources(validationSequences count: Int, seqLen: Int) -> SourceLabels? {
        SourceLabels(names: (0..<config.sources).map { "source \($0)" },
                     ofSequence: (0..<count).map { sequence(.validation, index: $0, length: seqLen + 1).source })
    }

    public func optimumLoss(validationSequences count: Int, seqLen: Int) -> Double? {
        let v = config.symbols, k = config.sources
        var total = 0.0
        for index in 0..<count {
            let symbols = sequence(.validation, index: index, length: seqLen + 1).symbols
            // Posterior over sources after the first symbol (uniform start: no information).
            var logWeights = [Double](repeating: -DetMath.log(Double(k)), count: k)
            for position in 1...seqLen {
                let from = Int(symbols[position - 1]), to = Int(symbols[position])
                // p(x_t | prefix) = Σ_k w_k · P_k(to | from), in log space for stability.
                let maxLog = logWeights.max()!
                var predictive = 0.0, norm = 0.0
                for source in 0..<k {
                    let w = DetMath.exp(logWeights[source] - maxLog)
                    norm += w
                    predictive += w * transitions[source][from * v + to]
                }
                total -= DetMath.log(predictive / norm)
                for source in 0..<k {
                    logWeights[source] += DetMath.log(max(transitions[source][from * v + to], Double.leastNonzeroMagnitude))
                }
            }
        }
        return total / Double(count * seqLen)
    }
}
