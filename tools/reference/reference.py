#!/usr/bin/env python3
"""Independent PyTorch reference of the Ablate model family (docs: /work/shared/docs/MODEL.md).

Written from the specification alone, never from the Swift code, so that it can check it:

    python tools/reference/reference.py DUMP.h5 [--dtype float64|float32] [--verbose]

reads a parity dump written by `ablate dump`, rebuilds the model from the dump's resolved spec,
loads the initial parameters by name, recomputes step 0 (logits, losses, raw gradients) and the
whole N-step trajectory (losses, final parameters, the loss-free bias), prints a table
(quantity, error, tolerance, ok) and exits 0 when everything matches, 1 on any mismatch and 2
on a malformed dump (the message names the missing dataset or spec key).

Importable too: `build_model(model_cfg)`, `forward(model, state, inputs, targets, mask)`
→ (logits, ce, aux, z, loads), `train_step(...)`, `run_trajectory(...)`, `compare(...)`.

Letters: B batch (of one micro-batch inside `forward`), T sequence length, D d_model, V vocab,
H heads, G kv heads, E routed experts (after granularity), k active routed experts, N tokens.
Every choice MODEL.md leaves open is listed in README.md ("Resolved ambiguities").
"""
from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F

__all__ = [
    "MalformedDump", "Model", "build_model", "parameter_shapes", "forward", "ForwardOut",
    "train_step", "StepOut", "run_trajectory", "lr_at", "adamw_step", "clip_grads",
    "loss_free_update", "stable_topk", "route", "expert_capacity", "rope", "rms_norm",
    "Dump", "load_dump", "compare", "Row", "main",
]


class MalformedDump(Exception):
    """The dump (or its resolved spec) lacks something the contract requires: exit code 2."""


# ----------------------------------------------------------------------------------------------
# Config: the resolved spec's `model` section, read strictly (a missing key names its path).

_MISSING = object()


def _get(cfg: dict, path: str, default: Any = _MISSING, *, prefix: str = "model") -> Any:
    """cfg[a][b][c] for path "a.b.c"; a missing required key raises MalformedDump naming it."""
    node: Any = cfg
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            if default is not _MISSING:
                return default
            raise MalformedDump(f"resolved_spec lacks key {prefix}.{path}")
        node = node[part]
    if node is None and default is not _MISSING:
        return default
    return node


@dataclass
class MoEDims:
    experts: int          # built routed experts E = m·experts
    top_k: int            # active routed experts k = m·top_k
    expert_hidden: int    # expert_hidden / m
    shared_hidden: int    # shared_experts · expert_hidden / m (0 = none)
    score: str            # softmax | sigmoid
    normalize: bool
    scale: float
    groups: int
    topk_groups: int
    aux: str              # none | batch | sequence
    aux_coef: float
    z_coef: float
    loss_free: bool
    lf_rate: float
    lf_rule: str          # sign | proportional
    capacity_factor: float | None
    aux_scope: str = "micro_batch"   # sequence | group | micro_batch | step (MODEL.md "Balance scope")
    aux_group: int = 1


@dataclass
class Model:
    """The decoder's sizes, read from a resolved `model` section. Holds no tensors."""
    vocab: int
    d_model: int
    n_layers: int
    first_dense_layers: int
    tie_embeddings: bool
    rope_theta: float
    norm_eps: float
    attn_kind: str
    heads: int
    head_dim: int = 0       # mha/gqa/mqa
    kv_heads: int = 0       # mha/gqa/mqa
    kv_rank: int = 0        # mla d_c (0 = no KV compression: wkv_a yields k_rope only, wkv maps x to [k_nope | v])
    kv_norm: bool = True    # mla: RMSNorm on c_kv (MODEL.md's control kv_norm: false)
    q_rank: int = 0         # mla d_q (0 = plain wq)
    d_nope: int = 0
    d_rope: int = 0
    d_v: int = 0
    ffn_kind: str = "dense"
    ffn_hidden: int = 0
    moe: MoEDims | None = None
    mtp_depth: int = 0      # MODEL.md "Multi-token prediction": modules n
    mtp_weight: float = 0.3  # λ
    shapes: list = field(default_factory=list)   # [(name, shape)] in MODEL.md order

    def is_moe_layer(self, l: int) -> bool:
        """Layer l < L of the main model, or l = L + j: MTP module j's layer, whose FFN is the
        kind of the last main layer."""
        return self.moe is not None and min(l, self.n_layers - 1) >= self.first_dense_layers

    def layer_prefix(self, l: int) -> str:
        return f"layers.{l}" if l < self.n_layers else f"mtp.{l - self.n_layers}.layer"

    @property
    def buffer_names(self) -> list[str]:
        return [n for n, _ in self.shapes if n.endswith(".gate.bias")]

    @property
    def trained_names(self) -> list[str]:
        return [n for n, _ in self.shapes if not n.endswith(".gate.bias")]


def build_model(model_cfg: dict) -> Model:
    """Model sizes from the resolved spec's `model` section (or a whole spec that has one);
    raises MalformedDump naming the first missing key."""
    if "vocab" not in model_cfg and isinstance(model_cfg.get("model"), dict):
        model_cfg = model_cfg["model"]
    g = lambda path, default=_MISSING: _get(model_cfg, path, default)  # noqa: E731
    m = Model(
        vocab=int(g("vocab")), d_model=int(g("d_model")), n_layers=int(g("n_layers")),
        first_dense_layers=int(g("first_dense_layers")), tie_embeddings=bool(g("tie_embeddings")),
        rope_theta=float(g("rope.theta")), norm_eps=float(g("norm_eps")),
        attn_kind=str(g("attention.kind")), heads=int(g("attention.heads")),
    )
    if m.attn_kind in ("mha", "gqa", "mqa"):
        hd = g("attention.head_dim", None)
        if hd is None:
            if m.d_model % m.heads:
                raise MalformedDump("model.attention.head_dim unset and d_model not divisible by heads")
            hd = m.d_model // m.heads
        m.head_dim = int(hd)
        if m.attn_kind == "mha":
            m.kv_heads = m.heads
        elif m.attn_kind == "mqa":
            m.kv_heads = 1
        else:
            m.kv_heads = int(g("attention.n_kv_heads"))
            if m.heads % m.kv_heads:
                raise MalformedDump("model.attention.n_kv_heads must divide heads")
    elif m.attn_kind == "mla":
        m.kv_rank = int(g("attention.kv_rank"))
        kv_norm = g("attention.kv_norm", None)
        m.kv_norm = True if kv_norm is None else bool(kv_norm)
        m.q_rank = int(g("attention.q_rank", 0))
        m.d_nope = int(g("attention.d_nope"))
        m.d_rope = int(g("attention.d_rope"))
        m.d_v = int(g("attention.d_v"))
    else:
        raise MalformedDump(f"model.attention.kind: unknown value {m.attn_kind!r}")

    m.ffn_kind = str(g("ffn.kind"))
    m.ffn_hidden = int(g("ffn.hidden"))
    if m.ffn_kind == "moe":
        gran = int(g("ffn.moe.granularity", 1))
        eh = int(g("ffn.moe.expert_hidden"))
        if eh % gran:
            raise MalformedDump("model.ffn.moe.granularity must divide expert_hidden")
        cf = g("ffn.moe.capacity_factor", None)
        m.moe = MoEDims(
            experts=int(g("ffn.moe.experts")) * gran,
            top_k=int(g("ffn.moe.top_k")) * gran,
            expert_hidden=eh // gran,
            shared_hidden=int(g("ffn.moe.shared_experts")) * eh // gran,
            score=str(g("ffn.moe.router.score")),
            normalize=bool(g("ffn.moe.router.normalize")),
            scale=float(g("ffn.moe.router.scale")),
            groups=int(g("ffn.moe.router.groups")),
            topk_groups=int(g("ffn.moe.router.topk_groups")),
            aux=str(g("ffn.moe.balance.aux")),
            aux_coef=float(g("ffn.moe.balance.aux_coef")),
            z_coef=float(g("ffn.moe.balance.z_loss_coef")),
            loss_free=bool(g("ffn.moe.balance.loss_free.enabled")),
            lf_rate=float(g("ffn.moe.balance.loss_free.rate")),
            lf_rule=str(g("ffn.moe.balance.loss_free.rule")),
            capacity_factor=None if cf is None else float(cf),
        )
        mo = m.moe
        scope = g("ffn.moe.balance.aux_scope", None)
        mo.aux_scope = str(scope) if scope is not None else ("sequence" if mo.aux == "sequence" else "micro_batch")
        mo.aux_group = int(g("ffn.moe.balance.aux_group", None) or 1)
        if mo.aux_scope not in ("sequence", "group", "micro_batch", "step"):
            raise MalformedDump(f"model.ffn.moe.balance.aux_scope: unknown value {mo.aux_scope!r}")
        if mo.score not in ("softmax", "sigmoid"):
            raise MalformedDump(f"model.ffn.moe.router.score: unknown value {mo.score!r}")
        if mo.aux not in ("none", "batch", "sequence"):
            raise MalformedDump(f"model.ffn.moe.balance.aux: unknown value {mo.aux!r}")
        if mo.lf_rule not in ("sign", "proportional"):
            raise MalformedDump(f"model.ffn.moe.balance.loss_free.rule: unknown value {mo.lf_rule!r}")
        if mo.experts % mo.groups:
            raise MalformedDump("model.ffn.moe.router.groups must divide the routed experts")
    elif m.ffn_kind != "dense":
        raise MalformedDump(f"model.ffn.kind: unknown value {m.ffn_kind!r}")
    mtp = g("mtp", None)
    if isinstance(mtp, dict):
        m.mtp_depth = int(mtp.get("depth", 1))
        m.mtp_weight = float(mtp.get("weight", 0.3))
    m.shapes = parameter_shapes(m)
    return m


def parameter_shapes(m: Model) -> list[tuple[str, tuple[int, ...]]]:
    """Every parameter and buffer, named exactly as MODEL.md, in its order."""
    D, V = m.d_model, m.vocab
    out: list[tuple[str, tuple[int, ...]]] = [("embed.weight", (V, D))]

    def layer(p: str, l: int) -> None:
        nonlocal out
        out.append((f"{p}.attn_norm.weight", (D,)))
        if m.attn_kind == "mla":
            H, dqk = m.heads, m.d_nope + m.d_rope
            if m.q_rank > 0:
                out += [(f"{p}.attn.wq_a.weight", (m.q_rank, D)), (f"{p}.attn.q_norm.weight", (m.q_rank,)),
                        (f"{p}.attn.wq_b.weight", (H * dqk, m.q_rank))]
            else:
                out.append((f"{p}.attn.wq.weight", (H * dqk, D)))
            out.append((f"{p}.attn.wkv_a.weight", (m.kv_rank + m.d_rope, D)))
            if m.kv_rank > 0:
                if m.kv_norm:
                    out.append((f"{p}.attn.kv_norm.weight", (m.kv_rank,)))
                out.append((f"{p}.attn.wkv_b.weight", (H * (m.d_nope + m.d_v), m.kv_rank)))
            else:
                out.append((f"{p}.attn.wkv.weight", (H * (m.d_nope + m.d_v), D)))
            out.append((f"{p}.attn.wo.weight", (D, H * m.d_v)))
        else:
            H, G, dh = m.heads, m.kv_heads, m.head_dim
            out += [(f"{p}.attn.wq.weight", (H * dh, D)), (f"{p}.attn.wk.weight", (G * dh, D)),
                    (f"{p}.attn.wv.weight", (G * dh, D)), (f"{p}.attn.wo.weight", (D, H * dh))]
        out.append((f"{p}.ffn_norm.weight", (D,)))
        if m.is_moe_layer(l):
            mo = m.moe
            out.append((f"{p}.ffn.gate.weight", (mo.experts, D)))
            if mo.loss_free:
                out.append((f"{p}.ffn.gate.bias", (mo.experts,)))
            Fe = mo.expert_hidden
            for e in range(mo.experts):
                out += [(f"{p}.ffn.experts.{e}.w1.weight", (Fe, D)), (f"{p}.ffn.experts.{e}.w2.weight", (D, Fe)),
                        (f"{p}.ffn.experts.{e}.w3.weight", (Fe, D))]
            if mo.shared_hidden > 0:
                Fs = mo.shared_hidden
                out += [(f"{p}.ffn.shared_experts.w1.weight", (Fs, D)),
                        (f"{p}.ffn.shared_experts.w2.weight", (D, Fs)),
                        (f"{p}.ffn.shared_experts.w3.weight", (Fs, D))]
        else:
            Fh = m.ffn_hidden
            out += [(f"{p}.ffn.w1.weight", (Fh, D)), (f"{p}.ffn.w2.weight", (D, Fh)), (f"{p}.ffn.w3.weight", (Fh, D))]

    for l in range(m.n_layers):
        layer(f"layers.{l}", l)
    out.append(("norm.weight", (D,)))
    if not m.tie_embeddings:
        out.append(("head.weight", (V, D)))
    for j in range(m.mtp_depth):
        p = f"mtp.{j}"
        out += [(f"{p}.enorm.weight", (D,)), (f"{p}.hnorm.weight", (D,)), (f"{p}.eh_proj.weight", (D, 2 * D))]
        layer(f"{p}.layer", m.n_layers + j)
        out.append((f"{p}.norm.weight", (D,)))
    return out


# ----------------------------------------------------------------------------------------------
# Building blocks

def rms_norm(x: torch.Tensor, w: torch.Tensor, eps: float) -> torch.Tensor:
    """x / sqrt(mean(x², last axis) + eps) ⊙ w."""
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rope(x: torch.Tensor, theta: float) -> torch.Tensor:
    """Interleaved RoPE on the last axis of x [..., T, d]: pair (x[2i], x[2i+1]) at position t
    (0-based, axis −2) turns by t·theta^(−2i/d). Angles are computed in float64."""
    T, d = x.shape[-2], x.shape[-1]
    i = torch.arange(0, d // 2, dtype=torch.float64)
    inv = theta ** (-2.0 * i / d)                                     # [d/2]
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None]   # [T, d/2]
    cos, sin = torch.cos(ang).to(x.dtype), torch.sin(ang).to(x.dtype)
    x0, x1 = x[..., 0::2], x[..., 1::2]
    y0 = x0 * cos - x1 * sin
    y1 = x0 * sin + x1 * cos
    return torch.stack((y0, y1), dim=-1).flatten(-2)


def swiglu(x: torch.Tensor, w1: torch.Tensor, w2: torch.Tensor, w3: torch.Tensor) -> torch.Tensor:
    """w2( silu(w1 x) ⊙ w3 x ), weights stored [out, in]."""
    return (F.silu(x @ w1.T) * (x @ w3.T)) @ w2.T


def _causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float,
                      max_logits: list | None = None) -> torch.Tensor:
    """q, k [B, H, T, dk], v [B, H, T, dv] → [B, T, H·dv]; softmax over j ≤ t. Appends each
    head's largest logit over the batch's causal pairs [H] to `max_logits` (QK-clip's S_h)."""
    T = q.shape[-2]
    att = (q @ k.transpose(-1, -2)) * scale                                   # [B, H, T, T]
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    att = att.masked_fill(~causal, float("-inf"))
    if max_logits is not None:
        max_logits.append(att.detach().amax(dim=(0, 2, 3)))
    att = att.softmax(-1)
    o = att @ v                                                               # [B, H, T, dv]
    return o.transpose(1, 2).flatten(2)


def attention(m: Model, P: dict, p: str, x: torch.Tensor, max_logits: list | None = None) -> torch.Tensor:
    """x [B, T, D] → [B, T, D]."""
    B, T, _ = x.shape
    H = m.heads
    if m.attn_kind != "mla":
        G, dh = m.kv_heads, m.head_dim
        q = (x @ P[f"{p}.wq.weight"].T).view(B, T, H, dh).transpose(1, 2)   # [B, H, T, dh]
        k = (x @ P[f"{p}.wk.weight"].T).view(B, T, G, dh).transpose(1, 2)   # [B, G, T, dh]
        v = (x @ P[f"{p}.wv.weight"].T).view(B, T, G, dh).transpose(1, 2)
        q, k = rope(q, m.rope_theta), rope(k, m.rope_theta)
        kv_of_head = torch.arange(H) // (H // G)                            # head h uses kv h/(H/G)
        k, v = k[:, kv_of_head], v[:, kv_of_head]                            # [B, H, T, dh]
        o = _causal_attention(q, k, v, 1.0 / math.sqrt(dh), max_logits)
    else:
        dn, dr, dv, dc = m.d_nope, m.d_rope, m.d_v, m.kv_rank
        if m.q_rank > 0:
            cq = rms_norm(x @ P[f"{p}.wq_a.weight"].T, P[f"{p}.q_norm.weight"], m.norm_eps)  # [B, T, dq]
            q = cq @ P[f"{p}.wq_b.weight"].T
        else:
            q = x @ P[f"{p}.wq.weight"].T
        q = q.view(B, T, H, dn + dr).transpose(1, 2)                          # [B, H, T, dn+dr]
        q_nope, q_rope = q[..., :dn], rope(q[..., dn:], m.rope_theta)
        kv_a = x @ P[f"{p}.wkv_a.weight"].T                                   # [B, T, dc+dr]
        k_rope = rope(kv_a[..., dc:], m.rope_theta)                           # [B, T, dr] shared
        if dc > 0:
            c_kv = kv_a[..., :dc]
            if m.kv_norm:
                c_kv = rms_norm(c_kv, P[f"{p}.kv_norm.weight"], m.norm_eps)   # [B, T, dc]
            kv = c_kv @ P[f"{p}.wkv_b.weight"].T
        else:
            kv = x @ P[f"{p}.wkv.weight"].T                                   # no compression
        kv = kv.view(B, T, H, dn + dv).transpose(1, 2)
        k_nope, v = kv[..., :dn], kv[..., dn:]                                # [B, H, T, dn|dv]
        k = torch.cat((k_nope, k_rope[:, None].expand(B, H, T, dr)), dim=-1)
        q = torch.cat((q_nope, q_rope), dim=-1)
        o = _causal_attention(q, k, v, 1.0 / math.sqrt(dn + dr), max_logits)
    return o @ P[f"{p}.wo.weight"].T


# ----------------------------------------------------------------------------------------------
# Routing

def stable_topk(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the k largest along the last axis, largest first; equal values: lower index
    first (a stable ascending sort of the negated scores; torch.topk guarantees no tie order)."""
    return torch.sort(-scores, dim=-1, stable=True).indices[..., :k]


def route(s: torch.Tensor, bias: torch.Tensor | None, k: int, groups: int = 1, topk_groups: int = 1) -> torch.Tensor:
    """Selected experts [N, k] for scores s [N, E] (no gradient): top-k of s + bias, optionally
    group-limited (E in `groups` contiguous groups; group score = max of s without a bias, sum of
    the top min(2, group size) of s + bias with one; keep the best `topk_groups` groups)."""
    sb = s if bias is None else s + bias
    if groups > 1:
        N, E = sb.shape
        gs = E // groups
        grouped = sb.view(N, groups, gs)
        if bias is None:
            gscore = grouped.max(-1).values                                   # [N, groups]
        else:
            top = torch.gather(grouped, -1, stable_topk(grouped, min(2, gs)))
            gscore = top.sum(-1)
        keep = torch.zeros(N, groups, dtype=torch.bool)
        keep.scatter_(1, stable_topk(gscore, topk_groups), True)
        sb = sb.masked_fill(~keep.repeat_interleave(gs, dim=1), float("-inf"))
    return stable_topk(sb, k)


def expert_capacity(capacity_factor: float, n_tokens: int, k: int, experts: int) -> int:
    """ceil(capacity_factor · Double(N·k) / Double(E)), evaluated left to right in float64."""
    return math.ceil(capacity_factor * float(n_tokens * k) / float(experts))


def capacity_keep(idx: torch.Tensor, experts: int, capacity: int) -> torch.Tensor:
    """keep [N, k]: expert e takes the tokens selecting it in flattened token order and drops
    the ones past `capacity`."""
    N = idx.shape[0]
    sel = torch.zeros(N, experts, dtype=torch.long).scatter_(1, idx, 1)      # [N, E]
    position = sel.cumsum(0) - 1                                               # queue position
    return torch.gather(position, 1, idx) < capacity


def aux_batch(s: torch.Tensor, loads: torch.Tensor, k: int) -> torch.Tensor:
    """Σ_i f_i P_i over all N tokens; f_i = E/(k·N)·loads_i (constant), P_i = mean_t s_i,t."""
    N, E = s.shape
    f = loads.to(s.dtype) * (E / (k * N))
    return (f * s.mean(0)).sum()


def aux_group(s: torch.Tensor, sel: torch.Tensor, k: int, B: int, g: int) -> torch.Tensor:
    """The batch form per consecutive group of g sequences (scores as scored), averaged over
    the B/g groups; s [B·T, E], sel [B·T, E] 0/1 selection mask."""
    N, E = s.shape
    n_groups = B // g
    n = N // n_groups                                                          # tokens per group
    counts = sel.view(n_groups, n, E).sum(1).to(s.dtype)                       # [groups, E]
    f = counts * (E / (k * n))
    P = s.view(n_groups, n, E).mean(1)
    return (f * P).sum(-1).mean()


def aux_sequence(s: torch.Tensor, sel: torch.Tensor, k: int, B: int) -> torch.Tensor:
    """The batch form per sequence with s renormalised to sum 1 per token, averaged over the B
    sequences; s [B·T, E], sel [B·T, E] 0/1 selection mask (before capacity drops)."""
    N, E = s.shape
    T = N // B
    sn = s / s.sum(-1, keepdim=True)
    counts = sel.view(B, T, E).sum(1).to(s.dtype)                              # [B, E]
    f = counts * (E / (k * T))
    P = sn.view(B, T, E).mean(1)                                               # [B, E]
    return (f * P).sum(-1).mean()


def moe(m: Model, P: dict, p: str, x: torch.Tensor, stats: dict | None, layer: int,
        step_loads: dict | None = None, step_tokens: int | None = None):
    """x [B, T, D] → (y [B, T, D], aux, z, loads [E]). `step_loads` ({layer: [E]}) and
    `step_tokens`: the optimizer step's loads for aux_scope step (from the routing pre-pass)."""
    mo = m.moe
    B, T, D = x.shape
    xs = x.reshape(B * T, D)                                                   # tokens in (b, t) order
    N, E, k = B * T, mo.experts, mo.top_k
    logits = xs @ P[f"{p}.gate.weight"].T                                     # [N, E]
    s = logits.softmax(-1) if mo.score == "softmax" else torch.sigmoid(logits)
    bias = P.get(f"{p}.gate.bias") if mo.loss_free else None
    idx = route(s.detach(), None if bias is None else bias.detach(), k, mo.groups, mo.topk_groups)  # [N, k]
    g = torch.gather(s, 1, idx)                                                # unbiased, differentiable
    if mo.normalize and k == 1:
        # g/Σg ≡ 1 exactly: a constant, no gradient. The generic path would give the gate a
        # rounding-noise gradient that AdamW's normalisation blows up to ±lr updates.
        g = torch.ones_like(g)
    elif mo.normalize:
        g = g / g.sum(-1, keepdim=True)
    g = g * mo.scale
    sel = torch.zeros(N, E, dtype=torch.long).scatter_(1, idx, 1)
    loads = sel.sum(0)                                                         # before drops
    if mo.capacity_factor is not None:
        cap = expert_capacity(mo.capacity_factor, N, k, E)
        keep = capacity_keep(idx, E, cap)
    else:
        cap = None
        keep = torch.ones_like(idx, dtype=torch.bool)
    y = torch.zeros_like(xs)
    for e in range(E):
        rows, slots = torch.nonzero((idx == e) & keep, as_tuple=True)
        if rows.numel() == 0:
            continue
        q = f"{p}.experts.{e}"
        h = swiglu(xs[rows], P[f"{q}.w1.weight"], P[f"{q}.w2.weight"], P[f"{q}.w3.weight"])
        y = y.index_add(0, rows, h * g[rows, slots].unsqueeze(-1))
    if mo.shared_hidden > 0:
        q = f"{p}.shared_experts"
        y = y + swiglu(xs, P[f"{q}.w1.weight"], P[f"{q}.w2.weight"], P[f"{q}.w3.weight"])
    zero = xs.new_zeros(())
    if mo.aux == "batch" and mo.aux_scope == "step" and step_loads is not None:
        f = step_loads[layer].to(s.dtype) * (E / (k * step_tokens))
        aux = mo.aux_coef * (f * s.mean(0)).sum()
    elif mo.aux == "batch" and mo.aux_scope == "group":
        aux = mo.aux_coef * aux_group(s, sel, k, B, mo.aux_group)
    elif mo.aux == "batch":
        aux = mo.aux_coef * aux_batch(s, loads, k)
    elif mo.aux == "sequence":
        aux = mo.aux_coef * aux_sequence(s, sel, k, B)
    else:
        aux = zero
    z = mo.z_coef * torch.logsumexp(logits, -1).pow(2).mean() if mo.z_coef != 0 else zero
    if stats is not None:
        stats[layer] = {"loads": loads, "dropped": int((~keep).sum()), "capacity": cap, "idx": idx}
    return y.view(B, T, D), aux, z, loads


# ----------------------------------------------------------------------------------------------
# Decoder, loss

class ForwardOut(NamedTuple):
    logits: torch.Tensor      # [B, T, V]
    ce: torch.Tensor          # scalar: masked mean token cross-entropy of the main head
    aux: torch.Tensor         # scalar: Σ over MoE layers (MTP layers too) of the coefficient-weighted aux loss
    z: torch.Tensor           # scalar: Σ over MoE layers of c_z · mean (logsumexp z)²
    loads: dict               # {layer: LongTensor [E]} tokens selecting each expert (before drops)
    max_logits: torch.Tensor  # [L + n, H] each attention head's largest pre-softmax logit
    mtp: list = []            # L_mtp_j per MTP module (scalars)

    @property
    def total(self) -> torch.Tensor:
        return self.ce + self.aux + self.z


def masked_ce(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Σ mask·nll / Σ mask over [B, T'] positions (0 when the mask is empty)."""
    nll = F.cross_entropy(logits.flatten(0, 1), targets.long().flatten(), reduction="none")
    w = torch.ones_like(nll) if mask is None else mask.flatten().to(nll.dtype)
    denom = w.sum()
    return (nll * w).sum() / denom if float(denom) > 0 else (nll * w).sum() * 0


def forward(m: Model, P: dict, inputs: torch.Tensor, targets: torch.Tensor | None = None,
            mask: torch.Tensor | None = None, stats: dict | None = None,
            step_loads: dict | None = None, step_tokens: int | None = None) -> ForwardOut:
    """One forward pass over inputs [B, T]. P maps names to tensors (params and gate.bias).
    CE = Σ mask·nll / Σ mask (0 when the mask is empty); aux and z cover all B·T tokens.
    `stats`, if given, is filled per MoE layer with loads, dropped count, capacity, selection.
    With MTP (MODEL.md "Multi-token prediction"), module j's loss predicts 2 + j ahead."""
    x = P["embed.weight"][inputs.long()]                                      # [B, T, D]
    T = x.shape[1]
    acc = {"aux": x.new_zeros(()), "z": x.new_zeros(())}
    loads: dict = {}
    max_logits: list = []

    def block(x: torch.Tensor, l: int) -> torch.Tensor:
        p = m.layer_prefix(l)
        x = x + attention(m, P, f"{p}.attn", rms_norm(x, P[f"{p}.attn_norm.weight"], m.norm_eps), max_logits)
        h = rms_norm(x, P[f"{p}.ffn_norm.weight"], m.norm_eps)
        if m.is_moe_layer(l):
            # The step's token count for this layer: B_step·T', T' = T − (l − L + 1) for MTP layers.
            tokens = None if step_tokens is None else step_tokens // T * x.shape[1]
            y, a, zz, ld = moe(m, P, f"{p}.ffn", h, stats, l, step_loads, tokens)
            acc["aux"], acc["z"] = acc["aux"] + a, acc["z"] + zz
            loads[l] = ld
        else:
            y = swiglu(h, P[f"{p}.ffn.w1.weight"], P[f"{p}.ffn.w2.weight"], P[f"{p}.ffn.w3.weight"])
        return x + y

    for l in range(m.n_layers):
        x = block(x, l)
    head = P["embed.weight"] if m.tie_embeddings else P["head.weight"]
    logits = rms_norm(x, P["norm.weight"], m.norm_eps) @ head.T               # [B, T, V]
    ce = x.new_zeros(()) if targets is None else masked_ce(logits, targets, mask)
    mtp = []
    h = x                                                                      # h⁰, before norm
    for j in range(m.mtp_depth):
        k, p = j + 1, f"mtp.{j}"
        if T - k <= 0:
            mtp.append(x.new_zeros(()))
            continue
        e = rms_norm(P["embed.weight"][inputs[:, k:].long()], P[f"{p}.enorm.weight"], m.norm_eps)
        hh = rms_norm(h[:, :T - k], P[f"{p}.hnorm.weight"], m.norm_eps)
        u = torch.cat([e, hh], -1) @ P[f"{p}.eh_proj.weight"].T                # [B, T−k, D]
        h = block(u, m.n_layers + j)
        if targets is None:
            continue
        lg = rms_norm(h, P[f"{p}.norm.weight"], m.norm_eps) @ head.T
        mtp.append(masked_ce(lg, targets[:, k:], None if mask is None else mask[:, k:]))
    return ForwardOut(logits, ce, acc["aux"], acc["z"], loads, torch.stack(max_logits), mtp)


def step_loss(m: Model, out: ForwardOut) -> torch.Tensor:
    """L = CE_main + Σ (aux + z) + (λ/n)·Σ_j L_mtp_j."""
    total = out.total
    if out.mtp:
        total = total + (m.mtp_weight / len(out.mtp)) * sum(out.mtp)
    return total


# ----------------------------------------------------------------------------------------------
# Optimisation

def lr_at(step: int, train_cfg: dict) -> float:
    """Learning rate at 0-based `step` (MODEL.md "Precise choices"); S = train.steps.
    wsd: lr until S − D, then lr + (min_lr − lr)·(s − (S − D) + 1)/D, so the last step uses min_lr."""
    opt, sch = train_cfg["optimizer"], train_cfg["schedule"]
    lr, kind = float(opt["lr"]), sch["kind"]
    W, S = int(sch.get("warmup", 0)), int(train_cfg["steps"])
    min_lr = float(sch.get("min_lr", 0.0))
    if step < W:
        return lr * (step + 1) / W
    if kind == "constant":
        return lr
    if kind == "cosine":
        if S <= W:
            return lr
        return min_lr + 0.5 * (lr - min_lr) * (1.0 + math.cos(math.pi * (step - W) / (S - W)))
    if kind == "wsd":
        Dd = int(sch.get("decay_steps", 0))
        if Dd <= 0 or step < S - Dd:
            return lr
        return lr + (min_lr - lr) * (step - (S - Dd) + 1) / Dd
    raise MalformedDump(f"train.schedule.kind: unknown value {kind!r}")


def clip_grads(grads: dict, clip: float) -> float:
    """In place: g *= min(1, clip/(‖g‖₂ + 1e-6)) over all given grads (clip 0 = off). Returns ‖g‖."""
    norm = math.sqrt(sum(float(g.double().pow(2).sum()) for g in grads.values()))
    if clip > 0:
        scale = min(1.0, clip / (norm + 1e-6))
        if scale < 1.0:
            for g in grads.values():
                g.mul_(scale)
    return norm


def adamw_step(params: dict, grads: dict, opt_state: dict, lr: float, betas, eps: float, wd: float) -> None:
    """PyTorch AdamW (foreach=False, amsgrad=False) in place; weight decay on 2-D tensors only.
    opt_state: {"t": steps taken, "m": {name: exp_avg}, "v": {name: exp_avg_sq}}."""
    b1, b2 = float(betas[0]), float(betas[1])
    opt_state["t"] = t = opt_state.get("t", 0) + 1
    ms, vs = opt_state.setdefault("m", {}), opt_state.setdefault("v", {})
    bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
    step_size, bc2_sqrt = lr / bc1, math.sqrt(bc2)
    with torch.no_grad():
        for name, p in params.items():
            g = grads[name]
            if p.dim() == 2 and wd != 0:
                p.mul_(1 - lr * wd)
            m_ = ms.setdefault(name, torch.zeros_like(p))
            v_ = vs.setdefault(name, torch.zeros_like(p))
            m_.lerp_(g, 1 - b1)
            v_.mul_(b2).addcmul_(g, g, value=1 - b2)
            denom = (v_.sqrt() / bc2_sqrt).add_(eps)
            p.addcdiv_(m_, denom, value=-step_size)


NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)


def muon_takes(name: str, p: torch.Tensor) -> bool:
    """MODEL.md "Muon": every 2-D weight except embed.weight, head.weight and *.gate.weight."""
    return p.dim() == 2 and name not in ("embed.weight", "head.weight") and not name.endswith(".gate.weight")


def muon_step(params: dict, grads: dict, opt_state: dict, lr: float, wd: float, momentum: float,
              nesterov: bool, ns_steps: int) -> None:
    """MODEL.md "Muon", in place on each W [m, n] and its momentum M (opt_state["muon"])."""
    a, b, c = NS_COEFFICIENTS
    ms = opt_state.setdefault("muon", {})
    with torch.no_grad():
        for name, W in params.items():
            G = grads[name]
            M = ms.setdefault(name, torch.zeros_like(W))
            M.mul_(momentum).add_(G)
            U = G + momentum * M if nesterov else M
            X = U / (U.norm() + 1e-7)
            rows, cols = W.shape
            if rows > cols:
                X = X.T
            for _ in range(ns_steps):
                A = X @ X.T
                B = b * A + c * (A @ A)
                X = a * X + B @ X
            if rows > cols:
                X = X.T
            W.mul_(1 - lr * wd).sub_(lr * 0.2 * math.sqrt(max(rows, cols)) * X)


def loss_free_update(bias: torch.Tensor, loads: torch.Tensor, rate: float, rule: str) -> None:
    """In place: bias_i += u·sign(c̄ − c_i) (sign(0) = 0), or u·(c̄ − c_i)/c̄ (proportional)."""
    c = loads.to(torch.float64)
    cbar = c.mean()
    delta = torch.sign(cbar - c) if rule == "sign" else (cbar - c) / cbar
    with torch.no_grad():
        bias.add_((rate * delta).to(bias.dtype))


class StepOut(NamedTuple):
    losses: dict        # {"total", "ce", "aux", "z"}: floats, mean over micro-batches
    logits: torch.Tensor  # [B, T, V] the micro-batch forwards concatenated
    grads: dict         # raw (pre-clip) gradients of the step loss, every trained parameter
    loads: dict         # {layer: LongTensor [E]} summed over micro-batches
    lr: float
    grad_norm: float
    dropped: dict       # {layer: tokens·slots dropped by capacity, summed over micro-batches}
    max_logits: torch.Tensor = None   # [L, H] over the step's micro-batches, before QK-clip


def train_step(m: Model, P: dict, opt_state: dict, inputs: torch.Tensor, targets: torch.Tensor,
               mask: torch.Tensor, step: int, train_cfg: dict) -> StepOut:
    """One optimizer step, in place on P and opt_state: forward + backward per micro-batch
    (loss = mean of micro-batch losses), clip, Muon (when train.optimizer.kind is muon) and AdamW
    with lr(step), QK-clip, then the loss-free update."""
    M = int(train_cfg.get("micro_batches", 1))
    B = inputs.shape[0]
    if B % M:
        raise MalformedDump(f"train.micro_batches ({M}) does not divide the batch ({B})")
    rows = B // M
    trained = m.trained_names
    for n in trained:
        P[n].grad = None
        P[n].requires_grad_(True)
    sums = {"total": 0.0, "ce": 0.0, "aux": 0.0, "z": 0.0, "mtp": [0.0] * m.mtp_depth}
    logits, loads, dropped = [], {}, {}
    max_logits = None
    step_loads = None
    if M > 1 and m.moe is not None and m.moe.aux == "batch" and m.moe.aux_scope == "step":
        # MODEL.md "Balance scope", step: the loads of every micro-batch from a routing pre-pass.
        step_loads = {}
        with torch.no_grad():
            for j in range(M):
                sl = slice(j * rows, (j + 1) * rows)
                for l, ld in forward(m, P, inputs[sl], targets[sl], mask[sl]).loads.items():
                    step_loads[l] = step_loads.get(l, 0) + ld
    for j in range(M):
        sl = slice(j * rows, (j + 1) * rows)
        stats: dict = {}
        out = forward(m, P, inputs[sl], targets[sl], mask[sl], stats, step_loads, B * inputs.shape[1])
        total = step_loss(m, out)
        (total / M).backward()
        for key, val in (("total", total), ("ce", out.ce), ("aux", out.aux), ("z", out.z)):
            sums[key] += float(val.detach()) / M
        for j, val in enumerate(out.mtp):
            sums["mtp"][j] += float(val.detach()) / M
        logits.append(out.logits.detach())
        max_logits = out.max_logits if max_logits is None else torch.maximum(max_logits, out.max_logits)
        for l, ld in out.loads.items():
            loads[l] = loads.get(l, 0) + ld
            dropped[l] = dropped.get(l, 0) + stats[l]["dropped"]
    grads = {n: (P[n].grad.detach().clone() if P[n].grad is not None else torch.zeros_like(P[n]))
             for n in trained}
    raw = {n: g.clone() for n, g in grads.items()}
    opt = train_cfg["optimizer"]
    norm = clip_grads(grads, float(opt.get("clip", 0.0)))
    lr = lr_at(step, train_cfg)
    with torch.no_grad():
        muon = {n for n in trained if opt.get("kind", "adamw") == "muon" and muon_takes(n, P[n])}
        if muon:
            mom = opt.get("momentum")
            nest = opt.get("nesterov")
            steps_ns = opt.get("ns_steps")
            muon_step({n: P[n] for n in trained if n in muon}, grads, opt_state, lr, float(opt["weight_decay"]),
                      0.95 if mom is None else float(mom), True if nest is None else bool(nest),
                      5 if steps_ns is None else int(steps_ns))
        adamw_step({n: P[n] for n in trained if n not in muon}, grads, opt_state, lr, opt["betas"], float(opt["eps"]),
                   float(opt["weight_decay"]))
        tau = (train_cfg.get("qk_clip") or {}).get("tau")
        if tau is not None:
            qk_clip(m, P, max_logits, float(tau))
        if m.moe is not None and m.moe.loss_free:
            for l, ld in loads.items():
                loss_free_update(P[f"{m.layer_prefix(l)}.ffn.gate.bias"], ld, m.moe.lf_rate, m.moe.lf_rule)
    for n in trained:
        P[n].grad = None
    return StepOut(sums, torch.cat(logits, 0), raw, loads, lr, norm, dropped, max_logits)


def qk_clip(m: Model, P: dict, max_logits: torch.Tensor, tau: float) -> None:
    """MODEL.md "QK-clip", in place on the updated weights: every head h of layer l with
    S = max_logits[l, h] > τ gets γ = τ/S — mha: wq and wk rows × √γ; gqa/mqa: wq rows × γ;
    mla: q_nope rows of wq_b (or wq) × √γ, q_rope rows × γ, k_nope rows of wkv_b × √γ."""
    for l in range(m.n_layers + m.mtp_depth):
        p = f"{m.layer_prefix(l)}.attn"
        for h in range(m.heads):
            s = float(max_logits[l, h])
            if not s > tau:
                continue
            gamma = tau / s
            root = math.sqrt(gamma)
            if m.attn_kind != "mla":
                rows = slice(h * m.head_dim, (h + 1) * m.head_dim)
                if m.attn_kind == "mha":
                    P[f"{p}.wq.weight"][rows] *= root
                    P[f"{p}.wk.weight"][rows] *= root
                else:
                    P[f"{p}.wq.weight"][rows] *= gamma
            else:
                dn, dr, dv = m.d_nope, m.d_rope, m.d_v
                q = P[f"{p}.wq_b.weight"] if m.q_rank > 0 else P[f"{p}.wq.weight"]
                base = h * (dn + dr)
                q[base:base + dn] *= root
                q[base + dn:base + dn + dr] *= gamma
                kbase = h * (dn + dv)
                P[f"{p}.wkv_b.weight" if m.kv_rank > 0 else f"{p}.wkv.weight"][kbase:kbase + dn] *= root


def max_vio(loads: torch.Tensor) -> float:
    c = loads.to(torch.float64)
    return float((c.max() - c.mean()) / c.mean())


def loss_keys(m: Model) -> list[str]:
    """The losses a step reports: total, ce (main head), aux, z, then mtp_j per MTP module."""
    return ["total", "ce", "aux", "z"] + [f"mtp_{j}" for j in range(m.mtp_depth)]


def make_state(m: Model, params: dict, dtype=torch.float64) -> dict:
    """Fresh leaf tensors (cast to dtype) for every name the model has."""
    return {n: params[n].detach().clone().to(dtype) for n, _ in m.shapes}


@dataclass
class Trajectory:
    losses: dict              # {"total"/"ce"/"aux"/"z": [N] floats}
    logits0: torch.Tensor
    grads0: dict
    max_logits0: torch.Tensor
    final: dict               # name → tensor after N steps
    steps: list               # StepOut per step (grads/logits dropped after step 0)


def run_trajectory(m: Model, params: dict, inputs, targets, mask, train_cfg: dict,
                   dtype=torch.float64, n_steps: int | None = None) -> Trajectory:
    """N training steps from `params` on batches [N, B, T]."""
    P = make_state(m, params, dtype)
    opt_state: dict = {}
    N = inputs.shape[0] if n_steps is None else n_steps
    losses = {k: [] for k in loss_keys(m)}
    steps, logits0, grads0, max_logits0 = [], None, None, None
    for s in range(N):
        out = train_step(m, P, opt_state, inputs[s], targets[s], mask[s], s, train_cfg)
        for k in ("total", "ce", "aux", "z"):
            losses[k].append(out.losses[k])
        for j, val in enumerate(out.losses["mtp"]):
            losses[f"mtp_{j}"].append(val)
        if s == 0:
            logits0, grads0, max_logits0 = out.logits, out.grads, out.max_logits
        steps.append(out._replace(logits=None, grads=None))
    final = {n: t.detach() for n, t in P.items()}
    return Trajectory(losses, logits0, grads0, max_logits0, final, steps)


# ----------------------------------------------------------------------------------------------
# The dump

@dataclass
class Dump:
    spec: dict
    params: dict              # name → float32 tensor
    inputs: torch.Tensor      # [N, B, T] long
    targets: torch.Tensor
    mask: torch.Tensor        # [N, B, T] float
    logits0: torch.Tensor     # [B, T, V]
    grads0: dict
    losses: dict              # {"total"/"ce"/"aux"/"z": [N] float32 tensor}
    final: dict
    model: Model = None
    max_logits0: torch.Tensor = None   # [L, H] when the dump has /step_0/max_logit


def load_dump(path: str) -> Dump:
    """Read and validate a parity dump; raises MalformedDump naming what is missing or wrong."""
    import h5py
    import numpy as np
    import yaml

    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise MalformedDump(f"cannot open {path} as HDF5: {e}") from None
    with f:
        if "resolved_spec" not in f.attrs:
            raise MalformedDump("missing root attribute resolved_spec")
        raw = f.attrs["resolved_spec"]
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8")
        try:
            spec = yaml.safe_load(str(raw))
        except yaml.YAMLError as e:
            raise MalformedDump(f"resolved_spec is not valid YAML: {e}") from None
        if not isinstance(spec, dict):
            raise MalformedDump("resolved_spec is not a YAML mapping")
        for key in ("model", "train"):
            if not isinstance(spec.get(key), dict):
                raise MalformedDump(f"resolved_spec lacks key {key}")
        tr = spec["train"]
        for key in ("steps", "batch_size", "seq_len", "micro_batches", "optimizer.lr", "optimizer.betas",
                    "optimizer.eps", "optimizer.weight_decay", "optimizer.clip", "schedule.kind",
                    "schedule.warmup", "schedule.min_lr", "schedule.decay_steps"):
            _get(tr, key, prefix="train")
        m = build_model(spec["model"])

        def ds(name: str):
            if name not in f:
                raise MalformedDump(f"missing dataset /{name}")
            obj = f[name]
            if not isinstance(obj, h5py.Dataset):
                raise MalformedDump(f"/{name} is not a dataset")
            return obj[()]

        def group(name: str):
            if name not in f or not isinstance(f[name], h5py.Group):
                raise MalformedDump(f"missing group /{name}")
            return f[name]

        def tensors(gname: str, names: list, shapes: dict) -> dict:
            g = group(gname)
            extra = sorted(set(g.keys()) - set(names))
            if extra:
                raise MalformedDump(f"/{gname} has names the model does not have: {', '.join(extra[:5])}")
            out = {}
            for n in names:
                a = np.asarray(ds(f"{gname}/{n}"))
                if tuple(a.shape) != tuple(shapes[n]):
                    raise MalformedDump(f"/{gname}/{n} has shape {tuple(a.shape)}, the model says {tuple(shapes[n])}")
                out[n] = torch.from_numpy(a.astype(np.float32))
            return out

        shapes = dict(m.shapes)
        all_names = [n for n, _ in m.shapes]
        params = tensors("params", all_names, shapes)
        final = tensors("params_final", all_names, shapes)
        grads0 = tensors("step_0/grads", m.trained_names, shapes)

        def ints(name):
            a = np.asarray(ds(name))
            if a.dtype.kind not in "iu":
                raise MalformedDump(f"/{name} must be int32 or int64, got {a.dtype}")
            return torch.from_numpy(a.astype(np.int64))

        inputs, targets = ints("batches/inputs"), ints("batches/targets")
        mask = torch.from_numpy(np.asarray(ds("batches/mask")).astype(np.float32))
        if inputs.dim() != 3:
            raise MalformedDump(f"/batches/inputs must be [N, B, T], got shape {tuple(inputs.shape)}")
        N, B, T = inputs.shape
        for name, t in (("batches/targets", targets), ("batches/mask", mask)):
            if tuple(t.shape) != (N, B, T):
                raise MalformedDump(f"/{name} has shape {tuple(t.shape)}, /batches/inputs has {(N, B, T)}")
        if B != int(tr["batch_size"]) or T != int(tr["seq_len"]):
            raise MalformedDump(f"/batches are [N, {B}, {T}] but train.batch_size, train.seq_len = "
                                f"{tr['batch_size']}, {tr['seq_len']}")
        if B % int(tr["micro_batches"]):
            raise MalformedDump(f"train.micro_batches ({tr['micro_batches']}) does not divide batch_size ({B})")
        for name, t in (("batches/inputs", inputs), ("batches/targets", targets)):
            if N and (int(t.min()) < 0 or int(t.max()) >= m.vocab):
                raise MalformedDump(f"/{name} has token ids outside [0, {m.vocab})")
        logits0 = torch.from_numpy(np.asarray(ds("step_0/logits")).astype(np.float32))
        if tuple(logits0.shape) != (B, T, m.vocab):
            raise MalformedDump(f"/step_0/logits has shape {tuple(logits0.shape)}, expected {(B, T, m.vocab)}")
        max_logits0 = None
        if "step_0/max_logit" in f:
            max_logits0 = torch.from_numpy(np.asarray(ds("step_0/max_logit")).astype(np.float32))
            want = (m.n_layers + m.mtp_depth, m.heads)
            if tuple(max_logits0.shape) != want:
                raise MalformedDump(f"/step_0/max_logit has shape {tuple(max_logits0.shape)}, expected {want}")
        losses = {}
        for k in ("total", "ce", "aux", "z"):
            a = torch.from_numpy(np.asarray(ds(f"losses/{k}")).astype(np.float32)).reshape(-1)
            if a.numel() != N:
                raise MalformedDump(f"/losses/{k} has {a.numel()} entries, the batches have N = {N}")
            losses[k] = a
        if m.mtp_depth:
            a = np.asarray(ds("losses/mtp")).astype(np.float32)
            if tuple(a.shape) != (N, m.mtp_depth):
                raise MalformedDump(f"/losses/mtp has shape {tuple(a.shape)}, expected {(N, m.mtp_depth)}")
            for j in range(m.mtp_depth):
                losses[f"mtp_{j}"] = torch.from_numpy(a[:, j].copy())
        if N < 1:
            raise MalformedDump("the dump has no steps (N = 0)")
    return Dump(spec, params, inputs, targets, mask, logits0, grads0, losses, final, m, max_logits0)


# ----------------------------------------------------------------------------------------------
# Comparison

TOL_LOSS0 = 1e-5        # step-0 losses, relative
TOL_ABS_ZERO = 1e-7     # absolute, when the reference value is ~0 (|ref| < ZERO)
ZERO = 1e-6
TOL_LOGITS = 1e-5       # max |Δ| / max |ref|
TOL_GRAD = 1e-4         # relative L2
TOL_LOSS_STEPS = 1e-4   # losses of the first min(N, 5) steps, relative
TOL_FINAL = 1e-4        # params_final relative L2 (failed only when N ≤ 5)
PARITY_STEPS = 5


@dataclass
class Row:
    quantity: str
    error: float
    tolerance: float
    status: str           # "ok" | "FAIL" | "info"
    note: str = ""


def _scalar_row(name: str, ref: float, got: float, rel_tol: float, gate: bool = True) -> Row:
    if abs(ref) < ZERO:
        err, tol, note = abs(got - ref), TOL_ABS_ZERO, "abs"
    else:
        err, tol, note = abs(got - ref) / abs(ref), rel_tol, "rel"
    ok = math.isfinite(got) and err <= tol
    return Row(name, err, tol, ("ok" if ok else "FAIL") if gate else "info", note)


def rel_l2(ref: torch.Tensor, got: torch.Tensor) -> float:
    ref, got = ref.double(), got.double()
    return float((ref - got).norm() / max(float(ref.norm()), 1e-12))


def compare(dump: Dump, dtype=torch.float64, verbose: bool = False, out=None) -> list[Row]:
    """Recompute the dump's trajectory and compare; returns the table rows."""
    out = sys.stdout if out is None else out
    m = dump.model
    tr = dump.spec["train"]
    traj = run_trajectory(m, dump.params, dump.inputs, dump.targets, dump.mask, tr, dtype)
    N = dump.inputs.shape[0]
    rows: list[Row] = []
    for k in loss_keys(m):
        rows.append(_scalar_row(f"loss.{k} @ step 0", traj.losses[k][0], float(dump.losses[k][0]), TOL_LOSS0))
    ref_l = traj.logits0.double()
    err = float((ref_l - dump.logits0.double()).abs().max()) / max(float(ref_l.abs().max()), 1e-30)
    rows.append(Row("logits @ step 0", err, TOL_LOGITS, "ok" if err <= TOL_LOGITS else "FAIL", "max|Δ|/max|ref|"))
    if dump.max_logits0 is not None:
        ref_m = traj.max_logits0.double()
        err = float((ref_m - dump.max_logits0.double()).abs().max()) / max(float(ref_m.abs().max()), 1e-30)
        rows.append(Row("max_logit @ step 0", err, TOL_LOGITS, "ok" if err <= TOL_LOGITS else "FAIL", "max|Δ|/max|ref| over [L, H]"))
    for n in m.trained_names:
        e = rel_l2(traj.grads0[n], dump.grads0[n])
        rows.append(Row(f"grad {n}", e, TOL_GRAD, "ok" if e <= TOL_GRAD else "FAIL", "rel L2"))
    n_par = min(N, PARITY_STEPS)
    for s in range(1, N):
        for k in loss_keys(m):
            r = _scalar_row(f"loss.{k} @ step {s}", traj.losses[k][s], float(dump.losses[k][s]),
                            TOL_LOSS_STEPS, gate=s < n_par)
            if s < n_par or verbose:
                rows.append(r)
    if N > n_par:
        worst = max((_scalar_row("", traj.losses["total"][s], float(dump.losses["total"][s]), 1).error
                     for s in range(n_par, N)), default=0.0)
        rows.append(Row(f"loss.total steps {n_par}..{N - 1} (worst)", worst, TOL_LOSS_STEPS, "info",
                        "not failed: routing flips diverge"))
    gate_final = N <= PARITY_STEPS
    for n, _ in m.shapes:
        if float(traj.final[n].double().norm()) < ZERO:
            # A reference of exactly zero (a loss-free bias moved +u then −u): float32 leaves ~1e-10.
            e, tol, note = float((traj.final[n].double() - dump.final[n].double()).norm()), TOL_ABS_ZERO, "abs L2"
        else:
            e, tol, note = rel_l2(traj.final[n], dump.final[n]), TOL_FINAL, "rel L2"
        st = ("ok" if e <= tol else "FAIL") if gate_final else "info"
        rows.append(Row(f"final {n}", e, tol, st, f"{note} after {N} steps"))
    if verbose:
        print(f"model: attention {m.attn_kind}, ffn {m.ffn_kind}, layers {m.n_layers}, dtype {dtype}", file=out)
        for s, so in enumerate(traj.steps):
            line = (f"step {s}: lr {so.lr:.6g} |g| {so.grad_norm:.6g} total {so.losses['total']:.8g} "
                    f"(dump {float(dump.losses['total'][s]):.8g}) ce {so.losses['ce']:.8g} "
                    f"aux {so.losses['aux']:.6g} z {so.losses['z']:.6g}")
            print(line, file=out)
            for l, ld in so.loads.items():
                print(f"    layer {l}: loads {ld.tolist()} MaxVio {max_vio(ld):.4f} dropped {so.dropped[l]}", file=out)
    return rows


def print_table(rows: list[Row], out=None) -> None:
    out = sys.stdout if out is None else out
    w = max([len("quantity")] + [len(r.quantity) for r in rows])
    print(f"{'quantity':<{w}}  {'error':>11}  {'tolerance':>9}  ok", file=out)
    for r in rows:
        note = r.note + ("; over tolerance, not failed" if r.status == "info" and r.error > r.tolerance else "")
        note = f"  ({note})" if note else ""
        print(f"{r.quantity:<{w}}  {r.error:11.3e}  {r.tolerance:9.1e}  {r.status}{note}", file=out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Check an `ablate dump` parity file against the PyTorch reference.")
    ap.add_argument("dump", help="HDF5 parity dump")
    ap.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                    help="precision of the reference computation (default float64)")
    ap.add_argument("--verbose", action="store_true", help="per-step losses, loads, MaxVio, drops")
    args = ap.parse_args(argv)
    dtype = torch.float64 if args.dtype == "float64" else torch.float32
    try:
        dump = load_dump(args.dump)
        rows = compare(dump, dtype, args.verbose)
    except MalformedDump as e:
        print(f"malformed dump {args.dump}: {e}", file=sys.stderr)
        return 2
    print_table(rows)
    failed = [r for r in rows if r.status == "FAIL"]
    checked = sum(r.status != "info" for r in rows)
    if failed:
        print(f"MISMATCH: {len(failed)} of {checked} checks failed: " + ", ".join(r.quantity for r in failed[:10])
              + (" …" if len(failed) > 10 else ""))
        return 1
    print(f"parity ok: {checked} checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
