import Foundation
import JSON

/// A snapshot of a file's structure for `ablate inspect`: groups, datasets (shape, type,
/// chunking, compression) and attributes. Objects that cannot be read (a dangling link, a
/// damaged header) appear with an `error` instead of stopping the walk.
public struct H5TreeNode: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable { case group, dataset, datatype, unreadable }

    public struct Attribute: Codable, Sendable, Equatable {
        public var name: String
        public var type: String
        /// The value rendered as JSON (string, number, array) — see `H5AttributeValue`.
        public var value: JSONValue
    }

    public var name: String
    public var path: String
    public var kind: Kind
    public var attributes: [Attribute] = []
    public var children: [H5TreeNode]? = nil
    public var shape: [Int]? = nil
    /// Maximum shape; null entries are unlimited.
    public var maxShape: [Int?]? = nil
    public var dtype: String? = nil
    public var chunks: [Int]? = nil
    public var compression: String? = nil
    public var shuffle: Bool? = nil
    public var error: String? = nil

    enum CodingKeys: String, CodingKey {
        case name, path, kind, attributes, children, shape, dtype, chunks, compression, shuffle, error
        case maxShape = "max_shape"
    }
}

extension JSONValue {
    init(_ value: H5AttributeValue) {
        switch value {
        case .string(let v): self = .string(v)
        case .int(let v): self = .int(Int(v))
        case .double(let v): self = .double(v)
        case .strings(let v): self = .list(v.map { .string($0) })
        case .ints(let v): self = .list(v.map { .int(Int($0)) })
        case .doubles(let v): self = .list(v.map { .double($0) })
        case .other: self = .null
        }
    }
}

extension H5AttributeValue {
    var typeName: String {
        switch self {
        case .string: "string"
        case .int: "int64"
        case .double: "float64"
        case .strings(let v): "string[\(v.count)]"
        case .ints(let v): "int64[\(v.count)]"
        case .doubles(let v): "float64[\(v.count)]"
        case .other(let type): type
        }
    }
}

public enum H5Inspector {
    /// Opens `path` read-only and walks its whole tree.
    public static func inspect(path: String) throws -> H5TreeNode {
        HDF5Library.ensureInitialised()
        let file = try H5File(path: path, mode: .readOnly)
        defer { file.close() }
        let root = try file.root
        defer { root.close() }
        return walk(group: root, name: "/")
    }

    static func walk(group: H5Group, name: String) -> H5TreeNode {
        var node = H5TreeNode(name: name, path: group.path, kind: .group)
        node.attributes = attributes(of: group, node: &node)
        var children: [H5TreeNode] = []
        do {
            for childName in try group.linkNames() {
                children.append(child(named: childName, in: group))
            }
        } catch {
            node.error = "\(error)"
        }
        node.children = children
        return node
    }

    static func child(named name: String, in group: H5Group) -> H5TreeNode {
        let path = group.childPath(name)
        do {
            switch try group.kind(of: name) {
            case .group:
                let child = try group.group(name)
                defer { child.close() }
                return walk(group: child, name: name)
            case .dataset:
                let dataset = try group.dataset(name)
                defer { dataset.close() }
                var node = H5TreeNode(name: name, path: path, kind: .dataset)
                do {
                    let (shape, maxShape) = try dataset.extent()
                    node.shape = shape
                    if maxShape.map({ $0 }) != shape.map({ Optional($0) }) { node.maxShape = maxShape }
                    node.dtype = try dataset.typeDescription()
                    let storage = try dataset.storage()
                    node.chunks = storage.chunks
                    node.compression = storage.gzipLevel.map { "gzip \($0)" }
                    node.shuffle = storage.shuffle ? true : nil
                } catch {
                    node.error = "\(error)"
                }
                node.attributes = attributes(of: dataset, node: &node)
                return node
            case .datatype:
                return H5TreeNode(name: name, path: path, kind: .datatype)
            }
        } catch {
            var node = H5TreeNode(name: name, path: path, kind: .unreadable)
            node.error = "\(error)"
            return node
        }
    }

    static func attributes(of object: H5Object, node: inout H5TreeNode) -> [H5TreeNode.Attribute] {
        do {
            return try object.attributes().map {
                H5TreeNode.Attribute(name: $0.name, type: $0.value.typeName, value: JSONValue($0.value))
            }
        } catch {
            node.error = "\(error)"
            return []
        }
    }

    /// Human-readable tree, one object per line, attributes as `@name = value`.
    public static func render(_ root: H5TreeNode, title: String) -> String {
        var counts = (groups: 0, datasets: 0, attributes: 0)
        func count(_ node: H5TreeNode) {
            if node.kind == .group { counts.groups += 1 }
            if node.kind == .dataset { counts.datasets += 1 }
            counts.attributes += node.attributes.count
            node.children?.forEach(count)
        }
        count(root)
        var lines = ["\(title): \(counts.groups) groups, \(counts.datasets) datasets, \(counts.attributes) attributes",
                     "/" + (root.error.map { "  !! \($0)" } ?? "")]
        render(root, prefix: "", into: &lines)
        return lines.joined(separator: "\n")
    }

    private static func render(_ node: H5TreeNode, prefix: String, into lines: inout [String]) {
        let children = node.children ?? []
        let total = node.attributes.count + children.count
        var index = 0
        for attribute in node.attributes {
            index += 1
            let branch = index == total ? "└── " : "├── "
            lines.append(prefix + branch + "@\(attribute.name) = \(format(attribute))")
        }
        for child in children {
            index += 1
            let last = index == total
            let branch = last ? "└── " : "├── "
            let nextPrefix = prefix + (last ? "    " : "│   ")
            lines.append(prefix + branch + describe(child))
            if child.kind == .group {
                render(child, prefix: nextPrefix, into: &lines)
            } else if !child.attributes.isEmpty {
                var leaf = child
                leaf.children = nil
                render(leaf, prefix: nextPrefix, into: &lines)
            }
        }
    }

    private static func describe(_ node: H5TreeNode) -> String {
        var text: String
        switch node.kind {
        case .group:
            text = node.name + "/"
        case .dataset:
            text = node.name + "  " + (node.dtype ?? "?") + " " + shapeText(node.shape ?? [])
            if let maxShape = node.maxShape {
                text += "  max (" + maxShape.map { $0.map(String.init) ?? "∞" }.joined(separator: ", ") + ")"
            }
            if let chunks = node.chunks { text += "  chunks " + shapeText(chunks) }
            var filters: [String] = []
            if node.shuffle == true { filters.append("shuffle") }
            if let compression = node.compression { filters.append(compression) }
            if !filters.isEmpty { text += "  " + filters.joined(separator: "+") }
        case .datatype:
            text = node.name + "  (named datatype)"
        case .unreadable:
            text = node.name + "  (unreadable)"
        }
        if let error = node.error { text += "  !! " + error }
        return text
    }

    private static func shapeText(_ shape: [Int]) -> String {
        shape.isEmpty ? "scalar" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    }

    private static func format(_ attribute: H5TreeNode.Attribute) -> String {
        let limit = 100
        var text: String
        switch attribute.value {
        case .null: text = "<\(attribute.type)>"
        default: text = render(attribute.value)
        }
        if text.count > limit { text = String(text.prefix(limit)) + "… (\(attribute.type))" }
        return text
    }

    private static func render(_ value: JSONValue) -> String {
        switch value {
        case .string(let v):
            let escaped = v.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                .replacingOccurrences(of: "\n", with: "\\n")
            return "\"\(escaped)\""
        case .int(let v): return String(v)
        case .double(let v): return "\(v)"
        case .list(let v): return "[" + v.map(render).joined(separator: ", ") + "]"
        case .bool(let v): return v ? "true" : "false"
        case .map: return value.canonical
        case .null: return "null"
        }
    }
}
