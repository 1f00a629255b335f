import CHDF5

/// The element types Ablate stores in datasets: float32, float64, int32, int64.
public enum H5ScalarType: String, Codable, Sendable, CaseIterable {
    case float32, float64, int32, int64

    /// In-memory type (native byte order).
    var memoryType: hid_t {
        switch self {
        case .float32: ablate_H5T_NATIVE_FLOAT()
        case .float64: ablate_H5T_NATIVE_DOUBLE()
        case .int32: ablate_H5T_NATIVE_INT32()
        case .int64: ablate_H5T_NATIVE_INT64()
        }
    }

    /// On-disk type: little-endian IEEE / two's complement, as numpy's defaults.
    var fileType: hid_t {
        switch self {
        case .float32: ablate_H5T_IEEE_F32LE()
        case .float64: ablate_H5T_IEEE_F64LE()
        case .int32: ablate_H5T_STD_I32LE()
        case .int64: ablate_H5T_STD_I64LE()
        }
    }
}

/// A Swift type that maps to one `H5ScalarType`.
public protocol H5Scalar: Sendable {
    static var h5Type: H5ScalarType { get }
    init()
}
extension Float: H5Scalar { public static var h5Type: H5ScalarType { .float32 } }
extension Double: H5Scalar { public static var h5Type: H5ScalarType { .float64 } }
extension Int32: H5Scalar { public static var h5Type: H5ScalarType { .int32 } }
extension Int64: H5Scalar { public static var h5Type: H5ScalarType { .int64 } }

/// How a dataset is stored: chunk shape and filters.
public struct H5Storage: Sendable, Equatable {
    /// Chunk shape (same rank as the dataset), or nil for contiguous storage.
    public var chunks: [Int]?
    /// gzip (deflate) level 1–9, or nil for no compression. Needs `chunks`.
    public var gzipLevel: Int?
    /// Byte shuffle before gzip (smaller files for floats). Needs `chunks`.
    public var shuffle: Bool

    public init(chunks: [Int]? = nil, gzipLevel: Int? = nil, shuffle: Bool = false) {
        self.chunks = chunks
        self.gzipLevel = gzipLevel
        self.shuffle = shuffle
    }

    public static let contiguous = H5Storage()
}

/// A dataset: an n-dimensional array of one element type.
public final class H5Dataset: H5Object {
    private let handle: Handle
    let context: FileContext
    public let path: String
    public var filePath: String { context.path }
    public var id: hid_t { handle.id }

    init(adopting did: hid_t, path: String, context: FileContext) {
        self.path = path
        self.context = context
        handle = Handle(did, closer: H5Dclose)
        context.register(handle)
    }

    public func close() { handle.close() }

    /// Current extent.
    public func shape() throws -> [Int] { try extent().current }

    /// Current and maximum extent; a nil maximum is unlimited.
    public func extent() throws -> (current: [Int], maximum: [Int?]) {
        let space = try h5check(H5Dget_space(id), "cannot get dataspace of \(describe())")
        defer { H5Sclose(space) }
        return try Self.extent(of: space, describing: describe())
    }

    static func extent(of space: hid_t, describing what: String) throws -> (current: [Int], maximum: [Int?]) {
        let rank = H5Sget_simple_extent_ndims(space)
        if rank < 0 { throw HDF5Error.fromStack("cannot get the rank of \(what)") }
        if rank == 0 { return ([], []) }
        var dims = [hsize_t](repeating: 0, count: Int(rank))
        var maxDims = [hsize_t](repeating: 0, count: Int(rank))
        if H5Sget_simple_extent_dims(space, &dims, &maxDims) < 0 {
            throw HDF5Error.fromStack("cannot get the shape of \(what)")
        }
        let unlimited = ablate_H5S_UNLIMITED()
        // A damaged file can claim any extent: sizes past Int.max are an error, not a trap.
        func size(_ value: hsize_t) throws -> Int {
            guard let size = Int(exactly: value) else {
                throw HDF5Error(context: "\(what) claims an axis of \(value) elements (the file is damaged)")
            }
            return size
        }
        return (try dims.map(size), try maxDims.map { $0 == unlimited ? nil : try size($0) })
    }

    /// The element type if it is one of Ablate's four, else nil.
    public func scalarType() throws -> H5ScalarType? {
        let type = try h5check(H5Dget_type(id), "cannot get the type of \(describe())")
        defer { H5Tclose(type) }
        return H5TypeDescription.scalarType(of: type)
    }

    /// A readable description of the element type ("float32", "uint8", "string", …).
    public func typeDescription() throws -> String {
        let type = try h5check(H5Dget_type(id), "cannot get the type of \(describe())")
        defer { H5Tclose(type) }
        return H5TypeDescription.describe(type)
    }

    /// Chunking and filters.
    public func storage() throws -> H5Storage {
        let dcpl = try h5check(H5Dget_create_plist(id), "cannot get the creation properties of \(describe())")
        defer { H5Pclose(dcpl) }
        var storage = H5Storage()
        if H5Pget_layout(dcpl) == H5D_CHUNKED {
            let rank = try shape().count
            var dims = [hsize_t](repeating: 0, count: max(rank, 1))
            let got = H5Pget_chunk(dcpl, Int32(dims.count), &dims)
            if got < 0 { throw HDF5Error.fromStack("cannot get the chunk shape of \(describe())") }
            storage.chunks = dims.prefix(max(0, min(Int(got), dims.count))).map { Int(exactly: $0) ?? -1 }
        }
        let filters = H5Pget_nfilters(dcpl)
        if filters > 0 {
            for index in 0..<UInt32(filters) {
                var flags: UInt32 = 0
                var valueCount: Int = 4
                var values = [UInt32](repeating: 0, count: 4)
                var config: UInt32 = 0
                var name = [CChar](repeating: 0, count: 64)
                let filter = H5Pget_filter2(dcpl, index, &flags, &valueCount, &values, name.count, &name, &config)
                if filter == H5Z_FILTER_DEFLATE {
                    storage.gzipLevel = valueCount > 0 ? Int(values[0]) : 6
                } else if filter == H5Z_FILTER_SHUFFLE {
                    storage.shuffle = true
                }
            }
        }
        return storage
    }

    /// Reads the whole dataset in row-major order, converting to `T` (HDF5 converts between
    /// numeric types; a string or compound dataset is an error).
    public func read<T: H5Scalar>(as type: T.Type = T.self) throws -> [T] {
        try requireNumeric()
        let count = try H5Extent.elements(try shape(), bytesEach: MemoryLayout<T>.stride, what: describe())
        var values = [T](repeating: T(), count: count)
        if count == 0 { return values }
        try values.withUnsafeMutableBytes { buffer in
            try h5check(H5Dread(id, T.h5Type.memoryType, ablate_H5S_ALL(), ablate_H5S_ALL(),
                                ablate_H5P_DEFAULT(), buffer.baseAddress),
                        "cannot read \(describe())")
        }
        return values
    }

    /// Reads the block `start ..< start + count` (one entry per axis), row-major.
    public func read<T: H5Scalar>(start: [Int], count: [Int], as type: T.Type = T.self) throws -> [T] {
        try requireNumeric()
        let shape = try shape()
        guard start.count == shape.count, count.count == shape.count else {
            throw HDF5Error(context: "hyperslab of rank \(start.count)/\(count.count) does not match \(describe()) of shape \(shape)")
        }
        for axis in 0..<shape.count where start[axis] < 0 || count[axis] < 0 || start[axis] > shape[axis] - count[axis] {
            throw HDF5Error(context: "hyperslab start \(start) count \(count) is outside \(describe()) of shape \(shape)")
        }
        let total = try H5Extent.elements(count, bytesEach: MemoryLayout<T>.stride, what: describe())
        var values = [T](repeating: T(), count: total)
        if total == 0 { return values }
        let fileSpace = try h5check(H5Dget_space(id), "cannot get dataspace of \(describe())")
        defer { H5Sclose(fileSpace) }
        let start64 = start.map { hsize_t($0) }, count64 = count.map { hsize_t($0) }
        try h5check(H5Sselect_hyperslab(fileSpace, H5S_SELECT_SET, start64, nil, count64, nil),
                    "cannot select a hyperslab of \(describe())")
        let memorySpace = try h5check(H5Screate_simple(Int32(count64.count), count64, nil),
                                      "cannot create a memory dataspace")
        defer { H5Sclose(memorySpace) }
        try values.withUnsafeMutableBytes { buffer in
            try h5check(H5Dread(id, T.h5Type.memoryType, memorySpace, fileSpace, ablate_H5P_DEFAULT(),
                                buffer.baseAddress),
                        "cannot read a hyperslab of \(describe())")
        }
        return values
    }

    /// Overwrites the whole dataset; `values.count` must equal the product of the shape.
    public func write<T: H5Scalar>(_ values: [T]) throws {
        let count = try H5Extent.elements(try shape(), bytesEach: 0, what: describe())
        guard values.count == count else {
            throw HDF5Error(context: "cannot write \(values.count) values to \(describe()) of \(count) elements")
        }
        if count == 0 { return }
        try values.withUnsafeBytes { buffer in
            try h5check(H5Dwrite(id, T.h5Type.memoryType, ablate_H5S_ALL(), ablate_H5S_ALL(),
                                 ablate_H5P_DEFAULT(), buffer.baseAddress),
                        "cannot write \(describe())")
        }
    }

    /// Appends rows along the first axis of an extendible dataset. `values` holds whole rows
    /// in row-major order (a multiple of the product of the other axes).
    public func append<T: H5Scalar>(_ values: [T]) throws {
        let (current, maximum) = try extent()
        guard !current.isEmpty else {
            throw HDF5Error(context: "cannot append to the scalar dataset \(describe())")
        }
        let rowSize = try H5Extent.elements(Array(current.dropFirst()), bytesEach: 0, what: describe())
        guard rowSize > 0, values.count % rowSize == 0 else {
            throw HDF5Error(context: "cannot append \(values.count) values to \(describe()): rows hold \(rowSize) values")
        }
        let newRows = values.count / rowSize
        if newRows == 0 { return }
        if let limit = maximum[0], current[0] > limit - newRows {
            throw HDF5Error(context: "cannot append to \(describe()): it is not extendible past \(limit) rows")
        }
        var newShape = current.map { hsize_t($0) }
        newShape[0] += hsize_t(newRows)
        try h5check(H5Dset_extent(id, newShape), "cannot extend \(describe())")
        // The file space must be fetched again after the extent changed.
        let fileSpace = try h5check(H5Dget_space(id), "cannot get dataspace of \(describe())")
        defer { H5Sclose(fileSpace) }
        var start = [hsize_t](repeating: 0, count: current.count)
        start[0] = hsize_t(current[0])
        var count = newShape
        count[0] = hsize_t(newRows)
        try h5check(H5Sselect_hyperslab(fileSpace, H5S_SELECT_SET, start, nil, count, nil),
                    "cannot select the new rows of \(describe())")
        let memorySpace = try h5check(H5Screate_simple(Int32(count.count), count, nil),
                                      "cannot create a memory dataspace")
        defer { H5Sclose(memorySpace) }
        try values.withUnsafeBytes { buffer in
            try h5check(H5Dwrite(id, T.h5Type.memoryType, memorySpace, fileSpace, ablate_H5P_DEFAULT(),
                                 buffer.baseAddress),
                        "cannot append to \(describe())")
        }
    }

    /// Reads a scalar or 1-element string dataset (variable or fixed length).
    public func readString() throws -> String {
        let type = try h5check(H5Dget_type(id), "cannot get the type of \(describe())")
        defer { H5Tclose(type) }
        guard H5Tget_class(type) == H5T_STRING else {
            throw HDF5Error(context: "\(describe()) holds \(H5TypeDescription.describe(type)), not a string")
        }
        let count = try H5Extent.elements(try shape(), bytesEach: 1, what: describe())
        guard count == 1 else {
            throw HDF5Error(context: "\(describe()) holds \(count) strings; expected one")
        }
        let strings = try H5StringIO.read(count: 1, fileType: type, what: describe()) { memoryType, buffer in
            H5Dread(id, memoryType, ablate_H5S_ALL(), ablate_H5S_ALL(), ablate_H5P_DEFAULT(), buffer)
        }
        return strings[0]
    }

    private func requireNumeric() throws {
        let type = try h5check(H5Dget_type(id), "cannot get the type of \(describe())")
        defer { H5Tclose(type) }
        let typeClass = H5Tget_class(type)
        guard typeClass == H5T_INTEGER || typeClass == H5T_FLOAT else {
            throw HDF5Error(context: "\(describe()) holds \(H5TypeDescription.describe(type)), not numbers")
        }
    }
}

extension H5Group {
    /// Creates a dataset of `shape` (an empty shape is a scalar) and writes `values` into it.
    @discardableResult
    public func createDataset<T: H5Scalar>(_ name: String, shape: [Int], values: [T],
                                           storage: H5Storage = .contiguous) throws -> H5Dataset {
        let count = shape.reduce(1, *)
        guard values.count == count else {
            throw HDF5Error(context: "cannot create \(describe(name)): shape \(shape) holds \(count) values, got \(values.count)")
        }
        let dataset = try createDataset(name, type: T.self, shape: shape, maxShape: shape.map { $0 }, storage: storage)
        try dataset.write(values)
        return dataset
    }

    /// Creates an extendible dataset whose first axis starts at 0 rows and grows with
    /// `append`; every row has `rowShape`. Chunked by `chunkRows` rows, gzip-compressed.
    @discardableResult
    public func createExtendibleDataset<T: H5Scalar>(_ name: String, of type: T.Type, rowShape: [Int] = [],
                                                     chunkRows: Int = 256, gzipLevel: Int? = 4,
                                                     shuffle: Bool = true) throws -> H5Dataset {
        let rowSize = rowShape.reduce(1, *)
        // Keep chunks near 64 KiB..1 MiB whatever the row size.
        let rows = max(1, min(chunkRows, (1 << 18) / max(rowSize, 1)))
        let storage = H5Storage(chunks: [rows] + rowShape.map { max($0, 1) }, gzipLevel: gzipLevel, shuffle: shuffle)
        return try createDataset(name, type: type, shape: [0] + rowShape, maxShape: [nil] + rowShape.map { $0 },
                                 storage: storage)
    }

    /// Creates an empty dataset. `maxShape` entries that are nil are unlimited (needs chunks).
    public func createDataset<T: H5Scalar>(_ name: String, type: T.Type, shape: [Int], maxShape: [Int?],
                                           storage: H5Storage) throws -> H5Dataset {
        guard shape.count == maxShape.count, shape.allSatisfy({ $0 >= 0 }) else {
            throw HDF5Error(context: "cannot create \(describe(name)): invalid shape \(shape) / max \(maxShape)")
        }
        let space: hid_t
        if shape.isEmpty {
            space = try h5check(H5Screate(H5S_SCALAR), "cannot create a scalar dataspace")
        } else {
            let dims = shape.map { hsize_t($0) }
            let maxDims = maxShape.map { $0.map { hsize_t($0) } ?? ablate_H5S_UNLIMITED() }
            space = try h5check(H5Screate_simple(Int32(dims.count), dims, maxDims),
                                "cannot create a dataspace of shape \(shape)")
        }
        defer { H5Sclose(space) }
        let dcpl = try h5check(H5Pcreate(ablate_H5P_DATASET_CREATE()), "cannot create dataset properties")
        defer { H5Pclose(dcpl) }
        if let chunks = storage.chunks, !shape.isEmpty {
            guard chunks.count == shape.count, chunks.allSatisfy({ $0 > 0 }) else {
                throw HDF5Error(context: "cannot create \(describe(name)): chunk shape \(chunks) does not fit shape \(shape)")
            }
            try h5check(H5Pset_chunk(dcpl, Int32(chunks.count), chunks.map { hsize_t($0) }),
                        "cannot set chunks \(chunks) for \(describe(name))")
            if storage.shuffle { try h5check(H5Pset_shuffle(dcpl), "cannot enable shuffle") }
            if let level = storage.gzipLevel {
                guard (0...9).contains(level) else {
                    throw HDF5Error(context: "gzip level must be 0...9, got \(level)")
                }
                try h5check(H5Pset_deflate(dcpl, UInt32(level)), "cannot enable gzip")
            }
        } else if storage.gzipLevel != nil || storage.shuffle || maxShape.contains(where: { $0 == nil }) {
            throw HDF5Error(context: "cannot create \(describe(name)): compression and unlimited axes need chunks")
        }
        let lcpl = try intermediateGroupLinkProperties()
        defer { H5Pclose(lcpl) }
        let did = try h5check(H5Dcreate2(id, name, T.h5Type.fileType, space, lcpl, dcpl, ablate_H5P_DEFAULT()),
                              "cannot create dataset \(describe(name))")
        return H5Dataset(adopting: did, path: childPath(name), context: context)
    }

    /// Creates a scalar variable-length UTF-8 string dataset (for long text such as a spec).
    @discardableResult
    public func createStringDataset(_ name: String, value: String) throws -> H5Dataset {
        try createVariableStrings(name, [value], scalar: true)
    }

    /// A variable-length UTF-8 string dataset: scalar (one value) or 1-D (any count, even 0).
    func createVariableStrings(_ name: String, _ values: [String], scalar: Bool) throws -> H5Dataset {
        let type = try H5StringIO.variableUTF8Type()
        defer { H5Tclose(type) }
        var dims = [hsize_t(values.count)]
        let space = scalar ? try h5check(H5Screate(H5S_SCALAR), "cannot create a scalar dataspace")
                           : try h5check(H5Screate_simple(1, &dims, nil), "cannot create a dataspace")
        defer { H5Sclose(space) }
        let lcpl = try intermediateGroupLinkProperties()
        defer { H5Pclose(lcpl) }
        let did = try h5check(H5Dcreate2(id, name, type, space, lcpl, ablate_H5P_DEFAULT(), ablate_H5P_DEFAULT()),
                              "cannot create dataset \(describe(name))")
        let dataset = H5Dataset(adopting: did, path: childPath(name), context: context)
        if !values.isEmpty {
            try H5StringIO.writeVariable(values) { pointer in
                H5Dwrite(did, type, ablate_H5S_ALL(), ablate_H5S_ALL(), ablate_H5P_DEFAULT(), pointer)
            }
        }
        return dataset
    }

    /// Link-creation properties that create missing intermediate groups ("a/b/c"). Caller closes.
    func intermediateGroupLinkProperties() throws -> hid_t {
        let lcpl = try h5check(H5Pcreate(ablate_H5P_LINK_CREATE()), "cannot create link properties")
        do {
            try h5check(H5Pset_create_intermediate_group(lcpl, 1), "cannot set intermediate group creation")
        } catch {
            H5Pclose(lcpl)
            throw error
        }
        return lcpl
    }
}
