// The AVX-512 (F, CD, BW, DQ, VL) path: GemmCore's, AttentionCore's and SwiGLUCore's source compiled with this
// module's own -target-cpu (Package.swift). The entry points are Path.swift, one file that every
// path's module links to (a symbolic link to Sources/KernelPathShared/Path.swift).
import KernelCore

/// This path's lanes, for Path.swift.
typealias PathLanes = Lanes16

public enum GemmAVX512 {
    /// Cache blocking of this path (speed only; bits never depend on it).
    public static let blocking = GemmBlocking(mc: 144, kc: 256, nc: 4096)
}

/// This path, for Path.swift.
typealias ThisPath = GemmAVX512
