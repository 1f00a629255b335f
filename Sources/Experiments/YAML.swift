// YAML text → ConfigValue, with YAML 1.1 core typing (ints, floats, booleans, null) and errors
// that name the file and line.
import Config
import Foundation
import Yams

enum YAMLReader {
    /// Parses one YAML document. An empty document is an empty mapping.
    static func parse(_ text: String, file: String) throws(ConfigErrors) -> ConfigValue {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw ConfigErrors([ConfigProblem(file: file, path: "", "not valid YAML: \(describe(error))")])
        }
        guard let node else { return .map([:]) }
        var problems: [ConfigProblem] = []
        let value = convert(node, path: "", file: file, problems: &problems)
        if !problems.isEmpty { throw ConfigErrors(problems) }
        return value
    }

    /// Parses a command-line override value ("16", "mla", "[1, 2]", "{a: 1}") with YAML typing.
    static func parseValue(_ text: String, path: String) throws(ConfigErrors) -> ConfigValue {
        if text.trimmingCharacters(in: .whitespaces).isEmpty { return .string("") }
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw ConfigErrors([ConfigProblem(file: "command line", path: path, "value '\(text)' is not valid YAML: \(describe(error))")])
        }
        guard let node else { return .null }
        var problems: [ConfigProblem] = []
        let value = convert(node, path: path, file: "command line", problems: &problems)
        if !problems.isEmpty { throw ConfigErrors(problems) }
        return value
    }

    static func convert(_ node: Node, path: String, file: String, problems: inout [ConfigProblem]) -> ConfigValue {
        switch node {
        case .scalar(let scalar):
            switch Tag.Name(rawValue: node.tag.rawValue) {
            case .null: return .null
            case .bool: return node.bool.map(ConfigValue.bool) ?? .string(scalar.string)
            case .int: return node.int.map(ConfigValue.int) ?? .string(scalar.string)
            case .float: return node.float.map(ConfigValue.double) ?? .string(scalar.string)
            default: return .string(scalar.string)
            }
        case .sequence(let sequence):
            return .list(sequence.enumerated().map { convert($1, path: "\(path)[\($0)]", file: file, problems: &problems) })
        case .mapping(let mapping):
            var map: [String: ConfigValue] = [:]
            for (keyNode, valueNode) in mapping {
                guard case .scalar(let keyScalar) = keyNode else {
                    problems.append(ConfigProblem(file: file, path: path, "mapping keys must be plain words\(line(keyNode))"))
                    continue
                }
                let key = keyScalar.string
                let keyPath = Resolver.join(path, key)
                if map[key] != nil {
                    problems.append(ConfigProblem(file: file, path: keyPath, "duplicate key\(line(keyNode))"))
                }
                map[key] = convert(valueNode, path: keyPath, file: file, problems: &problems)
            }
            return .map(map)
        case .alias:
            // Yams resolves aliases while composing; an unresolved one is an error.
            problems.append(ConfigProblem(file: file, path: path, "unresolved YAML alias\(line(node))"))
            return .null
        }
    }

    private static func line(_ node: Node) -> String {
        node.mark.map { " (line \($0.line))" } ?? ""
    }

    private static func describe(_ error: Error) -> String {
        let text = "\(error)".replacingOccurrences(of: "\n", with: " ")
        return text.split(separator: " ").joined(separator: " ")
    }
}
