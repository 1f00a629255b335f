import Foundation
import CHDF5

/// Reading and writing HDF5 strings, variable or fixed length, for attributes and datasets.
enum H5StringIO {
    /// A variable-length UTF-8 string type (h5py reads it back as `str`). Caller closes it.
    static func variableUTF8Type() throws -> hid_t {
        let type = try h5check(H5Tcopy(ablate_H5T_C_S1()), "cannot create a string type")
        do {
            try h5check(H5Tset_size(type, ablate_H5T_VARIABLE()), "cannot make a variable-length string type")
            try h5check(H5Tset_cset(type, H5T_CSET_UTF8), "cannot set UTF-8 on a string type")
        } catch {
            H5Tclose(type)
            throw error
        }
        return type
    }

    /// Writes strings through `write`, which receives a pointer to an array of `char *`.
    static func writeVariable(_ strings: [String], _ write: (UnsafeRawPointer) -> herr_t) throws {
        let copies = strings.map { strdup($0) }
        defer { copies.forEach { free($0) } }
        let pointers: [UnsafePointer<CChar>?] = copies.map { $0.map { UnsafePointer($0) } }
        try pointers.withUnsafeBytes { buffer in
            try h5check(write(buffer.baseAddress!), "cannot write strings")
        }
    }

    /// Reads `count` strings stored with `fileType` through `read(memoryType, buffer)`.
    static func read(count: Int, fileType: hid_t, what: String,
                     _ read: (hid_t, UnsafeMutableRawPointer) -> herr_t) throws -> [String] {
        if count == 0 { return [] }
        let variable = try h5bool(H5Tis_variable_str(fileType), "cannot inspect the string type of \(what)")
        if variable {
            let memoryType = try variableUTF8Type()
            defer { H5Tclose(memoryType) }
            var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
            try pointers.withUnsafeMutableBytes { buffer in
                try h5check(read(memoryType, buffer.baseAddress!), "cannot read strings of \(what)")
            }
            defer { for pointer in pointers where pointer != nil { H5free_memory(pointer) } }
            return pointers.map { $0.map { String(cString: $0) } ?? "" }
        }
        let size = H5Tget_size(fileType)
        guard size > 0 else { throw HDF5Error.fromStack("cannot get the string size of \(what)") }
        let memoryType = try h5check(H5Tcopy(fileType), "cannot copy the string type of \(what)")
        defer { H5Tclose(memoryType) }
        let total = try H5Extent.elements([size, count], bytesEach: 1, what: what)
        var bytes = [UInt8](repeating: 0, count: total)
        try bytes.withUnsafeMutableBytes { buffer in
            try h5check(read(memoryType, buffer.baseAddress!), "cannot read strings of \(what)")
        }
        return (0..<count).map { index in
            let slice = bytes[(index * size)..<((index + 1) * size)]
            let trimmed = slice.prefix { $0 != 0 }
            return String(decoding: trimmed, as: UTF8.self)
        }
    }
}

/// Readable names for HDF5 datatypes, as numpy would call them.
enum H5TypeDescription {
    static func scalarType(of type: hid_t) -> H5ScalarType? {
        let size = H5Tget_size(type)
        switch H5Tget_class(type) {
        case H5T_FLOAT:
            return size == 4 ? .float32 : size == 8 ? .float64 : nil
        case H5T_INTEGER:
            guard H5Tget_sign(type) == H5T_SGN_2 else { return nil }
            return size == 4 ? .int32 : size == 8 ? .int64 : nil
        default:
            return nil
        }
    }

    static func describe(_ type: hid_t) -> String {
        let size = H5Tget_size(type)
        switch H5Tget_class(type) {
        case H5T_FLOAT:
            return "float\(size * 8)"
        case H5T_INTEGER:
            return (H5Tget_sign(type) == H5T_SGN_2 ? "int" : "uint") + "\(size * 8)"
        case H5T_STRING:
            if H5Tis_variable_str(type) > 0 { return "string" }
            return "string[\(size)]"
        case H5T_ENUM:
            let base = H5Tget_super(type)
            defer { if base >= 0 { H5Tclose(base) } }
            return base >= 0 ? "enum(\(describe(base)))" : "enum"
        case H5T_COMPOUND:
            return "compound[\(H5Tget_nmembers(type)) fields]"
        case H5T_ARRAY:
            return "array"
        case H5T_VLEN:
            return "vlen"
        case H5T_OPAQUE:
            return "opaque[\(size)]"
        case H5T_BITFIELD:
            return "bitfield\(size * 8)"
        case H5T_REFERENCE:
            return "reference"
        case H5T_TIME:
            return "time"
        default:
            return "unknown"
        }
    }
}
