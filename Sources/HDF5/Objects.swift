import CHDF5
import Foundation

/// Anything in a file that can carry attributes and be addressed by path: the root group,
/// groups and datasets. `id` stays valid until `close()` or deinit.
public protocol H5Object: AnyObject {
    var id: hid_t { get }
    /// Path of the object inside its file, e.g. "/metrics/train/loss".
    var path: String { get }
    /// The file's path on disk, for error messages.
    var filePath: String { get }
}

extension H5Object {
    func describe(_ name: String? = nil) -> String {
        let inner: String
        if let name {
            inner = path == "/" ? "/\(name)" : "\(path)/\(name)"
        } else {
            inner = path
        }
        return "'\(inner)' in '\(filePath)'"
    }
}

/// Owns one HDF5 identifier and closes it exactly once: on `close()` or when the last Swift
/// reference goes away, whichever comes first.
final class Handle {
    private(set) var id: hid_t
    private let closer: (hid_t) -> herr_t

    init(_ id: hid_t, closer: @escaping (hid_t) -> herr_t) {
        self.id = id
        self.closer = closer
    }

    var isOpen: Bool { id >= 0 }

    func close() {
        if id >= 0 {
            _ = closer(id)
            id = -1
        }
    }

    deinit { close() }
}

/// What the objects of one open file share: the path for messages, and weak references to
/// every handle opened inside the file so `H5File.close()` can close them all at once.
final class FileContext {
    let path: String
    private var handles: [WeakHandle] = []
    private var pruneAt = 64

    private struct WeakHandle { weak var handle: Handle? }

    init(path: String) { self.path = path }

    func register(_ handle: Handle) {
        if handles.count >= pruneAt {
            handles.removeAll { $0.handle?.isOpen != true }
            pruneAt = max(64, handles.count * 2)
        }
        handles.append(WeakHandle(handle: handle))
    }

    func closeAll() {
        for entry in handles { entry.handle?.close() }
        handles.removeAll()
    }
}

/// An HDF5 file. The root group is `root`; groups and datasets below it are reached by path.
/// `close()` closes the file and every group, dataset and attribute still open in it, so the
/// file is really released (other processes can then open it); closed objects throw if used.
public final class H5File {
    public enum Mode: Sendable {
        /// Create the file, replacing any existing file at the path.
        case truncate
        /// Open an existing file for reading only.
        case readOnly
        /// Open an existing file for reading and writing.
        case readWrite
    }

    private let handle: Handle
    private let context: FileContext
    public let path: String
    public let mode: Mode
    public var id: hid_t { handle.id }

    /// Opens or creates `path`. A missing file, a file that is not HDF5, or a truncated file
    /// throws an `HDF5Error` that names the path and HDF5's reason.
    public init(path: String, mode: Mode) throws {
        HDF5Library.ensureInitialised()
        self.path = path
        self.mode = mode
        let fileID: hid_t
        switch mode {
        case .truncate:
            fileID = try h5check(
                H5Fcreate(path, ablate_H5F_ACC_TRUNC(), ablate_H5P_DEFAULT(), ablate_H5P_DEFAULT()),
                "cannot create HDF5 file '\(path)'")
        case .readOnly, .readWrite:
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw HDF5Error(context: "cannot open '\(path)': no such file")
            }
            if isDirectory.boolValue {
                throw HDF5Error(context: "cannot open '\(path)': it is a directory, not an HDF5 file")
            }
            // A damaged global heap crashes libhdf5 1.10.8: refused before HDF5 reads it.
            try H5GlobalHeapCheck.validate(path: path)
            let flags = mode == .readOnly ? ablate_H5F_ACC_RDONLY() : ablate_H5F_ACC_RDWR()
            fileID = try h5check(
                H5Fopen(path, flags, ablate_H5P_DEFAULT()),
                "cannot open '\(path)' as HDF5")
        }
        handle = Handle(fileID, closer: H5Fclose)
        context = FileContext(path: path)
    }

    /// The root group "/".
    public var root: H5Group {
        get throws { try H5Group(openAt: id, name: "/", path: "/", context: context) }
    }

    /// Writes everything buffered so far to disk; a reader (or a killed writer's file) then
    /// sees all data appended up to this point.
    public func flush() throws {
        try h5check(H5Fflush(id, H5F_SCOPE_GLOBAL), "cannot flush '\(path)'")
    }

    /// Closes every object still open in the file, then the file.
    public func close() {
        context.closeAll()
        handle.close()
    }

    public var isOpen: Bool { handle.isOpen }
}

/// The kind of an object reached through a link.
public enum H5ObjectKind: String, Codable, Sendable {
    case group, dataset, datatype
}

/// A group: a folder of links to groups and datasets.
public final class H5Group: H5Object {
    private let handle: Handle
    let context: FileContext
    public let path: String
    public var filePath: String { context.path }
    public var id: hid_t { handle.id }

    init(openAt location: hid_t, name: String, path: String, context: FileContext) throws {
        self.path = path
        self.context = context
        let gid = try h5check(H5Gopen2(location, name, ablate_H5P_DEFAULT()),
                              "cannot open group '\(path)' in '\(context.path)'")
        handle = Handle(gid, closer: H5Gclose)
        context.register(handle)
    }

    init(adopting gid: hid_t, path: String, context: FileContext) {
        self.path = path
        self.context = context
        handle = Handle(gid, closer: H5Gclose)
        context.register(handle)
    }

    public func close() { handle.close() }

    func childPath(_ name: String) -> String {
        if name.hasPrefix("/") { return name }
        return path == "/" ? "/\(name)" : "\(path)/\(name)"
    }

    /// True when `name` (a relative path; every component is checked) names an existing link.
    public func contains(_ name: String) throws -> Bool {
        var prefix = ""
        for component in name.split(separator: "/") {
            prefix = prefix.isEmpty ? String(component) : "\(prefix)/\(component)"
            let exists = try h5bool(H5Lexists(id, prefix, ablate_H5P_DEFAULT()),
                                    "cannot look up \(describe(prefix))")
            if !exists { return false }
        }
        return true
    }

    /// Creates a group; intermediate groups in `name` ("a/b/c") are created as needed.
    @discardableResult
    public func createGroup(_ name: String) throws -> H5Group {
        let lcpl = try intermediateGroupLinkProperties()
        defer { H5Pclose(lcpl) }
        let gid = try h5check(H5Gcreate2(id, name, lcpl, ablate_H5P_DEFAULT(), ablate_H5P_DEFAULT()),
                              "cannot create group \(describe(name))")
        return H5Group(adopting: gid, path: childPath(name), context: context)
    }

    /// Opens an existing group.
    public func group(_ name: String) throws -> H5Group {
        guard try contains(name) else {
            throw HDF5Error(context: "no group \(describe(name))")
        }
        return try H5Group(openAt: id, name: name, path: childPath(name), context: context)
    }

    /// Opens `name` if it exists, else creates it (with intermediate groups).
    public func requireGroup(_ name: String) throws -> H5Group {
        try contains(name) ? group(name) : createGroup(name)
    }

    /// Opens an existing dataset.
    public func dataset(_ name: String) throws -> H5Dataset {
        guard try contains(name) else {
            throw HDF5Error(context: "no dataset \(describe(name))")
        }
        let did = try h5check(H5Dopen2(id, name, ablate_H5P_DEFAULT()),
                              "cannot open dataset \(describe(name))")
        return H5Dataset(adopting: did, path: childPath(name), context: context)
    }

    /// Names of the links in this group, sorted by name (HDF5's name index).
    public func linkNames() throws -> [String] {
        var info = H5G_info_t()
        try h5check(H5Gget_info(id, &info), "cannot list \(describe())")
        var names: [String] = []
        names.reserveCapacity(Int(min(info.nlinks, 4096)))
        for index in 0..<info.nlinks {
            let length = H5Lget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, index, nil, 0,
                                            ablate_H5P_DEFAULT())
            if length < 0 { throw HDF5Error.fromStack("cannot read link \(index) of \(describe())") }
            var buffer = [CChar](repeating: 0, count: Int(length) + 1)
            let written = H5Lget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, index, &buffer,
                                             buffer.count, ablate_H5P_DEFAULT())
            if written < 0 { throw HDF5Error.fromStack("cannot read link \(index) of \(describe())") }
            names.append(String(cChars: buffer))
        }
        return names
    }

    /// The kind of object a link points to (following soft links).
    public func kind(of name: String) throws -> H5ObjectKind {
        let oid = try h5check(H5Oopen(id, name, ablate_H5P_DEFAULT()), "cannot open \(describe(name))")
        defer { H5Oclose(oid) }
        switch H5Iget_type(oid) {
        case H5I_GROUP: return .group
        case H5I_DATASET: return .dataset
        case H5I_DATATYPE: return .datatype
        default: throw HDF5Error(context: "\(describe(name)) is an object of unknown kind")
        }
    }

    /// Removes a link (the space it used is not reclaimed until the file is repacked).
    public func remove(_ name: String) throws {
        try h5check(H5Ldelete(id, name, ablate_H5P_DEFAULT()), "cannot remove \(describe(name))")
    }
}

extension String {
    /// Decodes a NUL-terminated C character buffer as UTF-8.
    init(cChars buffer: [CChar]) {
        self = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
