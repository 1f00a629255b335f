// ISA: which compiled path runs the kernels, chosen from CPUID feature bits — never from a CPU
// model name — so a CPU this code has never seen gets the widest path its features allow.
//
// Every path computes the same bits (GemmCore.swift), so the choice changes speed only. A path
// is usable when the CPU has every instruction set its module is compiled for AND the OS saves
// the register state (XCR0); otherwise it is never called, so no path can fault with an illegal
// instruction. `ABLATE_ISA=avx512|avx2|generic` forces a path (an error when it is not usable).
import CPUFeatures
import Foundation
import KernelCore
import KernelsAVX2
import KernelsAVX512
import KernelsGeneric
#if os(Linux)
import Synchronization
#endif

public enum ISA: String, CaseIterable, Sendable, Comparable {
    /// AVX-512 F, CD, BW, DQ, VL with the x86-64-v3 set (its module is built for x86-64-v4).
    case avx512
    /// AVX2, FMA, F16C, BMI1/2, LZCNT, MOVBE (x86-64-v3).
    case avx2
    /// Baseline x86-64 (SSE2), or any other CPU; fma in software.
    case generic

    public static func < (a: ISA, b: ISA) -> Bool { a.rank < b.rank }
    private var rank: Int { self == .generic ? 0 : self == .avx2 ? 1 : 2 }

    /// The paths this CPU can run, widest first.
    public static var supported: [ISA] {
        let f = CPUInfo.current
        return [ISA.avx512, .avx2, .generic].filter { f.supports($0) }
    }

    /// The widest path this CPU supports.
    public static var best: ISA { supported[0] }

    /// The path in use: `ABLATE_ISA` when set (checked on first use), else `best`. Setting it
    /// (e.g. `ablate verify --isa`) requires a supported path.
    public static var active: ISA {
        get { ISA(code: state.load()) }
        set {
            precondition(CPUInfo.current.supports(newValue), "ISA \(newValue) is not supported by this CPU")
            state.store(newValue.code)
        }
    }

    /// The choice `ABLATE_ISA` asks for (the best path when unset), or an error naming it.
    public static func fromEnvironment(_ value: String?) -> Result<ISA, ISAError> {
        guard let raw = value?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else { return .success(best) }
        return named(raw, as: "ABLATE_ISA=\(raw)")
    }

    /// The supported path called `raw` (any case), or an error that starts with `label` (the
    /// option or variable that gave it) and says what was expected or what this CPU lacks.
    public static func named(_ raw: String, as label: String) -> Result<ISA, ISAError> {
        guard let isa = ISA(rawValue: raw.lowercased()) else {
            return .failure(ISAError("\(label) is not a kernel path; expected one of avx512, avx2, generic"))
        }
        guard CPUInfo.current.supports(isa) else {
            return .failure(ISAError("\(label): this CPU (\(CPUInfo.current.model)) lacks \(CPUInfo.current.missing(for: isa).joined(separator: ", ")); it supports \(supported.map(\.rawValue).joined(separator: ", "))"))
        }
        return .success(isa)
    }

    /// Validates `ABLATE_ISA` now; the CLI calls this first so a bad value stops it before any
    /// work. (If a library user skips it, the first kernel call exits with the same message.)
    public static func configureFromEnvironment() throws {
        let isa = try fromEnvironment(environmentValue).get()
        state.store(isa.code)
    }

    // MARK: - Private

    private var code: Int { self == .generic ? 1 : self == .avx2 ? 2 : 3 }
    private init(code: Int) {
        switch code {
        case 3: self = .avx512
        case 2: self = .avx2
        case 1: self = .generic
        default:
            // First use without configureFromEnvironment().
            switch ISA.fromEnvironment(ISA.environmentValue) {
            case .success(let isa):
                ISA.state.store(isa.code)
                self = isa
            case .failure(let error):
                FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
                exit(2)
            }
        }
    }

    private static var environmentValue: String? {
        getenv("ABLATE_ISA").map { String(cString: $0) }
    }

    private static let state = SharedInt(0)
}

public struct ISAError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// What CPUID and XCR0 say about this CPU.
public struct CPUInfo: Sendable {
    public let vendor: String
    /// The brand string ("AMD EPYC 7B13", "Intel(R) Xeon(R) …"), for provenance only.
    public let model: String
    public let family: Int
    public let modelNumber: Int
    /// Feature names present (CPUID bit set and, for AVX / AVX-512, the OS state enabled).
    public let features: Set<String>

    public static let current = CPUInfo()

    /// Every feature the path's module is compiled for (plus OS-enabled register state).
    public static func required(for isa: ISA) -> [String] {
        let v3 = ["sse3", "ssse3", "sse4.1", "sse4.2", "popcnt", "cx16", "lahf_lm", "avx", "avx2", "fma", "f16c",
                  "bmi1", "bmi2", "lzcnt", "movbe", "xsave", "os_avx"]
        switch isa {
        case .generic: return []
        case .avx2: return v3
        case .avx512: return v3 + ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl", "os_avx512"]
        }
    }

    public func missing(for isa: ISA) -> [String] { CPUInfo.required(for: isa).filter { !features.contains($0) } }
    public func supports(_ isa: ISA) -> Bool { missing(for: isa).isEmpty }

    /// Space-separated sorted feature names, for run files.
    public var featureList: String { features.sorted().joined(separator: " ") }

    init() {
        var r: [UInt32] = [0, 0, 0, 0]
        func cpuid(_ leaf: UInt32, _ sub: UInt32 = 0) -> (UInt32, UInt32, UInt32, UInt32) {
            r.withUnsafeMutableBufferPointer { _ = ablate_cpuid(leaf, sub, $0.baseAddress) }
            return (r[0], r[1], r[2], r[3])
        }
        func chars(_ words: [UInt32]) -> String {
            var bytes: [UInt8] = []
            for w in words { for i in 0..<4 { bytes.append(UInt8((w >> (8 * UInt32(i))) & 0xFF)) } }
            return String(decoding: bytes.filter { $0 != 0 }, as: UTF8.self).trimmingCharacters(in: .whitespaces)
        }
        let l0 = cpuid(0)
        vendor = chars([l0.1, l0.3, l0.2])
        let l1 = cpuid(1)
        let l7 = cpuid(7)
        let lx = cpuid(0x8000_0001)
        let ext0 = cpuid(0x8000_0000).0
        if ext0 >= 0x8000_0004 {
            var words: [UInt32] = []
            for leaf: UInt32 in 0x8000_0002...0x8000_0004 {
                let q = cpuid(leaf)
                words += [q.0, q.1, q.2, q.3]
            }
            model = chars(words)
        } else {
            model = vendor.isEmpty ? "unknown CPU" : vendor
        }
        let baseFamily = Int((l1.0 >> 8) & 0xF)
        family = baseFamily == 0xF ? baseFamily + Int((l1.0 >> 20) & 0xFF) : baseFamily
        let baseModel = Int((l1.0 >> 4) & 0xF)
        modelNumber = (baseFamily == 0x6 || baseFamily == 0xF) ? baseModel | Int((l1.0 >> 12) & 0xF0) : baseModel
        let xcr0 = ablate_xcr0()

        var f = Set<String>()
        func bit(_ reg: UInt32, _ i: UInt32, _ name: String) { if reg & (1 << i) != 0 { f.insert(name) } }
        bit(l1.3, 26, "sse2"); bit(l1.2, 0, "sse3"); bit(l1.2, 9, "ssse3"); bit(l1.2, 12, "fma")
        bit(l1.2, 13, "cx16"); bit(l1.2, 19, "sse4.1"); bit(l1.2, 20, "sse4.2"); bit(l1.2, 22, "movbe")
        bit(l1.2, 23, "popcnt"); bit(l1.2, 26, "xsave"); bit(l1.2, 27, "osxsave"); bit(l1.2, 28, "avx")
        bit(l1.2, 29, "f16c")
        bit(l7.1, 3, "bmi1"); bit(l7.1, 5, "avx2"); bit(l7.1, 8, "bmi2")
        bit(l7.1, 16, "avx512f"); bit(l7.1, 17, "avx512dq"); bit(l7.1, 21, "avx512ifma")
        bit(l7.1, 28, "avx512cd"); bit(l7.1, 30, "avx512bw"); bit(l7.1, 31, "avx512vl")
        bit(l7.2, 1, "avx512vbmi"); bit(l7.2, 11, "avx512vnni")
        bit(l7.3, 22, "amx-bf16"); bit(l7.3, 24, "amx-tile"); bit(l7.3, 25, "amx-int8")
        bit(lx.2, 0, "lahf_lm"); bit(lx.2, 5, "lzcnt")
        // The OS must save YMM (XCR0 bits 1, 2) and, for AVX-512, opmask + ZMM (bits 5, 6, 7).
        if f.contains("osxsave") && xcr0 & 0x6 == 0x6 { f.insert("os_avx") }
        if f.contains("osxsave") && xcr0 & 0xE6 == 0xE6 { f.insert("os_avx512") }
        features = f
    }
}

extension Kernels {
    /// Kernel version: bump whenever any kernel's arithmetic changes (recorded in run files).
    public static let version = "ablate-kernels 2 (in-tree GEMM: ascending-k fma chain)"

    /// The active ISA path's kernels: KernelCore's `KernelPath`, implemented once
    /// (Sources/KernelPathShared/Path.swift) and compiled in each ISA module.
    static var path: any KernelPath.Type {
        switch ISA.active {
        case .avx512: GemmAVX512.self
        case .avx2: GemmAVX2.self
        case .generic: GemmGeneric.self
        }
    }

    /// One single-threaded GEMM on the active ISA path; no splitting. For use inside an already
    /// parallel region (e.g. per-head attention blocks).
    @inline(__always)
    static func gemmSerial(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        path.serial(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                    a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }

    /// The active path's cache blocking (speed only).
    static var gemmBlocking: GemmBlocking { path.blocking }

    /// One lane of a GEMM shared by several threads, on the active ISA path (see
    /// `gemmLaneCore` in KernelCore).
    @inline(__always)
    static func gemmLane(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int,
        rowBlock: Int, next: (Int) -> Int, done: (Int) -> Void
    ) {
        path.lane(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                  b: b, ldb: ldb, beta: beta, c: c, ldc: ldc, rowBlock: rowBlock, next: next, done: done)
    }
}
