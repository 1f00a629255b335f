#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages Ablate needs, only those that are missing; with arguments,
# those packages instead (scripts/prepare-corpus.sh names its own).
# Needs root (or sudo). Swift itself (6.x) must already be installed: see README.
set -euo pipefail
packages=(libhdf5-dev hdf5-tools pkg-config python3-venv git fortunes)
(($#)) && packages=("$@")
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    sudo_cmd=()
    [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
    echo "installing: ${missing[*]}"
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "error: swift is not on PATH; install Swift 6 (https://swift.org/install)" >&2; exit 1; }
