// Reading run files in a helper process, so that a file that crashes libhdf5 ends only the
// helper. libhdf5 1.10 can still crash on some damaged files (a flipped byte in a string's heap
// index, H5HG_read), and `table`, `plan`, `status`, `export` and `serve` read every file of a
// sweep. Whatever a command needs of a file is computed in the helper and sent back as one line
// of JSON; the command's own process never opens the file with libhdf5. When the helper dies on
// a file, that read is `.crashed` (the caller marks the cell unreadable), and the next read starts
// a new helper. Checking files in a child first and then reading them in the parent does not
// work: the crashes depend on the process's heap state (see DamagedFiles.swift).
//
// Protocol (one line each way, in order): the request {"kind": K, "path": P, "relative": R} as
// canonical JSON; the answer {"value": …} or {"error": "…"} (the read threw).
import Foundation
import JSON

public enum IsolatedRead: Sendable, Equatable {
    /// What the read gave.
    case value(JSONValue)
    /// The read threw (a file being written, a damaged file HDF5 reports): its message.
    case failed(String)
    /// The reading process died on this file: how ("signal 11").
    case crashed(String)
}

/// A helper process that reads run files (`ablate read-runs`), or, without an executable, the
/// same reads done in this process (unit tests; the helper itself).
public final class ReaderProcess: @unchecked Sendable {
    /// Computes one answer: kind, path, relative path (for pages that name the file).
    public typealias Read = @Sendable (_ kind: String, _ path: String, _ relative: String) throws -> JSONValue

    private let executable: String?
    private let arguments: [String]
    private let local: Read?
    private let lock = NSLock()
    private var process: Process?
    private var input: FileHandle?
    private var output: FileHandle?
    private var buffer = Data()
    /// Helper processes started so far (the first, and one after each crash).
    public private(set) var starts = 0

    /// Reads through the helper `executable arguments…`.
    public init(executable: String, arguments: [String]) {
        self.executable = executable
        self.arguments = arguments
        local = nil
    }

    /// Reads in this process.
    public init(inProcess read: @escaping Read) {
        executable = nil
        arguments = []
        local = read
    }

    deinit {
        if let process, process.isRunning {
            try? input?.close()
            process.waitUntilExit()
        }
    }

    public func read(_ kind: String, _ path: String, relative: String = "") -> IsolatedRead {
        if let local {
            do { return .value(try local(kind, path, relative)) } catch { return .failed("\(error)") }
        }
        return lock.withLock { remote(kind, path, relative) }
    }

    private func remote(_ kind: String, _ path: String, _ relative: String) -> IsolatedRead {
        if process == nil, let failure = start() { return .failed(failure) }
        let request = JSONValue.map(["kind": .string(kind), "path": .string(path), "relative": .string(relative)]).canonical + "\n"
        do {
            try input?.write(contentsOf: Data(request.utf8))
        } catch {
            return .crashed(stop())
        }
        guard let line = readLine() else { return .crashed(stop()) }
        guard let answer = try? JSONValue.parse(line) else { _ = stop(); return .failed("the reader process answered '\(line.prefix(200))'") }
        if let value = answer["value"] { return .value(value) }
        return .failed(answer["error"]?.stringValue ?? "the reader process gave no answer")
    }

    /// Starts the helper; a message when it cannot be started.
    private func start() -> String? {
        guard let executable else { return "no reader process" }
        signal(SIGPIPE, SIG_IGN)   // a helper that dies must not take this process with it
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let toChild = Pipe(), fromChild = Pipe()
        process.standardInput = toChild
        process.standardOutput = fromChild
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            return "cannot start the reader process \(executable): \(error)"
        }
        self.process = process
        input = toChild.fileHandleForWriting
        output = fromChild.fileHandleForReading
        buffer = Data()
        starts += 1
        return nil
    }

    /// Ends the helper (it died, or spoke nonsense); how it ended.
    private func stop() -> String {
        try? input?.close()
        process?.waitUntilExit()
        let how: String
        if let process {
            how = process.terminationReason == .uncaughtSignal ? "signal \(process.terminationStatus)" : "exit \(process.terminationStatus)"
        } else {
            how = "not running"
        }
        process = nil
        input = nil
        output = nil
        return how
    }

    /// The next line from the helper; nil at end of file (it died). Each byte is scanned once
    /// for the newline (answers can be megabytes).
    private func readLine() -> String? {
        var scanned = 0
        while true {
            if let newline = buffer[(buffer.startIndex + scanned)...].firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                buffer = Data(buffer[(newline + 1)...])
                return line
            }
            scanned = buffer.count
            // availableData waits for some bytes and returns what there is (empty at end of file);
            // read(upToCount:) would wait for the whole count.
            guard let data = output?.availableData, !data.isEmpty else { return nil }
            buffer.append(data)
        }
    }

    /// The helper's side: answers requests from stdin with `read` until stdin closes.
    public static func serve(_ read: Read) {
        while let line = Swift.readLine() {
            guard let request = try? JSONValue.parse(line), let kind = request["kind"]?.stringValue,
                  let path = request["path"]?.stringValue else {
                answer(.map(["error": .string("bad request '\(line.prefix(200))'")]))
                continue
            }
            let reply: JSONValue
            do {
                reply = .map(["value": try read(kind, path, request["relative"]?.stringValue ?? "")])
            } catch {
                reply = .map(["error": .string("\(error)")])
            }
            answer(reply)
        }
    }

    /// One answer line, written straight to stdout (unbuffered: the caller waits for it).
    private static func answer(_ value: JSONValue) {
        FileHandle.standardOutput.write(Data((value.canonical + "\n").utf8))
    }
}
