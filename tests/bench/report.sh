#!/usr/bin/env bash
# Every benchmark of niji in one run, each beside its baseline measured in
# the same run, written as one Markdown and one JSON report.
#
#   bash tests/bench/report.sh            # about 20 minutes on the 2-core machine, after the release build
#
# | part | niji | baseline | size (variable) |
# |---|---|---|---|
# | ingest | UKE ingest, MB/s | DuckDB read_csv | INGEST_PERSONS=20000 |
# | linkage | ingest + link, records/s, F1 | Splink (deterministic) | LINK_PERSONS=50000 |
# | k-anonymity | optimal lattice search | anjana (greedy) | UCI Adult, and 1.2M rows |
# | gated queries | gate + parse + rewrite + disclosure + audit | raw DuckDB | GATED_ROWS=10000000 |
# | DP | group-by count + sum | plain polars | DP_ROWS=10000000 |
# | access log | appends/s, lookup p99 | (targets) | 10^6 persons, 10^5 entries |
#
# The report goes to $BENCH_REPORT (default $HOME/.cache/niji/bench-report):
# report.md, report.json, and each part's own output beside them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${BENCH_REPORT:-$HOME/.cache/niji/bench-report}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/niji/target}
mkdir -p "$out"
cd "$repo"
started=$(date +%s)
part() { # name command...
    local name=$1
    shift
    echo "==> $name" >&2
    local t0
    t0=$(date +%s)
    "$@" >"$out/$name.txt"
    echo "$(($(date +%s) - t0))" >"$out/$name.seconds"
}
part ingest env NIJI_BENCH_PERSONS="${INGEST_PERSONS:-20000}" cargo bench --quiet --workspace --bench uke_ingest
part linkage env PERSONS="${LINK_PERSONS:-50000}" BENCH_WORK="$out/linkage" bash crates/niji-linkage/bench/run.sh
part deid env BENCH_WORK="$out/deid" bash crates/niji-deid/bench/run.sh
part gated env NIJI_BENCH_ROWS="${GATED_ROWS:-10000000}" cargo bench --quiet --workspace --bench gated
part dp env NIJI_BENCH_ROWS="${DP_ROWS:-10000000}" cargo bench --quiet --workspace --bench dp
part log cargo bench --quiet --workspace --bench lookup
echo "$(($(date +%s) - started))" >"$out/total.seconds"
python3 "$here/report.py" "$out"
echo "report: $out/report.md, $out/report.json" >&2
