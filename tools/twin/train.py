"""Training the twin: gradient clipping + AdamW (fused when available) with the spec's schedule,
one step timed per phase (forward with the loss, backward, optimizer). Used by scripts/bench-peer
for both the benchmark and --check."""
from __future__ import annotations

import math
import time

import torch
import torch.nn as nn

from twin import Twin


def lr_at(step: int, train: dict) -> float:
    """MODEL.md's schedules at 0-based `step`; S = train.steps."""
    lr, sch = float(train["optimizer"]["lr"]), train["schedule"]
    W, S, lo = int(sch["warmup"]), int(train["steps"]), float(sch["min_lr"])
    if step < W:
        return lr * (step + 1) / W
    if sch["kind"] == "cosine" and S > W:
        return lo + 0.5 * (lr - lo) * (1 + math.cos(math.pi * (step - W) / (S - W)))
    if sch["kind"] == "wsd" and int(sch["decay_steps"]) > 0 and step >= S - int(sch["decay_steps"]):
        Dd = int(sch["decay_steps"])
        return lr + (lo - lr) * (step - (S - Dd) + 1) / Dd
    return lr


def make_optimizer(model: nn.Module, train: dict) -> tuple[torch.optim.Optimizer, str]:
    """AdamW with weight decay on 2-D weights only; fused if this build supports it on CPU."""
    opt = train["optimizer"]
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() == 2], "weight_decay": float(opt["weight_decay"])},
              {"params": [p for p in params if p.dim() != 2], "weight_decay": 0.0}]
    kw = dict(lr=float(opt["lr"]), betas=tuple(float(b) for b in opt["betas"]), eps=float(opt["eps"]))
    try:
        return torch.optim.AdamW(groups, fused=True, **kw), "fused"
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.AdamW(groups, foreach=True, **kw), "foreach"


class Trainer:
    """One training step, timed per phase: forward (with the loss), backward, optimizer."""

    def __init__(self, model: Twin, train: dict, compiled: bool):
        self.model, self.train = model, train
        self.forward = torch.compile(model) if compiled else model
        self.optimizer, self.optimizer_kind = make_optimizer(model, train)
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.clip = float(train["optimizer"]["clip"])

    def step(self, step: int, inputs, targets) -> tuple[dict, tuple[float, float, float]]:
        t0 = time.perf_counter()
        total, ce, aux = self.forward(inputs, targets)
        t1 = time.perf_counter()
        total.backward()
        t2 = time.perf_counter()
        if self.clip > 0:   # scale = min(1, clip / (‖g‖ + 1e-6)), as MODEL.md
            nn.utils.clip_grad_norm_(self.params, self.clip, foreach=True)
        lr = lr_at(step, self.train)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        t3 = time.perf_counter()
        losses = {"total": total.item(), "ce": ce.item(), "aux": aux.item()}
        return losses, (t1 - t0, t2 - t1, t3 - t2)
