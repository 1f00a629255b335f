// Expert specialisation telemetry (MODEL.md "Balance scope", last item): on data whose
// validation sequences have known sources, how each MoE layer's selections split over
// (source, expert), and the mutual information between the source of a token and the experts
// it selects. Each token contributes its k selections; counts are exact integers, the MI is
// computed from them in Double in a fixed order.
import KernelCore

public struct Specialisation: Sendable, Equatable {
    /// Source names (`SourceLabels.names`).
    public var sources: [String]
    /// The main model's MoE layers, in order.
    public var layers: [Int]
    public var experts: Int
    /// Selections per (layer, source, expert), row-major [layers, sources, experts].
    public var loads: [Int]
    public init(sources: [String], layers: [Int], experts: Int, loads: [Int]) {
        self.sources = sources
        self.layers = layers
        self.experts = experts
        self.loads = loads
    }

    /// I(source; selected expert) per layer, in nats.
    public var mutualInformation: [Double] {
        let block = sources.count * experts
        return layers.indices.map { i in
            Self.mutualInformation(counts: Array(loads[(i * block)..<((i + 1) * block)]), rows: sources.count, columns: experts)
        }
    }

    /// I(X; Y) in nats of the joint distribution given by `counts` [rows, columns] (row-major):
    /// Σ p(x, y)·log(p(x, y) / (p(x)·p(y))) over the non-zero cells; 0 for no counts.
    public static func mutualInformation(counts: [Int], rows: Int, columns: Int) -> Double {
        let total = Double(counts.reduce(0, +))
        guard total > 0 else { return 0 }
        var rowSums = [Double](repeating: 0, count: rows), columnSums = [Double](repeating: 0, count: columns)
        for r in 0..<rows {
            for c in 0..<columns {
                rowSums[r] += Double(counts[r * columns + c])
                columnSums[c] += Double(counts[r * columns + c])
            }
        }
        var mi = 0.0
        for r in 0..<rows {
            for c in 0..<columns where counts[r * columns + c] > 0 {
                let n = Double(counts[r * columns + c])
                mi += n / total * DetMath.log(n * total / (rowSums[r] * columnSums[c]))
            }
        }
        return max(mi, 0)
    }

    /// Adds one forward pass's selections: `selected` N·k experts of a layer's tokens, the
    /// tokens of `sequences` sequences of length `seqLen` whose sources are `sourceOf`.
    mutating func count(layerIndex i: Int, selected: [Int32], k: Int, seqLen: Int, sourceOf: ArraySlice<Int>) {
        let block = sources.count * experts
        for (index, expert) in selected.enumerated() {
            let source = sourceOf[sourceOf.startIndex + index / k / seqLen]
            loads[i * block + source * experts + Int(expert)] += 1
        }
    }
}
