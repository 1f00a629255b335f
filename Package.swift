// swift-tools-version:6.0
// Package.swift is the architecture diagram of Ablate (docs/architecture.md): every target may
// import only the targets listed as its dependencies, and those sit below it.
//
//   ablate (CLI)
//     └── Experiments ── Training ── Models ── Tensor ── CBLAS (OpenBLAS)
//           │                          └── Config (spec values, schemas, validation)
//           ├── RunStore ── HDF5 ── CHDF5 (libhdf5)
//           └── Analysis ── RunStore
import Foundation
import PackageDescription

// Release builds of the numeric code are compiled for AVX2 + FMA (`-target-cpu haswell`): Swift's
// default baseline x86-64 turns SIMD fused multiply-adds into library calls. Set
// ABLATE_PORTABLE=1 when building to get a binary that runs on any x86-64 (or non-x86) CPU.
let portable = ProcessInfo.processInfo.environment["ABLATE_PORTABLE"] == "1"
#if arch(x86_64)
let nativeX86 = !portable
#else
let nativeX86 = false
#endif
let kernelFlags: [SwiftSetting] = nativeX86
    ? [.unsafeFlags(["-target-cpu", "haswell"], .when(configuration: .release)),
       .define("ABLATE_TARGET_HASWELL", .when(configuration: .release))]
    : []

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
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),

        // Spec values, schemas, validation with key paths, canonical JSON (no dependencies).
        .target(name: "Config"),

        // Numeric core: tensors, kernels, autodiff tape, counter-based RNG.
        .target(name: "Tensor", dependencies: ["CBLAS"], exclude: ["Kernels/README.md"], swiftSettings: kernelFlags),
        // Attention variants, FFN / MoE, routers, the decoder, parameter naming.
        .target(name: "Models", dependencies: ["Tensor", "Config"], swiftSettings: kernelFlags),
        // Data sources, training loop, optimiser, schedules, evaluation, checkpoints.
        .target(name: "Training", dependencies: ["Models", "Config"], swiftSettings: kernelFlags),

        // The only Swift code that touches the HDF5 C API.
        .target(name: "HDF5", dependencies: ["CHDF5"]),
        // HDF5 run files: schema, writers, readers, provenance.
        .target(name: "RunStore", dependencies: ["HDF5"]),

        // Specs, sweeps, run ids, executors, verification.
        .target(name: "Experiments", dependencies: ["Training", "RunStore", "HDF5", "Config", "Yams"]),
        // Tables, CSV and notebook export.
        .target(name: "Analysis", dependencies: ["RunStore", "Config"]),

        // The thin command-line front end.
        .executableTarget(
            name: "ablate",
            dependencies: [
                "Experiments", "Analysis", "RunStore", "HDF5", "Config",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        // Test-only helpers: processes, the Python environment, temporary directories.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "HDF5Tests", dependencies: ["HDF5", "TestSupport"]),
        .testTarget(name: "RunStoreTests", dependencies: ["RunStore", "HDF5", "TestSupport"]),
        .testTarget(name: "TensorTests", dependencies: ["Tensor"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "Config"]),
        .testTarget(name: "ExperimentsTests", dependencies: ["Experiments", "Config", "TestSupport"]),
        .testTarget(name: "AnalysisTests", dependencies: ["Analysis", "RunStore", "TestSupport"]),
        // Runs the release binary that the test command builds (ABLATE_BIN).
        .testTarget(name: "EndToEndTests", dependencies: ["TestSupport", "RunStore"]),
    ]
)
