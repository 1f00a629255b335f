// Data sources. Every batch is a pure function of (data seed, split, sequence index): resume
// and verification need no stream state, and any batch can be regenerated alone.
//
// Glossary: B sequences per batch, T tokens per sequence (inputs; targets are shifted by one).
import KernelCore
import Foundation
import Models
import Tensor

/// One batch: inputs and targets [B, T] and the loss mask [B, T] (1 = counts).
public struct Batch {
    public var inputs: IntTensor
    public var targets: IntTensor
    public var mask: Tensor

    public var rows: Int { inputs.shape[0] }
}

public enum Split: Int, Sendable {
    case train = 0, validation = 1
}

public protocol DataSource: Sendable {
    /// Human-readable description for logs.
    var summary: String { get }
    /// Tokens used (must be ≤ model.vocab).
    var vocabNeeded: Int { get }
    /// Sequences `first ..< first + count` of a split, each T inputs long.
    func sequences(_ split: Split, first: Int, count: Int, seqLen: Int) -> Batch
    /// The exact optimal mean loss over the first `count` validation sequences, when known.
    func optimumLoss(validationSequences count: Int, seqLen: Int) -> Double?
    /// Whether accuracy (argmax on mask positions) is a meaningful metric.
    var reportsAccuracy: Bool { get }
    /// sha256 (hex) of data read from outside the spec (a text corpus); "" when the spec alone
    /// determines the data (the synthetic sources). Recorded in the run file.
    var contentSHA256: String { get }
    /// The bytes of text the target tokens of the first `count` validation sequences stand for,
    /// when a tokenizer says (token data with data.tokens.tokenizer): the eval's bits per byte
    /// is its loss over these bytes.
    func validationTargetBytes(validationSequences count: Int, seqLen: Int) -> Int?
    /// Where each of the first `count` validation sequences comes from, when the data knows
    /// (the Markov mixture's sources, the text corpus's files): specialisation telemetry.
    func validationSources(validationSequences count: Int, seqLen: Int) -> SourceLabels?
    /// What a model that cannot recall scores on the first `count` validation sequences, when the
    /// data defines it (MQAR's guessing baseline): exact, not simulated.
    func guessingBaseline(validationSequences count: Int, seqLen: Int) -> GuessingBaseline?
    /// The whole validation split as windows of `seqLen` inputs that score each held-out token
    /// once, when the data is evaluated whole at the end of a run (text with split: documents).
    func wholeValidation(seqLen: Int) -> WholeValidation?
}

/// The validation split cut into `count` windows; `batch(first, count)` gives windows
/// first ..< first + count. Every target of the split past its first token, up to the last full
/// window, is scored exactly once.
public struct WholeValidation: Sendable {
    public var count: Int
    public var batch: @Sendable (_ first: Int, _ count: Int) -> Batch
    public init(count: Int, batch: @escaping @Sendable (Int, Int) -> Batch) {
        self.count = count
        self.batch = batch
    }
}

/// The best a model without recall can do on a validation set: its mean loss and the expected
/// accuracy of its argmax (ties broken uniformly) over the target positions.
public struct GuessingBaseline: Sendable, Equatable {
    public var loss: Double
    public var accuracy: Double
    public init(loss: Double, accuracy: Double) {
        self.loss = loss
        self.accuracy = accuracy
    }
}

/// The known source of each validation sequence: `ofSequence[i]` indexes `names`.
public struct SourceLabels: Sendable, Equatable {
    public var names: [String]
    public var ofSequence: [Int]

    public init(names: [String], ofSequence: [Int]) {
        self.names = names
        self.ofSequence = ofSequence
    }
}

extension DataSource {
    public var contentSHA256: String { "" }
    public func validationTargetBytes(validationSequences count: Int, seqLen: Int) -> Int? { nil }
    public func validationSources(validationSequences count: Int, seqLen: Int) -> SourceLabels? { nil }
    public func guessingBaseline(validationSequences count: Int, seqLen: Int) -> GuessingBaseline? { nil }
    public func wholeValidation(seqLen: Int) -> WholeValidation? { nil }
}

extension DataSource {
    /// The training batch of `step` (all micro-batches): sequences step·B ..< (step+1)·B.
    public func trainBatch(step: Int, batchSize: Int, seqLen: Int) -> Batch {
        sequences(.train, first: step * batchSize, count: batchSize, seqLen: seqLen)
    }
}

extension Batch {
    /// Rows `range` (a micro-batch).
    public func rows(_ range: Range<Int>) -> Batch {
        let t = inputs.shape[1]
        let lo = range.lowerBound * t, hi = range.upperBound * t
        return Batch(inputs: IntTensor(shape: [range.count, t], scalars: Array(inputs.scalars[lo..<hi])),
                     targets: IntTensor(shape: [range.count, t], scalars: Array(targets.scalars[lo..<hi])),
                     mask: Tensor(shape: [range.count, t], scalars: Array(mask.scalars[lo..<hi])))
    }
}

/// Draws from a categorical distribution (cumulative probabilities) with one uniform number.
@inline(__always)
func sampleCategorical(_ cumulative: ArraySlice<Double>, _ u: Double) -> Int {
    var low = cumulative.startIndex, high = cumulative.endIndex - 1
    while low < high {
        let mid = (low + high) / 2
        if cumulative[mid] > u { high = mid } else { low = mid + 1 }
    }
    return low - cumulative.startIndex
}

/// A uniform Double in [0, 1) from two 32-bit words at counter index `i` (53 bits).
@inline(__always)
func uniformDouble(_ stream: RandomStream, _ i: UInt64) -> Double {
    let (a, b, _, _) = stream.words(block: i)
    let bits = (UInt64(a) << 21) ^ UInt64(b >> 11)
    return Double(bits & ((1 << 53) - 1)) / Double(UInt64(1) << 53)
}

/// A standard normal in Double at counter index i (Box–Muller on two 53-bit uniforms).
@inline(__always)
func normalDouble(_ stream: RandomStream, _ i: UInt64) -> Double {
    let (a, b, c, d) = stream.words(block: i)
    let u1 = (Double((UInt64(a) << 21) ^ UInt64(b >> 11)) + 1) / (Double(UInt64(1) << 53) + 1)
    let u2 = Double((UInt64(c) << 21) ^ UInt64(d >> 11)) / Double(UInt64(1) << 53)
    return (-2 * DetMath.log(u1)).squareRoot() * DetMath.cos(2 * Double.pi * u2)
}

/// Gamma(shape, 1) by Marsaglia–Tsang (with the U^(1/a) boost for shape < 1), drawing from
/// `stream` at counters starting at `counter` (a rejection loop: it advances the counter).
func sampleGamma(_ shape: Double, _ stream: RandomStream, counter: inout UInt64) -> Double {
    if shape < 1 {
        let boost = DetMath.pow(uniformDouble(stream, counter), 1 / shape)
        counter += 1
        return sampleGamma(shape + 1, stream, counter: &counter) * max(boost, Double.leastNormalMagnitude)
    }
    let d = shape - 1.0 / 3, c = 1 / (9 * d).squareRoot()
    while true {
        let x = normalDouble(stream, counter)
        let u = uniformDouble(stream, counter + 1)
        counter += 2
        let v0 = 1 + c * x
        if v0 <= 0 { continue }
        let v = v0 * v0 * v0
        if u < 1 - 0.0331 * x * x * x * x || DetMath.log(u) < 0.5 * x * x + d * (1 - v + DetMath.log(v)) {
            return d * v
        }
    }
}
