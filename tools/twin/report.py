"""The report of scripts/bench-peer (results/performance.md): the machine, the contention during
the benchmark, the throughput and per-phase tables."""
from __future__ import annotations

import os
import platform
import subprocess
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent.parent   # the repository (tools/twin/report.py)


def machine() -> dict:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    field = lambda k: next((l.split(":", 1)[1].strip() for l in cpuinfo.splitlines() if l.startswith(k)), "?")  # noqa: E731,E741
    flags = field("flags").split()
    mem_kb = int(next(l.split()[1] for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal")))
    return {"cpu": field("model name"), "logical_cpus": os.cpu_count(),
            "usable_cpus": len(os.sched_getaffinity(0)), "cores_per_socket": field("cpu cores"),
            "simd": " ".join(f for f in ("avx2", "fma", "avx512f") if f in flags) or "none of avx2/avx512",
            "mem_gb": mem_kb / 2**20, "kernel": f"{platform.system()} {platform.release()}"}


def git(*args: str) -> str:
    try:
        return subprocess.run(["git", "-C", str(ROOT), *args], check=True, text=True,
                              capture_output=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def cpu_sample() -> dict | None:
    """Busy and steal CPU time summed over all of the machine's CPUs (/proc/stat, seconds), this
    process's own and its waited-for children's CPU time, and the wall clock; None without
    /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        ticks = [int(x) / os.sysconf("SC_CLK_TCK") for x in fields]
        busy = ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6]   # user nice system irq softirq
        steal = ticks[7] if len(ticks) > 7 else 0.0
    except (OSError, ValueError, IndexError):
        return None
    t = os.times()
    return {"busy": busy, "steal": steal, "own": t.user + t.system + t.children_user + t.children_system,
            "wall": time.monotonic()}


def contention(a: dict | None, b: dict | None, cpus: int) -> dict | None:
    """Shares of all CPUs' time between two samples taken by other processes (busy time that is
    not this benchmark's) and by other guests of the hypervisor (steal); None when unknown."""
    if a is None or b is None:
        return None
    capacity = max(b["wall"] - a["wall"], 1e-9) * max(cpus, 1)
    others = max(0.0, (b["busy"] - a["busy"]) - (b["own"] - a["own"])) / capacity
    return {"others": others, "steal": max(0.0, b["steal"] - a["steal"]) / capacity}


def fmt_tps(v: dict, repeats: int, field: str = "tps") -> str:
    s = f"{v[field]:,.0f}"
    return s + (f" ({v[field + '_min']:,.0f}–{v[field + '_max']:,.0f})" if repeats > 1 else "")


def throughput_row(r: dict, repeats: int, field: str, clock: str) -> str:
    """"| (a) label | threads | Ablate | eager | compile | ratio to eager | ratio to compile |" on
    one clock (field tps and ratios *_wall, or cpu_tps and *_cpu)."""
    return (f"| ({r['config']}) {r['label']} | {r['threads']} | {fmt_tps(r['ablate'], repeats, field)} "
            f"| {fmt_tps(r['eager'], repeats, field)} | {fmt_tps(r['compile'], repeats, field)} "
            f"| {fmt_ratio(r[f'ratio_eager_{clock}'])} | {fmt_ratio(r[f'ratio_compile_{clock}'])} |")


def fmt_ratio(q: tuple[float, float, float]) -> str:
    return f"{q[1]:.2f}× [{q[0]:.2f}, {q[2]:.2f}]"


# The targets: (config, twin) → the smallest ratio; checked on the CPU ratio at 1 thread
# and the wall ratio at 2 threads.
TARGETS = {("a", "eager"): 1.5, ("a", "compile"): 1.3, ("b", "eager"): 1.25, ("b", "compile"): 1.1,
           ("c", "eager"): 2.0, ("c", "compile"): 1.5, ("d", "eager"): 2.0, ("d", "compile"): 1.5}
STARTUP_TARGET = 0.3     # seconds, exec to first step, for the studies' shapes (c) and (d)
IQR_TARGET = 0.10        # at 2 threads: half the ratio's IQR, relative to its median


def targets(results: list[dict]) -> list[str]:
    """The targets table: each target, the figure it is checked on, the measurement, met or not."""
    rows = ["| target | checked on | measured: median [IQR] | met |", "|---|---|---:|---|"]
    for r in results:
        clock = "cpu" if r["threads"] == 1 else "wall"
        for twin in ("eager", "compile"):
            goal = TARGETS.get((r["config"], twin))
            if goal is None:
                continue
            q = r[f"ratio_{twin}_{clock}"]
            rows.append(f"| ({r['config']}) {r['label']} ≥ {goal}× {twin} | {'CPU' if clock == 'cpu' else 'wall'} "
                        f"ratio, {r['threads']} thread(s) | {fmt_ratio(q)} | {'yes' if q[1] >= goal else 'no'} |")
            if r["threads"] > 1:
                spread = (q[2] - q[0]) / 2 / q[1]
                rows.append(f"| ({r['config']}) {r['label']}: IQR of the ratio to {twin} within ±{IQR_TARGET:.0%} | "
                            f"wall ratio, {r['threads']} threads | ±{spread:.1%} | {'yes' if spread <= IQR_TARGET else 'no'} |")
        a, e, c = r["ablate"], r["eager"], r["compile"]
        least = min(e["rss_mb"], c["rss_mb"])
        rows.append(f"| ({r['config']}) {r['label']}: peak memory ≤ PyTorch's | peak RSS, {r['threads']} thread(s) | "
                    f"{a['rss_mb']:.0f} MB against {least:.0f} MB | {'yes' if a['rss_mb'] <= least else 'no'} |")
        if r["config"] in ("c", "d"):
            rows.append(f"| ({r['config']}) {r['label']}: start-up ≤ {STARTUP_TARGET} s | exec → step 0 | "
                        f"{a['startup_exec']:.3f} s | {'yes' if a['startup_exec'] <= STARTUP_TARGET else 'no'} |")
    return rows


def report(results: list[dict], args, command: str, info: dict, load: tuple) -> str:
    mach, ver, cont = info["machine"], info["ablate"], info["contention"]
    head = git("rev-parse", "HEAD")
    dirty = " (working tree has uncommitted changes)" if git("status", "--porcelain", "--untracked-files=no") else ""
    lines = [
        "# Performance: Ablate against a PyTorch twin on CPU", "",
        "Written by `scripts/bench-peer` (its docstring says what is measured and how). Configurations:",
        "(a) `experiments/bench/mla-moe.yaml` — MLA + MoE, 3,638,144 parameters; (b)",
        "`experiments/bench/mha-dense.yaml` — MHA + dense SwiGLU, 2,754,816 parameters; both batch 16 × 128",
        "tokens. At the studies' scale, 1 thread, batch 32 × 64: (c) `experiments/bench/study-mla-moe.yaml`",
        "— MLA + MoE, 287,168 parameters; (d) `experiments/bench/study-mha-dense.yaml` — MHA + dense",
        "SwiGLU, 115,008 parameters. AdamW. The twin was checked to be the same model with",
        "`scripts/bench-peer --check` (step-0 loss and every gradient against `ablate dump`).", "",
        "## Machine and build", "",
        f"- CPU: {mach['cpu']}; {mach['logical_cpus']} logical CPUs ({mach['usable_cpus']} usable), "
        f"{mach['cores_per_socket']} cores per socket; {mach['simd']}; {mach['mem_gb']:.1f} GiB RAM",
        f"- OS kernel: {mach['kernel']}; load average at start {load[0][0]:.2f}, at end {load[1][0]:.2f} "
        "(1 min)",
        f"- Ablate: {ver.get('version', '?')}, binary commit {ver.get('commit', '?')}; build: {ver.get('build', '?')}",
        f"- Ablate kernels: {ver.get('kernels', '?')}; {ver.get('kernel version', '?')}",
        f"- PyTorch {torch.__version__} (MKL {torch.backends.mkl.is_available()}, oneDNN "
        f"{torch.backends.mkldnn.is_available()}), AdamW {info['optimizer']}, float32, Python "
        f"{platform.python_version()}",
        f"- git commit: `{head}`{dirty}", "",
        (f"- Contention during the benchmark: other processes used {cont['others']:.1%} and the "
         f"hypervisor's other guests (steal) {cont['steal']:.1%} of the {mach['logical_cpus']} CPUs' time "
         "(/proc/stat less this benchmark's own processes; the load average counts the benchmark itself)"
         if cont else "- Contention during the benchmark: unknown (no /proc/stat)"),
        "",
        *([f"**Warning:** the machine was busy (load average {load[0][0]:.1f} at start on "
           f"{mach['usable_cpus']} CPUs" + (f", other processes {cont['others']:.0%} and steal "
           f"{cont['steal']:.0%} of the CPU time during the runs" if cont else "") +
           "): these numbers do not measure either implementation.", ""]
          if load[0][0] > 0.5 * mach["usable_cpus"] or (cont and (cont["others"] > 0.05 or cont["steal"] > 0.05))
          else []),
        "## Command", "", "```sh", command, "```", "",
        f"{args.steps} steps per run, the first {args.warmup} left out; {args.repeats} round(s) per cell, "
        "A/B order rotated; the twin trains on Ablate's first "
        f"{args.batches} batches (cycled) from Ablate's initial parameters.", "",
        "Two figures per run: **wall** throughput (tokens over the median step's wall time) and **CPU** "
        "throughput (tokens over the median step's CPU time, user + system of all the process's threads, "
        "CLOCK_PROCESS_CPUTIME_ID for both; Ablate logs it per step as `cpu_s`). This kernel charges a "
        "process only for the time it ran, so the host's steal moves the wall figure but not the CPU one. "
        "A ratio is taken per round (Ablate and the twin back to back) and reported as the median over "
        "rounds with its interquartile range [Q1, Q3]. **Targets are checked on the CPU ratio at 1 thread "
        "and on the wall ratio at 2 threads** (at 2 threads a waiting worker's spinning counts as CPU time, "
        "so the CPU ratio there is shown but not judged).", "",
        "## Throughput on the wall clock (tokens/s, median over rounds; range over rounds)", "",
        "| config | threads | Ablate | PyTorch eager | PyTorch compile | Ablate/eager [IQR] | Ablate/compile [IQR] "
        "| compile: first step | peak RSS Ablate / eager / compile |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        a, e, c = r["ablate"], r["eager"], r["compile"]
        lines.append(throughput_row(r, args.repeats, "tps", "wall")
                     + f" {c['first_step_s']:.1f} s | {a['rss_mb']:.0f} / {e['rss_mb']:.0f} / {c['rss_mb']:.0f} MB |")
    lines += ["", "## Throughput on CPU time (tokens per CPU-second, median over rounds; range over rounds)", "",
              "| config | threads | Ablate | PyTorch eager | PyTorch compile | Ablate/eager [IQR] | Ablate/compile [IQR] |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    lines += [throughput_row(r, args.repeats, "cpu_tps", "cpu") for r in results]
    lines += ["", "## Start-up of `ablate run` (median over rounds)", "",
              "From `ablate`'s main to the first step (spec parsing, validation, the memory check's dry "
              "step, data, initialisation, the run file: run.log's `start-up` line), and from this "
              "script's Popen to the first step (adds process creation, the dynamic loader and the Swift "
              "runtime), and the CPU time the process had used by then (steal is not charged to it).", "",
              "| config | threads | main → step 0 | exec → step 0 | CPU time by step 0 |", "|---|---:|---:|---:|---:|"]
    for r in results:
        a = r["ablate"]
        lines.append(f"| ({r['config']}) {r['label']} | {r['threads']} | {a['startup_main']:.3f} s | "
                     f"{a['startup_exec']:.3f} s | {a['startup_cpu']:.3f} s |")
    lines += ["", "## Targets", "", *targets(results), ""]
    lines += ["## Twin: time per step by phase (ms, median)", "",
              "Forward includes the loss; optimizer = gradient clipping + AdamW + zero_grad. Ablate's step "
              "time is tokens / (tokens/s).", "",
              "| config | threads | Ablate step | eager fwd / bwd / opt = step | compile fwd / bwd / opt = step |",
              "|---|---:|---:|---:|---:|"]
    for r in results:
        e, c = r["eager"], r["compile"]
        ph = lambda v: f"{v['fwd_ms']:.1f} / {v['bwd_ms']:.1f} / {v['opt_ms']:.1f} = {v['step_ms']:.1f}"  # noqa: E731
        lines.append(f"| ({r['config']}) {r['label']} | {r['threads']} | "
                     f"{r['tokens_per_step'] / r['ablate']['tps'] * 1e3:.1f} | {ph(e)} | {ph(c)} |")
    lines += ["", "Peak RSS is each process's own VmHWM (the twin's includes Python and torch). "
              "Ablate's ISA path: " + ", ".join(sorted({r['ablate']['isa'] for r in results})) + ". "
              "torch.compile starts from an empty inductor cache in every run; it compiled "
              + ", ".join(f"({r['config']}) {r['compile']['graphs']}" for r in results[:len(args.configs)])
              + " graphs (a MoE layer breaks the graph at its per-expert split)."]
    late = [f"({r['config']}) threads {r['threads']}: steps {r['compile']['late_compiles']}"
            for r in results if r["compile"]["late_compiles"]]
    if late:
        lines.append("**Warning:** torch.compile recompiled after the warm-up (those steps are in the "
                     "medians): " + "; ".join(late) + ".")
    lines.append("")
    return "\n".join(lines)
