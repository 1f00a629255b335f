#!/usr/bin/env bash
# Quick start: install missing system packages, build the release binary, run the main job.
# (Until training lands, the main job is `ablate smoke`: write, read back and inspect an HDF5
# run-style file.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-system-packages.sh
echo "building ablate (release)…"
swift build -c release --product ablate 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\]' || true
test -x .build/release/ablate || { echo "error: release build failed" >&2; exit 1; }
.build/release/ablate smoke --out runs/smoke/smoke.h5
