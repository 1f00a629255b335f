"""Tests of the PyTorch reference (tools/reference/reference.py).

Three kinds: (a) dumps written by make_dump.py (the reference itself, float32) for tiny configs
that together cover every variant are accepted (exit 0) by the float64 check; (b) tampering is
caught (exit 1 naming the quantity) and malformed dumps exit 2 naming what is missing;
(c) hand-computed known answers for the semantics most likely to be implemented wrongly, plus a
few cross-checks against independent formulations (complex RoPE, per-head loops, absorbed MLA,
a per-token MoE loop, torch.optim.AdamW).

Run: /work/refvenv/bin/python -m pytest tools/reference -q
"""
from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_dump  # noqa: E402
import reference as ref  # noqa: E402

torch.set_default_dtype(torch.float64)

# ----------------------------------------------------------------------------------------------
# (a) Self-consistency over tiny configs covering every variant

MOE = {"model.ffn.kind": "moe"}

CASES = {
    # mha, dense, cosine schedule with warmup, masked CE
    "mha_dense": {"model.vocab": 11},
    # gqa (H 4, G 2), tied embeddings, wsd schedule
    "gqa_tied_wsd": {
        "model.vocab": 13, "model.d_model": 12, "model.attention.kind": "gqa", "model.attention.heads": 4,
        "model.attention.head_dim": 4, "model.attention.n_kv_heads": 2, "model.tie_embeddings": True,
        "train.schedule.kind": "wsd", "train.schedule.decay_steps": 1, "train.batch_size": 3,
    },
    # mqa; moe softmax, no normalisation, aux batch, z-loss, shared expert, first layer dense
    "mqa_moe_softmax_batchaux_z_shared": {
        **MOE, "model.vocab": 17, "model.attention.kind": "mqa", "model.first_dense_layers": 1,
        "model.ffn.moe.shared_experts": 1, "model.ffn.moe.balance.aux": "batch",
        "model.ffn.moe.balance.aux_coef": 0.01, "model.ffn.moe.balance.z_loss_coef": 0.001,
        "model.init.std": 0.2, "train.batch_size": 3, "train.seq_len": 7,
    },
    # mla with query compression; moe sigmoid, normalised, route scale; aux sequence; 2 micro-batches
    "mla_qrank_moe_sigmoid_seqaux_micro2": {
        **MOE, "model.vocab": 32, "model.d_model": 16, "model.attention": {
            "kind": "mla", "heads": 2, "kv_rank": 4, "q_rank": 6, "d_nope": 4, "d_rope": 2, "d_v": 4},
        "model.ffn.moe.router.score": "sigmoid", "model.ffn.moe.router.normalize": True,
        "model.ffn.moe.router.scale": 2.5, "model.ffn.moe.balance.aux": "sequence",
        "model.ffn.moe.balance.aux_coef": 0.01, "model.init.std": 0.2,
        "train.micro_batches": 2, "train.batch_size": 4, "train.seq_len": 8,
    },
    # mla without query compression; 4 experts in 2 groups (keep 1) with the loss-free bias, 4 steps
    "mla_noq_groups_lossfree_sign": {
        **MOE, "model.vocab": 20, "model.attention": {
            "kind": "mla", "heads": 2, "kv_rank": 4, "q_rank": 0, "d_nope": 2, "d_rope": 4, "d_v": 3},
        "model.ffn.moe.router.groups": 2, "model.ffn.moe.router.topk_groups": 1,
        "model.ffn.moe.balance.loss_free": {"enabled": True, "rate": 0.01, "rule": "sign"},
        "model.init.std": 0.3, "train.steps": 4, "train.batch_size": 3, "train.schedule.kind": "constant",
    },
    # group-limited routing without a bias (group score = max), top-1, softmax normalised
    "moe_groups_nobias_top1": {
        **MOE, "model.vocab": 15, "model.ffn.moe.top_k": 1, "model.ffn.moe.router.groups": 2,
        "model.ffn.moe.router.topk_groups": 1, "model.ffn.moe.router.normalize": True,
        "model.init.std": 0.3, "train.optimizer.clip": 0.0,
    },
    # granularity 2 (2 → 4 experts, top 1 → 2), shared expert, capacity 1.0 with drops, 2 micro-
    # batches, proportional loss-free bias, 4 steps, no clipping
    "moe_granularity_capacity_micro2_proportional": {
        **MOE, "model.vocab": 19, "model.ffn.moe.experts": 2, "model.ffn.moe.top_k": 1,
        "model.ffn.moe.granularity": 2, "model.ffn.moe.shared_experts": 1,
        "model.ffn.moe.capacity_factor": 1.0,
        "model.ffn.moe.balance.loss_free": {"enabled": True, "rate": 0.01, "rule": "proportional"},
        "model.init.std": 0.5, "train.steps": 4, "train.micro_batches": 2, "train.batch_size": 4,
        "train.optimizer.clip": 0.0,
    },
    # multi-token prediction depth 2 on a loss-free MoE, trained by Muon (Nesterov off)
    "mtp2_moe_lossfree_muon": {
        **MOE, "model.vocab": 14, "model.mtp": {"depth": 2, "weight": 0.3},
        "model.ffn.moe.balance.loss_free": {"enabled": True, "rate": 0.01, "rule": "sign"},
        "model.init.std": 0.3, "train.steps": 3,
        "train.optimizer.kind": "muon", "train.optimizer.lr": 0.02, "train.optimizer.nesterov": False,
    },
}


@pytest.fixture(scope="module")
def dumps(tmp_path_factory):
    out = {}
    d = tmp_path_factory.mktemp("dumps")
    for name, overrides in CASES.items():
        spec = make_dump.make_spec(overrides)
        path = str(d / f"{name}.h5")
        traj = make_dump.write_dump(path, spec, seed=3, int_dtype="int64" if "gqa" in name else "int32")
        out[name] = (path, spec, traj)
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_reference_accepts_its_own_float32_dump(dumps, name, capsys):
    path, _, _ = dumps[name]
    assert ref.main([path]) == 0, capsys.readouterr().out
    assert "parity ok" in capsys.readouterr().out


def test_coverage_of_the_cases(dumps):
    """The cases together cover every variant the brief lists (guards against a case silently
    losing its feature when defaults change)."""
    models = {n: ref.build_model(s["model"]) for n, (_, s, _) in dumps.items()}
    kinds = {m.attn_kind for m in models.values()}
    assert kinds == {"mha", "gqa", "mqa", "mla"}
    mla = [m for m in models.values() if m.attn_kind == "mla"]
    assert {m.q_rank > 0 for m in mla} == {True, False}
    moes = [m.moe for m in models.values() if m.moe]
    assert {x.score for x in moes} == {"softmax", "sigmoid"}
    assert {x.normalize for x in moes} == {True, False}
    assert {x.aux for x in moes} >= {"batch", "sequence"}
    assert any(x.z_coef > 0 for x in moes) and any(x.shared_hidden > 0 for x in moes)
    assert {(x.groups > 1, x.loss_free) for x in moes} >= {(True, True), (True, False)}
    assert {x.lf_rule for x in moes if x.loss_free} == {"sign", "proportional"}
    assert any(m.tie_embeddings for m in models.values())
    assert any(s["train"]["micro_batches"] == 2 for _, s, _ in dumps.values())
    gran = models["moe_granularity_capacity_micro2_proportional"]
    assert (gran.moe.experts, gran.moe.top_k, gran.moe.expert_hidden, gran.moe.shared_hidden) == (4, 2, 4, 4)
    assert "layers.1.ffn.experts.3.w1.weight" in dict(gran.shapes)


@pytest.mark.parametrize("name", ["mla_noq_groups_lossfree_sign", "moe_granularity_capacity_micro2_proportional"])
def test_loss_free_bias_moved(dumps, name):
    path, _, _ = dumps[name]
    with h5py.File(path) as f:
        for l in range(2):
            before = f[f"params/layers.{l}.ffn.gate.bias"][()]
            after = f[f"params_final/layers.{l}.ffn.gate.bias"][()]
            assert np.all(before == 0) and np.abs(after - before).max() > 0
            assert f"layers.{l}.ffn.gate.bias" not in f["step_0/grads"]
            # sign rule: every entry moved by a multiple of u = 0.01 in 4 steps
            if "sign" in name:
                assert np.allclose(np.round(after / 0.01), after / 0.01, atol=1e-4)


def test_capacity_dropped_tokens(dumps):
    _, _, traj = dumps["moe_granularity_capacity_micro2_proportional"]
    assert sum(sum(s.dropped.values()) for s in traj.steps) > 0
    _, _, dropless = dumps["mla_noq_groups_lossfree_sign"]
    assert sum(sum(s.dropped.values()) for s in dropless.steps) == 0


def test_dump_has_the_documented_layout(dumps):
    path, spec, _ = dumps["mqa_moe_softmax_batchaux_z_shared"]
    N, B, T, V = spec["train"]["steps"], spec["train"]["batch_size"], spec["train"]["seq_len"], spec["model"]["vocab"]
    with h5py.File(path) as f:
        assert isinstance(f.attrs["resolved_spec"], str)
        assert f["batches/inputs"].shape == (N, B, T) and f["batches/inputs"].dtype == np.int32
        assert f["batches/mask"].dtype == np.float32
        assert f["step_0/logits"].shape == (B, T, V)
        assert all(f[f"losses/{k}"].shape == (N,) for k in ("total", "ce", "aux", "z"))
        assert "layers.0.ffn.w1.weight" in f["params"] and "layers.1.ffn.experts.3.w2.weight" in f["params"]
        assert "layers.1.ffn.shared_experts.w3.weight" in f["params"]


# ----------------------------------------------------------------------------------------------
# (b) Tampering is caught; malformed dumps exit 2

@pytest.fixture()
def tampered(dumps, tmp_path):
    def copy(name="mla_noq_groups_lossfree_sign"):
        dst = str(tmp_path / "t.h5")
        shutil.copy(dumps[name][0], dst)
        return dst
    return copy


def _perturb(path, dataset, fn):
    with h5py.File(path, "r+") as f:
        a = f[dataset][()]
        f[dataset][...] = fn(a)


def test_perturbed_gradient_is_caught(tampered, capsys):
    path = tampered()
    name = "layers.1.ffn.experts.2.w1.weight"
    rng = np.random.default_rng(0)

    def bump(a):
        u = rng.standard_normal(a.shape).astype(np.float32)
        return a + 1e-3 * np.linalg.norm(a) * u / np.linalg.norm(u)
    _perturb(path, f"step_0/grads/{name}", bump)
    assert ref.main([path]) == 1
    out = capsys.readouterr().out
    assert "MISMATCH" in out and f"grad {name}" in out.split("MISMATCH")[1]


def test_perturbed_logit_is_caught(tampered, capsys):
    path = tampered()

    def bump(a):
        a = a.copy()
        a[1, 2, 3] += 1e-4 * np.abs(a).max()
        return a
    _perturb(path, "step_0/logits", bump)
    assert ref.main([path]) == 1
    assert "logits @ step 0" in capsys.readouterr().out.split("MISMATCH")[1]


def test_perturbed_final_param_is_caught(tampered, capsys):
    path = tampered()
    name = "layers.0.attn.wkv_b.weight"
    _perturb(path, f"params_final/{name}", lambda a: a * (1 + 1e-3))
    assert ref.main([path]) == 1
    assert f"final {name}" in capsys.readouterr().out.split("MISMATCH")[1]


def test_perturbed_later_loss_is_caught(tampered, capsys):
    path = tampered()
    _perturb(path, "losses/ce", lambda a: a * np.array([1, 1, 1 + 1e-3, 1], dtype=np.float32))
    assert ref.main([path]) == 1
    assert "loss.ce @ step 2" in capsys.readouterr().out.split("MISMATCH")[1]


def test_missing_dataset_exits_2(tampered, capsys):
    path = tampered()
    with h5py.File(path, "r+") as f:
        del f["step_0/grads/layers.0.attn.wkv_a.weight"]
    assert ref.main([path]) == 2
    assert "/step_0/grads/layers.0.attn.wkv_a.weight" in capsys.readouterr().err


def test_missing_spec_key_and_wrong_name_exit_2(tampered, capsys):
    import yaml
    path = tampered()
    with h5py.File(path, "r+") as f:
        spec = yaml.safe_load(f.attrs["resolved_spec"])
        del spec["model"]["ffn"]["moe"]["router"]["score"]
        f.attrs["resolved_spec"] = yaml.safe_dump(spec)
    assert ref.main([path]) == 2
    assert "model.ffn.moe.router.score" in capsys.readouterr().err
    path = tampered()
    with h5py.File(path, "r+") as f:
        f["params/layers.0.attn.wq_a.weight"] = f["params/layers.0.attn.wq.weight"][()]
    assert ref.main([path]) == 2
    assert "layers.0.attn.wq_a.weight" in capsys.readouterr().err


def test_cli_exit_codes(dumps, tmp_path):
    """The real command line: exit 0 (float32 path too) and exit 2 on a missing dataset."""
    script = os.path.join(HERE, "reference.py")
    path = dumps["mqa_moe_softmax_batchaux_z_shared"][0]
    r = subprocess.run([sys.executable, script, path, "--dtype", "float32"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "quantity" in r.stdout and "tolerance" in r.stdout
    broken = str(tmp_path / "b.h5")
    shutil.copy(path, broken)
    with h5py.File(broken, "r+") as f:
        del f["losses/z"]
    r = subprocess.run([sys.executable, script, broken], capture_output=True, text=True)
    assert r.returncode == 2 and "/losses/z" in r.stderr


def test_long_dump_reports_but_does_not_fail_final_params(tmp_path, capsys):
    """N > 5: params_final and the losses after step 4 are reported (info), never failed."""
    path = str(tmp_path / "long.h5")
    make_dump.write_dump(path, make_dump.make_spec({**MOE, "train.steps": 7}), seed=1)
    _perturb(path, "params_final/layers.1.ffn.experts.0.w1.weight", lambda a: a * 1.01)
    _perturb(path, "losses/total", lambda a: a * np.array([1] * 6 + [1.01], dtype=np.float32))
    assert ref.main([path]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("final layers.1.ffn.experts.0.w1.weight"))
    assert " info " in line and "over tolerance" in line
    _perturb(path, "losses/total", lambda a: a * np.array([1, 1, 1, 1, 1.01, 1, 1], dtype=np.float32))
    assert ref.main([path]) == 1                                             # step 4 is still checked


def test_micro_batches_mean_of_micro_losses_and_summed_loads():
    """Step loss = mean of micro-batch losses (each CE over its own masked positions), gradients
    of that mean, loads summed; guards against a token-weighted mean or a sum."""
    spec = make_dump.make_spec({**MOE, "model.ffn.moe.balance.aux": "batch", "model.ffn.moe.balance.aux_coef": 0.1,
                                "model.ffn.moe.balance.z_loss_coef": 0.01, "train.micro_batches": 2,
                                "train.batch_size": 4, "model.init.std": 0.3})
    m = ref.build_model(spec["model"])
    P0 = {k: v.double() for k, v in make_dump.init_params(m, spec, 0).items()}
    inputs, targets, mask = make_dump.make_batches(m, spec, 1, 0)
    mask[0, 0] = 0
    mask[0, 0, 0] = 1                                                         # uneven masked counts
    P = ref.make_state(m, P0)
    out = ref.train_step(m, P, {}, inputs[0], targets[0], mask[0], 0, spec["train"])
    Q = ref.make_state(m, P0)
    for n in m.trained_names:
        Q[n].requires_grad_(True)
    halves = [ref.forward(m, Q, inputs[0, sl], targets[0, sl], mask[0, sl]) for sl in (slice(0, 2), slice(2, 4))]
    total = sum(h.ce + h.aux + h.z for h in halves) / 2
    total.backward()
    assert out.losses["total"] == pytest.approx(float(total.detach()), rel=1e-14)
    assert out.losses["ce"] == pytest.approx(float((halves[0].ce + halves[1].ce).detach()) / 2, rel=1e-14)
    for n in m.trained_names:
        gq = Q[n].grad if Q[n].grad is not None else torch.zeros_like(Q[n])
        assert torch.allclose(out.grads[n], gq, atol=1e-15), n
    for l in (0, 1):
        assert torch.equal(out.loads[l], halves[0].loads[l] + halves[1].loads[l])
        assert int(out.loads[l].sum()) == 4 * 6 * 2                          # B·T·k selections
    # dropless: the concatenated micro-batch logits are the whole-batch forward
    whole = ref.forward(m, ref.make_state(m, P0), inputs[0])
    assert torch.allclose(out.logits, whole.logits, atol=1e-13)


# ----------------------------------------------------------------------------------------------
# (c) Known answers

def test_rope_interleaved_known_answer():
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0], [1.0, 0.0, 0.0, 1.0]])       # t = 0, 1; d = 4
    y = ref.rope(x, 10000.0)
    assert torch.equal(y[0], x[0])                                          # t = 0: identity
    # t = 1: pair 0 turns by 1 rad, pair 1 by 10000^(-2/4) = 0.01 rad
    expect = torch.tensor([math.cos(1), math.sin(1), -math.sin(0.01), math.cos(0.01)])
    assert torch.allclose(y[1], expect, atol=1e-15)


def test_rope_matches_complex_formulation():
    """DeepSeek's form: view (x[2i], x[2i+1]) as a complex number, multiply by e^{iθ}."""
    x = torch.randn(3, 5, 6)
    T, d = 5, 6
    inv = 500.0 ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    ang = torch.outer(torch.arange(T, dtype=torch.float64), inv)
    xc = torch.view_as_complex(x.reshape(3, T, d // 2, 2).contiguous())
    expect = torch.view_as_real(xc * torch.polar(torch.ones_like(ang), ang)).flatten(-2)
    assert torch.allclose(ref.rope(x, 500.0), expect, atol=1e-14)


def test_topk_ties_go_to_the_lower_index():
    s = torch.tensor([[0.2, 0.5, 0.5, 0.1], [0.3, 0.3, 0.3, 0.3], [0.1, 0.5, 0.2, 0.5]])
    assert ref.stable_topk(s, 2).tolist() == [[1, 2], [0, 1], [1, 3]]
    assert ref.stable_topk(s[2:], 1).tolist() == [[1]]
    # ties after adding the bias (dyadic values: exact sums), gate values stay unbiased
    s = torch.tensor([[0.5, 0.25, 0.75, 0.125]])
    b = torch.tensor([0.25, 0.5, 0.0, 0.0])                                  # s + b = .75 .75 .75 .125
    idx = ref.route(s, b, 2)
    assert idx.tolist() == [[0, 1]]
    assert torch.gather(s, 1, idx).tolist() == [[0.5, 0.25]]


def test_topk_ties_many_rows():
    """Many exact ties: the order must be by index, never torch.topk's unspecified order."""
    s = torch.zeros(64, 16)
    s[:, 5] = 1.0
    assert ref.stable_topk(s, 4).tolist() == [[5, 0, 1, 2]] * 64


def test_group_limited_routing_known_answers():
    s = torch.tensor([[0.1, 0.4, 0.35, 0.3]])                               # groups {0,1}, {2,3}
    # no bias: group score = max → g0 0.4 > g1 0.35 → experts 0, 1
    assert ref.route(s, None, 2, groups=2, topk_groups=1).tolist() == [[1, 0]]
    # with a (zero) bias: group score = sum of top-2 → g0 0.5 < g1 0.65 → experts 2, 3
    assert ref.route(s, torch.zeros(4), 2, groups=2, topk_groups=1).tolist() == [[2, 3]]
    # bias changes the groups and then the choice inside the kept group; ungrouped top-2 differs
    b = torch.tensor([0.0, 0.0, 0.1, -0.2])                                 # s + b = .1 .4 .45 .1
    assert ref.route(s, b, 2, groups=2, topk_groups=1).tolist() == [[2, 3]]
    assert ref.route(s, b, 2).tolist() == [[2, 1]]
    # group tie → the lower group
    s = torch.tensor([[0.5, 0.25, 0.25, 0.5]])
    assert ref.route(s, None, 2, groups=2, topk_groups=1).tolist() == [[0, 1]]
    # groups of 1 expert with a bias: the group score is that one biased score
    s = torch.tensor([[0.1, 0.4, 0.35, 0.3]])
    assert ref.route(s, torch.zeros(4), 1, groups=4, topk_groups=2).tolist() == [[1]]


def test_capacity_known_answers():
    # ceil(cf · Double(N·k) / Double(E)) left to right in float64: 2.2·25 = 55.00000000000001,
    # /5 = 11.000000000000002 → 12 (exact arithmetic would say 11; so would float32 here)
    assert ref.expert_capacity(2.2, 25, 1, 5) == 12
    assert ref.expert_capacity(2.2, 5, 5, 5) == 12
    assert ref.expert_capacity(1.0, 6, 2, 4) == 3
    assert ref.expert_capacity(1.25, 6, 1, 4) == 2
    # drops in flattened token order: expert 0 has tokens 0,1,2,3 (keeps 0,1), expert 1 has 0,1,3
    idx = torch.tensor([[0, 1], [1, 0], [0, 2], [0, 1]])
    keep = ref.capacity_keep(idx, 3, 2)
    assert keep.tolist() == [[True, True], [True, True], [False, True], [False, False]]


def test_capacity_in_the_moe_layer():
    """All tokens prefer expert 0: the first `capacity` tokens in (b, t) order keep it."""
    spec = make_dump.make_spec({**MOE, "model.ffn.moe.top_k": 1, "model.ffn.moe.capacity_factor": 1.0,
                                "model.ffn.moe.shared_experts": 0})
    m = ref.build_model(spec["model"])
    P = {k: v.double() for k, v in make_dump.init_params(m, spec, 0).items()}
    P["layers.0.ffn.gate.weight"] = torch.zeros(4, 8)
    P["layers.0.ffn.gate.weight"][0] = 1.0
    x = torch.ones(2, 3, 8)                                                   # B 2, T 3: N 6, capacity 2
    stats = {}
    y, *_ = ref.moe(m, P, "layers.0.ffn", x, stats, 0)
    assert stats[0]["capacity"] == 2 and stats[0]["dropped"] == 4
    assert stats[0]["loads"].tolist() == [6, 0, 0, 0]                        # loads count before drops
    assert (y[0, :2].abs().sum(-1) > 0).all() and (y[0, 2] == 0).all() and (y[1] == 0).all()


def test_sequence_aux_renormalises_and_batch_does_not():
    s = torch.tensor([[0.6, 0.2], [0.3, 0.3], [0.1, 0.7], [0.2, 0.2]])      # 2 sequences of T 2, E 2
    idx = ref.route(s, None, 1)
    assert idx.flatten().tolist() == [0, 0, 1, 0]
    sel = torch.zeros(4, 2, dtype=torch.long).scatter_(1, idx, 1)
    # seq 0: f = [2, 0], s' = [[.75,.25],[.5,.5]] → P = [.625, .375] → 1.25
    # seq 1: f = [1, 1], s' = [[.125,.875],[.5,.5]] → P = [.3125, .6875] → 1.0
    assert ref.aux_sequence(s, sel, 1, 2).item() == pytest.approx(1.125, abs=1e-15)
    assert ref.aux_sequence(s[:2], sel[:2], 1, 1).item() == pytest.approx(1.25, abs=1e-15)
    # batch: f = E/(kN)·[3, 1] = [1.5, .5], P = mean s = [.3, .35] → .625
    assert ref.aux_batch(s, sel.sum(0), 1).item() == pytest.approx(0.625, abs=1e-15)


def test_loss_free_update_sign_and_proportional():
    b = torch.zeros(4)
    ref.loss_free_update(b, torch.tensor([3, 1, 2, 2]), 0.01, "sign")        # c̄ = 2; sign(0) = 0
    assert b.tolist() == [-0.01, 0.01, 0.0, 0.0]
    b = torch.zeros(4)
    ref.loss_free_update(b, torch.tensor([3, 1, 2, 2]), 0.01, "proportional")
    assert torch.allclose(b, torch.tensor([-0.005, 0.005, 0.0, 0.0]), atol=1e-18)
    b = torch.tensor([0.5, -0.5, 0.25])
    ref.loss_free_update(b, torch.tensor([2, 2, 2]), 0.01, "sign")           # balanced: no change
    assert b.tolist() == [0.5, -0.5, 0.25]


def _train(kind, **kw):
    t = {"steps": 10, "optimizer": {"lr": 1.0}, "schedule": {"kind": kind, "warmup": 2, "min_lr": 0.1,
                                                           "decay_steps": 4}}
    t["schedule"].update(kw)
    return t


def test_lr_schedules_known_values():
    cos = [ref.lr_at(s, _train("cosine")) for s in range(10)]
    assert cos[0] == 0.5 and cos[1] == 1.0 and cos[2] == 1.0
    assert cos[6] == pytest.approx(0.55, abs=1e-15)                          # (6−2)/8 → cos(π/2) = 0
    assert cos[9] == pytest.approx(0.1 + 0.45 * (1 + math.cos(7 * math.pi / 8)), abs=1e-15)
    wsd = [ref.lr_at(s, _train("wsd")) for s in range(10)]
    assert wsd == pytest.approx([0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 0.775, 0.55, 0.325, 0.1], abs=1e-15)
    const = [ref.lr_at(s, _train("constant", warmup=0)) for s in range(3)]
    assert const == [1.0, 1.0, 1.0]
    assert [ref.lr_at(s, _train("constant", warmup=4)) for s in range(5)] == [0.25, 0.5, 0.75, 1.0, 1.0]


def test_clip_formula():
    g = {"a": torch.tensor([3.0]), "b": torch.tensor([[4.0]])}
    n = ref.clip_grads(g, 1.0)
    assert n == 5.0
    assert g["a"].item() == pytest.approx(3.0 / (5.0 + 1e-6), abs=1e-15)
    g = {"a": torch.tensor([3.0, 4.0])}
    ref.clip_grads(g, 10.0)
    assert g["a"].tolist() == [3.0, 4.0]


def test_adamw_matches_torch_with_decay_on_2d_only():
    torch.manual_seed(0)
    w, b = torch.randn(3, 4), torch.randn(4)
    tw, tb = w.clone().requires_grad_(True), b.clone().requires_grad_(True)
    opt = torch.optim.AdamW([{"params": [tw], "weight_decay": 0.1}, {"params": [tb], "weight_decay": 0.0}],
                            lr=0.01, betas=(0.9, 0.95), eps=1e-8, foreach=False)
    P, state = {"w": w.clone(), "b": b.clone()}, {}
    for step in range(3):
        gw, gb = torch.randn(3, 4), torch.randn(4)
        tw.grad, tb.grad = gw.clone(), gb.clone()
        opt.step()
        ref.adamw_step(P, {"w": gw, "b": gb}, state, 0.01, (0.9, 0.95), 1e-8, 0.1)
    assert torch.allclose(P["w"], tw.detach(), atol=1e-15, rtol=0)
    assert torch.allclose(P["b"], tb.detach(), atol=1e-15, rtol=0)


# ----------------------------------------------------------------------------------------------
# Cross-checks against independent formulations

def _params(overrides, seed=0):
    spec = make_dump.make_spec(overrides)
    m = ref.build_model(spec["model"])
    P = {k: v.double() for k, v in make_dump.init_params(m, spec, seed).items()}
    return m, P


def test_grouped_attention_matches_a_per_head_loop():
    m, P = _params({"model.d_model": 12, "model.attention.kind": "gqa", "model.attention.heads": 6,
                    "model.attention.head_dim": 4, "model.attention.n_kv_heads": 2, "model.init.std": 0.5})
    x = torch.randn(2, 5, 12)
    p = "layers.0.attn"
    H, G, dh, T = 6, 2, 4, 5
    q = ref.rope((x @ P[f"{p}.wq.weight"].T).view(2, T, H, dh).transpose(1, 2), 1e4)
    k = ref.rope((x @ P[f"{p}.wk.weight"].T).view(2, T, G, dh).transpose(1, 2), 1e4)
    v = (x @ P[f"{p}.wv.weight"].T).view(2, T, G, dh).transpose(1, 2)
    outs = []
    for h in range(H):
        g = h // (H // G)                                                     # heads 0,1,2 → kv 0
        outs.append(torch.nn.functional.scaled_dot_product_attention(q[:, h], k[:, g], v[:, g], is_causal=True))
    expect = torch.cat(outs, -1) @ P[f"{p}.wo.weight"].T
    assert torch.allclose(ref.attention(m, P, p, x), expect, atol=1e-12)


def test_mla_matches_the_absorbed_form():
    """W_UK folded into the query and W_UV into the output gives the same outputs (MODEL.md)."""
    m, P = _params({"model.d_model": 16, "model.init.std": 0.4, "model.attention": {
        "kind": "mla", "heads": 2, "kv_rank": 4, "q_rank": 6, "d_nope": 3, "d_rope": 2, "d_v": 5}})
    x = torch.randn(2, 6, 16)
    p = "layers.0.attn"
    H, dn, dr, dv, dc, T = 2, 3, 2, 5, 4, 6
    q = (ref.rms_norm(x @ P[f"{p}.wq_a.weight"].T, P[f"{p}.q_norm.weight"], 1e-6) @ P[f"{p}.wq_b.weight"].T)
    q = q.view(2, T, H, dn + dr)
    q_nope, q_rope = q[..., :dn], ref.rope(q[..., dn:].transpose(1, 2), 1e4)          # [B,H,T,dr]
    kv_a = x @ P[f"{p}.wkv_a.weight"].T
    c = ref.rms_norm(kv_a[..., :dc], P[f"{p}.kv_norm.weight"], 1e-6)                   # cache: c, k_rope
    k_rope = ref.rope(kv_a[..., dc:], 1e4)
    wkv_b = P[f"{p}.wkv_b.weight"].view(H, dn + dv, dc)
    w_uk, w_uv = wkv_b[:, :dn], wkv_b[:, dn:]                                           # [H,dn,dc] [H,dv,dc]
    q_lat = torch.einsum("bthn,hnc->bhtc", q_nope, w_uk)                               # absorbed query
    scores = (torch.einsum("bhtc,bsc->bhts", q_lat, c) + torch.einsum("bhtr,bsr->bhts", q_rope, k_rope))
    scores = scores / math.sqrt(dn + dr)
    scores = scores.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf")).softmax(-1)
    o_lat = torch.einsum("bhts,bsc->bhtc", scores, c)
    o = torch.einsum("bhtc,hvc->bthv", o_lat, w_uv).flatten(2)
    assert torch.allclose(ref.attention(m, P, p, x), o @ P[f"{p}.wo.weight"].T, atol=1e-12)


@pytest.mark.parametrize("score,normalize,lf", [("softmax", False, False), ("sigmoid", True, True)])
def test_moe_matches_a_per_token_loop(score, normalize, lf):
    m, P = _params({**MOE, "model.ffn.moe.shared_experts": 2, "model.ffn.moe.router.score": score,
                    "model.ffn.moe.router.normalize": normalize, "model.ffn.moe.router.scale": 1.5,
                    "model.ffn.moe.balance.loss_free.enabled": lf, "model.init.std": 0.5})
    p = "layers.0.ffn"
    if lf:
        P[f"{p}.gate.bias"] = torch.tensor([0.3, -0.2, 0.0, 0.1])
    x = torch.randn(2, 3, 8)
    y, *_ = ref.moe(m, P, p, x, None, 0)
    sw = lambda v, q: ref.swiglu(v, P[f"{q}.w1.weight"], P[f"{q}.w2.weight"], P[f"{q}.w3.weight"])  # noqa: E731
    for b in range(2):
        for t in range(3):
            v = x[b, t]
            zz = P[f"{p}.gate.weight"] @ v
            s = torch.softmax(zz, 0) if score == "softmax" else torch.sigmoid(zz)
            biased = s + (P[f"{p}.gate.bias"] if lf else 0)
            order = sorted(range(4), key=lambda e: (-float(biased[e]), e))[:2]
            g = s[order]
            if normalize:
                g = g / g.sum()
            g = g * 1.5
            out = sum(g[j] * sw(v, f"{p}.experts.{e}") for j, e in enumerate(order)) + sw(v, f"{p}.shared_experts")
            assert torch.allclose(y[b, t], out, atol=1e-12)


def test_z_loss_and_gradient_of_routing():
    """z-loss = c_z·mean(logsumexp z)²; g gets gradient through s, selection and f_i do not."""
    m, P = _params({**MOE, "model.ffn.moe.balance.z_loss_coef": 0.5, "model.ffn.moe.balance.aux": "batch",
                    "model.ffn.moe.balance.aux_coef": 1.0, "model.init.std": 0.5})
    x = torch.randn(1, 4, 8)
    W = P["layers.0.ffn.gate.weight"].clone().requires_grad_(True)
    P["layers.0.ffn.gate.weight"] = W
    _, aux, z, loads = ref.moe(m, P, "layers.0.ffn", x, None, 0)
    lg = x.reshape(4, 8) @ W.T
    assert z.item() == pytest.approx(0.5 * (torch.logsumexp(lg, -1) ** 2).mean().item(), abs=1e-14)
    aux.backward()
    # d/dW Σ f_i P_i with f constant
    s = lg.detach().softmax(-1).requires_grad_(True)
    f = loads.double() * 4 / (2 * 4)
    (f * s.mean(0)).sum().backward()
    assert torch.allclose(W.grad, s.grad.mul(s.detach()).sub(s.detach() * (s.grad * s.detach()).sum(-1, keepdim=True)).T
                          @ x.reshape(4, 8), atol=1e-14)


# ----------------------------------------------------------------------------------------------
# Multi-token prediction and Muon (MODEL.md)

def test_mtp_names_and_shapes_follow_model_md():
    m = ref.build_model(make_dump.make_spec({**MOE, "model.mtp": {"depth": 2, "weight": 0.3}})["model"])
    shapes = dict(m.shapes)
    D = m.d_model
    names = [n for n, _ in m.shapes]
    assert names.index("head.weight") < names.index("mtp.0.enorm.weight") < names.index("mtp.1.enorm.weight")
    assert shapes["mtp.0.eh_proj.weight"] == (D, 2 * D)
    assert shapes["mtp.1.hnorm.weight"] == (D,) and shapes["mtp.1.norm.weight"] == (D,)
    # Each module's layer is a whole decoder layer with the last main layer's FFN kind.
    assert "mtp.1.layer.ffn.gate.weight" in shapes and "mtp.0.layer.attn.wo.weight" in shapes


def test_mtp_loss_is_the_shifted_cross_entropy_of_its_own_head():
    """Module 0's loss equals CE of norm_0(layer_0(eh_proj([enorm(e_{i+1}); hnorm(h_i)]))) against
    the targets one place further, computed here by hand with the building blocks."""
    spec = make_dump.make_spec({"model.mtp": {"depth": 1, "weight": 0.5}, "model.init.std": 0.3})
    m = ref.build_model(spec["model"])
    P = make_dump.init_params(m, spec, seed=5)
    inputs, targets, mask = make_dump.make_batches(m, spec, 1, seed=5)
    x, t, w = inputs[0], targets[0], mask[0]
    out = ref.forward(m, P, x, t, w)
    # h⁰: the main stack without the final norm, by running a copy of the model with no MTP.
    m0 = ref.build_model({**spec["model"], "mtp": None})
    P0 = {n: P[n] for n, _ in m0.shapes}
    h = P["embed.weight"][x.long()]
    for l in range(m.n_layers):
        p = f"layers.{l}"
        h = h + ref.attention(m0, P0, f"{p}.attn", ref.rms_norm(h, P[f"{p}.attn_norm.weight"], m.norm_eps), [])
        f = ref.rms_norm(h, P[f"{p}.ffn_norm.weight"], m.norm_eps)
        h = h + ref.swiglu(f, P[f"{p}.ffn.w1.weight"], P[f"{p}.ffn.w2.weight"], P[f"{p}.ffn.w3.weight"])
    e = ref.rms_norm(P["embed.weight"][x[:, 1:].long()], P["mtp.0.enorm.weight"], m.norm_eps)
    u = torch.cat([e, ref.rms_norm(h[:, :-1], P["mtp.0.hnorm.weight"], m.norm_eps)], -1) @ P["mtp.0.eh_proj.weight"].T
    q = "mtp.0.layer"
    u = u + ref.attention(m, P, f"{q}.attn", ref.rms_norm(u, P[f"{q}.attn_norm.weight"], m.norm_eps), [])
    f = ref.rms_norm(u, P[f"{q}.ffn_norm.weight"], m.norm_eps)
    u = u + ref.swiglu(f, P[f"{q}.ffn.w1.weight"], P[f"{q}.ffn.w2.weight"], P[f"{q}.ffn.w3.weight"])
    logits = ref.rms_norm(u, P["mtp.0.norm.weight"], m.norm_eps) @ P["head.weight"].T
    nll = torch.nn.functional.cross_entropy(logits.flatten(0, 1), t[:, 1:].flatten(), reduction="none")
    wk = w[:, 1:].flatten()
    expected = (nll * wk).sum() / wk.sum()
    assert torch.allclose(out.mtp[0], expected, rtol=1e-12, atol=0)
    assert torch.allclose(ref.step_loss(m, out), out.ce + out.aux + out.z + 0.5 * expected, rtol=1e-12)
    assert out.max_logits.shape == (m.n_layers + 1, m.heads)


def test_muon_orthogonalises_and_scales():
    """One Muon step from zero momentum on a 3×5 matrix: W moves by −lr·0.2·√5·X with X·Xᵀ ≈ I
    (the quintic lands singular values in about [0.7, 1.2]), and a tall matrix gives the
    transpose of its transpose's update."""
    torch.manual_seed(0)
    G = torch.randn(3, 5)
    W = torch.zeros(3, 5)
    state: dict = {}
    ref.muon_step({"w": W}, {"w": G}, state, lr=0.1, wd=0.0, momentum=0.95, nesterov=True, ns_steps=5)
    X = -W / (0.1 * 0.2 * math.sqrt(5))
    s = torch.linalg.svdvals(X)
    assert float(s.min()) > 0.6 and float(s.max()) < 1.25, s
    assert torch.allclose(state["muon"]["w"], G)
    Wt = torch.zeros(5, 3)
    ref.muon_step({"w": Wt}, {"w": G.T.clone()}, {}, lr=0.1, wd=0.0, momentum=0.95, nesterov=True, ns_steps=5)
    assert torch.allclose(Wt, W.T, atol=1e-12)


def test_muon_takes_matrices_but_embedding_head_and_routers():
    assert ref.muon_takes("layers.0.attn.wq.weight", torch.zeros(2, 2))
    assert ref.muon_takes("mtp.0.eh_proj.weight", torch.zeros(2, 4))
    for name in ("embed.weight", "head.weight", "layers.1.ffn.gate.weight", "mtp.0.layer.ffn.gate.weight"):
        assert not ref.muon_takes(name, torch.zeros(2, 2))
    assert not ref.muon_takes("layers.0.attn_norm.weight", torch.zeros(2))
