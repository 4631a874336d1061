"""Prints the de-identification benchmark's report from run.sh's files."""
import json
import os
import sys

work = sys.argv[1]


def lines(name):
    with open(os.path.join(work, name)) as f:
        return {d["data"]: d for d in map(json.loads, f)}


niji, anjana = lines("niji.jsonl"), lines("anjana.jsonl")
targets = {"adult": 30.0, "synthetic": 2500.0}
for name in ["adult", "synthetic"]:
    n, a = niji[name], anjana.get(name)
    print(f"\n{name}: {n['rows']:,} rows, {n['quasi_identifiers']} quasi-identifiers, k = {n['k']}, no suppression")
    print(f"  niji (optimal search): {n['after_load_ms_median']:10.1f} ms after load (median of {n['runs']}; target {targets[name]:.0f} ms)")
    print(f"    lattice {n['lattice']:,} nodes, {n['evaluated']:,} evaluated; levels {n['levels']}")
    print(f"    information loss {n['information_loss']:.4f}, average class {n['average_class_size']:.1f}")
    if a:
        ms = a["seconds"] * 1e3
        print(f"  anjana (greedy):       {ms:10.1f} ms, k checked by pycanon {a['k_checked_by_pycanon']}, {a['rows_out']:,} rows out")
        print(f"  niji is {ms / n['after_load_ms_median']:.1f}x anjana's speed")
