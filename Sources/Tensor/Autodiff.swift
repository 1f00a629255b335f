// Autodiff: reverse-mode differentiation on a tape of `TapeNode`s.
//
// Every op whose inputs require grad (and while recording is on) attaches a `TapeNode` to its
// result: references to the input nodes and a backward closure that ADDS the input gradients
// into the inputs' gradient buffers. The nodes of one forward pass form the tape; it is owned
// by the tensors that hold them, so there is no global graph. `backward()` orders the nodes
// reachable from the loss (iterative depth-first post-order, deterministic: inputs in argument
// order), runs each closure once in reverse order, then releases every non-leaf node (closure,
// inputs and gradient buffer) — the tape is gone after backward even if tensors of the step are
// still alive, so memory cannot grow from step to step.
//
// Leaves (parameters) keep their gradient buffer across backward calls: gradients accumulate
// until `zeroGrad()`.
//
// Swift 6 safety: the only ambient state is two task-locals (`GradMode` for no-grad evaluation,
// `AllocationTracker.current` for memory accounting), each gated by a process-wide atomic count
// of active scopes so the common case skips the task-local lookup, plus an atomic counter that
// numbers backward calls. A tape (its nodes) belongs to the task that builds it.
import Foundation
import Synchronization

/// Backward calls so far, process-wide (each call's visit marker).
private let backwardEpochs = Atomic<Int>(0)

/// Number of `AllocationTracker.track` calls in progress, process-wide.
private let activeTrackers = Atomic<Int>(0)

/// One recorded op (or a leaf). Not thread-safe: a tape belongs to the task that builds it.
final class TapeNode {
    /// Elements of the tensor this node belongs to (length of the gradient buffer).
    let count: Int
    let isLeaf: Bool
    /// Nodes of the op's inputs, in argument order; `nil` for inputs that need no gradient.
    private(set) var inputs: [TapeNode?]
    /// Adds the inputs' gradients given this node's gradient (`grad`).
    private var backwardFn: ((UnsafeMutablePointer<Float>, TapeNode) -> Void)?
    /// Accumulated gradient; allocated (zeroed) on first use.
    var gradStorage: TensorStorage?
    private(set) var released = false
    /// Number of the last backward call that visited this node.
    var visitEpoch = 0
    private let tracker: AllocationTracker?

    init(leafCount: Int) {
        count = leafCount
        isLeaf = true
        inputs = []
        tracker = AllocationTracker.active
        tracker?.update(storages: 0, bytes: 0, nodes: 1)
    }

    init(count: Int, inputs: [TapeNode?], backward: @escaping (UnsafeMutablePointer<Float>, TapeNode) -> Void) {
        self.count = count
        isLeaf = false
        self.inputs = inputs
        backwardFn = backward
        tracker = AllocationTracker.active
        tracker?.update(storages: 0, bytes: 0, nodes: 1)
    }

    deinit { tracker?.update(storages: 0, bytes: 0, nodes: -1) }

    /// This node's gradient buffer, zero-filled on first use.
    func gradPointer() -> UnsafeMutablePointer<Float> {
        if let g = gradStorage { return g.pointer }
        let g = TensorStorage(zeros: count)
        gradStorage = g
        return g.pointer
    }

    /// Gradient buffer of input `i` to accumulate into, or nil when that input needs none.
    @inline(__always)
    func inputGrad(_ i: Int) -> UnsafeMutablePointer<Float>? {
        inputs[i]?.gradPointer()
    }

    /// Gradient buffer of input `i` for an op that contributes to EVERY element of it, or nil
    /// when that input needs none. `fresh`: the buffer did not exist and is uninitialised, so
    /// the op must write each element (its contribution) instead of adding it; this saves the
    /// zero fill and a read. Writing v where `0 + v` was added differs only in the sign of a
    /// zero gradient element, which no later step can turn into a different parameter bit:
    /// every GEMM chain starts at +0, and AdamW's moments add ±0 to +0.
    @inline(__always)
    func gradTarget(_ i: Int) -> GradTarget? {
        guard let input = inputs[i] else { return nil }
        if let g = input.gradStorage { return GradTarget(p: g.pointer, fresh: false) }
        let g = TensorStorage(uninitializedCount: input.count)
        input.gradStorage = g
        return GradTarget(p: g.pointer, fresh: true)
    }

    /// For ops whose input-`i` gradient IS this node's gradient, element for element (reshape,
    /// the first operand of add and sub): when the input has no gradient buffer yet, it takes
    /// this node's buffer (no copy, no pass) and true is returned; otherwise false, and the
    /// op adds as usual. Safe because backward runs this node after every consumer of it, and
    /// the node drops its buffer right after.
    func shareGrad(_ i: Int, _ g: UnsafeMutablePointer<Float>) -> Bool {
        guard let input = inputs[i], input.gradStorage == nil, input.count == count,
              let mine = gradStorage, mine.pointer == g else { return false }
        input.gradStorage = mine
        return true
    }

    /// For kernels that OVERWRITE their gradient outputs: calls `body` with one writable buffer
    /// per input (`counts[i]` elements each), then adds what was written into the inputs'
    /// gradients. An input whose gradient buffer does not exist yet gets it directly (no extra
    /// pass); an input that needs no gradient gets a scratch buffer that is discarded.
    func overwriteGrads(_ counts: [Int], _ body: ([UnsafeMutablePointer<Float>]) -> Void) {
        var targets: [UnsafeMutablePointer<Float>] = []
        var pending: [(UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>?, Int)] = []
        for (i, c) in counts.enumerated() {
            if let input = inputs[i], input.gradStorage == nil {
                let g = TensorStorage(uninitializedCount: c)
                input.gradStorage = g
                targets.append(g.pointer)
            } else {
                let tmp = UnsafeMutablePointer<Float>.allocate(capacity: max(c, 1))
                targets.append(tmp)
                pending.append((tmp, inputs[i]?.gradPointer(), c))
            }
        }
        body(targets)
        for (tmp, dst, c) in pending {
            if let dst { addInto(dst, tmp, c) }
            tmp.deallocate()
        }
    }

    func runBackward() {
        if let fn = backwardFn, let g = gradStorage { fn(g.pointer, self) }
    }

    /// Drops the closure, the inputs and the gradient: the node no longer holds any memory.
    func release() {
        backwardFn = nil
        inputs = []
        gradStorage = nil
        released = true
    }
}

/// Where an op's backward puts one input's gradient (see `TapeNode.gradTarget`).
struct GradTarget: @unchecked Sendable {
    let p: UnsafeMutablePointer<Float>
    /// Uninitialised: write every element instead of adding.
    let fresh: Bool
}

/// Whether ops record onto the tape in the current task.
public enum GradMode {
    @TaskLocal static var disabledHere = false

    /// True unless inside `Tensor.withoutGrad`.
    public static var isEnabled: Bool { !disabled }

    /// Whether the current task is inside `withoutGrad`. The task-local is read (~12 ns) only
    /// while some task is inside one (a process-wide atomic count).
    @inline(__always)
    static var disabled: Bool {
        noGradScopes.load(ordering: .relaxed) != 0 && disabledHere
    }

    static func run<R>(disabled: Bool, _ body: () throws -> R) rethrows -> R {
        noGradScopes.add(1, ordering: .relaxed)
        defer { noGradScopes.subtract(1, ordering: .relaxed) }
        return try $disabledHere.withValue(disabled, operation: body)
    }
}

/// Number of `withoutGrad` scopes in progress, process-wide.
private let noGradScopes = Atomic<Int>(0)

extension Tensor {
    /// True when this tensor carries a tape node (a leaf requiring grad or a recorded result).
    public var requiresGrad: Bool { node != nil }

    /// True for tensors that do not come from a recorded op.
    public var isLeaf: Bool { node?.isLeaf ?? true }

    /// A leaf sharing this tensor's storage that requires grad (a parameter).
    public func requiringGrad() -> Tensor {
        Tensor(shape: shape, storage: storage, offset: offset, node: TapeNode(leafCount: count))
    }

    /// The accumulated gradient of a leaf (a copy), or nil when none has reached it since the
    /// last `zeroGrad()`. For non-leaf tensors always nil: their gradients are freed by backward.
    public var grad: Tensor? {
        guard let n = node, n.isLeaf, let g = n.gradStorage else { return nil }
        var t = Tensor(uninitialized: shape)
        t.ptr.update(from: g.pointer, count: count)
        t.node = nil
        return t
    }

    /// Read access to a leaf's accumulated gradient in place (nil when there is none).
    public func withGradBuffer<R>(_ body: (UnsafeMutableBufferPointer<Float>?) throws -> R) rethrows -> R {
        guard let n = node, n.isLeaf, let g = n.gradStorage else { return try body(nil) }
        return try body(UnsafeMutableBufferPointer(start: g.pointer, count: count))
    }

    /// Forgets the accumulated gradient of a leaf.
    public func zeroGrad() {
        node?.gradStorage = nil
    }

    /// Runs `body` without recording any op (evaluation, optimiser updates).
    public static func withoutGrad<R>(_ body: () throws -> R) rethrows -> R {
        try GradMode.run(disabled: true, body)
    }

    /// Reverse-mode differentiation from this one-element tensor: adds d(self)/d(leaf) into the
    /// gradient of every leaf it depends on, then releases the tape.
    public func backward() {
        require(count == 1, "backward: needs a one-element tensor, got shape \(shape)")
        guard let root = node else {
            fatalError("backward: tensor of shape \(shape) does not require grad")
        }
        require(!root.released, "backward: the tape of this tensor was already released by an earlier backward()")
        // Depth-first post-order: every node after all of its inputs.
        // Nodes are marked visited with a number unique to this backward call (no hashing).
        let epoch = backwardEpochs.add(1, ordering: .relaxed).newValue
        var order: [TapeNode] = []
        root.visitEpoch = epoch
        var stack: [(TapeNode, Int)] = [(root, 0)]
        while let top = stack.popLast() {
            let (n, i) = top
            if i < n.inputs.count {
                stack.append((n, i + 1))
                if let p = n.inputs[i], p.visitEpoch != epoch {
                    p.visitEpoch = epoch
                    stack.append((p, 0))
                }
            } else {
                order.append(n)
            }
        }
        root.gradPointer()[0] += 1
        for n in order.reversed() {
            require(!n.released,
                         "backward: reached a tensor whose tape was released by an earlier backward(); recompute it or use detached()")
            n.runBackward()
            if !n.isLeaf { n.release() }
        }
    }

    // MARK: Recording helpers for ops

    @inline(__always)
    static func recording(_ a: Tensor) -> Bool {
        a.node != nil && !GradMode.disabled
    }

    @inline(__always)
    static func recording(_ a: Tensor, _ b: Tensor) -> Bool {
        (a.node != nil || b.node != nil) && !GradMode.disabled
    }

    static func recording(_ xs: [Tensor]) -> Bool {
        xs.contains { $0.node != nil } && !GradMode.disabled
    }

    /// Attaches a tape node to an op result. `backward(g, node)` receives this result's gradient
    /// and adds the gradient of input `i` into `node.inputGrad(i)` (nil when not needed).
    mutating func record(_ inputs: [Tensor], _ backward: @escaping (UnsafeMutablePointer<Float>, TapeNode) -> Void) {
        node = TapeNode(count: count, inputs: inputs.map(\.node), backward: backward)
    }

    /// One-input `record` without building an array of tensors first.
    mutating func record(_ a: Tensor, _ backward: @escaping (UnsafeMutablePointer<Float>, TapeNode) -> Void) {
        node = TapeNode(count: count, inputs: [a.node], backward: backward)
    }

    /// Two-input `record` without building an array of tensors first.
    mutating func record(_ a: Tensor, _ b: Tensor, _ backward: @escaping (UnsafeMutablePointer<Float>, TapeNode) -> Void) {
        node = TapeNode(count: count, inputs: [a.node, b.node], backward: backward)
    }
}

/// Counts the live storages, storage bytes and tape nodes created in a task while tracking is
/// on (memory-growth tests). Objects remember their tracker, so frees are counted wherever
/// they happen.
public final class AllocationTracker: @unchecked Sendable {
    @TaskLocal public static var current: AllocationTracker?

    /// The tracker of the current task, if any. A task-local read costs ~15 ns, so it is only
    /// done while some task is tracking (a process-wide atomic count of active `track` calls).
    @inline(__always)
    static var active: AllocationTracker? {
        activeTrackers.load(ordering: .relaxed) == 0 ? nil : current
    }

    private let lock = NSLock()
    private var storages = 0, bytes = 0, nodes = 0, peakBytes = 0

    public init() {}

    func update(storages ds: Int, bytes db: Int, nodes dn: Int) {
        lock.lock()
        storages += ds; bytes += db; nodes += dn
        peakBytes = max(peakBytes, bytes)
        lock.unlock()
    }

    /// The most storage bytes live at once since tracking began.
    public var peakStorageBytes: Int { lock.lock(); defer { lock.unlock() }; return peakBytes }

    public var liveStorages: Int { lock.lock(); defer { lock.unlock() }; return storages }
    public var liveStorageBytes: Int { lock.lock(); defer { lock.unlock() }; return bytes }
    public var liveTapeNodes: Int { lock.lock(); defer { lock.unlock() }; return nodes }

    /// Runs `body` with a fresh tracker counting every allocation made inside it.
    public static func track<R>(_ body: (AllocationTracker) throws -> R) rethrows -> R {
        let t = AllocationTracker()
        activeTrackers.add(1, ordering: .relaxed)
        defer { activeTrackers.subtract(1, ordering: .relaxed) }
        return try $current.withValue(t) { try body(t) }
    }
}

/// dst[i] += src[i]; threads split the elements (independent outputs).
func addInto(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ n: Int) {
    let pd = SendablePointer(dst), ps = SendablePointer(src)
    parallelFor(n, grain: elementwiseGrain) { r in
        for i in r { pd.p[i] += ps.p[i] }
    }
}

/// dst[i] = src[i]; threads split the elements.
func copyElements(from src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, count n: Int) {
    let pd = SendablePointer(dst), ps = SendablePointer(src)
    parallelFor(n, grain: elementwiseGrain) { r in
        (pd.p + r.lowerBound).update(from: ps.p + r.lowerBound, count: r.count)
    }
}
