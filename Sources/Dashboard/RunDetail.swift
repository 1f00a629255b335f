// The run page's data: spec and provenance, every metric (downsampled), per MoE layer the
// expert-load heatmap over steps, MaxVio and the balancing biases, and the tensor snapshots
// (c_kv spectrum, attention maps, router probabilities, expert specialisation by source) where
// the run stored any.
import Foundation
import RunStore

enum RunDetail {
    /// Points per metric curve and columns of a heatmap.
    static let curvePoints = 500
    static let heatmapColumns = 160

    static func read(_ path: String, relative: String) throws -> JSONValue {
        let reader = try RunFileReader(path: path)
        defer { reader.close() }
        let a = try reader.attributes()
        let spec = try reader.spec()
        let train = try reader.trainMetrics()
        let eval = try reader.evalMetrics()
        let layers = try reader.moeLayers()
        var tensors: [TensorSeries] = []
        for name in try reader.tensorNames() { tensors.append(try reader.tensor(name)) }

        let maxStep = max(train.steps.last ?? 0, eval.steps.last ?? 0)
        let width = Downsample.width(maxStep: maxStep, buckets: curvePoints)
        let provenance: [(String, String)] = [
            ("run id", a.run.runID), ("spec", a.run.specName), ("label", a.run.label), ("seed", "\(a.run.seed)"),
            ("spec sha256", a.run.specSHA256), ("harness version", a.provenance.version),
            ("git commit", a.provenance.gitCommit + (a.provenance.gitDirty == true ? " (dirty)" : "")),
            ("build", a.provenance.buildConfiguration), ("kernel path", a.run.isa),
            ("kernel version", a.run.kernelVersion), ("threads", "\(a.run.threads)"),
            ("cpu", a.provenance.cpuModel), ("os", a.provenance.os), ("swift", a.provenance.swiftVersion),
            ("hdf5", a.provenance.hdf5Version), ("created", a.createdUTC), ("updated", a.updatedUTC),
            ("finished", a.finishedUTC),
        ]
        var out: [String: JSONValue] = [
            "path": .string(relative), "run_id": .string(a.run.runID), "spec_name": .string(a.run.specName),
            "label": .string(a.run.label), "seed": .int(a.run.seed), "status": .string(a.status.rawValue),
            "last_step": .int(a.lastStep), "total_steps": SpecText.trainSteps(spec.resolved).map { .int($0) } ?? .null,
            "diverged_step": .int(a.divergedStep), "error": .string(a.error),
            "provenance": .list(provenance.map { .list([.string($0.0), .string($0.1)]) }),
            "model": .map(Dictionary(uniqueKeysWithValues: a.run.modelStats.keys.sorted().map { ($0, .int(Int(a.run.modelStats[$0]!))) })),
            "spec": ["given": .string(spec.given), "overrides": .strings(spec.overrides), "resolved": .string(spec.resolved)],
        ]
        out.append("train", metrics(train, width: width))
        out.append("eval", metrics(eval, width: eval.steps.count > curvePoints ? width : 1))
        out.append("optimum", (eval.columns["optimum"] ?? []).last(where: \.isFinite).map { .double($0) } ?? .null)

        let mapWidth = Downsample.width(maxStep: train.steps.last ?? 0, buckets: heatmapColumns)
        out.append("moe", .list(layers.map { layer in
            let e = layer.experts
            let n = min(train.steps.count, e > 0 ? layer.load.count / e : 0)
            // Load as a multiple of the balanced share: 1 = every expert gets tokens/E.
            var share = [Double](repeating: 0, count: n * e)
            for row in 0..<n {
                let total = (0..<e).reduce(0.0) { $0 + Double(layer.load[row * e + $1]) }
                for c in 0..<e { share[row * e + c] = total > 0 ? Double(layer.load[row * e + c]) * Double(e) / total : 0 }
            }
            let steps = Array(train.steps.prefix(n))
            let heat = Downsample.rows(steps: steps, matrix: share, columns: e, width: mapWidth)
            let bias = Downsample.rows(steps: steps, matrix: layer.bias.prefix(n * e).map(Double.init), columns: e, width: width)
            let maxvio = Downsample.series(steps: steps, values: Array(layer.maxvio.prefix(n)), width: width)
            return [
                "layer": .int(layer.layer), "experts": .int(e),
                "load_steps": .ints(heat.steps), "load_share": .list(heat.rows.map(JSONValue.numbers)),
                "bias_steps": .ints(bias.steps), "bias": .list(bias.rows.map(JSONValue.numbers)),
                "maxvio_steps": .ints(maxvio.map(\.step)), "maxvio": .numbers(maxvio.map(\.value)),
            ]
        }))
        out.append("tensors", .list(tensors.map(tensor)))
        return .map(out)
    }

    static func metrics(_ table: MetricTable, width: Int64) -> JSONValue {
        var columns: [String: JSONValue] = [:]
        var steps: [Int64] = []
        for name in table.columns.keys.sorted() {
            let points = Downsample.series(steps: table.steps, values: table.columns[name]!, width: width)
            columns.append(name, ["steps": .ints(points.map(\.step)), "values": .numbers(points.map(\.value))])
            if points.count > steps.count { steps = points.map(\.step) }
        }
        return ["rows": .int(table.steps.count), "last_step": table.steps.last.map { .int(Int($0)) } ?? .null,
                "columns": .map(columns)]
    }

    /// One tensor: its steps and what the page draws. c_kv spectra are small ([k, d_c]) and
    /// sent whole; attention maps send the last snapshot ([head, sequence, query, key]: every
    /// head of the first probe sequence); router probabilities the mean over tokens per snapshot.
    static func tensor(_ series: TensorSeries) -> JSONValue {
        let k = series.steps.count
        let size = series.shape.reduce(1, *)
        var out: [String: JSONValue] = ["name": .string(series.name), "axes": .strings(series.axes),
                                       "shape": .ints(series.shape), "steps": .ints(series.steps)]
        guard k > 0, size > 0, series.values.count >= k * size else {
            out.append("kind", .string("empty"))
            return .map(out)
        }
        func snapshot(_ j: Int) -> ArraySlice<Float> { series.values[(j * size)..<((j + 1) * size)] }
        if series.name.hasPrefix("ckv_spectrum") {
            out.append("kind", .string("spectrum"))
            out.append("values", .list((0..<k).map { j in .numbers(snapshot(j).map(Double.init)) }))
        } else if series.name.hasPrefix("attention"), series.shape.count == 4 {
            let (heads, t) = (series.shape[0], series.shape[2])
            let last = Array(snapshot(k - 1))
            let perHead = series.shape[1] * t * series.shape[3]
            out.append("kind", .string("attention"))
            out.append("step", .int(Int(series.steps[k - 1])))
            out.append("maps", .list((0..<heads).map { h in
                .list((0..<t).map { q in
                    .numbers((0..<series.shape[3]).map { key in Double(last[h * perHead + q * series.shape[3] + key]) })
                })
            }))
        } else if series.name.hasPrefix("router"), series.shape.count == 2 {
            let (tokens, experts) = (series.shape[0], series.shape[1])
            out.append("kind", .string("router"))
            out.append("values", .list((0..<k).map { j in
                let s = Array(snapshot(j))
                return .numbers((0..<experts).map { e in
                    (0..<tokens).reduce(0.0) { $0 + Double(s[$1 * experts + e]) } / Double(max(tokens, 1))
                })
            }))
        } else if series.name == "source_loads", series.shape.count == 3 {
            // The last evaluation's selections per (layer, source, expert) as each source's share
            // per expert, arranged for the heatmap: per layer, columns = experts, rows = sources.
            let (layers, sources, experts) = (series.shape[0], series.shape[1], series.shape[2])
            let last = Array(snapshot(k - 1))
            out.append("kind", .string("specialisation"))
            out.append("step", .int(Int(series.steps[k - 1])))
            out.append("layers", .strings(series.labels["layer"] ?? (0..<layers).map { "\($0)" }))
            out.append("sources", .strings(series.labels["source"] ?? (0..<sources).map { "\($0)" }))
            out.append("share", .list((0..<layers).map { l in
                let base = l * sources * experts
                let totals = (0..<sources).map { s in (0..<experts).reduce(0.0) { $0 + Double(last[base + s * experts + $1]) } }
                return .list((0..<experts).map { e in
                    .numbers((0..<sources).map { s in totals[s] > 0 ? Double(last[base + s * experts + e]) / totals[s] : 0 })
                })
            }))
        } else if series.name == "source_mi", series.shape.count == 1 {
            out.append("kind", .string("source_mi"))
            out.append("layers", .strings(series.labels["layer"] ?? (0..<series.shape[0]).map { "\($0)" }))
            out.append("values", .list((0..<k).map { j in .numbers(snapshot(j).map(Double.init)) }))
        } else {
            out.append("kind", .string("other"))
        }
        return .map(out)
    }
}
