// The one-sweep-at-a-time rule of a sweep directory.
import Foundation

/// An exclusive lock on a sweep directory (flock on .sweep.lock), held while a sweep runs there.
/// The kernel drops it when the process dies, so a killed sweep never leaves it stale.
public final class SweepLock {
    private let descriptor: Int32

    /// nil when another process holds the lock (or the file cannot be opened).
    public init?(directory: String) {
        let path = URL(fileURLWithPath: directory).appendingPathComponent(".sweep.lock").path
        descriptor = open(path, O_CREAT | O_RDWR, 0o644)
        if descriptor < 0 { return nil }
        if flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            close(descriptor)
            return nil
        }
    }

    public func release() {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
