#!/usr/bin/env bash
# Runs every fuzz target of the niji-ingest adapters for SECONDS each
# (default 300), seeded from a small synthetic population and the JP-CLINS
# examples, and prints each target's execution count. Needs the nightly
# toolchain and cargo-fuzz (`cargo install cargo-fuzz`), and a built `niji`
# binary (NIJI, default: $CARGO_TARGET_DIR/release/niji).
#
#   bash crates/niji-ingest/fuzz/run.sh 300
set -euo pipefail
seconds=${1:-300}
here=$(cd "$(dirname "$0")" && pwd)
shared=$(cd "$here/../../../../shared" && pwd)
target_dir=${CARGO_TARGET_DIR:-$HOME/.cache/niji/target}
niji=${NIJI:-$target_dir/release/niji}
work=${FUZZ_WORK:-$HOME/.cache/niji/fuzz-work}
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$HOME/.cache/niji/fuzz-target}

# Seeds: a 300-person population, six months (enough for DPC stays and
# FHIR Bundles); each file cut to its first
# 64 KiB so that libFuzzer's length limit keeps them whole enough.
rm -rf "$work/synth" "$work/seeds"
"$niji" synth --persons 300 --seed 5 --from 2020-01 --to 2020-06 --out "$work/synth" >/dev/null
seed() { # target file...
    mkdir -p "$work/seeds/$1"
    local t=$1; shift
    for f in "$@"; do head -c 65536 "$f" > "$work/seeds/$t/$(echo "$f" | sha256sum | cut -c1-16)"; done
}
seed uke $(find "$work/synth/uke" -name '*.UKE' | head -20)
seed dpc_ef $(find "$work/synth/dpc" -name 'EF*' | head -10)
seed dpc_ff1 $(find "$work/synth/dpc" -name 'FF1*' | head -10)
seed care_claims $(find "$work/synth/care" -name '*.csv' ! -name certifications.csv | head -20)
seed tabular "$work/synth/care/certifications.csv" "$work/synth/eligibility/history.csv"
seed fhir_ndjson $(find "$work/synth/fhir" -name '*.ndjson' | head -10)
seed fhir_json "$shared"/fixtures/fhir/jp-clins/*.json
mkdir -p "$work/seeds/checkup_xml"
archive=$(find "$work/synth/checkups" -name '*.zip' | head -1)
(cd "$work/seeds/checkup_xml" && unzip -qo "$archive" && find . -name '*.xml' -exec sh -c 'mv "$1" "$(echo "${1#./}" | tr / _)"' _ {} \; && find . -mindepth 1 -type d -exec rm -rf {} +)
seed checkup_zip "$archive"
mkdir -p "$work/seeds/detect"
cp "$work"/seeds/*/* "$work/seeds/detect/" 2>/dev/null || true

cd "$here"
for t in uke dpc_ef dpc_ff1 care_claims tabular checkup_xml checkup_zip fhir_json fhir_ndjson detect; do
    mkdir -p "$work/corpus/$t"
    log="$work/$t.log"
    cargo +nightly fuzz run -O "$t" "$work/corpus/$t" "$work/seeds/$t" -- \
        -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1 \
        || { echo "$t: FAILED (see $log)"; tail -30 "$log"; exit 1; }
    execs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
    echo "$t: $execs executions in ${seconds}s, no crash"
done
