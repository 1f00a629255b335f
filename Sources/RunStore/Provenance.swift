// Provenance: what produced a file — harness version, git commit, build, machine. Recorded in
// every run file and printed by `ablate --version`.
import Foundation
import HDF5

public struct Provenance: Sendable, Codable, Equatable {
    /// The harness version; part of every run id (a new version never reuses old ids).
    public static let harnessVersion = "0.1.0"

    public var version: String
    /// Full commit hash of the source tree the binary was built from, or "unknown".
    public var gitCommit: String
    /// True when tracked files differed from the commit; nil when unknown.
    public var gitDirty: Bool?
    /// "release" or "debug".
    public var buildConfiguration: String
    /// How the kernels were compiled: the ISA paths in the binary (the one used is the run's `isa`).
    public var kernelTarget: String
    public var swiftVersion: String
    public var os: String
    public var cpuModel: String
    public var hdf5Version: String

    public static func current() -> Provenance {
        let git = GitInfo.current
        return Provenance(
            version: harnessVersion,
            gitCommit: git.commit,
            gitDirty: git.dirty,
            buildConfiguration: buildConfiguration,
            kernelTarget: kernelTarget,
            swiftVersion: swiftVersion,
            os: operatingSystem(),
            cpuModel: cpuModel(),
            hdf5Version: HDF5Diagnostics.libraryVersion())
    }

    /// Starts finding the git commit on a background thread (two `git` processes, tens of ms of
    /// wall time at each start-up), so that it overlaps parsing the spec and reading the data;
    /// `current()` then waits for it only if it is not done yet.
    public static func prefetch() {
        Thread.detachNewThread { _ = GitInfo.current }
    }

    /// The one-paragraph answer to `ablate --version`.
    public var versionText: String {
        let dirty = gitDirty == true ? " (dirty)" : ""
        return """
        ablate \(version)
        commit: \(gitCommit)\(dirty)
        build: \(buildConfiguration), kernels for \(kernelTarget)
        swift: \(swiftVersion), hdf5: \(hdf5Version)
        """
    }

    static var buildConfiguration: String {
        #if DEBUG
        "debug"
        #else
        "release"
        #endif
    }

    static var kernelTarget: String {
        // Package.swift: baseline code everywhere, kernel modules per path (x86-64 only).
        #if arch(x86_64)
        "x86-64 baseline; kernel paths avx512 (skylake-avx512), avx2 (haswell), generic (x86-64)"
        #else
        "portable; kernel path generic"
        #endif
    }

    static var swiftVersion: String {
        #if swift(>=6.4)
        ">=6.4"
        #elseif swift(>=6.3)
        "6.3"
        #elseif swift(>=6.2)
        "6.2"
        #elseif swift(>=6.1)
        "6.1"
        #else
        "6.0"
        #endif
    }

    static func operatingSystem() -> String {
        if let text = try? String(contentsOfFile: "/etc/os-release", encoding: .utf8),
           let line = text.split(separator: "\n").first(where: { $0.hasPrefix("PRETTY_NAME=") }) {
            return line.dropFirst("PRETTY_NAME=".count).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }
        return ProcessInfo.processInfo.operatingSystemVersionString
    }

    static func cpuModel() -> String {
        if let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
           let line = text.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
           let colon = line.firstIndex(of: ":") {
            return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return "unknown"
    }
}

/// Finds the git commit of the checkout the running binary was built in: the binary lives in
/// `<checkout>/.build/<config>/ablate`, so walk up from it to the first `.git`. The environment
/// variables ABLATE_GIT_COMMIT (and ABLATE_GIT_DIRTY=0/1) override this, for installed binaries.
enum GitInfo {
    /// Found once per process: what the binary was built from does not change while it runs.
    static let current: (commit: String, dirty: Bool?) = discover()

    static func discover() -> (commit: String, dirty: Bool?) {
        let environment = ProcessInfo.processInfo.environment
        if let commit = environment["ABLATE_GIT_COMMIT"], !commit.isEmpty {
            return (commit, environment["ABLATE_GIT_DIRTY"].map { $0 == "1" })
        }
        guard let root = checkoutRoot() else { return ("unknown", nil) }
        guard let commit = run(["git", "-C", root, "rev-parse", "HEAD"]), !commit.isEmpty else {
            return ("unknown", nil)
        }
        let status = run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"])
        return (commit, status.map { !$0.isEmpty })
    }

    static func checkoutRoot() -> String? {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments.first ?? ""
        var directory = URL(fileURLWithPath: executable).deletingLastPathComponent()
        for _ in 0..<8 {
            if FileManager.default.fileExists(atPath: directory.appendingPathComponent(".git").path) {
                return directory.path
            }
            let parent = directory.deletingLastPathComponent()
            if parent.path == directory.path { break }
            directory = parent
        }
        return nil
    }

    static func run(_ arguments: [String]) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
