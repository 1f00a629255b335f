#!/usr/bin/env bash
# Creates (or updates) the Python virtual environment the tests use: .venv at the project root,
# with h5py and numpy (interop tests). Prints the interpreter's path on its last line.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${ABLATE_VENV:-$root/.venv}"
requirements="$root/scripts/requirements-test.txt"
stamp="$venv/.ablate-requirements"
if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv" >&2
fi
if ! cmp -s "$requirements" "$stamp" 2>/dev/null; then
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements" >&2
    cp "$requirements" "$stamp"
fi
echo "$venv/bin/python"
