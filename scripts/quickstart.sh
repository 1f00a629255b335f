#!/usr/bin/env bash
# Quick start: install missing system packages, build the release binary, run the main job.
# (Until training lands, the main job is `ablate smoke`: write, read back and inspect an HDF5
# run-style file.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-system-packages.sh
echo "building ablate (release)…"
if ! swift build -c release --product ablate > .build-release.log 2>&1; then
    grep -E "error|warning: " .build-release.log | head -40 >&2
    echo "error: release build failed (full log: .build-release.log)" >&2
    exit 1
fi
.build/release/ablate smoke --out runs/smoke/smoke.h5
