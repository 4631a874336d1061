"""Writes report.md and report.json from the parts report.sh ran.

Each figure comes from a part's own output in the same directory: a JSON
line a Rust benchmark printed, or the files a benchmark script left. Where
a baseline was measured in the same run, the headline is the ratio.
"""

import json
import os
import platform
import sys
import time

out = sys.argv[1]


def text(name):
    with open(os.path.join(out, name)) as f:
        return f.read()


def json_line(name, bench):
    """The last JSON line of a part's output with this `bench` name."""
    found = None
    for line in text(f"{name}.txt").splitlines():
        if line.startswith("{"):
            value = json.loads(line)
            if value.get("bench") == bench:
                found = value
    if found is None:
        raise SystemExit(f"{name}.txt: no JSON line of bench {bench!r}")
    return found


def load(*path):
    with open(os.path.join(out, *path)) as f:
        return json.load(f)


def jsonl(*path):
    with open(os.path.join(out, *path)) as f:
        return {d["data"]: d for d in map(json.loads, filter(str.strip, f))}


def seconds(name):
    with open(os.path.join(out, f"{name}.seconds")) as f:
        return int(f.read())


def timing(*path):
    with open(os.path.join(out, *path)) as f:
        value, kb = f.read().split()[-2:]
    return float(value), int(kb) / 1024


rows = []  # (part, measure, niji, baseline, ratio, target)
report = {"machine": {"cpus": os.cpu_count(), "system": platform.platform()},
          "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "parts": {}}

ingest = json_line("ingest", "ingest")
report["parts"]["ingest"] = ingest
rows.append(("ingest", f"UKE claims, {ingest['claims']:,} claims: MB/s", f"{ingest['niji_mb_s']:.1f}",
             f"DuckDB read_csv {ingest['duckdb_mb_s']:.1f}", f"{ingest['ratio']:.2f}", "≥ 0.5"))

uke, ingest_uke = load("linkage", "link-uke.json"), load("linkage", "ingest-uke.json")
(t_ingest, _), (t_link, _) = timing("linkage", "ingest-uke.time"), timing("linkage", "link-uke.time")
niji_link_s = sum(uke["seconds"][p] for p in ["read", "link", "write"])
linkage = {"records": uke["records"], "niji_link_seconds": niji_link_s,
           "niji_ingest_and_link_records_per_s": uke["records"] / (t_ingest + t_link),
           "niji_f1": uke["strategies"]["plan"]["f1"]}
if os.path.exists(os.path.join(out, "linkage", "splink.json")):
    splink = load("linkage", "splink.json")["deterministic"]
    linkage.update({"splink_seconds": splink["seconds"], "splink_f1": splink["f1"],
                    "speed_ratio": splink["seconds"] / niji_link_s})
    rows.append(("linkage", f"{uke['records']:,} claims: link seconds", f"{niji_link_s:.1f}",
                 f"Splink {splink['seconds']:.1f}", f"{linkage['speed_ratio']:.1f}× faster", "≥ 5×"))
    rows.append(("linkage", "F1", f"{linkage['niji_f1']:.4f}", f"Splink {splink['f1']:.4f}",
                 f"{linkage['niji_f1'] - splink['f1']:+.4f}", "≥ Splink's"))
else:
    rows.append(("linkage", f"{uke['records']:,} claims: link seconds", f"{niji_link_s:.1f}",
                 "Splink did not finish", "—", "≥ 5×"))
rows.append(("linkage", "ingest + link, records/s", f"{linkage['niji_ingest_and_link_records_per_s']:,.0f}",
             "—", "—", "—"))
report["parts"]["linkage"] = linkage

niji, anjana = jsonl("deid", "niji.jsonl"), jsonl("deid", "anjana.jsonl")
report["parts"]["k_anonymity"] = {"niji": niji, "anjana": anjana}
for name in ["adult", "synthetic"]:
    n, a = niji[name], anjana.get(name)
    ms = n["after_load_ms_median"]
    if a:
        rows.append(("k-anonymity", f"{name}, {n['rows']:,} rows, k = {n['k']}: ms", f"{ms:.1f}",
                     f"anjana {a['seconds'] * 1e3:.0f}", f"{a['seconds'] * 1e3 / ms:.0f}× faster", "—"))

gated = json_line("gated", "gated")
report["parts"]["gated"] = gated
for q in gated["queries"]:
    target = "≤ 1.15" if q["heavy"] else "≤ 5 ms added"
    ratio = f"{q['ratio']:.2f}" if q["heavy"] else f"{q['added_ms']:.1f} ms added"
    rows.append(("gated query", f"{q['query']} ({gated['rows']:,} rows): ms", f"{q['gated_ms']:.1f}",
                 f"raw DuckDB {q['raw_ms']:.1f}", ratio, target))

dp = json_line("dp", "dp")
report["parts"]["dp"] = dp
rows.append(("DP", f"group-by count + sum, {dp['rows']:,} rows: ms", f"{dp['build_ms'] + dp['release_ms']:.0f}",
             f"polars {dp['plain_ms']:.0f}", f"{dp['ratio']:.2f}", "≤ 5"))

log = json_line("log", "lookup")
report["parts"]["access_log"] = log
rows.append(("access log", "appends/s, one event per commit", f"{log['appends_per_s_single']:,.0f}", "—", "—", "—"))
rows.append(("access log", "appends/s, group commits of 50", f"{log['appends_per_s_grouped']:,.0f}", "—", "—", "—"))
rows.append(("citizen lookup", f"p99 at {log['persons']:,} persons, {log['entries']:,} entries: ms",
             f"{log['p99_ms']:.2f}", "—", "—", "≤ 20 ms"))

report["seconds"] = {p: seconds(p) for p in ["ingest", "linkage", "deid", "gated", "dp", "log"]}
report["seconds"]["total"] = seconds("total")
report["rows"] = [dict(zip(["part", "measure", "niji", "baseline", "ratio", "target"], r)) for r in rows]

md = [f"# niji benchmark report", "",
      f"{report['date']}, {report['machine']['cpus']} CPUs ({report['machine']['system']}); "
      f"{report['seconds']['total'] / 60:.0f} minutes in all. Baselines ran in the same invocation.", "",
      "| part | measure | niji | baseline | niji vs baseline | target |", "|---|---|---|---|---|---|"]
md += [f"| {' | '.join(r)} |" for r in rows]
md += ["", "## Each part's own output", ""]
for name in ["ingest", "linkage", "deid", "gated", "dp", "log"]:
    md += [f"### {name} ({report['seconds'][name]} s)", "", "```", text(f"{name}.txt").rstrip(), "```", ""]
with open(os.path.join(out, "report.md"), "w") as f:
    f.write("\n".join(md) + "\n")
with open(os.path.join(out, "report.json"), "w") as f:
    json.dump(report, f, indent=2)
print("\n".join(md[:len(rows) + 6]))
