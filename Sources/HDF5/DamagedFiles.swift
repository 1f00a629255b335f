// Reading damaged files without crashing (docs/reliability.md, "Corrupt and truncated files").
//
// 1. Swift side: every size a file claims is checked before it is used (`H5Extent`): an axis past
//    Int.max, a product that overflows, or a buffer larger than this machine's memory is a thrown
//    `HDF5Error` naming the file, never a trap or a failed allocation.
// 2. Inside libhdf5 1.10.8, two crashing paths were met on damaged run files, and both are
//    avoided rather than isolated: a damaged attribute message (H5Aiterate2 frees a half-built
//    table; avoided in `attributeNames`), and a damaged global heap collection, where variable-
//    length strings live (H5HG_read copies past the collection; `H5GlobalHeapCheck` refuses such
//    a file before HDF5 opens it). Checking files in a child process first was tried and
//    dropped: these crashes depend on the heap state of the process, so a child that survived a
//    file did not mean the parent would.
import CHDF5
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Checked element counts for buffers sized from a file.
public enum H5Extent {
    /// The number of elements of `shape` (1 for a scalar); throws when the product overflows or
    /// the buffer (`bytesEach` per element) would exceed the physical memory.
    public static func elements(_ shape: [Int], bytesEach: Int, what: @autoclosure () -> String) throws -> Int {
        var count = 1
        for size in shape {
            guard size >= 0 else { throw HDF5Error(context: "\(what()) has a negative axis size \(size) (the file is damaged)") }
            let (product, overflow) = count.multipliedReportingOverflow(by: size)
            guard !overflow else {
                throw HDF5Error(context: "\(what()) claims shape \(shape), more elements than can be counted (the file is damaged)")
            }
            count = product
        }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: max(bytesEach, 0))
        if overflow || UInt64(bytes) > ProcessInfo.processInfo.physicalMemory {
            throw HDF5Error(context: "\(what()) claims shape \(shape): \(overflow ? "more" : "\(bytes)") bytes, more than this machine's memory (the file is damaged)")
        }
        return count
    }
}

/// Validates the global heap collections of a file (where HDF5 keeps variable-length strings)
/// the way HDF5 1.10.8 parses them, before HDF5 does: that version trusts each object's size and
/// copies past the collection (SIGSEGV) or loops forever on a zero-sized free-space object.
public enum H5GlobalHeapCheck {
    /// Throws an `HDF5Error` naming the file and offset of the first damaged collection.
    public static func validate(path: String) throws {
        guard let data = try? Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) else { return }
        if let offset = firstDamagedCollection(data) {
            throw HDF5Error(context: "'\(path)' is damaged: the global heap collection at byte \(offset) (variable-length strings) has objects that do not fit in it")
        }
    }

    /// The offset of the first collection whose objects overrun it, or nil.
    public static func firstDamagedCollection(_ data: Data) -> Int? {
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Int? in
            guard let base = raw.baseAddress, raw.count >= 16 else { return nil }
            let count = raw.count
            func u64(_ at: Int) -> UInt64 { raw.loadUnaligned(fromByteOffset: at, as: UInt64.self).littleEndian }
            func u16(_ at: Int) -> UInt16 { raw.loadUnaligned(fromByteOffset: at, as: UInt16.self).littleEndian }
            var from = 0
            while from + 16 <= count {
                guard let hit = memchr(base + from, 0x47, count - from - 3) else { break }   // "G"
                let offset = base.distance(to: UnsafeRawPointer(hit))
                from = offset + 1
                guard raw[offset + 1] == 0x43, raw[offset + 2] == 0x4F, raw[offset + 3] == 0x4C else { continue }  // "COL"
                // Only what HDF5 itself would accept as a collection header: version 1, a size of
                // at least its 4 KiB minimum that lies inside the file (else HDF5 fails cleanly).
                guard offset + 16 <= count, raw[offset + 4] == 1 else { continue }
                let size = u64(offset + 8)
                guard size >= 4096, size <= UInt64(count - offset) else { continue }
                let end = offset + Int(size)
                var p = offset + 16
                while p < end {
                    if p + 16 > end { break }   // the tail is free space
                    let index = u16(p)
                    let objectSize = u64(p + 8)
                    guard objectSize <= UInt64(end - p) else { return offset }
                    let need = index > 0 ? 16 + (Int(objectSize) + 7) & ~7 : Int(objectSize)
                    guard need > 0, need <= end - p else { return offset }
                    p += need
                }
            }
            return nil
        }
    }
}
