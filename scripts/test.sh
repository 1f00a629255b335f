#!/usr/bin/env bash
# The whole test suite: builds the release binary once (end-to-end tests run it), prepares the
# Python environment (h5py, the PyTorch reference), runs the reference's own tests, then
# `swift test` (unit tests build in debug).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== building release binary"
swift build -c release --product ablate 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\]' || true
test -x .build/release/ablate || { echo "error: release build failed" >&2; exit 1; }
echo "== preparing Python environment"
python="$(scripts/python-env.sh | tail -n 1)"
export ABLATE_BIN="$PWD/.build/release/ablate"
export ABLATE_PYTHON="$python"
echo "== reference self-tests (pytest tools/reference)"
"$python" -m pytest tools/reference -q
echo "== swift test"
swift test "$@"
