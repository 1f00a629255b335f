#!/usr/bin/env bash
# The whole test suite: builds the release binary once (end-to-end tests run it), prepares the
# Python environment (h5py, the PyTorch reference), runs the reference's own tests, then
# `swift test` (unit tests build in debug).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== building release binary"
if ! swift build -c release --product ablate > .build-release.log 2>&1; then
    grep -E "error|warning: " .build-release.log | head -40 >&2
    echo "error: release build failed (full log: .build-release.log)" >&2
    exit 1
fi
echo "== preparing Python environment"
python="$(scripts/python-env.sh | tail -n 1)"
export ABLATE_BIN="$PWD/.build/release/ablate"
export ABLATE_PYTHON="$python"
echo "== reference self-tests (pytest tools/reference)"
"$python" -m pytest tools/reference -q
echo "== swift test"
swift test "$@"
