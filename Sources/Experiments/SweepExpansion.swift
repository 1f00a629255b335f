// Sweep expansion. The order is part of the interface (cell indices name Slurm array tasks):
//   1. `cells` in the order written (or one empty cell when absent),
//   2. crossed with `grid`: axes in sorted key order, the last axis varying fastest,
//   3. crossed with `zip`: its lists taken together, position by position,
//   4. crossed with `seeds`, innermost, in the order written.
import Config

enum SweepExpansion {
    typealias Point = [(path: String, value: ConfigValue)]

    static func points(_ sweep: ConfigValue, seeds: ConfigValue?, file: String) throws(ConfigErrors) -> [Point] {
        var problems: [ConfigProblem] = []
        var points: [Point] = [[]]

        if case .list(let cells)? = sweep["cells"] {
            points = []
            for (index, cell) in cells.enumerated() {
                guard case .map(let map) = cell, !map.isEmpty else {
                    problems.append(ConfigProblem(file: file, path: "sweep.cells[\(index)]", "expected a mapping of key.path: value"))
                    continue
                }
                points.append(map.keys.sorted().map { ($0, map[$0]!) })
            }
        } else if let other = sweep["cells"], other != .null {
            problems.append(ConfigProblem(file: file, path: "sweep.cells", "expected a list of mappings, got \(other.typeName)"))
        }

        if case .map(let grid)? = sweep["grid"] {
            for key in grid.keys.sorted() {
                guard case .list(let values) = grid[key]!, !values.isEmpty else {
                    problems.append(ConfigProblem(file: file, path: "sweep.grid.\(key)", "expected a non-empty list of values"))
                    continue
                }
                points = points.flatMap { point in values.map { point + [(key, $0)] } }
            }
        } else if let other = sweep["grid"], other != .null {
            problems.append(ConfigProblem(file: file, path: "sweep.grid", "expected a mapping of key.path: [values], got \(other.typeName)"))
        }

        if case .map(let zipped)? = sweep["zip"] {
            let keys = zipped.keys.sorted()
            var lists: [[ConfigValue]] = []
            for key in keys {
                if case .list(let values) = zipped[key]!, !values.isEmpty { lists.append(values) } else {
                    problems.append(ConfigProblem(file: file, path: "sweep.zip.\(key)", "expected a non-empty list of values"))
                }
            }
            if lists.count == keys.count, let length = lists.first?.count {
                if lists.contains(where: { $0.count != length }) {
                    problems.append(ConfigProblem(file: file, path: "sweep.zip",
                        "lists must have equal lengths, got " + zip(keys, lists).map { "\($0)=\($1.count)" }.joined(separator: ", ")))
                } else {
                    points = points.flatMap { point in (0..<length).map { i in point + keys.indices.map { (keys[$0], lists[$0][i]) } } }
                }
            }
        } else if let other = sweep["zip"], other != .null {
            problems.append(ConfigProblem(file: file, path: "sweep.zip", "expected a mapping of key.path: [values], got \(other.typeName)"))
        }

        for point in points {
            for (path, _) in point where path == "seed" || path == "seeds" || path == "name" || path.hasPrefix("sweep") {
                problems.append(ConfigProblem(file: file, path: "sweep", "'\(path)' cannot be swept (use seeds for seeds)"))
            }
        }
        if !problems.isEmpty { throw ConfigErrors(problems) }

        var seedValues: [Int] = [0]
        if case .list(let list)? = seeds { seedValues = list.compactMap(\.intValue) }
        if seedValues.isEmpty { throw ConfigErrors([ConfigProblem(file: file, path: "seeds", "expected at least one seed")]) }
        if Set(seedValues).count != seedValues.count {
            throw ConfigErrors([ConfigProblem(file: file, path: "seeds", "seeds must be distinct, got \(seedValues)")])
        }
        return points.flatMap { point in seedValues.map { point + [("seed", .int($0))] } }
    }

    /// Keys whose value differs between points, in first-seen order.
    static func varyingKeys(_ points: [Point]) -> [String] {
        var order: [String] = []
        var values: [String: Set<String>] = [:]
        var setIn: [String: Int] = [:]
        for point in points {
            for (path, value) in point {
                if values[path] == nil { order.append(path) }
                values[path, default: []].insert(CanonicalJSON.encode(value))
                setIn[path, default: 0] += 1
            }
        }
        // A key varies when it takes two values, or when some cells set it and others leave it
        // at the spec's value (explicit `cells:` may name a key in one cell only).
        return order.filter { (values[$0]?.count ?? 0) > 1 || (setIn[$0] ?? 0) < points.count }
    }

    static func label(_ point: Point, varying: [String]) -> String {
        let parts = point.filter { varying.contains($0.path) }.map { "\(shortName($0.path))=\(display($0.value))" }
        return parts.isEmpty ? "base" : parts.joined(separator: ",")
    }

    /// "model.ffn.moe.router.score" → "router.score": the last two components read well.
    static func shortName(_ path: String) -> String {
        let parts = path.split(separator: ".")
        return parts.suffix(2).joined(separator: ".")
    }

    static func display(_ value: ConfigValue) -> String {
        if case .string(let s) = value { return s }
        return value.description
    }
}
