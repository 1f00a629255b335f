// The last checkpoint in a file of its own, so that a run file damaged by a full disk (HDF5
// leaves a file whose flush failed half-written: "addr overflow" on the next open) never takes
// the checkpoint with it.
//
// After every checkpoint, once run.h5 is flushed (and so consistent on disk), it is copied to
// checkpoint.h5 beside it: written to a temporary name, fsync'ed, renamed over the old copy, and
// the directory fsync'ed. A crash or a full disk at any point leaves either the old copy or the
// new one, never half of one. Resume uses run.h5 when it reads; when it is missing or unreadable,
// it is moved aside (run.h5.damaged) and the copy takes its place. The copy costs one file's
// size of disk and one sequential copy per checkpoint (docs/reliability.md).
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public enum CheckpointCopy {
    public static let fileName = "checkpoint.h5"

    public static func path(besides runFile: String) -> String {
        URL(fileURLWithPath: runFile).deletingLastPathComponent().appendingPathComponent(fileName).path
    }

    /// Copies the (flushed) run file to checkpoint.h5 atomically. Throws `StorageFailure` with
    /// `runFileIntact` set when the disk cannot hold the copy: the run file itself is fine.
    public static func write(from runFile: String) throws {
        let target = path(besides: runFile)
        let temporary = target + ".tmp"
        do {
            try copyDurably(runFile, to: temporary)
            guard rename(temporary, target) == 0 else { throw POSIXFailure(errno: errno, path: target) }
            syncDirectory(of: target)
        } catch let failure as POSIXFailure {
            unlink(temporary)
            throw StorageFailure(path: failure.path, errnoCode: failure.errno, runFileIntact: true)
        }
    }

    /// When `runFile` is missing or cannot be read but a checkpoint copy exists, moves the
    /// damaged file aside and restores the copy in its place. Returns what it did, nil when
    /// nothing was needed (or no copy exists).
    public static func restoreIfNeeded(runFile: String) throws -> String? {
        let copy = path(besides: runFile)
        guard FileManager.default.fileExists(atPath: copy) else { return nil }
        var aside: String?
        if FileManager.default.fileExists(atPath: runFile) {
            if readable(runFile) { return nil }
            aside = damagedName(runFile)
            guard rename(runFile, aside!) == 0 else {
                throw RunStoreError(.unwritable, path: runFile, "cannot move the damaged run file '\(runFile)' aside: \(String(cString: strerror(errno)))")
            }
        }
        do {
            try copyDurably(copy, to: runFile + ".tmp")
            guard rename(runFile + ".tmp", runFile) == 0 else { throw POSIXFailure(errno: errno, path: runFile) }
            syncDirectory(of: runFile)
        } catch let failure as POSIXFailure {
            unlink(runFile + ".tmp")
            throw StorageFailure(path: failure.path, errnoCode: failure.errno, runFileIntact: true)
        }
        let step = (try? RunFileReader(path: runFile)).flatMap { reader -> Int? in
            defer { reader.close() }
            return (try? reader.checkpoint())?.step
        }
        let stepText = step.map { "the checkpoint of step \($0)" } ?? "its checkpoint copy"
        return (aside.map { "run file '\(runFile)' was unreadable (kept as '\($0)'); " } ?? "run file '\(runFile)' was missing; ")
            + "restored \(stepText) from '\(copy)'"
    }

    /// Whether the file opens and its attributes, metrics and current checkpoint read.
    static func readable(_ runFile: String) -> Bool {
        guard let reader = try? RunFileReader(path: runFile) else { return false }
        defer { reader.close() }
        do {
            _ = try reader.attributes()
            _ = try reader.trainMetrics()
            _ = try reader.checkpoint()
            return true
        } catch {
            return false
        }
    }

    /// run.h5.damaged, or run.h5.damaged.2, … when that exists already.
    static func damagedName(_ runFile: String) -> String {
        var candidate = runFile + ".damaged"
        var n = 2
        while FileManager.default.fileExists(atPath: candidate) { candidate = runFile + ".damaged.\(n)"; n += 1 }
        return candidate
    }

    /// Writes a copy of `source` at `target` (replacing it) and fsyncs it.
    static func copyDurably(_ source: String, to target: String) throws {
        let input = open(source, O_RDONLY)
        guard input >= 0 else { throw POSIXFailure(errno: errno, path: source) }
        defer { close(input) }
        let output = open(target, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard output >= 0 else { throw POSIXFailure(errno: errno, path: target) }
        var closed = false
        defer { if !closed { close(output) } }
        let size = 1 << 20
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 4096)
        defer { buffer.deallocate() }
        while true {
            let got = read(input, buffer, size)
            if got < 0 { if errno == EINTR { continue }; throw POSIXFailure(errno: errno, path: source) }
            if got == 0 { break }
            var done = 0
            while done < got {
                let wrote = Glibc.write(output, buffer + done, got - done)
                if wrote < 0 { if errno == EINTR { continue }; throw POSIXFailure(errno: errno, path: target) }
                done += wrote
            }
        }
        guard fsync(output) == 0 else { throw POSIXFailure(errno: errno, path: target) }
        closed = true
        guard close(output) == 0 else { throw POSIXFailure(errno: errno, path: target) }
    }

    static func syncDirectory(of path: String) {
        let directory = open(URL(fileURLWithPath: path).deletingLastPathComponent().path, O_RDONLY)
        guard directory >= 0 else { return }
        fsync(directory)
        close(directory)
    }
}

struct POSIXFailure: Error {
    var errno: Int32
    var path: String
}

/// A write that the storage refused: a full disk (ENOSPC), a quota (EDQUOT), or an I/O error.
/// After one, HDF5's state for that file is not to be trusted (closing it may crash), so the
/// writer abandons the file instead of finishing it.
public struct StorageFailure: Error, CustomStringConvertible, Sendable {
    public var path: String
    /// errno when known (28 = ENOSPC, 122 = EDQUOT), else 0.
    public var errnoCode: Int32
    /// True when the run file itself was flushed before the failure (the checkpoint copy failed).
    public var runFileIntact: Bool

    public init(path: String, errnoCode: Int32, runFileIntact: Bool) {
        self.path = path
        self.errnoCode = errnoCode
        self.runFileIntact = runFileIntact
    }

    /// A storage failure found in another error's text (HDF5 reports "errno = 28" in its
    /// stack), nil when `error` is something else.
    public init?(_ error: Error, path: String) {
        if let failure = error as? StorageFailure { self = failure; return }
        let text = "\(error)"
        let codes: [(String, Int32)] = [("errno = 28", ENOSPC), ("No space left on device", ENOSPC),
                                        ("errno = 122", EDQUOT), ("Disk quota exceeded", EDQUOT),
                                        ("file write failed", 0), ("unable to flush", 0)]
        guard let match = codes.first(where: { text.contains($0.0) }) else { return nil }
        let code = match.1 != 0 ? match.1 : (codes.first { text.contains($0.0) && $0.1 != 0 }?.1 ?? EIO)
        self.init(path: path, errnoCode: code, runFileIntact: false)
    }

    public var isDiskFull: Bool { errnoCode == ENOSPC || errnoCode == EDQUOT }

    /// Bytes free for an unprivileged writer on the file system holding `path`.
    public var freeBytes: Int? {
        var stats = statvfs()
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        guard statvfs(directory, &stats) == 0 else { return nil }
        return Int(stats.f_bavail) * Int(stats.f_frsize)
    }

    public var description: String {
        let reason = String(cString: strerror(errnoCode))
        let free = freeBytes.map { ", \($0 / 1024) KB free" } ?? ""
        return "cannot write '\(path)': \(reason)\(free)"
    }
}
