#!/usr/bin/env bash
# Does an open dashboard slow training? Trains the quick-start spec (shortened) REPEATS times
# without and REPEATS times with `ablate serve` running and a client polling the sweep and run
# endpoints every 2 s, as an open sweep page plus an open run page do, alternating, and prints
# each run's tokens/s. Run it on an otherwise idle machine (docs/dashboard.md, "Overhead").
#   scripts/serve-overhead.sh [STEPS=500] [REPEATS=2]
set -euo pipefail
cd "$(dirname "$0")/.."
steps="${1:-500}"
repeats="${2:-2}"
ablate="${ABLATE_BIN:-$PWD/.build/release/ablate}"
work="$(mktemp -d /tmp/serve-overhead-XXXXXX)"
server=""
poller=""
cleanup() {
    [ -n "$poller" ] && kill "$poller" 2>/dev/null || true
    [ -n "$server" ] && kill "$server" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap cleanup EXIT

train() {   # $1: runs directory; prints tokens/s from the run's summary
    "$ablate" sweep experiments/quickstart.yaml --runs "$1" "train.steps=$steps" >/dev/null
    HDF5_USE_FILE_LOCKING=FALSE "$ablate" table "$1/quickstart" --format csv --metrics tokens_per_s 2>/dev/null \
        | awk -F, 'NR==1 { for (i = 1; i <= NF; i++) if ($i == "tokens_per_s_mean") c = i } NR==2 { printf "%.0f\n", $c }'
}

for r in $(seq 1 "$repeats"); do
    without="$(train "$work/without-$r")"
    mkdir -p "$work/with-$r"
    "$ablate" serve "$work/with-$r" --port 0 > "$work/serve-$r.log" 2>&1 &
    server=$!
    sleep 1
    port="$(grep -o ':[0-9][0-9]*/' "$work/serve-$r.log" | tr -d ':/')"
    (
        while true; do
            curl -s "http://127.0.0.1:$port/api/sweep?path=quickstart" >/dev/null || true
            id="$(ls "$work/with-$r/quickstart" 2>/dev/null | grep -v json | head -1 || true)"
            [ -n "$id" ] && curl -s "http://127.0.0.1:$port/api/run?path=quickstart/$id" >/dev/null || true
            sleep 2
        done
    ) &
    poller=$!
    with="$(train "$work/with-$r")"
    kill "$poller"; poller=""
    kill "$server"; server=""
    echo "repeat $r: tokens/s without the page $without, with the page $with"
done
rm -rf "$work"
