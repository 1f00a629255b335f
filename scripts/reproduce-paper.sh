#!/usr/bin/env bash
# Regenerates one paper study (or all of them): trains every sweep of the study, rewrites the
# tables in results/<study>.md and writes the executed notebooks in notebooks-export/.
#
#   scripts/reproduce-paper.sh STUDY [--runs DIR] [--jobs N] [--out DIR] [key.path=value …]
#   scripts/reproduce-paper.sh all
#   scripts/reproduce-paper.sh --list
#
# STUDY's sweeps are experiments/STUDY.yaml and, where it exists, experiments/STUDY-mqar.yaml.
# A spec with a `tune:` block trains its tuning sweep <name>-tune first (docs/tuning.md); its
# table can be a block of the template, and its notebook (the tuning curves) is written too.
# Runs already complete in --runs (default runs/) are kept (run ids are content hashes), so a
# second call only re-makes the tables and notebooks. Tables: every
#   <!-- table SWEEP [ablate table options] -->  …  <!-- /table -->
# block of results/STUDY.md is replaced by `ablate table <runs>/SWEEP [options]`; the prose
# around the blocks is kept. --out DIR writes results/ and notebooks-export/ under DIR instead of
# the repository (the template is still the repository's results/STUDY.md); key.path=value
# overrides go to every sweep (the miniature test uses them to shrink the studies).
set -euo pipefail
CALLER="$PWD"
SELF="$(realpath "$0")"
cd "$(dirname "$0")/.."
ROOT="$PWD"
STUDIES=(attention loss-free-balancing deepseekmoe-granularity mla-latent-rank expert-count balance-scope mtp balance-bsz qk-clip muon recall)

usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; }
[ $# -ge 1 ] || { usage >&2; exit 2; }
case "$1" in
    -h|--help) usage; exit 0 ;;
    --list) printf '%s\n' "${STUDIES[@]}"; exit 0 ;;
esac
STUDY="$1"; shift
PASSED=("$@")   # as given, for `all`
RUNS="runs"; JOBS=2; OUT="."; OVERRIDES=()
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) RUNS="$(cd "$CALLER" && realpath -m "$2")"; shift 2 ;;
        --jobs) JOBS="$2"; shift 2 ;;
        --out) OUT="$(cd "$CALLER" && realpath -m "$2")"; shift 2 ;;
        *=*) OVERRIDES+=("$1"); shift ;;
        *) echo "error: unknown argument '$1' (expected --runs DIR, --jobs N, --out DIR or key.path=value)" >&2; exit 2 ;;
    esac
done

if [ "$STUDY" = all ]; then
    for study in "${STUDIES[@]}"; do
        (cd "$CALLER" && "$SELF" "$study" ${PASSED[@]+"${PASSED[@]}"})
    done
    exit 0
fi
known=0
for study in "${STUDIES[@]}"; do [ "$study" = "$STUDY" ] && known=1; done
if [ $known = 0 ]; then
    list="$(printf '%s, ' "${STUDIES[@]}")"
    echo "error: unknown study '$STUDY' (expected one of: ${list}or all)" >&2
    exit 2
fi
TEMPLATE="$ROOT/results/$STUDY.md"
[ -f "$TEMPLATE" ] || { echo "error: $TEMPLATE is missing (the study's prose and table markers)" >&2; exit 2; }

ABLATE="${ABLATE_BIN:-$ROOT/.build/release/ablate}"
if [ ! -x "$ABLATE" ]; then
    echo "== building the release binary"
    swift build -c release --product ablate
fi
PYTHON="${ABLATE_PYTHON:-}"
[ -n "$PYTHON" ] || PYTHON="$(scripts/python-env.sh | tail -n 1)"

specs=("experiments/$STUDY.yaml")
[ -f "experiments/$STUDY-mqar.yaml" ] && specs+=("experiments/$STUDY-mqar.yaml")

# A study on the English corpus (data.text.path ../data/english) builds it first, from Debian's
# packages (scripts/prepare-corpus.sh; about 2 s once the packages are installed).
if grep -q "data/english" "${specs[@]}" && [ ! -f data/english/MANIFEST ]; then
    echo "== $STUDY: building the English corpus (scripts/prepare-corpus.sh data/english)"
    scripts/prepare-corpus.sh data/english
fi

start=$(date +%s)
for spec in "${specs[@]}"; do
    echo "== $STUDY: ablate sweep $spec --runs $RUNS --jobs $JOBS --threads 1 ${OVERRIDES[*]-}"
    # A failed or diverged cell stops the study: its table would be missing rows.
    "$ABLATE" sweep "$spec" ${OVERRIDES[@]+"${OVERRIDES[@]}"} --runs "$RUNS" --jobs "$JOBS" --threads 1 --quiet
done
echo "== $STUDY: trained in $(( $(date +%s) - start )) s"

mkdir -p "$OUT/results" "$OUT/notebooks-export"
result="$OUT/results/$STUDY.md"
"$PYTHON" - "$TEMPLATE" "$result.tmp" "$ABLATE" "$RUNS" <<'EOF'
import re, shlex, subprocess, sys
template, out, ablate, runs = sys.argv[1:5]
text = open(template, encoding="utf-8").read()
block = re.compile(r"(<!-- table (\S+)((?: [^>]*?)?) -->\n)(.*?)(<!-- /table -->)", re.S)
def fill(match):
    sweep, options = match.group(2), shlex.split(match.group(3))
    table = subprocess.run([ablate, "table", f"{runs}/{sweep}", *options],
                           check=True, capture_output=True, text=True).stdout
    return match.group(1) + "\n" + table.rstrip("\n") + "\n\n" + match.group(5)
filled, count = block.subn(fill, text)
if count == 0:
    sys.exit(f"error: {template} has no <!-- table SWEEP … --> … <!-- /table --> block")
open(out, "w", encoding="utf-8").write(filled)
EOF
mv "$result.tmp" "$result"
echo "== $STUDY: wrote $result"

# The README's findings table: a study's <!-- verdicts STUDY --> … <!-- /verdicts --> span takes
# the verdicts `ablate table --claims --format json` computes from the spec's claims (never
# written by hand). Only when writing into the repository (not with --out).
if [ "$OUT" = "." ] && grep -q "<!-- verdicts $STUDY -->" README.md; then
    "$PYTHON" - README.md "$ABLATE" "$RUNS/$STUDY" "$STUDY" <<'EOF'
import json, re, subprocess, sys
readme, ablate, sweep, study = sys.argv[1:5]
claims = json.loads(subprocess.run([ablate, "table", sweep, "--claims", "--format", "json"],
                                   check=True, capture_output=True, text=True).stdout)
def line(c):
    # Differences and slopes are signed; a token ratio (reach claims) is a plain fraction.
    ratio = c.get("statistic") == "tokens_ratio"
    def number(x):
        return "n/a" if x is None else (f"{x:.3g}" if ratio else f"{x:+.3g}")
    ci = c["ci"] if c["ci"] and None not in c["ci"] else None
    text = f'**{c["verdict"]}**' + (" at this scale" if c["verdict"] == "inconclusive" else "") + f': {c["name"]} ({"token ratio " if ratio else ""}{number(c["estimate"])}'
    text += (f' [{number(ci[0])}, {number(ci[1])}]' if ci else "") + (f', p adj {c["p_adjusted"]:.3f}' if c["p_adjusted"] is not None and c["p_adjusted"] >= 0.001 else (", p adj <0.001" if c["p_adjusted"] is not None else ""))
    if c["verdict"] == "inconclusive" and c["seeds_needed"]:
        # Seeds behind the test: the paired seeds, or for a trend its "… over N seeds".
        seeds = c.get("pairs")
        if c.get("statistic") == "slope":
            found = re.search(r"over (\d+) seeds", c.get("test", ""))
            seeds = int(found.group(1)) if found else None
        if seeds and c["seeds_needed"] <= seeds:
            # These seeds had the power the plan asked for: the effect is not min_effect's size
            # (smaller, for a direction; near the margin rather than 0, for an equivalence).
            m = f'{c["min_effect"]:g}'
            text += (f'; {seeds} seeds had 80% power: the difference is near the ±{m} margin, not 0'
                     if c["expect"] == "equivalent" else f'; {seeds} seeds had 80% power for {m}: the effect is smaller')
        else:
            text += f'; {c["seeds_needed"]} seeds for 80% power'
    return text + ")"
span = "; ".join(line(c) for c in claims).replace("|", "\\|")
text = open(readme, encoding="utf-8").read()
pattern = re.compile(rf"(<!-- verdicts {re.escape(study)} -->)(.*?)(<!-- /verdicts -->)", re.S)
open(readme, "w", encoding="utf-8").write(pattern.sub(lambda m: m.group(1) + span + m.group(3), text))
EOF
    echo "== $STUDY: README findings row from the claims' verdicts"
fi

notebooks=()
for spec in "${specs[@]}"; do
    sweep="$(basename "$spec" .yaml)"
    # A tune block's tuning sweep first: its notebook draws each variant's tuning curve.
    [ -f "$RUNS/$sweep-tune/tune-spec.yaml" ] && notebooks+=("$sweep-tune")
    notebooks+=("$sweep")
done
for sweep in "${notebooks[@]}"; do
    notebook="$OUT/notebooks-export/$sweep.ipynb"
    "$ABLATE" export "$RUNS/$sweep" --notebook "$notebook"
    # Executed in place; a notebook that fails to execute is removed, never left half done.
    "$PYTHON" scripts/execute-notebook.py "$notebook" || { rm -f "$notebook"; echo "error: $notebook did not execute" >&2; exit 1; }
    echo "== $STUDY: wrote $notebook (executed)"
done
