#!/usr/bin/env bash
# The linkage benchmark: niji's tokenization and linking at scale, and niji
# against Splink on the same synthetic claims.
#
#   bash crates/niji-linkage/bench/run.sh                 # 400,000 persons, five years: about 10 million records
#   PERSONS=50000 bash crates/niji-linkage/bench/run.sh   # a quicker run
#   PROBABILISTIC=1 ...                                   # also Splink's probabilistic model
#
# 1. `niji synth` makes the population (not timed).
# 2. All sources: `niji ingest` (decode, parse, tokenize, write) and
#    `niji link --truth` (read, link, write), each timed with its peak memory.
# 3. Claims only, the same records for both: `niji ingest` + `niji link`,
#    and Splink (DuckDB backend) with deterministic rules on the raw
#    identifiers (ID1 or ID4 exact), scored with the same definitions.
#
# Splink lives in a virtual environment of the benchmark
# ($HOME/.cache/niji/venvs/splink), not among niji's dependencies. The
# scratch directory holds synthetic identifiers for Splink; niji's own data
# directories never do.
set -euo pipefail
persons=${PERSONS:-400000}
from=${FROM:-2019-04}
to=${TO:-2024-03}
work=${BENCH_WORK:-$HOME/.cache/niji/bench-linkage}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/niji/target}
(cd "$repo" && cargo build --release --quiet)
niji=$CARGO_TARGET_DIR/release/niji
venv=$HOME/.cache/niji/venvs/splink
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import splink" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q splink
fi
export NIJI_PASSPHRASE=benchmark-passphrase-not-a-secret NIJI_ADMIN_PASSWORD=benchmark-admin-password
rm -rf "$work"
mkdir -p "$work"
echo "==> synth: $persons persons, $from..$to"
"$niji" synth --persons "$persons" --from "$from" --to "$to" --out "$work/pop" --json >"$work/synth.json"
sources=()
for d in uke care dpc fhir checkups eligibility; do
    [ -d "$work/pop/$d" ] && sources+=("$work/pop/$d")
done

timed() { # name command...
    local name=$1
    shift
    /usr/bin/time -f "%e %M" -o "$work/$name.time" "$@" >"$work/$name.json"
}

echo "==> all sources: ingest, link"
"$niji" --data "$work/all" init --json >/dev/null
timed ingest-all "$niji" --data "$work/all" ingest --json "${sources[@]}"
timed link-all "$niji" --data "$work/all" link --json --truth "$work/pop/truth"

echo "==> claims only: niji"
"$niji" --data "$work/uke" init --json >/dev/null
timed ingest-uke "$niji" --data "$work/uke" ingest --json "$work/pop/uke"
timed link-uke "$niji" --data "$work/uke" link --json --truth "$work/pop/truth"

echo "==> claims only: Splink"
"$venv/bin/python" "$here/raw_claims.py" "$work/pop" "$work/raw.parquet"
# Splink may not finish at 10 million records (its pairs outgrow memory and
# disk); the summary then says so instead of the run stopping here.
/usr/bin/time -f "%e %M" -o "$work/splink.time" \
    "$venv/bin/python" "$here/splink_link.py" "$work/raw.parquet" "$work/splink.json" ${PROBABILISTIC:+--probabilistic} \
    >"$work/splink.log" 2>&1 || echo "Splink failed; the last lines of $work/splink.log say why"
"$venv/bin/python" "$here/summary.py" "$work" | tee "$work/summary.txt"
