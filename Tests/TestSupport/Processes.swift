// Helpers shared by test targets: running processes (the release binary, Python) and
// temporary directories. Test-only; no library depends on this target.
import Foundation

public struct ProcessResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

public enum TestEnvironment {
    /// The package root, found from this source file's location.
    public static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The release binary the test command built (ABLATE_BIN), or `.build/release/ablate`.
    public static func ablateBinary() throws -> String {
        if let path = ProcessInfo.processInfo.environment["ABLATE_BIN"], !path.isEmpty { return path }
        let fallback = packageRoot.appendingPathComponent(".build/release/ablate").path
        guard FileManager.default.isExecutableFile(atPath: fallback) else {
            throw SetupError("no release binary: run scripts/test.sh (it builds .build/release/ablate and sets ABLATE_BIN)")
        }
        return fallback
    }

    /// The Python interpreter with h5py and numpy (ABLATE_PYTHON, set by scripts/test.sh).
    public static func python() throws -> String {
        if let path = ProcessInfo.processInfo.environment["ABLATE_PYTHON"], !path.isEmpty { return path }
        let fallback = packageRoot.appendingPathComponent(".venv/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: fallback) else {
            throw SetupError("no Python environment: run scripts/test.sh (it creates .venv with h5py and sets ABLATE_PYTHON)")
        }
        return fallback
    }

    /// A fresh empty directory under the system's temporary directory.
    public static func temporaryDirectory(_ label: String = "ablate-test") throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(label)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

extension TestEnvironment {
    /// What an end-to-end suite starts from: the release binary and a fresh directory.
    public static func endToEnd(_ label: String) throws -> (binary: String, directory: URL) {
        (try ablateBinary(), try temporaryDirectory(label))
    }

    /// The same, with `text` written into the directory as `file` (its path is `spec`).
    public static func endToEnd(_ label: String, spec text: String, file: String) throws -> (binary: String, directory: URL, spec: String) {
        let (binary, directory) = try endToEnd(label)
        let spec = directory.appendingPathComponent(file).path
        try text.write(toFile: spec, atomically: true, encoding: .utf8)
        return (binary, directory, spec)
    }
}

/// Starts `binary arguments` (a training command writing into `runs`) and SIGKILLs it as soon as
/// the run.log under `runs/<name>/<run id>/` contains `marker`. True when it was killed before it
/// finished (false when it finished or the deadline passed first).
public func runKilledAt(_ marker: String, _ binary: String, _ arguments: [String], runs: String, name: String,
                        timeout: TimeInterval = 120) throws -> Bool {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: binary)
    process.arguments = arguments
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    let deadline = Date().addingTimeInterval(timeout)
    var killed = false
    while Date() < deadline && process.isRunning {
        if let id = try? FileManager.default.contentsOfDirectory(atPath: "\(runs)/\(name)").first,
           let log = try? String(contentsOfFile: "\(runs)/\(name)/\(id)/run.log", encoding: .utf8),
           log.contains(marker) {
            kill(process.processIdentifier, SIGKILL)
            killed = true
            break
        }
        usleep(2_000)
    }
    process.waitUntilExit()
    return killed
}

/// A suite whose files live in one fresh directory.
public protocol ScratchSuite {
    var directory: URL { get }
}

extension ScratchSuite {
    /// `name` inside the suite's directory.
    public func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
}

public struct SetupError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Runs `executable` with `arguments`, waits, and returns exit status and output.
@discardableResult
public func runProcess(_ executable: String, _ arguments: [String], input: String? = nil,
                       environment: [String: String] = [:], directory: URL? = nil) throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if !environment.isEmpty {
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    }
    if let directory { process.currentDirectoryURL = directory }
    let stdoutURL = FileManager.default.temporaryDirectory.appendingPathComponent("out-\(UUID().uuidString)")
    let stderrURL = FileManager.default.temporaryDirectory.appendingPathComponent("err-\(UUID().uuidString)")
    _ = FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)
    _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
    defer {
        try? FileManager.default.removeItem(at: stdoutURL)
        try? FileManager.default.removeItem(at: stderrURL)
    }
    let stdoutHandle = try FileHandle(forWritingTo: stdoutURL)
    let stderrHandle = try FileHandle(forWritingTo: stderrURL)
    process.standardOutput = stdoutHandle
    process.standardError = stderrHandle
    let stdinPipe = Pipe()
    process.standardInput = stdinPipe
    try process.run()
    if let input { stdinPipe.fileHandleForWriting.write(Data(input.utf8)) }
    try stdinPipe.fileHandleForWriting.close()
    process.waitUntilExit()
    try stdoutHandle.close()
    try stderrHandle.close()
    return ProcessResult(
        status: process.terminationStatus,
        stdout: String(decoding: try Data(contentsOf: stdoutURL), as: UTF8.self),
        stderr: String(decoding: try Data(contentsOf: stderrURL), as: UTF8.self))
}

/// Runs a Python script (given as text) with the test environment's interpreter.
@discardableResult
public func runPython(_ script: String, _ arguments: [String] = []) throws -> ProcessResult {
    try runProcess(try TestEnvironment.python(), ["-c", script] + arguments)
}
