"""The twin: MODEL.md (shared docs) in idiomatic PyTorch, float32, the speed peer of Ablate.

Ordinary, fast PyTorch: `nn.Module`s with MODEL.md's parameter names, `nn.Linear`, `nn.RMSNorm`,
`F.scaled_dot_product_attention(is_causal=True)`, a MoE that dispatches tokens per expert with
index_select / index_add_. Sizes come from a resolved spec's `model` section; `build_twin` loads
Ablate's initial parameters (from `ablate dump`) strictly by name. scripts/bench-peer trains it
(tools/twin/train.py) and checks it against Ablate (tools/twin/check.py); README.md here says
how it differs from tools/reference.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def rope_tables(seq_len: int, dim: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin [T, dim/2] of angle t·theta^(−2i/dim), computed in float64, stored float32."""
    inv = theta ** (-2.0 * torch.arange(dim // 2, dtype=torch.float64) / dim)
    ang = torch.arange(seq_len, dtype=torch.float64)[:, None] * inv[None]
    return ang.cos().float(), ang.sin().float()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Interleaved RoPE on x [..., T, d]: each pair (x[2i], x[2i+1]) turns by its angle."""
    x0, x1 = x[..., 0::2], x[..., 1::2]
    return torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1).flatten(-2)


class SwiGLU(nn.Module):
    def __init__(self, d: int, hidden: int):
        super().__init__()
        self.w1 = nn.Linear(d, hidden, bias=False)
        self.w2 = nn.Linear(hidden, d, bias=False)
        self.w3 = nn.Linear(d, hidden, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class MHA(nn.Module):
    """mha / gqa / mqa: H query heads, G key/value heads of head_dim; RoPE on all of q and k."""

    def __init__(self, d: int, heads: int, kv_heads: int, head_dim: int, seq_len: int, theta: float):
        super().__init__()
        self.h, self.g, self.dh = heads, kv_heads, head_dim
        self.wq = nn.Linear(d, heads * head_dim, bias=False)
        self.wk = nn.Linear(d, kv_heads * head_dim, bias=False)
        self.wv = nn.Linear(d, kv_heads * head_dim, bias=False)
        self.wo = nn.Linear(heads * head_dim, d, bias=False)
        cos, sin = rope_tables(seq_len, head_dim, theta)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def forward(self, x):
        B, T, _ = x.shape
        cos, sin = self.cos[:T], self.sin[:T]
        q = apply_rope(self.wq(x).view(B, T, self.h, self.dh).transpose(1, 2), cos, sin)
        k = apply_rope(self.wk(x).view(B, T, self.g, self.dh).transpose(1, 2), cos, sin)
        v = self.wv(x).view(B, T, self.g, self.dh).transpose(1, 2)
        if self.g != self.h:                       # head h uses kv head h / (H/G)
            k = k.repeat_interleave(self.h // self.g, dim=1)
            v = v.repeat_interleave(self.h // self.g, dim=1)
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True)   # scale 1/sqrt(d_h)
        return self.wo(o.transpose(1, 2).reshape(B, T, self.h * self.dh))


class MLA(nn.Module):
    """Multi-head latent attention, the training (non-absorbed) form of MODEL.md."""

    def __init__(self, d: int, heads: int, kv_rank: int, q_rank: int, d_nope: int, d_rope: int,
                 d_v: int, seq_len: int, theta: float, eps: float):
        super().__init__()
        self.h, self.dc, self.dn, self.dr, self.dv = heads, kv_rank, d_nope, d_rope, d_v
        dqk = d_nope + d_rope
        if q_rank > 0:
            self.wq_a = nn.Linear(d, q_rank, bias=False)
            self.q_norm = nn.RMSNorm(q_rank, eps=eps)
            self.wq_b = nn.Linear(q_rank, heads * dqk, bias=False)
        else:
            self.wq = nn.Linear(d, heads * dqk, bias=False)
        self.q_rank = q_rank
        self.wkv_a = nn.Linear(d, kv_rank + d_rope, bias=False)
        self.kv_norm = nn.RMSNorm(kv_rank, eps=eps)
        self.wkv_b = nn.Linear(kv_rank, heads * (d_nope + d_v), bias=False)
        self.wo = nn.Linear(heads * d_v, d, bias=False)
        cos, sin = rope_tables(seq_len, d_rope, theta)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def forward(self, x):
        B, T, _ = x.shape
        H, dn, dr, dv = self.h, self.dn, self.dr, self.dv
        cos, sin = self.cos[:T], self.sin[:T]
        q = self.wq_b(self.q_norm(self.wq_a(x))) if self.q_rank > 0 else self.wq(x)
        q = q.view(B, T, H, dn + dr).transpose(1, 2)                     # [B, H, T, dn+dr]
        q = torch.cat((q[..., :dn], apply_rope(q[..., dn:], cos, sin)), dim=-1)
        c_kv, k_rope = self.wkv_a(x).split((self.dc, dr), dim=-1)
        k_rope = apply_rope(k_rope.unsqueeze(1), cos, sin)               # [B, 1, T, dr], all heads
        kv = self.wkv_b(self.kv_norm(c_kv)).view(B, T, H, dn + dv).transpose(1, 2)
        k_nope, v = kv.split((dn, dv), dim=-1)
        k = torch.cat((k_nope, k_rope.expand(B, H, T, dr)), dim=-1)
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True)     # scale 1/sqrt(dn+dr)
        return self.wo(o.transpose(1, 2).reshape(B, T, H * dv))


class MoE(nn.Module):
    """E routed SwiGLU experts (top-k of the router scores, ties to the lower index), the shared
    experts fused as one always-on SwiGLU, and the batch auxiliary loss / z-loss of MODEL.md."""

    def __init__(self, d: int, experts: int, top_k: int, hidden: int, shared_hidden: int,
                 score: str, normalize: bool, scale: float, aux: str, aux_coef: float, z_coef: float):
        super().__init__()
        self.e, self.k = experts, top_k
        self.score, self.normalize, self.scale = score, normalize, scale
        self.aux, self.aux_coef, self.z_coef = aux, aux_coef, z_coef
        self.gate = nn.Linear(d, experts, bias=False)
        self.experts = nn.ModuleList(SwiGLU(d, hidden) for _ in range(experts))
        self.shared_experts = SwiGLU(d, shared_hidden) if shared_hidden > 0 else None

    def forward(self, x):
        B, T, D = x.shape
        xs = x.reshape(B * T, D)                        # tokens in (b, t) order
        N, E, k = xs.shape[0], self.e, self.k
        logits = self.gate(xs)                          # [N, E]
        s = logits.softmax(-1) if self.score == "softmax" else logits.sigmoid()
        # top-k; a stable descending sort makes ties go to the lower expert index
        idx = torch.sort(s.detach(), dim=-1, descending=True, stable=True).indices[:, :k]
        g = s.gather(1, idx)                            # unbiased, differentiable gate values
        if self.normalize:
            g = g / g.sum(-1, keepdim=True) if k > 1 else torch.ones_like(g)
        if self.scale != 1.0:
            g = g * self.scale

        # dispatch: assignments grouped by expert (token order inside), one matmul chain per expert
        flat = idx.reshape(-1)                          # [N·k] expert of each (token, slot)
        order = torch.argsort(flat, stable=True)
        token = order // k
        counts = torch.bincount(flat, minlength=E)
        xin = xs.index_select(0, token)
        weight = g.reshape(-1).index_select(0, order).unsqueeze(1)
        chunks = xin.split(counts.tolist())
        routed = torch.cat([expert(c) for expert, c in zip(self.experts, chunks)]) * weight
        y = self.shared_experts(xs) if self.shared_experts is not None else torch.zeros_like(xs)
        y = y.index_add_(0, token, routed)

        aux = xs.new_zeros(())
        if self.aux == "batch":                         # α Σ_i f_i P_i, f_i = E/(kN)·count_i
            f = counts.to(s.dtype) * (E / (k * N))
            aux = self.aux_coef * (f * s.mean(0)).sum()
        if self.z_coef:
            aux = aux + self.z_coef * torch.logsumexp(logits, -1).pow(2).mean()
        return y.view(B, T, D), aux


class Block(nn.Module):
    def __init__(self, attn: nn.Module, ffn: nn.Module, d: int, eps: float):
        super().__init__()
        self.attn_norm = nn.RMSNorm(d, eps=eps)
        self.attn = attn
        self.ffn_norm = nn.RMSNorm(d, eps=eps)
        self.ffn = ffn

    def forward(self, x):
        x = x + self.attn(self.attn_norm(x))
        y = self.ffn(self.ffn_norm(x))
        if isinstance(y, tuple):
            y, aux = y
            return x + y, aux
        return x + y, None


class Twin(nn.Module):
    """The decoder. forward(inputs, targets) → (total, ce, aux) losses; logits(inputs) too."""

    def __init__(self, model_cfg: dict, seq_len: int):
        super().__init__()
        m = model_cfg
        D, V, L = int(m["d_model"]), int(m["vocab"]), int(m["n_layers"])
        eps, theta = float(m["norm_eps"]), float(m["rope"]["theta"])
        a, f = m["attention"], m["ffn"]
        self.embed = nn.Embedding(V, D)
        layers = []
        for l in range(L):
            if a["kind"] == "mla":
                attn = MLA(D, a["heads"], a["kv_rank"], a.get("q_rank") or 0, a["d_nope"], a["d_rope"],
                           a["d_v"], seq_len, theta, eps)
            else:
                H = int(a["heads"])
                G = {"mha": H, "mqa": 1, "gqa": a.get("n_kv_heads")}[a["kind"]]
                attn = MHA(D, H, int(G), int(a.get("head_dim") or D // H), seq_len, theta)
            if f["kind"] == "moe" and l >= int(m["first_dense_layers"]):
                attn_ffn = self._moe(D, f["moe"])
            else:
                attn_ffn = SwiGLU(D, int(f["hidden"]))
            layers.append(Block(attn, attn_ffn, D, eps))
        self.layers = nn.ModuleList(layers)
        self.norm = nn.RMSNorm(D, eps=eps)
        self.tied = bool(m["tie_embeddings"])
        if not self.tied:
            self.head = nn.Linear(D, V, bias=False)

    @staticmethod
    def _moe(D: int, mo: dict) -> MoE:
        r, b = mo["router"], mo["balance"]
        unsupported = [what for what, on in (
            ("router.groups > 1", int(r["groups"]) > 1), ("capacity_factor", mo.get("capacity_factor") is not None),
            ("loss_free balancing", bool(b["loss_free"]["enabled"])), ("aux: sequence", b["aux"] == "sequence"))
            if on]
        if unsupported:
            raise NotImplementedError("the twin does not implement " + ", ".join(unsupported))
        m = int(mo["granularity"])
        return MoE(D, m * int(mo["experts"]), m * int(mo["top_k"]), int(mo["expert_hidden"]) // m,
                   int(mo["shared_experts"]) * int(mo["expert_hidden"]) // m, r["score"], bool(r["normalize"]),
                   float(r["scale"]), b["aux"], float(b["aux_coef"]), float(b["z_loss_coef"]))

    def logits(self, inputs):
        """(logits [B, T, V], aux summed over MoE layers)."""
        x = self.embed(inputs)
        aux = x.new_zeros(())
        for layer in self.layers:
            x, a = layer(x)
            if a is not None:
                aux = aux + a
        x = self.norm(x)
        return (F.linear(x, self.embed.weight) if self.tied else self.head(x)), aux

    def forward(self, inputs, targets):
        logits, aux = self.logits(inputs)
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        return ce + aux, ce, aux


def build_twin(spec: dict, params: dict) -> Twin:
    """The twin for a resolved spec, holding Ablate's parameters (loaded strictly by name)."""
    torch.manual_seed(0)
    model = Twin(spec["model"], int(spec["train"]["seq_len"]))
    model.load_state_dict({n: p.float() for n, p in params.items()}, strict=True)
    return model
