#!/usr/bin/env bash
# The de-identification benchmark: niji's optimal lattice search against
# anjana (PyPI) on the same inputs.
#
#   bash crates/niji-deid/bench/run.sh
#
# 1. niji: UCI Adult with ARX's hierarchies (k = 5, no suppression, nine
#    quasi-identifiers; target 30 ms after load) and a synthetic table of
#    1.2 million rows with eight (target 2.5 s), via
#    `cargo bench --workspace --bench search`, which also writes the
#    synthetic table and its hierarchies for anjana.
# 2. anjana on both, in its own virtual environment
#    ($HOME/.cache/niji/venvs/anjana), not among niji's dependencies.
#
# Figures go to $BENCH_WORK (default $HOME/.cache/niji/bench-deid):
# niji.jsonl, anjana.jsonl and summary.txt.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
work=${BENCH_WORK:-$HOME/.cache/niji/bench-deid}
adult=$(cd "$repo/../shared/fixtures/adult" && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/niji/target}
venv=$HOME/.cache/niji/venvs/anjana
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import anjana" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q anjana
fi
mkdir -p "$work"
echo "==> niji"
(cd "$repo" && NIJI_BENCH_OUT="$work" cargo bench --quiet --workspace --bench search) >"$work/niji.jsonl"
echo "==> anjana"
"$venv/bin/python" "$here/anjana_run.py" "$adult" "$work" >"$work/anjana.jsonl"
python3 "$here/summary.py" "$work" | tee "$work/summary.txt"
