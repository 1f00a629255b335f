// The HDF5 target is the only Swift code that calls the HDF5 C API (CHDF5). Every other layer
// works with the classes in this folder: `H5File`, `H5Group`, `H5Dataset`, attributes.
//
// Threading: Debian's HDF5 is built thread-safe (one global lock), but the classes here are not
// `Sendable`: use each file from one thread at a time.
import CHDF5

/// One-time library setup: open the library and switch off HDF5's automatic printing of its
/// error stack to stderr. Failed calls are turned into `HDF5Error`s instead (see `HDF5Error`).
enum HDF5Library {
    /// Swift runs a global's initialiser exactly once, lazily and thread-safely.
    private static let initialised: Bool = {
        _ = H5open()
        return true
    }()

    /// Called at every entry point (opening a file, inspecting, diagnostics). Debian's HDF5 is
    /// built thread-safe, which makes the error-printing setting per thread: switch it off for
    /// the calling thread each time (a cheap call).
    static func ensureInitialised() {
        _ = initialised
        _ = H5Eset_auto2(ablate_H5E_DEFAULT(), nil, nil)
    }
}

/// Library-wide facts for tests and diagnostics.
public enum HDF5Diagnostics {
    /// The number of HDF5 objects (files, groups, datasets, named datatypes, attributes) that are
    /// open anywhere in this process. Zero when every handle has been closed.
    public static func openObjectCount() -> Int {
        HDF5Library.ensureInitialised()
        return Int(H5Fget_obj_count(ablate_H5F_OBJ_ALL_ID(), ablate_H5F_OBJ_ALL()))
    }

    /// The HDF5 library version this binary runs against, e.g. "1.10.8".
    public static func libraryVersion() -> String {
        var major: UInt32 = 0, minor: UInt32 = 0, release: UInt32 = 0
        _ = H5get_libversion(&major, &minor, &release)
        return "\(major).\(minor).\(release)"
    }
}
