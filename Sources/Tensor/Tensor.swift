// Tensor: float32 values in contiguous row-major storage, plus the integer tensor used for token
// ids and indices. This file owns storage, views and element access; the tape lives in
// Autodiff.swift and every operation in an `Ops+*.swift` file.
//
// Ownership: `TensorStorage` is a reference-counted buffer (a class); `Tensor` is a small value
// (storage, element offset, shape, optional tape node), so copies, reshapes and leading-dim
// slices are free and share memory. Storage is never resized. Ops always write a fresh storage;
// only explicit in-place helpers (`withUnsafeMutableBufferPointer`, used by optimisers) mutate.
import CPUFeatures
import Foundation

/// Process-wide allocator settings for training.
public enum Allocator {
    /// Keeps freed tensor buffers in the process for reuse instead of returning them to the
    /// kernel. Every op allocates a fresh buffer and a step frees them all again; with glibc's
    /// defaults, buffers above its (adaptive) mmap threshold are mapped and unmapped each time,
    /// and a shrinking heap is trimmed, so every step page-faults its activations in again
    /// (a zeroed page per 4 KiB). With both thresholds raised, a step's buffers come back from
    /// the heap already mapped. Peak memory is unchanged: it is the step's live set either way.
    /// Call once, before training; it changes speed only.
    public static func keepFreedMemory() {
        _ = ablate_keep_freed_memory()
    }
}

/// A reference-counted, fixed-size float32 buffer shared by every view of it.
final class TensorStorage {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int
    private let tracker: AllocationTracker?

    /// A buffer whose contents are undefined (every op writes all of it before returning).
    init(uninitializedCount count: Int) {
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        tracker = AllocationTracker.active
        tracker?.update(storages: 1, bytes: count * MemoryLayout<Float>.stride, nodes: 0)
    }

    convenience init(zeros count: Int) {
        self.init(uninitializedCount: count)
        pointer.update(repeating: 0, count: count)
    }

    deinit {
        tracker?.update(storages: -1, bytes: -count * MemoryLayout<Float>.stride, nodes: 0)
        pointer.deallocate()
    }
}

/// An n-dimensional float32 array, row-major and contiguous, optionally recorded on the tape.
///
/// `Tensor` is a value: copying it copies four words. Views (`reshaped`, `rows(_:)`) share the
/// storage. A tensor "requires grad" when it carries a tape node: leaves made with
/// `requiringGrad()` / `requiresGrad: true`, and every op result computed from one while
/// gradient recording is on (see `Tensor.withoutGrad`).
public struct Tensor {
    /// Dimensions, outermost first. `[]` is a scalar (one element).
    public let shape: [Int]
    /// Number of elements (product of `shape`).
    public let count: Int
    let storage: TensorStorage
    let offset: Int
    var node: TapeNode?

    init(shape: [Int], storage: TensorStorage, offset: Int = 0, node: TapeNode? = nil) {
        self.shape = shape
        self.count = Tensor.elementCount(shape)
        self.storage = storage
        self.offset = offset
        self.node = node
        require(offset + count <= storage.count, "Tensor: view out of storage bounds")
    }

    /// A tensor with undefined contents, for ops that overwrite every element.
    init(uninitialized shape: [Int]) {
        self.init(shape: shape, storage: TensorStorage(uninitializedCount: Tensor.elementCount(shape)))
    }

    /// Pointer to the first element (valid while the tensor is alive).
    var ptr: UnsafeMutablePointer<Float> { storage.pointer + offset }

    static func elementCount(_ shape: [Int]) -> Int {
        var n = 1
        for d in shape {
            require(d >= 0, "Tensor: negative dimension in shape \(shape)")
            n *= d
        }
        return n
    }

    // MARK: Creation

    /// A tensor of the given shape holding `scalars` in row-major order.
    public init(shape: [Int], scalars: [Float], requiresGrad: Bool = false) {
        let n = Tensor.elementCount(shape)
        require(scalars.count == n,
                     "Tensor(shape:scalars:): shape \(shape) needs \(n) scalars, got \(scalars.count)")
        self.init(uninitialized: shape)
        scalars.withUnsafeBufferPointer { ptr.update(from: $0.baseAddress!, count: n) }
        if requiresGrad { node = TapeNode(leafCount: n) }
    }

    /// A rank-0 tensor.
    public init(_ scalar: Float, requiresGrad: Bool = false) {
        self.init(shape: [], scalars: [scalar], requiresGrad: requiresGrad)
    }

    /// A tensor filled with `value`.
    public init(repeating value: Float, shape: [Int], requiresGrad: Bool = false) {
        self.init(uninitialized: shape)
        ptr.update(repeating: value, count: count)
        if requiresGrad { node = TapeNode(leafCount: count) }
    }

    public static func zeros(_ shape: [Int], requiresGrad: Bool = false) -> Tensor {
        Tensor(repeating: 0, shape: shape, requiresGrad: requiresGrad)
    }

    public static func ones(_ shape: [Int], requiresGrad: Bool = false) -> Tensor {
        Tensor(repeating: 1, shape: shape, requiresGrad: requiresGrad)
    }

    /// A tensor whose element `i` is `body(i)` (row-major flat index).
    public init(shape: [Int], requiresGrad: Bool = false, _ body: (Int) -> Float) {
        self.init(uninitialized: shape)
        for i in 0..<count { ptr[i] = body(i) }
        if requiresGrad { node = TapeNode(leafCount: count) }
    }

    // MARK: Element access

    public var rank: Int { shape.count }

    /// The elements in row-major order (a copy).
    public var scalars: [Float] { Array(UnsafeBufferPointer(start: ptr, count: count)) }

    /// The single element of a one-element tensor.
    public var item: Float {
        require(count == 1, "item: needs exactly one element, got shape \(shape)")
        return ptr[0]
    }

    /// Element at a multi-index.
    public subscript(_ index: Int...) -> Float {
        require(index.count == rank, "subscript: \(index.count) indices for shape \(shape)")
        var flat = 0
        for (i, d) in zip(index, shape) {
            require(i >= 0 && i < d, "subscript: index \(index) out of range for shape \(shape)")
            flat = flat * d + i
        }
        return ptr[flat]
    }

    /// Read-only access to the elements in place.
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: ptr, count: count))
    }

    /// In-place mutation of the elements (shared with every view of the same storage). Meant for
    /// optimiser updates of leaves outside any recorded computation; mutating a tensor whose
    /// values a pending backward still needs gives wrong gradients.
    public func withUnsafeMutableBufferPointer<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeMutableBufferPointer(start: ptr, count: count))
    }

    /// A deep copy with its own storage, not recorded on the tape.
    public func copy() -> Tensor {
        var t = Tensor(uninitialized: shape)
        t.ptr.update(from: ptr, count: count)
        t.node = nil
        return t
    }

    /// Same values (shared storage), cut off from the tape: no gradient flows through it.
    public func detached() -> Tensor {
        Tensor(shape: shape, storage: storage, offset: offset, node: nil)
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let shown = scalars.prefix(16).map { "\($0)" }.joined(separator: ", ")
        return "Tensor(shape: \(shape), [\(shown)\(count > 16 ? ", …" : "")])"
    }
}

/// An n-dimensional array of Int32: token ids, targets, expert and row indices. Never on the tape.
public struct IntTensor: Equatable, Sendable {
    public let shape: [Int]
    public var scalars: [Int32]

    public init(shape: [Int], scalars: [Int32]) {
        require(scalars.count == Tensor.elementCount(shape),
                     "IntTensor(shape:scalars:): shape \(shape) needs \(Tensor.elementCount(shape)) scalars, got \(scalars.count)")
        self.shape = shape
        self.scalars = scalars
    }

    public init(shape: [Int], _ body: (Int) -> Int32) {
        self.init(shape: shape, scalars: (0..<Tensor.elementCount(shape)).map(body))
    }

    public init(_ scalars: [Int32]) { self.init(shape: [scalars.count], scalars: scalars) }

    public var count: Int { scalars.count }
    public var rank: Int { shape.count }

    public func reshaped(_ newShape: [Int]) -> IntTensor {
        IntTensor(shape: checked { try Shapes.reshape("IntTensor.reshaped", shape, newShape) }, scalars: scalars)
    }

    public subscript(_ index: Int...) -> Int32 {
        require(index.count == rank, "subscript: \(index.count) indices for shape \(shape)")
        var flat = 0
        for (i, d) in zip(index, shape) {
            require(i >= 0 && i < d, "subscript: index \(index) out of range for shape \(shape)")
            flat = flat * d + i
        }
        return scalars[flat]
    }
}
