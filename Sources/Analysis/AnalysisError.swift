// Analysis's error type. Its JSON values are the package's one tree (module JSON).
@_exported import JSON

public struct AnalysisError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
