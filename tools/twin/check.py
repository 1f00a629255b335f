"""`scripts/bench-peer --check`: is the twin the same model as Ablate's?

Given one `ablate dump` (as scripts/bench-peer's read_dump returns it: the resolved spec, the
initial and final parameters, the batches, step-0 logits and raw gradients, the losses), the twin
loads the parameters by name (strict), recomputes step 0 in float32 and compares the losses
(relative error), the logits and every gradient (max |Δ|, max |Δ| / max |ref| and relative L2 per
parameter), then takes the two AdamW steps itself and compares the step-1 loss and the final
parameters. Prints a table; returns whether everything is within tolerance.
"""
from __future__ import annotations

import torch

from train import Trainer
from twin import build_twin


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-30)


def check_dump(dump: dict, title: str, expected_params: int, compiled: bool, tol_loss: float,
               tol_grad: float, tol_final: float) -> bool:
    """Compare the twin with one dump; `title` heads its table ("(a) mla-moe: experiments/…")."""
    spec, train = dump["spec"], dump["spec"]["train"]
    model = build_twin(spec, dump["params"])
    n_params = sum(p.numel() for p in model.parameters())
    print(f"\n== {title}  {n_params:,} parameters "
          f"(expected {expected_params:,}){'  [torch.compile]' if compiled else ''}")
    ok = n_params == expected_params
    assert bool((dump["mask"] == 1).all()), "the twin's loss assumes every position is a target"
    inputs, targets = dump["inputs"], dump["targets"]

    # step 0: losses, logits, gradients
    with torch.no_grad():
        logits, _ = model.logits(inputs[0])
    err_logits = float((logits - dump["logits"]).abs().max() / dump["logits"].abs().max())
    trainer = Trainer(model, train, compiled)
    total, ce, aux = trainer.forward(inputs[0], targets[0])
    total.backward()
    rows = [("loss.total @ step 0", total.item(), float(dump["losses"]["total"][0])),
            ("loss.ce    @ step 0", ce.item(), float(dump["losses"]["ce"][0])),
            ("loss.aux   @ step 0", aux.item(), float(dump["losses"]["aux"][0]))]
    print(f"{'quantity':<24} {'twin':>14} {'ablate':>14} {'rel err':>10}")
    for name, mine, theirs in rows:
        e = rel(mine, theirs) if abs(theirs) > 1e-12 else abs(mine - theirs)
        good = e <= tol_loss
        ok &= good
        print(f"{name:<24} {mine:14.8f} {theirs:14.8f} {e:10.2e}  {'ok' if good else 'FAIL'}")
    good = err_logits <= 10 * tol_grad
    ok &= good
    print(f"{'logits @ step 0':<24} max|Δ|/max|ref| {err_logits:.2e}  {'ok' if good else 'FAIL'}")

    print(f"\n{'gradient':<42} {'shape':>12} {'max|ref|':>10} {'max|Δ|':>10} {'Δ/max|ref|':>10} {'rel L2':>10}")
    worst_l2, worst_max, n_bad = 0.0, 0.0, 0
    for name, p in model.named_parameters():
        ref = dump["grads"][name].double()
        got = p.grad.double() if p.grad is not None else torch.zeros_like(ref)
        d = (got - ref).abs()
        scale = float(ref.abs().max())
        e_max = float(d.max()) / max(scale, 1e-30) if scale > 0 else float(d.max())
        e_l2 = float((got - ref).norm() / max(float(ref.norm()), 1e-30)) if scale > 0 else float(d.max())
        good = e_l2 <= tol_grad
        n_bad += not good
        worst_l2, worst_max = max(worst_l2, e_l2), max(worst_max, e_max)
        shape = "×".join(map(str, ref.shape))
        print(f"{name:<42} {shape:>12} {scale:10.3e} {float(d.max()):10.3e} {e_max:10.2e} {e_l2:10.2e}"
              f"  {'ok' if good else 'FAIL'}")
    ok &= n_bad == 0
    print(f"gradients: {len(dump['grads'])} tensors, worst rel L2 {worst_l2:.2e}, worst max|Δ|/max|ref| "
          f"{worst_max:.2e} (tolerance rel L2 {tol_grad:.0e}); {n_bad} over")

    # two optimizer steps (clip, AdamW with the step's lr): step-1 loss, parameters after step 1
    trainer.optimizer.zero_grad(set_to_none=True)
    trainer.step(0, inputs[0], targets[0])
    losses1, _ = trainer.step(1, inputs[1], targets[1])
    e1 = rel(losses1["total"], float(dump["losses"]["total"][1]))
    good = e1 <= tol_loss
    ok &= good
    print(f"\nloss.total @ step 1: twin {losses1['total']:.8f} ablate {float(dump['losses']['total'][1]):.8f}"
          f" rel err {e1:.2e}  {'ok' if good else 'FAIL'}")
    worst_final, worst_name = 0.0, ""
    for name, p in model.named_parameters():
        ref = dump["final"][name].double()
        e = float((p.detach().double() - ref).norm() / max(float(ref.norm()), 1e-30))
        if e > worst_final:
            worst_final, worst_name = e, name
    good = worst_final <= tol_final
    ok &= good
    print(f"parameters after 2 AdamW steps: worst rel L2 {worst_final:.2e} ({worst_name}), "
          f"tolerance {tol_final:.0e}  {'ok' if good else 'FAIL'}")
    return ok
