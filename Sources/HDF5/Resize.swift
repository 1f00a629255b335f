// Shrinking and growing the first axis of an extendible dataset, and 1-D string arrays. Added for
// the run file: resuming a run cuts every aligned dataset back to the rows its checkpoint covers.
import CHDF5

extension H5Dataset {
    /// Sets the number of rows (first axis) of an extendible (chunked) dataset. Shrinking
    /// discards the rows at `rows...`; growing adds rows holding the fill value (zero). Other
    /// axes keep their size. Throws for scalar datasets and past the maximum extent.
    public func resize(rows: Int) throws {
        let (current, maximum) = try extent()
        guard !current.isEmpty else {
            throw HDF5Error(context: "cannot resize the scalar dataset \(describe())")
        }
        guard rows >= 0 else {
            throw HDF5Error(context: "cannot resize \(describe()) to \(rows) rows")
        }
        if let limit = maximum[0], rows > limit {
            throw HDF5Error(context: "cannot resize \(describe()) to \(rows) rows: its maximum is \(limit)")
        }
        if rows == current[0] { return }
        var newShape = current.map { hsize_t($0) }
        newShape[0] = hsize_t(rows)
        try h5check(H5Dset_extent(id, newShape), "cannot resize \(describe()) to \(rows) rows")
    }

    /// Reads a 1-D (or scalar) string dataset, variable or fixed length.
    public func readStrings() throws -> [String] {
        let type = try h5check(H5Dget_type(id), "cannot get the type of \(describe())")
        defer { H5Tclose(type) }
        guard H5Tget_class(type) == H5T_STRING else {
            throw HDF5Error(context: "\(describe()) holds \(H5TypeDescription.describe(type)), not strings")
        }
        let count = try H5Extent.elements(try shape(), bytesEach: MemoryLayout<UnsafeRawPointer>.stride, what: describe())
        return try H5StringIO.read(count: count, fileType: type, what: describe()) { memoryType, buffer in
            H5Dread(id, memoryType, ablate_H5S_ALL(), ablate_H5S_ALL(), ablate_H5P_DEFAULT(), buffer)
        }
    }
}

extension H5Group {
    /// Creates a 1-D variable-length UTF-8 string dataset of `values.count` entries (may be 0).
    @discardableResult
    public func createStringArrayDataset(_ name: String, values: [String]) throws -> H5Dataset {
        try createVariableStrings(name, values, scalar: false)
    }
}
