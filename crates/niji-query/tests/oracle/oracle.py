"""The oracle: checks every number niji released against the raw release.

Usage: oracle.py RELEASE.duckdb RUNS.jsonl

RUNS.jsonl holds one line per query and rule set: the query's structured
description (spec), what niji did (refused, or the rows it computed with each
cell's status). This script shares no code with niji's rewrite: it reads the
release's rows with DuckDB (a plain SELECT *), then evaluates each query in
Python, row by row, from the spec alone — joins, the cohort, keys, ROLLUP
totals, filters — and computes, for every released row and number, the
persons behind it. It checks the rule set:

- a shown row's persons meet the minimum (or are zero);
- a released number's persons meet the minimum, and so do the persons of
  its non-zero values (sums and means); zero persons only where the rule
  set allows zeros (ndb) — under acro a zero waits for review;
- a released value is the value the oracle computes;
- order statistics never pass under ndb, and only wait for review under acro;
- under acro no released count, sum or mean is dominated by its top two
  persons (90 %) or fails the p% rule (10 %);
- with ROLLUP, no withheld count or sum is the one unknown of a total and
  the rows it totals;
- every number that leaves or waits was kept for differencing with exactly
  its decisive persons (the non-zero ones of sums and means), by the
  release's person index;
- two numbers of one result and one family (counts; sums and means of a
  column; maxima of a column) whose persons differ by 1 to minimum - 1 both
  wait for review.

Prints what it checked; exits 1 with the violations if there are any.
"""

import json
import math
import sys

import duckdb


def load(path):
    con = duckdb.connect(path, read_only=True)
    tables = {}
    for name in ("persons", "claims"):
        cur = con.execute(f"SELECT * EXCLUDE (__niji_bucket, __niji_person) FROM {name}")
        cols = [d[0] for d in cur.description]
        tables[name] = [dict(zip(cols, r)) for r in cur.fetchall()]
    index = dict(con.execute("SELECT pseudonym, __niji_person FROM persons").fetchall())
    return tables, index


def qualified(table, row):
    return {f"{table}.{k}": v for k, v in row.items()}


class Oracle:
    def __init__(self, tables):
        self.tables = tables
        self.by_person = {p["pseudonym"]: p for p in tables["persons"]}
        self.persons_cache = {}

    # -- conditions, in SQL's three values (None: unknown) ---------------
    def holds(self, c, row):
        t = c["t"]
        if t == "cmp":
            v, x = row[c["col"]], c["value"]
            if v is None:
                return None
            op = c["op"]
            return {
                "=": v == x,
                "<>": v != x,
                "<": v < x,
                "<=": v <= x,
                ">": v > x,
                ">=": v >= x,
            }[op]
        if t == "in":
            v = row[c["col"]]
            return None if v is None else v in c["values"]
        if t == "like":
            v = row[c["col"]]
            return None if v is None else v.startswith(c["prefix"])
        if t == "is_null":
            return (row[c["col"]] is None) != c["negated"]
        if t == "bool":
            v = row[c["col"]]
            return None if v is None else (v != c["negated"])
        if t == "and":
            a, b = self.holds(c["a"], row), self.holds(c["b"], row)
            if a is False or b is False:
                return False
            return True if (a and b) else None
        if t == "or":
            a, b = self.holds(c["a"], row), self.holds(c["b"], row)
            if a is True or b is True:
                return True
            return False if (a is False and b is False) else None
        if t == "in_persons":
            return row["__person"] in self.persons_of(c["table"], c.get("filter"))
        raise ValueError(t)

    def persons_of(self, table, filt):
        key = (table, json.dumps(filt, sort_keys=True))
        if key not in self.persons_cache:
            found = set()
            for r in self.tables[table]:
                q = qualified(table, r)
                if filt is None or self.holds(filt, q) is True:
                    found.add(r["pseudonym"])
            self.persons_cache[key] = found
        return self.persons_cache[key]

    # -- rows -------------------------------------------------------------
    def rows(self, spec):
        out = []
        if spec["base"] == "persons":
            for p in self.tables["persons"]:
                r = qualified("persons", p)
                r["__person"] = p["pseudonym"]
                out.append(r)
        else:
            for c in self.tables["claims"]:
                r = qualified("claims", c)
                r["__person"] = c["pseudonym"]
                if spec["join"] == "persons":
                    p = self.by_person.get(c["pseudonym"])
                    if p is None:
                        continue
                    r.update(qualified("persons", p))
                out.append(r)
        if spec["var"] is not None:
            variables = {}
            for c in self.tables["claims"]:
                q = qualified("claims", c)
                f = spec["var"]["filter"]
                if f is not None and self.holds(f, q) is not True:
                    continue
                d = variables.setdefault(c["pseudonym"], {"v.n_claims": 0, "v.total_points": 0})
                d["v.n_claims"] += 1
                d["v.total_points"] += c["points"]
            out = [dict(r, **variables[r["__person"]]) for r in out if r["__person"] in variables]
        if spec["cond"] is not None:
            out = [r for r in out if self.holds(spec["cond"], r) is True]
        return out


def norm(v):
    """A value as a comparable tag: numbers as floats, booleans apart."""
    if v is None:
        return None
    if isinstance(v, bool):
        return ("b", v)
    if isinstance(v, (int, float)):
        return ("n", round(float(v), 9))
    return ("s", str(v))


def key_value(k, row):
    v = row[k["col"]]
    if v is None:
        return None
    if k["band"]:
        return math.floor(v / k["band"]) * k["band"]
    if k["left"]:
        return v[: k["left"]]
    return v


class Number:
    """One measure in one group: its value, person sets, contributions."""

    def __init__(self, m, rows, oracle):
        agg, col, filt = m["agg"], m["col"], m["filter"]
        kept = [r for r in rows if filt is None or oracle.holds(filt, r) is True]
        if col is None:
            own = kept
        else:
            own = [r for r in kept if r[col] is not None]
        self.persons = {r["__person"] for r in own}
        self.nonzero = None
        values = [r[col] for r in own] if col else []
        contrib = {}
        if agg == "rows":
            self.value = len(kept)
            for r in kept:
                contrib[r["__person"]] = contrib.get(r["__person"], 0) + 1
        elif agg == "count":
            self.value = len(own)
            for r in own:
                contrib[r["__person"]] = contrib.get(r["__person"], 0) + 1
        elif agg == "persons":
            self.value = len(self.persons)
        elif agg in ("sum", "avg"):
            self.nonzero = {r["__person"] for r in own if r[col] != 0}
            if not values:
                self.value = None
            elif agg == "sum":
                self.value = sum(values)
            else:
                self.value = sum(values) / len(values)
            for r in own:
                contrib[r["__person"]] = contrib.get(r["__person"], 0) + r[col]
        elif agg == "max":
            self.value = max(values) if values else None
        else:
            raise ValueError(agg)
        self.contrib = sorted((abs(v) for v in contrib.values()), reverse=True)
        self.agg = agg


def family(m):
    if m["agg"] in ("rows", "count", "persons"):
        return "count"
    if m["agg"] in ("sum", "avg"):
        return "sum " + m["col"]
    return "order " + m["col"]


def check_sets(spec, rules, min_, oracle, kept, wanted, cells, report):
    """The persons kept for each number, and the pairs held for review.

    `kept` maps (row, column) to the person sets niji kept for the numbers
    that column shows; `wanted` maps (row, measure) to the measure's
    family, decisive persons and the (row, column) cells that show it."""
    if not kept and not wanted:
        return
    for (at, mi), (_, decisive, shown_in) in wanted.items():
        want = {oracle.index[p] for p in decisive}
        for cell in shown_in:
            report["sets"] += 1
            if want not in kept.get(cell, []):
                report["violations"].append(
                    f"{spec['sql']} [{rules}]: row {at} column {cell[1]} was not kept for differencing "
                    f"with its {len(want)} persons"
                )
    items = list(wanted.items())
    for i, (a, (fa, sa, ca)) in enumerate(items):
        for b, (fb, sb, cb) in items[i + 1 :]:
            if fa != fb or sa == sb or not 0 < len(sa ^ sb) < min_:
                continue
            report["pairs"] += 1
            for r, o in ca + cb:
                if cells[r][o] != "review":
                    report["violations"].append(
                        f"{spec['sql']} [{rules}]: row {r} output {o} differs from another number of the result "
                        f"by {len(sa ^ sb)} persons and was not held"
                    )


def close(a, b):
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-6)


def check(line, oracle, report):
    spec, rules, min_ = line["spec"], line["rules"], line["min"]
    keys = spec["keys"]
    rows = oracle.rows(spec)
    # Groups, with ROLLUP's totals: grouping sets of the first i keys.
    sets = range(len(keys), -1, -1) if spec["rollup"] else [len(keys)]
    groups = {}
    for i in sets:
        for r in rows:
            values = tuple(norm(key_value(k, r)) if j < i else None for j, k in enumerate(keys))
            groups.setdefault((values, i), []).append(r)
        if i == 0 and not keys:
            groups.setdefault(((), 0), [])
    if spec["rollup"]:
        groups.setdefault((tuple(None for _ in keys), 0), [])
    numbers = {g: [Number(m, rs, oracle) for m in spec["measures"]] for g, rs in groups.items()}
    outputs = spec["outputs"]
    shown = {}
    kept = {}
    for n in line.get("numbers") or []:
        for c in n["columns"]:
            kept.setdefault((n["row"], c), []).append(set(n["persons"]))
    wanted = {}
    for at, (row, cells) in enumerate(zip(line["rows"], line["cells"])):
        report["rows"] += 1
        kv = tuple(norm(v) for v in row[: len(keys)])
        level = len(keys)
        if spec["rollup"]:
            level = next((j for j, v in enumerate(kv) if v is None), len(keys))
        g = (kv, level)
        if g not in groups:
            report["violations"].append(f"{spec['sql']} [{rules}]: a row of no group {row[:len(keys)]}")
            continue
        shown[g] = cells
        persons = {r["__person"] for r in groups[g]}
        if 0 < len(persons) < min_:
            report["violations"].append(f"{spec['sql']} [{rules}]: a row of {len(persons)} persons shown")
        for o, out in enumerate(outputs):
            status = cells[o]
            if out["t"] == "key" or status not in ("pass", "review"):
                continue
            report["numbers"] += 1
            reads = [out["i"]] if out["t"] == "measure" else [out["num"], out["den"]]
            for mi in reads:
                n = numbers[g][mi]
                decisive = n.nonzero if n.nonzero is not None else n.persons
                if decisive:
                    wanted.setdefault((at, mi), (family(spec["measures"][mi]), decisive, []))[2].append((at, o))
                sizes = [len(n.persons)] + ([len(n.nonzero)] if n.nonzero is not None else [])
                if any(0 < s < min_ for s in sizes):
                    report["violations"].append(
                        f"{spec['sql']} [{rules}]: output {o} ({status}) rests on {sizes} persons"
                    )
                if sizes[0] == 0 and rules == "acro" and status == "pass":
                    report["violations"].append(f"{spec['sql']} [{rules}]: a zero passed unreviewed")
                if n.agg == "max" and (rules == "ndb" or status == "pass"):
                    report["violations"].append(f"{spec['sql']} [{rules}]: an order statistic {status}")
                if rules == "acro" and status == "pass" and n.agg in ("rows", "count", "sum", "avg"):
                    c = n.contrib
                    total = sum(c)
                    top1 = c[0] if c else 0
                    top2 = c[1] if len(c) > 1 else 0
                    if total > 0 and (top1 + top2 >= 0.9 * total or total - top1 - top2 < 0.1 * top1):
                        report["violations"].append(
                            f"{spec['sql']} [{rules}]: output {o} is dominated ({top1}, {top2} of {total})"
                        )
            if status != "pass":
                continue
            value = row[o]
            if out["t"] == "measure":
                expected = numbers[g][out["i"]].value
            else:
                num, den = numbers[g][out["num"]].value, numbers[g][out["den"]].value
                if num is None or den in (None, 0):
                    continue
                expected = 100.0 * num / den
            if not close(value, expected):
                report["violations"].append(
                    f"{spec['sql']} [{rules}]: output {o} is {value}, the release gives {expected}"
                )
    check_sets(spec, rules, min_, oracle, kept, wanted, line["cells"], report)
    # ROLLUP: no withheld count or sum is the one unknown of a line.
    limited = " LIMIT " in spec["sql"] or " HAVING " in spec["sql"]
    if spec["rollup"] and not limited:
        for (kv, level), _ in groups.items():
            if level == len(keys):
                continue
            members = [
                g
                for g in groups
                if g[1] == level + 1 and g[0][:level] == kv[:level]
            ]
            if not members:
                continue
            for o, out in enumerate(outputs):
                if out["t"] != "measure":
                    continue
                mi = out["i"]
                if spec["measures"][mi]["agg"] not in ("rows", "count", "sum", "persons"):
                    continue
                value = lambda g: numbers[g][mi].value or 0
                if not close(value((kv, level)), sum(value(g) for g in members)):
                    continue
                known = lambda g: g in shown and shown[g][o] in ("pass", "review")
                unknown = [g for g in members + [(kv, level)] if not known(g)]
                report["lines"] += 1
                if len(unknown) == 1:
                    report["violations"].append(
                        f"{spec['sql']} [{rules}]: output {o} of {unknown[0][0]} is a total minus released numbers"
                    )


def main():
    tables, index = load(sys.argv[1])
    oracle = Oracle(tables)
    oracle.index = index
    report = {"queries": 0, "released": 0, "refused": 0, "rows": 0, "numbers": 0, "lines": 0,
              "sets": 0, "pairs": 0, "violations": []}
    with open(sys.argv[2]) as f:
        for text in f:
            line = json.loads(text)
            report["queries"] += 1
            if line["outcome"] == "refused":
                report["refused"] += 1
                continue
            report["released"] += 1
            check(line, oracle, report)
    v = report["violations"]
    print(
        f"oracle: {report['queries']} runs ({report['released']} answered, {report['refused']} refused), "
        f"{report['rows']} rows, {report['numbers']} numbers and {report['lines']} ROLLUP lines checked, "
        f"{report['sets']} person sets compared, {report['pairs']} pairs a few persons apart held, "
        f"{len(v)} violations"
    )
    for text in v[:30]:
        print("  " + text)
    sys.exit(1 if v else 0)


if __name__ == "__main__":
    main()
