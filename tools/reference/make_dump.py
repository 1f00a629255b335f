#!/usr/bin/env python3
"""Writes a parity dump in the exact format `ablate dump` produces (MODEL.md, "Parity dump"),
computed by the reference itself in float32. Until the Swift side exists this is what the tests
feed to reference.py; afterwards it documents the format by example.

    python tools/reference/make_dump.py OUT.h5 [--set model.attention.kind=mla ...] [--seed 0]

Layout: root attribute `resolved_spec` (YAML), /params/<name>, /batches/{inputs,targets,mask}
[N, B, T], /step_0/logits [B, T, V], /step_0/grads/<name> (trained parameters, raw), /losses/
{total,ce,aux,z} [N], /params_final/<name> (gate.bias included).
"""
from __future__ import annotations

import argparse
import copy
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as ref  # noqa: E402


def default_spec() -> dict:
    """A fully resolved spec with the harness's documented defaults (small sizes)."""
    return {
        "model": {
            "vocab": 16, "d_model": 8, "n_layers": 2, "first_dense_layers": 0, "tie_embeddings": False,
            "norm_eps": 1e-6, "rope": {"theta": 10000.0}, "init": {"std": 0.02, "scaled_output": True},
            "attention": {"kind": "mha", "heads": 2, "head_dim": None, "n_kv_heads": None},
            "ffn": {"kind": "dense", "hidden": 16, "moe": None},
        },
        "data": {"kind": "markov_mixture", "seed": None, "val_sequences": 4},
        "train": {
            "steps": 3, "batch_size": 2, "seq_len": 6, "micro_batches": 1,
            "optimizer": {"lr": 1e-2, "betas": [0.9, 0.95], "eps": 1e-8, "weight_decay": 0.1, "clip": 1.0},
            "schedule": {"kind": "cosine", "warmup": 1, "min_lr": 1e-3, "decay_steps": 0},
            "eval_every": 50, "divergence_loss": 100.0,
        },
        "seeds": [0],
    }


def default_moe() -> dict:
    return {
        "experts": 4, "top_k": 2, "expert_hidden": 8, "shared_experts": 0, "granularity": 1,
        "router": {"score": "softmax", "normalize": False, "scale": 1.0, "groups": 1, "topk_groups": 1},
        "balance": {"aux": "none", "aux_coef": 0.001, "z_loss_coef": 0.0,
                    "loss_free": {"enabled": False, "rate": 0.001, "rule": "sign"}},
        "capacity_factor": None,
    }


def set_path(spec: dict, path: str, value) -> None:
    node = spec
    parts = path.split(".")
    for p in parts[:-1]:
        if node.get(p) is None:
            node[p] = default_moe() if p == "moe" else {}
        node = node[p]
    node[parts[-1]] = value


def make_spec(overrides: dict | None = None) -> dict:
    """default_spec() with dotted-path overrides; `model.ffn.kind: moe` brings default_moe()."""
    spec = default_spec()
    for path, value in (overrides or {}).items():
        set_path(spec, path, copy.deepcopy(value))
    if spec["model"]["ffn"]["kind"] == "moe" and spec["model"]["ffn"]["moe"] is None:
        spec["model"]["ffn"]["moe"] = default_moe()
    att = spec["model"]["attention"]
    if att["kind"] == "mla":
        att.pop("head_dim", None)
        att.pop("n_kv_heads", None)
    return spec


def init_params(m: ref.Model, spec: dict, seed: int) -> dict:
    """Normal(0, std) weights (output projections std/sqrt(2L) when scaled_output), norm weights
    1 + 0.1·N(0,1) (not all ones, so a forgotten norm weight shows), gate.bias 0."""
    gen = torch.Generator().manual_seed(seed)
    init = spec["model"]["init"]
    std = float(init["std"])
    out_std = std / math.sqrt(2 * m.n_layers) if init["scaled_output"] else std
    params = {}
    for name, shape in m.shapes:
        if name.endswith("gate.bias"):
            params[name] = torch.zeros(shape)
        elif len(shape) == 1:
            params[name] = 1 + 0.1 * torch.randn(shape, generator=gen)
        else:
            s = out_std if (name.endswith("attn.wo.weight") or name.endswith("w2.weight")) else std
            params[name] = s * torch.randn(shape, generator=gen)
    return params


def make_batches(m: ref.Model, spec: dict, n_steps: int, seed: int, full_mask: bool = False):
    """Random tokens [N, B, T]; mask ~ Bernoulli(0.75) with at least one 1 per micro-batch."""
    gen = torch.Generator().manual_seed(seed + 1)
    tr = spec["train"]
    B, T, M = tr["batch_size"], tr["seq_len"], tr["micro_batches"]
    inputs = torch.randint(0, m.vocab, (n_steps, B, T), generator=gen, dtype=torch.int64)
    targets = torch.randint(0, m.vocab, (n_steps, B, T), generator=gen, dtype=torch.int64)
    if full_mask:
        mask = torch.ones(n_steps, B, T)
    else:
        mask = (torch.rand(n_steps, B, T, generator=gen) < 0.75).float()
        rows = B // M
        for s in range(n_steps):
            for j in range(M):
                mask[s, j * rows, 0] = 1.0
    return inputs, targets, mask


def write_dump(path: str, spec: dict, seed: int = 0, n_steps: int | None = None,
               full_mask: bool = False, int_dtype: str = "int32") -> ref.Trajectory:
    """Run the reference in float32 from seeded parameters and write the dump to `path`."""
    import h5py
    import numpy as np
    import yaml

    m = ref.build_model(spec["model"])
    N = int(spec["train"]["steps"]) if n_steps is None else n_steps
    params = init_params(m, spec, seed)
    inputs, targets, mask = make_batches(m, spec, N, seed, full_mask)
    traj = ref.run_trajectory(m, params, inputs, targets, mask, spec["train"], torch.float32)
    f32 = lambda t: t.detach().to(torch.float32).numpy()  # noqa: E731
    with h5py.File(path, "w") as f:
        f.attrs["resolved_spec"] = yaml.safe_dump(spec, sort_keys=False)
        for name, t in params.items():
            f[f"params/{name}"] = f32(t)
        f["batches/inputs"] = inputs.numpy().astype(int_dtype)
        f["batches/targets"] = targets.numpy().astype(int_dtype)
        f["batches/mask"] = mask.numpy().astype(np.float32)
        f["step_0/logits"] = f32(traj.logits0)
        for name, g in traj.grads0.items():
            f[f"step_0/grads/{name}"] = f32(g)
        for k, v in traj.losses.items():
            if not k.startswith("mtp_"):
                f[f"losses/{k}"] = np.asarray(v, dtype=np.float32)
        if m.mtp_depth:
            f["losses/mtp"] = np.asarray([traj.losses[f"mtp_{j}"] for j in range(m.mtp_depth)], dtype=np.float32).T
        for name, t in traj.final.items():
            f[f"params_final/{name}"] = f32(t)
    return traj


def _parse_value(text: str):
    import yaml
    return yaml.safe_load(text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Write a reference-computed parity dump.")
    ap.add_argument("out")
    ap.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                    help="override a spec key, e.g. model.ffn.kind=moe (YAML value)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = _parse_value(value)
    spec = make_spec(overrides)
    write_dump(args.out, spec, args.seed)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
