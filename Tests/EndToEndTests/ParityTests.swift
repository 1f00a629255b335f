// The independent-reference check (models issue): every cell of experiments/parity.yaml is
// dumped by the release binary and recomputed by tools/reference/reference.py (PyTorch, written
// from MODEL.md). Loss ≤ 1e-5 relative, every gradient ≤ 1e-4 relative L2, the first steps'
// losses ≤ 1e-4 — the reference exits 1 on any mismatch.
import Foundation
import Testing
import TestSupport

@Suite struct ParityTests {
    @Test func everyVariantMatchesTheIndependentReference() throws {
        let root = TestEnvironment.packageRoot
        let spec = root.appendingPathComponent("experiments/parity.yaml").path
        let reference = root.appendingPathComponent("tools/reference/reference.py").path
        let directory = try TestEnvironment.temporaryDirectory("parity")
        let binary = try TestEnvironment.ablateBinary()
        let listing = try runProcess(binary, ["validate", spec])
        #expect(listing.status == 0, "\(listing.stderr)")
        let cells = listing.stdout.split(separator: "\n").filter { $0.hasPrefix("  [") }.count
        #expect(cells >= 11)
        var dumps: [String] = []
        for cell in 0..<cells {
            let out = directory.appendingPathComponent("cell\(cell).h5").path
            // Odd cells with one thread, even with two: the dump must not depend on it.
            let dump = try runProcess(binary, ["dump", spec, "--cell", "\(cell)", "--steps", "4", "--out", out,
                                               "--threads", cell % 2 == 0 ? "2" : "1"])
            #expect(dump.status == 0, "cell \(cell): \(dump.stderr)")
            dumps.append(out)
        }
        // Thread count must not change a bit: dump the richest cell with 1 and 2 threads.
        let last = cells - 1
        let one = directory.appendingPathComponent("one.h5").path, two = directory.appendingPathComponent("two.h5").path
        for (path, threads) in [(one, "1"), (two, "2")] {
            let dump = try runProcess(binary, ["dump", spec, "--cell", "\(last)", "--steps", "4", "--out", path, "--threads", threads])
            #expect(dump.status == 0, "\(dump.stderr)")
        }
        let compare = try runPython("""
        import sys, h5py, numpy as np
        a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
        names = []
        a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        assert len(names) > 50, names
        for n in names:
            x, y = a[n][...], b[n][...]
            assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes(), n
        print("identical", len(names))
        """, [one, two])
        #expect(compare.status == 0, "dumps differ between 1 and 2 threads: \(compare.stderr)")

        for (cell, dump) in dumps.enumerated() {
            let result = try runProcess(try TestEnvironment.python(), [reference, dump])
            #expect(result.status == 0, "cell \(cell) differs from the reference:\n\(result.stdout)\n\(result.stderr)")
            #expect(result.stdout.contains("parity ok"), "cell \(cell): \(result.stdout)")
        }
    }
}
