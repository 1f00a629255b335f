// swift-tools-version:6.0
// Package.swift is the architecture diagram of Ablate (docs/architecture.md): every target may
// import only the targets listed as its dependencies, and those sit below it.
//
//   ablate (CLI)
//     └── Experiments ── Training ── Models ── Tensor ── KernelsAVX512 / KernelsAVX2 / KernelsGeneric ── KernelCore
//           │                          └── Config (spec values, schemas, validation)
//           ├── RunStore ── HDF5 ── CHDF5 (libhdf5)
//           ├── Analysis ── RunStore   (Experiments checks a spec's table section against its cells)
//           └── Dashboard ── Analysis, RunStore (`ablate serve`)
//   JSON (the one value tree) sits under Config, HDF5, Analysis and Dashboard
import Foundation
import PackageDescription

// The kernels are compiled once per ISA path (docs/architecture.md, "Kernels and ISA paths"):
// KernelCore holds them as @inlinable source; KernelsAVX512 / KernelsAVX2 / KernelsGeneric each
// compile that source with their own -target-cpu, and Tensor picks one at run time from CPUID.
// Everything else is built for baseline x86-64, so the binary runs on any x86-64 CPU. The kernel
// modules are optimised in debug builds too (unit tests call them at real sizes).
#if arch(x86_64)
let x86 = true
#else
let x86 = false
#endif
func kernelPath(_ cpu: String?) -> [SwiftSetting] {
    var flags: [SwiftSetting] = [.unsafeFlags(["-O"], .when(configuration: .debug))]
    if x86, let cpu { flags.append(.unsafeFlags(["-target-cpu", cpu])) }
    return flags
}

let package = Package(
    name: "Ablate",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "ablate", targets: ["ablate"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        // C libraries, each behind a shim header of `static inline` wrappers.
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),
        // CPUID and XGETBV for the ISA dispatch.
        .target(name: "CPUFeatures"),

        // The one JSON value tree (parse, canonical and web writers), below every layer.
        .target(name: "JSON"),
        // Spec values, schemas, validation with key paths (over JSON).
        .target(name: "Config", dependencies: ["JSON"]),

        // Numeric core: tensors, kernels, autodiff tape, counter-based RNG.
        // The kernels as @inlinable source (GEMM, deterministic math), and one module per ISA path.
        .target(name: "KernelCore", swiftSettings: kernelPath(nil)),
        .target(name: "KernelsAVX512", dependencies: ["KernelCore"], swiftSettings: kernelPath("skylake-avx512")),
        .target(name: "KernelsAVX2", dependencies: ["KernelCore"], swiftSettings: kernelPath("haswell")),
        .target(name: "KernelsGeneric", dependencies: ["KernelCore"], swiftSettings: kernelPath(nil)),
        .target(name: "Tensor",
                dependencies: ["KernelCore", "KernelsAVX512", "KernelsAVX2", "KernelsGeneric", "CPUFeatures"],
                exclude: ["Kernels/README.md"]),
        // Attention variants, FFN / MoE, routers, the decoder, parameter naming.
        .target(name: "Models", dependencies: ["Tensor", "KernelCore", "Config"]),
        // Data sources, training loop, optimiser, schedules, evaluation, checkpoints.
        .target(name: "Training", dependencies: ["Models", "KernelCore", "Config"]),

        // The only Swift code that touches the HDF5 C API.
        .target(name: "HDF5", dependencies: ["CHDF5", "JSON"]),
        // HDF5 run files: schema, writers, readers, provenance.
        .target(name: "RunStore", dependencies: ["HDF5", "JSON"]),

        // Specs, sweeps, run ids, executors, verification.
        .target(name: "Experiments", dependencies: ["Training", "RunStore", "Analysis", "HDF5", "Config", "JSON", "Yams"]),
        // Tables, CSV and notebook export.
        .target(name: "Analysis", dependencies: ["RunStore", "Config", "JSON"]),
        // `ablate serve`: an HTTP/1.1 server on POSIX sockets and the live dashboard's pages.
        .target(name: "Dashboard", dependencies: ["Analysis", "RunStore", "JSON"]),

        // Benchmarks (timings, never tests): kept out of the library targets; `ablate bench` runs them.
        .target(name: "Benchmarks", dependencies: ["Training", "Models", "Tensor", "KernelCore", "Config"]),

        // The thin command-line front end.
        .executableTarget(
            name: "ablate",
            dependencies: [
                "Experiments", "Analysis", "RunStore", "HDF5", "Config", "Training", "Benchmarks", "Dashboard",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        // Test-only helpers: processes, the Python environment, temporary directories.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "HDF5Tests", dependencies: ["HDF5", "TestSupport"]),
        .testTarget(name: "RunStoreTests", dependencies: ["RunStore", "HDF5", "TestSupport"]),
        .testTarget(name: "TensorTests", dependencies: ["Tensor", "KernelCore", "TestSupport"]),
        .testTarget(name: "KernelCoreTests", dependencies: ["KernelCore", "TestSupport"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "Config"]),
        .testTarget(name: "ExperimentsTests", dependencies: ["Experiments", "Training", "RunStore", "Config", "TestSupport"]),
        .testTarget(name: "AnalysisTests", dependencies: ["Analysis", "RunStore", "JSON", "TestSupport", "Training"]),
        .testTarget(name: "DashboardTests", dependencies: ["Dashboard", "RunStore", "JSON", "TestSupport"]),
        // Runs the release binary that the test command builds (ABLATE_BIN).
        .testTarget(name: "EndToEndTests", dependencies: ["TestSupport", "RunStore"]),
    ]
)
