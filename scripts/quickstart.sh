#!/usr/bin/env bash
# Quick start: install missing system packages, build the release binary, and train
# experiments/quickstart.yaml (MLA + MoE with loss-free balancing on a Markov mixture whose
# optimal loss is known), printing the summary: final eval loss, optimum, gap, MaxVio, tokens/s
# and the run file's path. Extra arguments go to `ablate run` (e.g. --runs DIR, overrides).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-system-packages.sh
echo "building ablate (release)…"
if ! swift build -c release --product ablate > .build-release.log 2>&1; then
    grep -E "error|warning: " .build-release.log | head -40 >&2
    echo "error: release build failed (full log: .build-release.log)" >&2
    exit 1
fi
.build/release/ablate run experiments/quickstart.yaml "$@"
