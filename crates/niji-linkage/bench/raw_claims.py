"""Reads the レセ電 claims of a synthetic population into one Parquet table of
raw identifiers, as Splink needs them: one row per claim, the fields exactly
as the files write them (no normalization), with the truth person beside.

Benchmark set-up only: it writes identifiers to the benchmark's scratch
directory, which is synthetic data. niji itself never writes them.

    python raw_claims.py POP_DIR OUT.parquet
"""
import csv
import os
import sys

import duckdb


def claims(path, rel):
    """Yields one dict per RE group of a UKE file."""
    with open(path, encoding="cp932", newline="") as f:
        current = None
        for n, row in enumerate(csv.reader(f), start=1):
            kind = row[0] if row else ""
            field = lambda i: row[i - 1] if len(row) >= i else ""
            if kind == "RE":
                if current:
                    yield current
                current = {
                    "unique_id": f"{rel}:{n}",
                    "file": rel,
                    "locator": f"line:{n}",
                    "kanji": field(5),
                    "sex": field(6),
                    "birth": field(7),
                    "kana": field(37),
                    "insurer": "",
                    "symbol": "",
                    "number": "",
                    "branch": "",
                }
            elif current and kind == "HO":
                current.update(insurer=field(2), symbol=field(3), number=field(4))
            elif current and kind == "SN":
                current.update(branch=field(7))
            elif kind == "GO" and current:
                yield current
                current = None


def main(pop, out):
    # Rows go through a UTF-8 CSV beside the output, which DuckDB reads.
    scratch = out + ".csv"
    columns = None
    count = 0
    with open(scratch, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        uke = os.path.join(pop, "uke")
        for root, _, files in sorted(os.walk(uke)):
            for name in sorted(files):
                if not name.endswith(".UKE"):
                    continue
                path = os.path.join(root, name)
                for claim in claims(path, os.path.relpath(path, pop)):
                    if columns is None:
                        columns = list(claim)
                        writer.writerow(columns)
                    writer.writerow(claim.values())
                    count += 1
    truth = os.path.join(pop, "truth", "records.csv")
    duckdb.connect().execute(
        f"""COPY (
            SELECT r.*, t.person_id
            FROM read_csv('{scratch}', header = true, all_varchar = true) r
            JOIN read_csv('{truth}', header = true, all_varchar = true) t USING (file, locator)
        ) TO '{out}' (FORMAT parquet)"""
    )
    os.remove(scratch)
    print(f"{count} claims -> {out}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
