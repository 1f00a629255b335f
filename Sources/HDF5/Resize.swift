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
        let count = try shape().reduce(1, *)
        return try H5StringIO.read(count: count, fileType: type, what: describe()) { memoryType, buffer in
            H5Dread(id, memoryType, ablate_H5S_ALL(), ablate_H5S_ALL(), ablate_H5P_DEFAULT(), buffer)
        }
    }
}

extension H5Group {
    /// Creates a 1-D variable-length UTF-8 string dataset of `values.count` entries (may be 0).
    @discardableResult
    public func createStringArrayDataset(_ name: String, values: [String]) throws -> H5Dataset {
        let type = try H5StringIO.variableUTF8Type()
        defer { H5Tclose(type) }
        var dims = [hsize_t(values.count)]
        let space = try h5check(H5Screate_simple(1, &dims, nil), "cannot create a dataspace")
        defer { H5Sclose(space) }
        let lcpl = try h5check(H5Pcreate(ablate_H5P_LINK_CREATE()), "cannot create link properties")
        defer { H5Pclose(lcpl) }
        try h5check(H5Pset_create_intermediate_group(lcpl, 1), "cannot set intermediate group creation")
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
}
