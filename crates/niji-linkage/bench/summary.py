"""Prints the linkage benchmark's report from the files run.sh leaves."""
import json
import os
import sys

work = sys.argv[1]


def load(name):
    with open(os.path.join(work, name + ".json")) as f:
        return json.load(f)


def timing(name):
    with open(os.path.join(work, name + ".time")) as f:
        # A failed command leaves a line of its own before the figures.
        seconds, kb = f.read().split()[-2:]
    return float(seconds), int(kb) / 1024


def scores(q):
    return f"F1 {q['f1']:.4f}  P {q['precision']:.4f}  R {q['recall']:.4f}  false merges {q['false_merges']}"


for part in ["all", "uke"]:
    ingest, link = load(f"ingest-{part}"), load(f"link-{part}")
    (ti, mi), (tl, ml) = timing(f"ingest-{part}"), timing(f"link-{part}")
    records = link["records"]
    label = "all sources" if part == "all" else "claims only"
    print(f"\n{label}: {records:,} records, {link['persons']:,} persons found, {link['truth']['persons']:,} true")
    print(f"  ingest (decode, parse, tokenize, write): {ti:8.1f} s  {records / ti:>10,.0f} records/s  peak {mi:,.0f} MiB")
    s = link["seconds"]
    print(f"  link command, whole:                     {tl:8.1f} s  {records / tl:>10,.0f} records/s  peak {ml:,.0f} MiB")
    for phase in ["read", "link", "write"]:
        print(f"    {phase:<5} {s[phase]:8.2f} s  {records / s[phase]:>12,.0f} records/s")
    for name, q in link["strategies"].items():
        print(f"  niji {name:<5} {scores(q)}")

if not os.path.exists(os.path.join(work, "splink.json")):
    with open(os.path.join(work, "splink.log")) as f:
        last = [line.strip() for line in f if line.strip()][-1:]
    seconds, _ = timing("splink") if os.path.exists(os.path.join(work, "splink.time")) else (0.0, 0)
    print(f"\nSplink did not finish ({seconds:.0f} s): {last[0] if last else 'no log'}")
    sys.exit(0)
splink = load("splink")
ts, ms = timing("splink")
uke = load("link-uke")
niji_link_s = uke["seconds"]["read"] + uke["seconds"]["link"] + uke["seconds"]["write"]
det = splink["deterministic"]
print(f"\nSplink on the same {splink['records']:,} claims (process peak {ms:,.0f} MiB, {ts:.1f} s with loading):")
print(f"  deterministic (ID1 or ID4 exact on raw fields): {det['seconds']:8.1f} s  {scores(det)}")
if "probabilistic" in splink:
    p = splink["probabilistic"]
    print(f"  probabilistic (Fellegi-Sunter, EM):              {p['seconds']:8.1f} s  {scores(p)}")
print(f"  niji link (read + link + write):                 {niji_link_s:8.1f} s  {scores(uke['strategies']['plan'])}")
print(f"  niji is {det['seconds'] / niji_link_s:.1f}x Splink's deterministic speed (target: at least 5x at equal or better F1)")
