// OpenBLAS as an optional yardstick for `ablate bench`: loaded with dlopen only when a benchmark
// asks for it and only if libopenblas is installed. Nothing on the training path calls it, and
// the build does not link it. OpenBLAS reads OPENBLAS_CORETYPE once, when it is loaded, so a
// benchmark that compares cores runs one process per core (see `ablate bench gemm`).
import Tensor
import Foundation

public final class OpenBLASYardstick: @unchecked Sendable {
    public typealias SGEMM = @convention(c) (Int32, Int32, Int32, Int32, Int32, Int32, Float,
                                              UnsafePointer<Float>, Int32, UnsafePointer<Float>, Int32,
                                              Float, UnsafeMutablePointer<Float>, Int32) -> Void
    private let sgemmFn: SGEMM
    private let setThreads: (@convention(c) (Int32) -> Void)?
    /// "OpenBLAS 0.3.21 DYNAMIC_ARCH … (core Haswell)".
    public let description: String
    /// The core OpenBLAS runs ("Haswell", "Prescott", "SkylakeX", …).
    public let core: String

    /// The library, or nil (with the reason) when it is not installed.
    public static func load() -> Result<OpenBLASYardstick, ISAError> {
        for name in ["libopenblas.so.0", "libopenblas.so", "libopenblas.dylib"] {
            if let handle = dlopen(name, RTLD_NOW | RTLD_LOCAL), let f = dlsym(handle, "cblas_sgemm") {
                return .success(OpenBLASYardstick(handle: handle, sgemm: f))
            }
        }
        return .failure(ISAError("OpenBLAS is not installed (libopenblas.so.0 not found); install libopenblas0 for the yardstick rows"))
    }

    private init(handle: UnsafeMutableRawPointer, sgemm: UnsafeMutableRawPointer) {
        sgemmFn = unsafeBitCast(sgemm, to: SGEMM.self)
        setThreads = dlsym(handle, "openblas_set_num_threads").map { unsafeBitCast($0, to: (@convention(c) (Int32) -> Void).self) }
        typealias Text = @convention(c) () -> UnsafePointer<CChar>?
        let config = dlsym(handle, "openblas_get_config").flatMap { unsafeBitCast($0, to: Text.self)() }
        let corename = dlsym(handle, "openblas_get_corename").flatMap { unsafeBitCast($0, to: Text.self)() }
        core = corename.map { String(cString: $0) } ?? "?"
        let text = config.map { String(cString: $0) } ?? "OpenBLAS"
        description = text.trimmingCharacters(in: .whitespaces) + " (core \(core))"
    }

    public func threads(_ n: Int) { setThreads?(Int32(n)) }

    /// Row-major `cblas_sgemm`.
    public func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                      a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                      beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        // CblasRowMajor 101, CblasNoTrans 111, CblasTrans 112.
        sgemmFn(101, transA ? 112 : 111, transB ? 112 : 111, Int32(m), Int32(n), Int32(k), alpha,
                a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}
