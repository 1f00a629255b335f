#!/usr/bin/env bash
# Same bits before and after a change that must not change arithmetic (a refactor).
#
#   scripts/same-bits.sh record BIN DIR     # train every parity cell and the quick start with BIN into DIR
#   scripts/same-bits.sh check BEFORE AFTER  # `ablate compare` every run, dump and sample of two records
#
# A record holds, per experiments/parity.yaml cell: the run file (with attention, router and c_kv
# snapshots switched on, so the probes are covered), the parity dump (step-0 logits, gradients,
# final parameters) and 16 greedy tokens from `ablate generate` (the cached inference form); and
# the quick start's run file and sample. `check` fails on the first difference.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:?usage: same-bits.sh record BIN DIR | check BEFORE AFTER}
case "$mode" in
record)
    bin=$(realpath "${2:?BIN}"); out=${3:?DIR}
    mkdir -p "$out"
    snap='log.tensors={steps: [0, 3], attention_layers: [0, 1], attention_heads: [0, 1]}'
    n=$(grep -cE '^    - \{' experiments/parity.yaml)
    for ((c = 0; c < n; c++)); do
        "$bin" run experiments/parity.yaml "$snap" --cell "$c" --runs "$out/runs" --threads 2 --quiet
        "$bin" dump experiments/parity.yaml --cell "$c" --out "$out/dump-$c.h5" >/dev/null
    done
    for dir in "$out"/runs/parity/*/; do
        "$bin" generate "$dir" --prompt "1 2 3" --tokens 16 --temperature 0 >"$dir/sample.txt"
    done
    "$bin" run experiments/quickstart.yaml train.steps=300 --runs "$out/runs" --threads 2 --quiet
    for dir in "$out"/runs/quickstart/*/; do
        "$bin" generate "$dir" --prompt "1 2 3" --tokens 32 --temperature 0.8 --seed 7 >"$dir/sample.txt"
    done
    echo "recorded $(find "$out" -name run.h5 | wc -l) runs and $(ls "$out"/dump-*.h5 | wc -l) dumps in $out"
    ;;
check)
    a=${2:?BEFORE}; b=${3:?AFTER}; bin=.build/release/ablate
    count=0; differ=0
    while IFS= read -r f; do
        rel=${f#"$a"/}
        count=$((count + 1))
        [[ -e "$b/$rel" ]] || { echo "missing in $b: $rel"; differ=$((differ + 1)); continue; }
        case "$f" in
        */dump-*.h5) h5diff "$f" "$b/$rel" </dev/null >/dev/null || { echo "differs: $rel"; h5diff "$f" "$b/$rel" | head -5 || true; differ=$((differ + 1)); } ;;
        *.h5) "$bin" compare "$f" "$b/$rel" </dev/null >/dev/null || { echo "differs: $rel"; "$bin" compare "$f" "$b/$rel" </dev/null | grep DIFFERENT || true; differ=$((differ + 1)); } ;;
        *.txt) cmp -s "$f" "$b/$rel" || { echo "differs: $rel"; diff "$f" "$b/$rel" | head -4 || true; differ=$((differ + 1)); } ;;
        esac
    done < <(find "$a" \( -name run.h5 -o -name "dump-*.h5" -o -name sample.txt \) | sort)
    if ((differ > 0)); then echo "$differ of $count files differ"; exit 1; fi
    echo "same bits: $count files (run files, checkpoints, dumps, samples)"
    ;;
*) echo "unknown mode $mode" >&2; exit 2 ;;
esac
