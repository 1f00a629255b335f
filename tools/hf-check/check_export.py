#!/usr/bin/env python3
"""Checks `ablate export RUN --hf DIR` against transformers itself.

For each RUN_DIR=EXPORT_DIR pair: loads EXPORT_DIR with AutoModelForCausalLM (float32), compares
its logits on a fixed token sequence with `ablate logits RUN_DIR` (the training form), and its
greedy `generate` of 32 tokens with `ablate generate RUN_DIR --temperature 0`. Prints one JSON
object per pair; exits 1 if any logit differs by more than --tolerance or any generation differs.

    check_export.py --ablate .build/release/ablate RUN_DIR=EXPORT_DIR [...]
"""
import argparse
import json
import subprocess
import sys

import torch
from transformers import AutoModelForCausalLM


def ablate(binary, *args):
    done = subprocess.run([binary, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"ablate {' '.join(args)} failed: {done.stderr}")
    return done.stdout


def check(binary, run_dir, export_dir, tolerance, new_tokens):
    model = AutoModelForCausalLM.from_pretrained(export_dir, dtype=torch.float32)
    model.eval()
    vocab = model.config.vocab_size
    tokens = [(7 * i + 3) % vocab for i in range(24)]
    ours = torch.tensor(json.loads(ablate(binary, "logits", run_dir, "--tokens", " ".join(map(str, tokens)))))
    with torch.no_grad():
        theirs = model(torch.tensor([tokens])).logits[0].to(torch.float64)
    diff = (theirs - ours.to(torch.float64)).abs().max().item()

    prompt = tokens[:5]
    with torch.no_grad():
        generated = model.generate(torch.tensor([prompt]), max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                                   do_sample=False, attention_mask=torch.ones(1, len(prompt), dtype=torch.long))
    hf_tokens = generated[0, len(prompt):].tolist()
    ours_tokens = [int(t) for t in ablate(binary, "generate", run_dir, "--prompt", " ".join(map(str, prompt)),
                                          "--tokens", str(new_tokens), "--temperature", "0").split()]
    return {"run": run_dir, "export": export_dir, "class": type(model).__name__, "max_abs_logit_diff": diff,
            "logits_ok": diff <= tolerance, "generate_equal": hf_tokens == ours_tokens,
            "hf_tokens": hf_tokens, "ablate_tokens": ours_tokens}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ablate", required=True, help="the ablate binary")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("pairs", nargs="+", help="RUN_DIR=EXPORT_DIR")
    args = parser.parse_args()
    failed = False
    for pair in args.pairs:
        run_dir, export_dir = pair.split("=", 1)
        result = check(args.ablate, run_dir, export_dir, args.tolerance, args.new_tokens)
        print(json.dumps(result), flush=True)
        failed |= not (result["logits_ok"] and result["generate_equal"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
