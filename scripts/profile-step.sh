#!/usr/bin/env bash
# Profiles training steps of the release binary with perf and prints, per thread, the symbols
# with the most samples (self time): the main thread first, then the pool's worker(s).
#
#   scripts/profile-step.sh [SPEC] [STEPS] [THREADS] [TOP]
#   scripts/profile-step.sh experiments/bench/mla-moe.yaml 40 2 25
#
# Writes /tmp/ablate-profile/perf.data (open it with `perf report --no-children`). Per-thread
# shares matter on 2 cores: a worker's `ablate_cpu_relax` is time it waited for the main thread
# (serial work), the main thread's is time it waited for a worker to finish its block.
set -euo pipefail
cd "$(dirname "$0")/.."
spec=${1:-experiments/bench/mla-moe.yaml}
steps=${2:-40}
threads=${3:-2}
top=${4:-25}
command -v perf >/dev/null || { echo "profile-step: perf is not installed (apt-get install -y linux-perf)" >&2; exit 2; }
bin=.build/release/ablate
[[ -x $bin ]] || { echo "profile-step: build the release binary first: swift build -c release --product ablate" >&2; exit 2; }
out=/tmp/ablate-profile
rm -rf "$out" && mkdir -p "$out"
perf record -F 999 -g -o "$out/perf.data" "$bin" run "$spec" "train.steps=$steps" train.schedule.warmup=5 \
    --runs "$out/runs" --quiet --threads "$threads" 2>"$out/perf.log" | grep -E "tokens/s" || true
perf script -i "$out/perf.data" -F tid,ip,sym --hide-call-graph 2>/dev/null | awk '
    { count[$1 " " $3]++; total[$1]++ }
    END { for (k in count) { split(k, p, " "); if (total[p[1]] > 1000) printf "%d %s %.2f %s\n", total[p[1]], p[1], 100 * count[k] / total[p[1]], p[2] } }' |
    sort -k1,1nr -k3,3nr | awk -v top="$top" '
    $2 != tid { tid = $2; shown = 0; printf "== thread %s (%s): %d samples\n", tid, ++threads == 1 ? "main" : "worker", $1 }
    shown < top { printf "  %6.2f%%  %s\n", $3, substr($4, 1, 110); shown++ }'
