// Per-file open-object count: unlike `HDF5Diagnostics.openObjectCount()` (process-wide), it is
// not disturbed by other tests that have their own files open at the same time.
import CHDF5

extension H5File {
    /// Objects open in this file (itself included) through any identifier in this process. A
    /// freshly opened file whose earlier writers closed everything counts exactly 1.
    public func openObjectCount() -> Int {
        Int(H5Fget_obj_count(id, ablate_H5F_OBJ_ALL()))
    }
}

extension HDF5Diagnostics {
    /// Objects open anywhere in this process that belong to files whose path starts with
    /// `directory` + "/". Lets a test check for leaks in its own files while other tests run
    /// in parallel with files of their own.
    public static func openObjectCount(inFilesUnder directory: String) -> Int {
        HDF5Library.ensureInitialised()
        let prefix = directory.hasSuffix("/") ? directory : directory + "/"
        let count = H5Fget_obj_count(ablate_H5F_OBJ_ALL_ID(), ablate_H5F_OBJ_ALL())
        guard count > 0 else { return 0 }
        var ids = [hid_t](repeating: 0, count: Int(count))
        let listed = H5Fget_obj_ids(ablate_H5F_OBJ_ALL_ID(), ablate_H5F_OBJ_ALL(), Int(count), &ids)
        var result = 0
        for id in ids.prefix(max(0, Int(listed))) {
            let length = H5Fget_name(id, nil, 0)
            guard length > 0 else { continue }
            var buffer = [CChar](repeating: 0, count: Int(length) + 1)
            guard H5Fget_name(id, &buffer, buffer.count) > 0 else { continue }
            if String(cChars: buffer).hasPrefix(prefix) { result += 1 }
        }
        return result
    }
}
