import CHDF5

/// A failed HDF5 operation. `context` says what Ablate was doing ("open file 'run.h5'"),
/// `stack` holds HDF5's own error stack (outermost call first), so the message reports the
/// library's real reason — e.g. "file signature not found" for a file that is not HDF5.
public struct HDF5Error: Error, CustomStringConvertible, Sendable, Equatable {
    public var context: String
    public var stack: [String]

    public init(context: String, stack: [String] = []) {
        self.context = context
        self.stack = stack
    }

    /// One line: the context, then the most specific reasons HDF5 gave.
    public var description: String {
        guard !stack.isEmpty else { return context }
        // The outermost frame says what failed; the innermost says why. Say both, once each.
        var reasons = [stack[0]]
        if stack.count > 1, stack[stack.count - 1] != stack[0] { reasons.append(stack[stack.count - 1]) }
        return "\(context): \(reasons.joined(separator: ": "))"
    }

    /// Builds an error from HDF5's current error stack, then clears that stack.
    static func fromStack(_ context: String) -> HDF5Error {
        final class Collector { var frames: [String] = [] }
        let collector = Collector()
        let unmanaged = Unmanaged.passRetained(collector)
        defer { unmanaged.release() }
        let callback: ablate_H5E_walk_cb = { _, descriptor, clientData in
            guard let descriptor, let clientData else { return 0 }
            let collector = Unmanaged<Collector>.fromOpaque(clientData).takeUnretainedValue()
            let entry = descriptor.pointee
            var text = entry.desc.map { String(cString: $0) } ?? ""
            // The minor message is HDF5's classification ("Not an HDF5 file", "Can't open object").
            var buffer = [CChar](repeating: 0, count: 256)
            if H5Eget_msg(entry.min_num, nil, &buffer, buffer.count) > 0 {
                let minor = String(cChars: buffer)
                if !minor.isEmpty, !text.localizedCaseInsensitiveContains(minor) {
                    text = text.isEmpty ? minor : "\(text) (\(minor.lowercasedFirst()))"
                }
            }
            if !text.isEmpty { collector.frames.append(text) }
            return 0
        }
        _ = H5Ewalk2(ablate_H5E_DEFAULT(), H5E_WALK_DOWNWARD, callback, unmanaged.toOpaque())
        _ = H5Eclear2(ablate_H5E_DEFAULT())
        return HDF5Error(context: context, stack: collector.frames)
    }
}

extension String {
    fileprivate func lowercasedFirst() -> String {
        guard let first else { return self }
        // Keep acronyms such as "HDF5" intact.
        if dropFirst().first?.isUppercase == true { return self }
        return first.lowercased() + dropFirst()
    }
}

/// Checks an `hid_t` result: negative means failure.
@inline(__always)
func h5check(_ id: hid_t, _ context: @autoclosure () -> String) throws(HDF5Error) -> hid_t {
    if id < 0 { throw HDF5Error.fromStack(context()) }
    return id
}

/// Checks an `herr_t` result.
@inline(__always)
func h5check(_ status: herr_t, _ context: @autoclosure () -> String) throws(HDF5Error) {
    if status < 0 { throw HDF5Error.fromStack(context()) }
}

/// Checks an `htri_t` result (true, false, or negative for failure).
@inline(__always)
func h5bool(_ value: htri_t, _ context: @autoclosure () -> String) throws(HDF5Error) -> Bool {
    if value < 0 { throw HDF5Error.fromStack(context()) }
    return value > 0
}
