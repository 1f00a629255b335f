// Shapes: shape inference and validation for every op, as throwing functions.
//
// Ops call these through `checked { … }`, which stops the program with the error's message
// (a shape mismatch is a programming error, like an index out of range). The functions are
// public so callers can validate ahead of time and tests can check the messages: every error
// names the op and the shapes involved.

/// A shape mismatch: `op` is the operation's name, `message` lists the offending shapes.
public struct ShapeError: Error, Equatable, CustomStringConvertible {
    public let op: String
    public let message: String
    public init(_ op: String, _ message: String) { self.op = op; self.message = message }
    public var description: String { "\(op): \(message)" }
}

/// Runs a shape check; on failure stops with "op: message".
@inline(__always)
func checked<T>(_ body: () throws -> T) -> T {
    do { return try body() } catch { fatalError("\(error)") }
}

public enum Shapes {
    /// NumPy broadcasting of two shapes (right-aligned; a dimension of 1 stretches).
    public static func broadcast(_ op: String, _ a: [Int], _ b: [Int]) throws(ShapeError) -> [Int] {
        if a == b { return a }
        let r = max(a.count, b.count)
        var out = [Int](repeating: 1, count: r)
        for i in 0..<r {
            let da = i < r - a.count ? 1 : a[i - (r - a.count)]
            let db = i < r - b.count ? 1 : b[i - (r - b.count)]
            if da == db || db == 1 { out[i] = da } else if da == 1 { out[i] = db } else {
                throw ShapeError(op, "shapes \(a) and \(b) are not broadcast-compatible")
            }
        }
        return out
    }

    /// Resolves one `-1` in `new` and checks the element count.
    public static func reshape(_ op: String, _ old: [Int], _ new: [Int]) throws(ShapeError) -> [Int] {
        let n = old.reduce(1, *)
        var out = new
        let unknown = new.indices.filter { new[$0] == -1 }
        if unknown.count > 1 { throw ShapeError(op, "cannot reshape \(old) to \(new): more than one -1") }
        if let u = unknown.first {
            let known = new.enumerated().filter { $0.offset != u }.map(\.element).reduce(1, *)
            guard known > 0, n % known == 0 else {
                throw ShapeError(op, "cannot reshape \(old) to \(new): \(n) elements")
            }
            out[u] = n / known
        }
        guard out.allSatisfy({ $0 >= 0 }), out.reduce(1, *) == n else {
            throw ShapeError(op, "cannot reshape \(old) (\(n) elements) to \(new)")
        }
        return out
    }

    /// `op(a) · op(b)` over the last two axes. `b` is either 2-D (shared across a's leading
    /// axes) or has the same leading (batch) axes as `a`.
    public static func matmul(_ op: String, _ a: [Int], _ b: [Int], transposeA: Bool, transposeB: Bool) throws(ShapeError) -> [Int] {
        guard a.count >= 2, b.count >= 2 else {
            throw ShapeError(op, "shapes \(a) and \(b): both operands need rank >= 2")
        }
        let m = transposeA ? a[a.count - 1] : a[a.count - 2]
        let ka = transposeA ? a[a.count - 2] : a[a.count - 1]
        let kb = transposeB ? b[b.count - 1] : b[b.count - 2]
        let n = transposeB ? b[b.count - 2] : b[b.count - 1]
        guard ka == kb else {
            throw ShapeError(op, "shapes \(a) and \(b)\(transposeA ? " (a transposed)" : "")\(transposeB ? " (b transposed)" : ""): inner dimensions \(ka) and \(kb) differ")
        }
        if b.count == 2 {
            if transposeA && a.count > 2 {
                throw ShapeError(op, "shapes \(a) and \(b): transposeA needs a batch of the same rank as b")
            }
            return Array(a.dropLast(2)) + [m, n]
        }
        guard a.count == b.count, a.dropLast(2) == b.dropLast(2) else {
            throw ShapeError(op, "shapes \(a) and \(b): batch dimensions differ")
        }
        return Array(a.dropLast(2)) + [m, n]
    }

    /// Normalises an axis (negative counts from the end).
    public static func axis(_ op: String, _ axis: Int, rank: Int, shape: [Int]) throws(ShapeError) -> Int {
        let a = axis < 0 ? axis + rank : axis
        guard a >= 0 && a < rank else { throw ShapeError(op, "axis \(axis) out of range for shape \(shape)") }
        return a
    }

    /// Shapes that agree on every axis except `axis`.
    public static func concat(_ op: String, _ shapes: [[Int]], axis: Int) throws(ShapeError) -> [Int] {
        guard let first = shapes.first else { throw ShapeError(op, "needs at least one tensor") }
        let ax = try Shapes.axis(op, axis, rank: first.count, shape: first)
        var out = first
        for s in shapes.dropFirst() {
            guard s.count == first.count,
                  zip(s, first).enumerated().allSatisfy({ $0.offset == ax || $0.element.0 == $0.element.1 })
            else { throw ShapeError(op, "shapes \(first) and \(s) differ outside axis \(axis)") }
            out[ax] += s[ax]
        }
        return out
    }

    /// Two shapes that must be equal.
    public static func same(_ op: String, _ a: [Int], _ b: [Int]) throws(ShapeError) {
        guard a == b else { throw ShapeError(op, "shapes \(a) and \(b) must be equal") }
    }

    /// A weight whose shape must be the trailing dimension of `x`.
    public static func lastDim(_ op: String, _ x: [Int], weight w: [Int]) throws(ShapeError) {
        guard let d = x.last, w == [d] else {
            throw ShapeError(op, "shapes \(x) and \(w): weight must be [\(x.last.map(String.init) ?? "?")]")
        }
    }

    /// Causal attention: q [B, Tq, H, Dqk], k [B, Tk, G, Dqk], v [B, Tk, G, Dv], H % G == 0,
    /// Tk >= Tq.
    public static func attention(_ op: String, q: [Int], k: [Int], v: [Int]) throws(ShapeError) -> [Int] {
        guard q.count == 4, k.count == 4, v.count == 4 else {
            throw ShapeError(op, "shapes \(q), \(k) and \(v): q, k, v must be [B, T, heads, dim]")
        }
        guard k[0] == q[0], k[1] >= q[1], k[3] == q[3] else {
            throw ShapeError(op, "shapes \(q) and \(k): q and k must agree on B and head dim, with keys >= queries")
        }
        guard v[0] == k[0], v[1] == k[1], v[2] == k[2] else {
            throw ShapeError(op, "shapes \(k) and \(v): k and v must agree on B, T and kv heads")
        }
        guard k[2] > 0, q[2] % k[2] == 0 else {
            throw ShapeError(op, "shapes \(q) and \(k): query heads \(q[2]) not a multiple of kv heads \(k[2])")
        }
        return [q[0], q[1], q[2], v[3]]
    }
}

/// Like `precondition`, but the message is printed in optimised builds too (where
/// `precondition` traps silently), so a misuse always says which op and shapes.
@inline(__always)
func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
             file: StaticString = #fileID, line: UInt = #line) {
    if !condition() { fatalError(message(), file: file, line: line) }
}
