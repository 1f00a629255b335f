// Multi-token prediction and Muon in a run (MODEL.md): the run file logs each module's loss
// and the MTP layers' max logits at indices L + j; the step's loss is CE + (λ/n)·Σ L_mtp; a
// kill and resume of a Muon + MTP + QK-clip run gives the same bits (momentum is in the
// checkpoint); generate ignores the modules. tools/reference checks the arithmetic
// (experiments/parity.yaml's MTP and Muon cells, ParityTests).
import Foundation
import Testing
import TestSupport

@Suite struct MTPMuonTests {
    @Test func runLogsModuleLossesAndResumesWithTheSameBits() throws {
        // Cell 19: mha, MTP depth 1 (λ 0.3), Muon, QK-clip τ 0.015; killed at step 18 and resumed too.
        let run = try ParityCellRun.straightAndResumed(cell: 19, label: "mtp-muon")
        let check = try runPython("""
        import sys, h5py, numpy as np
        f = h5py.File(sys.argv[1], "r")
        train = f["metrics/train"]
        mtp, ce, loss = train["mtp_loss_0"][...], train["ce"][...], train["loss"][...]
        assert mtp.shape == (40,) and np.isfinite(mtp).all() and (mtp > 0).all(), mtp
        assert np.allclose(loss, ce + 0.3 * mtp, rtol=1e-5), (loss, ce, mtp)
        assert mtp[-5:].mean() < mtp[:5].mean(), "the module's loss falls"
        s = f["tensors/qk_max_logit"][...]
        assert s.shape == (40, 3, 2), s.shape   # 2 main layers + the MTP layer, 2 heads
        assert "mtp_loss_0" not in f["metrics/eval"], "eval reports the main head only"
        ckpt = max((f["checkpoint"][k] for k in f["checkpoint"]), key=lambda g: int(g["step"][()]))
        names = set(ckpt["optimizer_m"].keys())
        assert "mtp.0.eh_proj.weight" in names and "layers.0.attn.wq.weight" in names
        v = set(ckpt["optimizer_v"].keys())
        assert "layers.0.attn.wq.weight" not in v, "Muon keeps one moment"
        assert "embed.weight" in v and "mtp.0.enorm.weight" in v, "AdamW keeps two"
        print("mtp loss", mtp[0], "→", mtp[-1])
        """, [run + "/run.h5"])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")

        let sample = try runProcess(try TestEnvironment.ablateBinary(), ["generate", run, "--prompt-tokens", "1,2,3", "--tokens", "8",
                                                                           "--temperature", "0"])
        #expect(sample.status == 0, "generate: \(sample.stderr)")
    }
}
