// Config: the value tree a spec is parsed into, the schemas that say which keys exist (type,
// default, range, meaning), validation that reports every problem with its key path, and the
// canonical JSON that run ids hash. Sits at the bottom: Models and Training declare their
// sections with it; Experiments loads YAML into it.

@_exported import JSON

/// A parsed spec value: the package's one JSON value tree (module JSON), named for what it
/// holds here.
public typealias ConfigValue = JSONValue

import Foundation

/// Decodes a resolved section into its Codable struct (snake_case keys → camelCase properties).
public enum ConfigDecoding {
    public static func decode<T: Decodable>(_ type: T.Type, from value: ConfigValue) throws -> T {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(T.self, from: Data(CanonicalJSON.encode(value).utf8))
    }
}

