// QK-clip in a run (MODEL.md "QK-clip"): the run file logs every step's per-head max logit as
// tensors/qk_max_logit [steps, L, H], the step's largest logit and the count of clipped heads;
// a kill and resume of a clipped run gives the same bits. The reference checks the arithmetic
// (experiments/parity.yaml's QK-clip cells, ParityTests).
import Foundation
import Testing
import TestSupport

@Suite struct QKClipTests {
    @Test func runFileLogsMaxLogitsAndClippedHeads() throws {
        // Cell 11: mha with τ = 0.015; the helper also kills it at step 18 and resumes it.
        let run = try ParityCellRun.straightAndResumed(cell: 11, label: "qk-clip")
        let check = try runPython("""
        import sys, h5py, numpy as np
        f = h5py.File(sys.argv[1], "r")
        s = f["tensors/qk_max_logit"][...]
        steps = f["tensors/qk_max_logit_steps"][...]
        assert s.shape == (40, 2, 2), s.shape
        assert list(steps) == list(range(40)), steps
        train = f["metrics/train"]
        assert np.allclose(train["max_logit"][...], s.reshape(40, -1).max(1)), "max_logit is the max of S"
        clipped = train["qk_clipped"][...]
        assert (clipped == (s > 0.015).reshape(40, -1).sum(1)).all(), (clipped, s)
        assert clipped.sum() > 0, "τ = 0.015 never fired"
        print("steps with clipping:", int((clipped > 0).sum()), "heads clipped:", int(clipped.sum()))
        """, [run + "/run.h5"])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
    }
}

/// A cell of experiments/parity.yaml trained for 40 steps twice: straight through, and killed at
/// step 18 then resumed. The two must be identical (`ablate compare`).
enum ParityCellRun {
    /// Returns the straight run's directory.
    static func straightAndResumed(cell: Int, label: String) throws -> String {
        let (binary, directory) = try TestEnvironment.endToEnd(label)
        let spec = TestEnvironment.packageRoot.appendingPathComponent("experiments/parity.yaml").path
        let overrides = ["train.steps=40", "log.flush_every=1", "log.checkpoint_every=5"]
        let straight = directory.appendingPathComponent("straight").path
        let run = try runProcess(binary, ["run", spec] + overrides + ["--cell", "\(cell)", "--runs", straight, "--quiet"])
        #expect(run.status == 0, "\(run.stderr)")
        let id = try #require(try FileManager.default.contentsOfDirectory(atPath: straight + "/parity").first)
        let runs = directory.appendingPathComponent("killed").path
        let killed = try runKilledAt("step 18/40", binary, ["run", spec] + overrides + ["--cell", "\(cell)", "--runs", runs, "--quiet"],
                                     runs: runs, name: "parity")
        #expect(killed, "the run finished or hung before step 18 could be killed")
        let resumed = try runProcess(binary, ["resume", "\(runs)/parity/\(id)", "--quiet"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let compare = try runProcess(binary, ["compare", "\(straight)/parity/\(id)", "\(runs)/parity/\(id)"])
        #expect(compare.status == 0, "killed and resumed differs:\n\(compare.stdout)")
        return "\(straight)/parity/\(id)"
    }
}
