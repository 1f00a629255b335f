// What the dashboard's endpoints return is the package's one JSON tree (module JSON), written
// with `JSONValue.text` (sorted keys, non-finite numbers as null, "<" escaped).
@_exported import JSON

extension Dictionary where Key == String, Value == JSONValue {
    /// Builds an object field by field.
    mutating func append(_ key: String, _ value: JSONValue) { self[key] = value }
}
