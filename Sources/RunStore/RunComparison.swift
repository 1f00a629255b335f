// Bitwise comparison of two run files, dataset by dataset: every logged metric (train and
// eval), every MoE series, every tensor snapshot and the final checkpoint's parameters,
// optimizer moments and balancing biases. Wall-clock fields (tokens_per_s, cpu_s) are left out.
// The basis of `ablate verify` and of the resume and thread-count tests.

public struct RunComparison: Sendable {
    public struct Entry: Sendable {
        public var name: String
        public var identical: Bool
        /// Why not, when not: lengths, or the first differing index and values.
        public var detail: String
    }

    public var entries: [Entry]
    public var identical: Bool { entries.allSatisfy(\.identical) }

    /// Fields that measure the machine, not the computation.
    public static let wallClockFields: Set<String> = ["metrics/train/tokens_per_s", "metrics/train/cpu_s"]

    /// Compares `a` and `b`. With `steps`, only rows of steps < `steps` are compared and the
    /// final checkpoints are left out (a partial re-execution has a different last checkpoint).
    public static func compare(_ a: RunFileReader, _ b: RunFileReader, steps: Int? = nil) throws -> RunComparison {
        var entries: [Entry] = []
        func add(_ name: String, _ x: [UInt64], _ y: [UInt64]) {
            if x == y {
                entries.append(Entry(name: name, identical: true, detail: "\(x.count) values"))
            } else if x.count != y.count {
                entries.append(Entry(name: name, identical: false, detail: "\(x.count) vs \(y.count) values"))
            } else {
                let index = x.indices.first { x[$0] != y[$0] } ?? 0
                entries.append(Entry(name: name, identical: false, detail: "first difference at index \(index)"))
            }
        }
        func bits(_ values: [Double]) -> [UInt64] { values.map(\.bitPattern) }
        func bits(_ values: [Float]) -> [UInt64] { values.map { UInt64($0.bitPattern) } }
        func bits(_ values: [Int64]) -> [UInt64] { values.map { UInt64(bitPattern: $0) } }
        func rows(_ stepsColumn: [Int64]) -> Int {
            guard let steps else { return stepsColumn.count }
            return stepsColumn.prefix { $0 < Int64(steps) }.count
        }

        for (group, tableA, tableB) in [("metrics/train", try a.trainMetrics(), try b.trainMetrics()),
                                        ("metrics/eval", try a.evalMetrics(), try b.evalMetrics())] {
            let (na, nb) = (rows(tableA.steps), rows(tableB.steps))
            add("\(group)/step", bits(Array(tableA.steps.prefix(na))), bits(Array(tableB.steps.prefix(nb))))
            for name in Set(tableA.columns.keys).union(tableB.columns.keys).sorted() {
                let field = "\(group)/\(name)"
                if wallClockFields.contains(field) { continue }
                add(field, bits(Array((tableA.columns[name] ?? []).prefix(na))), bits(Array((tableB.columns[name] ?? []).prefix(nb))))
            }
        }
        let trainRowsA = rows(try a.trainMetrics().steps), trainRowsB = rows(try b.trainMetrics().steps)
        let layersA = try a.moeLayers(), layersB = try b.moeLayers()
        if layersA.count != layersB.count {
            entries.append(Entry(name: "moe", identical: false, detail: "\(layersA.count) vs \(layersB.count) layers"))
        }
        for (la, lb) in zip(layersA, layersB) {
            let p = "moe/layer_\(la.layer)"
            add("\(p)/load", bits(Array(la.load.prefix(trainRowsA * la.experts))), bits(Array(lb.load.prefix(trainRowsB * lb.experts))))
            add("\(p)/bias", bits(Array(la.bias.prefix(trainRowsA * la.experts))), bits(Array(lb.bias.prefix(trainRowsB * lb.experts))))
            add("\(p)/maxvio", bits(Array(la.maxvio.prefix(trainRowsA))), bits(Array(lb.maxvio.prefix(trainRowsB))))
            add("\(p)/entropy", bits(Array(la.entropy.prefix(trainRowsA))), bits(Array(lb.entropy.prefix(trainRowsB))))
            add("\(p)/dropped", bits(Array(la.dropped.prefix(trainRowsA))), bits(Array(lb.dropped.prefix(trainRowsB))))
        }
        for name in Set(try a.tensorNames()).union(try b.tensorNames()).sorted() {
            let ta = try? a.tensor(name), tb = try? b.tensor(name)
            let perA = ta.map { $0.shape.reduce(1, *) } ?? 0, perB = tb.map { $0.shape.reduce(1, *) } ?? 0
            let ka = rows(ta?.steps ?? []), kb = rows(tb?.steps ?? [])
            add("tensors/\(name)", bits(Array((ta?.values ?? []).prefix(ka * perA))), bits(Array((tb?.values ?? []).prefix(kb * perB))))
        }
        if steps == nil {
            let ca = try a.checkpoint(), cb = try b.checkpoint()
            add("checkpoint/step", bits([Int64(ca?.step ?? -1)]), bits([Int64(cb?.step ?? -1)]))
            for (part, xa, xb) in [("parameters", ca?.parameters, cb?.parameters), ("optimizer_m", ca?.adamM, cb?.adamM),
                                   ("optimizer_v", ca?.adamV, cb?.adamV), ("balancing_bias", ca?.balancingBiases, cb?.balancingBiases)] {
                let names = Set((xa ?? [:]).keys).union((xb ?? [:]).keys).sorted()
                for name in names {
                    add("checkpoint/\(part)/\(name)", bits(xa?[name]?.values ?? []), bits(xb?[name]?.values ?? []))
                }
            }
        }
        return RunComparison(entries: entries)
    }
}
