// Which files the dashboard may read: only those under RUNS_DIR. A relative path from a request
// is refused when it is absolute, holds a `..` (or `.`, empty, NUL or backslash) component, or
// resolves — through symlinks — to somewhere outside RUNS_DIR.
import Foundation

public struct PathGuard: Sendable {
    /// RUNS_DIR with every symlink resolved.
    public let root: String

    public init(root: String) throws {
        guard let real = Self.realPath(root) else {
            throw ServerError("no runs directory '\(root)' (train something first, e.g. `ablate sweep experiments/quickstart.yaml`)")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: real, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ServerError("'\(root)' is not a directory")
        }
        self.root = real
    }

    public enum Refusal: Error, Equatable, CustomStringConvertible {
        case malformed(String)
        case outside(String)
        case missing(String)

        public var description: String {
            switch self {
            case .malformed(let why): why
            case .outside(let path): "'\(path)' is outside the runs directory"
            case .missing(let path): "'\(path)' does not exist under the runs directory"
            }
        }
        public var status: Int {
            switch self {
            case .malformed: 400
            case .outside: 403
            case .missing: 404
            }
        }
    }

    /// The real path of `relative` (a request's `path` parameter) if it names something under
    /// the root. The empty path is the root itself.
    public func resolve(_ relative: String) -> Result<String, Refusal> {
        if relative.isEmpty { return .success(root) }
        if relative.hasPrefix("/") || relative.hasPrefix("~") {
            return .failure(.malformed("absolute paths are refused: '\(relative)'"))
        }
        if relative.contains("\0") || relative.contains("\\") {
            return .failure(.malformed("refused path '\(relative)'"))
        }
        let components = relative.split(separator: "/", omittingEmptySubsequences: false)
        for component in components where component == ".." || component == "." || component.isEmpty {
            return .failure(.malformed("paths with '\(component)' components are refused: '\(relative)'"))
        }
        let joined = root + "/" + relative
        guard let real = Self.realPath(joined) else { return .failure(.missing(relative)) }
        guard contains(real) else { return .failure(.outside(relative)) }
        return .success(real)
    }

    /// Whether a real (symlink-free) path lies under the root.
    public func contains(_ real: String) -> Bool {
        real == root || real.hasPrefix(root == "/" ? "/" : root + "/")
    }

    /// The path relative to the root of a real path under it.
    public func relative(_ real: String) -> String {
        real == root ? "" : String(real.dropFirst(root.count + 1))
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
