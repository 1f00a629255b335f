// GemmCore: the one GEMM of Ablate, written once and compiled once per ISA path.
//
// Every function here is `@inlinable`: its body is compiled into the module that calls it. The
// ISA modules (KernelsAVX512, KernelsAVX2, KernelsGeneric) call `gemmSerialCore` with their own
// lane type and are built with their own `-target-cpu`, so the same source becomes AVX-512, AVX2
// or baseline x86-64 code. KernelCore itself is built for baseline x86-64 and never runs a kernel.
//
// The arithmetic — identical on every path, by construction:
//
//   acc₀      = β == 0 ? +0 : β·C_old           (β ∉ {0, 1}: C is scaled by β in a first pass)
//   acc_{p+1} = fma(op(A)[i, p], op(B)[p, j], acc_p)     for p = 0, 1, …, K−1, in this order
//   C[i, j]   = α == 1 ? acc_K : α·acc_K                  (valid when α == 1 or β == 0)
//   α ≠ 1 and β ≠ 0:  T = the chain with α = 1, β = 0;  C = α·T + β·C_old   (two roundings each)
//
// Each output element is one lane of one register, so the vector width (8 or 16 lanes), the
// micro-tile (6 rows × 2 vectors), the cache blocking (the chain is stored to C between K blocks
// and loaded back: a float round trip is exact), the thread partition and the CPU never change a
// bit. `fma` is exactly rounded on every path: the hardware instruction where the CPU has one,
// `DetMath.fma` (a correctly rounded software fma) on the generic path.

/// One ISA path's vector type and fused multiply-add.
public protocol GemmLanes {
    associatedtype V: SIMD where V.Scalar == Float
    /// a·b + c, rounded once.
    static func fma(_ a: V, _ b: V, _ c: V) -> V
}

/// AVX-512: 16 lanes; `addingProduct` on SIMD16<Float> becomes `vfmadd231ps zmm` when the
/// calling module is built with AVX-512 enabled.
public enum Lanes16: GemmLanes {
    public typealias V = SIMD16<Float>
    @inlinable @inline(__always)
    public static func fma(_ a: V, _ b: V, _ c: V) -> V { c.addingProduct(a, b) }
}

/// AVX2 + FMA: 8 lanes (`vfmadd231ps ymm`).
public enum Lanes8: GemmLanes {
    public typealias V = SIMD8<Float>
    @inlinable @inline(__always)
    public static func fma(_ a: V, _ b: V, _ c: V) -> V { c.addingProduct(a, b) }
}

/// Generic x86-64 (or any CPU): 4 lanes, a correctly rounded software fma in vector code — no
/// instruction beyond SSE2 and no libm. Per lane the product a·b is exact in Double (24 + 24
/// bits), so s = RN_double(a·b + c) and Float(s) is a·b + c rounded twice. That is the correctly
/// rounded result unless s sits exactly on a midpoint between two floats (only then can the
/// first rounding decide the second) or in the float subnormal range (a coarser grid). Those
/// rare vectors take `DetMath.fma`, which is exact always.
public enum LanesSoft: GemmLanes {
    public typealias V = SIMD4<Float>
    @inlinable @inline(__always)
    public static func fma(_ a: V, _ b: V, _ c: V) -> V {
        typealias D = SIMD4<Double>
        let ad = D(Double(a[0]), Double(a[1]), Double(a[2]), Double(a[3]))
        let bd = D(Double(b[0]), Double(b[1]), Double(b[2]), Double(b[3]))
        let cd = D(Double(c[0]), Double(c[1]), Double(c[2]), Double(c[3]))
        let s = ad * bd + cd
        let sb = unsafeBitCast(s, to: SIMD4<UInt64>.self)
        // A float midpoint: the 29 bits below float precision are exactly 1000…0.
        let midpoint = (sb & 0x1FFF_FFFF) .== 0x1000_0000
        let magnitude = sb & 0x7FFF_FFFF_FFFF_FFFF
        let subnormal = (magnitude .< 0x3810_0000_0000_0000) .& (magnitude .!= 0)   // 0 < |s| < 2^-126
        if any(midpoint .| subnormal) { return exactFallback(a, b, c) }
        return V(Float(s[0]), Float(s[1]), Float(s[2]), Float(s[3]))
    }

    /// The exact fallback: `DetMath.fma` lane by lane (round to odd in Double, then to Float).
    @inlinable @inline(never)
    public static func exactFallback(_ a: V, _ b: V, _ c: V) -> V { DetMath.fma(a, b, c) }
}

/// Cache blocking of one path: rows of A per block (a multiple of 6, the tile height), the K
/// block, and columns of B per packed block. Blocking changes speed only, never bits.
public struct GemmBlocking: Sendable {
    public let mc: Int
    public let kc: Int
    public let nc: Int
    /// Stages of a product with N columns and depth K: one per (column block, K block) of B,
    /// in the order `gemmLaneCore` runs them.
    @inlinable public func stages(n: Int, k: Int) -> Int {
        ((n + nc - 1) / nc) * ((k + kc - 1) / kc)
    }

    @inlinable public init(mc: Int, kc: Int, nc: Int) {
        precondition(mc > 0 && mc % 6 == 0 && kc > 0 && nc > 0, "GemmBlocking: mc must be a positive multiple of 6")
        self.mc = mc; self.kc = kc; self.nc = nc
    }
}

@inlinable @inline(__always)
func gemmLoad<V: SIMD>(_ p: UnsafePointer<Float>, _: V.Type) -> V where V.Scalar == Float {
    UnsafeRawPointer(p).loadUnaligned(as: V.self)
}

@inlinable @inline(__always)
func gemmStore<V: SIMD>(_ v: V, _ p: UnsafeMutablePointer<Float>) where V.Scalar == Float {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
}

/// How many rows of C a micro-tile covers: 6 (the full tile) or, for a row edge, 4 or 2. A
/// type, so that each height is its own specialisation and the row tests below fold away.
public protocol GemmTileRows { static var count: Int { get } }
public enum GemmRows6: GemmTileRows { @inlinable public static var count: Int { 6 } }
public enum GemmRows4: GemmTileRows { @inlinable public static var count: Int { 4 } }
public enum GemmRows2: GemmTileRows { @inlinable public static var count: Int { 2 } }

/// The micro-kernel: an R.count × (2·lanes) tile of C at `c` (row stride `ldc`) gets `kc` steps
/// of the fma chain. Row r of op(A) starts at `a.r` and steps by `csA` per k (op(A) = A: a.r is
/// a row of A, csA = 1; op(A) = Aᵀ: a.r = a.0 + r, csA = lda); only rows below R.count are read.
/// `b` is a panel of kc rows of 2·lanes floats, `ldbP` apart (a packed panel: 2·lanes; B read
/// in place: its row stride). `load`: the chain continues from the values in C (else it starts
/// at +0). `alpha` scales the result (1 except on the last K block). The 4- and 2-row tiles are
/// the full tile's top rows: the same chain per element, 4/6 and 2/6 of the work.
@inlinable @inline(__always)
func gemmMicroTile<L: GemmLanes, R: GemmTileRows>(
    _: L.Type, _: R.Type, kc: Int, a: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>,
                                       UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>),
    csA: Int, b: UnsafePointer<Float>, ldbP: Int, c: UnsafeMutablePointer<Float>, ldc: Int, load: Bool, alpha: Float
) {
    typealias V = L.V
    let w = V.scalarCount
    let four = R.count > 2, six = R.count > 4
    var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V()
    var c30 = V(), c31 = V(), c40 = V(), c41 = V(), c50 = V(), c51 = V()
    if load {
        c00 = gemmLoad(c, V.self); c01 = gemmLoad(c + w, V.self)
        c10 = gemmLoad(c + ldc, V.self); c11 = gemmLoad(c + ldc + w, V.self)
        if four {
            c20 = gemmLoad(c + 2 * ldc, V.self); c21 = gemmLoad(c + 2 * ldc + w, V.self)
            c30 = gemmLoad(c + 3 * ldc, V.self); c31 = gemmLoad(c + 3 * ldc + w, V.self)
        }
        if six {
            c40 = gemmLoad(c + 4 * ldc, V.self); c41 = gemmLoad(c + 4 * ldc + w, V.self)
            c50 = gemmLoad(c + 5 * ldc, V.self); c51 = gemmLoad(c + 5 * ldc + w, V.self)
        }
    }
    let (a0, a1, a2, a3, a4, a5) = a
    var pb = b
    var off = 0
    for _ in 0..<kc {
        let b0: V = gemmLoad(pb, V.self), b1: V = gemmLoad(pb + w, V.self)
        var x = V(repeating: a0[off])
        c00 = L.fma(x, b0, c00); c01 = L.fma(x, b1, c01)
        x = V(repeating: a1[off])
        c10 = L.fma(x, b0, c10); c11 = L.fma(x, b1, c11)
        if four {
            x = V(repeating: a2[off])
            c20 = L.fma(x, b0, c20); c21 = L.fma(x, b1, c21)
            x = V(repeating: a3[off])
            c30 = L.fma(x, b0, c30); c31 = L.fma(x, b1, c31)
        }
        if six {
            x = V(repeating: a4[off])
            c40 = L.fma(x, b0, c40); c41 = L.fma(x, b1, c41)
            x = V(repeating: a5[off])
            c50 = L.fma(x, b0, c50); c51 = L.fma(x, b1, c51)
        }
        off &+= csA
        pb += ldbP
    }
    if alpha != 1 {
        let s = V(repeating: alpha)
        c00 = c00 * s; c01 = c01 * s; c10 = c10 * s; c11 = c11 * s; c20 = c20 * s; c21 = c21 * s
        c30 = c30 * s; c31 = c31 * s; c40 = c40 * s; c41 = c41 * s; c50 = c50 * s; c51 = c51 * s
    }
    gemmStore(c00, c); gemmStore(c01, c + w)
    gemmStore(c10, c + ldc); gemmStore(c11, c + ldc + w)
    if four {
        gemmStore(c20, c + 2 * ldc); gemmStore(c21, c + 2 * ldc + w)
        gemmStore(c30, c + 3 * ldc); gemmStore(c31, c + 3 * ldc + w)
    }
    if six {
        gemmStore(c40, c + 4 * ldc); gemmStore(c41, c + 4 * ldc + w)
        gemmStore(c50, c + 5 * ldc); gemmStore(c51, c + 5 * ldc + w)
    }
}

/// The micro-kernel for a column edge of at most `lanes` columns: the left half of
/// `gemmMicroTile` (6 × lanes of C, the same fma chain per element), so an edge panel of ≤ lanes
/// live columns does half the work of a full tile. `b` is the same panel layout (2·lanes wide,
/// `ldbP` apart); only its first vector is read.
@inlinable @inline(__always)
func gemmMicroTileNarrow<L: GemmLanes>(
    _: L.Type, kc: Int, a: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>,
                            UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>),
    csA: Int, b: UnsafePointer<Float>, ldbP: Int, c: UnsafeMutablePointer<Float>, ldc: Int, load: Bool, alpha: Float
) {
    typealias V = L.V
    var c0 = V(), c1 = V(), c2 = V(), c3 = V(), c4 = V(), c5 = V()
    if load {
        c0 = gemmLoad(c, V.self); c1 = gemmLoad(c + ldc, V.self); c2 = gemmLoad(c + 2 * ldc, V.self)
        c3 = gemmLoad(c + 3 * ldc, V.self); c4 = gemmLoad(c + 4 * ldc, V.self); c5 = gemmLoad(c + 5 * ldc, V.self)
    }
    let (a0, a1, a2, a3, a4, a5) = a
    var pb = b
    var off = 0
    for _ in 0..<kc {
        let b0: V = gemmLoad(pb, V.self)
        c0 = L.fma(V(repeating: a0[off]), b0, c0)
        c1 = L.fma(V(repeating: a1[off]), b0, c1)
        c2 = L.fma(V(repeating: a2[off]), b0, c2)
        c3 = L.fma(V(repeating: a3[off]), b0, c3)
        c4 = L.fma(V(repeating: a4[off]), b0, c4)
        c5 = L.fma(V(repeating: a5[off]), b0, c5)
        off &+= csA
        pb += ldbP
    }
    if alpha != 1 {
        let s = V(repeating: alpha)
        c0 = c0 * s; c1 = c1 * s; c2 = c2 * s; c3 = c3 * s; c4 = c4 * s; c5 = c5 * s
    }
    gemmStore(c0, c); gemmStore(c1, c + ldc); gemmStore(c2, c + 2 * ldc)
    gemmStore(c3, c + 3 * ldc); gemmStore(c4, c + 4 * ldc); gemmStore(c5, c + 5 * ldc)
}

/// Packs op(A)[i0 ..< i0+rows, p0 ..< p0+kb] for op(A) = Aᵀ (A stored [K, M], row stride lda)
/// into 6-row panels, k-major (6 consecutive floats per k); rows past `rows` repeat the last.
@inlinable @inline(__always)
func gemmPackAT(a: UnsafePointer<Float>, lda: Int, i0: Int, rows: Int, p0: Int, kb: Int,
                into dst: UnsafeMutablePointer<Float>) {
    var panel = 0
    while panel < rows {
        let out = dst + panel * kb
        let live = min(6, rows - panel)
        var src = a + p0 * lda + i0 + panel
        var o = out
        for _ in 0..<kb {
            if live == 6 {
                o[0] = src[0]; o[1] = src[1]; o[2] = src[2]; o[3] = src[3]; o[4] = src[4]; o[5] = src[5]
            } else {
                for r in 0..<6 { o[r] = src[min(r, live - 1)] }
            }
            src += lda
            o += 6
        }
        panel += 6
    }
}

/// Packs op(B)[p0 ..< p0+kb, j0 ..< j0+cols] into `nr`-column panels, k-major; columns past
/// `cols` are 0.
@inlinable @inline(__always)
func gemmPackB(transB: Bool, b: UnsafePointer<Float>, ldb: Int, p0: Int, kb: Int, j0: Int, cols: Int,
               nr: Int, into dst: UnsafeMutablePointer<Float>) {
    var panel = 0
    while panel < cols {
        let out = dst + panel * kb
        let live = min(nr, cols - panel)
        if transB {
            // op(B)[p, j] = b[j·ldb + p]: one row of B per panel column. Pointer steps, not
            // `p * nr + j`: the overflow-checked index cost ~2.5 % of a step (Q·Kᵀ in
            // attention packs K for every block of 32 queries).
            for j in 0..<live {
                let src = b + (j0 + panel + j) * ldb + p0
                var o = out + j
                for p in 0..<kb {
                    o.pointee = src[p]
                    o += nr
                }
            }
            if live < nr {
                for p in 0..<kb { for j in live..<nr { out[p &* nr &+ j] = 0 } }
            }
        } else {
            // op(B)[p, j] = b[p·ldb + j]: `nr` consecutive floats per p.
            var src = b + p0 * ldb + j0 + panel
            for p in 0..<kb {
                let o = out + p * nr
                if live == nr {
                    for j in 0..<nr { o[j] = src[j] }
                } else {
                    for j in 0..<live { o[j] = src[j] }
                    for j in live..<nr { o[j] = 0 }
                }
                src += ldb
            }
        }
        panel += nr
    }
}

/// Where the micro-kernel reads one (K block, column block) of op(B): column panel `jr` (a
/// multiple of the panel width) starts at `base + jr·panelStep`, and its rows are `rowStride`
/// floats apart. Packed: panels of kb rows back to back (panelStep kb, rowStride the panel
/// width). In place: B's own rows (panelStep 1, rowStride ldb). Where B is read changes speed
/// only: the fma chain is the same.
@usableFromInline
struct GemmBBlock {
    @usableFromInline let base: UnsafePointer<Float>
    @usableFromInline let panelStep: Int
    @usableFromInline let rowStride: Int
    @inlinable @inline(__always)
    init(base: UnsafePointer<Float>, panelStep: Int, rowStride: Int) {
        self.base = base; self.panelStep = panelStep; self.rowStride = rowStride
    }
    @inlinable @inline(__always)
    func panel(_ jr: Int) -> UnsafePointer<Float> { base + jr * panelStep }
}

/// Whether op(B) = B is read in place instead of packed: every column panel is full (N a
/// multiple of the panel width, so no read goes past a row) and the rows of B the product
/// reads span at most 32 KB (K · ldb ≤ 8192 floats: a small weight, or attention's Kᵀ and Vᵀ),
/// so they stay in L1 across the row tiles as a packed copy would. Over longer spans (the
/// weight gradient Xᵀ·dY, K = tokens) B's strided rows conflict in L1 and the tiles ran ~10 %
/// slower in place, so B is packed there.
@inlinable @inline(__always)
func gemmReadsBInPlace(transB: Bool, n: Int, k: Int, ldb: Int, nr: Int) -> Bool {
    !transB && n % nr == 0 && k * ldb <= 8192
}

/// One thread's GEMM buffers: a packed block of B (kc × nc), 6-row panels of Aᵀ when its row
/// stride is long (`packAT`), and a scratch tile for edges. `rows`: the most rows of C handled
/// at once.
@usableFromInline
struct GemmScratch {
    @usableFromInline let packB: UnsafeMutablePointer<Float>
    @usableFromInline let packA: UnsafeMutablePointer<Float>
    @usableFromInline let tile: UnsafeMutablePointer<Float>
    @usableFromInline let packAT: Bool

    @inlinable
    init<L: GemmLanes>(_: L.Type, _ blocking: GemmBlocking, rows: Int, n: Int, k: Int, transA: Bool, lda: Int) {
        let mr = 6, nr = 2 * L.V.scalarCount
        let kcMax = min(blocking.kc, k)
        let ncMax = (min(n, blocking.nc) + nr - 1) / nr * nr
        let mcMax = (min(rows, blocking.mc) + mr - 1) / mr * mr
        packAT = transA && lda >= 256
        packB = .allocate(capacity: ncMax * kcMax)
        packA = .allocate(capacity: packAT ? mcMax * kcMax : 1)
        tile = .allocate(capacity: mr * nr)
    }

    @inlinable
    func release() {
        packA.deallocate(); packB.deallocate(); tile.deallocate()
    }
}

/// Single-threaded row-major GEMM, `C[m, n] = α·op(A)·op(B) + β·C`, with the arithmetic in the
/// file header. Layouts as BLAS (row-major): op(A) is A [m, k] (row stride lda) or, with
/// `transA`, Aᵀ of A [k, m]; likewise B. With β == 0, C is not read.
@inlinable
public func gemmSerialCore<L: GemmLanes>(
    _ lanes: L.Type, _ blocking: GemmBlocking,
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    if m <= 0 || n <= 0 { return }
    if alpha != 1 && beta != 0 {
        // C = α·T + β·C_old, T the plain product: a fixed two-pass definition.
        let t = UnsafeMutablePointer<Float>.allocate(capacity: m * n)
        defer { t.deallocate() }
        gemmSerialCore(lanes, blocking, transA: transA, transB: transB, m: m, n: n, k: k, alpha: 1,
                       a: a, lda: lda, b: b, ldb: ldb, beta: 0, c: t, ldc: n)
        for i in 0..<m {
            let row = c + i * ldc, tr = t + i * n
            for j in 0..<n { row[j] = alpha * tr[j] + beta * row[j] }
        }
        return
    }
    if beta == 0 && k == 0 {
        for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) }
        return
    }
    if beta != 0 && beta != 1 {
        for i in 0..<m {
            let row = c + i * ldc
            for j in 0..<n { row[j] = beta * row[j] }
        }
    }
    if k == 0 { return }

    let nr = 2 * L.V.scalarCount
    let scratch = GemmScratch(L.self, blocking, rows: m, n: n, k: k, transA: transA, lda: lda)
    defer { scratch.release() }
    let (packB, packA, tile, packAT) = (scratch.packB, scratch.packA, scratch.tile, scratch.packAT)

    // The same loops as `gemmLaneCore` with one lane taking all rows, written out: routing the
    // serial GEMM through the lane (closures per stage) cost ~3 % of a one-thread step.
    let inPlace = gemmReadsBInPlace(transB: transB, n: n, k: k, ldb: ldb, nr: nr)
    var jc = 0
    while jc < n {
        let nb = min(blocking.nc, n - jc)
        var pc = 0
        while pc < k {
            let kb = min(blocking.kc, k - pc)
            let bBlock: GemmBBlock
            if inPlace {
                bBlock = GemmBBlock(base: b + pc * ldb + jc, panelStep: 1, rowStride: ldb)
            } else {
                gemmPackB(transB: transB, b: b, ldb: ldb, p0: pc, kb: kb, j0: jc, cols: nb, nr: nr, into: packB)
                bBlock = GemmBBlock(base: UnsafePointer(packB), panelStep: kb, rowStride: nr)
            }
            gemmRowsOfBlock(L.self, blocking, transA: transA, packAT: packAT, rowStart: 0, rows: m,
                            jc: jc, nb: nb, pc: pc, kb: kb, load: pc > 0 || beta != 0,
                            scale: pc + kb == k ? alpha : 1, a: a, lda: lda, bBlock: bBlock,
                            packA: packA, tile: tile, c: c, ldc: ldc)
            pc += kb
        }
        jc += nb
    }
}

/// Rows `rowStart ..< rowStart + rows` of C against one packed block of B (columns
/// jc ..< jc + nb, k in pc ..< pc + kb), in blocks of `mc` rows. `load`: the chains continue
/// from C; `scale`: α on the last K block, else 1.
@inlinable @inline(__always)
func gemmRowsOfBlock<L: GemmLanes>(
    _: L.Type, _ blocking: GemmBlocking, transA: Bool, packAT: Bool, rowStart: Int, rows total: Int,
    jc: Int, nb: Int, pc: Int, kb: Int, load: Bool, scale: Float,
    a: UnsafePointer<Float>, lda: Int, bBlock: GemmBBlock, packA: UnsafeMutablePointer<Float>,
    tile: UnsafeMutablePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    let mr = 6, nr = 2 * L.V.scalarCount
    var ic = rowStart
    let end = rowStart + total
    while ic < end {
        let mb = min(blocking.mc, end - ic)
        // op(A) = A is read in place (six sequential row streams); packing it cost up to
        // 16 % at N = 96. op(A) = Aᵀ is read in place too (six adjacent floats per k)
        // unless its row stride is long, where each k would touch a new page: then it is
        // packed into 6-row panels.
        if packAT {
            gemmPackAT(a: a, lda: lda, i0: ic, rows: mb, p0: pc, kb: kb, into: packA)
        }
        var jr = 0
        while jr < nb {
            let cols = min(nr, nb - jr)
            let pb = bBlock.panel(jr)
            var ir = 0
            while ir < mb {
                let rows = min(mr, mb - ir)
                let cp = c + (ic + ir) * ldc + jc + jr
                // Row pointers of the A panel; rows past the edge repeat the last one.
                let base: UnsafePointer<Float> = packAT ? UnsafePointer(packA + ir * kb)
                    : transA ? a + pc * lda + ic + ir : a + (ic + ir) * lda + pc
                let rs = transA ? 1 : lda, last = packAT ? 5 : rows - 1
                let ap = (base, base + min(1, last) * rs, base + min(2, last) * rs,
                          base + min(3, last) * rs, base + min(4, last) * rs, base + min(5, last) * rs)
                let csA = packAT ? 6 : transA ? lda : 1
                if rows == mr && cols == nr / 2 {
                    gemmMicroTileNarrow(L.self, kc: kb, a: ap, csA: csA, b: pb, ldbP: bBlock.rowStride, c: cp, ldc: ldc,
                                        load: load, alpha: scale)
                } else if cols == nr && rows == 4 {
                    gemmMicroTile(L.self, GemmRows4.self, kc: kb, a: ap, csA: csA, b: pb, ldbP: bBlock.rowStride,
                                  c: cp, ldc: ldc, load: load, alpha: scale)
                } else if cols == nr && rows == 2 {
                    gemmMicroTile(L.self, GemmRows2.self, kc: kb, a: ap, csA: csA, b: pb, ldbP: bBlock.rowStride,
                                  c: cp, ldc: ldc, load: load, alpha: scale)
                } else if rows == mr && cols == nr {
                    gemmMicroTile(L.self, GemmRows6.self, kc: kb, a: ap, csA: csA, b: pb, ldbP: bBlock.rowStride,
                                  c: cp, ldc: ldc, load: load, alpha: scale)
                } else {
                    // Edge tile: run the full tile (or its left half, for ≤ lanes live
                    // columns) on a scratch copy, keep the live part.
                    if load {
                        for r in 0..<rows { for j in 0..<cols { tile[r &* nr &+ j] = cp[r &* ldc &+ j] } }
                    }
                    if cols <= nr / 2 {
                        gemmMicroTileNarrow(L.self, kc: kb, a: ap, csA: csA, b: pb, ldbP: bBlock.rowStride, c: tile,
                                            ldc: nr, load: load, alpha: scale)
                    } else if rows <= 2 {
                        gemmMicroTile(L.self, GemmRows2.self, kc: kb, a: ap, csA: csA, b: pb, ldbP: bBlock.rowStride,
                                      c: tile, ldc: nr, load: load, alpha: scale)
                    } else if rows <= 4 {
                        gemmMicroTile(L.self, GemmRows4.self, kc: kb, a: ap, csA: csA, b: pb, ldbP: bBlock.rowStride,
                                      c: tile, ldc: nr, load: load, alpha: scale)
                    } else {
                        gemmMicroTile(L.self, GemmRows6.self, kc: kb, a: ap, csA: csA, b: pb, ldbP: bBlock.rowStride,
                                      c: tile, ldc: nr, load: load, alpha: scale)
                    }
                    for r in 0..<rows { for j in 0..<cols { cp[r &* ldc &+ j] = tile[r &* nr &+ j] } }
                }
                ir += mr
            }
            jr += nr
        }
        ic += mb
    }
}

/// One lane of a GEMM that several threads share, with the arithmetic in the file header (so
/// the same bits as `gemmSerialCore`, however the rows fall to lanes). C's rows are cut into
/// blocks of `rowBlock` rows; each (column block, K block) of B is a stage. In every stage the
/// lane asks `next(stage)` for a row block (−1: none left; the caller returns a block only
/// once its previous stage is done, since the chains continue from C), packs its own copy of
/// that stage's B before its first block, computes the block and reports it with `done`.
/// Requires k > 0, β ∈ {0, 1} and (α == 1 or β == 0): the cases without a pre-pass over C.
@inlinable
public func gemmLaneCore<L: GemmLanes>(
    _ lanes: L.Type, _ blocking: GemmBlocking,
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int,
    rowBlock: Int, next: (Int) -> Int, done: (Int) -> Void
) {
    precondition(k > 0 && (beta == 0 || beta == 1) && (alpha == 1 || beta == 0) && rowBlock > 0,
                 "gemmLaneCore: needs k > 0, beta 0 or 1, and alpha 1 unless beta is 0")
    if m <= 0 || n <= 0 { return }
    let nr = 2 * L.V.scalarCount
    var scratch: GemmScratch? = nil   // made on the lane's first block: a lane without blocks packs nothing
    defer { scratch?.release() }
    let inPlace = gemmReadsBInPlace(transB: transB, n: n, k: k, ldb: ldb, nr: nr)

    var stage = 0
    var jc = 0
    while jc < n {
        let nb = min(blocking.nc, n - jc)
        var pc = 0
        while pc < k {
            let kb = min(blocking.kc, k - pc)
            var packed = false
            while true {
                let blk = next(stage)
                if blk < 0 { break }
                if scratch == nil {
                    scratch = GemmScratch(L.self, blocking, rows: rowBlock, n: n, k: k, transA: transA, lda: lda)
                }
                let buffers = scratch!
                if !packed && !inPlace {
                    gemmPackB(transB: transB, b: b, ldb: ldb, p0: pc, kb: kb, j0: jc, cols: nb, nr: nr, into: buffers.packB)
                    packed = true
                }
                let bBlock = inPlace ? GemmBBlock(base: b + pc * ldb + jc, panelStep: 1, rowStride: ldb)
                    : GemmBBlock(base: UnsafePointer(buffers.packB), panelStep: kb, rowStride: nr)
                let first = blk * rowBlock
                gemmRowsOfBlock(L.self, blocking, transA: transA, packAT: buffers.packAT, rowStart: first,
                                rows: min(rowBlock, m - first), jc: jc, nb: nb, pc: pc, kb: kb,
                                load: pc > 0 || beta != 0, scale: pc + kb == k ? alpha : 1,
                                a: a, lda: lda, bBlock: bBlock, packA: buffers.packA, tile: buffers.tile,
                                c: c, ldc: ldc)
                done(blk)
            }
            stage += 1
            pc += kb
        }
        jc += nb
    }
}
