import CHDF5

/// An attribute value. Ablate writes UTF-8 strings, Int64, Double and 1-D arrays of those;
/// attributes of other types written by other tools read back as `.other(description)`.
public enum H5AttributeValue: Equatable, Sendable, CustomStringConvertible {
    case string(String)
    case int(Int64)
    case double(Double)
    case strings([String])
    case ints([Int64])
    case doubles([Double])
    case other(String)

    public var description: String {
        switch self {
        case .string(let value): return quoted(value)
        case .int(let value): return String(value)
        case .double(let value): return formatDouble(value)
        case .strings(let values): return "[" + values.map(quoted).joined(separator: ", ") + "]"
        case .ints(let values): return "[" + values.map(String.init).joined(separator: ", ") + "]"
        case .doubles(let values): return "[" + values.map(formatDouble).joined(separator: ", ") + "]"
        case .other(let type): return "<\(type)>"
        }
    }

    public var stringValue: String? { if case .string(let s) = self { s } else { nil } }
    public var intValue: Int64? { if case .int(let v) = self { v } else { nil } }
    public var doubleValue: Double? {
        switch self {
        case .double(let v): v
        case .int(let v): Double(v)
        default: nil
        }
    }
}

private func quoted(_ text: String) -> String {
    var result = "\""
    for character in text {
        switch character {
        case "\"": result += "\\\""
        case "\\": result += "\\\\"
        case "\n": result += "\\n"
        case "\t": result += "\\t"
        default: result.append(character)
        }
    }
    return result + "\""
}

private func formatDouble(_ value: Double) -> String {
    value == value.rounded() && abs(value) < 1e15 ? String(format: "%.1f", value) : "\(value)"
}

extension H5Object {
    /// Writes (or replaces) an attribute.
    public func setAttribute(_ name: String, _ value: H5AttributeValue) throws {
        let what = "attribute '\(name)' of \(describe())"
        if try h5bool(H5Aexists(id, name), "cannot look up \(what)") {
            try h5check(H5Adelete(id, name), "cannot replace \(what)")
        }
        switch value {
        case .string(let text):
            try writeStrings(name, [text], scalar: true, what: what)
        case .strings(let texts):
            try writeStrings(name, texts, scalar: false, what: what)
        case .int(let number):
            try writeNumbers(name, [number], scalar: true, type: .int64, what: what)
        case .ints(let numbers):
            try writeNumbers(name, numbers, scalar: false, type: .int64, what: what)
        case .double(let number):
            try writeNumbers(name, [number], scalar: true, type: .float64, what: what)
        case .doubles(let numbers):
            try writeNumbers(name, numbers, scalar: false, type: .float64, what: what)
        case .other(let type):
            throw HDF5Error(context: "cannot write \(what): values of type \(type) are read-only")
        }
    }

    public func setAttribute(_ name: String, _ value: String) throws { try setAttribute(name, .string(value)) }
    public func setAttribute(_ name: String, _ value: Int) throws { try setAttribute(name, .int(Int64(value))) }
    public func setAttribute(_ name: String, _ value: Double) throws { try setAttribute(name, .double(value)) }

    /// True if the attribute exists.
    public func hasAttribute(_ name: String) throws -> Bool {
        try h5bool(H5Aexists(id, name), "cannot look up attribute '\(name)' of \(describe())")
    }

    /// Reads an attribute. Scalars and 1-element... arrays keep their shape: a scalar reads as
    /// `.int`/`.double`/`.string`, a 1-D array as `.ints`/`.doubles`/`.strings`.
    public func attribute(_ name: String) throws -> H5AttributeValue {
        let what = "attribute '\(name)' of \(describe())"
        guard try hasAttribute(name) else { throw HDF5Error(context: "no \(what)") }
        let attribute = try h5check(H5Aopen(id, name, ablate_H5P_DEFAULT()), "cannot open \(what)")
        defer { H5Aclose(attribute) }
        let type = try h5check(H5Aget_type(attribute), "cannot get the type of \(what)")
        defer { H5Tclose(type) }
        let space = try h5check(H5Aget_space(attribute), "cannot get the dataspace of \(what)")
        defer { H5Sclose(space) }
        let (shape, _) = try H5Dataset.extent(of: space, describing: what)
        let count = try H5Extent.elements(shape, bytesEach: 8, what: what)
        let scalar = shape.isEmpty
        switch H5Tget_class(type) {
        case H5T_STRING:
            let strings = try H5StringIO.read(count: count, fileType: type, what: what) { memoryType, buffer in
                H5Aread(attribute, memoryType, buffer)
            }
            return scalar ? .string(strings.first ?? "") : .strings(strings)
        case H5T_INTEGER:
            var values = [Int64](repeating: 0, count: count)
            if count > 0 {
                try values.withUnsafeMutableBytes { buffer in
                    try h5check(H5Aread(attribute, ablate_H5T_NATIVE_INT64(), buffer.baseAddress), "cannot read \(what)")
                }
            }
            return scalar ? .int(values.first ?? 0) : .ints(values)
        case H5T_FLOAT:
            var values = [Double](repeating: 0, count: count)
            if count > 0 {
                try values.withUnsafeMutableBytes { buffer in
                    try h5check(H5Aread(attribute, ablate_H5T_NATIVE_DOUBLE(), buffer.baseAddress), "cannot read \(what)")
                }
            }
            return scalar ? .double(values.first ?? 0) : .doubles(values)
        default:
            let shapeText = scalar ? "" : " \(shape)"
            return .other(H5TypeDescription.describe(type) + shapeText)
        }
    }

    /// Attribute names in name order.
    public func attributeNames() throws -> [String] {
        let names = NameCollector()
        let unmanaged = Unmanaged.passRetained(names)
        defer { unmanaged.release() }
        let callback: ablate_H5A_iter_cb = { _, name, _, data in
            guard let name, let data else { return 0 }
            Unmanaged<NameCollector>.fromOpaque(data).takeUnretainedValue().list.append(String(cString: name))
            return 0
        }
        // HDF5 1.10.8 frees uninitialised pointers (SIGSEGV, or worse) when H5Aiterate2 meets an
        // attribute message it cannot decode: it sizes its table before filling it. Looking up a
        // name no attribute has decodes every attribute message first and fails cleanly on a
        // damaged one; after that the iteration finds them all decoded.
        _ = try h5bool(H5Aexists(id, H5AttributeGuard.absentName),
                       "cannot list the attributes of \(describe()): one of them is damaged")
        var index: hsize_t = 0
        try h5check(H5Aiterate2(id, H5_INDEX_NAME, H5_ITER_INC, &index, callback, unmanaged.toOpaque()),
                    "cannot list the attributes of \(describe())")
        return names.list
    }

    /// All attributes, in name order.
    public func attributes() throws -> [(name: String, value: H5AttributeValue)] {
        try attributeNames().map { ($0, try attribute($0)) }
    }

    private func writeStrings(_ name: String, _ texts: [String], scalar: Bool, what: String) throws {
        let type = try H5StringIO.variableUTF8Type()
        defer { H5Tclose(type) }
        let space = try makeSpace(count: texts.count, scalar: scalar)
        defer { H5Sclose(space) }
        let attribute = try h5check(H5Acreate2(id, name, type, space, ablate_H5P_DEFAULT(), ablate_H5P_DEFAULT()),
                                    "cannot create \(what)")
        defer { H5Aclose(attribute) }
        if texts.isEmpty { return }
        try H5StringIO.writeVariable(texts) { H5Awrite(attribute, type, $0) }
    }

    private func writeNumbers<T: H5Scalar>(_ name: String, _ values: [T], scalar: Bool, type: H5ScalarType,
                                           what: String) throws {
        let space = try makeSpace(count: values.count, scalar: scalar)
        defer { H5Sclose(space) }
        let attribute = try h5check(H5Acreate2(id, name, type.fileType, space, ablate_H5P_DEFAULT(), ablate_H5P_DEFAULT()),
                                    "cannot create \(what)")
        defer { H5Aclose(attribute) }
        if values.isEmpty { return }
        try values.withUnsafeBytes { buffer in
            try h5check(H5Awrite(attribute, type.memoryType, buffer.baseAddress), "cannot write \(what)")
        }
    }

    private func makeSpace(count: Int, scalar: Bool) throws -> hid_t {
        if scalar { return try h5check(H5Screate(H5S_SCALAR), "cannot create a scalar dataspace") }
        var dims = [hsize_t(count)]
        return try h5check(H5Screate_simple(1, &dims, nil), "cannot create a dataspace")
    }
}

enum H5AttributeGuard {
    /// An attribute name no writer uses (it starts with a control character).
    static let absentName = "\u{1}ablate-no-such-attribute"
}

/// Receives names from HDF5 iteration callbacks.
final class NameCollector {
    var list: [String] = []
}
